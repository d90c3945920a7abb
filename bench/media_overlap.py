"""Media overlap at scale: a base audience of N users and a seed of N/10, Sealroom vs DuckDB.

Sealroom: a real ``sealroom serve``. The publisher provisions a DataLab (identifiers only) and
then the media room's base audience from it; the advertiser uploads the seed audiences; the
advertiser runs ``overlap_statistics`` three times (the first reads the published tables into
the core's cache). DuckDB alone: the same overlap query (``layout.overlap_query``) on the same
plaintext CSVs loaded into an in-memory DuckDB, three times.

Printed: each phase, then two ratios measured side by side in this run — the overlap computation
(median of runs 2 and 3: run → verified result, vs DuckDB's query) and the advertiser's end to end
(seed upload + publication + first overlap, vs loading the seed CSV + the query).

Usage: ``python bench/media_overlap.py --users 10000000``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import duckdb

import sealroom as sr
from sealroom.data_lab import DataLabBuilder, IdentifiersConfig, IdType
from sealroom.media import CollaborationType, MediaDcr, Participant, Permission
from sealroom.media.layout import overlap_query

sys.path.insert(0, str(Path(__file__).parent))
from overlap import start_server  # bench/ is on sys.path when this runs as a script

PUBLISHER, ADVERTISER = "pia@news.example", "adam@shop.example"


def generate(root: Path, users: int) -> tuple[Path, Path]:
    """Base: ``u<i>,user<i>@mail.example``; seed: N/10 e-mails, half of them in the base, in
    four audience types."""
    base, seed = root / "base.csv", root / "seed.csv"
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT 'u' || i, 'user' || i || '@mail.example' FROM range({users}) t(i)) "
            f"TO '{base}' (HEADER false)"
        )
        con.execute(
            f"COPY (SELECT CASE WHEN i % 2 = 0 THEN 'user' || (i * 7 % {users}) "
            f"ELSE 'other' || i END || '@mail.example', 'type' || (i // 2 % 4) "
            f"FROM range({users // 10}) t(i)) TO '{seed}' (HEADER false)"
        )
    return base, seed


def duckdb_alone(query: str, base: Path, seed: Path) -> tuple[float, list[float]]:
    con = duckdb.connect(":memory:")
    started = time.perf_counter()
    con.execute(
        f"CREATE TABLE matching AS SELECT * FROM read_csv('{base}', header=false, "
        "columns={'userId': 'VARCHAR', 'email': 'VARCHAR'})"
    )
    base_loaded = time.perf_counter()
    con.execute(
        f"CREATE TABLE audiences AS SELECT * FROM read_csv('{seed}', header=false, "
        "columns={'matching_id': 'VARCHAR', 'audience_type': 'VARCHAR'})"
    )
    seed_load = time.perf_counter() - base_loaded
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        con.sql(query).fetchall()
        runs.append(time.perf_counter() - t0)
    con.close()
    print(f"duckdb: load base {base_loaded - started:.2f} s, load seed {seed_load:.2f} s")
    return seed_load, runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        base, seed = generate(root, args.users)
        print(
            f"generated {args.users:,} base users, {args.users // 10:,} seed rows "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        process, url, tokens = start_server(root, (PUBLISHER, ADVERTISER))
        try:
            publisher = sr.create_client(PUBLISHER, tokens[PUBLISHER], api_url=url)
            advertiser = sr.create_client(ADVERTISER, tokens[ADVERTISER], api_url=url)
            publisher.session()
            advertiser.session()
            lab = (
                DataLabBuilder(publisher)
                .with_name("bench base")
                .with_identifiers_config(
                    [
                        IdentifiersConfig("userId", IdType.STRING, False, True),
                        IdentifiersConfig("email", IdType.EMAIL, True, False),
                    ]
                )
                .with_collaboration_types([])
                .build()
            )
            key = sr.Key()
            t0 = time.perf_counter()
            lab.provision_local_datasets(key, base)
            print(
                f"sealroom: DataLab provisioned (encrypt, upload, validate) "
                f"{time.perf_counter() - t0:.2f} s"
            )
            groups = [
                Participant([PUBLISHER], [Permission.PROVIDE_BASE_AUDIENCE], "Publisher"),
                Participant(
                    [ADVERTISER],
                    [Permission.PROVIDE_SEED_AUDIENCE, Permission.VIEW_OVERLAP],
                    "Advertiser",
                ),
            ]
            room = MediaDcr(
                publisher,
                name="bench media",
                participants=groups,
                collaboration_types=[CollaborationType.OVERLAP],
                matching_ids=[IdType.EMAIL],
                base_audience=lab,
            )
            t0 = time.perf_counter()
            lab.get_validation_status()
            status = time.perf_counter() - t0
            t0 = time.perf_counter()
            room.provision_base_audience(lab.id, key)
            total = time.perf_counter() - t0
            # The core reuses its validation of the DataLab's dataset: what is left is the
            # DataLab's validation status (a job of its own) and the publication.
            print(
                f"sealroom: base audience provisioned (validation status + publication) "
                f"{total:.2f} s, of which the DataLab's validation status alone {status:.2f} s"
            )
            mine = MediaDcr.from_existing(room.id, advertiser)
            t0 = time.perf_counter()
            mine.upload_seed_audiences(seed, sr.Key())
            seed_time = time.perf_counter() - t0
            print(f"sealroom: seed audiences uploaded and published {seed_time:.2f} s")
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                result = mine.get_overlap_statistics().wait_for_completion(3600).result()
                runs.append(time.perf_counter() - t0)
            print("sealroom: overlap runs " + ", ".join(f"{r:.2f} s" for r in runs))
            print(f"  {result['overlap_statistics'][0]}")
        finally:
            process.terminate()
            process.wait()
        query = overlap_query(room.config)
        seed_load, duck_runs = duckdb_alone(query, base, seed)
        print("duckdb: overlap runs " + ", ".join(f"{r:.2f} s" for r in duck_runs))
        warm = statistics.median(runs[1:])
        duck = statistics.median(duck_runs[1:])
        print(
            f"end to end (seed upload + first overlap): sealroom {seed_time + runs[0]:.2f} s, "
            f"duckdb (load seed + query) {seed_load + duck_runs[0]:.2f} s, "
            f"ratio {(seed_time + runs[0]) / (seed_load + duck_runs[0]):.2f}"
        )
        print(
            f"overlap computation: sealroom {warm:.2f} s, duckdb {duck:.2f} s, "
            f"ratio {warm / duck:.2f}"
        )


if __name__ == "__main__":
    main()
