"""``sealroom gc`` against a real server: it deletes exactly what expired, and nothing a room uses.

One server runs throughout (gc is online-safe). Ages are set in the past through the database
and the blob files' mtimes; gc --dry-run lists and deletes nothing, gc deletes exactly those,
and then the room still works through the SDK: the recent job's result, a new run on the
published dataset, the audit log, the datasets kept; the expired result answers
``result_expired``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

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
from sealroom.errors import RequestError
from tests.integration.conftest import BANK, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

DAY_MS = 86_400_000
#: Older than --older-than 1d and than --result-retention 30d.
LONG_AGO_MS = int(time.time() * 1000) - 40 * DAY_MS
LONG_AGO_S = LONG_AGO_MS / 1000
GC = ("--older-than", "1d", "--result-retention", "30d", "--json")


def _files(blobs: Path) -> set[str]:
    return {p.relative_to(blobs).as_posix() for p in blobs.rglob("*") if p.is_file()}


def _age_every_file(blobs: Path) -> None:
    for path in blobs.rglob("*"):
        if path.is_file():
            os.utime(path, (LONG_AGO_S, LONG_AGO_S))


def _chunks_of(db: Path, dataset_id: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        (manifest,) = conn.execute(
            "SELECT manifest FROM datasets WHERE id = ?", (dataset_id,)
        ).fetchone()
    hashes = [c["sha256"] for c in json.loads(manifest)["chunks"]]
    return {f"chunks/{h[:2]}/{h}" for h in hashes}


def _start_upload(server: ServerProcess, token: str, chunk: bytes) -> str:
    """An upload that receives one chunk and is never completed."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers) as http:
        upload_id = str(http.post("/v1/uploads").raise_for_status().json()["upload_id"])
        http.put(
            f"/v1/uploads/{upload_id}/chunks/0",
            content=chunk,
            headers={"X-Content-SHA256": hashlib.sha256(chunk).hexdigest()},
        ).raise_for_status()
    return upload_id


def _gc(server: ServerProcess, *args: str) -> dict[str, object]:
    result = server.cli("gc", "--data-dir", str(server.data_dir), *GC, *args)
    document: dict[str, object] = json.loads(result.stdout)
    return document


def _summary(document: dict[str, object]) -> dict[str, object]:
    """What a gc run names, as sets (its lists are ordered by age, ours by nothing)."""

    def ids(key: str, field: str) -> set[str]:
        items = document[key]
        assert isinstance(items, list)
        return {str(item[field]) for item in items}

    return {
        "results": ids("results", "job_id"),
        "datasets": ids("datasets", "id"),
        "uploads": ids("uploads", "id"),
        "files": ids("files", "key"),
    }


