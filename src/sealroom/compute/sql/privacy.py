"""The SQL privacy filter: every row of a filtered result aggregates at least *k* units.

A SQL node with ``minimum_rows_count=k`` never runs the analyst's query as written. The core
parses it with sqlglot (DuckDB dialect), checks its shape and rewrites it so that DuckDB itself
drops every output group that aggregates fewer than *k* distinct **units** of any sensitive input
it reads. A unit is a row of an input, or, when the room names a privacy unit column (e.g.
``user_id``) and the input has it, one value of that column: a person with many rows counts once.

How (:func:`plan_filtered_query`):

* Every input relation is read through a view that adds a hidden unit column (``hash`` of the
  privacy unit, or of the input's index and the row number). Hash collisions can only merge
  units, so they make the filter stricter, never weaker.
* Row-level scopes (CTEs, derived tables, ``UNION ALL`` branches) pass the unit columns of their
  sources up as extra hidden columns, one per input *instance*: a self-join carries two.
* The final aggregation (every branch of a final set operation) gets, in its ``HAVING``,
  ``COUNT(DISTINCT unit) >= k`` for every input instance it reads. A fan-out join or a duplicate
  row therefore cannot inflate a group: distinct units are counted, not rows.
* A second query counts the groups the condition removed; the result reports that count only.

Refused before anything runs, with a message saying why and how to fix it (never data values):
a final query that does not aggregate; aggregation, ``DISTINCT`` or ``UNION``/``INTERSECT``/
``EXCEPT`` without ``ALL`` inside a CTE or subquery (they merge units; aggregate once, outermost);
window functions and ``QUALIFY`` anywhere (a window copies one row's value into other rows, and
after aggregation it mixes suppressed groups into shown ones); subqueries outside ``FROM`` that
read an input (they filter on rows nobody counts: use a ``JOIN``); ``LATERAL``, ``PIVOT``,
``COLUMNS(...)``, un-expanded ``*``; aggregates outside the allow-list (``COUNT``, ``SUM``,
``AVG``, standard deviation and variance): ``MIN``/``MAX``/``ANY_VALUE``/``FIRST``/``ARG_MAX``/
``MEDIAN``/``QUANTILE``/``MODE`` … return one unit's value and are allowed only when the room
says so; ``LIST``/``ARRAY_AGG``/``STRING_AGG``/``HISTOGRAM`` return every value and are never
allowed; names starting with ``__sealroom`` are reserved.

Parameters (``$name``, :mod:`.parameters`): the engine binds their values, which are constants
of one run. The rewrite keeps each where the analyst put it (sqlglot writes ``$name`` back as
``$name``; the engine checks that DuckDB sees the same parameters before and after), and a
parameter in a row-level position (``WHERE``, ``JOIN ... ON``, group keys, ``SELECT``
expressions) changes nothing above: every released row still aggregates at least *k* units of
the rows that reach it. Refused, because one run could then single somebody out in a way the
room did not see in the agreed query text:

* in ``HAVING``: the suppressed-groups count of each run would say whether a *hidden* group's
  aggregate passes a value the analyst picks per run (a binary search on one person's value);
* inside an aggregate (its argument, ``FILTER`` or ``WITHIN GROUP``): rows left out of the
  aggregate still count towards *k*, so ``SUM(CASE WHEN id = $who THEN salary END)`` would
  release one person's value in one run, for any person.

What parameters do NOT change, stated plainly: the filter holds per result. Across runs an
analyst can difference two results (``WHERE id <> $who`` with and without somebody), and with
parameters that needs no new agreement per variant. Rooms that let analysts choose parameters
and need a guarantee across runs should use differential privacy (:mod:`.dp`), which charges
every run to the room's budget.

Errors as an oracle: a query could make DuckDB fail only when one hidden row has some value. The
rewrite turns ``CAST`` into ``TRY_CAST``, evaluates row-level expressions, conditions, group keys
and aggregate arguments under ``TRY(...)`` (NULL instead of an error), and the engine runs
filtered queries with division by zero returning NULL. What remains (errors in expressions over
aggregates, timing) is a one-bit-per-query channel, documented with differencing attacks.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, ScopeType, traverse_scope

from .references import quote_identifier as _quote

__all__ = [
    "RESERVED_PREFIX",
    "UNIT_COLUMN",
    "FilterPlan",
    "PrivacyFilter",
    "PrivacyFilterError",
    "plan_filtered_query",
    "source_view_name",
    "source_view_sql",
]

RESERVED_PREFIX: Final = "__sealroom"
UNIT_COLUMN: Final = "__sealroom_unit"
_LINEAGE_PREFIX: Final = "__sealroom_l"

#: Aggregates that combine many units into one number.
_SAFE_AGGREGATES: Final = (
    exp.Count,
    exp.Sum,
    exp.Avg,
    exp.Stddev,
    exp.StddevPop,
    exp.StddevSamp,
    exp.Variance,
    exp.VariancePop,
    exp.ApproxDistinct,
)
_SAFE_AGGREGATE_NAMES: Final = frozenset(
    {"count", "count_star", "sum", "avg", "mean", "fsum", "sumkahan", "kahan_sum", "favg"}
    | {"stddev", "stddev_pop", "stddev_samp", "var_pop", "var_samp", "variance"}
    | {"approx_count_distinct"}
)
#: Aggregates that output every input value: no aggregation at all, never allowed.
_LISTING_AGGREGATES: Final = (exp.ArrayAgg, exp.GroupConcat)
_LISTING_AGGREGATE_NAMES: Final = frozenset(
    {"list", "array_agg", "string_agg", "group_concat", "listagg", "histogram", "bitstring_agg"}
)


class PrivacyFilterError(Exception):
    """The query cannot run under the privacy filter; the message says why (query text only)."""


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
    """The rewritten query and the query counting suppressed groups (one row, one integer)."""

    query: str
    suppressed_query: str


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
    aggregate_names: frozenset[str] = frozenset(),
) -> FilterPlan:
    """Rewrite ``query`` for the filter, or raise :class:`PrivacyFilterError` saying why.

    ``relations`` maps each input name to its ``(column, duckdb type)`` pairs, in the order of
    :func:`source_view_sql` indices (the i-th relation is read through ``source_view_name(i)``).
    ``output_names`` are the column names DuckDB gives the original query (kept in the result).
    ``aggregate_names`` are DuckDB's aggregate function names (lower case), so that an aggregate
    sqlglot does not know is still recognised and refused.
    """
    return _Rewriter(relations, policy, aggregate_names).plan(query, output_names)


class _Rewriter:
    def __init__(
        self,
        relations: Mapping[str, Sequence[tuple[str, str]]],
        policy: PrivacyFilter,
        aggregate_names: frozenset[str],
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
        self._aggregate_names = aggregate_names
        self._lineage: dict[int, list[str]] = {}
        self._names = (f"{_LINEAGE_PREFIX}{n}" for n in itertools.count())

    # -- entry ---------------------------------------------------------------------------
    def plan(self, query: str, output_names: Sequence[str]) -> FilterPlan:
        root = self._parse(query)
        scopes = traverse_scope(root)
        finals = self._final_selects(scopes[-1])
        count_leaves: list[exp.Select] = []
        for scope in scopes:
            self._refuse_unsupported(scope)
            if scope.scope_type == ScopeType.UDTF:
                continue
            if isinstance(scope.expression, exp.SetOperation):
                if not any(scope.expression is final for final in finals):
                    self._align_set_operation(scope)
                continue
            if not isinstance(scope.expression, exp.Select):
                raise PrivacyFilterError("the privacy filter cannot analyse this query's shape")
            entries = self._lineage_entries(scope)
            if scope.scope_type == ScopeType.SUBQUERY and entries:
                raise PrivacyFilterError(
                    "a subquery in WHERE, SELECT or HAVING reads an input table; under the "
                    "privacy filter inputs may be read only in FROM: rewrite it as a JOIN"
                )
            if any(scope.expression is final for final in finals):
                count_leaves.append(self._filter_final(scope, entries))
            else:
                self._pass_lineage(scope, entries)
        _rename_outputs(root, output_names)
        return FilterPlan(
            query=root.sql(dialect="duckdb"),
            suppressed_query=_suppressed_query(root, count_leaves),
        )

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
        for node in tree.find_all(exp.Pivot, exp.Lateral, exp.Columns, exp.Window, exp.Qualify):
            raise PrivacyFilterError(_REFUSED_NODES.get(type(node), _WINDOW_MESSAGE))
        for placeholder in tree.find_all(exp.Placeholder):
            self._check_parameter(placeholder)
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
        return qualified

    @staticmethod
    def _final_selects(root: Scope) -> list[exp.Expr]:
        """The root query and, when it is a set operation, every branch down to the SELECTs."""
        finals: list[exp.Expr] = []
        pending = [root.expression]
        while pending:
            node = pending.pop()
            finals.append(node)
            if isinstance(node, exp.SetOperation):
                pending.extend([node.left, node.right])
        return finals

    # -- checks --------------------------------------------------------------------------
    def _check_parameter(self, placeholder: exp.Placeholder) -> None:
        """Refuse a parameter where a per-run value could single somebody out (docstring)."""
        name = f"${placeholder.this}" if placeholder.this else "a parameter"
        node = placeholder.parent
        while node is not None:
            if isinstance(node, exp.Having):
                raise PrivacyFilterError(
                    f"{name} in HAVING is refused under the privacy filter (with the count of "
                    "suppressed groups, each run would test hidden groups against the value); "
                    "use a fixed number in HAVING, or filter rows in WHERE"
                )
            if isinstance(node, exp.AggFunc | exp.Filter | exp.WithinGroup) or (
                isinstance(node, exp.Anonymous) and node.name.lower() in self._aggregate_names
            ):
                raise PrivacyFilterError(
                    f"{name} inside an aggregate is refused under the privacy filter (it could "
                    "pick one person's rows inside a group that counts everybody); filter rows "
                    "in WHERE instead"
                )
            node = node.parent

    def _refuse_unsupported(self, scope: Scope) -> None:
        if scope.scope_type == ScopeType.UDTF and not isinstance(
            scope.expression, exp.Unnest | exp.Values
        ):
            raise PrivacyFilterError(
                "table functions other than UNNEST and VALUES are refused under the privacy filter"
            )

    def _own_nodes(self, select: exp.Select) -> Iterator[exp.Expr]:
        """The nodes of ``select`` itself, not of the subqueries nested in it."""
        for node in select.walk(prune=lambda n: n is not select and isinstance(n, exp.Query)):
            if node is select or not isinstance(node, exp.Query):
                yield node

    def _aggregates(self, select: exp.Select) -> list[exp.Expr]:
        found: list[exp.Expr] = []
        for node in self._own_nodes(select):
            if isinstance(node, exp.AggFunc) or (
                isinstance(node, exp.Anonymous) and node.name.lower() in self._aggregate_names
            ):
                found.append(node)
        return found

    def _check_aggregate(self, node: exp.Expr) -> None:
        name = (
            node.name
            if isinstance(node, exp.Anonymous) or not isinstance(node, exp.Func)
            else node.sql_name()
        ).lower()
        if isinstance(node, _SAFE_AGGREGATES) or name in _SAFE_AGGREGATE_NAMES:
            return
        if isinstance(node, _LISTING_AGGREGATES) or name in _LISTING_AGGREGATE_NAMES:
            raise PrivacyFilterError(
                f"{name.upper()} returns every value it aggregates and is refused under the "
                "privacy filter; use COUNT, SUM or AVG"
            )
        if self._policy.allow_revealing_aggregates:
            return
        raise PrivacyFilterError(
            f"{name.upper()} can reveal one person's value and is refused under the privacy "
            "filter (allowed: COUNT, SUM, AVG, STDDEV, VARIANCE); the room can allow "
            "value-revealing aggregates"
        )

    # -- lineage -------------------------------------------------------------------------
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
                        "name), CTEs, subqueries, UNNEST and VALUES"
                    )
                source.set("this", exp.to_identifier(view, quoted=True))
                entries.append(exp.column(UNIT_COLUMN, table=alias, quoted=True))
            elif isinstance(source, Scope):
                for name in self._lineage.get(id(source.expression), []):
                    entries.append(exp.column(name, table=alias, quoted=True))
        return entries

    def _pass_lineage(self, scope: Scope, entries: list[exp.Column]) -> None:
        select = scope.expression
        assert isinstance(select, exp.Select)
        if entries:
            if self._aggregates(select) or select.args.get("group") or select.args.get("having"):
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
        _try_wrap_select(select, final=False)
        names: list[str] = []
        for entry in entries:
            name = next(self._names)
            select.append("expressions", exp.alias_(entry, name, quoted=True))
            names.append(name)
        self._lineage[id(select)] = names

    def _align_set_operation(self, scope: Scope) -> None:
        operation = scope.expression
        assert isinstance(operation, exp.SetOperation)
        if (
            not isinstance(operation, exp.Union)
            or operation.args.get("distinct")
            or operation.args.get("by_name")
        ):
            raise PrivacyFilterError(
                "inside a CTE or subquery only UNION ALL is allowed under the privacy filter "
                "(UNION, INTERSECT and EXCEPT merge rows of different people)"
            )
        left = self._lineage.get(id(operation.left), [])
        right = self._lineage.get(id(operation.right), [])
        width = max(len(left), len(right))
        _pad(operation.left, width - len(left), self._names)
        _pad(operation.right, width - len(right), self._names)
        self._lineage[id(operation)] = _leftmost_lineage(operation, width)

    def _filter_final(self, scope: Scope, entries: list[exp.Column]) -> exp.Select:
        select = scope.expression
        assert isinstance(select, exp.Select)
        aggregates = self._aggregates(select)
        if not aggregates and not select.args.get("group"):
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
            self._check_aggregate(aggregate)
        _try_wrap_select(select, final=True)
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
        having = select.args.get("having")
        original = having.this if having is not None else None
        counting = select.copy()
        for key in ("order", "limit", "offset"):
            counting.set(key, None)
        kept = condition if original is None else exp.and_(exp.paren(original), condition)
        removed = exp.not_(exp.paren(condition))
        select.set("having", exp.Having(this=kept))
        counting.set(
            "having",
            exp.Having(
                this=removed if original is None else exp.and_(exp.paren(original), removed)
            ),
        )
        return counting


_WINDOW_MESSAGE: Final = (
    "window functions and QUALIFY are refused under the privacy filter (a window copies one "
    "row's value into others, and after GROUP BY it mixes suppressed groups into shown ones)"
)
_REFUSED_NODES: Final[dict[type[exp.Expr], str]] = {
    exp.Pivot: "PIVOT and UNPIVOT are refused under the privacy filter; use GROUP BY",
    exp.Lateral: "LATERAL is refused under the privacy filter; use a JOIN",
    exp.Columns: "COLUMNS(...) is refused under the privacy filter; list the columns",
}


def _pad(node: exp.Expr, count: int, names: Iterator[str]) -> None:
    """Append ``count`` NULL lineage columns to every SELECT branch of ``node``."""
    if count <= 0:
        return
    if isinstance(node, exp.SetOperation):
        _pad(node.left, count, names)
        _pad(node.right, count, names)
        return
    if isinstance(node, exp.Subquery):
        _pad(node.this, count, names)
        return
    if isinstance(node, exp.Select):
        for _ in range(count):
            node.append("expressions", exp.alias_(exp.Null(), next(names), quoted=True))
        return
    raise PrivacyFilterError("the privacy filter cannot analyse this set operation")


def _leftmost_select(node: exp.Expr) -> exp.Select:
    """The SELECT whose output names a query (a set operation's come from its left side)."""
    while not isinstance(node, exp.Select):
        node = node.left if isinstance(node, exp.SetOperation) else node.this
    return node


def _leftmost_lineage(node: exp.Expr, width: int) -> list[str]:
    """The last ``width`` output names of the leftmost SELECT (a set operation's names)."""
    select = _leftmost_select(node)
    return [e.alias_or_name for e in select.expressions[len(select.expressions) - width :]]


def _plain(node: exp.Expr) -> bool:
    return isinstance(node, exp.Column | exp.Literal | exp.Null | exp.Boolean | exp.Try)


def _try(node: exp.Expr) -> exp.Expr:
    return node if _plain(node) else exp.Try(this=node.copy())


def _try_condition(condition: exp.Expr) -> exp.Expr:
    """``TRY`` each conjunct, except column-to-column equalities (they keep hash joins)."""
    if isinstance(condition, exp.And):
        return exp.and_(_try_condition(condition.left), _try_condition(condition.right))
    if isinstance(condition, exp.Paren):
        return _try_condition(condition.this)
    if isinstance(condition, exp.EQ) and _plain(condition.left) and _plain(condition.right):
        return condition
    return _try(condition)


def _try_wrap_select(select: exp.Select, *, final: bool) -> None:
    """Evaluate row-level expressions under TRY: an error must not tell a hidden value."""
    where = select.args.get("where")
    if where is not None:
        where.set("this", _try_condition(where.this))
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if on is not None:
            join.set("on", _try_condition(on))
    group = select.args.get("group")
    keys: list[exp.Expr] = []
    if group is not None:
        for key in list(group.expressions):
            # ROLLUP / CUBE / GROUPING SETS are grouping syntax, not values: left as written.
            grouping = isinstance(key, exp.Rollup | exp.Cube | exp.GroupingSets)
            if not grouping and not _plain(key) and not _has_aggregate(key):
                keys.append(key.copy())
                key.replace(_try(key))
    for projection in list(select.expressions):
        target = projection.this if isinstance(projection, exp.Alias) else projection
        if _has_aggregate(target):
            for aggregate in list(target.find_all(exp.AggFunc)):
                for argument in list(aggregate.iter_expressions()):
                    if isinstance(argument, exp.Distinct):
                        argument.set("expressions", [_try(e) for e in argument.expressions])
                    elif not _plain(argument) and not isinstance(argument, exp.Star):
                        argument.replace(_try(argument))
            # Group keys used inside expressions over aggregates must match the TRY'd keys.
            for key in keys:
                for match in [n for n in target.find_all(type(key)) if n == key]:
                    match.replace(_try(match))
        elif not _plain(target) and (not final or not isinstance(target, exp.Star)):
            target.replace(_try(target))


def _has_aggregate(node: exp.Expr) -> bool:
    return node.find(exp.AggFunc) is not None


def _rename_outputs(root: exp.Expr, names: Sequence[str]) -> None:
    """Give the result the column names DuckDB gives the original query."""
    visible = _leftmost_select(root).expressions[: len(names)]
    renamed: dict[str, str] = {}
    for projection, name in zip(visible, names, strict=True):
        target = projection.this if isinstance(projection, exp.Alias) else projection
        renamed[projection.alias_or_name] = name
        projection.replace(exp.alias_(target, name, quoted=True))
    # ORDER BY may refer to the output aliases sqlglot chose while qualifying.
    order = root.args.get("order")
    if order is not None:
        for column in list(order.find_all(exp.Column)):
            if not column.table and column.name in renamed:
                column.replace(exp.column(renamed[column.name], quoted=True))


def _suppressed_query(root: exp.Expr, leaves: Sequence[exp.Select]) -> str:
    """``SELECT`` the number of groups the filter removed, over every final SELECT."""
    counts = [
        exp.select(exp.Count(this=exp.Star())).from_(exp.alias_(exp.paren(leaf), f"q{i}"))
        for i, leaf in enumerate(leaves)
    ]
    total: exp.Expr = exp.paren(exp.Subquery(this=counts[0]))
    for count in counts[1:]:
        total = exp.Add(this=total, expression=exp.Subquery(this=count))
    query = exp.select(exp.alias_(total, "suppressed", quoted=True))
    with_ = root.args.get("with")
    if with_ is not None:
        query.set("with", with_.copy())
    return query.sql(dialect="duckdb")
