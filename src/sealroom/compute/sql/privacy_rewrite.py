"""The SQL the privacy filter writes (:mod:`.privacy` decides what to write, this module how).

* Errors never depend on a hidden value: :func:`try_row_level` puts row-level expressions,
  conditions and aggregate arguments under ``TRY``, keeping a plain equality as it is only when
  both sides have one type (an implicit cast between types could fail on one row).
* :class:`PostAggregate` moves what the analyst computes over groups (expressions over
  aggregates, ``HAVING``, ``ORDER BY``) onto the columns of the groups table, under ``TRY``.
* :func:`partition_conditions` writes the check that no unit counts in two groups of a result.

Everything here builds sqlglot trees; nothing runs a query.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Final

from sqlglot import exp

from sealroom.errors import PrivacyFilterError

from . import privacy_allowlist as allow

__all__ = [
    "AGGREGATE_PREFIX",
    "KEY_PREFIX",
    "PostAggregate",
    "aggregates_of",
    "group_keys",
    "ident",
    "is_aggregate",
    "is_plain",
    "iter_children",
    "own_nodes",
    "partition_conditions",
    "renamed_projections",
    "try_row_level",
    "under_try",
]

KEY_PREFIX: Final = "__sealroom_g"
AGGREGATE_PREFIX: Final = "__sealroom_a"
_ROWS: Final = "__sealroom_rows"
_UNIT_PREFIX: Final = "__sealroom_u"
_SHARED_PREFIX: Final = "__sealroom_shared"
_NUMERIC_TYPES: Final = frozenset(
    {
        exp.DataType.Type.TINYINT,
        exp.DataType.Type.SMALLINT,
        exp.DataType.Type.INT,
        exp.DataType.Type.BIGINT,
        exp.DataType.Type.INT128,
        exp.DataType.Type.UTINYINT,
        exp.DataType.Type.USMALLINT,
        exp.DataType.Type.UINT,
        exp.DataType.Type.UBIGINT,
        exp.DataType.Type.UINT128,
        exp.DataType.Type.FLOAT,
        exp.DataType.Type.DOUBLE,
        exp.DataType.Type.DECIMAL,
    }
)


class PostAggregate:
    """Moves what the analyst computes over groups to the outer query (step 3 of :mod:`.privacy`).

    ``keys`` are ``(TRY'd key expression, hidden name)``; ``values`` are ``(aggregate, hidden
    name)``. :meth:`expression` rewrites a projection, ``HAVING`` or ``ORDER BY`` expression of
    the final SELECT over those hidden columns, and refuses a column that is neither.
    """

    def __init__(self, keys: list[exp.Expr], aggregates: list[exp.Expr]) -> None:
        self._originals = keys
        self.keys: list[tuple[exp.Expr, str]] = [
            (under_try(key), f"{KEY_PREFIX}{i}") for i, key in enumerate(keys)
        ]
        self.values: list[tuple[exp.Expr, str]] = []
        self._aggregate_ids = {id(a) for a in aggregates}

    def expression(self, node: exp.Expr) -> exp.Expr:
        target = node.this if isinstance(node, exp.Alias) else node
        rewritten = target.copy()
        rewritten = self._replace(target, rewritten)
        for column in rewritten.find_all(exp.Column):
            if not column.name.startswith((KEY_PREFIX, AGGREGATE_PREFIX)):
                raise PrivacyFilterError(
                    f"column {column.name!r} is used outside an aggregate but is not a group "
                    "key; add it to GROUP BY or aggregate it"
                )
        result = rewritten if is_plain(rewritten) else under_try(rewritten)
        return (
            exp.alias_(result, node.alias, quoted=True) if isinstance(node, exp.Alias) else result
        )

    def order(self, order: exp.Order, renamed: Mapping[str, str]) -> exp.Order:
        """ORDER BY over the outer query; ``renamed`` maps projection aliases to output names."""
        ordered: list[exp.Expr] = []
        for item in order.expressions:
            inner = item.this
            if isinstance(inner, exp.Column) and not inner.table and inner.name in renamed:
                copy = item.copy()
                copy.set("this", exp.column(renamed[inner.name], quoted=True))
                ordered.append(copy)
                continue
            copy = item.copy()
            copy.set("this", self.expression(inner))
            ordered.append(copy)
        return exp.Order(expressions=ordered)

    def _replace(self, original: exp.Expr, copy: exp.Expr) -> exp.Expr:
        """``copy`` with aggregates and group keys of ``original`` replaced by hidden columns."""
        if id(original) in self._aggregate_ids:
            return exp.column(self._value_name(original), quoted=True)
        for index, key in enumerate(self._originals):
            if original == key:
                return exp.column(self.keys[index][1], quoted=True)
        pairs = zip(iter_children(original), list(iter_children(copy)), strict=True)
        for (_, child), (_, child_copy) in pairs:
            replaced = self._replace(child, child_copy)
            if replaced is not child_copy:
                child_copy.replace(replaced)
        return copy

    def _value_name(self, aggregate: exp.Expr) -> str:
        for existing, name in self.values:
            if existing == aggregate:
                return name
        name = f"{AGGREGATE_PREFIX}{len(self.values)}"
        self.values.append((aggregate.copy(), name))
        return name


def iter_children(node: exp.Expr) -> Iterator[tuple[str, exp.Expr]]:
    for key, value in node.args.items():
        if isinstance(value, exp.Expr):
            yield key, value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, exp.Expr):
                    yield key, item


def own_nodes(select: exp.Select) -> Iterator[exp.Expr]:
    """The nodes of ``select`` itself, not of the subqueries nested in it."""
    for node in select.walk(prune=lambda n: n is not select and isinstance(n, exp.Query)):
        if node is select or not isinstance(node, exp.Query):
            yield node


def is_aggregate(node: exp.Expr) -> bool:
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        return (
            name in allow.ANONYMOUS_COUNTING_AGGREGATES
            or name in allow.ANONYMOUS_REVEALING_AGGREGATES
        )
    return isinstance(node, exp.AggFunc | exp.WithinGroup | exp.IgnoreNulls)


def aggregates_of(select: exp.Select) -> list[exp.Expr]:
    """The outermost aggregates of ``select`` (an IGNORE NULLS or WITHIN GROUP wraps its own)."""
    found: list[exp.Expr] = []
    for node in own_nodes(select):
        if is_aggregate(node) and not any(is_aggregate(a) for a in _ancestors(node, select)):
            found.append(node)
    return found


def _ancestors(node: exp.Expr, stop: exp.Expr) -> Iterator[exp.Expr]:
    parent = node.parent
    while parent is not None and parent is not stop:
        yield parent
        parent = parent.parent


def partition_conditions(
    select: exp.Select, keys: list[exp.Expr], entries: list[exp.Column], with_: exp.With
) -> list[exp.Expr]:
    """One condition per input instance: the group holds no unit that counts in another group.

    Without it a join could put every row in two groups, its city and a total, and a total
    minus the cities shown is the city suppressed. Adds to ``with_`` the CTEs it reads: the
    rows with their group key and units, and per instance the units seen in two groups or more.
    """
    rows = exp.Select(
        expressions=[
            exp.alias_(under_try(key.copy()), f"{KEY_PREFIX}{i}", quoted=True)
            for i, key in enumerate(keys)
        ]
        + [
            exp.alias_(entry.copy(), f"{_UNIT_PREFIX}{i}", quoted=True)
            for i, entry in enumerate(entries)
        ]
    )
    for key in ("from_", "joins", "where"):
        value = select.args.get(key)
        if value is not None:
            rows.set(key, [v.copy() for v in value] if isinstance(value, list) else value.copy())
    with_.append("expressions", exp.CTE(this=rows, alias=exp.TableAlias(this=ident(_ROWS))))
    group_key = exp.Struct(
        expressions=[
            exp.PropertyEQ(
                this=ident(f"k{i}"), expression=exp.column(f"{KEY_PREFIX}{i}", quoted=True)
            )
            for i in range(len(keys))
        ]
    )
    conditions: list[exp.Expr] = []
    for i, entry in enumerate(entries):
        unit = exp.column(f"{_UNIT_PREFIX}{i}", quoted=True)
        shared = (
            exp.select(unit)
            .from_(exp.Table(this=ident(_ROWS)))
            .group_by(unit.copy())
            .having(
                exp.GT(
                    this=exp.Count(this=exp.Distinct(expressions=[group_key.copy()])),
                    expression=exp.Literal.number(1),
                )
            )
        )
        name = f"{_SHARED_PREFIX}{i}"
        with_.append("expressions", exp.CTE(this=shared, alias=exp.TableAlias(this=ident(name))))
        member = exp.In(
            this=entry.copy(),
            query=exp.Subquery(
                this=exp.select(exp.column(f"{_UNIT_PREFIX}{i}", quoted=True)).from_(
                    exp.Table(this=ident(name))
                )
            ),
        )
        hits = exp.Sum(
            this=exp.Case(ifs=[exp.If(this=member, true=exp.Literal.number(1))]).else_(
                exp.Literal.number(0)
            )
        )
        conditions.append(exp.EQ(this=hits, expression=exp.Literal.number(0)))
    return conditions


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def group_keys(select: exp.Select) -> list[exp.Expr]:
    group = select.args.get("group")
    if group is None:
        return []
    if group.args.get("all"):
        return [
            (p.this if isinstance(p, exp.Alias) else p)
            for p in select.expressions
            if not any(is_aggregate(n) for n in p.walk())
        ]
    return list(group.expressions)


def renamed_projections(projections: list[exp.Expr], names: Sequence[str]) -> list[exp.Expr]:
    """Give the result the column names DuckDB gives the original query."""
    if len(projections) != len(names):
        raise PrivacyFilterError("the privacy filter could not keep the query's columns")
    return [
        exp.alias_(p.this if isinstance(p, exp.Alias) else p, name, quoted=True)
        for p, name in zip(projections, names, strict=True)
    ]


def is_plain(node: exp.Expr) -> bool:
    return isinstance(node, exp.Column | exp.Literal | exp.Null | exp.Boolean | exp.Try)


def under_try(node: exp.Expr) -> exp.Expr:
    return node if is_plain(node) else exp.Try(this=node.copy())


def _same_type(left: exp.Expr, right: exp.Expr) -> bool:
    """True when comparing ``left`` with ``right`` needs no cast that could fail on a value."""
    left_type, right_type = left.type, right.type
    if left_type is None or right_type is None:
        return False
    if left_type.this == exp.DataType.Type.UNKNOWN:
        return False
    if left_type.this in _NUMERIC_TYPES and right_type.this in _NUMERIC_TYPES:
        return True
    return bool(left_type == right_type)


def _try_condition(condition: exp.Expr) -> exp.Expr:
    """``TRY`` each operand of ``AND`` and ``OR``, except equalities of two plain values of one
    type: those keep hash joins, and cannot fail (an implicit cast between types could, on one
    row). Going into ``OR`` keeps a join key that every branch repeats (TPC-H Q19) visible to
    DuckDB, which pulls it out of the ``OR`` and hash-joins; under one ``TRY`` it would join
    every row with every row. Either way no error escapes: an operand that fails is NULL."""
    if isinstance(condition, exp.And):
        return exp.and_(_try_condition(condition.left), _try_condition(condition.right))
    if isinstance(condition, exp.Or):
        return exp.or_(_try_condition(condition.left), _try_condition(condition.right))
    if isinstance(condition, exp.Paren):
        return _try_condition(condition.this)
    if (
        isinstance(condition, exp.EQ)
        and isinstance(condition.left, exp.Column)
        and isinstance(condition.right, exp.Column)
        and _same_type(condition.left, condition.right)
    ):
        return condition
    return exp.Try(this=condition.copy())


def try_row_level(select: exp.Select) -> None:
    """Evaluate row-level expressions under TRY: an error must not tell a hidden value."""
    where = select.args.get("where")
    if where is not None:
        where.set("this", _try_condition(where.this))
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if on is not None:
            join.set("on", _try_condition(on))
    for projection in list(select.expressions):
        target = projection.this if isinstance(projection, exp.Alias) else projection
        if any(is_aggregate(n) for n in target.walk()):
            for aggregate in [n for n in target.walk() if is_aggregate(n)]:
                for _, argument in list(iter_children(aggregate)):
                    if isinstance(argument, exp.Distinct):
                        argument.set("expressions", [under_try(e) for e in argument.expressions])
                    elif (
                        not is_plain(argument)
                        and not isinstance(argument, exp.Star | exp.Order | exp.Var)
                        and not is_aggregate(argument)
                    ):
                        argument.replace(under_try(argument))
        elif not is_plain(target):
            target.replace(under_try(target))
