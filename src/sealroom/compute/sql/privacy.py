"""The SQL privacy filter: every released row aggregates at least *k* units of every input.

A SQL node with ``minimum_rows_count=k`` never runs the analyst's query as written. The core
parses it with sqlglot (DuckDB dialect), checks it against an allow-list of SQL
(:mod:`.privacy_allowlist`; ``docs/privacy.md`` is the table) and rewrites it so that DuckDB
itself drops every group that aggregates fewer than *k* distinct **units** of any input it reads.
A unit is a row of an input, or, when the room names a privacy unit column (e.g. ``user_id``)
and the input has it, one value of that column: a person with many rows counts once. A filtered
node reads only data nodes (``model.definition`` refuses anything else), so units are the data
owners' rows, never rows an upstream computation copied.

What the filter guarantees, and what it does not (``docs/privacy.md`` says the
same):

* **Counts, per result.** Every released row aggregates at least *k* distinct units of every
  input instance it reads. Within one result, groups never overlap by construction: one final
  ``SELECT`` with one plain ``GROUP BY`` (no ``ROLLUP``, ``CUBE``, ``GROUPING SETS``, set
  operations, ``UNNEST`` or ``VALUES`` that would put one row in two groups, or a total beside
  its parts), and no window functions.
* **Not contributions.** *k* bounds how many units stand behind a row, not how much one of them
  weighs in it: arithmetic can weight one person's value so that a sum is almost only theirs.
  Conditions inside aggregates (``FILTER``, ``CASE``, comparisons, ``COALESCE`` …) are refused to
  stop the plainest forms, not all of them. Use differential privacy (:mod:`.dp`) where
  contributions matter.
* **Not across runs.** Two results can be differenced. Parameters make that cheap, so they are
  allowed only as ``column <op> $name`` conjuncts of the final ``WHERE``, and a run with
  parameters does not release the count of suppressed groups (it could be steered to test one
  hidden value per run).

How (:func:`plan_filtered_query`):

1. Every input is read through a view adding a hidden unit column (``hash`` of the privacy unit,
   or of the input's index and the row number). Hash collisions can only merge units, so they
   make the filter stricter, never weaker.
2. Row-level scopes (CTEs, derived tables) may only project, join and filter; they pass their
   sources' unit columns up as hidden columns, one per input *instance*.
3. The final ``SELECT`` becomes two queries: one that groups the inputs once into a temporary
   table (keys, the aggregates, and whether the group has ``COUNT(DISTINCT unit) >= k`` for
   every instance and no unit counted in another group), and one that reads it, applying the
   analyst's expressions over aggregates, ``HAVING`` (as ``WHERE``), ``ORDER BY`` and ``LIMIT``
   under ``TRY`` and releasing the groups that pass. The count of suppressed groups is read from
   the same table. No expression the analyst wrote over a group's aggregates can fail, so a
   suppressed group's values never decide whether the run errs.
4. Errors are never an oracle: ``CAST`` becomes ``TRY_CAST``; every row-level expression,
   condition (each operand of ``AND`` and ``OR``), group key and aggregate argument runs under
   ``TRY``, except equalities of two plain values of one type (they keep hash joins and cannot
   fail); division by zero gives NULL.
5. Group keys are released as DuckDB stored the first row of the group, so keys whose spelling
   can differ within one group are refused (``COLLATE`` is not listed; ``INTERVAL``, ``LIST``,
   ``STRUCT``, ``MAP``, ``UNION`` and ``VARIANT`` keys are refused once DuckDB has typed them) and
   floating-point keys are normalised (``-0.0`` becomes ``0.0``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, ScopeType, traverse_scope

from sealroom.errors import PrivacyFilterError

from . import privacy_allowlist as allow
from .privacy_rewrite import (
    PostAggregate,
    aggregates_of,
    group_keys,
    ident,
    is_aggregate,
    iter_children,
    own_nodes,
    partition_conditions,
    renamed_projections,
    try_row_level,
    under_try,
)
from .references import quote_identifier as _quote

__all__ = [
    "GROUPS_TABLE",
    "RESERVED_PREFIX",
    "UNIT_COLUMN",
    "FilterPlan",
    "PrivacyFilter",
    "plan_filtered_query",
    "source_view_name",
    "source_view_sql",
]

RESERVED_PREFIX: Final = "__sealroom"
UNIT_COLUMN: Final = "__sealroom_unit"
_LINEAGE_PREFIX: Final = "__sealroom_l"
#: The temporary table holding ``FilterPlan.groups_query``'s rows.
GROUPS_TABLE: Final = "__sealroom_groups"
_PASSES: Final = "__sealroom_passes"

#: DuckDB types whose values can be spelled differently yet group together (or that hold other
#: values whose spelling could be one person's): refused as group keys, by the start of the type
#: name DuckDB reports. Lists and arrays (``VARCHAR[]``, ``BIGINT[2]``) are refused by their
#: trailing bracket. A VARIANT groups ``1.5`` with ``1.50`` (and an INTEGER with a BIGINT).
_UNSTABLE_KEY_TYPES: Final = ("INTERVAL", "STRUCT", "MAP", "UNION", "VARIANT")
#: DuckDB's floating-point types by the names it reports (REAL, FLOAT4, FLOAT8 are aliases).
_FLOAT_TYPES: Final = frozenset({"FLOAT", "DOUBLE"})
_COMPARISONS: Final = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
)


@dataclass(frozen=True)
class PrivacyFilter:
    """What a filtered SQL node enforces.

    ``minimum_rows`` is *k* (≥ 2). ``unit_column`` names the room's privacy unit column, used in
    every input that has it. ``allow_revealing_aggregates`` lets MIN/MAX/MEDIAN… through.
    """

    minimum_rows: int
    unit_column: str | None = None
    allow_revealing_aggregates: bool = False

    def __post_init__(self) -> None:
        if (
            not isinstance(self.minimum_rows, int)
            or isinstance(self.minimum_rows, bool)
            or self.minimum_rows < 2
        ):
            raise ValueError("the privacy filter needs minimum_rows of at least 2")


@dataclass(frozen=True)
class FilterPlan:
    """Three queries, run in this order on one connection.

    ``groups_query`` groups the inputs, one row per group with its keys, aggregates and whether
    it may be released; the caller stores it as the temporary table :data:`GROUPS_TABLE`.
    ``query`` reads that table for the result; ``suppressed_query`` counts the groups it holds
    back (one row, one integer), or is ``None`` when the query has parameters: the count is
    then withheld. Only ``groups_query`` reads the inputs and holds the query's parameters.
    """

    groups_query: str
    query: str
    suppressed_query: str | None


#: Given a query, the DuckDB type names of its result columns (bound, not run).
Describe = Callable[[str], Sequence[str]]


def source_view_name(index: int) -> str:
    return f"{RESERVED_PREFIX}_src_{index}"


def source_view_sql(
    relation: str, index: int, columns: Sequence[str], unit_column: str | None
) -> str:
    """``CREATE TEMP VIEW`` adding the hidden unit column to input ``relation``."""
    unit = None
    if unit_column is not None:
        unit = next((c for c in columns if c.lower() == unit_column.lower()), None)
    unit_sql = (
        f"hash({_quote(unit)})" if unit is not None else f"hash({index}, row_number() OVER ())"
    )
    view = _quote(source_view_name(index))
    # Every name is quoted; unit_sql holds only a quoted name or an integer.
    select = f"SELECT *, {unit_sql} AS {UNIT_COLUMN} FROM {_quote(relation)}"  # noqa: S608
    return f"CREATE TEMP VIEW {view} AS {select}"


def plan_filtered_query(
    query: str,
    relations: Mapping[str, Sequence[tuple[str, str]]],
    policy: PrivacyFilter,
    *,
    output_names: Sequence[str],
    describe: Describe | None = None,
) -> FilterPlan:
    """Rewrite ``query`` for the filter, or raise :class:`PrivacyFilterError` saying why.

    ``relations`` maps each input name to its ``(column, duckdb type)`` pairs, in the order of
    :func:`source_view_sql` indices (the i-th relation is read through ``source_view_name(i)``).
    ``output_names`` are the column names DuckDB gives the original query (kept in the result).
    ``describe`` types the group keys (DuckDB binds the inner query); without it the key checks
    of step 5 are skipped, which only the snapshot tests of the rewrite do.
    """
    return _Rewriter(relations, policy, describe).plan(query, output_names)


class _Rewriter:
    def __init__(
        self,
        relations: Mapping[str, Sequence[tuple[str, str]]],
        policy: PrivacyFilter,
        describe: Describe | None,
    ) -> None:
        self._views = {name.lower(): source_view_name(i) for i, name in enumerate(relations)}
        self._schema: dict[str, object] = {
            name.lower(): {column.lower(): kind for column, kind in columns}
            for name, columns in relations.items()
        }
        for columns in relations.values():
            if any(column.lower().startswith(RESERVED_PREFIX) for column, _ in columns):
                # They would collide with the hidden unit columns the rewrite adds.
                raise PrivacyFilterError(
                    f"an input has a column whose name starts with {RESERVED_PREFIX}, which is "
                    "reserved; rename it to use the privacy filter"
                )
        self._policy = policy
        self._describe = describe
        self._lineage: dict[int, list[str]] = {}
        self._names = (f"{_LINEAGE_PREFIX}{n}" for n in itertools.count())

    # -- entry ---------------------------------------------------------------------------
    def plan(self, query: str, output_names: Sequence[str]) -> FilterPlan:
        root = self._parse(query)
        if not isinstance(root, exp.Select):
            # The allow-list refused set operations already: what is left is a parenthesised query.
            raise PrivacyFilterError(
                "the privacy filter accepts one plain SELECT query; remove the parentheses "
                "around it"
            )
        final: exp.Select | None = None
        entries: list[exp.Column] = []
        for scope in traverse_scope(root):
            select = self._check_scope(scope)
            scope_entries = self._lineage_entries(scope)
            if select is root:
                final, entries = select, scope_entries
            else:
                self._pass_lineage(select, scope_entries)
        assert final is not None
        has_parameters = root.find(exp.Placeholder) is not None
        return self._filter_final(final, entries, output_names, has_parameters)

    def _parse(self, query: str) -> exp.Expr:
        try:
            statements = sqlglot.parse(query, read="duckdb")
        except SqlglotError:
            raise PrivacyFilterError(
                "the privacy filter could not parse the query (DuckDB SQL expected)"
            ) from None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise PrivacyFilterError("the privacy filter accepts exactly one SELECT query")
        tree = statements[0]
        for identifier in tree.find_all(exp.Identifier):
            if identifier.name.lower().startswith(RESERVED_PREFIX):
                raise PrivacyFilterError(f"names starting with {RESERVED_PREFIX} are reserved")
        for node in tree.walk():
            self._check_allowed(node)
        try:
            qualified = qualify(
                tree,
                schema=self._schema,
                dialect="duckdb",
                quote_identifiers=True,
                validate_qualify_columns=True,
            )
        except SqlglotError as error:
            # sqlglot's messages name columns and tables of the query text, never values.
            raise PrivacyFilterError(
                f"the privacy filter could not resolve the query: {str(error)[:300]}"
            ) from None
        if any(isinstance(star.this, exp.Star) for star in qualified.find_all(exp.Column)) or any(
            isinstance(e, exp.Star) for s in qualified.find_all(exp.Select) for e in s.expressions
        ):
            raise PrivacyFilterError("list the columns instead of * under the privacy filter")
        for cast in list(qualified.find_all(exp.Cast)):
            if not isinstance(cast, exp.TryCast):
                # A failed cast would say whether some hidden value converts: make it NULL.
                cast.replace(exp.TryCast(this=cast.this, to=cast.args["to"]))
        # Untyped nodes stay UNKNOWN: their equalities run under TRY (see _try_condition).
        with contextlib.suppress(SqlglotError):
            annotate_types(qualified, schema=self._schema, dialect="duckdb")
        return qualified

    # -- the allow-list ------------------------------------------------------------------
    def _check_allowed(self, node: exp.Expr) -> None:
        """Refuse ``node`` unless :mod:`.privacy_allowlist` lists it (and say why)."""
        if isinstance(node, exp.Anonymous):
            name = node.name.lower()
            if name in allow.ANONYMOUS_ROW_FUNCTIONS or name in allow.ANONYMOUS_COUNTING_AGGREGATES:
                return
            if name in allow.ANONYMOUS_REVEALING_AGGREGATES:
                self._check_revealing(name)
                return
            raise PrivacyFilterError(_unlisted(name))
        kind = type(node)
        if kind in allow.STRUCTURE or kind in allow.ROW_FUNCTIONS:
            self._check_structure(node)
            return
        if kind in allow.COUNTING_AGGREGATES or kind in (exp.IgnoreNulls, exp.WithinGroup):
            return  # The aggregate an IGNORE NULLS or WITHIN GROUP wraps is checked itself.
        if kind in allow.REVEALING_AGGREGATES:
            self._check_revealing(_function_name(node))
            return
        if kind in _REFUSED_MESSAGES:
            raise PrivacyFilterError(_REFUSED_MESSAGES[kind])
        raise PrivacyFilterError(_unlisted(_function_name(node)))

    def _check_revealing(self, name: str) -> None:
        if not self._policy.allow_revealing_aggregates:
            raise PrivacyFilterError(
                f"{name.upper()} can reveal one person's value and is refused under the "
                "privacy filter (allowed: COUNT, SUM, AVG, STDDEV, VARIANCE); the room can "
                "allow value-revealing aggregates"
            )

    @staticmethod
    def _check_structure(node: exp.Expr) -> None:
        if isinstance(node, exp.Join):
            if node.args.get("kind") not in (None, "INNER", "OUTER", "CROSS") or node.args.get(
                "method"
            ):
                raise PrivacyFilterError(
                    "under the privacy filter joins are [INNER], LEFT, RIGHT, FULL or CROSS "
                    "JOIN (SEMI, ANTI, ASOF, POSITIONAL and NATURAL joins are refused)"
                )
        elif isinstance(node, exp.Distinct) and node.args.get("on") is not None:
            raise PrivacyFilterError(
                "DISTINCT ON is refused under the privacy filter (it keeps one row of each "
                "group, chosen by data); use GROUP BY"
            )
        elif isinstance(node, exp.Group) and any(
            node.args.get(key) for key in ("rollup", "cube", "grouping_sets", "totals")
        ):
            raise PrivacyFilterError(_OVERLAPPING_MESSAGE)
        elif isinstance(node, exp.Table) and node.args.get("joins"):
            # ``FROM (a JOIN b ON ...)``; a table's PIVOT is refused as an exp.Pivot node.
            raise PrivacyFilterError(
                "joins in parentheses are refused under the privacy filter; write the joins one "
                "after another"
            )

    # -- scopes --------------------------------------------------------------------------
    def _check_scope(self, scope: Scope) -> exp.Select:
        """The scope's SELECT, after the checks every scope passes (refusals say why)."""
        expression = scope.expression
        if isinstance(expression, exp.SetOperation):
            raise PrivacyFilterError(_SET_OPERATION_MESSAGE)
        if scope.scope_type == ScopeType.UDTF:
            raise PrivacyFilterError(
                "UNNEST, VALUES and table functions are refused under the privacy filter (they "
                "can put one row in several groups); read the node's inputs"
            )
        if scope.scope_type == ScopeType.SUBQUERY:
            raise PrivacyFilterError(
                "subqueries in WHERE, SELECT, HAVING or ON are refused under the privacy "
                "filter; join a CTE or a derived table instead"
            )
        if not isinstance(expression, exp.Select):
            raise PrivacyFilterError("the privacy filter cannot analyse this query's shape")
        if scope.external_columns:
            raise PrivacyFilterError(
                "correlated subqueries are refused under the privacy filter; use a JOIN"
            )
        return expression

    def _lineage_entries(self, scope: Scope) -> list[exp.Column]:
        """One hidden unit column per input instance read by ``scope`` (replacing tables)."""
        entries: list[exp.Column] = []
        for alias, source in scope.sources.items():
            if isinstance(source, exp.Table):
                # Only the room's inputs, by their bare names: no table functions (query(),
                # query_table() read tables behind the filter's back), schemas or catalogs.
                view = self._views.get(source.name.lower())
                if (
                    view is None
                    or not isinstance(source.this, exp.Identifier)
                    or source.args.get("db") is not None
                    or source.args.get("catalog") is not None
                ):
                    raise PrivacyFilterError(
                        "under the privacy filter FROM may name only the node's inputs (by "
                        "name), CTEs and subqueries"
                    )
                source.set("this", exp.to_identifier(view, quoted=True))
                entries.append(exp.column(UNIT_COLUMN, table=alias, quoted=True))
            elif isinstance(source, Scope):
                # traverse_scope yields a scope before those that read it, so its lineage is
                # recorded; a missing one fails here rather than count no units for it.
                for name in self._lineage[id(source.expression)]:
                    entries.append(exp.column(name, table=alias, quoted=True))
        return entries

    def _pass_lineage(self, select: exp.Select, entries: list[exp.Column]) -> None:
        """A row-level scope: project, join and filter only; pass the unit columns up."""
        if aggregates_of(select) or select.args.get("group") or select.args.get("having"):
            raise PrivacyFilterError(
                "aggregation is allowed only in the outermost query under the privacy "
                "filter (an inner GROUP BY merges people before they are counted); "
                "aggregate once, in the final SELECT"
            )
        if select.args.get("distinct"):
            raise PrivacyFilterError(
                "DISTINCT inside a CTE or subquery is refused under the privacy filter; "
                "use COUNT(DISTINCT ...) in the final SELECT"
            )
        if any(select.args.get(key) for key in ("order", "limit", "offset")):
            raise PrivacyFilterError(
                "ORDER BY, LIMIT and OFFSET inside a CTE or subquery are refused under the "
                "privacy filter (they pick rows by their values); use them in the final SELECT"
            )
        _check_parameters(select, final=False)
        try_row_level(select)
        names: list[str] = []
        for entry in entries:
            name = next(self._names)
            select.append("expressions", exp.alias_(entry, name, quoted=True))
            names.append(name)
        self._lineage[id(select)] = names

    # -- the final SELECT ----------------------------------------------------------------
    def _filter_final(
        self,
        select: exp.Select,
        entries: list[exp.Column],
        output_names: Sequence[str],
        has_parameters: bool,
    ) -> FilterPlan:
        aggregates = aggregates_of(select)
        group = select.args.get("group")
        if not aggregates and group is None:
            raise PrivacyFilterError(
                "under the privacy filter the query must aggregate: add GROUP BY and "
                "aggregates such as COUNT(*), SUM(...) or AVG(...) to the final SELECT"
            )
        if not entries:
            raise PrivacyFilterError(
                "the final SELECT reads no input table; under the privacy filter every "
                "result row must aggregate input rows"
            )
        for aggregate in aggregates:
            _check_aggregate_argument(aggregate)
        _check_parameters(select, final=True)
        keys = group_keys(select)
        try_row_level(select)

        # Step 3: the inner query groups and keeps groups of at least k units of every instance
        # that count in no other group (step 4 of the docstring's guarantees: no overlap).
        k = self._policy.minimum_rows
        condition = exp.and_(
            *(
                exp.GTE(
                    this=exp.Count(this=exp.Distinct(expressions=[entry.copy()])),
                    expression=exp.Literal.number(k),
                )
                for entry in entries
            )
        )
        with_ = select.args.get("with_")
        with_ = with_.copy() if with_ is not None else exp.With(expressions=[])
        if keys:
            condition = exp.and_(condition, *partition_conditions(select, keys, entries, with_))
        if not with_.expressions:
            with_ = None
        rewrite = PostAggregate(keys, aggregates)
        projections = renamed_projections(
            [rewrite.expression(p) for p in select.expressions], output_names
        )
        having = select.args.get("having")
        outer_where = rewrite.expression(having.this) if having is not None else None
        order = select.args.get("order")
        renamed = {
            p.alias_or_name: n for p, n in zip(select.expressions, output_names, strict=True)
        }
        outer_order = rewrite.order(order, renamed) if order is not None else None
        inner = self._inner(select, rewrite, condition)
        if with_ is not None:
            inner.set("with_", with_)
        self._check_key_types(inner, rewrite)

        groups = exp.Table(this=ident(GROUPS_TABLE))
        passes = exp.column(_PASSES, quoted=True)
        outer = exp.Select(expressions=projections, distinct=select.args.get("distinct"))
        outer = outer.from_(groups.copy())
        kept = passes if outer_where is None else exp.and_(passes, under_try(outer_where))
        outer.set("where", exp.Where(this=kept))
        if outer_order is not None:
            outer.set("order", outer_order)
        for key in ("limit", "offset"):
            if select.args.get(key) is not None:
                outer.set(key, select.args[key].copy())

        suppressed: str | None = None
        if not has_parameters:
            count = exp.select(exp.alias_(exp.Count(this=exp.Star()), "suppressed", quoted=True))
            count = count.from_(groups.copy()).where(exp.not_(passes.copy()))
            suppressed = count.sql(dialect="duckdb")
        return FilterPlan(
            groups_query=inner.sql(dialect="duckdb"),
            query=outer.sql(dialect="duckdb"),
            suppressed_query=suppressed,
        )

    @staticmethod
    def _inner(select: exp.Select, rewrite: PostAggregate, condition: exp.Expr) -> exp.Select:
        """``SELECT keys, aggregates, condition AS passes FROM … WHERE … GROUP BY keys``."""
        keys = [exp.alias_(k.copy(), name, quoted=True) for k, name in rewrite.keys]
        values = [exp.alias_(a, n, quoted=True) for a, n in rewrite.values]
        passes = exp.alias_(condition.copy(), _PASSES, quoted=True)
        inner = exp.Select(expressions=[*keys, *values, passes])
        for key in ("from_", "joins", "where"):
            if select.args.get(key) is not None:
                value = select.args[key]
                inner.set(
                    key, [v.copy() for v in value] if isinstance(value, list) else value.copy()
                )
        if rewrite.keys:
            inner.set("group", exp.Group(expressions=[k.copy() for k, _ in rewrite.keys]))
        return inner

    def _check_key_types(self, inner: exp.Select, rewrite: PostAggregate) -> None:
        """Step 5: refuse keys whose spelling may be one person's; normalise float keys."""
        if self._describe is None or not rewrite.keys:
            return
        types = self._describe(inner.sql(dialect="duckdb"))[: len(rewrite.keys)]
        floats: set[str] = set()
        for (_, name), kind in zip(rewrite.keys, types, strict=True):
            upper = kind.upper()
            if upper.endswith("]") or upper.startswith(_UNSTABLE_KEY_TYPES):
                raise PrivacyFilterError(
                    f"a group key of type {kind.split('(')[0]} is refused under the privacy "
                    "filter (values that group together can be spelled differently, and the "
                    "result would show one person's spelling); group by a text or number"
                )
            if upper in _FLOAT_TYPES:
                floats.add(name)
        for projection in inner.expressions:
            if projection.alias in floats:
                # -0.0 and 0.0 are one group; + 0.0 releases 0.0 whichever row came first.
                key = projection.this
                projection.set("this", exp.Add(this=key.copy(), expression=exp.Literal.number(0.0)))


