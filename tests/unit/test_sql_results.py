"""Result encodings: CSV byte for byte as DuckDB writes it, and Arrow IPC streams."""

from __future__ import annotations

import datetime
import decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sealroom.compute.sql import SqlLimits, run_sql, table_from_ipc, table_to_csv, table_to_ipc


def duckdb_copy_csv(table: pa.Table, directory: Path) -> bytes:
    """What DuckDB's own CSV writer produces for ``table`` (the reference we must match)."""
    path = directory / "reference.csv"
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("reference_table", table)
        connection.execute(f"COPY reference_table TO '{path}' (HEADER true)")
    finally:
        connection.close()
    return path.read_bytes()


# --- known answers ---------------------------------------------------------------------------


def test_tutorial_sum_prints_like_duckdb(tmp_path: Path) -> None:
    result = run_sql(
        "SELECT SUM(x) FROM t",
        {"t": pa.table({"x": [10.0, 12.0, 7.0]})},
        limits=SqlLimits(),
        scratch_dir=tmp_path,
    )
    assert table_to_csv(result) == b"sum(x)\n29.0\n"


def test_known_answer_integers_and_nulls() -> None:
    table = pa.table({"id": pa.array([7, None, -3], pa.int64()), "name": ["a", None, "b"]})
    assert table_to_csv(table) == b"id,name\n7,a\n,\n-3,b\n"


def test_known_answer_quoting() -> None:
    table = pa.table(
        {
            "text": ["plain", "", "a,b", 'say "hi"', "two\nlines", "cr\rx", "#tag", " pad ", None],
        }
    )
    expected = (
        b"text\n"
        b"plain\n"
        b'""\n'  # an empty string is quoted, so that it differs from NULL
        b'"a,b"\n'
        b'"say ""hi"""\n'
        b'"two\nlines"\n'
        b'"cr\rx"\n'
        b'"#tag"\n'
        b" pad \n"
        b"\n"  # NULL
    )
    assert table_to_csv(table) == expected


def test_known_answer_header_quoting() -> None:
    table = pa.table({"a,b": [1], 'q"': [2], "#c": [3], "sum(x)": [4], "": [5]})
    assert table_to_csv(table) == b'"a,b","q""","#c",sum(x),""\n1,2,3,4,5\n'


def test_known_answer_floats() -> None:
    table = pa.table({"x": [29.0, 0.1, 1e20, -0.0, float("nan"), float("inf"), 1e-7]})
    assert table_to_csv(table) == b"x\n29.0\n0.1\n1e+20\n-0.0\nnan\ninf\n1e-07\n"


def test_empty_tables() -> None:
    assert (
        table_to_csv(pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}))
        == b"a,b\n"
    )
    assert table_to_csv(pa.table({})) == b""


def test_utf8_passes_through() -> None:
    assert table_to_csv(pa.table({"ville": ["Zürich", "東京"]})) == "ville\nZürich\n東京\n".encode()


# --- differential: the same bytes as DuckDB's COPY ... TO ------------------------------------


def typed_table() -> pa.Table:
    return pa.table(
        {
            "i": pa.array([1, None, -(2**63)], pa.int64()),
            "i32": pa.array([5, 6, None], pa.int32()),
            "f": pa.array([29.0, None, 1.5e300], pa.float64()),
            "f32": pa.array([1.5, 0.1, None], pa.float32()),
            "d": pa.array(
                [decimal.Decimal("1.50"), None, decimal.Decimal("-0.01")], pa.decimal128(10, 2)
            ),
            "s": ["x,y", "", None],
            "b": [True, False, None],
            "day": pa.array([datetime.date(2024, 1, 2), None, datetime.date(1, 1, 1)]),
            "ts": pa.array(
                [datetime.datetime(2024, 1, 2, 3, 4, 5, 500000), None, None], pa.timestamp("us")
            ),
            "tz": pa.array(
                [datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), None, None],
                pa.timestamp("us", tz="UTC"),
            ),
            "l": pa.array([[1, 2], None, []], pa.list_(pa.int64())),
            "ls": pa.array([["a,b", None], None, []], pa.list_(pa.string())),
            "st": pa.array([{"k": "v,w"}, None, {"k": None}], pa.struct([("k", pa.string())])),
            "blob": pa.array([b"\x00\xff", None, b"ok"], pa.binary()),
        }
    )


