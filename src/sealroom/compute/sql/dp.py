"""Differential-privacy mode of SQL nodes: noisy COUNT / SUM / AVG per group, noise from OpenDP.

:func:`run_dp_query` answers one aggregate query over ONE input table with an (ε, δ)-
differentially private table. Every random draw of the noise and of the key selection comes
from OpenDP (``make_laplace``, ``make_laplace_threshold``); DuckDB computes the exact aggregates
and, for utility only, picks which rows of a unit to keep. The work is split in modules:
:mod:`.dp_plan` (shape, step 0), :mod:`.dp_keys` (group keys), :mod:`.dp_sql` (steps 1-4 and
the SQL of step 8), :mod:`.dp_noise` (steps 5-8); this module states the guarantee and runs them.

Guarantee. Two databases are *neighbours* when one is the other plus or minus ALL the rows of
one privacy unit in the input table (add/remove-one-person DP). A unit is one value of
``DpSpec.unit_column`` (rows whose unit is NULL are bounded together, as one unit); without a
unit column each row is a unit. Then everything the query releases — which group keys appear
and how they are spelled, every count, sum and average, the number and the order of rows — is
(ε, δ)-DP with ε = ``DpSpec.epsilon``, and δ = ``DpSpec.delta`` with ``GROUP BY``, δ = 0
without (one global row, always released), given the room's bounds (``max_rows_per_unit`` and
the clamp bounds). Across runs privacy losses add up: the caller charges ε (and δ) to the
room's budget per run.

What the guarantee does NOT cover (channels that remain, outside the released table):

* Running time. It depends on the data: the number of rows and groups, the size of values, how
  long one row's expression takes.
* Errors of the engine's limits: the time limit, DuckDB's memory and spill limits, the result
  limits (``max_result_rows``, ``max_result_bytes``) and :data:`MAX_DP_GROUPS`. What is fetched
  before the threshold has a size and a row count that are functions of the number of groups
  alone (:mod:`.dp_keys`, step 3) — never of a key's value — but one unit changes the number of
  groups by up to L, so an analyst who can bring the number of other groups to exactly a limit
  learns whether a unit adds a group. The time and memory limits can also be reached by one
  row's expression (a ``repeat()`` that builds a huge string for one row only): the cost of a
  row-level expression is not bounded.
* That the query ran and was charged, its text, the parameter values, the input's schema (the
  key types are read from it, not from the data) and the room's settings: public.

Closed, and covered by the guarantee: a key's value never changes the run's outcome before the
threshold. No key is converted to a Python value (a date after year 9999 once crashed the run
only when one row held it); keys whose size is unbounded or whose Arrow
form is not exact are refused at plan time, text keys are cut to
:data:`.dp_keys.MAX_KEY_CHARACTERS` characters, and every key is carried in a fixed width
before the threshold (so one row's long text cannot reach the result-size limit); OpenDP's
threshold sees integer labels and counts only. Errors of a row-level expression become NULL.

What the numbers are: counts, sums and averages of the rows kept by the contribution bound
(at most ``max_rows_per_unit`` per unit, chosen at random) with summed values clamped to their
bounds, plus noise — a person with more rows than the bound is under-counted by design.

Accepted shape (anything else raises :class:`~sealroom.errors.DpQueryError`, which the engine
reports with code ``sql_privacy_filter``)::

    SELECT <GROUP BY key | COUNT(*) | COUNT(col) | SUM(col) | AVG(col)> [AS name], ...
    FROM <one input table> [AS alias]
    [WHERE <row-level condition>]
    [GROUP BY <columns or expressions of columns>]
    [ORDER BY <output columns or GROUP BY keys>] [LIMIT n] [OFFSET m]

No joins, CTEs, subqueries, set operations, HAVING, DISTINCT, QUALIFY, window functions or
UNNEST (each can make one unit reach more rows or groups than the bound below); no COLLATE in a
key; SUM and AVG need clamp bounds for their (numeric) column in ``DpSpec.bounds``. A key must
have a boolean, integer (not UHUGEINT), decimal, floating-point, date, time, timestamp or
text-like (VARCHAR, JSON, ENUM, UUID: released as VARCHAR) type.

How, and why it is private (a proof sketch; names as in the code):

1. Row level, in DuckDB. ``WHERE``, the group keys and the clamped values are computed per row,
   under ``TRY`` (an error becomes NULL, so it cannot tell a hidden value; division by zero is
   NULL too). Each input row yields at most one row: a unit still owns only its own rows.
2. Contribution bound. Per unit, at most ``L = max_rows_per_unit`` rows are kept
   (``row_number() OVER (PARTITION BY unit ORDER BY random()) <= L``; a unit with at most L
   rows keeps them all without being ranked, the same rule, cheaper). Which rows a unit keeps
   depends only on that unit's rows, so adding or removing a unit adds or removes at most L
   rows and leaves the other units' kept rows identically distributed. (The draws are DuckDB's
   ``random()``: they only make the choice fair; any choice made from the unit's own rows alone
   would be as private.) Each kept row's keys are then made canonical (:mod:`.dp_keys`: one
   NaN, no -0.0, text cut and without collation), still a function of the row alone.
3. Clamping, in exact arithmetic. A summed value becomes ``v = round(clamp(x, lo, hi) * 2^s)``,
   an integer with ``|v| <= M`` (fixed point, ``FIXED_POINT_BITS`` bits); sums are HUGEINT, so
   no rounding error and no overflow depends on the data.
4. Exact aggregates per group g: rows ``n_g``, non-NULL counts ``c_g`` and fixed-point sums
   ``S_g``. L rows more or fewer change at most L groups, by at most L in total for ``n`` and
   ``c`` (L1 sensitivity L, L∞ sensitivity L) and by at most ``L*M`` in total for ``S``. The
   table comes sorted by key, every column of a fixed width.
5. Key selection (GROUP BY only): OpenDP's ``make_laplace_threshold`` on ``{label: n_g}``, with
   ``d_in = (l0, l1, l∞) = (L, L, L)``, releases ``{g: n_g + Z_g}`` for the keys whose noisy
   count reaches the threshold τ (Z discrete Laplace). A group's label is its row number in the
   exact table, an integer: the mechanism never sees a key value, and which label a group gets
   is internal (only the keys of released labels leave). Its scale is the smallest for which
   OpenDP's privacy map gives ε₀; τ the smallest integer for which that map gives δ ≤ δ_spec
   [Rogers 2023, "A unifying privacy analysis framework for unknown domain algorithms"].
   OpenDP 0.16's map undercounts δ by one step (opendp/opendp#2922: it releases a noisy count
   equal to τ but sums the tail above τ), so the mechanism runs with threshold τ + 1, whose
   true δ is what the map reports for τ.
6. Other statistics, over the released keys K in key order (a function of K only):
   a vector ``(c_g)`` or ``(S_g)`` noised in one call of OpenDP's ``make_laplace`` (discrete
   Laplace on integers; for floats OpenDP's exact sampler on a 2^k grid [CKS20], immune to the
   floating-point attack of Mironov 2012), scale calibrated by OpenDP's own privacy map to ε_i
   for the L1 sensitivity of step 4. A key of K absent from a neighbour counts as 0, which is
   what step 4 bounds. The one float rounding (the exact sum to float64) is covered by adding
   ``2 * 2^-53 * N_max * M = 2^-12 * M`` to the sensitivity (``N_max = 2^40`` rows, enforced).
7. Composition: steps 5 and 6 compose adaptively: (ε₀ + Σ ε_i, δ). The split is explicit and
   equal: ``m`` statistics — the row count (always with GROUP BY; without, only if COUNT(*) is
   asked), one per column counted (COUNT(col), AVG(col)), one per column summed (SUM(col),
   AVG(col)) — get ε/m each (rounded down so that the exact sum never exceeds ε). A statistic
   used by several outputs (AVG(x) and SUM(x)) is noised once and reused.
8. Post-processing, free: counts clamped at 0 (integers already); ``AVG = noisy sum / noisy
   count``, NULL if the noisy count is below 1, clamped to [lo, hi]; the released keys decoded
   (their fixed-width padding removed) in DuckDB; then ORDER BY, LIMIT and OFFSET run in DuckDB
   over the noisy rows, sorted by the user's order and then by the keys (never in DuckDB's hash
   order, which depends on hidden rows). Whatever happens to a released key from here on (a
   reader that cannot convert year 10000) depends on released data only.

Parameters (``$name``, :mod:`.parameters`): their values are bound by the engine and are public
constants of one run, fixed before any data is read. In ``WHERE`` and in group keys they only
choose *which* row-level function steps 1 and 5 apply, and the proof holds for every such
function; a value chosen after seeing earlier results is covered by adaptive composition, since
every run is charged to the room's budget. They are refused in ``LIMIT``/``OFFSET`` (planned
before the values are known); everywhere else the accepted shape leaves no room for them
(outputs are keys or aggregates of plain columns; the clamp bounds and the contribution bound
come from the room, never from the query).

OpenDP features: OpenDP 0.16 gates every measurement (``make_laplace``,
``make_laplace_threshold`` included) behind ``"contrib"`` — code with proofs that has not yet
been through OpenDP's external vetting. We enable ``"contrib"`` only, never
``"honest-but-curious"`` (user-defined functions without proofs) or ``"idealized-numerics"``
(trusting float arithmetic): the mechanisms we call come with OpenDP's proof documents.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import duckdb
import pyarrow as pa
from opendp.mod import OpenDPException

from sealroom.errors import DpQueryError

from .dp_keys import DpKey, classify_key, key_types_sql
from .dp_noise import release
from .dp_plan import plan_dp_query
from .dp_spec import DpSpec
from .dp_sql import NOISY_TABLE, exact_sql, final_sql
from .ipc import DP_DELTA_KEY, DP_EPSILON_KEY
from .references import quote_identifier as _quote

__all__ = [
    "DP_DELTA_KEY",
    "DP_EPSILON_KEY",
    "MAX_DP_GROUPS",
    "DpResult",
    "DpSpec",
    "run_dp_query",
]

#: Groups (distinct keys before selection) one run may have: OpenDP draws each noise value in
#: about 10-40 µs and cannot be interrupted by the engine's watchdog, so 1M groups ≈ 30 s.
MAX_DP_GROUPS: Final = 1_000_000

# Rows of the input table: the float-rounding slack of step 6 assumes at most 2^40 rows (over
# 10^12); 2^39 leaves room for the neighbour's extra rows. No in-memory table comes close.
_MAX_INPUT_ROWS: Final = 2**39


@dataclass(frozen=True)
class DpResult:
    """A noisy result (column names as DuckDB names the query's) and what producing it spent.

    ``table``'s schema metadata repeats ε and δ under :data:`DP_EPSILON_KEY` and
    :data:`DP_DELTA_KEY`. ``delta`` is 0 for a query without GROUP BY.
    """

    table: pa.Table
    epsilon: float
    delta: float


def run_dp_query(
    connection: duckdb.DuckDBPyConnection,
    query: str,
    spec: DpSpec,
    *,
    tables: Mapping[str, pa.Table],
    output_names: Sequence[str],
    fetch: Callable[[str], pa.Table],
    fetch_rows: Callable[[str], pa.Table] | None = None,
) -> DpResult:
    """Answer ``query`` with differential privacy (see the module docstring).

    ``tables`` are the inputs, already registered on ``connection`` under their names;
    ``output_names`` the column names DuckDB gives ``query``; ``fetch`` runs one SELECT on
    ``connection`` under the engine's limits and safe errors; ``fetch_rows``, when given, runs
    the one SELECT that reads the input's rows (the exact aggregates) instead, e.g. on Spark
    (:mod:`.spark`). Raises :class:`DpQueryError`.
    """
    relations: dict[str, list[tuple[str, str]]] = {}
    for name in tables:
        probe = connection.sql(f"SELECT * FROM {_quote(name)} LIMIT 0")  # noqa: S608 (quoted)
        relations[name] = [(c, str(t)) for c, t in zip(probe.columns, probe.types, strict=True)]
    plan = plan_dp_query(query, relations, spec, output_names)
    if tables[plan.relation].num_rows > _MAX_INPUT_ROWS:
        raise DpQueryError(f"differential-privacy mode reads at most {_MAX_INPUT_ROWS} rows")
    keys = _key_types(plan.relation, plan.alias, plan.keys, fetch)
    exact = (fetch_rows or fetch)(exact_sql(plan, spec, keys))
    if exact.num_rows > MAX_DP_GROUPS:
        raise DpQueryError(
            f"differential-privacy mode handles at most {MAX_DP_GROUPS} groups (MAX_DP_GROUPS)"
        )
    try:
        noisy = release(exact, plan, spec, keys)
    except (OpenDPException, ValueError) as error:
        # OpenDP's message may quote inputs; its variant name does not.
        variant = getattr(error, "variant", None) or type(error).__name__
        raise DpQueryError(f"the OpenDP mechanism failed ({variant})") from None
    connection.register(NOISY_TABLE, noisy)
    try:
        table = fetch(final_sql(plan, keys, output_names))
    finally:
        connection.unregister(NOISY_TABLE)
    delta = spec.delta if plan.keys else 0.0
    metadata = {
        **(table.schema.metadata or {}),
        DP_EPSILON_KEY: repr(spec.epsilon).encode(),
        DP_DELTA_KEY: repr(delta).encode(),
    }
    return DpResult(table.replace_schema_metadata(metadata), spec.epsilon, delta)


def _key_types(
    relation: str, alias: str, raw_keys: Sequence[str], fetch: Callable[[str], pa.Table]
) -> list[DpKey]:
    """dp_keys step 1: DuckDB's type of each key, from an empty input; refuses unsafe types."""
    if not raw_keys:
        return []
    types = fetch(key_types_sql(relation, alias, raw_keys))
    # One row of type names (VARCHAR), read from the schema: converting it is safe.
    names = [str(types.column(j)[0].as_py()) for j in range(len(raw_keys))]
    return [classify_key(j, name) for j, name in enumerate(names)]
