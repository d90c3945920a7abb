"""Differential-privacy mode of SQL nodes: noisy COUNT / SUM / AVG per group, noise from OpenDP.

:func:`run_dp_query` answers one aggregate query over ONE input table with an (ε, δ)-
differentially private table. Every random draw of the noise and of the key selection comes
from OpenDP (``make_laplace``, ``make_laplace_threshold``); DuckDB computes the exact aggregates
and, for utility only, picks which rows of a unit to keep.

Guarantee. Two databases are *neighbours* when one is the other plus or minus ALL the rows of
one privacy unit in the input table (add/remove-one-person DP). A unit is one value of
``DpSpec.unit_column`` (rows whose unit is NULL are bounded together, as one unit); without a
unit column each row is a unit. Then everything the query releases — which group keys appear,
every value, the number and the order of rows — is (ε, δ)-DP with ε = ``DpSpec.epsilon``, and
δ = ``DpSpec.delta`` with ``GROUP BY``, δ = 0 without (one global row, always released). Across
runs privacy losses add up: the caller charges ε (and δ) to the room's budget per run.

What the numbers are: counts, sums and averages of the rows kept by the contribution bound
(at most ``max_rows_per_unit`` per unit, chosen at random) with summed values clamped to their
bounds, plus noise — a person with more rows than the bound is under-counted by design.

Accepted shape (anything else raises :class:`DpQueryError`, which the engine reports with code
``sql_privacy_filter``)::

    SELECT <GROUP BY key | COUNT(*) | COUNT(col) | SUM(col) | AVG(col)> [AS name], ...
    FROM <one input table> [AS alias]
    [WHERE <row-level condition>]
    [GROUP BY <columns or expressions of columns>]
    [ORDER BY <output columns or GROUP BY keys>] [LIMIT n] [OFFSET m]

No joins, CTEs, subqueries, set operations, HAVING, DISTINCT, QUALIFY, window functions or
UNNEST (each can make one unit reach more rows or groups than the bound below); SUM and AVG need
clamp bounds for their (numeric) column in ``DpSpec.bounds``.

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
   would be as private.)
3. Clamping, in exact arithmetic. A summed value becomes ``v = round(clamp(x, lo, hi) * 2^s)``,
   an integer with ``|v| <= M`` (fixed point, ``_FIXED_POINT_BITS`` bits); sums are HUGEINT, so
   no rounding error and no overflow depends on the data.
4. Exact aggregates per group g: rows ``n_g``, non-NULL counts ``c_g`` and fixed-point sums
   ``S_g``. L rows more or fewer change at most L groups, by at most L in total for ``n`` and
   ``c`` (L1 sensitivity L, L∞ sensitivity L) and by at most ``L*M`` in total for ``S``.
5. Key selection (GROUP BY only): OpenDP's ``make_laplace_threshold`` on ``{key: n_g}``, with
   ``d_in = (l0, l1, l∞) = (L, L, L)``, releases ``{g: n_g + Z_g}`` for the keys whose noisy
   count reaches the threshold τ (Z discrete Laplace). Its scale is the smallest for which
   OpenDP's privacy map gives ε₀; τ the smallest integer for which that map gives δ ≤ δ_spec
   [Rogers 2023, "A unifying privacy analysis framework for unknown domain algorithms"].
   OpenDP 0.16's map undercounts δ by one step (opendp/opendp#2922: it releases a noisy count
   equal to τ but sums the tail above τ), so the mechanism runs with threshold τ + 1, whose
   true δ is what the map reports for τ. Keys are identified by a canonical encoding of their
   values (``repr`` after -0.0 → 0.0), so a group has the same identity in neighbours.
6. Other statistics, over the released keys K in sorted-label order (a function of K only):
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
   count``, NULL if the noisy count is below 1, clamped to [lo, hi]; then ORDER BY, LIMIT and
   OFFSET run in DuckDB over the noisy rows, sorted by the user's order and then by the keys
   (never in DuckDB's hash order, which depends on hidden rows).

Parameters (``$name``, :mod:`.parameters`): their values are bound by the engine and are public
constants of one run, fixed before any data is read. In ``WHERE`` and in group keys they only
choose *which* row-level function steps 1 and 5 apply, and the proof holds for every such
function; a value chosen after seeing earlier results is covered by adaptive composition, since
every run is charged to the room's budget. They are refused in ``LIMIT``/``OFFSET`` (planned
before the values are known); everywhere else the accepted shape leaves no room for them
(outputs are keys or aggregates of plain columns; the clamp bounds and the contribution bound
come from the room, never from the query).

Not covered by the guarantee (documented one-bit channels): errors from the engine's limits
(time, memory, result size, :data:`MAX_DP_GROUPS`) and running time, which depend on the
number of rows and groups — never on a single value, whose errors ``TRY`` absorbs.

OpenDP features: OpenDP 0.16 gates every measurement (``make_laplace``,
``make_laplace_threshold`` included) behind ``"contrib"`` — code with proofs that has not yet
been through OpenDP's external vetting. We enable ``"contrib"`` only, never
``"honest-but-curious"`` (user-defined functions without proofs) or ``"idealized-numerics"``
(trusting float arithmetic): the mechanisms we call come with OpenDP's proof documents.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot

# Not opendp.prelude: it imports opendp.extras, which loads scikit-learn when installed (1.3 s).
from opendp import domains, measurements, metrics
from opendp.mod import Measurement, OpenDPException, binary_search, enable_features
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from .privacy import RESERVED_PREFIX, PrivacyFilterError
from .references import quote_identifier as _quote

__all__ = [
    "DP_DELTA_KEY",
    "DP_EPSILON_KEY",
    "MAX_DP_GROUPS",
    "DpQueryError",
    "DpResult",
    "DpSpec",
    "run_dp_query",
]

#: Arrow schema metadata of a DP result: ε and δ spent by the run (``repr`` of a float).
DP_EPSILON_KEY: Final = b"sealroom.dp_epsilon"
DP_DELTA_KEY: Final = b"sealroom.dp_delta"

#: Groups (distinct keys before selection) one run may have: OpenDP draws each noise value in
#: about 10-40 µs and cannot be interrupted by the engine's watchdog, so 1M groups ≈ 30 s.
MAX_DP_GROUPS: Final = 1_000_000

# Rows of the input table: the float-rounding slack of step 6 assumes at most 2^40 rows (over
# 10^12); 2^39 leaves room for the neighbour's extra rows. No in-memory table comes close.
_MAX_INPUT_ROWS: Final = 2**39
# Rows one unit may contribute: sensitivity and noise grow linearly with it; 2^20 keeps
# L * M (step 3) far inside float64 and leaves the neighbour within _MAX_INPUT_ROWS.
_MAX_ROWS_PER_UNIT: Final = 2**20
# δ above 1e-3 is no longer "cryptographically small" for key release (one in a thousand keys
# of a single person could be shown).
_MAX_DELTA: Final = 1e-3
# Fixed point of step 3: |v| <= 2^40 per row, so HUGEINT (2^127) holds sums of 2^86 rows and the
# grid (2^-40 of the bound) is far below any noise.
_FIXED_POINT_BITS: Final = 40
# Bounds whose magnitude lies outside this range would need a scale 2^s outside float64.
_BOUND_MAGNITUDE: Final = (1e-100, 1e100)
# Float rounding slack of step 6, in units of M: 2 * 2^-53 * 2^40.
_FLOAT_SLACK: Final = Fraction(1, 2**12)
# Largest threshold OpenDP's i64 counts can hold; used to calibrate the scale with δ ≈ 0.
_LARGEST_THRESHOLD: Final = 2**62

_P: Final = RESERVED_PREFIX + "_dp"
_NOISY_TABLE: Final = f"{_P}_noisy"
_UNIT: Final = f"{_P}_unit"
_DRAW: Final = f"{_P}_draw"
_ROWS: Final = f"{_P}_rows"

_NUMERIC_TYPE: Final = re.compile(
    r"(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\s*\d+\))"
)
# The clauses a DP query may have (sqlglot's argument names of a SELECT).
_ALLOWED_CLAUSES: Final = frozenset({"expressions", "from", "from_", "where", "group", "order"})
_ALLOWED_CLAUSES_AFTER_NOISE: Final = frozenset({"limit", "offset"})
_SHAPE: Final = (
    "differential-privacy mode accepts SELECT <GROUP BY keys and COUNT(*), COUNT(col), "
    "SUM(col), AVG(col)> FROM <one input> [WHERE ...] [GROUP BY ...] [ORDER BY ...] [LIMIT n]"
)


class DpQueryError(PrivacyFilterError):
    """The query cannot run in differential-privacy mode; the message says why (no values)."""


@dataclass(frozen=True)
class DpSpec:
    """What one DP run may spend and how contributions are bounded.

    ``epsilon`` (> 0, finite) is spent by one run; ``delta`` (0 < δ < 1e-3) pays for releasing
    group keys read from the data. ``unit_column`` names the privacy unit (a person) in the
    input; ``None`` makes each row a unit, and then ``max_rows_per_unit`` must be 1.
    ``bounds`` maps each column summed or averaged (any case; kept lower case) to the clamp
    interval ``(lo, hi)``, lo < hi, both finite.
    """

    epsilon: float
    delta: float
    unit_column: str | None = None
    max_rows_per_unit: int = 1
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.epsilon, int | float) and math.isfinite(self.epsilon)):
            raise ValueError("DpSpec.epsilon must be a finite number")
        if self.epsilon <= 0:
            raise ValueError("DpSpec.epsilon must be positive")
        if not (isinstance(self.delta, int | float) and 0 < self.delta < _MAX_DELTA):
            raise ValueError(f"DpSpec.delta must be in (0, {_MAX_DELTA:g})")
        rows = self.max_rows_per_unit
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise ValueError("DpSpec.max_rows_per_unit must be a positive integer")
        if rows > _MAX_ROWS_PER_UNIT:
            raise ValueError(f"DpSpec.max_rows_per_unit must be at most {_MAX_ROWS_PER_UNIT}")
        if self.unit_column is None and rows != 1:
            raise ValueError("DpSpec.max_rows_per_unit must be 1 without a unit_column")
        if self.unit_column is not None and not self.unit_column:
            raise ValueError("DpSpec.unit_column must be a column name or None")
        bounds: dict[str, tuple[float, float]] = {}
        for name, (lo, hi) in self.bounds.items():
            key = name.lower()
            if key in bounds:
                raise ValueError(f"DpSpec.bounds names column {key!r} twice")
            lo, hi = float(lo), float(hi)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"DpSpec.bounds of {key!r} must be finite with lo < hi")
            magnitude = max(abs(lo), abs(hi))
            if not _BOUND_MAGNITUDE[0] <= magnitude <= _BOUND_MAGNITUDE[1]:
                raise ValueError(
                    f"DpSpec.bounds of {key!r} must have a magnitude in "
                    f"[{_BOUND_MAGNITUDE[0]:g}, {_BOUND_MAGNITUDE[1]:g}]"
                )
            bounds[key] = (lo, hi)
        object.__setattr__(self, "bounds", MappingProxyType(bounds))


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
) -> DpResult:
    """Answer ``query`` with differential privacy (see the module docstring).

    ``tables`` are the inputs, already registered on ``connection`` under their names;
    ``output_names`` the column names DuckDB gives ``query``; ``fetch`` runs one SELECT on
    ``connection`` under the engine's limits and safe errors. Raises :class:`DpQueryError`.
    """
    relations: dict[str, list[tuple[str, str]]] = {}
    for name in tables:
        probe = connection.sql(f"SELECT * FROM {_quote(name)} LIMIT 0")  # noqa: S608 (quoted)
        relations[name] = [(c, str(t)) for c, t in zip(probe.columns, probe.types, strict=True)]
    plan = _Planner(relations, spec).plan(query, output_names)
    if tables[plan.relation].num_rows > _MAX_INPUT_ROWS:
        raise DpQueryError(f"differential-privacy mode reads at most {_MAX_INPUT_ROWS} rows")
    exact = fetch(_exact_sql(plan, spec))
    if exact.num_rows > MAX_DP_GROUPS:
        raise DpQueryError(
            f"differential-privacy mode handles at most {MAX_DP_GROUPS} groups (MAX_DP_GROUPS)"
        )
    try:
        noisy = _release(exact, plan, spec)
    except (OpenDPException, ValueError) as error:
        # OpenDP's message may quote inputs; its variant name does not.
        variant = getattr(error, "variant", None) or type(error).__name__
        raise DpQueryError(f"the OpenDP mechanism failed ({variant})") from None
    connection.register(_NOISY_TABLE, noisy)
    try:
        table = fetch(_final_sql(plan, output_names))
    finally:
        connection.unregister(_NOISY_TABLE)
    delta = spec.delta if plan.keys else 0.0
    metadata = {
        **(table.schema.metadata or {}),
        DP_EPSILON_KEY: repr(spec.epsilon).encode(),
        DP_DELTA_KEY: repr(delta).encode(),
    }
    return DpResult(table.replace_schema_metadata(metadata), spec.epsilon, delta)


# -- planning -------------------------------------------------------------------------------

_Kind = Literal["key", "rows", "count", "sum", "avg"]


@dataclass(frozen=True)
class _Output:
    """One output column: a GROUP BY key (``index`` into the keys) or a statistic of a column."""

    kind: _Kind
    index: int = -1
    column: str = ""


@dataclass(frozen=True)
class _Plan:
    relation: str  # the input's registered name
    alias: str
    unit: str | None  # the unit column's name in the input
    where: str | None  # SQL of the TRY'd condition
    keys: list[str]  # SQL of the TRY'd group keys
    outputs: list[_Output]
    counted: dict[str, str]  # lower-case column -> its SQL, for COUNT(col) and AVG(col)
    summed: dict[str, str]  # lower-case column -> its SQL, for SUM(col) and AVG(col)
    order: list[tuple[str, bool, bool]]  # (noisy table column, descending, nulls first)
    limit: int | None
    offset: int | None

    @property
    def needs_rows(self) -> bool:
        return bool(self.keys) or any(o.kind == "rows" for o in self.outputs)


class _Planner:
    def __init__(self, relations: Mapping[str, Sequence[tuple[str, str]]], spec: DpSpec) -> None:
        self._relations = relations
        self._spec = spec

    def plan(self, query: str, output_names: Sequence[str]) -> _Plan:
        select = self._parse(query)
        source = select.args.get("from_") or select.args.get("from")
        table = source.this if isinstance(source, exp.From) else None
        relation = self._relation(table)
        columns = {c.lower(): (c, t) for c, t in self._relations[relation]}
        select = self._qualify(select, relation, columns)
        source = select.args.get("from_") or select.args.get("from")
        assert isinstance(source, exp.From)
        assert isinstance(source.this, exp.Table)
        alias = source.this.alias_or_name
        unit = self._unit(columns)
        group = select.args.get("group")
        keys: list[exp.Expr] = list(group.expressions) if group is not None else []
        grouping_sets = (exp.Rollup, exp.Cube, exp.GroupingSets)
        if group is not None and (
            any(group.args.get(a) for a in group.args if a != "expressions")
            or any(isinstance(key, grouping_sets) for key in keys)
        ):
            raise DpQueryError(
                "GROUP BY ALL, ROLLUP, CUBE and GROUPING SETS are refused in differential-"
                "privacy mode (a row would count in several groups); list the keys"
            )
        outputs = [self._output(i, p, keys, columns) for i, p in enumerate(select.expressions)]
        if len(outputs) != len(output_names):
            raise DpQueryError("differential-privacy mode could not match the output columns")
        if not keys and not any(o.kind != "key" for o in outputs):
            raise DpQueryError(f"the query must aggregate: {_SHAPE}")
        where = select.args.get("where")
        return _Plan(
            relation=relation,
            alias=alias,
            unit=unit,
            where=_try_sql(where.this) if where is not None else None,
            keys=[_try_sql(key) for key in keys],
            outputs=outputs,
            counted={
                o.column: _column_sql(alias, columns[o.column][0])
                for o in outputs
                if o.kind in ("count", "avg")
            },
            summed={
                o.column: _column_sql(alias, columns[o.column][0])
                for o in outputs
                if o.kind in ("sum", "avg")
            },
            order=self._order(select, outputs, keys),
            limit=_literal_count(select.args.get("limit"), "LIMIT"),
            offset=_literal_count(select.args.get("offset"), "OFFSET"),
        )

    def _parse(self, query: str) -> exp.Select:
        try:
            statements = sqlglot.parse(query, read="duckdb")
        except SqlglotError:
            raise DpQueryError(
                "differential-privacy mode could not parse the query (DuckDB SQL expected)"
            ) from None
        if len(statements) != 1 or not isinstance(statements[0], exp.Select):
            raise DpQueryError(f"{_SHAPE}; set operations are refused")
        select = statements[0]
        for identifier in select.find_all(exp.Identifier):
            if identifier.name.lower().startswith(RESERVED_PREFIX):
                raise DpQueryError(f"names starting with {RESERVED_PREFIX} are reserved")
        allowed = _ALLOWED_CLAUSES | _ALLOWED_CLAUSES_AFTER_NOISE
        for clause, value in select.args.items():
            if value and clause not in allowed:
                name = clause.rstrip("_").upper().replace("_", " ")
                raise DpQueryError(f"{name} is refused in differential-privacy mode; {_SHAPE}")
        for node in select.find_all(exp.Query, exp.Subquery):
            if node is not select:
                raise DpQueryError(
                    "subqueries are refused in differential-privacy mode (they read rows "
                    "outside the contribution bound)"
                )
        for star in select.find_all(exp.Star):
            if not isinstance(star.parent, exp.Count):
                raise DpQueryError("list the columns instead of * in differential-privacy mode")
        refused = (exp.Window, exp.Unnest, exp.Explode, exp.Lateral, exp.Pivot, exp.Columns)
        for found in select.find_all(*refused):
            raise DpQueryError(
                f"{type(found).__name__.upper()} is refused in differential-privacy mode (it "
                "copies or multiplies rows across the contribution bound)"
            )
        return select

    def _relation(self, table: exp.Expr | None) -> str:
        by_name = {name.lower(): name for name in self._relations}
        alias = table.args.get("alias") if isinstance(table, exp.Table) else None
        if (
            not isinstance(table, exp.Table)
            or not isinstance(table.this, exp.Identifier)
            or table.args.get("db") is not None
            or table.args.get("catalog") is not None
            or table.name.lower() not in by_name
            or any(table.args.get(a) for a in table.args if a not in ("this", "alias"))
            or (alias is not None and alias.args.get("columns"))
        ):
            raise DpQueryError(
                "in differential-privacy mode FROM must name exactly one input table of the "
                "node (no joins, table functions, intermediate SQL nodes or column aliases)"
            )
        return by_name[table.name.lower()]

    def _qualify(
        self, select: exp.Select, relation: str, columns: Mapping[str, tuple[str, str]]
    ) -> exp.Select:
        schema: dict[str, object] = {
            relation.lower(): {lower: kind for lower, (_, kind) in columns.items()}
        }
        try:
            qualified = qualify(
                select,
                schema=schema,
                dialect="duckdb",
                quote_identifiers=True,
                validate_qualify_columns=True,
            )
        except SqlglotError as error:
            # sqlglot's messages name columns and tables of the query text, never values.
            raise DpQueryError(
                f"differential-privacy mode could not resolve the query: {str(error)[:300]}"
            ) from None
        assert isinstance(qualified, exp.Select)
        return qualified

    def _unit(self, columns: Mapping[str, tuple[str, str]]) -> str | None:
        name = self._spec.unit_column
        if name is None:
            return None
        if name.lower() not in columns:
            raise DpQueryError(
                f"the input has no privacy unit column {name!r}; differential-privacy mode "
                "needs it to bound each person's contribution"
            )
        return columns[name.lower()][0]

    def _output(
        self,
        index: int,
        projection: exp.Expr,
        keys: Sequence[exp.Expr],
        columns: Mapping[str, tuple[str, str]],
    ) -> _Output:
        target = projection.this if isinstance(projection, exp.Alias) else projection
        for position, key in enumerate(keys):
            if target == key:
                return _Output("key", index=position)
        if isinstance(target, exp.Count) and isinstance(target.this, exp.Star):
            return _Output("rows")
        if not isinstance(target, exp.Count | exp.Sum | exp.Avg) or not isinstance(
            target.this, exp.Column
        ):
            raise DpQueryError(
                f"output column {index + 1} must be a GROUP BY key or one of COUNT(*), COUNT(col), "
                "SUM(col), AVG(col) of a plain column, alone (no DISTINCT, FILTER or "
                "arithmetic around it)"
            )
        column = target.this.name.lower()
        if isinstance(target, exp.Count):
            return _Output("count", column=column)
        kind: _Kind = "sum" if isinstance(target, exp.Sum) else "avg"
        function = kind.upper()
        if not _NUMERIC_TYPE.fullmatch(columns[column][1]):
            raise DpQueryError(f"{function}({column}) needs a numeric column")
        if column not in self._spec.bounds:
            raise DpQueryError(
                f"{function}({column}) needs clamp bounds for column {column!r} "
                "(bounds: the smallest and largest value one row may contribute)"
            )
        return _Output(kind, column=column)

    def _order(
        self, select: exp.Select, outputs: Sequence[_Output], keys: Sequence[exp.Expr]
    ) -> list[tuple[str, bool, bool]]:
        """ORDER BY terms as (column of the noisy table, descending, nulls first)."""
        order = select.args.get("order")
        if order is None:
            return []
        aliases = [p.alias_or_name for p in select.expressions]
        targets = [p.this if isinstance(p, exp.Alias) else p for p in select.expressions]
        terms: list[tuple[str, bool, bool]] = []
        for ordered in order.expressions:
            term = ordered.this
            if isinstance(term, exp.Column) and not term.table and term.name in aliases:
                position = aliases.index(term.name)
                name = _noisy_column(outputs[position], position)
            elif term in targets:
                position = targets.index(term)
                name = _noisy_column(outputs[position], position)
            elif term in keys:
                name = _key_column(list(keys).index(term))
            else:
                raise DpQueryError(
                    "in differential-privacy mode ORDER BY may name only output columns or "
                    "GROUP BY keys (it sorts the noisy result)"
                )
            descending = bool(ordered.args.get("desc"))
            terms.append((name, descending, bool(ordered.args.get("nulls_first"))))
        return terms


def _literal_count(clause: exp.Expr | None, name: str) -> int | None:
    if clause is None:
        return None
    if clause.find(exp.Placeholder) is not None:
        raise DpQueryError(
            f"a parameter in {name} is refused in differential-privacy mode; write a whole number"
        )
    value = clause.args.get("expression")
    if (
        not isinstance(value, exp.Literal)
        or value.is_string
        or not str(value.this).isdigit()
        or any(clause.args.get(a) for a in clause.args if a != "expression")
    ):
        raise DpQueryError(f"{name} must be a whole number in differential-privacy mode")
    return int(str(value.this))


def _try_sql(node: exp.Expr) -> str:
    """A row-level expression under TRY: an error must not tell a hidden value."""
    plain = isinstance(node, exp.Column | exp.Literal | exp.Null | exp.Boolean)
    return node.sql(dialect="duckdb") if plain else exp.Try(this=node.copy()).sql("duckdb")


def _column_sql(alias: str, column: str) -> str:
    return f"{_quote(alias)}.{_quote(column)}"


# -- SQL ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FixedPoint:
    """Step 3: ``v = round(clamp(x) * factor)`` with ``|v| <= units``; a sum is ``S * 2^-shift``."""

    lo: float
    hi: float
    shift: int
    units: int

    @classmethod
    def of(cls, lo: float, hi: float) -> _FixedPoint:
        exponent = math.frexp(max(abs(lo), abs(hi)))[1]  # the bound is < 2^exponent
        shift = _FIXED_POINT_BITS - exponent
        # |lo|, |hi| times a power of two are exact; ceil bounds round() in either direction.
        units = max(math.ceil(math.ldexp(abs(lo), shift)), math.ceil(math.ldexp(abs(hi), shift)))
        return cls(lo, hi, shift, units)

    def sql(self, column: str) -> str:
        lo, hi, factor = (_double(v) for v in (self.lo, self.hi, math.ldexp(1.0, self.shift)))
        value = f"least(greatest(CAST({column} AS DOUBLE), {lo}), {hi})"
        # GREATEST and LEAST skip NULLs: keep NULL as NULL (not the lower bound). NaN -> hi.
        return (
            f"TRY(CASE WHEN {column} IS NULL THEN NULL "
            f"ELSE CAST(round({value} * {factor}) AS BIGINT) END)"
        )


def _double(value: float) -> str:
    # repr round-trips exactly and DuckDB parses strings to DOUBLE correctly rounded.
    return f"CAST('{value!r}' AS DOUBLE)"


def _exact_sql(plan: _Plan, spec: DpSpec) -> str:
    """Steps 1-4: the exact aggregates per group, over at most L rows per unit."""
    inner = [f"1 AS {_quote(_P + '_one')}"]
    inner += [f"{key} AS {_quote(_key_column(j))}" for j, key in enumerate(plan.keys)]
    inner += [
        f"({sql} IS NOT NULL) AS {_quote(f'{_P}_n{i}')}"
        for i, sql in enumerate(plan.counted.values())
    ]
    inner += [
        f"{_FixedPoint.of(*spec.bounds[column]).sql(sql)} AS {_quote(f'{_P}_v{i}')}"
        for i, (column, sql) in enumerate(plan.summed.items())
    ]
    if plan.unit is not None:
        # DuckDB refuses a volatile ORDER BY in a window: draw the random order as a column.
        inner.append(f"{_column_sql(plan.alias, plan.unit)} AS {_quote(_UNIT)}")
        inner.append(f"random() AS {_quote(_DRAW)}")
    source = f"{_quote(plan.relation)} AS {_quote(plan.alias)}"
    rows = f"SELECT {', '.join(inner)} FROM {source}"  # noqa: S608 (generated, quoted)
    if plan.where is not None:
        rows += f" WHERE {plan.where}"
    if plan.unit is not None:
        rows = _bounded_rows_sql(rows, spec.max_rows_per_unit)
    keys = [_quote(_key_column(j)) for j in range(len(plan.keys))]
    outer = [*keys, f"COUNT(*) AS {_quote(_ROWS)}"]
    outer += [
        f"COALESCE(count_if({_quote(f'{_P}_n{i}')}), 0) AS {_quote(f'{_P}_c{i}')}"
        for i in range(len(plan.counted))
    ]
    outer += [
        f"COALESCE(SUM({_quote(f'{_P}_v{i}')}), 0)::HUGEINT AS {_quote(f'{_P}_s{i}')}"
        for i in range(len(plan.summed))
    ]
    sql = f"SELECT {', '.join(outer)} FROM ({rows})"  # noqa: S608 (generated, quoted)
    if keys:
        sql += f" GROUP BY {', '.join(keys)}"
    return sql


def _bounded_rows_sql(rows: str, bound: int) -> str:
    """Step 2: at most ``bound`` rows per unit, the ones with the smallest random draws.

    Units within the bound keep every row without a sort; only larger units are ranked (the
    same rule as ranking everyone: 1M rows, 100k units, L = 20: 0.13 s instead of 0.6 s).
    ``IS NOT DISTINCT FROM`` keeps the rows whose unit is NULL together, as one unit.
    """
    unit, draw = _quote(_UNIT), _quote(_DRAW)
    within = f"{_quote(_P + '_units')}.{_quote(_P + '_size')}"
    joined = (
        f"{_quote(_P + '_r')} JOIN {_quote(_P + '_units')} "
        f"ON {_quote(_P + '_r')}.{unit} IS NOT DISTINCT FROM {_quote(_P + '_units')}.{unit}"
    )
    rank = f"row_number() OVER (PARTITION BY {unit} ORDER BY {draw})"
    return (
        f"WITH {_quote(_P + '_r')} AS ({rows}), "  # noqa: S608 (generated, quoted)
        f"{_quote(_P + '_units')} AS (SELECT {unit}, COUNT(*) AS {_quote(_P + '_size')} "
        f"FROM {_quote(_P + '_r')} GROUP BY {unit}) "
        f"SELECT {_quote(_P + '_r')}.* FROM {joined} WHERE {within} <= {bound} "
        f"UNION ALL SELECT * FROM (SELECT {_quote(_P + '_r')}.* FROM {joined} "
        f"WHERE {within} > {bound}) QUALIFY {rank} <= {bound}"
    )


def _key_column(index: int) -> str:
    return f"{_P}_k{index}"


def _noisy_column(output: _Output, position: int) -> str:
    """The noisy table's column of output ``position``: a key, or the position's statistic."""
    return _key_column(output.index) if output.kind == "key" else f"{_P}_a{position}"


def _final_sql(plan: _Plan, output_names: Sequence[str]) -> str:
    """Step 8: project, order and limit the noisy rows (post-processing)."""
    columns = [
        f"{_quote(_noisy_column(o, i))} AS {_quote(name)}"
        for i, (o, name) in enumerate(zip(plan.outputs, output_names, strict=True))
    ]
    terms = [
        f"{_quote(name)} {'DESC' if descending else 'ASC'} NULLS {'FIRST' if first else 'LAST'}"
        for name, descending, first in plan.order
    ]
    # Then by the keys: the order of released rows must not be DuckDB's hash order.
    terms += [f"{_quote(_key_column(j))} ASC NULLS LAST" for j in range(len(plan.keys))]
    sql = f"SELECT {', '.join(columns)} FROM {_quote(_NOISY_TABLE)}"  # noqa: S608 (quoted)
    if terms:
        sql += f" ORDER BY {', '.join(terms)}"
    if plan.limit is not None:
        sql += f" LIMIT {plan.limit}"
    if plan.offset is not None:
        sql += f" OFFSET {plan.offset}"
    return sql


# -- noise ----------------------------------------------------------------------------------


def _release(exact: pa.Table, plan: _Plan, spec: DpSpec) -> pa.Table:
    """Steps 5-8: select keys, noise every statistic once, assemble the noisy columns."""
    enable_features("contrib")
    bound = spec.max_rows_per_unit
    statistics = int(plan.needs_rows) + len(plan.counted) + len(plan.summed)
    share = _share(spec.epsilon, statistics)
    rows = [int(n) for n in exact.column(_ROWS).to_pylist()]
    keys = [_normalise_zero(exact.column(_key_column(j))) for j in range(len(plan.keys))]
    if keys:
        labels = [repr(values) for values in zip(*(k.to_pylist() for k in keys), strict=True)]
        if len(set(labels)) != len(labels):
            raise DpQueryError("differential-privacy mode could not tell two groups apart")
        released = _select_keys(dict(zip(labels, rows, strict=True)), share, bound, spec.delta)
        position = {label: i for i, label in enumerate(labels)}
        chosen = sorted(released)
        picked = pa.array([position[label] for label in chosen], pa.int64())
        noisy_rows = [released[label] for label in chosen]
    else:
        picked = pa.array([0], pa.int64())  # the one global row: always there, always released
        noisy_rows = _noisy_counts(rows, share, bound) if plan.needs_rows else []
    counts = {
        column: _noisy_counts(
            [int(v) for v in exact.column(f"{_P}_c{i}").take(picked).to_pylist()], share, bound
        )
        for i, column in enumerate(plan.counted)
    }
    sums = {
        column: _noisy_sums(
            [int(v) for v in exact.column(f"{_P}_s{i}").take(picked).to_pylist()],
            _FixedPoint.of(*spec.bounds[column]),
            share,
            bound,
        )
        for i, column in enumerate(plan.summed)
    }
    arrays: dict[str, pa.Array] = {_key_column(j): key.take(picked) for j, key in enumerate(keys)}
    for i, output in enumerate(plan.outputs):
        if output.kind == "key":
            continue
        if output.kind == "rows":
            values: list[Any] = [max(0, n) for n in noisy_rows]
        elif output.kind == "count":
            values = [max(0, n) for n in counts[output.column]]
        elif output.kind == "sum":
            values = sums[output.column]
        else:
            values = _averages(sums[output.column], counts[output.column], spec, output.column)
        kind = pa.int64() if output.kind in ("rows", "count") else pa.float64()
        arrays[f"{_P}_a{i}"] = pa.array(values, type=kind)
    return pa.table(arrays)  # never empty: a query without keys has an aggregate


def _share(epsilon: float, statistics: int) -> float:
    """ε / m, rounded down until m shares sum to at most ε exactly (step 7)."""
    share = epsilon / statistics
    while Fraction(share) * statistics > Fraction(epsilon):
        share = math.nextafter(share, 0.0)
    return share


def _select_keys(
    counts: dict[str, int], epsilon: float, bound: int, delta: float
) -> dict[str, int]:
    """Step 5: OpenDP's Laplace threshold; returns the released keys and their noisy counts."""
    domain = domains.map_domain(domains.atom_domain(T=str), domains.atom_domain(T="i64"))
    metric = metrics.l01inf_distance(metrics.absolute_distance(T="i64"))
    d_in = (bound, bound, bound)  # (keys changed, L1, L∞) of one unit's L rows

    def mechanism(scale: float, threshold: int) -> Measurement:
        return measurements.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)

    def fits(threshold: int) -> bool:
        return bool(_privacy_loss(mechanism(scale, threshold), d_in)[1] <= delta)

    # The scale depends on ε alone (δ is ~0 at the largest threshold); then the smallest
    # threshold whose δ fits, by doubling and bisection (δ falls as the threshold rises).
    scale = _calibrate(
        lambda s: mechanism(s, _LARGEST_THRESHOLD),
        lambda m: _privacy_loss(m, d_in)[0],
        sensitivity=bound,
        epsilon=epsilon,
    )
    high = bound  # OpenDP refuses thresholds below the L∞ distance
    while not fits(high):
        if high >= _LARGEST_THRESHOLD:
            raise DpQueryError("the key selection could not be calibrated")
        high = min(2 * high, _LARGEST_THRESHOLD)
    low = max(bound, high // 2)
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    spent, spent_delta = _privacy_loss(mechanism(scale, high), d_in)
    if not (spent <= epsilon and spent_delta <= delta):
        raise DpQueryError("the key selection could not be calibrated")
    # OpenDP 0.16 releases a key whose noisy count EQUALS the threshold, but its map counts
    # only P(noise > threshold - L∞) (opendp/opendp#2922): its δ for threshold t is the true δ
    # of threshold t + 1. So we release above the threshold we accounted for.
    released = mechanism(scale, high + 1)(counts)
    return {str(label): int(value) for label, value in released.items()}


def _noisy_counts(values: list[int], epsilon: float, bound: int) -> list[int]:
    """Step 6 for counts: discrete Laplace, L1 sensitivity L."""
    if not values:
        return []
    space = domains.vector_domain(domains.atom_domain(T="i64")), metrics.l1_distance(T="i64")

    def mechanism(scale: float) -> Measurement:
        return measurements.make_laplace(*space, scale=scale)

    def loss(measurement: Measurement) -> Any:
        return _privacy_loss(measurement, bound)

    scale = _calibrate(mechanism, loss, sensitivity=bound, epsilon=epsilon)
    return [int(v) for v in mechanism(scale)(values)]


def _noisy_sums(values: list[int], fixed: _FixedPoint, epsilon: float, bound: int) -> list[float]:
    """Step 6 for sums: exact fixed-point sums, to float64, Laplace on L*M (+ rounding slack)."""
    if not values:
        return []
    units = bound * fixed.units + math.ceil(fixed.units * _FLOAT_SLACK)
    sensitivity = math.ldexp(_float_up(units), -fixed.shift)
    # float(int) is correctly rounded; ldexp by a power of two is exact.
    reals = [math.ldexp(float(v), -fixed.shift) for v in values]
    space = (
        domains.vector_domain(domains.atom_domain(T=float, nan=False)),
        metrics.l1_distance(T=float),
    )

    def mechanism(scale: float) -> Measurement:
        return measurements.make_laplace(*space, scale=scale)

    def loss(measurement: Measurement) -> Any:
        return _privacy_loss(measurement, sensitivity)

    scale = _calibrate(mechanism, loss, sensitivity=sensitivity, epsilon=epsilon)
    return [float(v) for v in mechanism(scale)(reals)]


def _calibrate(
    make: Callable[[float], Measurement],
    loss: Callable[[Measurement], Any],
    *,
    sensitivity: float,
    epsilon: float,
) -> float:
    """The smallest noise scale whose ε, by OpenDP's own privacy map, is at most ``epsilon``.

    Laplace spends sensitivity/scale: that scale is tried first (one map call); when OpenDP's
    map, which rounds conservatively, wants a hair more noise, OpenDP's binary search finds it.
    """
    scale = sensitivity / epsilon
    if not (math.isfinite(scale) and loss(make(scale)) <= epsilon):
        scale = binary_search(lambda s: bool(loss(make(s)) <= epsilon), bounds=(0.0, None))
    if not loss(make(scale)) <= epsilon:
        raise DpQueryError("the noise could not be calibrated to the privacy budget")
    return scale


def _averages(
    sums: Sequence[float], counts: Sequence[int], spec: DpSpec, column: str
) -> list[float | None]:
    """Step 8: noisy sum / noisy count, NULL below one, clamped to the bounds (post-processing)."""
    lo, hi = spec.bounds[column]
    return [
        min(max(total / count, lo), hi) if count >= 1 else None
        for total, count in zip(sums, counts, strict=True)
    ]


def _privacy_loss(mechanism: Measurement, d_in: object) -> Any:
    """OpenDP's privacy map: the loss (ε, or (ε, δ)) when inputs are ``d_in`` apart."""
    return mechanism.map(d_in)  # type: ignore[no-untyped-call]  # opendp leaves it unannotated


def _float_up(value: int) -> float:
    result = float(value)
    return result if result >= value else math.nextafter(result, math.inf)


def _normalise_zero(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """-0.0 -> 0.0: DuckDB shows a zero group with the sign of whichever zero it met first."""
    if pa.types.is_floating(column.type):
        return pc.add(column, pa.scalar(0.0, column.type))
    return column