_SET_OPERATION_MESSAGE: Final = (
    "UNION, INTERSECT and EXCEPT are refused under the privacy filter (two aggregations in one "
    "result can show a suppressed group as a total minus its parts); run each SELECT as its own "
    "node, or use differential privacy"
)
_OVERLAPPING_MESSAGE: Final = (
    "ROLLUP, CUBE and GROUPING SETS are refused under the privacy filter (a subtotal minus the "
    "groups shown is the group it suppressed); group by plain keys, or use differential privacy"
)
_WINDOW_MESSAGE: Final = (
    "window functions and QUALIFY are refused under the privacy filter (a window copies one "
    "row's value into others, and after GROUP BY it mixes suppressed groups into shown ones)"
)
_REFUSED_MESSAGES: Final[dict[type[exp.Expr], str]] = {
    exp.Pivot: "PIVOT and UNPIVOT are refused under the privacy filter; use GROUP BY",
    exp.Lateral: "LATERAL is refused under the privacy filter; use a JOIN",
    exp.Columns: "COLUMNS(...) is refused under the privacy filter; list the columns",
    exp.Window: _WINDOW_MESSAGE,
    exp.Qualify: _WINDOW_MESSAGE,
    exp.Union: _SET_OPERATION_MESSAGE,
    exp.Intersect: _SET_OPERATION_MESSAGE,
    exp.Except: _SET_OPERATION_MESSAGE,
    exp.Rollup: _OVERLAPPING_MESSAGE,
    exp.Cube: _OVERLAPPING_MESSAGE,
    exp.GroupingSets: _OVERLAPPING_MESSAGE,
    exp.Grouping: _OVERLAPPING_MESSAGE,
    exp.Unnest: (
        "UNNEST is refused under the privacy filter (it can put one row in several groups)"
    ),
    exp.Values: (
        "VALUES is refused under the privacy filter (joined to an input it puts one row in "
        "several groups)"
    ),
    exp.Filter: (
        "FILTER (WHERE ...) inside an aggregate is refused under the privacy filter (it can "
        "pick one person's rows inside a group that counts everybody); filter rows in WHERE"
    ),
    exp.Collate: (
        "COLLATE is refused under the privacy filter (values that group together would be "
        "shown as one person spelled them)"
    ),
}


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return type(node).__name__.lower()


