"""TPC-H on the two SQL engines of the core: DuckDB (in process) vs Spark (Spark Connect, local).

Data: ``tpchgen-cli`` writes the 8 tables at scale factor SF (:mod:`tests.tpch`); they are
validated as the core validates a published dataset (:func:`sealroom.validation.validate_table`),
so both engines read the very same Arrow tables the core would hold.

Engines: :func:`sealroom.compute.sql.run_sql` (the hardened DuckDB, ``--threads`` threads) and
:func:`sealroom.compute.sql.spark.run_sql_on_spark` against a Spark Connect server — by default
one this script starts with ``--master local[2]`` and a ``--driver-memory`` heap (default 6g) on
this machine (:mod:`tests.spark`, from the ``.spark/`` directory ``./dev test`` installs), or
``--spark-url sc://…`` for a real cluster. ``local[2]`` runs every task inside the driver JVM,
which also holds each uploaded input as rows: with the tests' 2 GB heap, SF 0.1 inputs of
lineitem's size fail intermittently (java.lang.OutOfMemoryError in the server, seen by the client
as a bare ``SparkConnectGrpcException``).
A Spark run is everything the core does for a node: a new session, the inputs uploaded as Arrow
(plaintext leaves the core here), the query, the result fetched and cast to DuckDB's types.
Upload is timed separately (``upload``): the same run (session, upload of the same inputs) with
``SELECT 1 FROM <each input> LIMIT 1`` as its query, so ``spark - upload`` is about the query.

Each query runs once to warm up (results compared: same rows within the tolerance of
``tests/integration/test_tpch_spark.py``), then ``--repeat`` times; the median counts. Printed:
per query the two medians, the upload's, which engine wins and by how much (the ratio); then
totals. A query that fails on either engine is reported as such, and the run goes on.

Expect Spark to lose on one machine: it pays a session, an upload of every input, JVM query
planning and a shuffle between local tasks per query, where DuckDB reads Arrow in place. Where
Spark can win is data that does not fit one machine's memory, on a cluster — not measurable here.

Usage: ``python bench/tpch_spark.py --sf 0.1`` (``--queries q01,q06``; ``--repeat``;
``--driver-memory 6g``; ``--spark-url``).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import spark as local_spark
from tests import tpch

from sealroom.compute.sql import SqlLimits, referenced_tables, run_sql
from sealroom.compute.sql.spark import SparkConnect, run_sql_on_spark
from sealroom.errors import JobFailedError
from sealroom.model.columns import TableSchema
from sealroom.validation import validate_table


def timed(action: Callable[[], pa.Table]) -> tuple[float, pa.Table]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def same(left: pa.Table, right: pa.Table) -> bool:
    if left.schema != right.schema or left.num_rows != right.num_rows:
        return False
    for a, b in zip(left.to_pylist(), right.to_pylist(), strict=True):
        for x, y in zip(a.values(), b.values(), strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
                    return False
            elif x != y:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=0.1)
    parser.add_argument("--queries", default=",".join(tpch.QUERY_NAMES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--spark-url", default="")
    parser.add_argument("--driver-memory", default="6g", help="heap of the local server's JVM")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        started = time.perf_counter()
        csvs = tpch.generate(args.sf, root / "csv")
        tables = {}
        for name, columns in tpch.TABLES.items():
            result = validate_table(csvs[name].read_bytes(), TableSchema(columns=columns))
            assert result.table is not None
            tables[name] = result.table
        rows = sum(table.num_rows for table in tables.values())
        size = sum(table.nbytes for table in tables.values()) / 2**20
        print(
            f"SF {args.sf}: {rows:,} rows, {size:,.0f} MiB of Arrow, "
            f"generated and validated in {time.perf_counter() - started:.1f} s"
        )

        server = None
        if args.spark_url:
            spark = SparkConnect(args.spark_url)
        else:
            started = time.perf_counter()
            server = local_spark.start(driver_memory=args.driver_memory)
            spark = SparkConnect(server.url)
            print(
                f"local Spark Connect server (local[2], driver memory {args.driver_memory}) "
                f"up in {time.perf_counter() - started:.1f} s"
            )
        limits = SqlLimits(threads=args.threads, timeout_seconds=3600)
        scratch = root / "scratch"
        scratch.mkdir()
        try:
            print(f"{'query':6} {'duckdb s':>9} {'spark s':>9} {'upload s':>9}  winner")
            totals = {"duckdb": 0.0, "spark": 0.0, "upload": 0.0}
            failed: list[str] = []
            for name in args.queries.split(","):
                query = tpch.query(name)
                inputs = {t: tables[t] for t in referenced_tables(query)}
                probe = " UNION ALL ".join(
                    f"SELECT 1 AS one FROM (SELECT * FROM {t} LIMIT 1)" for t in inputs
                )

                def duck(q: str = query, i: dict[str, pa.Table] = inputs) -> pa.Table:
                    return run_sql(q, i, limits=limits, scratch_dir=scratch)

                def on_spark(q: str = query, i: dict[str, pa.Table] = inputs) -> pa.Table:
                    return run_sql_on_spark(q, i, spark=spark, limits=limits, scratch_dir=scratch)

                try:
                    _, expected = timed(duck)
                    _, actual = timed(on_spark)
                    medians = {}
                    for label, action in (
                        ("duckdb", duck),
                        ("spark", on_spark),
                        ("upload", lambda p=probe, i=inputs: on_spark(p, i)),
                    ):
                        runs = [timed(action)[0] for _ in range(args.repeat)]
                        medians[label] = statistics.median(runs)
                except JobFailedError as error:
                    # The error is already reduced to its class (no data values): say it, go on.
                    print(f"{name:6} failed: {error}")
                    failed.append(name)
                    continue
                if not same(actual, expected):
                    print(f"{name}: Spark's result differs from DuckDB's")
                for label, median in medians.items():
                    totals[label] += median
                faster = "duckdb" if medians["duckdb"] <= medians["spark"] else "spark"
                ratio = max(medians["duckdb"], medians["spark"]) / min(
                    medians["duckdb"], medians["spark"]
                )
                print(
                    f"{name:6} {medians['duckdb']:9.3f} {medians['spark']:9.3f} "
                    f"{medians['upload']:9.3f}  {faster} x{ratio:.1f}"
                )
            ratio = totals["spark"] / totals["duckdb"] if totals["duckdb"] else math.nan
            print(
                f"{'total':6} {totals['duckdb']:9.3f} {totals['spark']:9.3f} "
                f"{totals['upload']:9.3f}  spark/duckdb x{ratio:.0f}"
            )
            if failed:
                print(f"failed: {', '.join(failed)}")
            if server is not None and "OutOfMemoryError" in server.log.read_text(errors="replace"):
                # The client sees only a bare SparkConnectGrpcException; the server's log says why
                # (and is deleted with the server: it also quotes plans).
                print("the local server ran out of heap (OutOfMemoryError): raise --driver-memory")
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
