"""Running one compute node, and everything it needs, inside the core.

The job's plan is every compute node upstream of the target, each run once, inputs first
(:meth:`RoomDefinition.execution_plan`). SQL nodes run in a fresh connection to a locked-down
DuckDB over Arrow tables; Python and R nodes run in the sandbox over files laid out as the seed
product does (see :mod:`sealroom.compute.scripts`). The target's result is Arrow IPC (SQL) or a
zip of ``/output`` (scripts); the core encrypts it before the host stores it.

A chain of SQL nodes runs as one DuckDB query: a plain SQL node (no privacy filter, no
differential privacy) read only by other SQL nodes is a view in its readers' query, so DuckDB
plans the chain as one (filters push down, nothing upstream is materialised). A SQL node's result
is materialised only where it must be (:func:`_materialised`): the job's result, a node a script
reads, a node whose result the privacy filter or DP releases, and a node such a node reads (the
filter analyses its inputs as tables). Each SQL node keeps its own parameters wherever it runs.
A materialised result other than the job's own is bounded by ``SqlLimits.max_intermediate_bytes``
and a limit error names the node whose result was too large.

Failures are reduced to a stable code and a safe message: messages name nodes and limits, never
data values. A script's exception message and output are withheld unless the room enabled logs
for that node; a failed script's message is then one of a fixed set, at most with a line of its
script (:mod:`sealroom.compute.scripts.failure` states what that can reveal). Anything
unexpected is an internal error whose details stay in the core.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pyarrow as pa

from sealroom.compute.sandbox import (
    SITE_PACKAGES_PATH,
    Mount,
    SandboxError,
    SandboxLimits,
    python_env,
    python_libraries,
    python_runtime,
    r_runtime,
    remove_tree,
    run_sandboxed,
    run_unsandboxed,
    sandbox_available,
)
from sealroom.compute.scripts import RUNTIME_DIR, read_table_dir, write_table_dir, zip_directory
from sealroom.compute.scripts.failure import script_failure_message
from sealroom.compute.sql import (
    DpSpec,
    PrivacyFilter,
    SqlLimits,
    run_sql,
    table_to_ipc,
)
from sealroom.compute.sql.spark import SparkConnect, run_sql_on_spark
from sealroom.enclave.sources import DataSource
from sealroom.enclave.synthetic import (
    synthesis_input,
    synthetic_config,
    synthetic_failure_message,
)
from sealroom.errors import ConflictError, JobFailedError, RequestError, SqlExecutionError
from sealroom.model.definition import (
    SCRIPT_FILE_NAMES,
    ComputeNode,
    PythonNode,
    RawNode,
    RNode,
    RoomDefinition,
    SqlNode,
    SyntheticNode,
    TableNode,
)
from sealroom.validation import empty_table

logger = logging.getLogger(__name__)

#: Where the wrapper and sealroom_util appear inside the sandbox.
_RUNTIME_PATH = "/opt/sealroom/runtime"
#: How much of a script's stderr an error message may carry when the room enabled logs.
_LOG_TAIL_BYTES = 4096


@dataclass(frozen=True)
class JobOutput:
    data: bytes
    #: "arrow" (a SQL node's table as Arrow IPC) or "zip" (a script's /output).
    kind: str


@dataclass
class _PlanState:
    job_dir: Path
    source: DataSource
    parameters: dict[str, str]
    tables: dict[str, pa.Table] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    logs: dict[str, dict[str, bytes]] = field(default_factory=dict)


class JobRunner:
    def __init__(
        self,
        sql_limits: SqlLimits,
        sandbox_limits: SandboxLimits,
        scratch_dir: Path,
        *,
        unsandboxed: bool = False,
        spark: SparkConnect | None = None,
    ) -> None:
        self._sql_limits = sql_limits
        #: Where nodes with ``engine="spark"`` run; ``None``: they fail with spark_unavailable.
        self._spark = spark
        self._sandbox_limits = sandbox_limits
        self._scratch_dir = scratch_dir
        #: ``--unsafe-no-sandbox``: Python scripts run as plain processes (development only).
        self._unsandboxed = unsandboxed

    def run(
        self,
        definition: RoomDefinition,
        target: str,
        source: DataSource,
        *,
        parameters: Mapping[str, str] | None = None,
    ) -> JobOutput:
        """Run ``target`` and the computations it needs over ``source``'s data.

        ``parameters`` holds a value for every parameter a node of the plan declares (checked
        by the core before the job was queued); each node sees only the ones it declares.
        """
        plan = definition.execution_plan(target)
        if not plan or plan[-1].name != target:
            raise ConflictError(f"node {target!r} is not a computation", code="not_computable")
        # Plaintext inputs of scripts live here, in the RAM-backed scratch, for this job only.
        state = _PlanState(
            self._scratch_dir / f"job-{secrets.token_hex(8)}", source, dict(parameters or {})
        )
        state.job_dir.mkdir(mode=0o700, parents=True)
        # An airlock relays its dependency's result; the core charges the quota.
        last = definition.result_source(target)
        assert isinstance(last, SqlNode | PythonNode | RNode | SyntheticNode)
        materialised = _materialised(definition, plan, last.name)
        try:
            for node in plan:
                if isinstance(node, SqlNode) and node.name in materialised:
                    state.tables[node.name] = self._run_sql(
                        definition, node, state, materialised, final=node.name == last.name
                    )
                elif isinstance(node, PythonNode | RNode | SyntheticNode):
                    state.outputs[node.name] = self._run_script(definition, node, state)
            if isinstance(last, SqlNode):
                return JobOutput(table_to_ipc(state.tables[last.name]), "arrow")
            return JobOutput(
                zip_directory(state.outputs[last.name], state.logs.get(last.name)), "zip"
            )
        finally:
            # Plaintext inputs live here; the script shaped part of the tree (any depth).
            remove_tree(state.job_dir)

    # -- inputs -------------------------------------------------------------------------
    def _table(self, definition: RoomDefinition, name: str, state: _PlanState) -> pa.Table:
        node = definition.node(name)
        if isinstance(node, SqlNode):
            return state.tables[name]
        if isinstance(node, PythonNode | RNode | SyntheticNode):
            try:
                table = read_table_dir(state.outputs[name])
            except (ValueError, KeyError, TypeError, pa.ArrowException) as error:
                # The script's own files; the error may quote a value: only its kind is kept.
                raise JobFailedError(
                    "input_invalid",
                    f"{node.kind} node {name!r} wrote a table that does not match its "
                    f"types.json ({type(error).__name__})",
                ) from None
            if table is None:
                raise JobFailedError(
                    "input_missing",
                    f"{node.kind} node {name!r} wrote no table (dataset.csv in /output) for "
                    "the nodes that read it as one",
                )
            return table
        if not isinstance(node, TableNode):
            raise JobFailedError("input_invalid", f"node {name!r} is not a table")
        table = state.source.table(node)
        if table is None:
            _refuse_if_required(node, state.source)
            return empty_table(node.schema_)
        return table

    def _raw_file(self, node: RawNode, destination: Path, state: _PlanState) -> bool:
        plaintext = state.source.raw(node)
        if plaintext is None:
            _refuse_if_required(node, state.source)
            return False
        with open(destination, "wb") as handle:
            handle.write(memoryview(plaintext))
        return True

    # -- nodes --------------------------------------------------------------------------
    def _run_sql(
        self,
        definition: RoomDefinition,
        node: SqlNode,
        state: _PlanState,
        materialised: frozenset[str],
        *,
        final: bool,
    ) -> pa.Table:
        """Run ``node`` with the plain SQL nodes upstream of it (up to materialised results,
        data and script outputs) as views of its query."""
        views = _inlined(definition, node, materialised)
        leaves = dict.fromkeys(
            dep for sql in (*views.values(), node) for dep in sql.dependencies if dep not in views
        )
        inputs = {dep: self._table(definition, dep, state) for dep in leaves}
        dp = _dp_spec(definition, node) if node.dp_epsilon is not None else None
        privacy = None
        if node.minimum_rows_count is not None:
            privacy = PrivacyFilter(
                minimum_rows=node.minimum_rows_count,
                unit_column=definition.privacy.unit_column,
                allow_revealing_aggregates=definition.privacy.allow_revealing_aggregates,
            )
        limits = self._sql_limits
        if not final:
            limits = dataclasses.replace(
                limits,
                max_result_bytes=limits.max_intermediate_bytes,
                max_result_rows=limits.max_intermediate_rows,
            )
        # The node's engine runs the views inlined into its query too (docs/spark.md).
        engine = (
            run_sql if node.engine == "duckdb" else partial(run_sql_on_spark, spark=self._spark)
        )
        try:
            # run_sql spills into a private directory of its own under the RAM-backed scratch.
            return engine(
                node.query,
                inputs,
                intermediate=[(name, sql.query) for name, sql in views.items()],
                limits=limits,
                scratch_dir=self._scratch_dir,
                privacy=privacy,
                dp=dp,
                parameters={name: state.parameters[name] for name in node.parameters} or None,
                intermediate_parameters={
                    name: {p: state.parameters[p] for p in sql.parameters}
                    for name, sql in views.items()
                },
            )
        except SqlExecutionError as error:
            if error.code != "sql_result_too_large":
                raise
            raise SqlExecutionError(
                error.code, f"SQL node {node.name!r}: {error.message}"
            ) from None

    def _run_script(
        self,
        definition: RoomDefinition,
        node: PythonNode | RNode | SyntheticNode,
        state: _PlanState,
    ) -> Path:
        if self._unsandboxed:
            if isinstance(node, RNode):
                raise JobFailedError(
                    "sandbox_required",
                    f"R node {node.name!r}: R scripts need the sandbox, and this server runs "
                    "with --unsafe-no-sandbox (development mode)",
                )
            logger.warning(
                "running python node %r WITHOUT the sandbox (--unsafe-no-sandbox): it can "
                "read and change anything this server can",
                node.name,
            )
        elif not sandbox_available():
            raise JobFailedError(
                "sandbox_unavailable",
                "this server cannot run scripts: bubblewrap is missing "
                "(install it with `apt-get install bubblewrap`)",
            )
        # Resolved before any input is decrypted: a missing interpreter fails the job at once.
        command = None if self._unsandboxed else _interpreter(node)
        root = state.job_dir / f"node-{len(state.outputs)}"
        code = root / "code"
        code.mkdir(parents=True)
        if isinstance(node, SyntheticNode):
            # What the room agreed on, completed with the input's columns (names, types).
            table = self._table(definition, node.dependency, state)
            config = synthetic_config(node, table.schema, definition.node(node.dependency))
            (code / "config.json").write_text(json.dumps(config))
        else:
            (code / SCRIPT_FILE_NAMES[node.kind]).write_text(node.script)
            for extra in node.additional_files:
                (code / extra.name).write_text(extra.content)
        mounts = [Mount(code, "/input/code")]
        if node.parameters:
            # Node names cannot contain a dot, so this never shadows an input directory.
            values = root / "parameters.json"
            values.write_text(json.dumps({n: state.parameters[n] for n in node.parameters}))
            mounts.append(Mount(values, "/input/parameters.json"))
        if not isinstance(node, SyntheticNode) and node.dp_epsilon is not None:
            # Exactly what the core charged for this run (job_runs._charge_privacy_budget).
            charged = root / "privacy.json"
            charged.write_text(json.dumps({"epsilon": node.dp_epsilon, "delta": 0.0}))
            mounts.append(Mount(charged, "/input/privacy.json"))
        for dep in node.dependencies:
            synthesis = isinstance(node, SyntheticNode)
            mounts.extend(self._mount_input(definition, dep, state, root, synthesis=synthesis))
        output = root / "output"
        output.mkdir()
        work = root / "work"
        work.mkdir()
        try:
            if command is None:
                assert not isinstance(node, RNode)  # refused above without the sandbox
                (site_packages, _), *_ = python_libraries()
                argv, env = _python_command(str(RUNTIME_DIR), str(site_packages), node)
                result = run_unsandboxed(
                    argv,
                    mounts=mounts,
                    output_dir=output,
                    work_dir=work,
                    limits=self._sandbox_limits,
                    env=env,
                )
            else:
                result = run_sandboxed(
                    command.argv,
                    mounts=mounts,
                    output_dir=output,
                    work_dir=work,
                    limits=self._sandbox_limits,
                    runtime=command.runtime,
                    libraries=[*command.libraries, (RUNTIME_DIR, _RUNTIME_PATH)],
                    env=command.env,
                )
        except SandboxError as exc:
            raise JobFailedError(exc.code, f"{node.kind} node {node.name!r}: {exc}") from None
        if result.timed_out:
            raise JobFailedError(
                "script_timeout",
                f"{node.kind} node {node.name!r} ran longer than "
                f"{self._sandbox_limits.timeout_seconds:g} s and was stopped",
            )
        if result.exit_code != 0:
            raise JobFailedError(
                "script_failed", _failure_message(node, result.exit_code, result.stderr)
            )
        if node.enable_logs_on_success:
            state.logs[node.name] = {
                "logs/stdout.txt": result.stdout,
                "logs/stderr.txt": result.stderr,
            }
        return output

    def _mount_input(
        self,
        definition: RoomDefinition,
        dep: str,
        state: _PlanState,
        root: Path,
        *,
        synthesis: bool = False,
    ) -> list[Mount]:
        node = definition.node(dep)
        target = f"/input/{dep}"
        if isinstance(node, RawNode):
            path = root / "raw" / dep
            path.parent.mkdir(exist_ok=True)
            return [Mount(path, target)] if self._raw_file(node, path, state) else []
        if isinstance(node, PythonNode | RNode | SyntheticNode):
            return [Mount(state.outputs[dep], target)]
        directory = root / "tables" / dep
        table = self._table(definition, dep, state)
        write_table_dir(synthesis_input(table) if synthesis else table, directory)
        return [Mount(directory, target)]

    @staticmethod
    def describe_failure(exc: BaseException) -> tuple[str, str]:
        """A stable code and a message that is safe to show to the analyst."""
        # SqlExecutionError is a JobFailedError.
        if isinstance(exc, JobFailedError | RequestError):
            return exc.code, exc.message
        # Unknown failures may carry data in their message: keep only the type, in the core.
        logger.error("job failed with an unexpected %s", type(exc).__name__)
        return "internal_error", "the computation failed inside the core (internal error)"


def _releases_filtered(node: SqlNode) -> bool:
    """Whether the privacy filter or DP decides what of ``node``'s result leaves it."""
    return node.minimum_rows_count is not None or node.dp_epsilon is not None


