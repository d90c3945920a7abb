"""The report's hints and warnings: what to do about the errors, said from counts, never values."""

from __future__ import annotations

import json
from typing import Any

from sealroom.model.columns import Column, FormatType, TableSchema
from sealroom.validation import validate_table

ACCOUNTS = TableSchema(
    columns=(
        Column(name="name", format_type=FormatType.STRING),
        Column(name="opened", format_type=FormatType.DATE),
        Column(name="balance", format_type=FormatType.DECIMAL, precision=15, scale=2),
        Column(name="active", format_type=FormatType.BOOLEAN),
    )
)


def report(data: bytes, schema: TableSchema = ACCOUNTS) -> dict[str, Any]:
    body = validate_table(data, schema).report["report"]
    assert isinstance(body, dict)
    return body


def test_a_clean_file_has_no_hints() -> None:
    assert report(b"Ann,2024-01-31,1234.50,true\n")["hints"] == []


def test_thousands_separators_are_recognised_and_counted() -> None:
    data = (
        b'Ann,2024-01-31,"1,234.50",true\nBob,2024-02-01,"12,345,678.00",false\nCy,2024-02-02,7,0\n'
    )
    body = report(data)
    assert body["outcome"] == "FAILED"
    assert body["hints"] == [
        "column 'balance': numbers with thousands separators (1,234,567.89) in 2 cells: remove "
        "the separators, or provision with --thousands-separator ',' (thousands_separator=',' "
        "in the SDK)"
    ]
    text = json.dumps(body)
    assert "1,234.50" not in text
    assert "12,345,678.00" not in text


def test_decimal_commas_and_dots_as_thousands_separators() -> None:
    body = report(b'Ann,2024-01-31,"12,5",true\nBob,2024-01-31,"1.234,50",true\n')
    hints = body["hints"]
    assert any(
        "column 'balance': numbers with a decimal comma (12,5) in 1 cell:" in h for h in hints
    )
    assert any("numbers written 1.234.567,89 in 1 cell" in h for h in hints)


def test_dates_written_day_first_and_yes_no_booleans() -> None:
    body = report(b"Ann,31/01/2024,1.00,yes\nBob,01.02.2024,2.00,no\n")
    assert body["hints"] == [
        "column 'opened': dates written day or month first (31/01/2024) in 2 cells: "
        "write dates as YYYY-MM-DD (2024-01-31)",
        "column 'active': yes/no in 2 cells: a BOOLEAN column takes true, false, 1 or 0",
    ]


def test_a_windows_1252_file_is_told_to_use_its_encoding() -> None:
    body = report("Zoë,2024-01-31,1.00,true\n".encode("cp1252"))
    assert body["table"]["numErrorsTotal"] + body["schema"]["numErrorsTotal"] == 1
    assert any("--encoding cp1252" in hint for hint in body["hints"])


def test_a_semicolon_file_is_told_about_the_delimiter() -> None:
    body = report(b"Ann;2024-01-31;1.00;true\nBob;2024-01-31;2.00;false\n")
    assert body["numInvalidRowsByErrorCode"] == {"NOT_ENOUGH_COLUMNS_PROVIDED": 2}
    assert any("--delimiter ';'" in hint for hint in body["hints"])


def test_a_header_row_is_recognised() -> None:
    body = report(b"name,opened,balance,active\nAnn,2024-01-31,1.00,true\n")
    assert [e["location"]["row"] for c in body["columns"] for e in c["recordedErrors"]] == [1, 1, 1]
    assert any("if it is a header row" in hint for hint in body["hints"])


def test_dropped_rows_are_a_warning_with_the_counts() -> None:
    schema = ACCOUNTS.model_copy(update={"drop_invalid_rows": True})
    data = b"Ann,2024-01-31,1.00,true\nBob,someday,2.00,false\nCy,never,3.00,true\n"
    body = report(data, schema)
    assert body["outcome"] == "PASSED"
    assert body["warnings"] == [
        "2 of 3 rows (66.7%) failed validation and were dropped (drop_invalid_rows); 1 remain"
    ]
    assert report(b"Ann,2024-01-31,1.00,true\n", schema)["warnings"] == []