def test_matches_duckdb_writer_for_many_types(tmp_path: Path) -> None:
    table = typed_table()
    assert table_to_csv(table) == duckdb_copy_csv(table, tmp_path)


def test_matches_duckdb_writer_for_tricky_strings(tmp_path: Path) -> None:
    strings = [
        "a#b",
        "#",
        "\x00",
        "\\",
        "'",
        "\t",
        " ",
        "NULL",
        "null",
        '"',
        '""',
        "\r\n",
        "é",
        ";",
        "a\u2028b",
    ]
    table = pa.table({"s": strings, "n": list(range(len(strings)))})
    assert table_to_csv(table) == duckdb_copy_csv(table, tmp_path)


def test_matches_duckdb_writer_for_a_query_result(tmp_path: Path) -> None:
    result = run_sql(
        "SELECT i, i / 3 AS third, i::VARCHAR || ',' AS label, [i, i] AS pair, "
        "{'k': i} AS rec, DATE '2024-01-01' + i::INTEGER AS day, i::HUGEINT AS big "
        "FROM range(50) r(i)",
        {},
        limits=SqlLimits(),
        scratch_dir=tmp_path,
    )
    assert table_to_csv(result) == duckdb_copy_csv(result, tmp_path)


def test_many_batches_chunks_and_slices_keep_order(tmp_path: Path) -> None:
    rows = 200_000  # several fetch batches
    ids = pa.array(range(rows), pa.int64())
    names = pa.array([f"n{i}" if i % 7 else f"n,{i}" for i in range(rows)])
    table = pa.Table.from_batches(
        pa.table({"id": ids, "name": names}).slice(3, rows - 10).to_batches(max_chunksize=33_333)
    )
    assert table.column(0).num_chunks > 1
    assert table_to_csv(table) == duckdb_copy_csv(table, tmp_path)


def test_duplicate_column_names_are_kept() -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["x", "x"])
    assert table_to_csv(table) == b"x,x\n1,2\n"


# --- Arrow IPC stream ------------------------------------------------------------------------


def test_ipc_round_trip_keeps_types_and_values() -> None:
    table = typed_table()
    restored = table_from_ipc(table_to_ipc(table))
    assert restored.schema == table.schema
    assert restored.equals(table)


def test_ipc_is_the_stream_format() -> None:
    data = table_to_ipc(pa.table({"a": pa.array([1, 2], pa.int64())}))
    # Stream format: each message starts with the 0xFFFFFFFF continuation marker, the stream ends
    # with the end-of-stream marker (continuation + zero length); no "ARROW1" file magic.
    assert data[:4] == b"\xff\xff\xff\xff"
    assert data[-8:] == b"\xff\xff\xff\xff\x00\x00\x00\x00"
    assert b"ARROW1" not in data
    with pa.ipc.open_stream(data) as reader:
        assert reader.read_all().column("a").to_pylist() == [1, 2]


def test_ipc_of_an_empty_table() -> None:
    table = pa.table({"a": pa.array([], pa.string())})
    assert table_from_ipc(table_to_ipc(table)).equals(table)


@pytest.mark.parametrize("data", [b"", b"not arrow", b"\xff\xff\xff\xff\x10\x00\x00\x00garbage"])
def test_ipc_rejects_garbage(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a valid Arrow IPC stream"):
        table_from_ipc(data)


def test_ipc_rejects_truncation() -> None:
    data = table_to_ipc(pa.table({"a": pa.array(range(1000), pa.int64())}))
    with pytest.raises(ValueError, match="not a valid Arrow IPC stream"):
        table_from_ipc(data[: len(data) // 2])