def _unlisted(name: str) -> str:
    if name in allow.LISTING_AGGREGATE_NAMES:
        return (
            f"{name.upper()} returns every value it aggregates and is refused under the "
            "privacy filter; use COUNT, SUM or AVG"
        )
    return (
        f"{name.upper()} is not among the SQL the privacy filter allows (docs/privacy.md lists "
        "the functions and clauses it accepts)"
    )


def _check_aggregate_argument(aggregate: exp.Expr) -> None:
    """Item 5 of the docstring's list: no condition picks rows inside an aggregate."""
    for node in aggregate.walk():
        if node is not aggregate and type(node) in allow.CONDITIONAL:
            if isinstance(node, exp.Placeholder):
                raise PrivacyFilterError(
                    f"{_parameter_name(node)} inside an aggregate is refused under the privacy "
                    "filter; parameters may only be compared with columns in the final WHERE"
                )
            raise PrivacyFilterError(
                "conditions inside an aggregate (CASE, IF, comparisons, COALESCE, NULLIF, "
                "GREATEST, LEAST, SIGN) are refused under the privacy filter (they can pick one "
                "person's rows inside a group that counts everybody); filter rows in WHERE, or "
                "compute the value in a CTE"
            )
        if (
            is_aggregate(node)
            and node is not aggregate
            and not isinstance(aggregate, exp.IgnoreNulls | exp.WithinGroup)
        ):
            raise PrivacyFilterError("nested aggregates are refused under the privacy filter")


