"""The bank-and-insurer overlap at N rows per party: Sealroom end to end vs DuckDB alone.

Sealroom: a real ``sealroom serve`` process; both parties encrypt and upload their CSV through the
SDK at the same time, publish it (the core decrypts and validates it), then the analyst runs the
three overlap computations and fetches the results. Timed from the first byte encrypted to the
last result decrypted.

DuckDB alone: the same three queries on the same plaintext CSV files, loaded once into an
in-memory DuckDB (the fastest single-node engine doing the same work, with no encryption, no
validation, no isolation).

The last line printed is the ratio. Usage: ``python bench/overlap.py --rows 10000000``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import duckdb

import sealroom as sr
from sealroom.analytics import AnalyticsDcrBuilder, SqlComputationNode, TableDataNode
from sealroom.cli.crm_data import OVERLAP_QUERIES, build_overlap_room, generate_crm_csvs
from sealroom.server.accounts import issue_token
from sealroom.server.embedded import free_port, wait_until_healthy
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings

BANK, INSURER, ANALYST = "alice@bank.example", "bob@insurer.example", "carol@analytics.example"
COLUMNS = "{'email': 'VARCHAR', 'age': 'BIGINT', 'city': 'VARCHAR', 'product': 'VARCHAR'}"


def duckdb_alone(bank_csv: Path, insurer_csv: Path) -> tuple[float, list[list[tuple[object, ...]]]]:
    started = time.perf_counter()
    connection = duckdb.connect(":memory:")
    for table, path in (("bank_customers", bank_csv), ("insurer_customers", insurer_csv)):
        connection.execute(
            f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header=false, "
            f"columns={COLUMNS})"
        )
    results = [connection.sql(query).fetchall() for query in OVERLAP_QUERIES.values()]
    connection.close()
    return time.perf_counter() - started, results


def start_server(
    root: Path, emails: Sequence[str] = (BANK, INSURER, ANALYST)
) -> tuple[subprocess.Popen[bytes], str, dict[str, str]]:
    """``sealroom serve`` on a free port with its data under ``root``, and a token per e-mail
    (bench/tpch.py starts its server with this too)."""
    settings = Settings(data_dir=root / "data", sealing_key_file=root / "sealing.key")
    store = open_store(settings)
    tokens = {email: issue_token(store, email) for email in emails}
    store.engine.dispose()
    port = free_port()
    env = {**os.environ, "SEALROOM_SEALING_KEY_FILE": str(root / "sealing.key")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sealroom.cli",
            "serve",
            "--data-dir",
            str(root / "data"),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, is_alive=lambda: process.poll() is None, timeout=60)
    return process, url, tokens


def sealroom_end_to_end(
    url: str, tokens: dict[str, str], bank_csv: Path, insurer_csv: Path
) -> tuple[float, dict[str, float], list[str]]:
    clients = {e: sr.create_client(e, tokens[e], api_url=url) for e in (BANK, INSURER, ANALYST)}
    for client in clients.values():
        client.session()  # attestation is verified once per client, before timing
    definition = build_overlap_room(
        AnalyticsDcrBuilder(client=clients[BANK]),
        owner=BANK,
        bank=BANK,
        insurer=INSURER,
        analyst=ANALYST,
    )
    room_id = clients[BANK].publish_analytics_dcr(definition).id
    phases: dict[str, float] = {}
    errors: list[BaseException] = []

    started = time.perf_counter()

    def provision_and_publish(email: str, table: str, path: Path) -> None:
        try:
            node = clients[email].retrieve_analytics_dcr(room_id).get_node(table)
            assert isinstance(node, TableDataNode)
            key = sr.Key()
            t0 = time.perf_counter()
            with open(path, "rb") as handle:
                dataset_id = clients[email].upload_dataset(handle, key, path.name)
            t1 = time.perf_counter()
            node.publish_dataset(dataset_id, key)
            t2 = time.perf_counter()
            phases[f"{table}: encrypt+upload"] = t1 - t0
            phases[f"{table}: publish (decrypt+validate in the core)"] = t2 - t1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=provision_and_publish, args=(BANK, "bank_customers", bank_csv)),
        threading.Thread(
            target=provision_and_publish, args=(INSURER, "insurer_customers", insurer_csv)
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    provisioned = time.perf_counter()
    room = clients[ANALYST].retrieve_analytics_dcr(room_id)
    outputs = []
    for name in OVERLAP_QUERIES:
        node = room.get_node(name)
        assert isinstance(node, SqlComputationNode)
        outputs.append(node.run_computation_and_get_results_as_string(timeout=3600))
    finished = time.perf_counter()
    phases["3 overlap queries (run + fetch)"] = finished - provisioned
    return finished - started, phases, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers per party")
    args = parser.parse_args()
    warnings.simplefilter("ignore", sr.SimulatedAttestationWarning)

    with tempfile.TemporaryDirectory(prefix="sealroom-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        bank, insurer = generate_crm_csvs(args.rows)
        bank_csv, insurer_csv = root / "bank.csv", root / "insurer.csv"
        bank_csv.write_bytes(bank)
        insurer_csv.write_bytes(insurer)
        del bank, insurer
        size_mb = (bank_csv.stat().st_size + insurer_csv.stat().st_size) / 1e6
        print(
            f"generated 2 x {args.rows:,} rows ({size_mb:,.0f} MB of CSV) "
            f"in {time.perf_counter() - t0:.1f} s"
        )

        # DuckDB runs before and after Sealroom; the faster run counts (this VM is noisy and
        # first-touch memory is expensive, so the order of runs matters).
        first_seconds, duck_results = duckdb_alone(bank_csv, insurer_csv)
        print(f"duckdb alone (before): {first_seconds:.2f} s (overlap {duck_results[0][0][0]:,})")

        process, url, tokens = start_server(root)
        try:
            seconds, phases, outputs = sealroom_end_to_end(url, tokens, bank_csv, insurer_csv)
        finally:
            process.terminate()
            process.wait()
        second_seconds, _ = duckdb_alone(bank_csv, insurer_csv)
        print(f"duckdb alone (after): {second_seconds:.2f} s")
        duck_seconds = min(first_seconds, second_seconds)
        overlap = int(outputs[0].splitlines()[1])
        assert overlap == duck_results[0][0][0], "Sealroom and DuckDB disagree on the overlap"
        for phase, value in phases.items():
            print(f"  {phase}: {value:.2f} s")
        print(f"sealroom end to end: {seconds:.2f} s (overlap {overlap:,})")
        print(
            f"ratio sealroom / duckdb alone: {seconds / duck_seconds:.2f} "
            f"({seconds:.2f} s / {duck_seconds:.2f} s, {args.rows:,} rows per party)"
        )


if __name__ == "__main__":
    main()
