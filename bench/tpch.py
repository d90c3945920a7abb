"""TPC-H at scale factor SF: Sealroom end to end vs DuckDB alone, per query, in one run.

Data: ``tpchgen-cli`` writes the 8 tables (:mod:`tests.tpch`); both sides read the same CSV files
into tables of the same types (BIGINT, DECIMAL(15, 2), DATE, VARCHAR).

Provisioning. Sealroom: a real ``sealroom serve`` process; the retailer and the supplier each
encrypt, upload and publish their tables through the SDK at the same time, and the core decrypts
and validates each (formats, types, nullability). DuckDB alone: the same CSV files loaded into
typed in-memory tables (``NOT NULL`` like the room's columns), no encryption, no isolation.

Queries. With the data in place, each of the 22 queries runs once to warm up (and that result is
compared with DuckDB's: names, Arrow types and values), then 3 times; the median counts. For
Sealroom a run is submit → result decrypted in the analyst's hands (as Arrow); for DuckDB it is
the query on the in-memory tables → an Arrow table. Both use the machine's cores (the server's
SQL uses ``SEALROOM_SQL_THREADS``, 2 by default; DuckDB alone uses every core).

Usage: ``python bench/tpch.py --sf 1`` (``--queries q01,q06`` for a subset).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

import sealroom as sr
from sealroom.analytics import AnalyticsDcr, AnalyticsDcrBuilder, SqlComputationNode

try:
    from tests import tpch
except ModuleNotFoundError:  # run as a script: bench/ is on sys.path, the repository is not
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests import tpch
from overlap import start_server  # bench/ is on sys.path when this runs as a script


@dataclass
class Timing:
    query: str
    duckdb_seconds: float
    sealroom_seconds: float | None  # None: the query failed in Sealroom
    result: str  # how Sealroom's result compares with DuckDB's, or why it failed

    @property
    def ratio(self) -> float | None:
        if self.sealroom_seconds is None:
            return None
        return self.sealroom_seconds / self.duckdb_seconds


def median_of_runs(run: Callable[[], object], runs: int) -> float:
    """Run once to warm up, then ``runs`` times; the median wall-clock seconds."""
    run()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def compare(actual: pa.Table, expected: pa.Table, ordered: bool) -> str:
    """How Sealroom's result compares with DuckDB's: equal, or what differs (names, Arrow types,
    row counts, or which columns' values, with the largest relative error of floating ones)."""

    def rows(table: pa.Table) -> list[tuple[object, ...]]:
        values = list(zip(*(column.to_pylist() for column in table.columns), strict=True))
        return values if ordered else sorted(values, key=repr)

    differences = [
        f"{a.name} {a.type} vs {e.type}"
        for a, e in zip(actual.schema, expected.schema, strict=False)
        if (a.name, a.type) != (e.name, e.type)
    ]
    if actual.num_columns != expected.num_columns:
        return f"DIFFERENT: {actual.num_columns} columns vs {expected.num_columns}"
    ours, theirs = rows(actual), rows(expected)
    if len(ours) != len(theirs):
        return f"DIFFERENT: {len(ours)} rows vs {len(theirs)}"
    wrong = []
    for index, field in enumerate(expected.schema):
        pairs = [(a[index], e[index]) for a, e in zip(ours, theirs, strict=True)]
        if all(a == e for a, e in pairs):
            continue
        floats = [(a, e) for a, e in pairs if isinstance(a, float) and isinstance(e, float)]
        if pa.types.is_floating(field.type) and len(floats) == len(pairs):
            error = max(abs(a - e) / max(abs(e), 1e-300) for a, e in floats)
            wrong.append(f"{field.name} (relative error up to {error:.1e})")
        else:
            wrong.append(field.name)
    if not wrong:
        return (
            "equal" if not differences else "values equal; types differ: " + ", ".join(differences)
        )
    return "DIFFERENT values: " + ", ".join(wrong + differences)


def as_sealroom_types(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """DuckDB's result with its 128-bit integer sums as int64, as Sealroom returns them (the one
    documented type difference, docs/sql.md); values that do not fit would fail the cast."""
    table = relation.to_arrow_table()
    for index, kind in enumerate(relation.types):
        if str(kind) in ("HUGEINT", "UHUGEINT"):
            field = table.schema.field(index)
            table = table.set_column(index, field.name, table.column(index).cast(pa.int64()))
    return table


def duckdb_arrow(baseline: duckdb.DuckDBPyConnection, text: str) -> pa.Table:
    return baseline.sql(text).to_arrow_table()


def sealroom_arrow(node: SqlComputationNode) -> pa.Table:
    """Submit the job, wait for it, fetch the sealed result, verify and open it."""
    return node.run_computation_and_get_results_as_arrow(timeout=3600)


def run_queries(
    room: AnalyticsDcr, baseline: duckdb.DuckDBPyConnection, names: Sequence[str], runs: int
) -> list[Timing]:
    timings = []
    for name in names:
        text = tpch.query(name)
        node = room.get_node(name)
        assert isinstance(node, SqlComputationNode)
        expected = as_sealroom_types(baseline.sql(text))
        duck = median_of_runs(functools.partial(duckdb_arrow, baseline, text), runs)
        try:
            actual = sealroom_arrow(node)
            result = compare(actual, expected, tpch.has_order_by(text))
            seal: float | None = median_of_runs(functools.partial(sealroom_arrow, node), runs)
        except sr.SealroomError as error:
            seal, result = None, f"failed: {error.code}: {str(error)[:120]}"
        timings.append(Timing(name, duck, seal, result))
        shown = "-" if seal is None else f"{seal:.3f} s"
        print(f"  {name}: duckdb {duck:.3f} s, sealroom {shown} ({result})", flush=True)
    return timings


def print_table(
    timings: Sequence[Timing],
    duck_provisioning: float,
    seal_provisioning: float,
    per_table: dict[str, float],
    scale_factor: float,
    runs: int,
) -> None:
    print()
    print(f"TPC-H SF {scale_factor:g}: median of {runs} runs after a warm-up, seconds")
    print(f"{'query':<6} {'duckdb':>9} {'sealroom':>9} {'ratio':>7}  result")
    for t in timings:
        seal = "-" if t.sealroom_seconds is None else f"{t.sealroom_seconds:9.3f}"
        ratio = "-" if t.ratio is None else f"{t.ratio:7.1f}"
        print(f"{t.query:<6} {t.duckdb_seconds:9.3f} {seal:>9} {ratio:>7}  {t.result}")
    ratios = [t.ratio for t in timings if t.ratio is not None]
    failed = [t.query for t in timings if t.ratio is None]
    if ratios:
        worst = max(timings, key=lambda t: t.ratio or 0.0)
        print(f"median ratio: {statistics.median(ratios):.1f}")
        print(f"max ratio: {max(ratios):.1f} ({worst.query})")
    print(f"queries that failed in Sealroom: {', '.join(failed) if failed else 'none'}")
    print(
        "sealroom per table (encrypt+upload+publish): "
        + ", ".join(f"{table} {seconds:.1f} s" for table, seconds in per_table.items())
    )
    print(
        f"provisioning (8 tables): duckdb {duck_provisioning:.1f} s, "
        f"sealroom {seal_provisioning:.1f} s, ratio {seal_provisioning / duck_provisioning:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query (median)")
    parser.add_argument("--queries", default=",".join(tpch.QUERY_NAMES), help="e.g. q01,q06")
    args = parser.parse_args()
    names = [name.strip() for name in args.queries.split(",") if name.strip()]
    warnings.simplefilter("ignore", sr.SimulatedAttestationWarning)

    with tempfile.TemporaryDirectory(prefix="sealroom-tpch-") as tmp:
        root = Path(tmp)
        # A fresh SDK state (saved audit checkpoints): the room has the same id in every run,
        # but each run's server has another key.
        os.environ["SEALROOM_STATE_DIR"] = str(root / "sdk-state")
        started = time.perf_counter()
        csvs = tpch.generate(args.sf, root / "csv")
        size_mb = sum(path.stat().st_size for path in csvs.values()) / 1e6
        print(
            f"generated TPC-H SF {args.sf:g} ({size_mb:,.0f} MB of CSV) "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )

        started = time.perf_counter()
        baseline = tpch.duckdb_baseline(csvs)
        duck_provisioning = time.perf_counter() - started
        print(f"duckdb alone: loaded the 8 tables in {duck_provisioning:.1f} s", flush=True)

        parties = tpch.Parties()
        emails = (parties.retailer, parties.supplier, parties.analyst)
        process, url, tokens = start_server(root, emails)
        try:
            clients = {
                email: sr.create_client(email, tokens[email], api_url=url) for email in emails
            }
            for client in clients.values():
                client.session()  # attestation is verified once per client, before timing
            retailer = clients[parties.retailer]
            definition = tpch.room_definition(
                AnalyticsDcrBuilder(client=retailer), parties, names=names
            )
            room_id = retailer.publish_analytics_dcr(definition).id

            started = time.perf_counter()
            per_table = tpch.provision(clients, room_id, csvs, parties)
            seal_provisioning = time.perf_counter() - started
            print(f"sealroom: provisioned the 8 tables in {seal_provisioning:.1f} s", flush=True)

            room = clients[parties.analyst].retrieve_analytics_dcr(room_id)
            timings = run_queries(room, baseline, names, args.runs)
        finally:
            process.terminate()
            process.wait()
            baseline.close()
        print_table(timings, duck_provisioning, seal_provisioning, per_table, args.sf, args.runs)


if __name__ == "__main__":
    main()
