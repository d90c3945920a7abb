"""Summary statistics of a validated table (the seed's "Datasets" page), bounded by a threshold.

:func:`table_statistics` describes each column: rows, empty cells, distinct values, and — for
numbers, decimals and dates — a low and a high value, or — for text — its most frequent values.

Invariants, with ``threshold`` k (the room's minimum group size, 1 when it has none):

* **No value is shown that fewer than k rows hold or pass.** ``low`` is the k-th smallest value
  (at least k rows are at or below it), ``high`` the k-th largest; with k = 1 they are the
  minimum and maximum. A top value is listed only when at least k rows hold it. A column with
  fewer than k non-empty cells shows no value at all. Counts (rows, empty cells, distinct values)
  are shown as they are: they are not values.
* **Bounded**: at most :data:`MAX_TOP_VALUES` top values per column, each at most
  :data:`MAX_VALUE_CHARS` characters (longer ones are cut and say so); columns of other types
  (timestamps) show counts only; booleans show their counts of true and false.
* Vectorised: DuckDB does the work over the table as it is in memory; no Python loop per row.
  ``distinct`` is an estimate (HyperLogLog) for large counts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb

__all__ = ["MAX_TOP_VALUES", "MAX_VALUE_CHARS", "table_statistics"]

MAX_TOP_VALUES: Final = 5
MAX_VALUE_CHARS: Final = 64
STATISTICS_VERSION: Final = "v1"
_MEMORY_LIMIT_BYTES: Final = 2 * 1024 * 1024 * 1024
_THREADS: Final = 2
_MAX_MS: Final = 600_000


def table_statistics(table: pa.Table, *, threshold: int = 1) -> dict[str, Any]:
    """``{"version", "rows", "threshold", "columns": [{name, type, empty, distinct, ...}]}``.

    Runs in a hardened DuckDB connection (:mod:`sealroom.compute.sql.connection`): one scan
    for every column's counts, a top-k for each low and high value, a grouping for each text
    column's frequent values — about a second for 6 million rows of 16 columns on 2 cores.
    """
    from sealroom.compute.sql.connection import SandboxSettings, hardened_connection

    if threshold < 1:
        raise ValueError("the threshold is at least 1")
    settings = SandboxSettings(
        memory_limit_bytes=_MEMORY_LIMIT_BYTES, threads=_THREADS, max_execution_ms=_MAX_MS
    )
    names = [f"c{index}" for index in range(table.num_columns)]
    with hardened_connection(settings) as connection:
        connection.register("t", table.rename_columns(names))
        # Our own column names (c0, c1, ...), never the room's: nothing to quote.
        counts = connection.execute(
            "SELECT count(*)"  # noqa: S608
            + "".join(f", count({n}), approx_count_distinct({n})" for n in names)
            + " FROM t"
        ).fetchall()[0]
        columns = []
        for index, field in enumerate(table.schema):
            filled, distinct = int(counts[1 + 2 * index]), int(counts[2 + 2 * index])
            kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
            summary: dict[str, Any] = {
                "name": field.name,
                "type": _type_name(kind),
                "empty": table.num_rows - filled,
                # HyperLogLog's estimate: exact for small counts, within a few percent above.
                "distinct": min(distinct, filled),
            }
            if filled >= threshold and filled > 0:
                summary.update(_values(connection, names[index], kind, threshold, filled, distinct))
            columns.append(summary)
    return {
        "version": STATISTICS_VERSION,
        "rows": table.num_rows,
        "threshold": threshold,
        "columns": columns,
    }


def _values(
    connection: duckdb.DuckDBPyConnection,
    column: str,
    kind: pa.DataType,
    k: int,
    filled: int,
    distinct: int,
) -> dict[str, Any]:
    """The values a column may show with threshold ``k`` (module docstring)."""
    if pa.types.is_boolean(kind):
        true, false = connection.execute(
            f"SELECT count(*) FILTER ({column}), count(*) FILTER (NOT {column}) FROM t"  # noqa: S608
        ).fetchall()[0]
        # Either count below k would tell about fewer than k rows: both are shown or neither.
        if min(true, false) >= k:
            return {"true": int(true), "false": int(false)}
        return {}
    if _ordered(kind):
        return {
            "low": _plain(_kth(connection, column, k, "ASC")),
            "high": _plain(_kth(connection, column, k, "DESC")),
        }
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if distinct * 2 > filled and k > 1:
            return {"top": []}  # nearly every value is its own: none is held by k rows
        rows = connection.execute(
            f"SELECT {column} AS v, count(*) AS n FROM t WHERE {column} IS NOT NULL "  # noqa: S608
            f"GROUP BY v HAVING n >= ? ORDER BY n DESC, v LIMIT {MAX_TOP_VALUES}",
            [k],
        ).fetchall()
        return {"top": [_top_value(str(value), int(count)) for value, count in rows]}
    return {}


def _kth(connection: duckdb.DuckDBPyConnection, column: str, k: int, order: str) -> Any:
    """The k-th value in ``order`` among the non-empty cells (k <= their number)."""
    rows = connection.execute(
        f"SELECT {column} FROM t WHERE {column} IS NOT NULL ORDER BY {column} {order} "  # noqa: S608
        "LIMIT 1 OFFSET ?",
        [k - 1],
    ).fetchall()
    return rows[0][0] if rows else None


def _top_value(value: str, count: int) -> dict[str, Any]:
    cut = len(value) > MAX_VALUE_CHARS
    return {"value": value[:MAX_VALUE_CHARS] + ("…" if cut else ""), "count": count}


def _ordered(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_date(kind)
    )


def _plain(value: Any) -> Any:
    """A JSON value: decimals as exact text, dates as ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _type_name(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind):
        return "INTEGER"
    if pa.types.is_floating(kind):
        return "FLOAT"
    if pa.types.is_decimal(kind):
        return f"DECIMAL({kind.precision},{kind.scale})"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP" if kind.tz is None else "TIMESTAMP_TZ"
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    return "STRING"
