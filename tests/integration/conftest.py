"""Shared fixtures: the real app in-process, and a real ``sealroom serve`` subprocess.

In-process tests drive the SDK through the app's ASGI transport (same code, no socket); the
integration tests start the real command and talk HTTP to it. Every server gets its own data
directory and its own (simulated) sealing key file under the test's temporary directory.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import httpx
import pytest
from starlette.testclient import TestClient

import sealroom as sr
from sealroom.errors import ServerError
from sealroom.server.accounts import issue_token
from sealroom.server.app import create_app
from sealroom.server.embedded import free_port, wait_until_healthy
from sealroom.server.platform import Platform
from sealroom.server.settings import Settings

if TYPE_CHECKING:
    from sealroom.analytics._dcr import AnalyticsDcr

BANK = "alice@bank.example"
INSURER = "bob@insurer.example"
ANALYST = "carol@analytics.example"
OUTSIDER = "mallory@elsewhere.example"


def make_settings(root: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": root / "data",
        "sealing_key_file": root / "sealing.key",
        "workers": 2,
        "sql_memory_limit_bytes": 1 << 30,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class InProcessPlatform:
    """The real app, its lifespan running, reachable through an ASGI transport."""

    settings: Settings
    test_client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def platform(self) -> Platform:
        platform: Platform = self.test_client.app.state.platform  # type: ignore[attr-defined]
        return platform

    @property
    def transport(self) -> httpx.BaseTransport:
        return self.test_client._transport

    def token(self, email: str) -> str:
        if email not in self.tokens:
            self.tokens[email] = issue_token(self.platform.store, email)
        return self.tokens[email]

    def client(self, email: str) -> sr.Client:
        return sr.create_client(
            email, self.token(email), api_url="http://testserver", transport=self.transport
        )


@pytest.fixture
def app_platform(tmp_path: Path) -> Iterator[InProcessPlatform]:
    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as test_client:
        yield InProcessPlatform(settings, test_client)


@dataclass
class ServerProcess:
    url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    log: BinaryIO

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, check=check)

    def add_user(self, email: str) -> str:
        result = self.cli("user", "add", email, "--data-dir", str(self.data_dir))
        return result.stdout.strip().splitlines()[-1]


def run_cli(
    *args: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "sealroom.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"sealroom {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def start_server(
    root: Path, extra_env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> ServerProcess:
    port = free_port()
    data_dir = root / "data"
    env = {
        **os.environ,
        "SEALROOM_SEALING_KEY_FILE": str(root / "sealing.key"),
        "SEALROOM_DATA_DIR": str(data_dir),
        **(extra_env or {}),
    }
    log_path = root / "server.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed in stop_server
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sealroom.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, is_alive=lambda: process.poll() is None, timeout=60)
    except ServerError as exc:
        process.kill()
        process.wait()
        log.close()
        raise AssertionError(f"{exc}:\n{log_path.read_text()}") from None
    return ServerProcess(url, data_dir, env, process, log_path, log)


def stop_server(server: ServerProcess) -> None:
    if server.process.poll() is None:
        server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    server.log.close()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def factory(root: Path | None = None, args: Sequence[str] = (), **env: str) -> ServerProcess:
        server = start_server(root or tmp_path, env, args)
        started.append(server)
        return server

    yield factory
    for server in started:
        stop_server(server)


def sales_room(
    platform: InProcessPlatform, nodes: Sequence[object], analyst_of: list[str]
) -> AnalyticsDcr:
    """A room of BANK with a published table ``sales`` (region text, amount integer: north 10,
    south 3, north 5) and the given compute nodes, BANK analyst of ``analyst_of``."""
    from sealroom.analytics import (
        AnalyticsDcrBuilder,
        Column,
        FormatType,
        TableDataNode,
        TableDataNodeDefinition,
    )

    client = platform.client(BANK)
    b = AnalyticsDcrBuilder(client=client).with_name("scripts").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="sales",
            columns=[
                Column(name="region", format_type=FormatType.STRING, is_nullable=False),
                Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False),
            ],
            is_required=True,
        )
    )
    for node in nodes:
        b.add_node_definition(node)  # type: ignore[arg-type]
    b.add_participant(BANK, data_owner_of=["sales"], analyst_of=analyst_of)
    dcr = client.publish_analytics_dcr(b.build())
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(b"north,10\nsouth,3\nnorth,5\n"), sr.Key(), "s")
    return dcr