def _materialised(definition: RoomDefinition, plan: list[ComputeNode], last: str) -> frozenset[str]:
    """The SQL nodes of ``plan`` whose results are computed as tables (module docstring)."""
    names = {last}
    for node in plan:
        if isinstance(node, SqlNode) and _releases_filtered(node):
            names.add(node.name)
            names.update(node.dependencies)
        elif isinstance(node, PythonNode | RNode | SyntheticNode):
            names.update(node.dependencies)
    return frozenset(name for name in names if isinstance(definition.node(name), SqlNode))


def _inlined(
    definition: RoomDefinition, node: SqlNode, materialised: frozenset[str]
) -> dict[str, SqlNode]:
    """The plain SQL nodes ``node`` reads, directly or through each other, up to materialised
    results, in dependency order (each after the views it reads)."""
    views: dict[str, SqlNode] = {}

    def visit(name: str) -> None:
        dep = definition.node(name)
        if name in views or name in materialised or not isinstance(dep, SqlNode):
            return
        for upstream in dep.dependencies:
            visit(upstream)
        views[name] = dep

    for dep in node.dependencies:
        visit(dep)
    return views


def _refuse_if_required(node: TableNode | RawNode, source: DataSource) -> None:
    if node.is_required and not source.allows_missing_required:
        kind = "table" if isinstance(node, TableNode) else "file"
        raise ConflictError(
            f"{kind} {node.name!r} is required, but no dataset has been published to it yet",
            code="input_missing",
        )


