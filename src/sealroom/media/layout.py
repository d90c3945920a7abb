"""A media clean room's nodes: its tables, its computations, and who may do what.

Tables (CSV, UTF-8, no header):

* ``matching``, ``segments``, ``demographics``, ``embeddings``: the base audience, in its
  DataLab's layout (:mod:`sealroom.data_lab.layout`); data owners: the group with
  ``PROVIDE_BASE_AUDIENCE``. The publisher provisions them from a validated DataLab.
* ``audiences``: the seed audiences, ``matching_id, audience_type``, one row per (id, type);
  data owners: the groups with ``PROVIDE_SEED_AUDIENCE``.
* ``custom_audiences``: audience definitions (``id, name, created_by, created_at, shared_with,
  definition, created_by_group``; JSON in ``shared_with`` and ``definition``); data owners:
  the groups with ``CREATE_CUSTOM_AUDIENCE``.
  Definitions are not personal data: every participant reads them (``custom_audience_list``).

Computations, and the permission that makes a group's people their analysts (:data:`ANALYSTS`):

* SQL, run by the core's engine: ``overlap_statistics`` (VIEW_OVERLAP), ``insights``
  (VIEW_INSIGHTS) (both engine nodes in DP mode), ``data_attributes`` (VIEW_INSIGHTS,
  CREATE_CUSTOM_AUDIENCE),
  ``seed_audience_list`` and ``custom_audience_list`` (everyone).
* Python, the audience engine (:mod:`sealroom.media.engine_script`) in the sandbox:
  ``audience_size`` (CREATE_CUSTOM_AUDIENCE, EXPORT_AUDIENCE),
  ``audience_user_list`` (EXPORT_AUDIENCE), ``lookalike_statistics`` (MODEL_QUALITY,
  CREATE_CUSTOM_AUDIENCE; only with LOOKALIKE).

What the SQL releases (rounding mode; the engine applies the same rules to its sizes):

* sizes rounded half up to a multiple of :data:`SIZE_ROUNDING`, insight groups of
  :data:`GROUP_ROUNDING`; an overlap, audience or activation count below the room's minimum
  audience size is NULL (released as "too small"), an insight group below its minimum group size
  is left out, and so is every insight of an audience type whose overlap is too small;
* with ``hide_absolute_values``, insights release shares (group / total, 3 digits) computed from
  the rounded counts instead of the counts.

In differential-privacy mode every computation that releases counts is an engine node charged
``epsilon_per_run``: the sizes, and ``overlap_statistics`` and ``insights``, which the engine
computes from noisy counts and releases as rows of the same columns as the SQL's
(``<node>.json``: ``{"columns", "rows", "privacy"}``). Seed audience sizes are not released
(``seed_audience_list`` has them NULL): they would be exact counts outside the budget.
"""

# The SQL here is built from the room's configuration, never from data: identifier names are
# checked by DataLabConfig.check and quoted (_q); text literals are escaped (_lit).
# ruff: noqa: S608
from __future__ import annotations

from dataclasses import dataclass

from sealroom.data_lab.layout import table_layouts
from sealroom.data_lab.types import ID_FORMATS, CollaborationType, DataLabDatasetType
from sealroom.media.config import MediaConfig
from sealroom.media.types import Permission
from sealroom.model.columns import Column, FormatType

SIZE_ROUNDING = 100
GROUP_ROUNDING = 50

BASE_TABLES = ("matching", "segments", "demographics", "embeddings")
SEED_TABLE = "audiences"
CUSTOM_TABLE = "custom_audiences"

OVERLAP = "overlap_statistics"
INSIGHTS = "insights"
DATA_ATTRIBUTES = "data_attributes"
SEED_LIST = "seed_audience_list"
CUSTOM_LIST = "custom_audience_list"
AUDIENCE_SIZE = "audience_size"
USER_LIST = "audience_user_list"
LOOKALIKE = "lookalike_statistics"

