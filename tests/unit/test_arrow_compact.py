"""The core's compact form of validated tables: the same values and SQL types, stored the way
DuckDB stores them; scripts and the synthesizer still read plain types."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sealroom.compute.arrow_types import compact
from sealroom.compute.scripts.layout import read_table_dir, write_table_dir
from sealroom.enclave.synthetic import synthesis_input
from sealroom.model.columns import Column, FormatType, TableSchema
from sealroom.validation import arrow_schema, validate_table

ROWS = 5_000
SCHEMA = TableSchema(
    columns=(
        Column(name="id", format_type=FormatType.INTEGER, is_nullable=False),
        Column(name="flag", format_type=FormatType.STRING, is_nullable=False),
        Column(name="note", format_type=FormatType.STRING),
        Column(name="price", format_type=FormatType.DECIMAL, precision=15, scale=2),
        Column(name="wide", format_type=FormatType.DECIMAL, precision=30, scale=4),
        Column(name="day", format_type=FormatType.DATE),
    )
)


def csv_rows() -> bytes:
    lines = []
    for i in range(ROWS):
        flag = "ARN"[i % 3]
        note = "" if i % 7 == 0 else f"note {i}"  # empty: NULL
        lines.append(f"{i},{flag},{note},{i}.{i % 100:02d},-{i}.5,2024-01-{1 + i % 28:02d}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def validated() -> pa.Table:
    result = validate_table(csv_rows(), SCHEMA)
    assert result.passed
    assert result.table is not None
    return result.table


def test_validated_tables_are_kept_compact(validated: pa.Table) -> None:
    kinds = {field.name: field.type for field in validated.schema}
    assert kinds["price"] == pa.decimal64(15, 2)
    assert kinds["wide"] == pa.decimal128(30, 4)  # more than 18 digits: 128 bits as before
    assert pa.types.is_dictionary(kinds["flag"])  # 3 distinct values in 5,000 rows
    assert kinds["note"] == pa.string()  # every value differs
    assert kinds["day"] == pa.date32()
    # Nullability is kept.
    plain = arrow_schema(SCHEMA)
    assert [f.nullable for f in validated.schema] == [f.nullable for f in plain]


def test_compact_keeps_every_value(validated: pa.Table) -> None:
    plain = validated.cast(arrow_schema(SCHEMA))
    assert plain.column("price")[12].as_py() == Decimal("12.12")
    assert plain.column("flag").to_pylist()[:4] == ["A", "R", "N", "A"]
    assert plain.column("note")[0].as_py() is None
    assert compact(plain).cast(arrow_schema(SCHEMA)).equals(plain)


def test_sql_sees_the_declared_types_and_returns_plain_ones(validated: pa.Table) -> None:
    connection = duckdb.connect(":memory:")
    try:
        connection.register("t", validated)
        types = connection.execute(
            "SELECT typeof(flag), typeof(price), typeof(wide) FROM t LIMIT 1"
        ).fetchall()
        assert types == [("VARCHAR", "DECIMAL(15,2)", "DECIMAL(30,4)")]
        result = connection.sql(
            "SELECT flag, sum(price) AS total FROM t GROUP BY flag ORDER BY flag"
        ).to_arrow_table()
    finally:
        connection.close()
    assert result.schema.field("flag").type == pa.string()
    assert result.column("flag").to_pylist() == ["A", "N", "R"]
    expected = sum(Decimal(f"{i}.{i % 100:02d}") for i in range(ROWS) if i % 3 == 0)
    assert result.column("total")[0].as_py() == expected


def test_a_column_that_looks_repetitive_at_first_but_is_not_stays_plain() -> None:
    # The first 65,536 rows hold one value; after them every value differs.
    values = ["same"] * 65_536 + [f"v{i}" for i in range(100_000)]
    table = compact(pa.table({"s": values}))
    assert table.schema.field("s").type == pa.string()


def test_scripts_and_the_synthesizer_read_plain_types(validated: pa.Table, tmp_path: Path) -> None:
    write_table_dir(validated, tmp_path)
    written = (tmp_path / "dataset.csv").read_text().splitlines()
    assert written[12] == '12,"A","note 12",12.12,-12.5000,2024-01-13'
    back = read_table_dir(tmp_path)
    assert back is not None
    assert back.schema.field("flag").type == pa.string()
    assert back.schema.field("price").type == pa.decimal128(15, 2)
    synthesis = synthesis_input(validated)
    assert synthesis.schema.field("flag").type == pa.string()
    assert synthesis.schema.field("price").type == pa.float64()
