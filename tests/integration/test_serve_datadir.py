"""One server per data directory, and the sealing key shown and never replaced (issue 21, 2-3).

Through the real ``sealroom serve``: a second server on a running server's data directory exits
at once naming the first; the lock is the kernel's, so a killed server's leftover lock file
stops nobody. The first start prints the sealing key's path and a domain-separated fingerprint
(never the key), later starts the same fingerprint; a data directory whose key went missing is
refused without a new key file being made.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sealroom.server.embedded import free_port
from tests.integration.conftest import BANK, ServerProcess, stop_server

pytestmark = pytest.mark.integration


def _serve(server_env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    """A ``sealroom serve`` expected to exit by itself (within seconds: it must not hang)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sealroom.cli",
            "serve",
            "--data-dir",
            str(data_dir),
            "--port",
            str(free_port()),
        ],
        env=server_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_server_on_the_same_data_dir_exits_naming_the_first(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    first = server_factory(tmp_path)
    started = time.monotonic()
    second = _serve(first.env, first.data_dir)
    assert second.returncode == 1
    assert time.monotonic() - started < 30  # at once, not after opening the core
    assert "in use by another Sealroom server" in second.stderr
    assert f"pid {first.process.pid} " in second.stderr
    holder = json.loads((first.data_dir / "serve.lock").read_text())
    assert holder["pid"] == first.process.pid
    assert set(holder) == {"pid", "host", "started_at"}
    # The first server is untouched, and the operator's commands still work beside it.
    assert httpx.get(f"{first.url}/health").status_code == 200
    assert first.add_user(BANK)

    # A killed server leaves its lock file, not its lock: the next start is not refused.
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    stop_server(first)
    assert (first.data_dir / "serve.lock").exists()
    again = server_factory(tmp_path)
    assert httpx.get(f"{again.url}/health").status_code == 200


def test_the_sealing_key_is_shown_on_start_and_never_silently_replaced(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    key_file = tmp_path / "sealing.key"
    server = server_factory(tmp_path)
    stop_server(server)
    first_log = server.log_path.read_text()
    key = key_file.read_bytes()
    fingerprint = hashlib.sha256(b"sealroom/sealing-key-fingerprint/v1" + key).hexdigest()
    assert f"Sealing key: {key_file} (fingerprint {fingerprint})" in first_log
    assert "NEW SEALING KEY: back it up now" in first_log
    # Neither the key nor its plain hash is printed.
    assert key.hex() not in first_log
    assert hashlib.sha256(key).hexdigest() not in first_log

    server.log_path.unlink()
    server = server_factory(tmp_path)
    stop_server(server)
    second_log = server.log_path.read_text()
    assert f"(fingerprint {fingerprint})" in second_log
    assert "NEW SEALING KEY" not in second_log

    # The key is lost: the server refuses, and makes no new key (which could open nothing).
    key_file.rename(tmp_path / "elsewhere.key")
    refused = _serve(server.env, server.data_dir)
    assert refused.returncode == 1
    assert f"the sealing key {key_file} does not exist" in refused.stderr
    assert "restore the key file from its backup" in refused.stderr
    assert not key_file.exists()
