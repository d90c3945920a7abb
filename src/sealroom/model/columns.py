"""Table schemas: column formats, hashing, numeric ranges, uniqueness.

These are the user-facing names of the seed SDK (``FormatType``, ``HashingAlgorithm``,
``Column``); they are also the wire format of the room definition, so every field here is part of
the room id (the SHA-256 of the canonical definition). Changing a field name changes room ids.

Invariants:

* ``Column.effective_format`` is what validation checks: a column with ``hash_with`` holds
  already-hashed values, so it is validated as ``HASH_SHA256_HEX`` whatever its declared format
  (the seed SDK compiles it the same way).
* ``Column.primitive`` is the type a validated column has in SQL (:class:`PrimitiveType`): the
  table in ``docs/room-definition.md`` maps each format to its SQL, Arrow and pandas types.
  ``DATE_ISO8601`` is the seed's name for a date: the same as ``DATE``.
* A ``DECIMAL`` column has a ``precision`` (1-38 digits) and a ``scale`` (0..precision digits
  after the point); no other column has either. Both are left out of the canonical form when
  unset, so definitions without decimal columns keep their room ids.
"""

from __future__ import annotations

import enum
import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: DuckDB's (and Arrow's decimal128's) largest precision.
MAX_DECIMAL_PRECISION = 38


class PrimitiveType(enum.StrEnum):
    """The type a validated column has in SQL (and in ``types.json`` for scripts)."""

    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    #: Date and time without a time zone, as written.
    TIMESTAMP = "timestamp"
    #: An instant: written with a zone offset, stored in UTC.
    TIMESTAMP_TZ = "timestamp_tz"


#: The SQL type of each primitive (a DECIMAL's precision and scale come from its column).
SQL_TYPES: dict[PrimitiveType, str] = {
    PrimitiveType.STRING: "VARCHAR",
    PrimitiveType.INTEGER: "BIGINT",
    PrimitiveType.FLOAT: "DOUBLE",
    PrimitiveType.DECIMAL: "DECIMAL",
    PrimitiveType.BOOLEAN: "BOOLEAN",
    PrimitiveType.DATE: "DATE",
    PrimitiveType.TIMESTAMP: "TIMESTAMP",
    PrimitiveType.TIMESTAMP_TZ: "TIMESTAMP WITH TIME ZONE",
}


class FormatType(enum.StrEnum):
    """What the values of a column must look like; checked by validation in the core."""

    STRING = "STRING"
    INTEGER = "INTEGER"
    FLOAT = "FLOAT"
    EMAIL = "EMAIL"
    DATE_ISO8601 = "DATE_ISO8601"
    PHONE_NUMBER_E164 = "PHONE_NUMBER_E164"
    HASH_SHA256_HEX = "HASH_SHA256_HEX"
    DATE = "DATE"
    TIMESTAMP = "TIMESTAMP"
    TIMESTAMP_TZ = "TIMESTAMP_TZ"
    DECIMAL = "DECIMAL"
    BOOLEAN = "BOOLEAN"
    #: A mobile advertising id (Apple's IDFA, Google's GAID): a UUID, 8-4-4-4-12 hex digits.
    MAID = "MAID"
    #: A dotted-quad IPv4 address (0-255 each, no leading zeros).
    IPV4_ADDRESS = "IPV4_ADDRESS"

    @property
    def primitive(self) -> PrimitiveType:
        return _PRIMITIVES.get(self, PrimitiveType.STRING)

    def to_primitive_type(self) -> PrimitiveType:
        """Seed SDK spelling of :attr:`primitive`."""
        return self.primitive


_PRIMITIVES: dict[FormatType, PrimitiveType] = {
    FormatType.INTEGER: PrimitiveType.INTEGER,
    FormatType.FLOAT: PrimitiveType.FLOAT,
    FormatType.DECIMAL: PrimitiveType.DECIMAL,
    FormatType.BOOLEAN: PrimitiveType.BOOLEAN,
    FormatType.DATE: PrimitiveType.DATE,
    FormatType.DATE_ISO8601: PrimitiveType.DATE,
    FormatType.TIMESTAMP: PrimitiveType.TIMESTAMP,
    FormatType.TIMESTAMP_TZ: PrimitiveType.TIMESTAMP_TZ,
}

#: Formats whose values a numeric range rule can bound.
NUMERIC_FORMATS = frozenset({FormatType.INTEGER, FormatType.FLOAT, FormatType.DECIMAL})


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
    #: A DECIMAL's digits in all and after the point; unset for every other format.
    precision: int | None = Field(default=None, exclude_if=lambda value: value is None)
    scale: int | None = Field(default=None, exclude_if=lambda value: value is None)

    @model_validator(mode="after")
    def _check_format_options(self) -> Column:
        if self.in_range is not None and self.effective_format not in NUMERIC_FORMATS:
            raise ValueError(
                f"column {self.name!r}: in_range needs an INTEGER, FLOAT or DECIMAL column, "
                f"not {self.effective_format.value}"
            )
        if self.effective_format is FormatType.DECIMAL:
            if self.precision is None or self.scale is None:
                raise ValueError(
                    f"column {self.name!r}: a DECIMAL column needs a precision and a scale, "
                    "e.g. precision=15, scale=2 for DECIMAL(15, 2)"
                )
            if not 1 <= self.precision <= MAX_DECIMAL_PRECISION:
                raise ValueError(
                    f"column {self.name!r}: a DECIMAL's precision is 1 to "
                    f"{MAX_DECIMAL_PRECISION} digits, not {self.precision}"
                )
            if not 0 <= self.scale <= self.precision:
                raise ValueError(
                    f"column {self.name!r}: a DECIMAL's scale is 0 to its precision "
                    f"({self.precision}), not {self.scale}"
                )
        elif self.precision is not None or self.scale is not None:
            raise ValueError(
                f"column {self.name!r}: precision and scale apply to DECIMAL columns only, "
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

    @property
    def decimal_digits(self) -> tuple[int, int]:
        """``(precision, scale)`` of a DECIMAL column; ``ValueError`` for any other column."""
        if self.precision is None or self.scale is None:
            raise ValueError(f"column {self.name!r} is not a DECIMAL column")
        return self.precision, self.scale

    @property
    def sql_type(self) -> str:
        """The column's type in the room's SQL, as DuckDB spells it (``DECIMAL(15,2)``)."""
        if self.primitive is PrimitiveType.DECIMAL:
            precision, scale = self.decimal_digits
            return f"DECIMAL({precision},{scale})"
        return SQL_TYPES[self.primitive]


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
