"""Table schemas: column formats, hashing, numeric ranges, uniqueness.

These are the user-facing names of the seed SDK (``FormatType``, ``HashingAlgorithm``,
``Column``); they are also the wire format of the room definition, so every field here is part of
the room id (the SHA-256 of the canonical definition). Changing a field name changes room ids.

Invariants:

* ``Column.effective_format`` is what validation checks: a column with ``hash_with`` holds
  already-hashed values, so it is validated as ``HASH_SHA256_HEX`` whatever its declared format
  (the seed SDK compiles it the same way).
* ``FormatType.primitive`` is the type a validated column has in SQL: ``INTEGER`` → 64-bit
  integer, ``FLOAT`` → 64-bit float, everything else → string.
"""

from __future__ import annotations

import enum
import math

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PrimitiveType(enum.StrEnum):
    """The type a validated column has in SQL."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"


class FormatType(enum.StrEnum):
    """What the values of a column must look like; checked by validation in the core."""

    STRING = "STRING"
    INTEGER = "INTEGER"
    FLOAT = "FLOAT"
    EMAIL = "EMAIL"
    DATE_ISO8601 = "DATE_ISO8601"
    PHONE_NUMBER_E164 = "PHONE_NUMBER_E164"
    HASH_SHA256_HEX = "HASH_SHA256_HEX"

    @property
    def primitive(self) -> PrimitiveType:
        if self is FormatType.INTEGER:
            return PrimitiveType.INTEGER
        if self is FormatType.FLOAT:
            return PrimitiveType.FLOAT
        return PrimitiveType.STRING

    def to_primitive_type(self) -> PrimitiveType:
        """Seed SDK spelling of :attr:`primitive`."""
        return self.primitive


class HashingAlgorithm(enum.StrEnum):
    """How a column's values were hashed by the data owner before upload."""

    SHA256_HEX = "SHA256_HEX"


class NumericRangeRule(BaseModel):
    """Bounds on a numeric column. Any subset of the four bounds may be given; at least one."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    greater_than: float | None = Field(default=None, alias="greaterThan")
    greater_than_equals: float | None = Field(default=None, alias="greaterThanEquals")
    less_than: float | None = Field(default=None, alias="lessThan")
    less_than_equals: float | None = Field(default=None, alias="lessThanEquals")

    @model_validator(mode="after")
    def _check_bounds(self) -> NumericRangeRule:
        bounds = [
            self.greater_than,
            self.greater_than_equals,
            self.less_than,
            self.less_than_equals,
        ]
        if all(b is None for b in bounds):
            raise ValueError("a numeric range needs at least one bound")
        if any(b is not None and not math.isfinite(b) for b in bounds):
            raise ValueError("numeric range bounds must be finite numbers")
        return self


class Column(BaseModel):
    """One column of a table data node. Columns are positional: uploads have no header row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    format_type: FormatType
    is_nullable: bool = True
    hash_with: HashingAlgorithm | None = None
    in_range: NumericRangeRule | None = None

    @model_validator(mode="after")
    def _check_range_applies(self) -> Column:
        if self.in_range is not None and self.effective_format not in (
            FormatType.INTEGER,
            FormatType.FLOAT,
        ):
            raise ValueError(
                f"column {self.name!r}: in_range needs an INTEGER or FLOAT column, "
                f"not {self.effective_format.value}"
            )
        return self

    @property
    def effective_format(self) -> FormatType:
        """The format validation checks (hashed columns hold SHA-256 hex digests)."""
        if self.hash_with is HashingAlgorithm.SHA256_HEX:
            return FormatType.HASH_SHA256_HEX
        return self.format_type

    @property
    def primitive(self) -> PrimitiveType:
        return self.effective_format.primitive


class TableSchema(BaseModel):
    """Everything validation needs to know about a table node."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: tuple[Column, ...] = Field(min_length=1, max_length=1000)
    unique_column_combinations: tuple[tuple[int, ...], ...] = ()
    drop_invalid_rows: bool = False

    @model_validator(mode="after")
    def _check(self) -> TableSchema:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate column names: {', '.join(duplicates)}")
        for combo in self.unique_column_combinations:
            if not combo:
                raise ValueError("a unique column combination must name at least one column")
            for index in combo:
                if not 0 <= index < len(self.columns):
                    raise ValueError(
                        f"unique column combination refers to column index {index}, "
                        f"but the table has {len(self.columns)} columns"
                    )
        return self
