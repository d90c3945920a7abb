"""DuckDB SQL in Spark SQL: how a query of a ``engine="spark"`` node reaches Spark.

Queries are written, checked and rewritten (privacy filter, DP) in DuckDB's dialect; only the
SQL that reads the inputs' rows is sent to Spark, transpiled by sqlglot. Invariants:

* What sqlglot cannot express in Spark SQL is refused (``unsupported_level=RAISE``), never sent
  half-translated: the analyst gets a :class:`~sealroom.errors.SqlExecutionError` naming the
  construct (sqlglot's message is about the query text, never data).
* DuckDB's ``TRY(expr)`` (which the privacy filter wraps around every row-level expression so
  that no error depends on a hidden value) has no Spark counterpart: it becomes ``expr``, and the
  engine runs such SQL with ``spark.sql.ansi.enabled=false``, where Spark answers NULL for a
  failed cast, a division by zero or an overflow, as ``TRY`` does.
* ``HUGEINT`` (128-bit integers) becomes ``DECIMAL(38, 0)``.
* Named parameters ``$name`` become Spark's ``:name``; their values are bound by Spark
  (``args=``), never spliced into the text. :func:`spark_parameters` lists the names Spark will
  see, so the caller binds exactly those.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from sealroom.errors import SqlExecutionError

from .references import fold_identifier

__all__ = ["spark_parameters", "to_spark_sql"]


#: DuckDB's 128-bit integers (what the engine's DP SQL sums into); Spark has none, and its
#: ``DECIMAL(38, 0)`` holds the same 38 digits.
_WIDE_INTEGERS = frozenset({exp.DataType.Type.INT128, exp.DataType.Type.UINT128})


def _for_spark(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Try):
        inner: exp.Expression = node.this
        return inner
    if isinstance(node, exp.DataType) and node.this in _WIDE_INTEGERS:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def to_spark_sql(sql: str) -> str:
    """``sql`` (one DuckDB SELECT) as Spark SQL; raises :class:`SqlExecutionError` when sqlglot
    cannot express it."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        tree = tree.transform(_for_spark)
        return tree.sql(dialect="spark", unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as error:
        # sqlglot's messages quote the query's constructs (function names), not data.
        first = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise SqlExecutionError(
            "sql_error", f"the query cannot be run on Spark (Spark SQL has no equivalent): {first}"
        ) from None


def spark_parameters(spark_sql: str, values: Mapping[str, str]) -> dict[str, str]:
    """The values of the ``:name`` parameters in ``spark_sql``, keyed as Spark spells them.

    ``values`` are keyed by the declared names; DuckDB matches names case-insensitively, so we
    do too. A name without a value is a caller bug (the DuckDB-side checks ran first).
    """
    by_fold = {fold_identifier(name): value for name, value in values.items()}
    bound: dict[str, str] = {}
    for placeholder in sqlglot.parse_one(spark_sql, read="spark").find_all(exp.Placeholder):
        name = placeholder.name
        if not name:
            raise SqlExecutionError("sql_error", "positional parameters are not allowed")
        value = by_fold.get(fold_identifier(name))
        if value is None:
            raise SqlExecutionError("sql_error", "a query sent to Spark has an unknown parameter")
        bound[name] = value
    return bound
