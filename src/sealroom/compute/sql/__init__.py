"""SQL computations of the trusted core: reference checking, sandboxed DuckDB, result encodings.

* :mod:`.references` — definition time: which tables a query reads; refuses anything but one
  read-only query over bare table names (:func:`referenced_tables`,
  :func:`check_query_dependencies`).
* :mod:`.parameters` — named ``$name`` parameters: which a query uses and whether it may
  (definition time, :func:`.parameters.check_query_parameters`), whether a run's values are
  acceptable (:func:`.parameters.check_parameter_values`); :func:`run_sql` binds the values.
* :mod:`.engine` — run time: :func:`run_sql` in a fresh connection to a locked, in-memory
  DuckDB with explicit limits; failures are :class:`~sealroom.errors.SqlExecutionError` with
  messages free of data values.
* :mod:`.privacy` — the privacy filter: analyses and rewrites a query so that every result row
  aggregates at least *k* units of each input (:class:`PrivacyFilter`).
* :mod:`.dp` — differential privacy: one-table aggregates with bounded contributions and
  OpenDP noise (:class:`DpSpec`).
* :mod:`.ipc` — typed results on the wire: Arrow IPC streams and their schema-metadata keys.
* :mod:`.results` — the CSV encoding, as DuckDB writes it.

Layering: :mod:`.references` and :mod:`.parameters` need only sqlglot, :mod:`.ipc` only pyarrow;
the SDK imports those three modules directly (the builder checks queries before anything is sent)
and must not load DuckDB or OpenDP. So this package's names are imported on first use
(:pep:`562`), not when the package is: ``import sealroom.compute.sql.references`` stays light,
while ``from sealroom.compute.sql import run_sql`` loads the engine as before.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .dp import DpResult, DpSpec
    from .engine import SqlLimits, run_sql
    from .ipc import (
        DP_DELTA_KEY,
        DP_EPSILON_KEY,
        SUPPRESSED_GROUPS_KEY,
        table_from_ipc,
        table_to_ipc,
    )
    from .parameters import check_parameter_values, check_query_parameters, query_parameters
    from .privacy import PrivacyFilter
    from .references import check_query_dependencies, fold_identifier, referenced_tables
    from .results import table_to_csv

# Public name -> the submodule defining it.
_LAZY: dict[str, str] = {
    "DP_DELTA_KEY": "ipc",
    "DP_EPSILON_KEY": "ipc",
    "SUPPRESSED_GROUPS_KEY": "ipc",
    "DpResult": "dp",
    "DpSpec": "dp",
    "PrivacyFilter": "privacy",
    "SqlLimits": "engine",
    "check_parameter_values": "parameters",
    "check_query_dependencies": "references",
    "check_query_parameters": "parameters",
    "fold_identifier": "references",
    "query_parameters": "parameters",
    "referenced_tables": "references",
    "run_sql": "engine",
    "table_from_ipc": "ipc",
    "table_to_csv": "results",
    "table_to_ipc": "ipc",
}


def __getattr__(name: str) -> Any:
    submodule = _LAZY.get(name)
    if submodule is None:
        # Also how ``from sealroom.compute.sql import privacy_allowlist`` finds a submodule.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DP_DELTA_KEY",
    "DP_EPSILON_KEY",
    "SUPPRESSED_GROUPS_KEY",
    "DpResult",
    "DpSpec",
    "PrivacyFilter",
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
