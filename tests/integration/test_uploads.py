"""Uploads: retried chunks on broken connections, constant memory, tampering detected."""

from __future__ import annotations

import base64
import hashlib
import io
import tracemalloc
from collections.abc import Callable

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.crypto import Manifest, dataset_key_context, seal
from sealroom.model import signed_actions
from sealroom.model.signed_actions import PROOF_HEADER
from sealroom.storage.blobs import chunk_key
from tests.integration.conftest import BANK, InProcessPlatform, ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class FlakyTransport(httpx.BaseTransport):
    """Breaks the first attempt of every chunk upload, as a dropped connection would."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.failed: set[str] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/chunks/" in path and path not in self.failed:
            self.failed.add(path)
            raise httpx.WriteError("connection reset by peer", request=request)
        return self.inner.handle_request(request)


def _room(client: sr.Client) -> str:
    b = AnalyticsDcrBuilder(client=client).with_name("uploads").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="total", query="SELECT SUM(x) AS s FROM t"))
    b.add_participant(BANK, data_owner_of=["t"], analyst_of=["total"])
    return client.publish_analytics_dcr(b.build()).id


def test_chunks_are_retried_after_a_broken_connection(app_platform: InProcessPlatform) -> None:
    flaky = FlakyTransport(app_platform.transport)
    client = sr.create_client(
        BANK, app_platform.token(BANK), api_url="http://testserver", transport=flaky
    )
    room = client.retrieve_analytics_dcr(_room(client))
    rows = 200_000
    data = "".join(f"{i}\n" for i in range(rows)).encode()
    node = room.get_node("t")
    assert isinstance(node, TableDataNode)
    dataset_id = client.upload_dataset(io.BytesIO(data), sr.Key(), "t.csv", chunk_size=64 * 1024)
    assert len(flaky.failed) > 10  # every chunk failed once and was sent again
    key = sr.Key()
    node.upload_and_publish_dataset(io.BytesIO(data), key, "t.csv")
    assert dataset_id
    total = room.get_node("total")
    assert isinstance(total, SqlComputationNode)
    assert total.run_computation_and_get_results_as_string(timeout=60) == (
        f"s\n{rows * (rows - 1) // 2}\n"
    )


class GeneratedFile(io.RawIOBase):
    """A large CSV produced on the fly, so the test itself holds no big buffer."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.line = b"1234567\n"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.remaining)
        n -= n % len(self.line)
        if n <= 0:
            return 0
        buffer[:n] = self.line * (n // len(self.line))
        self.remaining -= n
        return n


@pytest.mark.integration
def test_upload_memory_stays_constant_for_a_large_file(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    chunk = 4 << 20
    size = 256 << 20
    tracemalloc.start()
    try:
        dataset_id = client.upload_dataset(
            io.BufferedReader(GeneratedFile(size), buffer_size=chunk),
            sr.Key(),
            "big.csv",
            chunk_size=chunk,
            parallel_uploads=4,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(dataset_id) == 64
    # A few chunks in flight, plus one being read and one being encrypted: not the file.
    assert peak < 12 * chunk, f"peak {peak / 2**20:.0f} MiB for a {size >> 20} MiB file"
    listed = {d["id"]: d for d in client.get_available_datasets()}
    assert listed[dataset_id]["size"] >= size


def test_tampered_ciphertext_is_refused_at_publish(app_platform: InProcessPlatform) -> None:
    client = app_platform.client(BANK)
    room = client.retrieve_analytics_dcr(_room(client))
    key = sr.Key()
    dataset_id = client.upload_dataset(io.BytesIO(b"1\n2\n3\n"), key, "t.csv")
    # The host (or anyone with its disk) flips a byte of the stored ciphertext.
    record = app_platform.platform.store.get_dataset(dataset_id)
    assert record is not None
    ref = Manifest.from_bytes(record.manifest).chunks[0]
    blobs = app_platform.platform.blobs
    stored = bytearray(blobs.get(chunk_key(ref.sha256)))
    stored[-1] ^= 1
    blobs.put(chunk_key(ref.sha256), bytes(stored))
    node = room.get_node("t")
    assert isinstance(node, TableDataNode)
    with pytest.raises(sr.ConflictError, match="failed authentication"):
        node.publish_dataset(dataset_id, key)


def test_a_key_sealed_for_another_node_is_refused(app_platform: InProcessPlatform) -> None:
    client = app_platform.client(BANK)
    room_id = _room(client)
    key = sr.Key()
    dataset_id = client.upload_dataset(io.BytesIO(b"1\n"), key, "t.csv")
    session = client.session()
    sealed = seal(
        session.attestation.kem_public_key,
        key.material,
        context=dataset_key_context(room_id, "other-node", dataset_id),
    )
    api = httpx.Client(
        base_url="http://testserver",
        transport=app_platform.transport,
        headers={"Authorization": f"Bearer {app_platform.token(BANK)}"},
    )
    # Signed by the owner (as the SDK would sign it): the core's own check refuses the key.
    signer = session._signer(
        signed_actions.publish_dataset(room_id, "t", dataset_id, sealed, replace_passing=False)
    )
    response = api.put(
        f"/v1/rooms/{room_id}/nodes/t/dataset",
        json={"dataset_id": dataset_id, "sealed_key": base64.b64encode(sealed).decode()},
        headers={PROOF_HEADER: signer()},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_sealed_key"


def test_a_key_published_to_one_room_is_refused_in_another(
    app_platform: InProcessPlatform,
) -> None:
    """The host replays the exact sealed key it stored for room A into room B (same node name,
    same dataset, same owner): the core refuses to open it there."""
    client = app_platform.client(BANK)
    room_a = _room(client)
    b = AnalyticsDcrBuilder(client=client).with_name("uploads, second room").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_participant(BANK, data_owner_of=["t"])
    room_b = client.publish_analytics_dcr(b.build()).id
    key = sr.Key()
    dataset_id = client.upload_dataset(io.BytesIO(b"1\n"), key, "t.csv")
    session = client.session()
    sealed_for_a = seal(
        session.attestation.kem_public_key,
        key.material,
        context=dataset_key_context(room_a, "t", dataset_id),
    )
    api = httpx.Client(
        base_url="http://testserver",
        transport=app_platform.transport,
        headers={"Authorization": f"Bearer {app_platform.token(BANK)}"},
    )
    body = {"dataset_id": dataset_id, "sealed_key": base64.b64encode(sealed_for_a).decode()}
    proof = {
        PROOF_HEADER: session._signer(
            signed_actions.publish_dataset(
                room_a, "t", dataset_id, sealed_for_a, replace_passing=False
            )
        )()
    }
    assert (
        api.put(f"/v1/rooms/{room_a}/nodes/t/dataset", json=body, headers=proof).status_code == 200
    )
    # Replayed as it was, signature and all: the signature is for room A.
    replayed = api.put(f"/v1/rooms/{room_b}/nodes/t/dataset", json=body, headers=proof)
    assert replayed.status_code == 403
    assert replayed.json()["code"] == "participant_signature"
    # Even if the owner signed it for room B, the key sealed for room A does not open there.
    signed_for_b = {
        PROOF_HEADER: session._signer(
            signed_actions.publish_dataset(
                room_b, "t", dataset_id, sealed_for_a, replace_passing=False
            )
        )()
    }
    resealed = api.put(f"/v1/rooms/{room_b}/nodes/t/dataset", json=body, headers=signed_for_b)
    assert resealed.status_code == 400
    assert resealed.json()["code"] == "invalid_sealed_key"
    assert session.retrieve_room_state(room_b).datasets == {}


def test_a_chunk_corrupted_in_transit_is_refused_and_can_be_resent(
    app_platform: InProcessPlatform,
) -> None:
    api = httpx.Client(
        base_url="http://testserver",
        transport=app_platform.transport,
        headers={"Authorization": f"Bearer {app_platform.token(BANK)}"},
    )
    upload_id = api.post("/v1/uploads").json()["upload_id"]
    good = b"ciphertext bytes"
    announced = hashlib.sha256(good).hexdigest()
    bad = api.put(
        f"/v1/uploads/{upload_id}/chunks/0",
        content=b"ciphertext bytez",
        headers={"X-Content-SHA256": announced},
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "chunk_hash_mismatch"
    ok = api.put(
        f"/v1/uploads/{upload_id}/chunks/0", content=good, headers={"X-Content-SHA256": announced}
    )
    assert ok.status_code == 204
    # Another user cannot add chunks to this upload, nor learn that it exists.
    other = api.put(
        f"/v1/uploads/{upload_id}/chunks/1",
        content=good,
        headers={
            "X-Content-SHA256": announced,
            "Authorization": f"Bearer {app_platform.token('eve@x.example')}",
        },
    )
    assert other.status_code == 404
