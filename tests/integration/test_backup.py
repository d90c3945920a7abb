"""``sealroom backup`` / ``sealroom restore`` against a real server: online, consistent, checked.

One server runs jobs while it is backed up; the archive is restored into a new directory with
the sealing key it carried, and a server started there serves every room, dataset and result
of the backup's moment, finishes the jobs that were in flight, and keeps an audit log that a
client's earlier checkpoint accepts while a later one reports the rollback. Altered archives are
refused, and the archive holds no plaintext and no key in clear.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import select
import stat
import sys
import tarfile
import termios
import time
from pathlib import Path

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
from sealroom.client import JobId
from tests.integration.conftest import (
    ANALYST,
    BANK,
    ServerProcess,
    run_cli,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

ROWS = 1500
#: Each row's label: what must never appear in the archive.
MARKER = "plaintext-marker-"
#: About a second of DuckDB per run (idle machine): two workers cannot finish four runs before
#: the backup command has started, so some are queued or running when it takes its snapshot.
MEDIUM_QUERY = "SELECT SUM(a.x * b.x + c.x) AS s FROM t a, t b, t c WHERE c.x < 300"
FAST_SUM = ROWS * (ROWS - 1) // 2
MEDIUM_SUM = FAST_SUM * FAST_SUM * 300 + ROWS * ROWS * sum(range(300))
IN_FLIGHT_RUNS = 4
PASSPHRASE = "correct horse battery staple"


def _client(server: ServerProcess, email: str, token: str, state_dir: Path) -> sr.Client:
    return sr.create_client(email, token, api_url=server.url, state_dir=state_dir)


def _publish(owner: sr.Client) -> str:
    b = AnalyticsDcrBuilder(client=owner).with_name("backed up").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[
                Column(name="x", format_type=FormatType.INTEGER, is_nullable=False),
                Column(name="label", format_type=FormatType.STRING, is_nullable=False),
            ],
            is_required=True,
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="fast", query="SELECT SUM(x) AS s FROM t"))
    b.add_node_definition(SqlComputeNodeDefinition(name="medium", query=MEDIUM_QUERY))
    b.add_participant(BANK, data_owner_of=["t"])
    b.add_participant(ANALYST, analyst_of=["fast", "medium"])
    dcr = owner.publish_analytics_dcr(b.build())
    node = dcr.get_node("t")
    assert isinstance(node, TableDataNode)
    rows = "".join(f"{i},{MARKER}{i:05d}\n" for i in range(ROWS))
    node.upload_and_publish_dataset(io.BytesIO(rows.encode()), sr.Key(), "t.csv")
    return dcr.id


def _sql_node(client: sr.Client, room_id: str, name: str) -> SqlComputationNode:
    node = client.retrieve_analytics_dcr(room_id).get_node(name)
    assert isinstance(node, SqlComputationNode)
    return node


def _result(client: sr.Client, job: JobId) -> str:
    data = client.session().get_computation_result(job, timeout=120, result_format="csv")
    return data.decode()


def _secret_file(path: Path, text: str) -> Path:
    path.write_text(text + "\n")
    path.chmod(0o600)
    return path


def test_backup_while_jobs_run_then_restore_serves_everything(tmp_path: Path) -> None:
    original_root, restored_root = tmp_path / "original", tmp_path / "restored"
    original_root.mkdir()
    restored_root.mkdir()
    before_state, after_state = tmp_path / "client-before", tmp_path / "client-after"
    passphrase_file = _secret_file(tmp_path / "passphrase", PASSPHRASE)
    archive = tmp_path / "backup.tar"

    server = start_server(original_root)
    try:
        tokens = {email: server.add_user(email) for email in (BANK, ANALYST)}
        room_id = _publish(_client(server, BANK, tokens[BANK], before_state))
        analyst = _client(server, ANALYST, tokens[ANALYST], before_state)
        finished = _sql_node(analyst, room_id, "fast").run_computation()
        assert _result(analyst, finished) == f"s\n{FAST_SUM}\n"
        # A client looks at the log before the backup: its checkpoint is saved in its state.
        seen_before = len(analyst.session().verify_audit_log(room_id).events)

        medium = _sql_node(analyst, room_id, "medium")
        in_flight = [medium.run_computation() for _ in range(IN_FLIGHT_RUNS)]
        started = time.monotonic()
        backup = server.cli(
            "backup",
            "--data-dir",
            str(server.data_dir),
            "-o",
            str(archive),
            "--include-sealing-key",
            "--passphrase-file",
            str(passphrase_file),
            "--json",
        )
        backup_seconds = time.monotonic() - started
        summary = json.loads(backup.stdout)
        # Mid-way: the snapshot holds the finished result, not all of the in-flight runs'.
        assert 1 <= summary["results"] < 1 + IN_FLIGHT_RUNS, summary
        assert summary["datasets"] == 1
        assert summary["includes_sealing_key"]
        assert summary["includes_ca_key"]
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600

        # After the backup, another client sees newer entries (the jobs finish, one more runs).
        later = _client(server, ANALYST, tokens[ANALYST], after_state)
        for job in in_flight:
            assert _result(later, job) == f"s\n{MEDIUM_SUM}\n"
        assert len(later.session().verify_audit_log(room_id).events) > seen_before
        sealing_key = (original_root / "sealing.key").read_bytes()
        ca_key = (server.data_dir / "pki" / "ca.key").read_bytes()
    finally:
        stop_server(server)

    # -- the archive holds no plaintext and no key in clear --------------------------------
    raw = archive.read_bytes()
    assert MARKER.encode() not in raw
    assert f"{FAST_SUM}".encode() not in raw
    for key in (sealing_key, ca_key):
        assert key not in raw
        assert key.hex().encode() not in raw

    # -- restore into a new directory, with the sealing key the archive carried ------------
    env = server.env
    restore = run_cli(
        "restore",
        str(archive),
        "--data-dir",
        str(restored_root / "data"),
        "--sealing-key-out",
        str(restored_root / "sealing.key"),
        "--passphrase-file",
        str(passphrase_file),
        env=env,
    )
    assert "every SHA-256 checked" in restore.stdout
    assert (restored_root / "sealing.key").read_bytes() == sealing_key
    assert stat.S_IMODE((restored_root / "sealing.key").stat().st_mode) == 0o600
    assert (restored_root / "data" / "pki" / "ca.key").read_bytes() == ca_key

    restored = start_server(restored_root)
    try:
        bank = _client(restored, BANK, tokens[BANK], before_state)
        analyst = _client(restored, ANALYST, tokens[ANALYST], before_state)
        # The room, its dataset (a new run reads every chunk through the core) and the results:
        # the one finished before the backup, and the in-flight ones, run again after restore.
        assert [room["id"] for room in bank.get_data_room_descriptions()] == [room_id]
        assert bank.retrieve_analytics_dcr(room_id).id == room_id
        assert _result(analyst, finished) == f"s\n{FAST_SUM}\n"
        fresh = _sql_node(analyst, room_id, "fast").run_computation()
        assert _result(analyst, fresh) == f"s\n{FAST_SUM}\n"
        for job in in_flight:
            assert _result(analyst, job) == f"s\n{MEDIUM_SUM}\n"

        # The audit log: the earlier client's checkpoint accepts it, and the export verifies.
        export = tmp_path / "audit.json"
        audit_env = {
            **restored.env,
            "SEALROOM_API_URL": restored.url,
            "SEALROOM_EMAIL": ANALYST,
            "SEALROOM_API_TOKEN": tokens[ANALYST],
        }
        run_cli(
            "audit", "export", room_id, "-o", str(export),
            env={**audit_env, "SEALROOM_STATE_DIR": str(before_state)},
        )  # fmt: skip
        run_cli(
            "audit", "verify", str(export), "--state-dir", str(before_state), env=audit_env
        )  # fmt: skip
        # The later client saw entries the restored log lacks: it reports a rollback.
        rolled_back = run_cli(
            "audit", "export", room_id, "-o", str(tmp_path / "later.json"),
            env={**audit_env, "SEALROOM_STATE_DIR": str(after_state)}, check=False,
        )  # fmt: skip
        assert rolled_back.returncode == 1, rolled_back.stderr
        # Rolled back (its entries are gone) or forked (the restored server has since written
        # other entries in their place): either way the client refuses the log.
        assert "rolled back" in rolled_back.stderr or "forked" in rolled_back.stderr
    finally:
        stop_server(restored)

    print(f"backup of {len(raw)} bytes took {backup_seconds:.2f} s (CLI start included)")


@pytest.fixture
def small_archive(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """An archive of a server with one room and dataset, its keys sealed under PASSPHRASE."""
    root = tmp_path / "original"
    root.mkdir()
    passphrase_file = _secret_file(tmp_path / "passphrase", PASSPHRASE)
    server = start_server(root)
    try:
        token = server.add_user(BANK)
        _publish(_client(server, BANK, token, tmp_path / "state"))
        archive = tmp_path / "backup.tar"
        server.cli(
            "backup", "--data-dir", str(server.data_dir), "-o", str(archive),
            "--passphrase-file", str(passphrase_file),
        )  # fmt: skip
    finally:
        stop_server(server)
    return archive, passphrase_file, server.env


def _rewrite(archive: Path, target: Path, change: dict[str, bytes]) -> None:
    """Copy ``archive`` to ``target`` with members' contents replaced (same names, order)."""
    with tarfile.open(archive) as source, tarfile.open(target, "w") as copy:
        for info in source:
            data = source.extractfile(info)
            assert data is not None
            content = change.get(info.name, data.read())
            info.size = len(content)
            copy.addfile(info, io.BytesIO(content))


