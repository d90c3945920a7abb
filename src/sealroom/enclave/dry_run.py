"""Testing a draft: run every computation over empty tables or test datasets.

``test_all_computations`` (SDK) and ``sealroom dcr test`` (CLI) end here. Each computation runs
through the same :class:`~sealroom.enclave.execution.JobRunner` as a real job — same SQL engine,
privacy filter, differential privacy and sandbox — over a :class:`~sealroom.enclave.sources.
TestData` source, so what passes here runs the same way once the room is published.

Invariants:

* Only test data is read: empty tables of the declared schemas, or the caller's own test
  datasets; never a publication of any room.
* Logs are always returned: the data is empty or the caller's own mock data, so a script's
  output and error messages cannot reveal anybody else's values.
* A computation whose input failed is reported as skipped, naming that input, not run.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

from sealroom.compute.scripts import column_type
from sealroom.compute.sql import table_from_ipc
from sealroom.enclave.execution import JobRunner
from sealroom.enclave.sources import TestData
from sealroom.model.definition import (
    ComputeNode,
    PreviewNode,
    PythonNode,
    RNode,
    RoomDefinition,
    SyntheticNode,
)

__all__ = ["test_all"]

#: How much of a script's stdout/stderr each report carries.
MAX_LOG_BYTES = 16 * 1024


def test_all(
    runner: JobRunner,
    definition: RoomDefinition,
    source: TestData,
    parameters: Mapping[str, Mapping[str, str]],
) -> list[dict[str, Any]]:
    """One report per compute node, in the definition's order of dependencies."""
    with_logs = _with_logs(definition)
    failed: dict[str, str] = {}
    reports = []
    for node in _ordered(with_logs):
        report: dict[str, Any] = {"node": node.name, "kind": node.kind}
        upstream = [n.name for n in with_logs.execution_plan(node.name)[:-1]]
        broken = next((name for name in upstream if name in failed), None)
        if broken is not None:
            failed[node.name] = broken
            reports.append({**report, "status": "skipped", "error": f"its input {broken!r} failed"})
            continue
        values = {name: "" for n in with_logs.execution_plan(node.name) for name in n.parameters}
        values.update(parameters.get(node.name, {}))
        try:
            output = runner.run(with_logs, node.name, source, parameters=values)
        except Exception as exc:  # noqa: BLE001 - reported per node, like a job's failure
            code, message = runner.describe_failure(exc)
            failed[node.name] = node.name
            reports.append({**report, "status": "failed", "error_code": code, "error": message})
            continue
        report["status"] = "success"
        if output.kind == "arrow":
            schema = table_from_ipc(output.data).schema
            # The types scripts reading this result see (integer, float, string), and SQL's own.
            report["output_schema"] = [
                {
                    "name": f.name,
                    "type": column_type(f.type),
                    "sql_type": str(f.type),
                    "nullable": f.nullable,
                }
                for f in schema
            ]
        else:
            report.update(_describe_zip(output.data))
        reports.append(report)
    return reports


def _with_logs(definition: RoomDefinition) -> RoomDefinition:
    nodes = tuple(
        node.model_copy(update={"enable_logs_on_error": True, "enable_logs_on_success": True})
        if isinstance(node, PythonNode | RNode | SyntheticNode)
        else node
        for node in definition.nodes
    )
    return definition.model_copy(update={"nodes": nodes})


def _ordered(definition: RoomDefinition) -> list[ComputeNode]:
    """Every compute node once, inputs first (previews last: they relay, they do not compute)."""
    order: list[ComputeNode] = []
    for node in definition.nodes:
        for step in definition.execution_plan(node.name):
            if step not in order:
                order.append(step)
    return [n for n in order if not isinstance(n, PreviewNode)] + [
        n for n in order if isinstance(n, PreviewNode)
    ]


def _describe_zip(data: bytes) -> dict[str, Any]:
    described: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        described["files"] = [n for n in names if not n.startswith("logs/")]
        described["logs"] = {
            n.removeprefix("logs/"): archive.read(n)[-MAX_LOG_BYTES:].decode("utf-8", "replace")
            for n in names
            if n.startswith("logs/")
        }
        if "dataset.csv" in names and "types.json" in names:
            columns = json.loads(archive.read("types.json"))["columns"]
            described["output_schema"] = [
                # The script wrote types.json: its values are text here, whatever they were.
                {"name": str(c["name"]), "type": str(c["type"]), "nullable": True}
                for c in columns
            ]
    return described