def _check_parameters(select: exp.Select, *, final: bool) -> None:
    """Parameters only as ``column <op> $name`` conjuncts of the final WHERE (docstring)."""
    allowed: set[int] = set()
    where = select.args.get("where")
    if final and where is not None:
        for conjunct in _conjuncts(where.this):
            if _is_parameter_comparison(conjunct):
                allowed.update(id(p) for p in conjunct.find_all(exp.Placeholder))
    for placeholder in own_nodes(select):
        if isinstance(placeholder, exp.Placeholder) and id(placeholder) not in allowed:
            raise PrivacyFilterError(
                f"{_parameter_name(placeholder)} is refused here under the privacy filter: "
                "parameters may only be compared with a column in the final SELECT's WHERE "
                "(column = $name, <, >, BETWEEN, IN, LIKE), joined by AND"
            )


def _parameter_name(placeholder: exp.Placeholder) -> str:
    """``$name`` (or ``$1``) as the analyst wrote it; an anonymous ``?`` is "a parameter"."""
    return f"${placeholder.this}" if placeholder.this else "a parameter"


def _conjuncts(condition: exp.Expr) -> Iterator[exp.Expr]:
    if isinstance(condition, exp.And):
        yield from _conjuncts(condition.left)
        yield from _conjuncts(condition.right)
    elif isinstance(condition, exp.Paren):
        yield from _conjuncts(condition.this)
    else:
        yield condition


def _is_parameter_comparison(node: exp.Expr) -> bool:
    if not isinstance(node, _COMPARISONS):
        return False
    operands = [child for _, child in iter_children(node)]
    columns = [o for o in operands if isinstance(o, exp.Column)]
    others = [o for o in operands if not isinstance(o, exp.Column)]
    return len(columns) == 1 and all(
        isinstance(o, exp.Placeholder | exp.Literal)
        or (isinstance(o, exp.Cast) and isinstance(o.this, exp.Placeholder | exp.Literal))
        for o in others
    )