def test_an_altered_archive_is_refused(
    small_archive: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    archive, passphrase_file, env = small_archive
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("MANIFEST.json").read())  # type: ignore[union-attr]
        chunk = next(name for name in names if name.startswith("blobs/chunks/"))
        original_chunk = tar.extractfile(chunk).read()  # type: ignore[union-attr]
    flipped = bytes([original_chunk[0] ^ 1]) + original_chunk[1:]

    def restore(candidate: Path, target: Path) -> str:
        result = run_cli(
            "restore", str(candidate), "--data-dir", str(target),
            "--passphrase-file", str(passphrase_file), env=env, check=False,
        )  # fmt: skip
        assert result.returncode == 1, result.stdout + result.stderr
        assert not target.exists(), "a refused restore leaves no directory behind"
        return result.stderr

    # 1. A chunk altered: its hash no longer matches the manifest.
    altered = tmp_path / "altered.tar"
    _rewrite(archive, altered, {chunk: flipped})
    assert "does not match its SHA-256" in restore(altered, tmp_path / "r1")

    # 2. The chunk and its hash in the manifest both rewritten: the sealed keys' binding fails.
    for entry in manifest["members"]:
        if entry["name"] == chunk:
            entry["sha256"] = hashlib.sha256(flipped).hexdigest()
    rewritten = tmp_path / "rewritten.tar"
    _rewrite(archive, rewritten, {chunk: flipped, "MANIFEST.json": json.dumps(manifest).encode()})
    assert "wrong passphrase, or the archive was altered" in restore(rewritten, tmp_path / "r2")

    # 3. A member the manifest does not name (here: a path out of the directory).
    smuggled = tmp_path / "smuggled.tar"
    with tarfile.open(archive) as source, tarfile.open(smuggled, "w") as copy:
        for info in source:
            copy.addfile(info, source.extractfile(info))
        evil = tarfile.TarInfo("../escaped")
        evil.size = 1
        copy.addfile(evil, io.BytesIO(b"x"))
    assert "does not" in restore(smuggled, tmp_path / "r3")
    assert not (tmp_path / "escaped").exists()

    # 4. A wrong passphrase.
    wrong = _secret_file(tmp_path / "wrong", "not the passphrase at all")
    result = run_cli(
        "restore", str(archive), "--data-dir", str(tmp_path / "r4"),
        "--passphrase-file", str(wrong), env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "wrong passphrase" in result.stderr

    # 5. A directory that is not empty is refused before anything is read.
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    result = run_cli(
        "restore", str(archive), "--data-dir", str(occupied),
        "--passphrase-file", str(passphrase_file), env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "not empty" in result.stderr
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]

    # The untouched archive restores.
    run_cli(
        "restore", str(archive), "--data-dir", str(tmp_path / "ok"),
        "--passphrase-file", str(passphrase_file), env=env,
    )  # fmt: skip


def _on_a_terminal(args: list[str], env: dict[str, str], typed: list[str]) -> tuple[int, str]:
    """Run ``sealroom *args`` on a pseudo-terminal (its controlling terminal, as a person's
    shell is), answering each prompt for the passphrase with the next of ``typed``; the exit
    status and everything it printed."""
    pid, fd = os.forkpty()
    if pid == 0:  # the child: the terminal is its stdin, stdout, stderr and /dev/tty
        os.execve(sys.executable, [sys.executable, "-m", "sealroom.cli", *args], env)
    output, answers, answered = b"", list(typed), 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        output += data
        # A prompt printed since the last answer (what was answered is not printed again).
        if answers and output[answered:].strip().endswith(b":"):
            # Answer once the prompt reads without echo: getpass flushes what was typed before.
            _wait_until_echo_is_off(fd)
            os.write(fd, answers.pop(0).encode() + b"\n")
            answered = len(output)
    else:
        os.kill(pid, 9)  # it hangs: fail below instead of waiting for ever
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def _wait_until_echo_is_off(fd: int) -> None:
    deadline = time.monotonic() + 30
    while termios.tcgetattr(fd)[3] & termios.ECHO:
        assert time.monotonic() < deadline, "the prompt never turned echo off"
        time.sleep(0.02)


def test_the_passphrase_is_asked_for_on_a_terminal_and_never_echoed(
    small_archive: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    archive, _, env = small_archive
    target = tmp_path / "restored"
    restore = ["restore", str(archive), "--data-dir", str(target)]
    code, printed = _on_a_terminal(restore, env, [PASSPHRASE])
    assert code == 0, printed
    assert "Backup passphrase" in printed
    assert PASSPHRASE not in printed
    assert (target / "metadata.sqlite3").is_file()

    # Without a terminal there is no one to ask: refused, saying what to pass.
    piped = run_cli(*restore[:3], str(tmp_path / "piped"), env=env, check=False)
    assert piped.returncode == 2
    assert "--passphrase-file" in piped.stderr

    # A new backup asks twice (a typo would seal the keys under a passphrase nobody knows).
    again = tmp_path / "again.tar"
    backup = ["backup", "--data-dir", str(target), "-o", str(again), "--include-sealing-key"]
    # Two that differ: asked again; then one too short: refused (exit 2), no archive.
    code, printed = _on_a_terminal(backup, env, [PASSPHRASE, PASSPHRASE[::-1], "short", "short"])
    assert "do not match" in printed
    assert printed.count("Backup passphrase") == 2, printed
    assert code == 2
    assert "at least 12 characters" in printed
    assert not again.exists()
    code, printed = _on_a_terminal(
        [*backup[:4], str(tmp_path / "third.tar"), backup[5]], env, [PASSPHRASE, PASSPHRASE]
    )
    assert code == 0, printed
    assert (tmp_path / "third.tar").is_file()
    assert PASSPHRASE not in printed
