"""Preparing a file for a table on the owner's machine: encodings, delimiters, headers mapped by
name, number formats, and the core's own validation before anything is sent."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sealroom.analytics.provisioning import CsvFormat, PreparedTable, prepare_table
from sealroom.errors import DatasetRejectedError
from sealroom.model.columns import Column, FormatType, TableSchema

CUSTOMERS = TableSchema(
    columns=(
        Column(name="email", format_type=FormatType.EMAIL, is_nullable=False),
        Column(name="city", format_type=FormatType.STRING),
        Column(name="since", format_type=FormatType.DATE),
        Column(name="balance", format_type=FormatType.DECIMAL, precision=12, scale=2),
    )
)
ROWS = [
    ("ann@bank.example", "Zürich", "2024-01-31", "1234567.50"),
    ("bob@bank.example", "Genève, GE", "2023-12-01", "-12.00"),
]
CANONICAL = (
    "ann@bank.example,Zürich,2024-01-31,1234567.50\n"
    'bob@bank.example,"Genève, GE",2023-12-01,-12.00\n'
).encode()


def uploaded(prepared: PreparedTable) -> list[tuple[str, ...]]:
    """The upload read back as the core reads it: positional, no header."""
    table = pacsv.read_csv(
        pa.BufferReader(prepared.data),
        read_options=pacsv.ReadOptions(column_names=["a", "b", "c", "d"]),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys("abcd", pa.string())),
    )
    return [tuple(row.values()) for row in table.to_pylist()]


def test_a_file_in_the_seed_format_is_uploaded_byte_for_byte() -> None:
    prepared = prepare_table(CANONICAL, CUSTOMERS)
    assert prepared.data.to_pybytes() == CANONICAL
    assert (prepared.header_rows, prepared.mapping, prepared.notes) == (0, None, ())
    assert prepared.problem is None
    assert prepared.report["report"]["outcome"] == "PASSED"
    assert prepared.num_rows == 2


def test_a_header_in_another_order_is_mapped_by_name() -> None:
    text = "Balance;Since;EMAIL;City\r\n" + "".join(
        f'{b.replace(".", ",")};{s};{e};"{c}"\r\n' for e, c, s, b in ROWS
    )
    prepared = prepare_table(text.encode("cp1252"), CUSTOMERS, CsvFormat(decimal_comma=True))
    assert prepared.header_rows == 1
    assert prepared.mapping == ("EMAIL", "City", "Since", "Balance")
    assert prepared.delimiter == ";"
    assert prepared.encoding == "cp1252"
    assert uploaded(prepared) == ROWS
    assert any("Windows-1252" in note for note in prepared.notes)
    assert any("mapped by name" in note for note in prepared.notes)
    assert prepared.report["report"]["outcome"] == "PASSED"


def test_thousands_separators_are_removed_from_number_columns_only() -> None:
    text = 'email,city,since,balance\nann@bank.example,"1,2,3",2024-01-31,"1,234,567.50"\n'
    prepared = prepare_table(text.encode(), CUSTOMERS, CsvFormat(thousands_separator=","))
    assert uploaded(prepared) == [("ann@bank.example", "1,2,3", "2024-01-31", "1234567.50")]
    without = prepare_table(text.encode(), CUSTOMERS)
    assert without.problem is not None
    assert any("--thousands-separator ','" in h for h in without.report["report"]["hints"])


def test_missing_extra_and_misspelled_columns_are_refused_with_the_closest_name() -> None:
    text = b"e-mail,cty,since,balance,notes\nann@bank.example,Bern,2024-01-31,1.00,x\n"
    with pytest.raises(DatasetRejectedError) as refused:
        prepare_table(text, CUSTOMERS, CsvFormat(header=True))
    assert str(refused.value) == (
        "the file's header does not match the table's columns:\n"
        "  - the file has no column 'city': is its column 'cty' it? (rename it in the header)\n"
        "  - the file's column 'notes' is not a column of the table\n"
        "  the table's columns: email, city, since, balance"
    )
    assert refused.value.stage == "local"


def test_a_repeated_column_is_refused() -> None:
    with pytest.raises(DatasetRejectedError, match="'city' appears twice"):
        prepare_table(b"email,city,city,balance\n", CUSTOMERS, CsvFormat(header=True))


def test_a_header_is_detected_and_a_near_header_gets_a_hint() -> None:
    assert prepare_table(b"email,city,since,balance\n" + CANONICAL, CUSTOMERS).header_rows == 1
    near = prepare_table(b"emial,citty,sinse,balanse\n" + CANONICAL, CUSTOMERS)
    assert near.header_rows == 0
    assert near.problem is not None
    assert any("looks like a header" in hint for hint in near.report["report"]["hints"])


def test_a_failed_file_keeps_its_report_and_shows_the_owner_its_rows() -> None:
    text = (
        b"email,city,since,balance\n"
        b"ann@bank.example,Bern,31/01/2024,1.00\n"
        b"not-an-email,Bern,2024-01-31,2.00\n"
    )
    prepared = prepare_table(text, CUSTOMERS)
    assert prepared.problem == "it failed validation (2 of 2 rows invalid)"
    # Rows counted as in the file: the header is row 1.
    assert sorted(prepared.samples) == [2, 3]
    assert prepared.samples[2]["since"] == "31/01/2024"
    with pytest.raises(DatasetRejectedError) as refused:
        prepared.check()
    assert refused.value.report is prepared.report
    assert refused.value.header_rows == 1


def test_too_many_dropped_rows_can_be_a_failure() -> None:
    schema = CUSTOMERS.model_copy(update={"drop_invalid_rows": True})
    text = CANONICAL + b"bad,Bern,2024-01-31,1.00\n"
    assert prepare_table(text, schema).problem is None
    prepared = prepare_table(text, schema, max_dropped_share=0.25)
    assert prepared.problem == "1 of 3 rows would be dropped, more than the 25.0% allowed"


def test_a_byte_order_mark_and_utf16_are_read() -> None:
    assert uploaded(prepare_table(b"\xef\xbb\xbf" + CANONICAL, CUSTOMERS)) == ROWS
    text = CANONICAL.decode("utf-8")
    assert uploaded(prepare_table(text.encode("utf-16"), CUSTOMERS)) == ROWS


def test_rows_of_another_width_are_refused_before_anything_else() -> None:
    text = b"email;city;since;balance\nann@bank.example;Bern;2024-01-31;1,00\nx;y\n"
    with pytest.raises(DatasetRejectedError, match="1 rows of the file do not have the header's 4"):
        prepare_table(text, CUSTOMERS, CsvFormat(decimal_comma=True))


def test_wrong_options_are_refused_with_what_is_allowed() -> None:
    with pytest.raises(DatasetRejectedError, match="unknown encoding 'klingon'"):
        CsvFormat(encoding="klingon")
    with pytest.raises(DatasetRejectedError, match="both the decimal comma"):
        CsvFormat(decimal_comma=True, thousands_separator=",")
    with pytest.raises(DatasetRejectedError, match="one character"):
        CsvFormat(delimiter=";;")


def test_decimals_arrive_exact() -> None:
    text = "email;city;since;balance\nann@bank.example;Bern;2024-01-31;1.234.567,89\n"
    prepared = prepare_table(
        text.encode(), CUSTOMERS, CsvFormat(decimal_comma=True, thousands_separator=".")
    )
    assert uploaded(prepared)[0][3] == "1234567.89"
    assert Decimal(uploaded(prepared)[0][3]) == Decimal("1234567.89")
