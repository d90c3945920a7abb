"""The CSV encoding of SQL results, byte for byte as DuckDB writes it.

CSV format (:func:`table_to_csv`), byte for byte what DuckDB's ``COPY ... TO (HEADER)`` writes
(checked against it in the tests):

* UTF-8; a header row with the column names; ``,`` between fields; ``\\n`` after every row,
  including the last; a table with no columns is the empty string.
* each value as DuckDB's ``CAST(value AS VARCHAR)`` prints it (a DOUBLE 29.0 is ``29.0``, a BIGINT
  7 is ``7``, lists ``[1, 2]``, TIMESTAMPTZ in UTC); NULL is the empty field.
* a field (header names too) is quoted with ``"`` only when needed: when it is empty (so that an
  empty string differs from NULL) or contains ``,`` ``"`` ``#`` CR or LF; a ``"`` inside is doubled.

The rendering runs in a hardened DuckDB (:mod:`.connection`) with no spill directory and a fixed
memory cap, vectorised: DuckDB builds each line, and the lines' bytes are taken straight out of the
Arrow string buffers, never formatted row by row in Python.

Typed results travel as Arrow IPC streams: :mod:`.ipc`, which the SDK reads without DuckDB.
"""

from __future__ import annotations

import io
from typing import Any, Final

import duckdb
import pyarrow as pa

from sealroom.errors import SqlErrorCode, SqlExecutionError

from .connection import SandboxSettings, hardened_connection
from .engine import MiB

__all__ = ["table_to_csv"]

# Rendering streams line by line through DuckDB, so it needs little memory beyond one batch; the
# cap keeps a pathological table from taking the core's memory. Results are already capped at
# SqlLimits.max_result_bytes (256 MiB by default).
_CSV_MEMORY_LIMIT_BYTES: Final = 512 * MiB
_CSV_THREADS: Final = 1
# Rendering a result of the default maximum size takes seconds; this only stops a stuck worker.
_CSV_MAX_EXECUTION_MS: Final = 600_000
_CSV_BATCH_ROWS: Final = 65_536
# No spill directory: nothing is written anywhere.
_CSV_SANDBOX: Final = SandboxSettings(
    memory_limit_bytes=_CSV_MEMORY_LIMIT_BYTES,
    threads=_CSV_THREADS,
    max_execution_ms=_CSV_MAX_EXECUTION_MS,
)

# Characters that make DuckDB's CSV writer quote a field, wherever they occur (measured on duckdb
# 2.0.0; '#' presumably so that no reader takes a line for a comment).
_NEEDS_QUOTES: Final = (",", '"', "#", "\r", "\n")
_NEEDS_QUOTES_REGEX: Final = '[,"#\\r\\n]'

_REGISTERED_NAME: Final = "result"


def table_to_csv(table: pa.Table) -> bytes:
    """``table`` as CSV bytes, exactly as DuckDB's CSV writer writes it (see module docstring)."""
    if table.num_columns == 0:
        return b""
    out = io.BytesIO()
    out.write((",".join(_quote_field(name) for name in table.column_names) + "\n").encode())
    if table.num_rows == 0:
        return out.getvalue()
    # Positional column names: the real ones may repeat or need quoting, and are in the header.
    renamed = table.rename_columns([f"c{index}" for index in range(table.num_columns)])
    fields = " || ',' || ".join(
        _field_expression(f"c{index}") for index in range(table.num_columns)
    )
    line_query = f"SELECT {fields} || chr(10) AS line FROM {_REGISTERED_NAME}"  # noqa: S608 (our names)
    try:
        with hardened_connection(_CSV_SANDBOX) as connection:
            connection.register(_REGISTERED_NAME, renamed)
            # preserve_insertion_order (DuckDB's default) keeps rows in the table's order.
            reader = connection.sql(line_query).to_arrow_reader(_CSV_BATCH_ROWS)
            try:
                for batch in reader:
                    _write_string_values(batch.column(0), out)
            finally:
                reader.close()
    except (duckdb.Error, pa.ArrowException, OSError) as error:
        # Casting to VARCHAR does not fail on values; memory can run out. No message is echoed.
        code: SqlErrorCode = "sql_memory_limit" if "Out of Memory" in str(error) else "sql_error"
        raise SqlExecutionError(
            code, f"rendering the result as CSV failed with {type(error).__name__}"
        ) from None
    return out.getvalue()


def _quote_field(text: str) -> str:
    if text == "" or any(char in text for char in _NEEDS_QUOTES):
        return '"' + text.replace('"', '""') + '"'
    return text


def _field_expression(column: str) -> str:
    text = f"CAST({column} AS VARCHAR)"
    quoted = f"'\"' || replace({text}, '\"', '\"\"') || '\"'"
    return (
        f"CASE WHEN {column} IS NULL THEN '' "
        f"WHEN {text} = '' OR regexp_matches({text}, '{_NEEDS_QUOTES_REGEX}') THEN {quoted} "
        f"ELSE {text} END"
    )


def _write_string_values(array: Any, out: io.BytesIO) -> None:
    """Append the concatenated bytes of a string array that has no nulls, without a Python loop."""
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.large_string())
    if len(array) == 0:
        return
    # Buffers: validity, offsets, data. Value i spans data[offsets[o + i] : offsets[o + i + 1]]
    # with o the array's slice offset; the values are contiguous, so one slice holds them all.
    offset_type = pa.int32() if pa.types.is_string(array.type) else pa.int64()
    _, offsets_buffer, data = array.buffers()
    offsets = pa.Array.from_buffers(
        offset_type, len(array) + 1, [None, offsets_buffer], offset=array.offset
    )
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    if data is not None:
        out.write(memoryview(data)[start:end])
