"""Tables on disk for scripts (``dataset.csv`` + ``types.json``) and the output zip.

``types.json`` is ``{"columns": [{"name", "type": "string"|"integer"|"float", "nullable"}]}``.
Only integer and floating-point columns keep their type; everything else is written as text,
which is what a downstream SQL node or ``sealroom_util.read_tabular_data`` reads back.

Invariant: these files are written only inside the core's RAM-backed scratch directory.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

RUNTIME_DIR = Path(__file__).parent / "runtime"
DATASET_FILE = "dataset.csv"
TYPES_FILE = "types.json"

_ARROW_TYPES = {"integer": pa.int64(), "float": pa.float64(), "string": pa.string()}


def column_type(data_type: pa.DataType) -> str:
    """The type a script sees for a column of this Arrow type (in ``types.json``)."""
    if pa.types.is_integer(data_type):
        return "integer"
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "float"
    return "string"


def write_table_dir(table: pa.Table, directory: Path) -> None:
    """Write ``table`` as ``dataset.csv`` (no header) and ``types.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    kinds = [column_type(field.type) for field in table.schema]
    columns = [
        column.cast(_ARROW_TYPES[kind])
        if kind != "string" or column.type != pa.string()
        else column
        for column, kind in zip(table.columns, kinds, strict=True)
    ]
    normalised = pa.Table.from_arrays(columns, names=table.column_names)
    pacsv.write_csv(
        normalised,
        str(directory / DATASET_FILE),
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    types = {
        "columns": [
            {"name": field.name, "type": kind, "nullable": field.nullable}
            for field, kind in zip(table.schema, kinds, strict=True)
        ]
    }
    # UTF-8 rather than \u escapes: R's reader (runtime/sealroom_util.R) decodes the escapes of
    # the BMP only, and column names may hold any character.
    (directory / TYPES_FILE).write_text(json.dumps(types, indent=1, ensure_ascii=False), "utf-8")


def read_table_dir(directory: Path) -> pa.Table | None:
    """The table a script wrote (``dataset.csv`` + optional ``types.json``), or None."""
    dataset = directory / DATASET_FILE
    if not dataset.is_file():
        return None
    types_path = directory / TYPES_FILE
    if types_path.is_file():
        spec = json.loads(types_path.read_text("utf-8"))["columns"]
        names = [str(c["name"]) for c in spec]
        column_types = {str(c["name"]): _ARROW_TYPES.get(str(c["type"]), pa.string()) for c in spec}
        read = pacsv.ReadOptions(column_names=names)
    else:
        read = pacsv.ReadOptions(autogenerate_column_names=True)
        column_types = {}
    if dataset.stat().st_size == 0:
        return pa.table({name: pa.array([], type=t) for name, t in column_types.items()})
    return pacsv.read_csv(
        str(dataset),
        read_options=read,
        convert_options=pacsv.ConvertOptions(
            column_types=column_types, null_values=[""], strings_can_be_null=True
        ),
    )


def zip_directory(directory: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """Zip every regular file under ``directory`` (relative paths, sorted), plus ``extra``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for root, dirs, files in os.walk(directory, followlinks=False):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                if path.is_symlink() or not path.is_file():
                    continue
                archive.write(path, path.relative_to(directory).as_posix())
        for name, content in sorted((extra or {}).items()):
            archive.writestr(name, content)
    return buffer.getvalue()
