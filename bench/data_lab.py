"""DataLab validation + statistics at N users: Sealroom end to end vs DuckDB on the plaintext.

Data: N users, each with one e-mail (identifiers), 3 segments of 20, and an age and gender.
Sealroom: a real ``sealroom serve``; the publisher builds the DataLab, provisions the three files
(checked locally, encrypted, uploaded, validated by the core), runs the statistics computation and
reads the report. DuckDB alone: the same statistics query on the same CSVs loaded in memory (no
encryption, no validation). The last line printed is the ratio.

Usage: ``python bench/data_lab.py --users 1000000``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

import duckdb

import sealroom as sr
from sealroom.data_lab import DataLabBuilder, IdentifiersConfig, IdType
from sealroom.data_lab.layout import statistics_query

sys.path.insert(0, str(Path(__file__).parent))
from overlap import BANK, start_server  # bench/ is on sys.path when this runs as a script


def generate(root: Path, users: int) -> dict[str, Path]:
    rng = random.Random(3)
    paths = {name: root / f"{name}.csv" for name in ("ids", "segments", "demographics")}
    segments = [f"s{i}" for i in range(20)]
    with (
        paths["ids"].open("w") as ids,
        paths["segments"].open("w") as segs,
        paths["demographics"].open("w") as demo,
    ):
        for u in range(users):
            ids.write(f"u{u},user{u}@mail.example\n")
            for s in rng.sample(segments, 3):
                segs.write(f"u{u},{s}\n")
            demo.write(f"u{u},{rng.choice(('18-24', '25-34', '35-44'))},{rng.choice('fm')}\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000_000)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = generate(root, args.users)
        process, url, tokens = start_server(root, (BANK,))
        try:
            client = sr.create_client(BANK, tokens[BANK], api_url=url)
            client.session()
            lab = (
                DataLabBuilder(client)
                .with_name("bench")
                .with_identifiers_config(
                    [
                        IdentifiersConfig("userId", IdType.STRING, False, True),
                        IdentifiersConfig("email", IdType.EMAIL, True, False),
                    ]
                )
                .with_segments()
                .with_demographics()
                .build()
            )
            started = time.perf_counter()
            lab.provision_local_datasets(
                sr.Key(),
                paths["ids"],
                segments_data_path=paths["segments"],
                demographics_data_path=paths["demographics"],
            )
            provisioned = time.perf_counter()
            lab.run()
            assert lab.is_validation_passed(lab.get_validation_report())
            report = lab.get_statistics_report(timeout=3600)
            sealroom_s = time.perf_counter() - started
            assert report["basic_statistics"]["identifiers"]["distinct_user_ids"] == args.users
            print(
                f"sealroom: {sealroom_s:.2f} s (provision+validate {provisioned - started:.2f} s,"
                f" statistics {time.perf_counter() - provisioned:.2f} s)"
            )
            query = statistics_query(lab.config)
        finally:
            process.terminate()
            process.wait()
        started = time.perf_counter()
        connection = duckdb.connect(":memory:")
        layouts = {
            "matching": (paths["ids"], "{'userId': 'VARCHAR', 'email': 'VARCHAR'}"),
            "segments": (paths["segments"], "{'user_id': 'VARCHAR', 'segment': 'VARCHAR'}"),
            "demographics": (
                paths["demographics"],
                "{'user_id': 'VARCHAR', 'age': 'VARCHAR', 'gender': 'VARCHAR'}",
            ),
        }
        for table, (path, columns) in layouts.items():
            connection.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header=false, "
                f"columns={columns})"
            )
        connection.sql(query).fetchall()
        duckdb_s = time.perf_counter() - started
        print(f"duckdb alone: {duckdb_s:.2f} s")
        print(f"ratio: {sealroom_s / duckdb_s:.2f}")


if __name__ == "__main__":
    main()