P = Permission
#: Who runs each computation: the people of every group with one of these permissions.
ANALYSTS: dict[str, tuple[Permission, ...]] = {
    OVERLAP: (P.VIEW_OVERLAP,),
    INSIGHTS: (P.VIEW_INSIGHTS,),
    DATA_ATTRIBUTES: (P.VIEW_INSIGHTS, P.CREATE_CUSTOM_AUDIENCE),
    SEED_LIST: tuple(Permission),
    CUSTOM_LIST: tuple(Permission),
    # Not VIEW_OVERLAP: the size of any definition (rule-based filters included) tells more
    # than the overlap, so it needs a permission to build audiences or to export them.
    AUDIENCE_SIZE: (P.CREATE_CUSTOM_AUDIENCE, P.EXPORT_AUDIENCE),
    USER_LIST: (P.EXPORT_AUDIENCE,),
    LOOKALIKE: (P.MODEL_QUALITY, P.CREATE_CUSTOM_AUDIENCE),
}


@dataclass(frozen=True)
class Table:
    name: str
    columns: list[Column]
    unique: list[list[int]]
    owners: tuple[Permission, ...]
    required: bool
    #: The base audience's tables drop invalid rows: a validated DataLab's dataset then gives
    #: the room the very table its DataLab has (with its rows dropped, or none to drop), and the
    #: core's validation of it stands for both.
    drop_invalid_rows: bool = False


def tables(config: MediaConfig) -> list[Table]:
    """The room's table data nodes, in order."""
    base = table_layouts(config.base.as_data_lab(config.name))
    out = [
        Table(
            dataset.node,
            columns,
            unique,
            (P.PROVIDE_BASE_AUDIENCE,),
            required=dataset is _MATCH,
            drop_invalid_rows=True,
        )
        for dataset, (columns, unique) in base.items()
    ]
    string = FormatType.STRING
    out.append(
        Table(
            SEED_TABLE,
            [
                Column(name="matching_id", format_type=ID_FORMATS[config.matching_id]),
                Column(name="audience_type", format_type=string),
            ],
            [[0, 1]],
            (P.PROVIDE_SEED_AUDIENCE,),
            False,
        )
    )
    names = (
        "id",
        "name",
        "created_by",
        "created_at",
        "shared_with",
        "definition",
        "created_by_group",
    )
    out.append(
        Table(
            CUSTOM_TABLE,
            [Column(name=n, format_type=string) for n in names],
            [[0]],
            (P.CREATE_CUSTOM_AUDIENCE,),
            False,
        )
    )
    return out


_MATCH = DataLabDatasetType.MATCH


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rounded(count: str, rounding: int) -> str:
    """Half up to a multiple of ``rounding``, as BIGINT."""
    return f"CAST(floor(({count} + {rounding // 2}) / {rounding}) * {rounding} AS BIGINT)"


def _released(count: str, minimum: int) -> str:
    """A size as released: NULL below the minimum audience size, else rounded."""
    return f"CASE WHEN {count} < {minimum} THEN NULL ELSE {_rounded(count, SIZE_ROUNDING)} END"


def _base_ids(config: MediaConfig) -> str:
    """One row per (matching id, user) of the base audience, with its activation ids."""
    extra = "".join(f", {_q(a)} AS act{i}" for i, a in enumerate(config.activation_columns))
    return (
        f"SELECT {_q(config.matching_column)} AS matching_id, {_q(config.user_column)} AS user_id"
        f"{extra} FROM matching WHERE {_q(config.matching_column)} IS NOT NULL"
    )


def _overlap_users(config: MediaConfig) -> str:
    """``(audience_type, user_id, act…)``: base users matched by each seed audience type."""
    acts = "".join(f", b.act{i}" for i in range(len(config.activation_columns)))
    return (
        f"SELECT DISTINCT s.audience_type, b.user_id{acts} FROM audiences s "
        "JOIN base_ids b ON s.matching_id = b.matching_id"
    )


