"""Request bodies against a stranger, through a real ``sealroom serve`` (issue 13, item 8).

JSON bodies were read whole before anyone was authenticated: three unauthenticated 80 MB bodies
cost the server about 460 MiB. Now a body past ``max_json_bytes`` is refused with 413 before it
is read — at once when ``Content-Length`` announces it, and as soon as a chunked body grows past
the limit — while dataset chunks keep their own, larger limit.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import AnalyticsDcrBuilder, RawDataNodeDefinition
from tests.integration.conftest import BANK, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

LIMIT = 256 << 10


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _announce(url: str, size: int) -> bytes:
    """Send only the headers of an unauthenticated POST announcing ``size`` bytes; the reply."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/rooms HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        reply = b""
        while chunk := connection.recv(4096):  # the server closes the connection after it
            reply += chunk
        return reply


def test_an_announced_large_body_is_refused_before_it_is_sent(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(SEALROOM_MAX_JSON_BYTES=str(LIMIT))
    before = _rss_kib(server.process.pid)
    started = time.monotonic()
    for _ in range(3):
        reply = _announce(server.url, 80_000_000)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert b'"code":"body_too_large"' in reply
    assert time.monotonic() - started < 5  # answered without waiting for the 80 MB
    assert _rss_kib(server.process.pid) - before < 20 << 10  # nothing was buffered


def test_a_chunked_body_is_cut_off_at_the_limit(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(SEALROOM_MAX_JSON_BYTES=str(LIMIT))
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 16 MiB, no Content-Length
            sent += 256 << 10
            yield b"[" + b" " * ((256 << 10) - 2) + b"]"

    try:
        response = httpx.post(f"{server.url}/v1/rooms", content=body(), timeout=30)
    except httpx.TransportError:
        pass  # the server may close the connection while the client still sends
    else:
        assert response.status_code == 413
        assert response.json()["code"] == "body_too_large"
    assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_honest_requests_and_large_chunks_still_pass(
    server_factory: Callable[..., ServerProcess],
) -> None:
    """A room definition fits easily; an upload chunk four times the JSON limit still goes."""
    server = server_factory(SEALROOM_MAX_JSON_BYTES=str(LIMIT))
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    b = AnalyticsDcrBuilder(client=client).with_name("bodies").with_owner(BANK)
    b.add_node_definition(RawDataNodeDefinition(name="raw", is_required=True))
    b.add_participant(BANK, data_owner_of=["raw"])
    dcr = client.publish_analytics_dcr(b.build())
    raw = dcr.get_node("raw")
    payload = bytes(range(256)) * (4 * LIMIT // 256)
    raw.upload_and_publish_dataset(io.BytesIO(payload), sr.Key(), "big.bin")  # type: ignore[union-attr]
    assert dcr.retrieve_audit_log().count("DATASET_PUBLISHED") == 1
