"""The browser the web app's tests drive, against a real server: what the in-browser encryption
needs is there (issue 19: the page encrypts, seals and verifies with WebCrypto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import ServerProcess, start_server, stop_server

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("browser"))
    try:
        yield started
    finally:
        stop_server(started)


def test_a_page_of_the_server_is_a_secure_context_with_webcrypto(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    tmp_path: Path,
) -> None:
    page = chromium.new_page()
    try:
        response = page.goto(f"{server.url}/health")
        assert response is not None
        assert response.status == 200
        assert "ok" in page.content()
        # WebCrypto exists only in a secure context: 127.0.0.1 is one (elsewhere: HTTPS).
        assert page.evaluate("() => window.isSecureContext") is True
        algorithms = page.evaluate(
            """async () => {
                const key = await crypto.subtle.generateKey(
                    {name: "AES-GCM", length: 256}, false, ["encrypt"]);
                const x25519 = await crypto.subtle.generateKey(
                    {name: "X25519"}, false, ["deriveBits"]);
                const ed25519 = await crypto.subtle.generateKey(
                    {name: "Ed25519"}, false, ["sign"]);
                return [key.algorithm.name, x25519.privateKey.algorithm.name,
                        ed25519.privateKey.algorithm.name, ed25519.privateKey.extractable];
            }"""
        )
        # AES-GCM for the chunk format, X25519 for HPKE sealing, Ed25519 for a participant's
        # non-extractable signing key.
        assert algorithms == ["AES-GCM", "X25519", "Ed25519", False]
        page.screenshot(path=str(tmp_path / "health.png"))
        assert (tmp_path / "health.png").stat().st_size > 0
    finally:
        page.close()
