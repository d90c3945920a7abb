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
                     "recordedErrors": [{"code", "location": {"columns", "names", "row"},
                                         "message"}]},
      "hints": [str], "warnings": [str]}}

``hints`` say what to do about the errors found (a column's numbers written with thousands
separators, dates written day first, a file that is not UTF-8, a wrong delimiter, a header row);
``warnings`` report what passed but deserves a look (rows dropped by ``drop_invalid_rows``).

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
* Rows are *record* numbers from 1, as in the file: the position of the record among the file's
  non-empty records, counting records with the wrong number of columns too (so they never shift
  later rows). (Internally, and in :class:`CellError` and friends, they are 0-based; only the
  rendered report adds 1.) A file provisioned with a header row was uploaded without it: the SDK
  and the CLI add 1 more when they show a report next to its file.
* Hints are built from counts of patterns among badly formatted cells (:func:`~.rules.hint_counts`)
  and from the report's own counts: never from a value.
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
    INVALID_MAID_FORMAT = "INVALID_MAID_FORMAT"
    INVALID_IPV4_ADDRESS = "INVALID_IPV4_ADDRESS"
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
    ErrorCode.INVALID_MAID_FORMAT: (
        "value is not a mobile advertising id (a UUID: 8-4-4-4-12 hexadecimal digits)"
    ),
    ErrorCode.INVALID_IPV4_ADDRESS: (
        "value is not an IPv4 address (four numbers 0-255 without leading zeros, dot-separated)"
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


@dataclass(frozen=True)
class ColumnHint:
    """``count`` badly formatted cells of column ``name`` look like ``hint`` (a Hint's value)."""

    name: str
    hint: str
    count: int


# What each hint of a column's cells says, with the column name and the cells counted filled in.
_HINT_TEXT: dict[str, str] = {
    "thousands_comma": (
        "column {name!r}: numbers with thousands separators (1,234,567.89) in {cells}: remove "
        "the separators, or provision with --thousands-separator ',' (thousands_separator=',' "
        "in the SDK)"
    ),
    "thousands_dot": (
        "column {name!r}: numbers written 1.234.567,89 in {cells}: provision with "
        "--decimal-comma --thousands-separator '.' (decimal_comma=True, thousands_separator='.' "
        "in the SDK)"
    ),
    "decimal_comma": (
        "column {name!r}: numbers with a decimal comma (12,5) in {cells}: provision with "
        "--decimal-comma (decimal_comma=True in the SDK)"
    ),
    "spaces": (
        "column {name!r}: leading or trailing spaces, which are never trimmed, in {cells}: "
        "remove them"
    ),
    "currency": "column {name!r}: a currency symbol or code in {cells}: keep the number only",
    "day_month_year": (
        "column {name!r}: dates written day or month first (31/01/2024) in {cells}: write dates "
        "as YYYY-MM-DD (2024-01-31)"
    ),
    "yes_no": ("column {name!r}: yes/no in {cells}: a BOOLEAN column takes true, false, 1 or 0"),
}
_ENCODING_HINT = (
    "the file is not UTF-8; a file saved by Excel on Windows is usually Windows-1252: provision "
    "with --encoding cp1252 (encoding='cp1252' in the SDK), which converts it"
)
_DELIMITER_HINT = (
    "most rows have fewer columns than the table: the file may use another delimiter (';', tab); "
    "provision with --delimiter ';' (delimiter=';' in the SDK), or let `sealroom dataset "
    "provision` detect it"
)
_HEADER_HINT = (
    "the first row has errors in {count} columns: if it is a header row, provision the file "
    "with `sealroom dataset provision`, which maps a header's columns by name (uploads have no "
    "header row)"
)


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
    column_hints: list[ColumnHint] = field(default_factory=list)

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

    def hints(self) -> list[str]:
        """What to do about the errors, from counts only (module docstring)."""
        hints = [
            _HINT_TEXT[h.hint].format(
                name=h.name, cells=f"{h.count:,} cell" + ("" if h.count == 1 else "s")
            )
            for h in self.column_hints
            if h.hint in _HINT_TEXT
        ]
        if any(e.code is ErrorCode.INVALID_FILE_ENCODING for e in self.file_errors):
            hints.append(_ENCODING_HINT)
        short = sum(1 for m in self.malformed_recorded if m.found < m.expected)
        if (
            self.malformed_recorded
            and short * 2 > len(self.malformed_recorded)
            and (self.num_malformed_rows * 2 > self.num_rows_total)
        ):
            hints.append(_DELIMITER_HINT)
        # A header row: several columns fail on the first row and nowhere else.
        only_first = sum(
            1 for c in self.columns if c.num_errors == 1 and c.recorded and c.recorded[0].row == 0
        )
        if only_first >= 2:
            hints.append(_HEADER_HINT.format(count=only_first))
        return hints

    def warnings(self) -> list[str]:
        if not (self.drop_invalid_rows and self.passed and self.num_invalid_rows):
            return []
        share = self.num_invalid_rows / max(self.num_rows_total, 1)
        return [
            f"{self.num_invalid_rows:,} of {self.num_rows_total:,} rows ({share:.1%}) failed "
            f"validation and were dropped (drop_invalid_rows); {self.num_rows_remaining:,} remain"
        ]

    def render(self) -> dict[str, Any]:
        names = {c.index: c.name for c in self.columns}
        schema_recorded: list[dict[str, Any]] = [
            {
                "code": e.code.value,
                "message": e.message,
                "row": None if e.row is None else e.row + 1,
            }
            for e in self.file_errors
            if e.section is Section.SCHEMA
        ]
        schema_recorded += [
            {
                "code": m.code.value,
                "message": column_count_message(m.expected, m.found),
                "row": m.row + 1,
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
                        "location": {"row": e.row + 1, "column": e.column},
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
                    "location": {
                        "columns": list(d.columns),
                        "names": [names[i] for i in d.columns],
                        "row": d.row + 1,
                    },
                    "message": (
                        f"the values of {_column_list([names[i] for i in d.columns])} repeat "
                        f"those of row {d.first_row + 1}"
                    ),
                }
                for d in self.duplicates_recorded
            ],
        }
        body["hints"] = self.hints()
        body["warnings"] = self.warnings()
        return {"version": REPORT_VERSION, "report": body}


def _column_list(names: list[str]) -> str:
    if len(names) == 1:
        return f"column {names[0]!r}"
    return "columns " + ", ".join(repr(name) for name in names)
