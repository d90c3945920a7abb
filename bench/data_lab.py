"""DataLab validation + statistics at N users: Sealroom end to end vs DuckDB alone on the plaintext.

Data: N users, each with one e-mail (identifiers), 3 segments of 20, an age and a gender; written
as CSV (no header) by DuckDB, deterministically (hashes of the user number, no RNG).

Sealroom: a real ``sealroom serve``; the publisher builds the DataLab and provisions the three
files (each checked locally, encrypted, uploaded, then decrypted and validated by the core; the
SDK checks and uploads the next file while the core validates the previous one), runs the
statistics computation and reads the report. Timed from the first file read to the report
decrypted; printed per stage.

DuckDB alone, on the same files, in one process, doing the same work as well as we can write it:

* load: ``read_csv`` of each file into a table, every column VARCHAR (the parser refuses a
  malformed record or invalid UTF-8, as validation does);
* checks: the core's checks of each table, in one pass per table: user ids present, e-mails
  matching the core's own pattern (:data:`sealroom.validation.rules.FORMAT_PATTERNS`) and
  length limit, and the uniqueness of each table's key combination, by the core's own method
  (DuckDB's 64-bit hash of the key, sorted in numpy; an exact ``GROUP BY`` of the keys only if
  a hash repeats). Invalid or duplicate rows would be dropped (keeping a key's first row) before
  the statistics; the bench's data has none;
* statistics: the DataLab's own statistics query (:func:`sealroom.data_lab.layout.
  statistics_query`), which is the fastest we know how to write.

DuckDB runs before and after each Sealroom run (``--repeat`` Sealroom runs, each a new DataLab on
the same server). Both sides must give the same report: the DuckDB rows are assembled into a
report with the core's validation totals and compared with Sealroom's, every run. The machine is
shared and noisy: the median ratio is printed, the ratio of CPU seconds (the SDK's process and the
server's against DuckDB's process), and last the ratio of the best runs.

Usage: ``python bench/data_lab.py --users 10000000 [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

import sealroom as sr
from sealroom.data_lab import DataLab, DataLabBuilder, IdentifiersConfig, IdType
from sealroom.data_lab.layout import DataLabConfig, statistics_query
from sealroom.data_lab.statistics import assemble
from sealroom.model.columns import FormatType
from sealroom.validation.rules import FORMAT_PATTERNS, MAX_EMAIL_BYTES

sys.path.insert(0, str(Path(__file__).parent))
from overlap import BANK, start_server  # bench/ is on sys.path when this runs as a script

SEGMENTS = 20
AGES = ("18-24", "25-34", "35-44")

# name -> (file, columns, key columns, check that a row's cells are valid)
TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "matching": (
        "ids.csv",
        ("userId", "email"),
        ("userId", "email"),
        '"userId" IS NOT NULL AND (email IS NULL OR (regexp_full_match(email, $email) '
        f"AND strlen(email) <= {MAX_EMAIL_BYTES}))",
    ),
    "segments": (
        "segments.csv",
        ("user_id", "segment"),
        ("user_id", "segment"),
        "user_id IS NOT NULL AND segment IS NOT NULL",
    ),
    "demographics": (
        "demographics.csv",
        ("user_id", "age", "gender"),
        ("user_id",),
        "user_id IS NOT NULL",
    ),
}


def generate(root: Path, users: int) -> dict[str, Path]:
    """The three CSV files; user u has segments a, a+d, a+2d (mod 20) for hashed a and d."""
    paths = {name: root / file for name, (file, *_) in TABLES.items()}
    connection = duckdb.connect(":memory:")
    ages = "[" + ", ".join(f"'{age}'" for age in AGES) + "]"
    for name, sql in (
        ("matching", f"SELECT 'u' || i, 'user' || i || '@mail.example' FROM range({users}) t(i)"),
        (
            "segments",
            f"SELECT 'u' || i, 's' || ((hash(i) % {SEGMENTS} + k * (1 + hash(i, 1) % 9)) "
            f"% {SEGMENTS}) FROM range({users}) t(i), range(3) r(k) ORDER BY i, k",
        ),
        (
            "demographics",
            f"SELECT 'u' || i, {ages}[CAST(1 + hash(i, 2) % 3 AS BIGINT)], "
            f"['f', 'm'][CAST(1 + hash(i, 3) % 2 AS BIGINT)] FROM range({users}) t(i)",
        ),
    ):
        connection.execute(f"COPY ({sql}) TO '{paths[name]}' (HEADER false)")
    connection.close()
    return paths


def duckdb_alone(
    paths: dict[str, Path], config: DataLabConfig
) -> tuple[dict[str, float], float, list[tuple[str, str, str, float]]]:
    """Stage times, CPU seconds and the statistics rows of DuckDB doing the DataLab's work
    (module docstring)."""
    times: dict[str, float] = {}
    cpu = time.process_time()
    connection = duckdb.connect(":memory:")
    started = time.perf_counter()
    for table, (_, columns, _, _) in TABLES.items():
        types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in columns) + "}"
        connection.execute(
            f"CREATE TABLE raw_{table} AS SELECT * FROM read_csv('{paths[table]}', "
            f"header=false, auto_detect=false, delim=',', quote='\"', escape='\"', "
            f"columns={types})"
        )
    times["load"] = time.perf_counter() - started
    started = time.perf_counter()
    email = {"email": FORMAT_PATTERNS[FormatType.EMAIL]}
    for table, (_, _, keys, valid) in TABLES.items():
        key = ", ".join(f'"{k}"' for k in keys)
        complete = " AND ".join(f'"{k}" IS NOT NULL' for k in keys)
        params = email if "$email" in valid else None
        # One pass: the hash of every valid row's key; the rows left out are the invalid ones.
        hashes = np.asarray(
            connection.execute(
                f"SELECT hash({key}) AS h FROM raw_{table} WHERE {valid}", params
            ).fetchnumpy()["h"]
        )
        (rows,) = connection.execute(f"SELECT count(*) FROM raw_{table}").fetchone() or (0,)
        invalid = rows - len(hashes)
        hashes.sort()
        repeated = bool((hashes[1:] == hashes[:-1]).any())
        if repeated:
            # Exact, only when a hash repeats (never in this data). A key with a NULL is never
            # a duplicate (SQL UNIQUE semantics, as the core's).
            (repeats,) = connection.execute(
                f"SELECT count(*) FROM (SELECT {key} FROM raw_{table} WHERE {valid} AND "
                f"{complete} GROUP BY ALL HAVING count(*) > 1)",
                params,
            ).fetchone() or (0,)
            repeated = repeats > 0
        if invalid or repeated:
            # Drop the invalid rows and every later occurrence of a key.
            connection.execute(
                f"CREATE TABLE {table} AS SELECT * EXCLUDE (rid) FROM (SELECT *, row_number() "
                f"OVER () AS rid FROM raw_{table} WHERE {valid}) QUALIFY NOT ({complete}) OR "
                f"rid = min(rid) OVER (PARTITION BY {key}) ORDER BY rid",
                params,
            )
        else:
            connection.execute(f"ALTER TABLE raw_{table} RENAME TO {table}")
    times["checks"] = time.perf_counter() - started
    started = time.perf_counter()
    rows = [
        (str(m), str(i), str(k), float(v))
        for m, i, k, v in connection.sql(statistics_query(config)).fetchall()
    ]
    times["statistics"] = time.perf_counter() - started
    connection.close()
    return times, time.process_time() - cpu, rows


def build_lab(client: sr.Client) -> DataLab:
    return (
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


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the server process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sealroom_end_to_end(
    lab: DataLab, paths: dict[str, Path], pid: int
) -> tuple[dict[str, float], tuple[float, float], Any]:
    """Stage times, CPU seconds (this process, the server's) and the report."""
    cpu = (time.process_time(), server_cpu(pid))
    started = time.perf_counter()
    lab.provision_local_datasets(
        sr.Key(),
        paths["matching"],
        segments_data_path=paths["segments"],
        demographics_data_path=paths["demographics"],
    )
    provisioned = time.perf_counter()
    lab.run()
    if not lab.is_validation_passed(lab.get_validation_report()):
        raise AssertionError("the core's validation failed")
    report = lab.get_statistics_report(timeout=3600)
    finished = time.perf_counter()
    times = {
        "provision (local check, encrypt, upload, core validation)": provisioned - started,
        "statistics (run, wait, fetch, decrypt)": finished - provisioned,
    }
    cpu = (time.process_time() - cpu[0], server_cpu(pid) - cpu[1])
    return times, cpu, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="Sealroom runs (each a new DataLab), DuckDB between"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore", sr.SimulatedAttestationWarning)
    with tempfile.TemporaryDirectory(prefix="sealroom-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        paths = generate(root, args.users)
        size = sum(path.stat().st_size for path in paths.values()) / 1e6
        print(
            f"generated {args.users:,} users ({size:,.0f} MB of CSV) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        duck_runs: list[float] = []
        duck_cpu: list[float] = []
        sealroom_runs: list[float] = []
        sealroom_cpu: list[float] = []

        def run_duckdb(config: DataLabConfig) -> list[tuple[str, str, str, float]]:
            times, cpu, rows = duckdb_alone(paths, config)
            duck_runs.append(sum(times.values()))
            duck_cpu.append(cpu)
            print(_line("duckdb alone", times) + f", CPU {cpu:.1f} s")
            return rows

        process, url, tokens = start_server(root, (BANK,))
        try:
            client = sr.create_client(BANK, tokens[BANK], api_url=url)
            client.session()  # attestation is verified once per client, before timing
            for _ in range(args.repeat):
                lab = build_lab(client)  # publishing the empty room is not timed
                duck_rows = run_duckdb(lab.config)
                sealroom_times, (client_cpu, core_cpu), report = sealroom_end_to_end(
                    lab, paths, process.pid
                )
                sealroom_runs.append(sum(sealroom_times.values()))
                sealroom_cpu.append(client_cpu + core_cpu)
                print(
                    _line("sealroom", sealroom_times)
                    + f", CPU {client_cpu:.1f} s (SDK) + {core_cpu:.1f} s (server)"
                )
                reports = {
                    d.node: lab.dcr.session.get_validation_report(lab.id, d.node)
                    for d in lab.config.datasets
                }
                if assemble(lab.config, duck_rows, reports) != report:
                    raise AssertionError("Sealroom and DuckDB alone disagree on the statistics")
        finally:
            process.terminate()
            process.wait()
        run_duckdb(lab.config)
        users = report["basic_statistics"]["identifiers"]["distinct_user_ids"]
        print(f"same report from both, every run ({users:,} users)")
        # The machine is shared and noisy: the best run of each side, and the medians.
        best = min(sealroom_runs) / min(duck_runs)
        typical = statistics.median(sealroom_runs) / statistics.median(duck_runs)
        print(f"median ratio: {typical:.2f}")
        # CPU seconds are less sensitive to other loads than wall time (not immune to them).
        print(f"CPU ratio (best runs): {min(sealroom_cpu) / min(duck_cpu):.2f}")
        print(
            f"ratio: {best:.2f} (best runs: {min(sealroom_runs):.2f} s / {min(duck_runs):.2f} s, "
            f"{args.users:,} users)"
        )


def _line(label: str, times: dict[str, float]) -> str:
    stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in times.items())
    return f"{label}: {sum(times.values()):.2f} s ({stages})"


if __name__ == "__main__":
    main()