def overlap_query(config: MediaConfig) -> str:
    """Rows ``(audience_type, advertiser_size, overlap_size, activation_id, activation_ids)``:
    one per seed audience type and activation identifier (``activation_id`` NULL when the base
    audience has none)."""
    m = config.privacy.minimum_audience_size
    acts = config.activation_columns
    per_type = "".join(f", count(DISTINCT act{i}) AS act{i}" for i in range(len(acts)))
    if acts:
        unpivot = " UNION ALL ".join(
            f"SELECT audience_type, {_lit(a)} AS activation_id, act{i} AS n FROM overlap"
            for i, a in enumerate(acts)
        )
    else:
        unpivot = (
            "SELECT audience_type, CAST(NULL AS VARCHAR) AS activation_id, 0 AS n FROM overlap"
        )
    return f"""WITH base_ids AS ({_base_ids(config)}),
matched AS ({_overlap_users(config)}),
advertiser AS (
  SELECT audience_type, count(DISTINCT matching_id) AS n FROM audiences GROUP BY audience_type),
overlap AS (
  SELECT a.audience_type, a.n AS advertiser_n, count(DISTINCT m.user_id) AS overlap_n{per_type}
  FROM advertiser a LEFT JOIN matched m ON m.audience_type = a.audience_type
  GROUP BY a.audience_type, a.n),
activation AS ({unpivot})
SELECT o.audience_type,
  {_released("o.advertiser_n", m)} AS advertiser_size,
  {_released("o.overlap_n", m)} AS overlap_size,
  x.activation_id,
  CASE WHEN o.overlap_n < {m} THEN NULL ELSE {_released("x.n", m)} END AS activation_ids
FROM overlap o JOIN activation x ON x.audience_type = o.audience_type
ORDER BY o.audience_type, x.activation_id"""


def _attributes(config: MediaConfig) -> list[tuple[str, str, str]]:
    """``(aggregation, key expression, source)`` of every insight attribute."""
    out: list[tuple[str, str, str]] = []
    if config.base.has_segments:
        out.append(("segment", "segment", "segments"))
    if config.base.has_demographics:
        out.append(("age", "age", "demographics WHERE age IS NOT NULL"))
        out.append(("gender", "gender", "demographics WHERE gender IS NOT NULL"))
        out.append(
            (
                "age_gender",
                "age || '|' || gender",
                "demographics WHERE age IS NOT NULL AND gender IS NOT NULL",
            )
        )
    return out


def insights_query(config: MediaConfig) -> str:
    """Rows ``(audience_type, aggregation, key, overlap_value, base_value)``: for each seed
    audience type whose overlap is released and each attribute value, the users of the overlap
    and of the whole base audience with that value (``aggregation = 'total'``: the users with
    any value of the attribute, ``key`` the attribute). Counts, or shares with
    ``hide_absolute_values``."""
    m = config.privacy.minimum_audience_size
    k = config.minimum_group_size
    groups = []
    for aggregation, key, source in _attributes(config):
        groups.append(
            f"SELECT {_lit(aggregation)} AS aggregation, {key} AS key, user_id FROM {source}"
        )
    attributes = "\nUNION ALL\n".join(groups)
    value = (
        "round({n} / NULLIF({t}, 0), 3)" if config.hide_absolute_values else "CAST({n} AS DOUBLE)"
    )
    grp = GROUP_ROUNDING
    return f"""WITH base_ids AS ({_base_ids(config)}),
matched AS (SELECT DISTINCT audience_type, user_id FROM ({_overlap_users(config)})),
released AS (
  SELECT audience_type FROM matched GROUP BY audience_type HAVING count(*) >= {m}),
attrs AS ({attributes}),
base_groups AS (
  SELECT aggregation, key, count(DISTINCT user_id) AS n FROM attrs GROUP BY aggregation, key),
base_totals AS (
  SELECT aggregation, count(DISTINCT user_id) AS n FROM attrs GROUP BY aggregation),
overlap_groups AS (
  SELECT m.audience_type, a.aggregation, a.key, count(DISTINCT a.user_id) AS n
  FROM matched m JOIN released USING (audience_type) JOIN attrs a ON a.user_id = m.user_id
  GROUP BY m.audience_type, a.aggregation, a.key),
overlap_totals AS (
  SELECT m.audience_type, a.aggregation, count(DISTINCT a.user_id) AS n
  FROM matched m JOIN released USING (audience_type) JOIN attrs a ON a.user_id = m.user_id
  GROUP BY m.audience_type, a.aggregation),
kept AS (
  SELECT o.audience_type, o.aggregation, o.key,
    {_rounded("o.n", grp)} AS o_n, {_rounded("b.n", grp)} AS b_n
  FROM overlap_groups o JOIN base_groups b USING (aggregation, key)
  WHERE o.n >= {k} AND b.n >= {k}),
totals AS (
  SELECT o.audience_type, o.aggregation,
    {_rounded("o.n", grp)} AS o_t, {_rounded("b.n", grp)} AS b_t
  FROM overlap_totals o JOIN base_totals b USING (aggregation))
SELECT k.audience_type, k.aggregation, CAST(k.key AS VARCHAR) AS key,
  {value.format(n="k.o_n", t="t.o_t")} AS overlap_value,
  {value.format(n="k.b_n", t="t.b_t")} AS base_value
FROM kept k JOIN totals t USING (audience_type, aggregation)
UNION ALL
SELECT audience_type, 'total', aggregation,
  {"NULL" if config.hide_absolute_values else "CAST(o_t AS DOUBLE)"},
  {"NULL" if config.hide_absolute_values else "CAST(b_t AS DOUBLE)"}
FROM totals
ORDER BY 1, 2, 3"""


