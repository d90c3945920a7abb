"""Uniqueness: which rows are duplicates, NULL semantics, typed keys, and the DuckDB lockdown."""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from sealroom.model.columns import Column, FormatType, TableSchema
from sealroom.validation import ValidationLimits, validate_table
from sealroom.validation.uniqueness import find_duplicates, open_duckdb


def uniqueness(data: bytes, schema: TableSchema) -> tuple[dict[str, Any], list[int]]:
    report = validate_table(
        data, schema, limits=ValidationLimits(max_recorded_uniqueness_errors=1000)
    ).report["report"]
    # Rows in the report count from 1; here they are 0-based record indexes.
    rows = [e["location"]["row"] - 1 for e in report["uniqueness"]["recordedErrors"]]
    return report, rows


def two_columns(
    fmt: FormatType = FormatType.STRING, unique: tuple[tuple[int, ...], ...] = ((0,),)
) -> TableSchema:
    return TableSchema(
        columns=(
            Column(name="k", format_type=fmt),
            Column(name="v", format_type=FormatType.STRING),
        ),
        unique_column_combinations=unique,
    )


def test_later_occurrences_are_duplicates_and_name_the_first() -> None:
    report, rows = uniqueness(b"a,1\nb,2\na,3\nc,4\na,5\nb,6\n", two_columns())
    assert rows == [2, 4, 5]
    messages = [e["message"] for e in report["uniqueness"]["recordedErrors"]]
    # Named by column, and rows counted from 1 as in the file.
    assert messages == [
        "the values of column 'k' repeat those of row 1",
        "the values of column 'k' repeat those of row 1",
        "the values of column 'k' repeat those of row 2",
    ]
    assert report["uniqueness"]["recordedErrors"][0]["location"] == {
        "columns": [0],
        "names": ["k"],
        "row": 3,
    }
    assert report["numInvalidRowsByErrorCode"] == {"DUPLICATE_VALUES": 3}


def test_combinations_compare_all_their_columns() -> None:
    schema = two_columns(unique=((0, 1),))
    _, rows = uniqueness(b"a,1\na,2\na,1\nb,1\n", schema)
    assert rows == [2]


def test_several_combinations_count_errors_per_combination_and_rows_once() -> None:
    schema = two_columns(unique=((0,), (1,)))
    report, rows = uniqueness(b"a,1\na,1\nb,2\n", schema)
    assert report["uniqueness"]["numErrorsTotal"] == 2
    assert rows == [1, 1]
    assert report["numInvalidRowsByErrorCode"] == {"DUPLICATE_VALUES": 1}
    assert report["numInvalidRowsTotal"] == 1


def test_nulls_are_never_duplicates() -> None:
    schema = two_columns(unique=((0, 1),))
    _, rows = uniqueness(b",1\n,1\na,\na,\n,\n,\n", schema)
    assert rows == []


def test_keys_are_compared_as_typed_values() -> None:
    _, rows = uniqueness(b"7,a\n007,b\n+7,c\n8,d\n", two_columns(FormatType.INTEGER))
    assert rows == [1, 2]
    _, rows = uniqueness(b"0.0,a\n-0.0,b\n0,c\n", two_columns(FormatType.FLOAT))
    assert rows == [1, 2]


def test_rows_with_cell_errors_take_no_part() -> None:
    schema = TableSchema(
        columns=(
            Column(name="k", format_type=FormatType.STRING),
            Column(name="n", format_type=FormatType.INTEGER),
        ),
        unique_column_combinations=((0,),),
        drop_invalid_rows=True,
    )
    result = validate_table(b"a,bad\na,1\n", schema)
    report = result.report["report"]
    assert report["uniqueness"]["numErrorsTotal"] == 0
    assert result.table is not None
    assert result.table.to_pylist() == [{"k": "a", "n": 1}]


def test_duplicate_row_numbers_skip_malformed_records() -> None:
    _, rows = uniqueness(b"a,1\nbroken\na,2\n", two_columns())
    assert rows == [2]


def test_many_duplicates_are_counted_exactly() -> None:
    data = b"".join(b"k%d,v\n" % (i % 1000) for i in range(100_000))
    report = validate_table(data, two_columns()).report["report"]
    assert report["uniqueness"]["numErrorsTotal"] == 99_000
    assert len(report["uniqueness"]["recordedErrors"]) == 100
    assert report["uniqueness"]["recordedErrors"][0]["location"]["row"] == 1001


def test_find_duplicates_on_eligible_subset() -> None:
    connection = open_duckdb(threads=1, memory_limit_bytes=256 << 20)
    try:
        keys = [pa.chunked_array([["x", "y", "x", "x", "y"]])]
        eligible = np.array([False, True, True, True, True])
        found = find_duplicates(connection, keys, eligible)
        assert found.rows.tolist() == [3, 4]
        assert found.first_rows.tolist() == [2, 1]
    finally:
        connection.close()


@pytest.mark.parametrize(
    "hash_sql",
    [
        "0::UBIGINT",  # every key collides with every other
        "(hash({keys}) % 3)::UBIGINT",  # three buckets of mixed keys
        "length(k0)::UBIGINT",  # "ab" and "cd" collide, "ab" and "abc" do not
    ],
)
def test_hash_collisions_never_change_the_answer(hash_sql: str) -> None:
    rng = np.random.default_rng(3)
    values = [str(v) for v in rng.choice(["ab", "cd", "abc", "x", "yz", "ef"], size=2000)]
    keys = [pa.chunked_array([values[:700], values[700:]])]
    eligible = rng.random(2000) < 0.9
    expected_rows: list[int] = []
    expected_firsts: list[int] = []
    first_seen: dict[str, int] = {}
    for position, value in enumerate(values):
        if not eligible[position]:
            continue
        if value in first_seen:
            expected_rows.append(position)
            expected_firsts.append(first_seen[value])
        else:
            first_seen[value] = position
    connection = open_duckdb(threads=2, memory_limit_bytes=256 << 20)
    try:
        found = find_duplicates(connection, keys, eligible, hash_sql=hash_sql)
    finally:
        connection.close()
    assert found.rows.tolist() == expected_rows
    assert found.first_rows.tolist() == expected_firsts


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/sealroom-validation-should-not-exist.csv'",
        "ATTACH '/tmp/sealroom-validation-should-not-exist.db'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        "SET temp_directory = '/tmp'",
        "SET threads = 64",
    ],
)
def test_duckdb_connection_is_locked_down(statement: str) -> None:
    connection = open_duckdb(threads=1, memory_limit_bytes=256 << 20)
    try:
        with pytest.raises(duckdb.Error):
            connection.execute(statement)
        settings = connection.sql(
            "SELECT current_setting('temp_directory'), current_setting('threads'), "
            "current_setting('python_enable_replacements')"
        ).fetchall()
        assert settings == [("", 1, False)]
    finally:
        connection.close()


def test_duckdb_does_not_see_python_variables() -> None:
    secret_table = pa.table({"x": [1]})  # noqa: F841 - would be found by a replacement scan
    connection = open_duckdb(threads=1, memory_limit_bytes=256 << 20)
    try:
        with pytest.raises(duckdb.CatalogException):
            connection.execute("SELECT * FROM secret_table")
    finally:
        connection.close()
