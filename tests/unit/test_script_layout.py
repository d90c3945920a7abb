"""How tables reach scripts and come back (dataset.csv + types.json), and the output zip."""

from __future__ import annotations

import csv
import io
import os
import sys
import zipfile
from pathlib import Path

import pyarrow as pa

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
    assert back.schema.field("flag").type == pa.string()  # other types travel as text


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


def test_the_zip_keeps_subdirectories_and_skips_links(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("A")
    (tmp_path / "sub" / "b.txt").write_text("B")
    os.symlink("/etc/passwd", tmp_path / "link")
    archive = zipfile.ZipFile(io.BytesIO(zip_directory(tmp_path, {"logs/stdout.txt": b"hi"})))
    assert sorted(archive.namelist()) == ["a.txt", "logs/stdout.txt", "sub/b.txt"]
