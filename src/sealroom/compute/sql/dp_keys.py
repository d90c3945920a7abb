"""Group keys in differential-privacy mode: bounded, canonical, and converted only once released.

A group key is computed per row by the analyst's expression, so it can be anything one row
chooses: a date after year 9999 (which Python cannot represent), a NaN with a sign, a
megabyte of text, a list. Before OpenDP's threshold (step 5 of :mod:`.dp`) nothing may depend
on such a value, or the run's success, failure or size would tell it before any noise. Hence:

1. Types, checked at plan time from DuckDB's own ``typeof`` of each key (no data is read):
   only types whose Arrow form has a fixed width and converts exactly are kept as they are;
   text-like types (VARCHAR, JSON, ENUM, UUID) are released as VARCHAR; every other type
   (BLOB, BIT, BIGNUM, INTERVAL, TIME WITH TIME ZONE, UHUGEINT, lists, structs, maps, unions,
   arrays) is refused: unbounded, or not converted to Arrow exactly (DuckDB's UHUGEINT wraps
   into decimal128, INTERVAL overflows nanoseconds, TIMETZ loses its offset).
2. Canonical values, per row, before grouping, in DuckDB: floats map every NaN to one NaN and
   -0.0 to 0.0; text is cut to its first :data:`MAX_KEY_CHARACTERS` characters and loses any
   collation. A group then has one spelling, which no single row chooses; a canonicalisation
   that fails gives NULL (``TRY``), like the key expression itself.
3. Fixed width before the threshold: the table fetched from DuckDB before the threshold holds
   each key in a fixed number of bytes per group (text padded to :data:`_KEY_BYTES` bytes plus
   its length), so its size, and whether it reaches the engine's result limit, is a function
   of the number of groups alone. Groups are labelled by their row number in that table, an
   integer: OpenDP's threshold sees labels and counts, never a key value.
4. Only released keys are decoded (the padding removed) and only in DuckDB, after the
   threshold: post-processing of a DP output. No key is turned into a Python value by us; a
   released key Python cannot represent (year 10000) is still a valid Arrow value, and a
   reader's failure to convert it depends on released data only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from sealroom.errors import DpQueryError

from .dp_spec import DP_PREFIX
from .references import quote_identifier as _quote

__all__ = [
    "MAX_KEY_CHARACTERS",
    "DpKey",
    "KeyKind",
    "classify_key",
    "key_types_sql",
]

#: Characters a text key keeps (cut before grouping: keys with the same prefix are one group).
MAX_KEY_CHARACTERS: Final = 64
# UTF-8 takes at most 4 bytes per character: every cut text key fits in this many bytes.
_KEY_BYTES: Final = 4 * MAX_KEY_CHARACTERS

KeyKind = Literal["plain", "float", "text"]

# DuckDB type names (as typeof() spells them) per kind. Plain: fixed-width Arrow, exact.
_PLAIN: Final = re.compile(
    r"BOOLEAN|U?(TINYINT|SMALLINT|INTEGER|BIGINT)|HUGEINT|DECIMAL\(\d+,\d+\)|DATE|TIME|"
    r'TIMESTAMP(_S|_MS|_NS)?|TIMESTAMP WITH TIME ZONE|"NULL"'
)
_FLOAT: Final = re.compile(r"FLOAT|DOUBLE")
_TEXT: Final = re.compile(r"VARCHAR|JSON|UUID|ENUM\(.*\)", re.DOTALL)
_SHOWN_TYPE_CHARACTERS: Final = 80


@dataclass(frozen=True)
class DpKey:
    """One GROUP BY key: its position, its DuckDB type and how it is carried."""

    index: int
    duckdb_type: str
    kind: KeyKind

    @property
    def column(self) -> str:
        """The key's column in the canonical rows, the exact table and the noisy table."""
        return f"{DP_PREFIX}_k{self.index}"

    @property
    def length_column(self) -> str:
        """A text key's length in characters (NULL for a NULL key), next to its padded text."""
        return f"{DP_PREFIX}_l{self.index}"

    @property
    def carried(self) -> list[str]:
        """The exact table's columns that carry this key (fixed width)."""
        return [self.column, self.length_column] if self.kind == "text" else [self.column]

    def canonical_sql(self, raw: str) -> str:
        """Step 2, per row: the value rows are grouped by, from the TRY'd key ``raw``."""
        if self.kind == "float":
            kind = self.duckdb_type
            # isnan(NULL) and NULL = 0 are NULL: a NULL key stays NULL.
            return (
                f"CASE WHEN isnan({raw}) THEN CAST('nan' AS {kind}) "
                f"WHEN {raw} = 0 THEN CAST(0 AS {kind}) ELSE {raw} END"
            )
        if self.kind == "text":
            # encode/decode drops any collation; left() counts characters (code points).
            return f"TRY(left(decode(encode(CAST({raw} AS VARCHAR))), {MAX_KEY_CHARACTERS}))"
        return raw

    def carried_sql(self) -> list[str]:
        """Step 3, per group: the fixed-width projections of the exact table."""
        key = _quote(self.column)
        if self.kind != "text":
            return [f"{key} AS {key}"]
        text = f"coalesce({key}, '')"
        return [
            f"{text} || repeat(' ', {_KEY_BYTES} - strlen({text})) AS {key}",
            f"length({key}) AS {_quote(self.length_column)}",
        ]

    def released_sql(self) -> str:
        """Step 8, on the noisy table: the released key (its padding removed)."""
        key = _quote(self.column)
        if self.kind != "text":
            return f"{key} AS {key}"
        return f"left({key}, {_quote(self.length_column)}) AS {key}"


def key_types_sql(relation: str, alias: str, raw_keys: Sequence[str]) -> str:
    """One row: DuckDB's type of each key expression, read from an empty input (no data)."""
    types = [f"typeof({raw}) AS {_quote(f'{DP_PREFIX}_t{j}')}" for j, raw in enumerate(raw_keys)]
    one = _quote(f"{DP_PREFIX}_one")
    empty = f"(SELECT * FROM {_quote(relation)} LIMIT 0) AS {_quote(alias)}"  # noqa: S608
    return f"SELECT {', '.join(types)} FROM (SELECT 1) AS {one} LEFT JOIN {empty} ON TRUE"  # noqa: S608


def classify_key(index: int, duckdb_type: str) -> DpKey:
    """Step 1: how key ``index`` of type ``duckdb_type`` is carried, or why it is refused."""
    kinds: tuple[tuple[re.Pattern[str], KeyKind], ...] = (
        (_PLAIN, "plain"),
        (_FLOAT, "float"),
        (_TEXT, "text"),
    )
    for pattern, kind in kinds:
        if pattern.fullmatch(duckdb_type):
            return DpKey(index, duckdb_type, kind)
    shown = duckdb_type[:_SHOWN_TYPE_CHARACTERS]
    raise DpQueryError(
        f"GROUP BY key {index + 1} has type {shown}, which differential-privacy mode does not "
        "release (its size is unbounded or it does not convert exactly); cast it to VARCHAR, "
        "a number, a date or a timestamp"
    )
