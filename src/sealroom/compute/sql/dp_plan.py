"""Differential-privacy mode, step 0: check a query's shape and plan it (no data is read).

:func:`plan_dp_query` turns the analyst's SELECT into a :class:`DpPlan`: the one input table,
the row-level SQL of ``WHERE`` and of each group key (under ``TRY``), the statistics to noise,
and the ORDER BY / LIMIT applied to the noisy rows. Anything outside the accepted shape (see
:mod:`.dp`) raises :class:`~sealroom.errors.DpQueryError` with a message that names no data value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from sealroom.errors import DpQueryError

from .dp_spec import DP_PREFIX, DpSpec
from .privacy import RESERVED_PREFIX
from .references import quote_identifier as _quote

__all__ = [
    "DpPlan",
    "Output",
    "OutputKind",
    "column_sql",
    "key_column",
    "noisy_column",
    "plan_dp_query",
]

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


def plan_dp_query(
    query: str,
    relations: Mapping[str, Sequence[tuple[str, str]]],
    spec: DpSpec,
    output_names: Sequence[str],
) -> DpPlan:
    """Check ``query`` against the accepted shape; ``relations`` maps inputs to (name, type)."""
    return _Planner(relations, spec).plan(query, output_names)


OutputKind = Literal["key", "rows", "count", "sum", "avg"]


@dataclass(frozen=True)
class Output:
    """One output column: a GROUP BY key (``index`` into the keys) or a statistic of a column."""

    kind: OutputKind
    index: int = -1
    column: str = ""


@dataclass(frozen=True)
class DpPlan:
    relation: str  # the input's registered name
    alias: str
    unit: str | None  # the unit column's name in the input
    where: str | None  # SQL of the TRY'd condition
    keys: list[str]  # SQL of the TRY'd group keys
    outputs: list[Output]
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

    def plan(self, query: str, output_names: Sequence[str]) -> DpPlan:
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
        for position, key in enumerate(keys):
            if key.find(exp.Collate) is not None:
                # A collation groups several spellings together and shows one row's spelling.
                raise DpQueryError(
                    f"COLLATE is refused in GROUP BY key {position + 1} in differential-privacy "
                    "mode (the group would be shown with the spelling of one row)"
                )
        outputs = [self._output(i, p, keys, columns) for i, p in enumerate(select.expressions)]
        if len(outputs) != len(output_names):
            raise DpQueryError("differential-privacy mode could not match the output columns")
        if not keys and not any(o.kind != "key" for o in outputs):
            raise DpQueryError(f"the query must aggregate: {_SHAPE}")
        where = select.args.get("where")
        return DpPlan(
            relation=relation,
            alias=alias,
            unit=unit,
            where=_try_sql(where.this) if where is not None else None,
            keys=[_try_sql(key) for key in keys],
            outputs=outputs,
            counted={
                o.column: column_sql(alias, columns[o.column][0])
                for o in outputs
                if o.kind in ("count", "avg")
            },
            summed={
                o.column: column_sql(alias, columns[o.column][0])
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
    ) -> Output:
        target = projection.this if isinstance(projection, exp.Alias) else projection
        for position, key in enumerate(keys):
            if target == key:
                return Output("key", index=position)
        if isinstance(target, exp.Count) and isinstance(target.this, exp.Star):
            return Output("rows")
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
            return Output("count", column=column)
        kind: OutputKind = "sum" if isinstance(target, exp.Sum) else "avg"
        function = kind.upper()
        if not _NUMERIC_TYPE.fullmatch(columns[column][1]):
            raise DpQueryError(f"{function}({column}) needs a numeric column")
        if column not in self._spec.bounds:
            raise DpQueryError(
                f"{function}({column}) needs clamp bounds for column {column!r} "
                "(bounds: the smallest and largest value one row may contribute)"
            )
        return Output(kind, column=column)

    def _order(
        self, select: exp.Select, outputs: Sequence[Output], keys: Sequence[exp.Expr]
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
                name = noisy_column(outputs[position], position)
            elif term in targets:
                position = targets.index(term)
                name = noisy_column(outputs[position], position)
            elif term in keys:
                name = key_column(list(keys).index(term))
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


def column_sql(alias: str, column: str) -> str:
    return f"{_quote(alias)}.{_quote(column)}"


def key_column(index: int) -> str:
    return f"{DP_PREFIX}_k{index}"


def noisy_column(output: Output, position: int) -> str:
    """The noisy table's column of output ``position``: a key, or the position's statistic."""
    return key_column(output.index) if output.kind == "key" else f"{DP_PREFIX}_a{position}"