def _dp_spec(definition: RoomDefinition, node: SqlNode) -> DpSpec:
    """The node's differential-privacy parameters; clamp bounds of a table input's columns
    default to its ``in_range`` rule (closed bounds only: an open one has no largest value)."""
    assert node.dp_epsilon is not None
    bounds: dict[str, tuple[float, float]] = {}
    for dependency in node.dependencies:
        table = definition.node(dependency)
        if not isinstance(table, TableNode):
            continue
        for column in table.columns:
            rule = column.in_range
            if rule is None:
                continue
            low, high = rule.greater_than_equals, rule.less_than_equals
            if low is not None and high is not None and low < high:
                bounds[column.name.lower()] = (low, high)
    bounds.update({name.lower(): (low, high) for name, low, high in node.dp_bounds})
    try:
        return DpSpec(
            epsilon=node.dp_epsilon,
            delta=node.dp_delta,
            unit_column=definition.privacy.unit_column,
            max_rows_per_unit=node.dp_max_rows_per_unit,
            bounds=bounds,
        )
    except ValueError as error:
        # About the node's parameters (names and figures of the definition), not data.
        raise JobFailedError("dp_parameters", f"SQL node {node.name!r}: {error}") from None


@dataclass(frozen=True)
class _Command:
    """How to start a node's script in the sandbox: argv, host directories and environment."""

    argv: list[str]
    runtime: list[Path]
    libraries: list[tuple[Path, str]]
    env: dict[str, str]


