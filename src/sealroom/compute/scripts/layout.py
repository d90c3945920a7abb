"""Tables on disk for scripts (``dataset.csv`` + ``types.json``) and the output zip.

``types.json`` is ``{"columns": [{"name", "type", "nullable"[, "precision", "scale"]}]}`` with
``type`` one of ``string``, ``integer``, ``float``, ``decimal`` (with ``precision`` and
``scale``), ``boolean``, ``date``, ``timestamp`` (no zone) and ``timestamp_tz`` (UTC): the
primitive types of the room's columns (:class:`~sealroom.model.columns.PrimitiveType`). Any
other Arrow type (a list, a struct, an interval) is written as text.

``dataset.csv`` has no header; values are written as Arrow's CSV writer writes them: dates
``YYYY-MM-DD``, timestamps ``YYYY-MM-DD hh:mm:ss.ffffff`` (``Z`` after a UTC one), decimals with
exactly their scale, booleans ``true``/``false``, NULL as the empty field.

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

from sealroom.compute.arrow_types import ARROW_TYPES
from sealroom.model.columns import MAX_DECIMAL_PRECISION, PrimitiveType

RUNTIME_DIR = Path(__file__).parent / "runtime"
DATASET_FILE = "dataset.csv"
TYPES_FILE = "types.json"

# Rendering a nested column as text: a cap on DuckDB's memory and time for that alone.
_TEXT_MEMORY_LIMIT_BYTES = 1 << 30
_TEXT_MAX_EXECUTION_MS = 600_000
_KNOWN = frozenset(PrimitiveType)


def column_type(data_type: pa.DataType) -> PrimitiveType:
    """The type a script sees for a column of this Arrow type (in ``types.json``)."""
    if pa.types.is_integer(data_type):
        return PrimitiveType.INTEGER
    if pa.types.is_floating(data_type):
        return PrimitiveType.FLOAT
    if pa.types.is_decimal(data_type):
        # decimal256 (precision above 38) has no room type: scripts read it as a float.
        if data_type.precision <= MAX_DECIMAL_PRECISION:
            return PrimitiveType.DECIMAL
        return PrimitiveType.FLOAT
    if pa.types.is_boolean(data_type):
        return PrimitiveType.BOOLEAN
    if pa.types.is_date(data_type):
        return PrimitiveType.DATE
    if pa.types.is_timestamp(data_type):
        return PrimitiveType.TIMESTAMP if data_type.tz is None else PrimitiveType.TIMESTAMP_TZ
    return PrimitiveType.STRING


def _column_spec(field: pa.Field, kind: PrimitiveType) -> dict[str, object]:
    spec: dict[str, object] = {"name": field.name, "type": kind.value, "nullable": field.nullable}
    if kind is PrimitiveType.DECIMAL:
        spec["precision"] = field.type.precision
        spec["scale"] = field.type.scale
    return spec


def _arrow_type(spec: dict[str, object]) -> pa.DataType:
    """The Arrow type of one ``types.json`` column (written by a script: checked here)."""
    kind = str(spec.get("type"))
    if kind not in _KNOWN:
        return pa.string()  # a type a script made up is read as text
    if kind != PrimitiveType.DECIMAL:
        return ARROW_TYPES[PrimitiveType(kind)]
    precision, scale = spec.get("precision"), spec.get("scale")
    if not (
        isinstance(precision, int)
        and isinstance(scale, int)
        and 1 <= precision <= MAX_DECIMAL_PRECISION
        and 0 <= scale <= precision
    ):
        raise ValueError("a decimal column of types.json needs a precision (1-38) and a scale")
    return pa.decimal128(precision, scale)


def _script_view(column: pa.ChunkedArray, kind: PrimitiveType) -> pa.ChunkedArray:
    """``column`` as the type ``kind`` stands for (text for types scripts have no name for)."""
    if kind is PrimitiveType.DECIMAL:
        return column
    if kind is PrimitiveType.TIMESTAMP_TZ:
        return column.cast(ARROW_TYPES[kind])  # any zone: the same instant, in UTC
    target = ARROW_TYPES[kind]
    if column.type == target:
        return column
    try:
        return column.cast(target)
    except pa.ArrowNotImplementedError:
        return _as_text(column)  # lists, structs, maps, intervals: as SQL prints them


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``column`` as DuckDB's ``CAST(... AS VARCHAR)`` prints it, in a hardened connection."""
    from sealroom.compute.sql.connection import (  # DuckDB: on demand
        SandboxSettings,
        hardened_connection,
    )

    settings = SandboxSettings(
        memory_limit_bytes=_TEXT_MEMORY_LIMIT_BYTES,
        threads=1,
        max_execution_ms=_TEXT_MAX_EXECUTION_MS,
    )
    with hardened_connection(settings) as connection:
        connection.register("input", pa.table({"value": column}))
        text = connection.sql("SELECT CAST(value AS VARCHAR) AS value FROM input").to_arrow_table()
    return text.column(0).cast(pa.string())


def write_table_dir(table: pa.Table, directory: Path) -> None:
    """Write ``table`` as ``dataset.csv`` (no header) and ``types.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    kinds = [column_type(field.type) for field in table.schema]
    columns = [
        _script_view(column, kind) for column, kind in zip(table.columns, kinds, strict=True)
    ]
    normalised = pa.Table.from_arrays(columns, names=table.column_names)
    pacsv.write_csv(
        normalised,
        str(directory / DATASET_FILE),
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    types = {
        "columns": [
            _column_spec(field, kind) for field, kind in zip(table.schema, kinds, strict=True)
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
        column_types = {str(c["name"]): _arrow_type(c) for c in spec}
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
