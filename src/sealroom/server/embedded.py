"""Run a real server (uvicorn, real HTTP on loopback) in a background thread.

Used by ``sealroom demo`` and the benchmarks: the SDK talks to it over a real socket exactly as
it would to ``sealroom serve``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import httpx
import uvicorn

from sealroom.errors import ServerError
from sealroom.server.app import create_app
from sealroom.server.settings import Settings

#: How long to wait for the server to answer /health before giving up.
STARTUP_TIMEOUT_SECONDS = 30.0


def wait_until_healthy(
    url: str, *, is_alive: Callable[[], bool], timeout: float = STARTUP_TIMEOUT_SECONDS
) -> None:
    """Poll ``url``/health until it answers 200; raise if the server died or never answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if not is_alive():
            raise ServerError(f"the server at {url} exited before it answered /health")
        time.sleep(0.05)
    raise ServerError(f"the server at {url} did not answer /health within {timeout} s")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        config = uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="sealroom-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self) -> EmbeddedServer:
        self._thread.start()
        wait_until_healthy(self.url, is_alive=self._thread.is_alive)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
