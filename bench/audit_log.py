"""Audit log speed: appends per second, and inclusion-proof verification in a big log.

Run: ``PYTHONPATH=src .venv/bin/python bench/audit_log.py [ENTRIES]``. Measures, in one run:

* appends/s of ``AuditLogKeeper.append`` as the core does it (event, Merkle leaf, row in the
  real SQLite store), and of ``AuditLog.append`` alone (goal: >= 5,000 entries/s);
* the time to sign a checkpoint;
* the median time to verify one inclusion proof in a log of ENTRIES leaves (default 1,000,000;
  goal: < 1 ms), and to generate it.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from sealroom.audit import AuditAction, AuditLog, MerkleTree, kinds, leaf_hash, verify_inclusion
from sealroom.crypto import SigningKey
from sealroom.enclave.audit_log import AuditLogKeeper
from sealroom.model.records import RoomRecord
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings

ROOM = "ab" * 32
APPENDS = 5_000


def _details(i: int) -> dict[str, str | int | bool | None]:
    return {"job_id": f"{i:032x}", "node": "overlap", "dataset_id": "cd" * 32}


def appends_per_second_in_the_core() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Settings(data_dir=Path(tmp) / "data"))
        store.insert_room(
            RoomRecord(
                id=ROOM, name="bench", owner_email="a@b.example", definition=b"{}",
                signature=b"", created_at_ms=0, stopped_at_ms=None, state_signature=None,
            ),
            ["a@b.example"],
        )  # fmt: skip
        keeper = AuditLogKeeper(store, SigningKey.generate())
        started = time.perf_counter()
        for i in range(APPENDS):
            keeper.append(
                ROOM, user="a@b.example", notes=f"retrieved the result of job {i:032x}",
                event=kinds.ResultRetrieved("overlap", f"{i:032x}", "csv", "cd" * 32),
            )  # fmt: skip
        elapsed = time.perf_counter() - started
        store.engine.dispose()
    return APPENDS / elapsed


def appends_per_second_in_memory() -> float:
    log = AuditLog(ROOM)
    started = time.perf_counter()
    for i in range(APPENDS * 4):
        log.append(
            timestamp_ms=i, user="a@b.example", action=AuditAction.RESULT_RETRIEVED,
            notes=f"retrieved the result of job {i:032x}", details=_details(i),
        )  # fmt: skip
    return APPENDS * 4 / (time.perf_counter() - started)


def main() -> None:
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(f"appends/s, core (event + leaf + SQLite row): {appends_per_second_in_the_core():,.0f}")
    print(f"appends/s, AuditLog alone: {appends_per_second_in_memory():,.0f}")

    log = AuditLog(ROOM)
    for i in range(10):
        log.append(timestamp_ms=i, user="u", action=AuditAction.JOB_SUBMITTED, notes="n",
                   details={})  # fmt: skip
    key = SigningKey.generate()
    started = time.perf_counter()
    for _ in range(200):
        log._checkpoint = None  # force a new signature each time
        log.checkpoint(key)
    print(f"sign a checkpoint: {(time.perf_counter() - started) / 200 * 1e6:.0f} us")

    started = time.perf_counter()
    tree = MerkleTree()
    for i in range(entries):
        tree.append(leaf_hash(i.to_bytes(8, "big")))
    root = tree.root()
    print(f"built a {entries:,}-leaf tree in {time.perf_counter() - started:.1f} s")
    verify_times, proof_times = [], []
    for index in range(0, entries, max(1, entries // 1000)):
        started = time.perf_counter()
        proof = tree.inclusion_proof(index, entries)
        proof_times.append(time.perf_counter() - started)
        leaf = tree.leaf(index)
        started = time.perf_counter()
        verify_inclusion(index, entries, leaf, proof, root)
        verify_times.append(time.perf_counter() - started)
    print(f"inclusion proof in {entries:,} entries: generate median "
          f"{statistics.median(proof_times) * 1e6:.0f} us, verify median "
          f"{statistics.median(verify_times) * 1e6:.1f} us (max {max(verify_times) * 1e6:.1f} us,"
          f" {len(verify_times)} proofs of {len(proof)} hashes)")  # fmt: skip


if __name__ == "__main__":
    main()