def test_gc_deletes_exactly_what_expired_and_the_room_still_works(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path)
    token = server.add_user(BANK)
    owner = sr.create_client(BANK, token, api_url=server.url)
    b = AnalyticsDcrBuilder(client=owner).with_name("gc").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="total", query="SELECT SUM(x) AS s FROM t"))
    b.add_participant(BANK, data_owner_of=["t"], analyst_of=["total"])
    dcr = owner.publish_analytics_dcr(b.build())
    table = dcr.get_node("t")
    assert isinstance(table, TableDataNode)
    # Several chunks each (64 KiB chunks), so that "every chunk" is more than one.
    table.upload_and_publish_dataset(
        io.BytesIO(b"".join(b"%d\n" % i for i in range(40_000))), sr.Key(), "t.csv"
    )
    datasets = {d["id"]: d for d in owner.get_available_datasets()}
    (published,) = [i for i, d in datasets.items() if d["published_to"]]
    expected_sum = 40_000 * 39_999 // 2

    unpublished_old = owner.upload_dataset(
        io.BytesIO(b"".join(b"%d\n" % i for i in range(30_000))),
        sr.Key(),
        "old.csv",
        chunk_size=64 << 10,
    )
    unpublished_new = owner.upload_dataset(io.BytesIO(b"1\n2\n"), sr.Key(), "new.csv")
    abandoned_old = _start_upload(server, token, os.urandom(1000))
    abandoned_new = _start_upload(server, token, os.urandom(1000))

    total = dcr.get_node("total")
    assert isinstance(total, SqlComputationNode)
    session = owner.session()
    old_job = total.run_computation()
    assert session.get_computation_result(old_job, timeout=60) == f"s\n{expected_sum}\n".encode()
    new_job = total.run_computation()
    assert session.get_computation_result(new_job, timeout=60) == f"s\n{expected_sum}\n".encode()

    # A chunk file no row names (a crash after the write), and a stale temporary file.
    blobs = server.data_dir / "blobs"
    stray = os.urandom(100)
    stray_key = (
        f"chunks/{hashlib.sha256(stray).hexdigest()[:2]}/{hashlib.sha256(stray).hexdigest()}"
    )
    (blobs / stray_key).parent.mkdir(parents=True, exist_ok=True)
    (blobs / stray_key).write_bytes(stray)
    (blobs / "results" / ".interrupted.0000.tmp").write_bytes(b"partial")

    # Ages, in the past: the old job's finish, the old dataset and upload, every file; the
    # completed uploads of all three datasets (their receipts) too.
    db = server.data_dir / "metadata.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE jobs SET finished_at_ms = ? WHERE id = ?", (LONG_AGO_MS, old_job.id))
        for dataset_id in (unpublished_old, published):
            conn.execute(
                "UPDATE datasets SET created_at_ms = ? WHERE id = ?", (LONG_AGO_MS, dataset_id)
            )
        conn.execute(
            "UPDATE uploads SET created_at_ms = ? WHERE completed OR id = ?",
            (LONG_AGO_MS, abandoned_old),
        )
        (abandoned_old_chunk,) = conn.execute(
            "SELECT sha256 FROM upload_chunks WHERE upload_id = ?", (abandoned_old,)
        ).fetchone()
    _age_every_file(blobs)

    old_chunks = _chunks_of(db, unpublished_old)
    assert len(old_chunks) > 1
    expected = {
        "results": {old_job.id},
        "datasets": {unpublished_old},
        "uploads": {abandoned_old},
        "files": old_chunks
        | {
            f"chunks/{abandoned_old_chunk[:2]}/{abandoned_old_chunk}",
            stray_key,
            "results/.interrupted.0000.tmp",
        },
    }
    before = _files(blobs)

    dry = _gc(server, "--dry-run")
    assert dry["dry_run"] is True
    assert _summary(dry) == expected
    assert dry["upload_receipts"] == 3
    assert _files(blobs) == before, "a dry run deleted files"

    done = _gc(server)
    assert _summary(done) == expected
    assert done["upload_receipts"] == 3
    assert done["freed_bytes"] == dry["freed_bytes"] > 0
    assert _files(blobs) == before - expected["files"] - {f"results/{old_job.id}"}

    # Everything referenced still works.
    assert session.get_computation_result(new_job, timeout=60) == f"s\n{expected_sum}\n".encode()
    with pytest.raises(RequestError) as refused:
        session.get_computation_result(old_job, timeout=60)
    assert refused.value.code == "result_expired"
    again = total.run_computation()
    assert session.get_computation_result(again, timeout=60) == f"s\n{expected_sum}\n".encode()
    assert {d["id"] for d in owner.get_available_datasets()} == {published, unpublished_new}
    assert session.verify_audit_log(dcr.id).events

    # The recent abandoned upload is still open: it takes its next chunk.
    more = os.urandom(1000)
    httpx.put(
        f"{server.url}/v1/uploads/{abandoned_new}/chunks/1",
        content=more,
        headers={
            "Authorization": f"Bearer {token}",
            "X-Content-SHA256": hashlib.sha256(more).hexdigest(),
        },
    ).raise_for_status()

    # A gc that stopped half-way left a published chunk moved aside: the next run puts it
    # back, and has nothing more to delete.
    kept = sorted(_chunks_of(db, published))[0]
    aside = blobs / kept
    aside.rename(aside.with_name(f".{aside.name}.gc"))
    assert _summary(_gc(server)) == {
        "results": set(),
        "datasets": set(),
        "uploads": set(),
        "files": set(),
    }
    assert (blobs / kept).is_file()
    assert not aside.with_name(f".{aside.name}.gc").exists()


def test_the_server_collects_garbage_on_its_own(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """``serve`` runs gc every SEALROOM_GC_INTERVAL_HOURS: with a retention of 0 days, a result
    expires by itself; the dataset the room uses stays, and the room runs again."""
    server = server_factory(
        tmp_path,
        SEALROOM_GC_INTERVAL_HOURS=str(1 / 3600),
        SEALROOM_RESULT_RETENTION_DAYS="0",
    )
    owner = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    b = AnalyticsDcrBuilder(client=owner).with_name("gc-timer").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="total", query="SELECT SUM(x) AS s FROM t"))
    b.add_participant(BANK, data_owner_of=["t"], analyst_of=["total"])
    dcr = owner.publish_analytics_dcr(b.build())
    table = dcr.get_node("t")
    assert isinstance(table, TableDataNode)
    table.upload_and_publish_dataset(io.BytesIO(b"1\n2\n3\n"), sr.Key(), "t.csv")
    total = dcr.get_node("total")
    assert isinstance(total, SqlComputationNode)
    session = owner.session()
    job = total.run_computation()

    deadline = time.monotonic() + 60
    while (outcome := _outcome(session, job)) == b"s\n6\n":
        assert time.monotonic() < deadline, "the server never collected the result"
        time.sleep(0.5)
    assert outcome == "result_expired"
    assert "garbage collection: 1 result(s) expired" in server.log_path.read_text()
    assert not (server.data_dir / "blobs" / "results" / job.id).exists()
    # The table the room reads was kept. (The new result may expire too before it is read:
    # the retention is 0.)
    assert _outcome(session, total.run_computation()) in (b"s\n6\n", "result_expired")


def _outcome(session: sr.Session, job: object) -> bytes | str:
    """The job's result, or the code of the error fetching it."""
    try:
        return session.get_computation_result(job, timeout=60)  # type: ignore[arg-type]
    except RequestError as exc:
        return exc.code
