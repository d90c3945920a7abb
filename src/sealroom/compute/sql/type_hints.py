"""Hints for type errors: which column has which type in the room, and how to compare with it.

DuckDB says ``Cannot compare values of type DATE and type INTEGER_LITERAL``; the analyst needs
to know *which* column is the DATE and what to write instead. :func:`type_hints` reads the
query (sqlglot) for columns whose type the error names, or that are compared with a literal of
another kind, and says, for example::

    `o_orderdate` is a DATE; compare it with DATE '1995-03-15'

Invariants:

* Hints are built from the query text (the analyst's own), the error's text as DuckDB wrote it
  while *binding* (about the query and the schema, never about data), and column names and
  types of the room: never from data values.
* A hint that cannot be built is simply left out; this never raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final

import sqlglot
from sqlglot import exp

from .references import fold_identifier

__all__ = ["type_hints"]

#: Types whose columns most often meet a literal of another kind.
_TEMPORAL: Final = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "DATE")
_EXAMPLES: Final = {
    "DATE": "DATE '2024-01-31'",
    "TIMESTAMP": "TIMESTAMP '2024-01-31 13:45:00'",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ '2024-01-31 13:45:00+00'",
    "BOOLEAN": "TRUE or FALSE",
}
_TYPE_NAMES: Final = re.compile(
    r"TIMESTAMP WITH TIME ZONE|TIMESTAMP|DATE|DECIMAL\(\d+,\s*\d+\)|BOOLEAN|BIGINT|DOUBLE|VARCHAR"
)
_COMPARISONS: Final = (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)
_MAX_HINTS: Final = 3


def type_hints(message: str, query: str, columns: Mapping[str, str]) -> list[str]:
    """Hints for a binding error ``message`` of ``query``; ``columns`` maps folded column names
    of the query's inputs to their SQL types (a name in several inputs with several types is
    left out: the hint could name the wrong one)."""
    try:
        tree = sqlglot.parse_one(query, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return []
    # The first line states the error; DuckDB's next lines list candidate functions.
    first_line = message.split("\n", 1)[0]
    named = {_base(found) for found in _TYPE_NAMES.findall(first_line)}
    hints: dict[str, str] = {}
    for column, compared, literal in _referenced(tree):
        name = fold_identifier(column.name)
        sql_type = columns.get(name)
        if sql_type is None or name in hints:
            continue
        if named and _base(sql_type) not in named:
            continue
        if not named and (literal is None or _literal_fits(sql_type, literal)):
            continue  # no type in the message: only a literal of another kind is suspicious
        hints[name] = _hint(column.name, sql_type, compared, literal)
        if len(hints) == _MAX_HINTS:
            break
    return list(hints.values())


def _referenced(
    tree: exp.Expr,
) -> Iterator[tuple[exp.Column, bool, exp.Literal | None]]:
    """Each column the query names, whether it is compared, and a literal it is compared with
    (compared columns first)."""
    for comparison in tree.find_all(*_COMPARISONS, exp.Between):
        operands = [
            comparison.this,
            *(comparison.args.get(k) for k in ("expression", "low", "high")),
        ]
        columns = [o for o in operands if isinstance(o, exp.Column)]
        literals = [o for o in operands if isinstance(o, exp.Literal)]
        for column in columns:
            yield column, True, literals[0] if literals else None
    for column in tree.find_all(exp.Column):
        yield column, False, None


def _base(sql_type: str) -> str:
    """``DECIMAL(15,2)`` → ``DECIMAL``; the other names as they are."""
    return sql_type.split("(", 1)[0].strip().upper()


def _literal_fits(sql_type: str, literal: exp.Literal) -> bool:
    base = _base(sql_type)
    if base in _TEMPORAL:
        return bool(literal.is_string)  # DuckDB casts a string literal to a date or a time
    if base in ("DECIMAL", "BIGINT", "DOUBLE"):
        return not literal.is_string
    return True


def _hint(name: str, sql_type: str, compared: bool, literal: exp.Literal | None) -> str:
    base = _base(sql_type)
    article = "an" if sql_type[:1] in "AEIOU" else "a"
    described = f"`{name}` is {article} {sql_type}"
    if not compared:
        return described
    if base in _TEMPORAL:
        example = _EXAMPLES[base]
        if literal is not None and literal.is_string and base == "DATE":
            example = f"DATE '{literal.this[:10]}'"
        return f"{described}; compare it with {example}"
    if base == "BOOLEAN":
        return f"{described}; compare it with {_EXAMPLES[base]}"
    if base in ("DECIMAL", "BIGINT", "DOUBLE"):
        return f"{described}; compare it with a number (no quotes), e.g. 10.50"
    if base == "VARCHAR":
        return f"{described}; CAST it to the type you need, e.g. CAST({name} AS DATE)"
    return described