def data_attributes_query(config: MediaConfig) -> str:
    """Rows ``(attribute, value)``: the values of each attribute held by at least the minimum
    group size of users (no counts)."""
    k = config.minimum_group_size
    parts = [
        f"SELECT {_lit(aggregation)} AS attribute, CAST({key} AS VARCHAR) AS value FROM {source} "
        f"GROUP BY {key} HAVING count(DISTINCT user_id) >= {k}"
        for aggregation, key, source in _attributes(config)
        if aggregation != "age_gender"
    ]
    return "\nUNION ALL\n".join(parts) + "\nORDER BY 1, 2"


def seed_list_query(config: MediaConfig) -> str:
    """Rows ``(audience_type, audience_size)``: each seed audience type and its rounded size
    (its own rows, not the overlap; NULL below the minimum audience size)."""
    m = config.privacy.minimum_audience_size
    size = (
        "CAST(NULL AS BIGINT)"
        if config.privacy.is_dp
        else _released("count(DISTINCT matching_id)", m)
    )
    return (
        f"SELECT audience_type, {size} AS audience_size FROM audiences "
        "GROUP BY audience_type ORDER BY audience_type"
    )


def custom_list_query() -> str:
    return (
        "SELECT id, name, created_by, created_at, shared_with, definition, created_by_group "
        f"FROM {CUSTOM_TABLE} ORDER BY created_at, id"
    )


def engine_operation(config: MediaConfig, node: str) -> str | None:
    """The audience engine's operation that computes ``node``, or None for a SQL node."""
    if node in (OVERLAP, INSIGHTS):
        return node if config.privacy.is_dp else None
    return {
        AUDIENCE_SIZE: "audience_size",
        USER_LIST: "audience_user_list",
        LOOKALIKE: "lookalike_statistics",
    }.get(node)


def computations(config: MediaConfig) -> list[str]:
    """The computations this room has."""
    out = [OVERLAP]
    if config.has(CollaborationType.INSIGHTS):
        out.append(INSIGHTS)
    if config.base.has_segments or config.base.has_demographics:
        out.append(DATA_ATTRIBUTES)
    out += [SEED_LIST, CUSTOM_LIST, AUDIENCE_SIZE]
    if config.activation_columns:
        out.append(USER_LIST)
    if config.has(CollaborationType.LOOKALIKE):
        out.append(LOOKALIKE)
    return out