def _interpreter(node: PythonNode | RNode | SyntheticNode) -> _Command:
    """The wrapper of ``node``'s language (from :data:`_RUNTIME_PATH`) under its interpreter."""
    if isinstance(node, PythonNode | SyntheticNode):
        argv, env = _python_command(_RUNTIME_PATH, SITE_PACKAGES_PATH, node)
        return _Command(argv, python_runtime()[1], python_libraries(), env)
    r = r_runtime()
    if r is None:
        raise JobFailedError(
            "r_unavailable",
            f"R node {node.name!r}: this server cannot run R scripts: R is not installed "
            "(install it with `apt-get install r-base-core`)",
        )
    # The profile lets R start without running programs (see runtime/Rprofile).
    env = {**r.env, "R_PROFILE": f"{_RUNTIME_PATH}/Rprofile"}
    return _Command([*r.command, f"{_RUNTIME_PATH}/run_r.R"], list(r.runtime), [], env)


def _python_command(
    runtime: str, site_packages: str, node: PythonNode | SyntheticNode
) -> tuple[list[str], dict[str, str]]:
    """The Python wrapper's argv and environment, with the runtime and packages at these paths
    (the sandbox's fixed paths, or the host's without the sandbox)."""
    interpreter, _ = python_runtime()
    # sealroom_util and the wrapper come first, then the worker environment's packages.
    env = {**python_env(), "PYTHONPATH": f"{runtime}:{site_packages}"}
    if isinstance(node, SyntheticNode):
        entry = [f"{runtime}/run_synthetic.py", f"/input/{node.dependency}"]
    else:
        entry = [f"{runtime}/run_python.py"]
    return [str(interpreter), "-B", "-s", *entry], env


def _failure_message(
    node: PythonNode | RNode | SyntheticNode, exit_code: int | None, stderr: bytes
) -> str:
    if isinstance(node, SyntheticNode):
        return synthetic_failure_message(node, exit_code, stderr, _LOG_TAIL_BYTES)
    return script_failure_message(
        kind=node.kind,
        node_name=node.name,
        file_name=SCRIPT_FILE_NAMES[node.kind],
        script=node.script,
        exit_code=exit_code,
        stderr=stderr,
        log_tail_bytes=_LOG_TAIL_BYTES if node.enable_logs_on_error else None,
    )
