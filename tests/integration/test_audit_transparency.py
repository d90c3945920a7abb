"""The audit log as a transparency log, end to end against a real ``sealroom serve``: the SDK
keeps the last verified checkpoint and catches a host that truncates or rewrites history; the
core catches stored entries edited behind its back; ``sealroom audit export|verify`` works
offline and fails on any change."""

from __future__ import annotations

import dataclasses
import io
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
)
from sealroom.audit import AuditLog, build_export, events_from_wire
from sealroom.crypto import SigningKey
from sealroom.errors import VerificationError
from tests.integration.conftest import (
    BANK,
    INSURER,
    ServerProcess,
    run_cli,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]


def _room(server: ServerProcess, token: str, state: Path) -> tuple[sr.Client, str]:
    client = sr.create_client(BANK, token, api_url=server.url, state_dir=state)
    builder = AnalyticsDcrBuilder(client=client).with_name("audited").with_owner(BANK)
    builder.add_node_definition(RawDataNodeDefinition(name="raw", is_required=True))
    builder.add_node_definition(
        PythonComputeNodeDefinition(
            name="copy", script='open("/output/o", "w").write("x")\n', dependencies=["raw"]
        )
    )
    builder.add_participant(BANK, data_owner_of=["raw"], analyst_of=["copy"])
    dcr = client.publish_analytics_dcr(builder.build())
    dcr.get_node("raw").upload_and_publish_dataset(io.BytesIO(b"d"), sr.Key(), "d")  # type: ignore[union-attr]
    dcr.get_node("copy").run_computation_and_get_results_as_zip(timeout=120)  # type: ignore[union-attr]
    return client, dcr.id


def _restart_with(server: ServerProcess, root: Path, sql: list[str]) -> ServerProcess:
    """Stop the server, run ``sql`` on its metadata as a malicious host would, start it again."""
    stop_server(server)
    with sqlite3.connect(server.data_dir / "metadata.sqlite3") as db:
        for statement in sql:
            db.execute(statement)
    return start_server(root)


def test_the_sdk_detects_truncation_and_rewritten_history(tmp_path: Path) -> None:
    root, state = tmp_path / "server", tmp_path / "state"
    root.mkdir()
    server = start_server(root)
    try:
        token = server.add_user(BANK)
        client, room_id = _room(server, token, state)
        log = client.session().retrieve_audit_log(room_id).log.decode()
        assert "JOB_COMPLETED" in log
        room_state = client.session().retrieve_room_state(room_id)
        assert room_state.status == "active"
        assert list(room_state.datasets) == ["raw"]
        assert room_state.version >= len(log.splitlines())
        saved = json.loads((state / "audit-checkpoints" / f"{room_id}.json").read_text())
        size = int(saved["checkpoint"].split("\n")[1])
        assert size == len(log.splitlines())

        # The host drops the last two entries and the checkpoint the core kept: the core, on
        # restart, has no way to know and signs the shorter log. The SDK remembers more.
        server = _restart_with(
            server,
            root,
            [
                f"DELETE FROM audit_entries WHERE room_id = '{room_id}' AND seq >= {size - 2}",
                f"DELETE FROM audit_checkpoints WHERE room_id = '{room_id}'",
            ],
        )
        client = sr.create_client(BANK, token, api_url=server.url, state_dir=state)
        with pytest.raises(VerificationError, match="truncated"):
            client.session().retrieve_audit_log(room_id)
        # The room's signed state is versioned by the log: it went back, and the SDK says so.
        with pytest.raises(VerificationError, match="rolled back"):
            client.session().retrieve_room_state(room_id)
        # A fresh participant (no saved state) accepts that shorter log: trust on first use.
        fresh = sr.create_client(BANK, token, api_url=server.url, state_dir=tmp_path / "fresh")
        assert len(fresh.session().retrieve_audit_log(room_id).log.splitlines()) == size - 2

        # The host rewrites an entry (and drops the checkpoint): a fork of what the SDK saw.
        server = _restart_with(
            server,
            root,
            [
                "UPDATE audit_entries SET entry = replace(entry, 'published room', 'nothing') "
                f"WHERE room_id = '{room_id}' AND seq = 0",
                f"DELETE FROM audit_checkpoints WHERE room_id = '{room_id}'",
            ],
        )
        client = sr.create_client(BANK, token, api_url=server.url, state_dir=state)
        with pytest.raises(VerificationError, match=r"truncated|forked"):
            client.session().retrieve_audit_log(room_id)
    finally:
        stop_server(server)


