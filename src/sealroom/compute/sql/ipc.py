"""Typed SQL results on the wire: the Arrow IPC stream format and its schema-metadata keys.

The core encodes a typed result with :func:`table_to_ipc`; the SDK decodes it with
:func:`table_from_ipc` and reads what the core recorded in the schema metadata under the keys
below. This module needs only pyarrow (no DuckDB, no OpenDP), so the SDK can read results
without loading the engines; the SDK imports it when the first typed result is read.

Format: the Arrow IPC *stream* format (schema message, record batches, end-of-stream marker),
as ``pyarrow.ipc.new_stream`` writes it.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa
import pyarrow.ipc

__all__ = [
    "DP_DELTA_KEY",
    "DP_EPSILON_KEY",
    "SUPPRESSED_GROUPS_KEY",
    "table_from_ipc",
    "table_to_ipc",
]

#: Arrow schema metadata of a filtered result: how many groups the privacy filter removed.
SUPPRESSED_GROUPS_KEY: Final = b"sealroom.suppressed_groups"

#: Arrow schema metadata of a DP result: ε and δ spent by the run (``repr`` of a float).
DP_EPSILON_KEY: Final = b"sealroom.dp_epsilon"
DP_DELTA_KEY: Final = b"sealroom.dp_delta"


def table_to_ipc(table: pa.Table) -> bytes:
    """``table`` in the Arrow IPC stream format."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def table_from_ipc(data: bytes) -> pa.Table:
    """The table in an Arrow IPC stream. Raises ``ValueError`` if ``data`` is not one."""
    try:
        with pa.ipc.open_stream(pa.BufferReader(data)) as reader:
            return reader.read_all()
    except (pa.ArrowException, OSError) as error:
        raise ValueError(f"not a valid Arrow IPC stream ({type(error).__name__})") from None
