"""Running one compute node inside the core.

A SQL job resolves its inputs (every table reachable through its SQL dependencies), refuses to
run on a table whose dataset failed validation or is required and missing, then runs the node
and the SQL nodes it depends on in one fresh, locked-down DuckDB connection, and returns the
result as Arrow IPC bytes (the core encrypts them before the host stores them).

Failures are reduced to a stable code and a safe message: messages name tables and limits, never
data values. Anything unexpected is reported as an internal error whose details stay in the core.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa

from sealroom.compute.sql import SqlExecutionError, SqlLimits, run_sql, table_to_ipc
from sealroom.enclave.inputs import ValidatedTableCache
from sealroom.enclave.validation import empty_table
from sealroom.errors import ConflictError, RequestError
from sealroom.model.definition import RoomDefinition, SqlNode
from sealroom.storage.metadata import MetadataStore

logger = logging.getLogger(__name__)


class JobRunner:
    def __init__(
        self,
        tables: ValidatedTableCache,
        store: MetadataStore,
        limits: SqlLimits,
        scratch_dir: Path,
    ) -> None:
        self._tables = tables
        self._store = store
        self._limits = limits
        self._scratch_dir = scratch_dir

    def run(self, room_id: str, definition: RoomDefinition, node_name: str) -> bytes:
        node = definition.node(node_name)
        if not isinstance(node, SqlNode):
            raise ConflictError(f"node {node_name!r} is not a computation", code="not_computable")
        inputs = self._inputs(room_id, definition, node_name)
        order = definition.sql_dependency_order(node_name)
        intermediate = [(dep.name, dep.query) for dep in order[:-1]]
        # run_sql spills into a private directory of its own under the RAM-backed scratch.
        table = run_sql(
            node.query,
            inputs,
            intermediate=intermediate,
            limits=self._limits,
            scratch_dir=self._scratch_dir,
        )
        return table_to_ipc(table)

    def _inputs(
        self, room_id: str, definition: RoomDefinition, node_name: str
    ) -> dict[str, pa.Table]:
        inputs: dict[str, pa.Table] = {}
        for table_node in definition.table_inputs(node_name):
            publication = self._store.get_publication(room_id, table_node.name)
            if publication is None:
                if table_node.is_required:
                    raise ConflictError(
                        f"table {table_node.name!r} is required, but no dataset has been "
                        "published to it yet",
                        code="input_missing",
                    )
                inputs[table_node.name] = empty_table(table_node.schema_)
                continue
            validated = self._tables.validate(room_id, table_node, publication)
            if not validated.passed or validated.table is None:
                raise ConflictError(
                    f"table {table_node.name!r} failed validation; the data owner must publish "
                    "a dataset that passes (see its validation report) before computations "
                    "can use it",
                    code="input_invalid",
                )
            inputs[table_node.name] = validated.table
        return inputs

    @staticmethod
    def describe_failure(exc: BaseException) -> tuple[str, str]:
        """A stable code and a message that is safe to show to the analyst."""
        if isinstance(exc, SqlExecutionError):
            return exc.code, exc.message
        if isinstance(exc, RequestError):
            return exc.code, exc.message
        # Unknown failures may carry data in their message: keep only the type, in the core.
        logger.error("job failed with an unexpected %s", type(exc).__name__)
        return "internal_error", "the computation failed inside the core (internal error)"
