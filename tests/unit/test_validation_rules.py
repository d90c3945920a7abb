"""Known-answer tests of every cell format, emptiness and numeric ranges, through the CSV path."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from sealroom.model.columns import Column, FormatType, NumericRangeRule, TableSchema
from sealroom.validation import ValidationLimits, validate_table
from sealroom.validation.rules import integer_bounds

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def errors_of(values: list[str], column: Column) -> tuple[list[tuple[int, str]], list[Any]]:
    """Validate one column holding ``values``; return (row, code) errors and the typed values."""
    data = "".join(quoted(v) + "\n" for v in values).encode()
    schema = TableSchema(columns=(column,), drop_invalid_rows=True)
    result = validate_table(
        data, schema, limits=ValidationLimits(max_recorded_errors_per_column=10_000)
    )
    (summary,) = result.report["report"]["columns"]
    assert summary["numErrorsTotal"] == len(summary["recordedErrors"])
    # Rows in the report count from 1; here they index ``values``.
    errors = [(e["location"]["row"] - 1, e["code"]) for e in summary["recordedErrors"]]
    assert result.table is not None
    return errors, result.table.column(0).to_pylist()


CASES: dict[FormatType, tuple[list[str], list[str]]] = {
    FormatType.INTEGER: (
        ["0", "-0", "+5", "007", "-12", "9223372036854775807", "-9223372036854775808"],
        [
            "9223372036854775808",
            "-9223372036854775809",
            "00000000000000000000000000009223372036854775808",
            "1.0",
            " 5",
            "5 ",
            "1e3",
            "0x10",
            "١٢",
            "\uff11\uff12",  # fullwidth digits
            "+-5",
            "--5",
            "+",
            "-",
            "1_000",
            "5\n",
        ],
    ),
    FormatType.FLOAT: (
        [
            "1",
            "-1.5",
            "+.5",
            "5.",
            "1e10",
            "1E-5",
            "-0.0",
            "1e-999",
            "007.50",
            "1.7976931348623157e308",
        ],
        [
            "nan",
            "NaN",
            "inf",
            "-Infinity",
            "1e999",
            "-1e400",
            "1,5",
            "1e",
            ".",
            "e5",
            " 1",
            "0x1p3",
        ],
    ),
    FormatType.EMAIL: (
        ["a@b.co", "first.last+tag@sub.example.org", "ünï@exämple.de", "x_y-z@dom-ain.museum"],
        [
            "plain",
            "a@b",
            "a@@b.com",
            "a@b@c.com",
            "a b@c.com",
            "a@b .com",
            "a@b.com ",
            "@b.com",
            "a@.com",
            "a@b..com",
            "a@b.c",
            "a@b.com.",
            "a\t@b.com",
            "a\u00a0b@c.com",
            "a\n@b.com",
            "a" * 250 + "@b.com",
        ],
    ),
    FormatType.DATE_ISO8601: (
        ["2024-02-29", "2000-02-29", "2023-12-31", "0001-01-01"],
        [
            "2023-02-29",
            "1900-02-29",
            "2023-04-31",
            "2023-13-01",
            "2023-00-10",
            "2023-01-00",
            "2023-1-1",
            "20230101",
            "23-01-01",
            # A date with a time is a TIMESTAMP, not a date.
            "2023-01-01T00:00",
            "2023-01-01 12:00:00",
            "2023-01-01T12:00:00Z",
            "2023-01-01T",
            "2023-01-01Z",
            " 2023-01-01",
            "2023/01/01",
            "yesterday",
        ],
    ),
    FormatType.TIMESTAMP: (
        [
            "2024-02-29",
            "2023-01-01T00:00",
            "2023-01-01 12:00:00",
            "2023-06-30T23:59:59.999999",
            "2023-01-01T12:00:00.1",
        ],
        [
            "2023-02-29T10:00",
            "2023-01-01T24:00",
            "2023-01-01T12:60",
            "2023-01-01T12:00:60",
            "2023-01-01T12:00:00.1234567",
            "2023-01-01T12:00:00Z",
            "2023-01-01T12:00:00+01:00",
            "2023-01-01T",
            "2023-01-01T12",
            "12:00:00",
            "2023-01-01 12:00:00 ",
        ],
    ),
    FormatType.TIMESTAMP_TZ: (
        [
            "2023-01-01T00:00Z",
            "2023-06-30T23:59:59.999999Z",
            "2023-01-01T12:00:00.123456+05:30",
            "2023-01-01 12:00:00-0800",
            "2023-01-01T12:00:00+01",
        ],
        [
            "2023-01-01",
            "2023-01-01T12:00:00",
            "2023-02-30T12:00:00Z",
            "2023-01-01T12:00:00+24:00",
            "2023-01-01T12:00:00+01:60",
            "2023-01-01T12:00:60Z",
            "2023-01-01T12:00:00.1234567Z",
            "2023-01-01T12:00:00 Z",
            "2023-01-01T12:00:00UTC",
        ],
    ),
    FormatType.BOOLEAN: (
        ["true", "false", "TRUE", "False", "1", "0"],
        ["yes", "no", "t", "f", "2", " true", "true ", "-1", "null"],
    ),
    FormatType.DATE: (["2024-02-29", "1999-12-31"], ["2023-02-29", "2023-01-01T00:00"]),
    FormatType.PHONE_NUMBER_E164: (
        ["+41791234567", "+12", "+123456789012345"],
        [
            "0041791234567",
            "+0123",
            "+1",
            "+1234567890123456",
            "+41 79 123",
            "41791234567",
            "+41-79",
        ],
    ),
    FormatType.HASH_SHA256_HEX: (
        [SHA, SHA.upper()],
        [SHA[:-1], SHA + "0", SHA[:-1] + "g", " " + SHA[1:], "sha256:" + SHA],
    ),
    FormatType.STRING: ([" ", "anything, at all", "ünïcode", 'a "quote"', "NULL"], []),
}


@pytest.mark.parametrize("fmt", list(CASES))
def test_format_known_answers(fmt: FormatType) -> None:
    valid, invalid = CASES[fmt]
    errors, values = errors_of(valid + invalid, Column(name="v", format_type=fmt))
    code = {
        FormatType.INTEGER: "INVALID_INTEGER_FORMAT",
        FormatType.FLOAT: "INVALID_FLOAT_FORMAT",
        FormatType.EMAIL: "INVALID_EMAIL_FORMAT",
        FormatType.DATE_ISO8601: "INVALID_ISO_DATE_FORMAT",
        FormatType.DATE: "INVALID_ISO_DATE_FORMAT",
        FormatType.TIMESTAMP: "INVALID_TIMESTAMP_FORMAT",
        FormatType.TIMESTAMP_TZ: "INVALID_TIMESTAMP_FORMAT",
        FormatType.BOOLEAN: "INVALID_BOOLEAN_FORMAT",
        FormatType.PHONE_NUMBER_E164: "INVALID_PHONE_E164_NUMBER",
        FormatType.HASH_SHA256_HEX: "INVALID_SHA256_HEX_FORMAT",
    }.get(fmt)
    rejected = {valid_or_not for valid_or_not, _ in errors}
    wrongly_rejected = [v for i, v in enumerate(valid) if i in rejected]
    wrongly_accepted = [v for i, v in enumerate(invalid) if len(valid) + i not in rejected]
    assert (wrongly_rejected, wrongly_accepted) == ([], [])
    assert all(c == code for _, c in errors)
    assert len(values) == len(valid)  # the invalid rows were dropped


def test_typed_dates_timestamps_and_booleans() -> None:
    _, dates = errors_of(["2024-02-29", "0001-01-01"], Column(name="v", format_type="DATE"))
    assert dates == [dt.date(2024, 2, 29), dt.date(1, 1, 1)]
    _, seed_dates = errors_of(["2024-02-29"], Column(name="v", format_type="DATE_ISO8601"))
    assert seed_dates == [dt.date(2024, 2, 29)]
    _, naive = errors_of(
        ["2024-01-05", "2024-01-05T10:30", "2024-01-05 10:30:15.25"],
        Column(name="v", format_type="TIMESTAMP"),
    )
    assert naive == [
        dt.datetime(2024, 1, 5),
        dt.datetime(2024, 1, 5, 10, 30),
        dt.datetime(2024, 1, 5, 10, 30, 15, 250_000),
    ]
    _, instants = errors_of(
        ["2024-01-05T10:00Z", "2024-01-05T10:00:00+02:00", "2024-01-01 01:00-0530"],
        Column(name="v", format_type="TIMESTAMP_TZ"),
    )
    utc = dt.UTC
    assert instants == [  # stored as the UTC instant each value names
        dt.datetime(2024, 1, 5, 10, 0, tzinfo=utc),
        dt.datetime(2024, 1, 5, 8, 0, tzinfo=utc),
        dt.datetime(2024, 1, 1, 6, 30, tzinfo=utc),
    ]
    _, booleans = errors_of(["true", "FALSE", "1", "0"], Column(name="v", format_type="BOOLEAN"))
    assert booleans == [True, False, True, False]


def decimal_column(precision: int, scale: int, **extra: Any) -> Column:
    return Column(name="v", format_type="DECIMAL", precision=precision, scale=scale, **extra)


def test_decimals_are_exact_and_never_rounded() -> None:
    valid = ["1234.56", "-0.01", "+7", ".5", "5.", "0001234.50", "-9999.99", "0", "12.500000"]
    invalid = ["12345.6", "1.234", "1e3", "1,5", " 1.5", "1.5 ", "--1", ".", "+", "nan", "0x10"]
    errors, values = errors_of(valid + invalid, decimal_column(6, 2))
    assert sorted(row for row, _ in errors) == list(range(len(valid), len(valid) + len(invalid)))
    assert {code for _, code in errors} == {"INVALID_DECIMAL_FORMAT"}
    assert values == [
        Decimal("1234.56"),
        Decimal("-0.01"),
        Decimal("7.00"),
        Decimal("0.50"),
        Decimal("5.00"),
        Decimal("1234.50"),
        Decimal("-9999.99"),
        Decimal("0.00"),
        Decimal("12.50"),
    ]


def test_decimal_error_message_names_the_precision_and_scale_not_the_value() -> None:
    data = b"123456.789\n"
    result = validate_table(data, TableSchema(columns=(decimal_column(8, 2),)))
    (error,) = result.report["report"]["columns"][0]["recordedErrors"]
    assert error["message"] == (
        "value is not a decimal number that fits DECIMAL(8, 2): at most 6 digits before the "
        "point and 2 after it"
    )
    assert "123456" not in json.dumps(result.report)


def test_decimal_ranges_compare_exactly() -> None:
    column = decimal_column(10, 2, in_range={"greater_than_equals": 0.1, "less_than": 100})
    errors, values = errors_of(["0.10", "0.09", "99.99", "100.00", "-0.00"], column)
    assert errors == [
        (1, "INVALID_NUMERIC_RANGE"),
        (3, "INVALID_NUMERIC_RANGE"),
        (4, "INVALID_NUMERIC_RANGE"),
    ]
    assert values == [Decimal("0.10"), Decimal("99.99")]


def test_widest_decimal() -> None:
    big = "9" * 30 + "." + "9" * 8
    _, values = errors_of([big, "-" + big], decimal_column(38, 8))
    assert values == [Decimal(big), Decimal("-" + big)]


def test_typed_integer_and_float_values() -> None:
    _, ints = errors_of(
        CASES[FormatType.INTEGER][0], Column(name="v", format_type=FormatType.INTEGER)
    )
    assert ints == [0, 0, 5, 7, -12, 2**63 - 1, -(2**63)]
    _, floats = errors_of(
        ["1", "-1.5", "+.5", "5.", "1E-5"], Column(name="v", format_type=FormatType.FLOAT)
    )
    assert floats == [1.0, -1.5, 0.5, 5.0, 1e-5]


def test_signed_integers_mixed_with_overflow_use_the_full_pattern_and_the_overflow_check() -> None:
    values = ["+1", "2", "99999999999999999999", "-3", "x"]
    errors, typed = errors_of(values, Column(name="v", format_type=FormatType.INTEGER))
    assert errors == [(2, "INVALID_INTEGER_FORMAT"), (4, "INVALID_INTEGER_FORMAT")]
    assert typed == [1, 2, -3]


def test_hashed_column_is_validated_as_sha256_hex() -> None:
    column = Column(name="h", format_type=FormatType.EMAIL, hash_with="SHA256_HEX")
    errors, values = errors_of([SHA, "a@b.com"], column)
    assert errors == [(1, "INVALID_SHA256_HEX_FORMAT")]
    assert values == [SHA]


def test_empty_cells_in_nullable_and_non_nullable_columns() -> None:
    data = b'1,,""\n,x,y\n'
    schema = TableSchema(
        columns=(
            Column(name="n", format_type=FormatType.INTEGER, is_nullable=False),
            Column(name="a", format_type=FormatType.STRING),
            Column(name="b", format_type=FormatType.EMAIL, is_nullable=False),
        )
    )
    report = validate_table(data, schema).report["report"]
    located = [
        (e["code"], e["location"]["row"], e["location"]["column"])
        for column in report["columns"]
        for e in column["recordedErrors"]
    ]
    # Row 2's "y" is not an e-mail address: a format error, not an empty one (rows count from 1).
    assert located == [
        ("EMPTY_CELL", 2, 0),
        ("EMPTY_CELL", 1, 2),
        ("INVALID_EMAIL_FORMAT", 2, 2),
    ]
    assert report["numInvalidRowsByErrorCode"] == {"EMPTY_CELL": 2, "INVALID_EMAIL_FORMAT": 1}
    assert report["numInvalidRowsTotal"] == 2


def test_empty_cells_are_nulls_in_the_typed_table() -> None:
    schema = TableSchema(
        columns=(
            Column(name="n", format_type=FormatType.INTEGER),
            Column(name="f", format_type=FormatType.FLOAT),
            Column(name="s", format_type=FormatType.STRING),
        )
    )
    result = validate_table(b',"",\n', schema)
    assert result.table is not None
    assert result.table.to_pylist() == [{"n": None, "f": None, "s": None}]


@pytest.mark.parametrize(
    ("rule", "accepted", "rejected"),
    [
        (NumericRangeRule(greater_than=2.5), ["3", "100"], ["2", "-5"]),
        (NumericRangeRule(greater_than=2), ["3"], ["2"]),
        (NumericRangeRule(greater_than_equals=2.5, less_than=4), ["3"], ["2", "4"]),
        (NumericRangeRule(less_than_equals=-0.5), ["-1"], ["0"]),
        (NumericRangeRule(less_than_equals=1e30), ["9223372036854775807"], []),
        (NumericRangeRule(greater_than=1e30), [], ["9223372036854775807", "0"]),
        (NumericRangeRule(less_than=-1e30), [], ["-9223372036854775808"]),
    ],
)
def test_integer_ranges(rule: NumericRangeRule, accepted: list[str], rejected: list[str]) -> None:
    column = Column(name="n", format_type=FormatType.INTEGER, in_range=rule)
    errors, _ = errors_of(accepted + rejected, column)
    assert errors == [(len(accepted) + i, "INVALID_NUMERIC_RANGE") for i in range(len(rejected))]


def test_float_ranges_and_empty_cells_are_not_range_errors() -> None:
    rule = NumericRangeRule(greater_than=0, less_than_equals=1)
    column = Column(name="p", format_type=FormatType.FLOAT, in_range=rule)
    errors, values = errors_of(["0.5", "1", "", "0", "1.0000001", "-3", "x"], column)
    assert errors == [
        (3, "INVALID_NUMERIC_RANGE"),
        (4, "INVALID_NUMERIC_RANGE"),
        (5, "INVALID_NUMERIC_RANGE"),
        (6, "INVALID_FLOAT_FORMAT"),
    ]
    assert values == [0.5, 1.0, None]


def test_integer_bounds() -> None:
    assert integer_bounds(NumericRangeRule(greater_than=2.5, less_than=7.5)) == (3, 7)
    assert integer_bounds(NumericRangeRule(greater_than=2, less_than=7)) == (3, 6)
    assert integer_bounds(NumericRangeRule(greater_than_equals=-2.5, less_than_equals=7.5)) == (
        -2,
        7,
    )
    assert integer_bounds(NumericRangeRule(greater_than=1, greater_than_equals=5)) == (5, None)
