"""Error codes and the JSON report of table validation (``sealroom.validation``).

The report mirrors the reference product's validation report (camelCase keys, ``"version": "v0"``)::

    {"version": "v0", "report": {
      "outcome": "PASSED" | "FAILED",
      "numRowsTotal": int, "numInvalidRowsTotal": int,
      "numInvalidRowsByErrorCode": {code: int},
      "dropInvalidRows": {"numInvalidRowsDropped": int, "numRowsRemaining": int},  # iff enabled
      "columns": [{"column": int, "name": str, "numErrorsTotal": int,
                   "recordedErrors": [{"code", "location": {"row", "column"}, "message"}]}],
      "schema": {"numErrorsTotal": int, "recordedErrors": [{"code", "message", "row": int | None}]},
      "table": {"numErrorsTotal": int, "recordedErrors": [{"code", "message"}]},
      "uniqueness": {"numErrorsTotal": int,
                     "recordedErrors": [{"code", "location": {"columns", "row"}, "message"}]}}}

Invariants:

* **No data values.** Every message is built from an :class:`ErrorCode`, numbers (row numbers,
  column counts, byte offsets, limits) and the table schema (column names, range bounds). Nothing
  here ever receives a cell, a line of the file or a library's exception text, so a report can be
  stored and shown to anyone the data owner chooses without leaking the dataset.
* Totals are exact; only the *recorded* lists are capped (see ``ValidationLimits``), in row order.
* Counting: a column's ``numErrorsTotal`` counts its failing cells (one error per cell, the first
  of EMPTY_CELL → format → range); ``numInvalidRowsByErrorCode`` counts rows with at least one
  error of that code (a row may count under several codes); ``numInvalidRowsTotal`` counts each
  invalid row once; uniqueness ``numErrorsTotal`` counts (combination, row) pairs. ``schema``
  counts malformed rows plus file-level errors. When the file cannot be parsed at all,
  ``numRowsTotal`` is 0.
* Rows are 0-based *record* numbers: the index of the record among the file's non-empty records,
  counting records with the wrong number of columns too (so they never shift later rows).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from sealroom.model.columns import Column, NumericRangeRule

REPORT_VERSION = "v0"


class ErrorCode(enum.StrEnum):
    """Stable codes of everything validation can report."""

    # Cells (the "columns" section).
    EMPTY_CELL = "EMPTY_CELL"
    INVALID_INTEGER_FORMAT = "INVALID_INTEGER_FORMAT"
    INVALID_FLOAT_FORMAT = "INVALID_FLOAT_FORMAT"
    INVALID_EMAIL_FORMAT = "INVALID_EMAIL_FORMAT"
    INVALID_ISO_DATE_FORMAT = "INVALID_ISO_DATE_FORMAT"
    INVALID_PHONE_E164_NUMBER = "INVALID_PHONE_E164_NUMBER"
    INVALID_SHA256_HEX_FORMAT = "INVALID_SHA256_HEX_FORMAT"
    INVALID_TIMESTAMP_FORMAT = "INVALID_TIMESTAMP_FORMAT"
    INVALID_DECIMAL_FORMAT = "INVALID_DECIMAL_FORMAT"
    INVALID_BOOLEAN_FORMAT = "INVALID_BOOLEAN_FORMAT"
    INVALID_NUMERIC_RANGE = "INVALID_NUMERIC_RANGE"
    # Structure (the "schema" section). The first two are row-level; the rest are file-level.
    NOT_ENOUGH_COLUMNS_PROVIDED = "NOT_ENOUGH_COLUMNS_PROVIDED"
    TOO_MANY_COLUMNS_PROVIDED = "TOO_MANY_COLUMNS_PROVIDED"
    TOO_MANY_MALFORMED_ROWS = "TOO_MANY_MALFORMED_ROWS"
    INVALID_FILE_TYPE = "INVALID_FILE_TYPE"
    INVALID_FILE_ENCODING = "INVALID_FILE_ENCODING"
    UNTERMINATED_QUOTE = "UNTERMINATED_QUOTE"
    LINE_TOO_LONG = "LINE_TOO_LONG"
    CSV_PARSE_ERROR = "CSV_PARSE_ERROR"
    # The whole table (the "table" section); always file-level.
    EMPTY_FILE = "EMPTY_FILE"
    INVALID_NUMBER_OF_ROWS = "INVALID_NUMBER_OF_ROWS"
    # Uniqueness (the "uniqueness" section); row-level.
    DUPLICATE_VALUES = "DUPLICATE_VALUES"


class Section(enum.StrEnum):
    SCHEMA = "schema"
    TABLE = "table"


CELL_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.EMPTY_CELL: "the column is not nullable but the cell is empty",
    ErrorCode.INVALID_INTEGER_FORMAT: (
        "value is not an integer (an optional sign and decimal digits) that fits in 64 bits"
    ),
    ErrorCode.INVALID_FLOAT_FORMAT: (
        "value is not a finite decimal number (digits with an optional sign, decimal point "
        "and exponent)"
    ),
    ErrorCode.INVALID_EMAIL_FORMAT: "value is not a valid e-mail address",
    ErrorCode.INVALID_ISO_DATE_FORMAT: (
        "value is not an ISO-8601 date (YYYY-MM-DD) of a day that exists"
    ),
    ErrorCode.INVALID_TIMESTAMP_FORMAT: (
        "value is not an ISO-8601 date and time of this column's kind (YYYY-MM-DD hh:mm[:ss[.f]], "
        "with a zone such as Z or +01:00 for TIMESTAMP_TZ, without one for TIMESTAMP)"
    ),
    ErrorCode.INVALID_DECIMAL_FORMAT: (
        "value is not a decimal number (digits with an optional sign and decimal point) that "
        "fits the column's precision and scale"
    ),
    ErrorCode.INVALID_BOOLEAN_FORMAT: "value is not a boolean (true, false, 1 or 0)",
    ErrorCode.INVALID_PHONE_E164_NUMBER: (
        "value is not an E.164 phone number ('+' and 2 to 15 digits, not starting with 0)"
    ),
    ErrorCode.INVALID_SHA256_HEX_FORMAT: (
        "value is not a SHA-256 digest in hexadecimal (64 characters 0-9, a-f)"
    ),
}


def cell_message(code: ErrorCode, column: Column) -> str:
    """The message of a cell error in ``column``: from the schema, never from the value."""
    if code is ErrorCode.INVALID_NUMERIC_RANGE and column.in_range is not None:
        return range_message(column.in_range)
    if code is ErrorCode.INVALID_DECIMAL_FORMAT and column.scale is not None:
        precision, scale = column.decimal_digits
        return (
            f"value is not a decimal number that fits DECIMAL({precision}, {scale}): at most "
            f"{precision - scale} digits before the point and {scale} after it"
        )
    return CELL_MESSAGES[code]


def range_message(rule: NumericRangeRule) -> str:
    """Describe a range rule with the bounds from the schema (never the offending value)."""
    parts = [
        f"{symbol} {bound:g}"
        for symbol, bound in (
            (">", rule.greater_than),
            (">=", rule.greater_than_equals),
            ("<", rule.less_than),
            ("<=", rule.less_than_equals),
        )
        if bound is not None
    ]
    return f"value is outside the allowed range ({' and '.join(parts)})"


def column_count_message(expected: int, found: int) -> str:
    return f"expected {expected} columns, found {found}"


@dataclass(frozen=True)
class FileError:
    """A problem with the file as a whole: the outcome is FAILED whatever ``drop_invalid_rows``."""

    section: Section
    code: ErrorCode
    message: str
    row: int | None = None


@dataclass(frozen=True)
class MalformedRow:
    """A record with the wrong number of columns (recorded; the totals are kept elsewhere)."""

    row: int
    expected: int
    found: int

    @property
    def code(self) -> ErrorCode:
        if self.found < self.expected:
            return ErrorCode.NOT_ENOUGH_COLUMNS_PROVIDED
        return ErrorCode.TOO_MANY_COLUMNS_PROVIDED


@dataclass(frozen=True)
class CellError:
    code: ErrorCode
    row: int
    column: int
    message: str


@dataclass(frozen=True)
class DuplicateError:
    columns: tuple[int, ...]
    row: int
    first_row: int


@dataclass
class ColumnSummary:
    index: int
    name: str
    num_errors: int = 0
    recorded: list[CellError] = field(default_factory=list)


@dataclass
class ReportDraft:
    """Everything the report says, gathered while validating; :meth:`render` makes the JSON."""

    columns: list[ColumnSummary]
    drop_invalid_rows: bool
    num_rows_total: int = 0
    num_invalid_rows: int = 0
    invalid_rows_by_code: dict[ErrorCode, int] = field(default_factory=dict)
    file_errors: list[FileError] = field(default_factory=list)
    num_malformed_rows: int = 0
    malformed_recorded: list[MalformedRow] = field(default_factory=list)
    num_duplicate_errors: int = 0
    duplicates_recorded: list[DuplicateError] = field(default_factory=list)
    num_rows_remaining: int = 0

    @property
    def has_file_error(self) -> bool:
        return bool(self.file_errors)

    @property
    def passed(self) -> bool:
        if self.file_errors:
            return False
        return self.drop_invalid_rows or self.num_invalid_rows == 0

    def count_invalid_rows(self, code: ErrorCode, count: int) -> None:
        if count:
            self.invalid_rows_by_code[code] = self.invalid_rows_by_code.get(code, 0) + count

    def render(self) -> dict[str, Any]:
        schema_recorded: list[dict[str, Any]] = [
            {"code": e.code.value, "message": e.message, "row": e.row}
            for e in self.file_errors
            if e.section is Section.SCHEMA
        ]
        schema_recorded += [
            {
                "code": m.code.value,
                "message": column_count_message(m.expected, m.found),
                "row": m.row,
            }
            for m in self.malformed_recorded
        ]
        table_errors = [e for e in self.file_errors if e.section is Section.TABLE]
        body: dict[str, Any] = {
            "outcome": "PASSED" if self.passed else "FAILED",
            "numRowsTotal": self.num_rows_total,
            "numInvalidRowsTotal": self.num_invalid_rows,
            "numInvalidRowsByErrorCode": {
                code.value: count for code, count in sorted(self.invalid_rows_by_code.items())
            },
        }
        if self.drop_invalid_rows:
            dropped = self.num_invalid_rows if self.passed else 0
            body["dropInvalidRows"] = {
                "numInvalidRowsDropped": dropped,
                "numRowsRemaining": self.num_rows_remaining if self.passed else 0,
            }
        body["columns"] = [
            {
                "column": c.index,
                "name": c.name,
                "numErrorsTotal": c.num_errors,
                "recordedErrors": [
                    {
                        "code": e.code.value,
                        "location": {"row": e.row, "column": e.column},
                        "message": e.message,
                    }
                    for e in c.recorded
                ],
            }
            for c in self.columns
        ]
        body["schema"] = {
            "numErrorsTotal": self.num_malformed_rows
            + sum(1 for e in self.file_errors if e.section is Section.SCHEMA),
            "recordedErrors": schema_recorded,
        }
        body["table"] = {
            "numErrorsTotal": len(table_errors),
            "recordedErrors": [{"code": e.code.value, "message": e.message} for e in table_errors],
        }
        body["uniqueness"] = {
            "numErrorsTotal": self.num_duplicate_errors,
            "recordedErrors": [
                {
                    "code": ErrorCode.DUPLICATE_VALUES.value,
                    "location": {"columns": list(d.columns), "row": d.row},
                    "message": (
                        f"the values of columns {list(d.columns)} repeat those of row {d.first_row}"
                    ),
                }
                for d in self.duplicates_recorded
            ],
        }
        return {"version": REPORT_VERSION, "report": body}
