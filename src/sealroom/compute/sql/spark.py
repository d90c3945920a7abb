"""Run a SQL node on Apache Spark through Spark Connect (``SqlNode.engine == "spark"``).

The core stays in charge of everything but reading rows. Invariants:

* **DuckDB decides, Spark reads.** Every check :func:`.engine.run_sql` makes (one SELECT each,
  parameters, casts of parameter values, the privacy filter's analysis and rewrite, DP's plan)
  runs unchanged in the core's hardened DuckDB over *empty* tables of the inputs' schemas, so a
  query is refused on Spark exactly when it is refused on DuckDB, with the same message. Only
  SQL that must read rows is transpiled (:mod:`.spark_sql`) and run on Spark: the query itself;
  under the privacy filter only ``FilterPlan.groups_query`` (the filter's release decision, the
  analyst's expressions over aggregates and the suppressed count then run in DuckDB over the
  groups Spark returned, exactly as :mod:`.engine` runs them); under DP only the exact per-group
  aggregates (the noise and the final projection stay in the core).
* **Results have DuckDB's types and names.** Whatever Spark returns is cast, column by column, to
  the schema DuckDB gives the same SQL (128-bit integers as BIGINT, as :mod:`.engine` does); a
  value that does not convert fails the run with the column's types, not its value.
* **Plaintext leaves the core.** The decrypted inputs are sent to the Spark Connect server as
  Arrow batches (``createDataFrame``) into a new Spark session per run, whose temporary views
  end with it (the session is released when the run ends). The Spark cluster therefore holds
  plaintext and must run inside the trust boundary (confidential VMs): the core attests, Spark's
  driver and executors do not (docs/spark.md).
* **Limits.** The run's wall clock is enforced (``interruptAll`` at the deadline, then
  ``sql_timeout``); the result is capped at ``max_result_rows`` by a ``LIMIT`` Spark applies, and
  at ``max_result_bytes`` once fetched. Memory and spill are the Spark cluster's, configured by
  its operator: ``SqlLimits.memory_limit_bytes`` and ``threads`` do not apply there.
* **Errors are safe.** A Spark error is reduced to its error class (``DIVIDE_BY_ZERO``,
  ``CAST_INVALID_INPUT`` …): Spark's messages quote values. An unreachable or unconfigured server
  fails with ``spark_unavailable``, naming the configured URL only.

``pyspark`` (the ``spark`` extra, the Spark Connect thin client) is imported on first use: a core
without it runs every DuckDB node as before.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb
import numpy as np
import pyarrow as pa

from sealroom.errors import JobFailedError, PrivacyFilterError, SqlExecutionError

from .connection import SandboxSettings, hardened_connection
from .dp import DpSpec, run_dp_query
from .engine import (
    SqlLimits,
    _bind,
    _check_casts,
    _check_names,
    _create_table,
    _create_view,
    _fetch,
    _plan_filter,
    _require_single_select,
    _safe_error,
    _Sql,
    _values_for,
    _Watchdog,
    _where,
)
from .ipc import SUPPRESSED_GROUPS_KEY
from .parameters import binding_problem, checked_values
from .privacy import (
    GROUPS_TABLE,
    RESERVED_PREFIX,
    UNIT_COLUMN,
    PrivacyFilter,
    source_view_name,
    source_view_sql,
)
from .references import quote_identifier
from .spark_sql import spark_parameters, to_spark_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.connect.session import SparkSession

__all__ = ["SparkConnect", "run_sql_on_spark"]

#: Session options of every run: results must not depend on the cluster's time zone.
_SESSION_CONF: Final = {"spark.sql.session.timeZone": "UTC"}
#: How often, and how patiently, the client retries an unreachable server before failing the run
#: with ``spark_unavailable`` (pyspark's default retries for minutes).
_CONNECT_RETRIES: Final = 3
_CONNECT_MAX_BACKOFF_MS: Final = 2_000
#: The column each input is sent with: a row id unique within the run (:meth:`_Run.upload`).
_ROW_ID: Final = f"{RESERVED_PREFIX}_row"
#: Rows per input the row ids can number (2**40); the input's index is in the bits above.
_ROW_BITS: Final = 40
#: pyspark's loggers that write a failed query's text and Spark's message (which may quote data
#: values) to stderr: silenced, the run reports only the error's class.
_QUIET_LOGGERS: Final = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")


@dataclass(frozen=True)
class SparkConnect:
    """The Spark Connect server (``sc://host:port[/;params]``) SQL nodes on Spark run on."""

    url: str

    def __post_init__(self) -> None:
        if not self.url.startswith("sc://"):
            raise ValueError("a Spark Connect URL starts with sc://")


def run_sql_on_spark(
    query: str,
    tables: Mapping[str, pa.Table],
    *,
    spark: SparkConnect | None,
    intermediate: Sequence[tuple[str, str]] = (),
    limits: SqlLimits,
    scratch_dir: Path,
    privacy: PrivacyFilter | None = None,
    dp: DpSpec | None = None,
    parameters: Mapping[str, str] | None = None,
    intermediate_parameters: Mapping[str, Mapping[str, str]] | None = None,
) -> pa.Table:
    """:func:`.engine.run_sql`'s contract, with the rows read by Spark (module invariants).

    ``spark`` is the server's configuration; ``None`` fails with ``spark_unavailable``.
    Intermediate SQL nodes become Spark temporary views of the run's session.
    """
    _check_names([*tables, *(name for name, _ in intermediate)])
    if privacy is not None and dp is not None:
        raise ValueError("a query runs under the privacy filter or differential privacy, not both")
    if spark is None:
        raise JobFailedError(
            "spark_unavailable",
            "this SQL node runs on Apache Spark, and this server has no Spark Connect server "
            "configured (SEALROOM_SPARK_CONNECT_URL)",
        )
    values = checked_values(parameters or {})
    node_values = {
        name: checked_values(node) for name, node in (intermediate_parameters or {}).items() if node
    }
    if set(node_values) - {name for name, _ in intermediate}:
        raise ValueError("intermediate_parameters names a node that is not an intermediate")
    settings = SandboxSettings(
        memory_limit_bytes=limits.memory_limit_bytes,
        threads=limits.threads,
        max_execution_ms=math.ceil(limits.timeout_seconds * 1000),
        scratch_dir=scratch_dir,
        max_spill_bytes=limits.max_spill_bytes,
        division_by_zero_is_null=privacy is not None or dp is not None,
    )
    target = _Sql(query, values)
    views = [_Sql(sql, node_values.get(name, {}), name) for name, sql in intermediate]
    with (
        _interrupt_is_timeout(limits.timeout_seconds),
        hardened_connection(settings) as connection,
        _Watchdog(connection, limits.timeout_seconds) as watchdog,
    ):
        _prepare(connection, target, views, tables, watchdog)
        # Bound before any plaintext leaves: errors about the query are DuckDB's, shown as such.
        relation = _bind(connection, target.text, watchdog, target.values)
        # Under the filter or DP, Spark answers NULL where DuckDB's TRY would (.spark_sql).
        lenient = privacy is not None or dp is not None
        with _remote_session(spark, limits.timeout_seconds, ansi=not lenient) as remote:
            run = _Run(connection, remote, watchdog, limits)
            run.upload(tables, views)
            if privacy is not None:
                return run.filtered(target, relation.columns, tables, privacy)
            if dp is not None:
                return run.dp(target, relation.columns, tables, dp)
            return run.select(target, limits.max_result_rows, limits.max_result_bytes)


@contextmanager
def _interrupt_is_timeout(timeout_seconds: float) -> Iterator[None]:
    """The core's DuckDB interrupted at the deadline (its watchdog or its own execution limit),
    wherever in the run: a timeout, never a raw DuckDB exception."""
    try:
        yield
    except duckdb.InterruptException:
        raise SqlExecutionError(
            "sql_timeout", f"the query ran longer than its time limit of {timeout_seconds:g} s"
        ) from None


def _prepare(
    connection: duckdb.DuckDBPyConnection,
    target: _Sql,
    views: Sequence[_Sql],
    tables: Mapping[str, pa.Table],
    watchdog: _Watchdog,
) -> None:
    """:func:`.engine.run_sql`'s steps 1 and 2 over empty inputs: every refusal, no rows."""
    for sql in (target, *views):
        statement = _require_single_select(connection, sql.text, node=sql.node)
        problem = binding_problem(statement.named_parameters, sql.values)
        if problem is not None:
            raise SqlExecutionError("sql_error", f"{_where(sql.node)}{problem}")
    for sql in (target, *views):
        _check_casts(connection, sql)
    for name, table in tables.items():
        connection.register(name, table.schema.empty_table())
    for sql in views:
        watchdog.check()
        if sql.values:
            _create_table(connection, sql, watchdog)
        else:
            _create_view(connection, sql.node or "", sql.text, watchdog)


class _Remote:
    """One Spark Connect session of a run, and its deadline."""

    def __init__(self, session: SparkSession, timeout_seconds: float) -> None:
        self.session = session
        self.timeout_seconds = timeout_seconds
        self.fired = False
        self._timer = threading.Timer(timeout_seconds, self._interrupt)
        self._timer.daemon = True

    def _interrupt(self) -> None:
        self.fired = True
        try:
            self.session.interruptAll()
        except Exception:  # noqa: BLE001 - the run reports the timeout whatever happened here
            return

    def check(self) -> None:
        """Past the deadline the run is a timeout, even between operations or if Spark finished
        one anyway: ``interruptAll`` stops only the operations running when it fires."""
        if self.fired:
            raise self.error(TimeoutError())

    def error(self, error: Exception, *, node: str | None = None) -> JobFailedError:
        """The analyst-safe form of a Spark error (module invariants)."""
        if self.fired:
            return SqlExecutionError(
                "sql_timeout",
                f"the query ran longer than its time limit of {self.timeout_seconds:g} s",
            )
        condition = _error_condition(error)
        if condition in _UNAVAILABLE:
            return JobFailedError(
                "spark_unavailable", "the Spark Connect server could not be reached"
            )
        return SqlExecutionError(
            "sql_error",
            f"{_where(node)}the query failed on Spark with {condition} "
            "(details withheld: may contain data values)",
        )


#: gRPC states of a server that is down or unreachable (the client's retries are spent).
_UNAVAILABLE: Final = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CONNECTION_FAILED"})


def _error_condition(error: Exception) -> str:
    """Spark's error class (``DIVIDE_BY_ZERO``), a gRPC state, or the exception's type name."""
    getter = getattr(error, "getCondition", None)
    condition = getter() if callable(getter) else None
    if isinstance(condition, str) and condition:
        return condition[:100]
    text = str(error)
    # The client's connection errors carry the gRPC state in their text, never data.
    return next((state for state in _UNAVAILABLE if state in text), type(error).__name__)


def _import_pyspark() -> Any:
    try:
        with warnings.catch_warnings():
            # pyspark 4.2 warns that it "does not yet fully support pandas >= 3"; we never use
            # its pandas API (results are fetched as Arrow).
            warnings.simplefilter("ignore", FutureWarning)
            from pyspark.logger import PySparkLogger
            from pyspark.sql.connect.client.retries import DefaultPolicy
            from pyspark.sql.connect.session import SparkSession
    except ImportError:
        raise JobFailedError(
            "spark_unavailable",
            "this SQL node runs on Apache Spark, and this server lacks the Spark Connect client "
            "(install sealroom[spark])",
        ) from None
    for name in _QUIET_LOGGERS:
        # Made as pyspark makes them (it logs with keyword arguments a plain Logger refuses).
        PySparkLogger.getLogger(name).disabled = True
    return SparkSession, DefaultPolicy


@contextmanager
def _remote_session(
    spark: SparkConnect, timeout_seconds: float, *, ansi: bool
) -> Iterator[_Remote]:
    """A new Spark session for one run; released (with its views and cached data) at the end."""
    session_class, policy = _import_pyspark()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            session = session_class.builder.remote(spark.url).create()
    except Exception as error:  # noqa: BLE001 - pyspark raises many kinds for a bad server
        raise JobFailedError(
            "spark_unavailable",
            f"could not open a session on the Spark Connect server ({type(error).__name__})",
        ) from None
    session.client.set_retry_policies(
        [policy(max_retries=_CONNECT_RETRIES, max_backoff=_CONNECT_MAX_BACKOFF_MS)]
    )
    remote = _Remote(session, timeout_seconds)
    try:
        try:
            for key, value in {
                **_SESSION_CONF,
                "spark.sql.ansi.enabled": str(ansi).lower(),
            }.items():
                session.conf.set(key, value)
        except Exception as error:  # noqa: BLE001
            raise remote.error(error) from None
        remote._timer.start()
        yield remote
        remote.check()
    finally:
        remote._timer.cancel()
        # Releases the server-side session: its views and uploaded tables. The run's outcome
        # is already decided.
        with contextlib.suppress(Exception):
            session.stop()


class _Run:
    """The Spark side of one run, beside the DuckDB connection that holds the empty inputs."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        remote: _Remote,
        watchdog: _Watchdog,
        limits: SqlLimits,
    ) -> None:
        self.connection = connection
        self.remote = remote
        self.watchdog = watchdog
        self.limits = limits

    @contextmanager
    def _errors(self, node: str | None = None) -> Iterator[None]:
        """Spark's errors inside the block, reduced to their class (module invariants)."""
        self.watchdog.check()
        self.remote.check()
        try:
            yield
        except (SqlExecutionError, JobFailedError):
            raise
        except Exception as error:  # noqa: BLE001 - every Spark error is reduced to its class
            raise self.remote.error(error, node=node) from None
        self.remote.check()

    def _sql(self, sql: _Sql) -> DataFrame:
        text = to_spark_sql(sql.text)
        args = spark_parameters(text, sql.values)
        with self._errors(sql.node):
            frame: DataFrame = self.remote.session.sql(text, args=args or None)
        return frame

    def upload(self, tables: Mapping[str, pa.Table], views: Sequence[_Sql]) -> None:
        """The inputs as temporary views of the session (plaintext leaves the core here), then
        the intermediate SQL nodes as views over them.

        Each input is sent with one more column, :data:`_ROW_ID` (the input's index in the top
        bits, the row's number below), and its view selects the input's own columns: the
        privacy filter's source views read the row id as a deterministic unit (Spark refuses
        aggregates over ``monotonically_increasing_id``, and its ``row_number`` needs an order).
        """
        session = self.remote.session
        for index, (name, table) in enumerate(tables.items()):
            ids = np.arange(table.num_rows, dtype=np.int64) + (index << _ROW_BITS)
            sent = table.append_column(_ROW_ID, pa.array(ids))
            columns = ", ".join(_quote(column) for column in table.column_names)
            with self._errors(name):
                session.createDataFrame(sent).createOrReplaceTempView(_raw_name(index))
                session.sql(
                    f"CREATE TEMPORARY VIEW {_quote(name)} AS "  # noqa: S608 - names quoted
                    f"SELECT {columns} FROM {_quote(_raw_name(index))}"
                ).collect()
        for sql in views:
            frame = self._sql(sql)
            with self._errors(sql.node):
                frame.createOrReplaceTempView(sql.node or "")

    def select(self, sql: _Sql, max_rows: int, max_bytes: int) -> pa.Table:
        """``sql`` run by Spark, as DuckDB would type it, within the row and byte limits."""
        schema = self._duckdb_schema(sql)
        frame = self._sql(sql)
        with self._errors(sql.node):
            table: pa.Table = frame.limit(max_rows + 1).toArrow()
        if table.num_rows > max_rows:
            raise SqlExecutionError(
                "sql_result_too_large",
                f"the result has more than {max_rows} rows (max_result_rows)",
            )
        if table.nbytes > max_bytes:
            raise SqlExecutionError(
                "sql_result_too_large",
                f"the result is larger than {max_bytes} bytes (max_result_bytes)",
            )
        return _conform(table, schema)

    def _duckdb_schema(self, sql: _Sql) -> pa.Schema:
        """The schema DuckDB gives ``sql`` (run over the empty inputs: no rows)."""
        relation = _bind(self.connection, sql.text, self.watchdog, sql.values)
        return _fetch(relation, self.limits, self.watchdog).schema

    def filtered(
        self,
        query: _Sql,
        output_names: list[str],
        tables: Mapping[str, pa.Table],
        privacy: PrivacyFilter,
    ) -> pa.Table:
        """:func:`.engine._run_filtered` with ``groups_query`` run by Spark."""
        connection, watchdog = self.connection, self.watchdog
        relations: dict[str, list[tuple[str, str]]] = {}
        for index, (name, table) in enumerate(tables.items()):
            probe = connection.sql(f"SELECT * FROM {quote_identifier(name)} LIMIT 0")  # noqa: S608
            relations[name] = [(c, str(t)) for c, t in zip(probe.columns, probe.types, strict=True)]
            connection.execute(
                source_view_sql(name, index, table.column_names, privacy.unit_column)
            )
            spark_view = _spark_source_view(name, index, table.column_names, privacy.unit_column)
            with self._errors(name):
                self.remote.session.sql(spark_view).collect()

        plan, values = _plan_filter(connection, query, relations, privacy, output_names, watchdog)
        # The groups, their aggregates and whether each may be released: Spark reads the rows.
        groups = self.select(
            _Sql(plan.groups_query, values),
            self.limits.max_intermediate_rows,
            self.limits.max_intermediate_bytes,
        )
        # From here on, exactly what the DuckDB engine does with its groups table.
        try:
            connection.register(GROUPS_TABLE, groups)
        except duckdb.Error as error:
            raise _safe_error(error, watchdog, binding=False, node=None) from None
        watchdog.check()
        result = _fetch(connection.sql(plan.query), self.limits, watchdog)
        if plan.suppressed_query is None:
            return result
        try:
            row = connection.execute(plan.suppressed_query).fetchone()
        except duckdb.Error as error:
            raise _safe_error(error, watchdog, binding=False, node=None) from None
        suppressed = int(row[0]) if row is not None and row[0] is not None else 0
        metadata = {
            **(result.schema.metadata or {}),
            SUPPRESSED_GROUPS_KEY: str(suppressed).encode(),
        }
        return result.replace_schema_metadata(metadata)

    def dp(
        self, query: _Sql, output_names: list[str], tables: Mapping[str, pa.Table], spec: DpSpec
    ) -> pa.Table:
        """:mod:`.dp` with the exact aggregates read by Spark; noise and output in the core."""

        def fetch(sql: str) -> pa.Table:
            # The key types (typeof over an empty input) and the noisy table's projection.
            self.watchdog.check()
            relation = _bind(self.connection, sql, self.watchdog, query.values)
            return _fetch(relation, self.limits, self.watchdog)

        def fetch_rows(sql: str) -> pa.Table:
            bound = _values_for(self.connection, sql, query.values)
            return self.select(
                _Sql(sql, bound),
                self.limits.max_intermediate_rows,
                self.limits.max_intermediate_bytes,
            )

        try:
            result = run_dp_query(
                self.connection,
                query.text,
                spec,
                tables=tables,
                output_names=output_names,
                fetch=fetch,
                fetch_rows=fetch_rows,
            )
        except PrivacyFilterError as error:
            raise SqlExecutionError("sql_privacy_filter", str(error)) from None
        return result.table


def _spark_source_view(
    relation: str, index: int, columns: Sequence[str], unit_column: str | None
) -> str:
    """:func:`.privacy.source_view_sql` in Spark SQL: the input with its hidden unit column.

    ``xxhash64`` (64 bits, as DuckDB's ``hash``) of the privacy unit, or the row's id
    (:meth:`_Run.upload`): unique per row and input, so the units of different rows never
    merge. A NULL unit hashes to one constant, as in DuckDB: NULLs are one unit.
    """
    unit = None
    if unit_column is not None:
        unit = next((c for c in columns if c.lower() == unit_column.lower()), None)
    unit_sql = f"xxhash64({_quote(unit)})" if unit is not None else _quote(_ROW_ID)
    selected = ", ".join(_quote(column) for column in columns)
    view, source = _quote(source_view_name(index)), _quote(_raw_name(index))
    return (
        f"CREATE TEMPORARY VIEW {view} AS "  # noqa: S608 - every name quoted
        f"SELECT {selected}, {unit_sql} AS {_quote(UNIT_COLUMN)} FROM {source}"
    )


def _raw_name(index: int) -> str:
    """The view of input ``index`` as sent, with its row ids."""
    return f"{RESERVED_PREFIX}_in_{index}"


def _quote(name: str) -> str:
    """A Spark SQL identifier (backquotes, doubled inside)."""
    return "`" + name.replace("`", "``") + "`"


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Spark's result with DuckDB's column names and types (module invariants)."""
    if table.num_columns != len(schema):
        raise SqlExecutionError(
            "sql_error",
            f"Spark returned {table.num_columns} columns where DuckDB types {len(schema)}",
        )
    columns = []
    for index, (column, field) in enumerate(zip(table.columns, schema, strict=True)):
        if column.type == field.type:
            columns.append(column)
            continue
        try:
            columns.append(column.cast(field.type, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # Arrow's message quotes the value that failed: only the types are named.
            raise SqlExecutionError(
                "sql_error",
                f"result column {index + 1}: a value of Spark's type {column.type} does not "
                f"convert to DuckDB's type {field.type}",
            ) from None
    return pa.Table.from_arrays(columns, schema=schema)
