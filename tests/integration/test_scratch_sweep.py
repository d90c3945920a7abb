"""Plaintext a crashed server left in the scratch directory is swept (issue 13, item 12).

After ``kill -9`` mid-job, the job's decrypted input stayed in the RAM-backed scratch until
reboot. Each server now holds a lock in its scratch directory, and a server starting removes
every scratch directory whose lock nobody holds.
"""

from __future__ import annotations

import io
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
)
from sealroom.server.scratch import PREFIX, open_scratch, sweep
from tests.integration.conftest import BANK, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

MARKER = b"plaintext-marker-4b1d"


def _holding(root: Path) -> list[Path]:
    """Files under ``root`` that hold the marker."""
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and MARKER in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


def test_a_sweep_takes_only_directories_nobody_holds(tmp_path: Path) -> None:
    live = open_scratch(tmp_path)
    dead = tmp_path / f"{PREFIX}dead"
    dead.mkdir()
    (dead / ".lock").touch()  # its server died: nobody holds the lock
    (dead / "dataset.csv").write_bytes(MARKER)
    legacy = tmp_path / f"{PREFIX}legacy"  # made before scratch directories had locks
    legacy.mkdir()
    unrelated = tmp_path / "something-else"
    unrelated.mkdir()
    assert sweep(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.path.name, unrelated.name])
    assert (live.path.stat().st_mode & 0o777) == 0o700
    live.close()
    assert not live.path.exists()


def test_a_killed_servers_plaintext_is_gone_when_the_next_one_starts(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    for directory in ("scratch", "one", "two"):
        (tmp_path / directory).mkdir()
    server = server_factory(tmp_path / "one", SEALROOM_SCRATCH_ROOT=str(scratch))
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    b = AnalyticsDcrBuilder(client=client).with_name("crash").with_owner(BANK)
    b.add_node_definition(RawDataNodeDefinition(name="raw", is_required=True))
    b.add_node_definition(
        PythonComputeNodeDefinition(
            name="slow", script="import time\ntime.sleep(60)\n", dependencies=["raw"]
        )
    )
    b.add_participant(BANK, data_owner_of=["raw"], analyst_of=["slow"])
    dcr = client.publish_analytics_dcr(b.build())
    dcr.get_node("raw").upload_and_publish_dataset(io.BytesIO(MARKER), sr.Key(), "raw")  # type: ignore[union-attr]
    client.session().run_computation(dcr.id, "slow")
    deadline = time.monotonic() + 60
    while not _holding(scratch) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _holding(scratch), "control: the job's plaintext input is in the scratch"

    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait()
    time.sleep(0.5)  # the sandbox dies with its parent
    assert _holding(scratch), "control: nothing removed it after kill -9"

    server_factory(tmp_path / "two", SEALROOM_SCRATCH_ROOT=str(scratch))
    assert _holding(scratch) == []
    assert len(list(scratch.glob(f"{PREFIX}*"))) == 1  # the new server's own
