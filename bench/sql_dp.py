"""Differential-privacy mode of SQL nodes vs the plain query, same engine, same data, same run.

Generates in memory (numpy + pyarrow, no file) N rows: ``city`` (20 values), ``amount`` (a
float in [0, 1000)) and ``user_id`` (N / 10 people, so ~10 rows each). Times, each the median of
``--repeat`` runs through :func:`sealroom.compute.sql.run_sql` (a fresh hardened DuckDB
connection per call):

* plain: ``SELECT city, COUNT(*), SUM(amount) FROM t GROUP BY city``, no privacy;
* dp (rows): the same query in DP mode, each row a unit (no contribution bounding needed);
* dp (users, L): the same query in DP mode, user_id the unit, at most L rows per user, for each
  L of ``--bounds``: with L = 5 most users (about 10 rows each) are sampled down, which ranks
  their rows in a window (the expensive part); with L = 20 almost none are.

The last line printed is the ratio of the slowest DP variant to plain.

Usage::

    PYTHONPATH=src .venv/bin/python bench/sql_dp.py [--rows 1000000] [--repeat 5] [--bounds 5,20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from sealroom.compute.sql import SqlLimits, run_sql
from sealroom.compute.sql.dp import DpSpec

QUERY = "SELECT city, COUNT(*) AS n, SUM(amount) AS total FROM t GROUP BY city"
CITIES = 20


def make_table(rows: int) -> pa.Table:
    generator = np.random.default_rng(7)
    cities = pa.array([f"city-{i:02d}" for i in range(CITIES)])
    return pa.table(
        {
            "city": pa.DictionaryArray.from_arrays(
                pa.array(generator.integers(0, CITIES, rows, dtype=np.int32)), cities
            ).cast(pa.string()),
            "amount": pa.array(generator.uniform(0.0, 1000.0, rows)),
            "user_id": pa.array(generator.integers(0, max(1, rows // 10), rows, dtype=np.int64)),
        }
    )


def timed(call: Callable[[], pa.Table], repeat: int) -> tuple[float, pa.Table]:
    call()  # warm-up: imports, OpenDP's library, page cache
    times: list[float] = []
    result = pa.table({})
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bounds", default="5,20", help="max rows per user (L), comma-separated")
    parser.add_argument("--epsilon", type=float, default=1.0)
    args = parser.parse_args()

    table = make_table(args.rows)
    limits = SqlLimits()
    bounds = {"amount": (0.0, 1000.0)}
    variants: dict[str, DpSpec | None] = {
        "plain": None,
        "dp (rows)": DpSpec(epsilon=args.epsilon, delta=1e-6, bounds=bounds),
    }
    for bound in (int(text) for text in args.bounds.split(",")):
        variants[f"dp (users, L={bound})"] = DpSpec(
            epsilon=args.epsilon,
            delta=1e-6,
            unit_column="user_id",
            max_rows_per_unit=bound,
            bounds=bounds,
        )
    print(f"{args.rows:,} rows, {CITIES} groups, median of {args.repeat}: {QUERY}")
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sql-dp-") as scratch:
        for name, spec in variants.items():
            elapsed, result = timed(
                lambda spec=spec: run_sql(
                    QUERY, {"t": table}, limits=limits, scratch_dir=Path(scratch), dp=spec
                ),
                args.repeat,
            )
            seconds[name] = elapsed
            first = result.sort_by("city").slice(0, 1).to_pylist()
            print(f"  {name:<20} {elapsed * 1000:8.1f} ms  {result.num_rows} groups  e.g. {first}")
    plain = seconds.pop("plain")
    for name, elapsed in seconds.items():
        print(f"  {name:<20} {elapsed / plain:6.2f} x plain")
    slowest = max(seconds, key=lambda name: seconds[name])
    print(f"ratio {slowest} / plain: {seconds[slowest] / plain:.2f}")


if __name__ == "__main__":
    main()
