"""What SQL the privacy filter lets through: an allow-list, never a deny-list.

Every node of a filtered query's syntax tree (as sqlglot parses DuckDB SQL) must be one of the
kinds below; a function sqlglot does not know (``exp.Anonymous``) must be named below. Anything
else — a new DuckDB function, an aggregate macro such as ``json_group_array``, a table function —
is refused because it is not listed, not because somebody thought of it. ``docs/privacy.md``
shows these tables; a test keeps the page and this module equal.

Three groups of functions:

* :data:`ROW_FUNCTIONS` compute one value from one row (arithmetic, text, dates, casts, ``CASE``).
  Under the filter they run under ``TRY`` so that an error never depends on a hidden value.
* :data:`COUNTING_AGGREGATES` combine many units into one number and are always allowed.
* :data:`REVEALING_AGGREGATES` (``MIN``, ``MAX``, ``MEDIAN`` …) return one unit's value; they
  are allowed only when the room says so (``allow_revealing_aggregates``).

Aggregates that list their inputs (``LIST``, ``STRING_AGG``, ``HISTOGRAM`` …) are in no group,
so they are refused with the rest.
"""

from __future__ import annotations

from typing import Final

from sqlglot import exp

__all__ = [
    "ANONYMOUS_COUNTING_AGGREGATES",
    "ANONYMOUS_REVEALING_AGGREGATES",
    "ANONYMOUS_ROW_FUNCTIONS",
    "CONDITIONAL",
    "COUNTING_AGGREGATES",
    "LISTING_AGGREGATE_NAMES",
    "REVEALING_AGGREGATES",
    "ROW_FUNCTIONS",
    "STRUCTURE",
]

#: The clauses and leaves of a query: what a query is made of, not what it computes.
STRUCTURE: Final[frozenset[type[exp.Expr]]] = frozenset(
    {
        exp.Select,
        exp.From,
        exp.Join,
        exp.Where,
        exp.Group,
        exp.Having,
        exp.Order,
        exp.Ordered,
        exp.Limit,
        exp.Offset,
        exp.With,
        exp.CTE,
        exp.Subquery,
        exp.Table,
        exp.TableAlias,
        exp.Alias,
        exp.Column,
        exp.Identifier,
        exp.Star,
        exp.Paren,
        exp.Distinct,
        exp.Literal,
        exp.Null,
        exp.Boolean,
        exp.DataType,
        exp.DataTypeParam,
        exp.Var,
        exp.Placeholder,
        exp.Tuple,
    }
)

#: What may not appear inside an aggregate under the filter: it would pick some rows of a group
#: (``SUM(CASE WHEN city = 'tinytown' THEN salary END)`` over a group of 200 is one person).
#: All but the parameter are row functions too.
CONDITIONAL: Final[frozenset[type[exp.Expr]]] = frozenset(
    {
        exp.EQ,
        exp.NEQ,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.NullSafeEQ,
        exp.NullSafeNEQ,
        exp.Is,
        exp.In,
        exp.Between,
        exp.Like,
        exp.ILike,
        exp.And,
        exp.Or,
        exp.Not,
        exp.Case,
        exp.If,
        exp.Coalesce,
        exp.Nullif,
        exp.Greatest,
        exp.Least,
        exp.Sign,
        exp.Placeholder,
    }
)

#: Functions and operators of one row: :data:`CONDITIONAL` (comparisons, logic, CASE …, which
#: may not appear inside an aggregate) and the ones below.
ROW_FUNCTIONS: Final[frozenset[type[exp.Expr]]] = (CONDITIONAL - {exp.Placeholder}) | frozenset(
    {
        # arithmetic
        exp.Add,
        exp.Sub,
        exp.Mul,
        exp.Div,
        exp.IntDiv,
        exp.Mod,
        exp.Neg,
        exp.Abs,
        exp.Round,
        exp.Floor,
        exp.Ceil,
        exp.Sqrt,
        exp.Ln,
        exp.Log,
        exp.Exp,
        exp.Pow,
        exp.Trunc,
        # text
        exp.Lower,
        exp.Upper,
        exp.Length,
        exp.Substring,
        exp.Trim,
        exp.Concat,
        exp.DPipe,
        exp.Replace,
        exp.Left,
        exp.Right,
        exp.StartsWith,
        exp.EndsWith,
        exp.Contains,
        exp.StrPosition,
        exp.ConcatWs,
        exp.Pad,
        # dates and times
        exp.Interval,
        exp.TimestampTrunc,
        exp.Extract,
        exp.Year,
        exp.Month,
        exp.Day,
        exp.Quarter,
        exp.Week,
        exp.DayOfWeek,
        exp.DayOfWeekIso,
        exp.DayOfYear,
        exp.Hour,
        exp.Minute,
        exp.Second,
        exp.Dayname,
        exp.Monthname,
        exp.TimeToUnix,
        exp.DateAdd,
        exp.DateDiff,
        exp.DateFromParts,
        exp.TimeToStr,
        exp.StrToTime,
        exp.CurrentDate,
        # conversion (CAST becomes TRY_CAST); TRY is what the rewrite adds
        exp.Cast,
        exp.TryCast,
        exp.Try,
    }
)

#: Row functions sqlglot leaves as ``exp.Anonymous``, by DuckDB name.
ANONYMOUS_ROW_FUNCTIONS: Final = frozenset({"date_part", "datepart"})

#: Aggregates that combine many units into one number.
COUNTING_AGGREGATES: Final[frozenset[type[exp.Expr]]] = frozenset(
    {
        exp.Count,
        exp.Sum,
        exp.Avg,
        exp.Stddev,
        exp.StddevPop,
        exp.StddevSamp,
        exp.Variance,
        exp.VariancePop,
        exp.ApproxDistinct,
    }
)
ANONYMOUS_COUNTING_AGGREGATES: Final = frozenset({"mean", "fsum", "sumkahan", "kahan_sum", "favg"})

#: Aggregates that return one unit's value: only where the room allows them.
REVEALING_AGGREGATES: Final[frozenset[type[exp.Expr]]] = frozenset(
    {
        exp.Min,
        exp.Max,
        exp.Median,
        exp.PercentileCont,
        exp.PercentileDisc,
        exp.Quantile,
        exp.Mode,
        exp.AnyValue,
        exp.First,
        exp.Last,
        exp.ArgMax,
        exp.ArgMin,
        exp.IgnoreNulls,
        exp.WithinGroup,
    }
)
ANONYMOUS_REVEALING_AGGREGATES: Final = frozenset(
    {"quantile", "quantile_cont", "quantile_disc", "min_by", "max_by", "arg_min", "arg_max"}
)

#: Named in refusals to say why they are not listed: they output every value they aggregate.
LISTING_AGGREGATE_NAMES: Final = frozenset(
    {
        "list",
        "array_agg",
        "string_agg",
        "group_concat",
        "listagg",
        "histogram",
        "bitstring_agg",
        "json_group_array",
        "json_group_object",
        "json_group_structure",
        "map_agg",
    }
)
