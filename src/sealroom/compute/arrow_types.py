"""The Arrow type of each type a room's columns have (:class:`PrimitiveType`).

One table for everything that turns typed columns into Arrow: validation (the validated table),
the tables scripts read and write (``types.json``) and the synthesizer's input. The whole
correspondence (format, SQL, Arrow, pandas) is documented in ``docs/room-definition.md``.

:data:`ARROW_TYPES` is keyed by :class:`PrimitiveType`, a string enum: its members look up by
their plain names too (``ARROW_TYPES["date"]``), which is how ``types.json`` spells them. A
``DECIMAL`` has no entry: its precision and scale come from its column (:func:`arrow_type`).
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

from sealroom.model.columns import Column, PrimitiveType

__all__ = ["ARROW_TYPES", "arrow_type"]

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
