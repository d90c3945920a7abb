"""The Arrow type of each type a room's columns have (:class:`PrimitiveType`).

One table for everything that turns typed columns into Arrow: validation (the validated table),
the tables scripts read and write (``types.json``) and the synthesizer's input. The whole
correspondence (format, SQL, Arrow, pandas) is documented in ``docs/room-definition.md``.

:data:`ARROW_TYPES` is keyed by :class:`PrimitiveType`, a string enum: its members look up by
their plain names too (``ARROW_TYPES["date"]``), which is how ``types.json`` spells them. A
``DECIMAL`` has no entry: its precision and scale come from its column (:func:`arrow_type`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc

from sealroom.model.columns import Column, PrimitiveType

__all__ = ["ARROW_TYPES", "arrow_type", "compact"]

ARROW_TYPES: Final[dict[PrimitiveType, pa.DataType]] = {
    PrimitiveType.INTEGER: pa.int64(),
    PrimitiveType.FLOAT: pa.float64(),
    PrimitiveType.STRING: pa.string(),
    PrimitiveType.BOOLEAN: pa.bool_(),
    PrimitiveType.DATE: pa.date32(),
    PrimitiveType.TIMESTAMP: pa.timestamp("us"),
    PrimitiveType.TIMESTAMP_TZ: pa.timestamp("us", tz="UTC"),
}


def arrow_type(column: Column) -> pa.DataType:
    """The Arrow type of a validated column."""
    if column.primitive is PrimitiveType.DECIMAL:
        return pa.decimal128(*column.decimal_digits)
    return ARROW_TYPES[column.primitive]


# Decimals DuckDB stores in 64 bits.
_DECIMAL64_MAX_PRECISION: Final = 18
# A string column is dictionary-encoded when its first rows hold at most this share of distinct
# values, and kept so when its whole dictionary stays under the share too.
_DICTIONARY_SAMPLE_ROWS: Final = 65_536
_DICTIONARY_MAX_SHARE: Final = 0.05
# Below this, a scan is too short for the encoding to matter.
_DICTIONARY_MIN_ROWS: Final = 1_000


def compact(table: pa.Table, *, threads: int = 1) -> pa.Table:
    """``table`` in the form the core keeps validated tables in (module docstring): the same
    column names, nullability and SQL types, the same values. Columns are converted on up to
    ``threads`` threads (Arrow's kernels release the GIL)."""

    def convert(column: pa.ChunkedArray) -> pa.ChunkedArray:
        return _compact_column(column, table.num_rows)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        columns = list(pool.map(convert, table.columns))
    fields = [
        field.with_type(column.type) for field, column in zip(table.schema, columns, strict=True)
    ]
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def _compact_column(column: pa.ChunkedArray, num_rows: int) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_decimal128(kind) and kind.precision <= _DECIMAL64_MAX_PRECISION:
        return column.cast(pa.decimal64(kind.precision, kind.scale))
    if not pa.types.is_string(kind) or num_rows < _DICTIONARY_MIN_ROWS:
        return column
    sample = column.slice(0, _DICTIONARY_SAMPLE_ROWS)
    if pc.count_distinct(sample, mode="all").as_py() > len(sample) * _DICTIONARY_MAX_SHARE:
        return column
    encoded = column.dictionary_encode()
    distinct = max((len(chunk.dictionary) for chunk in encoded.chunks), default=0)
    if distinct > num_rows * _DICTIONARY_MAX_SHARE:
        return column
    return encoded
