"""How tables reach scripts and come back (dataset.csv + types.json), and the output zip."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sys
import zipfile
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.scripts import RUNTIME_DIR, read_table_dir, write_table_dir, zip_directory


def test_a_table_round_trips_with_its_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "name": pa.array(["a", "b, with comma", None]),
            "n": pa.array([1, None, 3], pa.int64()),
            "x": pa.array([1.5, 2.0, None]),
            "flag": pa.array([True, False, None]),
        }
    )
    write_table_dir(table, tmp_path / "t")
    rows = list(csv.reader((tmp_path / "t" / "dataset.csv").read_text().splitlines()))
    assert rows[1] == ["b, with comma", "", "2", "false"]  # no header; empty means null
    back = read_table_dir(tmp_path / "t")
    assert back is not None
    assert back.column("n").to_pylist() == [1, None, 3]
    assert back.column("x").to_pylist() == [1.5, 2.0, None]
    assert back.column("name").to_pylist() == ["a", "b, with comma", None]
    assert back.schema.field("flag").type == pa.bool_()
    assert back.column("flag").to_pylist() == [True, False, None]


def typed_table() -> pa.Table:
    """One column of every type a room's SQL can hand a script, each with a NULL."""
    return pa.table(
        {
            "d": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
            "ts": pa.array([dt.datetime(2024, 1, 5, 10, 0, 1, 5), None], pa.timestamp("us")),
            "tz": pa.array(
                [dt.datetime(2024, 1, 5, 10, tzinfo=dt.UTC), None], pa.timestamp("us", tz="UTC")
            ),
            "m": pa.array([Decimal("-1234567890123.45"), None], pa.decimal128(15, 2)),
            "b": pa.array([False, None], pa.bool_()),
            "l": pa.array([[1, 2], None], pa.list_(pa.int64())),
        }
    )


def test_every_room_type_round_trips_exactly(tmp_path: Path) -> None:
    table = typed_table()
    write_table_dir(table, tmp_path / "t")
    types = json.loads((tmp_path / "t" / "types.json").read_text())["columns"]
    assert [(c["name"], c["type"]) for c in types] == [
        ("d", "date"),
        ("ts", "timestamp"),
        ("tz", "timestamp_tz"),
        ("m", "decimal"),
        ("b", "boolean"),
        ("l", "string"),  # no room type: text
    ]
    assert (types[3]["precision"], types[3]["scale"]) == (15, 2)
    back = read_table_dir(tmp_path / "t")
    assert back is not None
    assert back.drop_columns(["l"]).equals(table.drop_columns(["l"]))
    assert back.column("l").to_pylist() == ["[1, 2]", None]


def test_a_timestamp_in_another_zone_is_written_as_its_utc_instant(tmp_path: Path) -> None:
    zoned = pa.array([dt.datetime(2024, 1, 5, 12, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC"))
    table = pa.table({"t": zoned.cast(pa.timestamp("us", tz="Europe/Zurich"))})
    write_table_dir(table, tmp_path / "t")
    back = read_table_dir(tmp_path / "t")
    assert back is not None
    assert back.column("t").type == pa.timestamp("us", tz="UTC")
    assert back.column("t").to_pylist() == [dt.datetime(2024, 1, 5, 12, tzinfo=dt.UTC)]


def test_a_bad_decimal_declaration_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dataset.csv").write_text("1.5\n")
    (tmp_path / "types.json").write_text(
        json.dumps({"columns": [{"name": "m", "type": "decimal", "nullable": True}]})
    )
    with pytest.raises(ValueError, match="precision"):
        read_table_dir(tmp_path)


def test_sealroom_util_reads_and_writes_the_same_layout(tmp_path: Path) -> None:
    sys.path.insert(0, str(RUNTIME_DIR))
    try:
        import sealroom_util  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(RUNTIME_DIR))
    write_table_dir(
        pa.table({"n": pa.array([1, None], pa.int64()), "s": ["x", "y"]}), tmp_path / "in"
    )
    df = sealroom_util.read_tabular_data(str(tmp_path / "in"))
    assert str(df["n"].dtype) == "Int64"
    df["n"] = df["n"] * 2
    sealroom_util.write_tabular_data(df, str(tmp_path / "out"))
    back = read_table_dir(tmp_path / "out")
    assert back is not None
    assert back.column("n").to_pylist() == [2, None]


def test_sealroom_util_keeps_every_type(tmp_path: Path) -> None:
    sys.path.insert(0, str(RUNTIME_DIR))
    try:
        import sealroom_util
    finally:
        sys.path.remove(str(RUNTIME_DIR))
    table = typed_table().drop_columns(["l"])
    write_table_dir(table, tmp_path / "in")
    df = sealroom_util.read_tabular_data(str(tmp_path / "in"))
    assert {name: str(dtype) for name, dtype in df.dtypes.items()} == {
        "d": "datetime64[us]",
        "ts": "datetime64[us]",
        "tz": "datetime64[us, UTC]",
        "m": "object",
        "b": "boolean",
    }
    assert df["m"][0] == Decimal("-1234567890123.45")  # exact, not a float
    df["m"] = df["m"].map(lambda value: value * 2, na_action="ignore")
    sealroom_util.write_tabular_data(df, str(tmp_path / "out"))
    back = read_table_dir(tmp_path / "out")
    assert back is not None
    assert back.column("m").type == pa.decimal128(38, 2)
    assert back.column("m").to_pylist() == [Decimal("-2469135780246.90"), None]
    assert back.column("tz").to_pylist() == table.column("tz").to_pylist()
    assert back.column("ts").to_pylist() == table.column("ts").to_pylist()
    assert back.column("b").to_pylist() == [False, None]
    # pandas has no date type: a date comes back as a timestamp at midnight.
    assert back.column("d").to_pylist() == [dt.datetime(2024, 2, 29), None]


def test_the_zip_keeps_subdirectories_and_skips_links(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("A")
    (tmp_path / "sub" / "b.txt").write_text("B")
    os.symlink("/etc/passwd", tmp_path / "link")
    archive = zipfile.ZipFile(io.BytesIO(zip_directory(tmp_path, {"logs/stdout.txt": b"hi"})))
    assert sorted(archive.namelist()) == ["a.txt", "logs/stdout.txt", "sub/b.txt"]
