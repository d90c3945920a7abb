"""Differential-privacy mode, the SQL: exact aggregates before the noise, the release after.

Steps 1-4 of :mod:`.dp` are :func:`exact_sql` (row-level values under ``TRY``, the
contribution bound, clamping in fixed point, exact sums per group, keys as :mod:`.dp_keys`
carries them); step 8 is :func:`final_sql` over the noisy table. Every name generated here
starts with :data:`.dp_spec.DP_PREFIX`, which queries may not use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .dp_keys import DpKey
from .dp_plan import DpPlan, column_sql, noisy_column
from .dp_spec import DP_PREFIX, DpSpec
from .references import quote_identifier as _quote

__all__ = [
    "FIXED_POINT_BITS",
    "NOISY_TABLE",
    "ROWS",
    "FixedPoint",
    "count_column",
    "exact_sql",
    "final_sql",
    "sum_column",
]

#: Fixed point of step 3: |v| <= 2^40 per row, so HUGEINT (2^127) holds sums of 2^86 rows and
#: the grid (2^-40 of the bound) is far below any noise.
FIXED_POINT_BITS: Final = 40
#: The noisy table (released keys and noisy statistics), registered for :func:`final_sql`.
NOISY_TABLE: Final = f"{DP_PREFIX}_noisy"
#: The exact table's row count per group.
ROWS: Final = f"{DP_PREFIX}_rows"

_UNIT: Final = f"{DP_PREFIX}_unit"
_DRAW: Final = f"{DP_PREFIX}_draw"


def count_column(index: int) -> str:
    """The exact table's non-NULL count of the ``index``-th counted column."""
    return f"{DP_PREFIX}_c{index}"


def sum_column(index: int) -> str:
    """The exact table's fixed-point sum of the ``index``-th summed column."""
    return f"{DP_PREFIX}_s{index}"


@dataclass(frozen=True)
class FixedPoint:
    """Step 3: ``v = round(clamp(x) * factor)`` with ``|v| <= units``; a sum is ``S * 2^-shift``."""

    lo: float
    hi: float
    shift: int
    units: int

    @classmethod
    def of(cls, lo: float, hi: float) -> FixedPoint:
        exponent = math.frexp(max(abs(lo), abs(hi)))[1]  # the bound is < 2^exponent
        shift = FIXED_POINT_BITS - exponent
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


def exact_sql(plan: DpPlan, spec: DpSpec, keys: Sequence[DpKey]) -> str:
    """Steps 1-4: the exact aggregates per group, over at most L rows per unit.

    One row per group, sorted by the canonical keys, every column of a fixed width (the keys
    as :meth:`.DpKey.carried_sql` carries them): the table's size depends on the number of
    groups only, and a group's row number is a label that depends on the keys' order only.
    """
    raw = [f"{key} AS {_quote(f'{DP_PREFIX}_r{j}')}" for j, key in enumerate(plan.keys)]
    inner = [f"1 AS {_quote(DP_PREFIX + '_one')}", *raw]
    inner += [
        f"({sql} IS NOT NULL) AS {_quote(f'{DP_PREFIX}_n{i}')}"
        for i, sql in enumerate(plan.counted.values())
    ]
    inner += [
        f"{FixedPoint.of(*spec.bounds[column]).sql(sql)} AS {_quote(f'{DP_PREFIX}_v{i}')}"
        for i, (column, sql) in enumerate(plan.summed.items())
    ]
    if plan.unit is not None:
        # DuckDB refuses a volatile ORDER BY in a window: draw the random order as a column.
        inner.append(f"{column_sql(plan.alias, plan.unit)} AS {_quote(_UNIT)}")
        inner.append(f"random() AS {_quote(_DRAW)}")
    source = f"{_quote(plan.relation)} AS {_quote(plan.alias)}"
    rows = f"SELECT {', '.join(inner)} FROM {source}"  # noqa: S608 (generated, quoted)
    if plan.where is not None:
        rows += f" WHERE {plan.where}"
    if plan.unit is not None:
        rows = _bounded_rows_sql(rows, spec.max_rows_per_unit)
    # Canonical keys (dp_keys step 2), computed once per kept row from the raw key column.
    kept = [
        f"{key.canonical_sql(_quote(f'{DP_PREFIX}_r{key.index}'))} AS {_quote(key.column)}"
        for key in keys
    ]
    kept += [_quote(f"{DP_PREFIX}_n{i}") for i in range(len(plan.counted))]
    kept += [_quote(f"{DP_PREFIX}_v{i}") for i in range(len(plan.summed))]
    kept.append(_quote(DP_PREFIX + "_one"))
    rows = f"SELECT {', '.join(kept)} FROM ({rows})"  # noqa: S608 (generated, quoted)
    outer = [sql for key in keys for sql in key.carried_sql()]
    outer.append(f"COUNT(*) AS {_quote(ROWS)}")
    outer += [
        f"COALESCE(count_if({_quote(f'{DP_PREFIX}_n{i}')}), 0) AS {_quote(count_column(i))}"
        for i in range(len(plan.counted))
    ]
    outer += [
        f"COALESCE(SUM({_quote(f'{DP_PREFIX}_v{i}')}), 0)::HUGEINT AS {_quote(sum_column(i))}"
        for i in range(len(plan.summed))
    ]
    sql = f"SELECT {', '.join(outer)} FROM ({rows})"  # noqa: S608 (generated, quoted)
    if keys:
        grouped = ", ".join(_quote(key.column) for key in keys)
        ordered = ", ".join(f"{_quote(key.column)} ASC NULLS LAST" for key in keys)
        sql += f" GROUP BY {grouped} ORDER BY {ordered}"
    return sql


