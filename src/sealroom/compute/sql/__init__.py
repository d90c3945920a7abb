"""SQL computations of the trusted core: reference checking, sandboxed DuckDB, result encodings.

* :mod:`.references` — definition time: which tables a query reads; refuses anything but one
  read-only query over bare table names (:func:`referenced_tables`,
  :func:`check_query_dependencies`).
* :mod:`.engine` — run time: :func:`run_sql` in a fresh, locked, in-memory DuckDB with explicit
  limits; failures are :class:`SqlExecutionError` with messages free of data values.
* :mod:`.privacy` — the privacy filter: analyses and rewrites a query so that every result row
  aggregates at least *k* units of each input (:class:`PrivacyFilter`).
* :mod:`.dp` — differential privacy: one-table aggregates with bounded contributions and
  OpenDP noise (:class:`DpSpec`).
* :mod:`.results` — result encodings: CSV as DuckDB writes it, Arrow IPC stream for typed results.
* :mod:`.parameters` — named ``$name`` parameters: which a query uses and whether it may
  (definition time, :func:`.parameters.check_query_parameters`), whether a run's values are
  acceptable (:func:`.parameters.check_parameter_values`); :func:`run_sql` binds the values.
"""

from __future__ import annotations

from .dp import DP_DELTA_KEY, DP_EPSILON_KEY, DpResult, DpSpec
from .engine import SUPPRESSED_GROUPS_KEY, SqlErrorCode, SqlExecutionError, SqlLimits, run_sql
from .parameters import check_parameter_values, check_query_parameters, query_parameters
from .privacy import PrivacyFilter
from .references import check_query_dependencies, fold_identifier, referenced_tables
from .results import table_from_ipc, table_to_csv, table_to_ipc

__all__ = [
    "DP_DELTA_KEY",
    "DP_EPSILON_KEY",
    "SUPPRESSED_GROUPS_KEY",
    "DpResult",
    "DpSpec",
    "PrivacyFilter",
    "SqlErrorCode",
    "SqlExecutionError",
    "SqlLimits",
    "check_parameter_values",
    "check_query_dependencies",
    "check_query_parameters",
    "fold_identifier",
    "query_parameters",
    "referenced_tables",
    "run_sql",
    "table_from_ipc",
    "table_to_csv",
    "table_to_ipc",
]
