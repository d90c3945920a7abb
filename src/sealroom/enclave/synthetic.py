"""What the core hands the synthetic-data worker, and what it may say when the worker fails.

The worker (``compute/scripts/runtime/run_synthetic.py``, in the sandbox) reads a
``config.json`` built here from the node the room agreed on, completed with the input table's
actual columns: every column in order, its type from the data's schema (never its values), its
mask, and clamp bounds from the input table's ``in_range`` rule. Bounds never come from the data:
the worker spends part of epsilon on them when none are declared.
"""

from __future__ import annotations

import re
from typing import Final

import pyarrow as pa

from sealroom.compute.arrow_types import ARROW_TYPES
from sealroom.model.columns import PrimitiveType
from sealroom.model.definition import Node, SyntheticNode, TableNode

__all__ = ["synthesis_input", "synthetic_config", "synthetic_failure_message"]

CONFIG_VERSION: Final = 1
#: The worker's own refusals (too few rows, a bad column) are worded for the analyst.
_SAFE_MESSAGE: Final = re.compile(rb"__SEALROOM_SAFE_MESSAGE__ ([^\n]{1,500})\n")


def _data_type(field: pa.Field) -> str:
    if pa.types.is_integer(field.type):
        return "integer"
    if pa.types.is_floating(field.type) or pa.types.is_decimal(field.type):
        return "float"
    return "string"


def synthesis_input(table: pa.Table) -> pa.Table:
    """``table`` with the three types the synthesizer models (integer, float, string): decimals
    become floats; dates, timestamps and booleans are categories, written as text."""
    columns = [
        column.cast(ARROW_TYPES[PrimitiveType(_data_type(field))])
        for column, field in zip(table.columns, table.schema, strict=True)
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def synthetic_config(
    node: SyntheticNode, schema: pa.Schema, source: Node | None
) -> dict[str, object]:
    """The worker's configuration for ``node`` reading a table of ``schema`` from ``source``."""
    described = {column.index: column for column in node.columns}
    declared = source.columns if isinstance(source, TableNode) else ()
    columns: list[dict[str, object]] = []
    for index, field in enumerate(schema):
        column = described.get(index)
        data_type = _data_type(field)
        mask = column.mask_type if column is not None and column.should_mask_column else None
        if mask is not None and mask != "genericNumber":
            data_type = "string"  # a masked column is text, whatever it held
        bounds = None
        if index < len(declared) and declared[index].in_range is not None and mask is None:
            rule = declared[index].in_range
            assert rule is not None
            low = rule.greater_than_equals
            high = rule.less_than_equals
            if data_type != "string" and (low is not None or high is not None):
                bounds = [low, high]
        columns.append(
            {
                "index": index,
                "name": field.name,
                "data_type": data_type,
                "nullable": (
                    column.is_nullable
                    if column is not None
                    else declared[index].is_nullable
                    if index < len(declared)
                    else True
                ),
                "mask": mask,
                "bounds": bounds,
            }
        )
    return {
        "version": CONFIG_VERSION,
        "epsilon": node.epsilon,
        "model": node.model,
        "output_original_data_statistics": node.output_original_data_statistics,
        "columns": columns,
    }


def synthetic_failure_message(
    node: SyntheticNode, exit_code: int | None, stderr: bytes, tail_bytes: int
) -> str:
    """The analyst's message: the worker's safe refusal, or only the exit status (no values)."""
    where = f"synthetic data node {node.name!r}"
    safe = _SAFE_MESSAGE.search(stderr[-2000:])
    if safe is not None:
        return f"{where}: {safe.group(1).decode('utf-8', 'replace')}"
    message = f"{where}: the worker exited with status {exit_code}"
    if node.enable_logs_on_error:
        tail = stderr[-tail_bytes:].decode("utf-8", "replace")
        return f"{message}\n--- stderr (logs enabled for this node) ---\n{tail}"
    return f"{message}; its error output is withheld (logs are off for this node)"