def _bounded_rows_sql(rows: str, bound: int) -> str:
    """Step 2: at most ``bound`` rows per unit, the ones with the smallest random draws.

    Units within the bound keep every row without a sort; only larger units are ranked (the
    same rule as ranking everyone: 1M rows, 100k units, L = 20: 0.13 s instead of 0.6 s).
    ``IS NOT DISTINCT FROM`` keeps the rows whose unit is NULL together, as one unit.
    """
    unit, draw = _quote(_UNIT), _quote(_DRAW)
    kept, units = _quote(DP_PREFIX + "_r"), _quote(DP_PREFIX + "_units")
    within = f"{units}.{_quote(DP_PREFIX + '_size')}"
    joined = f"{kept} JOIN {units} ON {kept}.{unit} IS NOT DISTINCT FROM {units}.{unit}"
    rank = f"row_number() OVER (PARTITION BY {unit} ORDER BY {draw})"
    return (
        f"WITH {kept} AS ({rows}), "  # noqa: S608 (generated, quoted)
        f"{units} AS (SELECT {unit}, COUNT(*) AS {_quote(DP_PREFIX + '_size')} "
        f"FROM {kept} GROUP BY {unit}) "
        f"SELECT {kept}.* FROM {joined} WHERE {within} <= {bound} "
        f"UNION ALL SELECT * FROM (SELECT {kept}.* FROM {joined} "
        f"WHERE {within} > {bound}) QUALIFY {rank} <= {bound}"
    )


def final_sql(plan: DpPlan, keys: Sequence[DpKey], output_names: Sequence[str]) -> str:
    """Step 8: decode the released keys, project, order and limit (post-processing)."""
    released = [key.released_sql() for key in keys]
    statistics = [
        _quote(noisy_column(output, i))
        for i, output in enumerate(plan.outputs)
        if output.kind != "key"
    ]
    source = f"SELECT {', '.join([*released, *statistics])} FROM {_quote(NOISY_TABLE)}"  # noqa: S608
    columns = [
        f"{_quote(noisy_column(o, i))} AS {_quote(name)}"
        for i, (o, name) in enumerate(zip(plan.outputs, output_names, strict=True))
    ]
    terms = [
        f"{_quote(name)} {'DESC' if descending else 'ASC'} NULLS {'FIRST' if first else 'LAST'}"
        for name, descending, first in plan.order
    ]
    # Then by the keys: the order of released rows must not be DuckDB's hash order.
    terms += [f"{_quote(key.column)} ASC NULLS LAST" for key in keys]
    sql = f"SELECT {', '.join(columns)} FROM ({source})"  # noqa: S608 (generated, quoted)
    if terms:
        sql += f" ORDER BY {', '.join(terms)}"
    if plan.limit is not None:
        sql += f" LIMIT {plan.limit}"
    if plan.offset is not None:
        sql += f" OFFSET {plan.offset}"
    return sql