def test_the_core_detects_entries_edited_behind_its_checkpoint(tmp_path: Path) -> None:
    root, state = tmp_path / "server", tmp_path / "state"
    root.mkdir()
    server = start_server(root)
    try:
        token = server.add_user(BANK)
        client, room_id = _room(server, token, state)
        client.session().retrieve_audit_log(room_id)  # the core signs and keeps a checkpoint
        server = _restart_with(
            server,
            root,
            [
                "UPDATE audit_entries SET entry = replace(entry, 'published room', 'nothing') "
                f"WHERE room_id = '{room_id}' AND seq = 0"
            ],
        )
        client = sr.create_client(BANK, token, api_url=server.url, state_dir=state)
        with pytest.raises(sr.SealroomError):
            client.session().retrieve_audit_log(room_id)
        assert "forked" in server.log_path.read_text() or "audit" in server.log_path.read_text()
    finally:
        stop_server(server)


def test_audit_export_and_offline_verify(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    token = server.add_user(BANK)
    state = tmp_path / "state"
    client, room_id = _room(server, token, state)
    env = {**server.env, "SEALROOM_STATE_DIR": str(state)}

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env, check=check)

    args = ["--api-url", server.url, "--email", BANK, "--token", token]
    older, newer = tmp_path / "older.json", tmp_path / "newer.json"
    cli("audit", "export", room_id, "-o", str(older), *args)
    client.session().run_computation(room_id, "copy")  # the log grows
    cli("audit", "export", room_id, "-o", str(newer), *args)

    # Without --key, the key the SDK pinned in its state directory; the output says so.
    verified = cli("audit", "verify", str(newer), "--previous", str(older))
    assert verified.stdout.startswith(f"verified: room {room_id}")
    assert f"(pinned in {state}" in verified.stdout
    signer = verified.stdout.split("signed by core key ")[1].split()[0]
    with_key = cli("audit", "verify", str(older), "--key", signer)
    assert f"signed by core key {signer} (given with --key)" in with_key.stdout

    # Another machine, which never verified the room, has nothing to verify with: exit 2.
    stranger = server.cli(
        "audit", "verify", str(newer), "--state-dir", str(tmp_path / "x"), check=False
    )
    assert stranger.returncode == 2
    assert "no key to verify with" in " ".join((stranger.stdout + stranger.stderr).split())

    reversed_order = cli("audit", "verify", str(older), "--previous", str(newer), check=False)
    assert reversed_order.returncode == 1
    assert "truncated" in reversed_order.stderr

    data = newer.read_bytes()
    position = data.index(b"JOB_SUBMITTED") + 2
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(data[:position] + b"X" + data[position + 1 :])
    refused = cli("audit", "verify", str(tampered), check=False)
    assert refused.returncode == 1
    assert "NOT VERIFIED" in refused.stderr

    other_key = "00" * 32
    pinned = cli("audit", "verify", str(newer), "--key", other_key, check=False)
    assert pinned.returncode != 0

    # A forgery made from scratch, consistent in itself (its own key signs its own checkpoint):
    # it once exited 0; the pinned key refuses it.
    forger = SigningKey.generate()
    events = events_from_wire(json.loads(newer.read_bytes())["entries"])
    log = AuditLog(room_id, [dataclasses.replace(e, notes="nothing happened") for e in events])
    forged = tmp_path / "forged.json"
    forged.write_bytes(
        build_export(room_id, log.events(), log.checkpoint(forger)[1], forger.verify_key)
    )
    caught = cli("audit", "verify", str(forged), check=False)
    assert caught.returncode == 1
    message = " ".join(caught.stderr.split())  # the console wraps long lines
    assert f"signed by core key {forger.verify_key.hex()}, not by the expected" in message


def test_another_participants_access_is_refused_and_audited(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    token = server.add_user(BANK)
    outsider = sr.create_client(INSURER, server.add_user(INSURER), api_url=server.url)
    client, room_id = _room(server, token, tmp_path / "state")
    with pytest.raises(sr.SealroomError):
        outsider.session().retrieve_audit_log(room_id)
    log = client.session().retrieve_audit_log(room_id).log.decode()
    assert "ACCESS_DENIED" in log
    assert "RESULT_RETRIEVED" in log
    assert "DATASET_KEY_USED" in log  # the job that read the dataset, for its owner
