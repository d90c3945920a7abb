"""A chain of SQL nodes runs as one DuckDB query; results are materialised only where needed.

These run the core's job runner (real DuckDB, real sandbox for the script) over in-memory data.
The limits are set so that materialising an upstream node would fail: a test passes only if the
chain really was planned as one query, and a limit error must name the node that was too big.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sandbox import SandboxLimits, sandbox_available
from sealroom.compute.sql import SqlLimits, table_from_ipc
from sealroom.enclave.execution import JobRunner
from sealroom.errors import SqlExecutionError
from sealroom.model.columns import Column, FormatType
from sealroom.model.definition import PythonNode, RawNode, RoomDefinition, SqlNode, TableNode

ROWS = 400_000
KIB = 1024


class MemoryData:
    """The published tables of a room, already validated (the runner's data source)."""

    allows_missing_required = False

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables

    def table(self, node: TableNode) -> pa.Table | None:
        return self.tables.get(node.name)

    def raw(self, node: RawNode) -> pa.Buffer | None:
        return None


def room(*nodes: SqlNode | PythonNode) -> RoomDefinition:
    table = TableNode(
        name="events",
        columns=(
            Column(name="id", format_type=FormatType.INTEGER),
            Column(name="kind", format_type=FormatType.STRING),
            Column(name="amount", format_type=FormatType.DECIMAL, precision=12, scale=2),
        ),
    )
    return RoomDefinition(name="chains", owner="owner@example.com", nodes=(table, *nodes))


@pytest.fixture(scope="module")
def events() -> pa.Table:
    ids = pa.array(range(ROWS), pa.int64())
    kinds = pa.array([f"kind-{i % 50}" for i in range(ROWS)])
    amounts = pa.array([Decimal(i % 1000) for i in range(ROWS)], pa.decimal128(12, 2))
    return pa.table({"id": ids, "kind": kinds, "amount": amounts})


def runner(tmp_path: Path, *, result_kib: int, intermediate_kib: int) -> JobRunner:
    limits = SqlLimits(
        max_result_bytes=result_kib * KIB,
        max_intermediate_bytes=intermediate_kib * KIB,
        timeout_seconds=60,
    )
    return JobRunner(limits, SandboxLimits(timeout_seconds=60), tmp_path)


def run(
    runner: JobRunner,
    definition: RoomDefinition,
    target: str,
    events: pa.Table,
    parameters: dict[str, str] | None = None,
) -> pa.Table:
    output = runner.run(definition, target, MemoryData({"events": events}), parameters=parameters)
    assert output.kind == "arrow"
    return table_from_ipc(output.data)


def sql(name: str, query: str, *deps: str, **extra: object) -> SqlNode:
    return SqlNode(name=name, query=query, dependencies=deps, **extra)  # type: ignore[arg-type]


def test_a_chain_runs_as_one_query_and_nothing_upstream_is_materialised(
    tmp_path: Path, events: pa.Table
) -> None:
    definition = room(
        sql("everything", "SELECT * FROM events", "events"),
        sql("big", "SELECT id, kind, amount * 2 AS doubled FROM everything", "everything"),
        sql(
            "totals",
            "SELECT kind, SUM(doubled) AS total, COUNT(*) AS n FROM big GROUP BY kind",
            "big",
        ),
    )
    # Both upstream results are megabytes; had either been materialised, 64 KiB would refuse it.
    result = run(runner(tmp_path, result_kib=64, intermediate_kib=64), definition, "totals", events)
    assert result.num_rows == 50
    assert result.schema.field("total").type == pa.decimal128(38, 2)
    assert result.schema.field("n").type == pa.int64()
    by_kind = {row["kind"]: row["n"] for row in result.to_pylist()}
    assert by_kind["kind-0"] == ROWS // 50


def test_the_result_limit_names_the_node_whose_result_is_too_large(
    tmp_path: Path, events: pa.Table
) -> None:
    definition = room(
        sql("everything", "SELECT * FROM events", "events"),
        sql("copy", "SELECT * FROM everything WHERE id >= 0", "everything"),
    )
    with pytest.raises(SqlExecutionError, match=r"^SQL node 'copy': the result is larger than"):
        run(runner(tmp_path, result_kib=64, intermediate_kib=1 << 20), definition, "copy", events)


@pytest.mark.skipif(not sandbox_available(), reason="needs bubblewrap; ./dev installs it")
def test_a_node_a_script_reads_is_materialised_and_its_limit_names_it(
    tmp_path: Path, events: pa.Table
) -> None:
    script = (
        "import sealroom_util\n"
        "df = sealroom_util.read_tabular_data('/input/cleaned')\n"
        "sealroom_util.write_tabular_data(df.head(3), '/output')\n"
    )
    definition = room(
        sql("cleaned", "SELECT id, amount FROM events WHERE id % 2 = 0", "events"),
        PythonNode(name="model", script=script, dependencies=("cleaned",)),
    )
    with pytest.raises(SqlExecutionError, match=r"^SQL node 'cleaned': the result is larger"):
        runner(tmp_path, result_kib=1 << 20, intermediate_kib=64).run(
            definition, "model", MemoryData({"events": events})
        )
    output = runner(tmp_path, result_kib=64, intermediate_kib=1 << 20).run(
        definition, "model", MemoryData({"events": events})
    )
    assert output.kind == "zip"


def test_a_filtered_node_reads_its_inputs_as_tables_and_keeps_its_filter(
    tmp_path: Path, events: pa.Table
) -> None:
    definition = room(
        sql("small", "SELECT * FROM events WHERE id < 1000", "events"),
        sql(
            "by_kind",
            "SELECT kind, COUNT(*) AS n FROM small GROUP BY kind",
            "small",
            minimum_rows_count=21,
        ),
        sql("top", "SELECT * FROM by_kind ORDER BY kind", "by_kind"),
    )
    result = run(
        runner(tmp_path, result_kib=64, intermediate_kib=1 << 20), definition, "top", events
    )
    # 1000 rows over 50 kinds is 20 per kind: every group is under the filter's 21 and withheld.
    assert result.num_rows == 0
    assert result.column_names == ["kind", "n"]


def test_each_node_of_a_chain_keeps_its_own_parameters(tmp_path: Path, events: pa.Table) -> None:
    definition = room(
        sql(
            "chosen",
            "SELECT * FROM events WHERE kind = $kind",
            "events",
            parameters=("kind",),
        ),
        sql(
            "counted",
            "SELECT COUNT(*) AS n, MIN(id) AS first FROM chosen WHERE id >= CAST($from AS BIGINT)",
            "chosen",
            parameters=("from",),
        ),
    )
    result = run(
        runner(tmp_path, result_kib=64, intermediate_kib=64),
        definition,
        "counted",
        events,
        parameters={"kind": "kind-7", "from": "100"},
    )
    assert result.to_pylist() == [{"n": ROWS // 50 - 2, "first": 107}]
