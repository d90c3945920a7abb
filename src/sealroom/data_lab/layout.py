"""A DataLab's room: its tables, and the SQL that computes its statistics in the core.

A DataLab is an ordinary Sealroom room whose only participant is the publisher (owner, data owner
of every table, analyst of every computation). Its configuration is written into the room's
description (:data:`MARKER` + JSON), so it is part of the room id and verified with it.

Tables (CSV, UTF-8, no header; invalid rows are dropped unless ``drop_invalid_rows`` is off):

* ``matching``: the identifiers, one column per :class:`IdentifiersConfig`, in order. The first
  column is the user id (never empty); the others may be empty (a user without a phone number).
  A row repeating another row's values is a duplicate.
* ``segments``: ``user_id, segment``; one row per (user, segment), unique.
* ``demographics``: ``user_id, age, gender``; age and gender may be empty; one row per user.
* ``embeddings``: ``user_id, scope, e0 .. e{n-1}`` (floats, may be empty); unique (user, scope).

What the ``statistics`` computation releases (to the publisher only):

* exact totals: valid rows per dataset, distinct users, distinct ids per identifier column,
  ids per user and users per id (average, maximum), distinct segments, ages, genders, scopes,
  users with segments or demographics, reachable activation ids;
* group counts — users per segment, users per number of segments, users per age and gender —
  only for groups of at least ``minimum_group_size`` users, and rounded to the nearest multiple
  of :data:`GROUP_ROUNDING` (the seed rounds segment sizes to 50). A smaller group is left out.
"""

# The SQL here is built from the room's own configuration, never from data: names are checked
# (IDENTIFIER) and quoted (_q), text literals escaped (_lit).
# ruff: noqa: S608
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sealroom.data_lab.types import (
    DEFAULT_COLLABORATION_TYPES,
    ID_FORMATS,
    CollaborationType,
    DataLabDatasetType,
    IdentifiersConfig,
)
from sealroom.errors import DefinitionError
from sealroom.model.columns import Column, FormatType

MARKER = "sealroom.data_lab v1 "
GROUP_ROUNDING = 50
DEFAULT_MINIMUM_GROUP_SIZE = 10
STATISTICS_NODE = "statistics"
STATUS_NODE = "validation_status"
#: What an identifier (column) name may be: it is a column of the room's SQL.
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class DataLabConfig:
    """Everything that defines a DataLab (the seed's ``DataLabConfig`` fields, plus the
    minimum group size of its statistics)."""

    name: str
    has_demographics: bool
    has_embeddings: bool
    num_embeddings: int
    has_segments: bool
    num_identifiers_columns: int
    identifiers_config: tuple[IdentifiersConfig, ...]
    collaboration_types: tuple[CollaborationType, ...] = DEFAULT_COLLABORATION_TYPES
    drop_invalid_rows: bool = True
    share_statistics: bool = False
    minimum_group_size: int = DEFAULT_MINIMUM_GROUP_SIZE
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if not self.name:
            raise DefinitionError("a DataLab needs a name (with_name)")
        if self.num_identifiers_columns != len(self.identifiers_config):
            raise DefinitionError(
                f"the identifiers dataset has {self.num_identifiers_columns} columns but the "
                f"identifiers config describes {len(self.identifiers_config)}"
            )
        if self.num_identifiers_columns < 2:
            raise DefinitionError("the identifiers dataset needs a user id and at least one id")
        names = [c.id_name for c in self.identifiers_config]
        for name in names:
            if not IDENTIFIER.match(name):
                raise DefinitionError(
                    f"identifier name {name!r}: use a letter, then letters, digits or '_' (≤ 64)"
                )
        if len({n.lower() for n in names}) != len(names):
            raise DefinitionError("identifier names must be distinct")
        if not any(c.is_matching_id for c in self.identifiers_config[1:]):
            raise DefinitionError("at least one identifier (after the user id) must be matching")
        if self.has_embeddings and not 1 <= self.num_embeddings <= 1000:
            raise DefinitionError("num_embeddings must be 1 to 1000")
        if self.minimum_group_size < 1:
            raise DefinitionError("the minimum group size must be at least 1")

    @property
    def datasets(self) -> tuple[DataLabDatasetType, ...]:
        out = [DataLabDatasetType.MATCH]
        if self.has_segments:
            out.append(DataLabDatasetType.SEGMENTS)
        if self.has_demographics:
            out.append(DataLabDatasetType.DEMOGRAPHICS)
        if self.has_embeddings:
            out.append(DataLabDatasetType.EMBEDDINGS)
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """The seed's create payload (``kind: dataLab``), plus ``minimumGroupSize``."""
        return {
            "kind": "dataLab",
            "version": "v0",
            "name": self.name,
            "requireDemographics": self.has_demographics,
            "requireEmbeddings": self.has_embeddings,
            "numEmbeddings": self.num_embeddings,
            "requireSegments": self.has_segments,
            "numIdentifiersColumns": self.num_identifiers_columns,
            "shareStatistics": self.share_statistics,
            "identifiersConfig": [c.to_dict() for c in self.identifiers_config],
            "collaborationTypes": [c.wire for c in self.collaboration_types],
            "dropInvalidRows": self.drop_invalid_rows,
            "minimumGroupSize": self.minimum_group_size,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataLabConfig:
        return cls(
            name=str(data["name"]),
            has_demographics=bool(data["requireDemographics"]),
            has_embeddings=bool(data["requireEmbeddings"]),
            num_embeddings=int(data["numEmbeddings"]),
            has_segments=bool(data["requireSegments"]),
            num_identifiers_columns=int(data["numIdentifiersColumns"]),
            identifiers_config=tuple(
                IdentifiersConfig.from_dict(c) for c in data["identifiersConfig"]
            ),
            collaboration_types=tuple(
                CollaborationType[name] for name in data["collaborationTypes"]
            ),
            drop_invalid_rows=bool(data["dropInvalidRows"]),
            share_statistics=bool(data["shareStatistics"]),
            minimum_group_size=int(data["minimumGroupSize"]),
        )

    def description(self) -> str:
        return MARKER + json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_description(cls, text: str) -> DataLabConfig:
        if not text.startswith(MARKER):
            raise DefinitionError("this room is not a DataLab")
        loaded: dict[str, Any] = json.loads(text[len(MARKER) :])
        return cls.from_dict(loaded)

    @property
    def user_id(self) -> str:
        return self.identifiers_config[0].id_name

    @property
    def ids(self) -> tuple[IdentifiersConfig, ...]:
        """The identifier columns after the user id."""
        return self.identifiers_config[1:]


def table_layouts(
    config: DataLabConfig,
) -> dict[DataLabDatasetType, tuple[list[Column], list[list[int]]]]:
    """``{dataset: (columns, unique column combinations)}`` for the datasets ``config`` has."""

    def col(name: str, fmt: FormatType, nullable: bool) -> Column:
        return Column(name=name, format_type=fmt, is_nullable=nullable)

    layouts: dict[DataLabDatasetType, tuple[list[Column], list[list[int]]]] = {}
    first, *rest = config.identifiers_config
    ids = [col(first.id_name, ID_FORMATS[first.id_type], False)] + [
        col(c.id_name, ID_FORMATS[c.id_type], True) for c in rest
    ]
    layouts[DataLabDatasetType.MATCH] = (ids, [list(range(len(ids)))])
    string = FormatType.STRING
    if config.has_segments:
        layouts[DataLabDatasetType.SEGMENTS] = (
            [col("user_id", string, False), col("segment", string, False)],
            [[0, 1]],
        )
    if config.has_demographics:
        layouts[DataLabDatasetType.DEMOGRAPHICS] = (
            [col("user_id", string, False), col("age", string, True), col("gender", string, True)],
            [[0]],
        )
    if config.has_embeddings:
        layouts[DataLabDatasetType.EMBEDDINGS] = (
            [col("user_id", string, False), col("scope", string, False)]
            + [col(f"e{i}", FormatType.FLOAT, True) for i in range(config.num_embeddings)],
            [[0, 1]],
        )
    return layouts


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rounded(count: str) -> str:
    """Round half up to a multiple of GROUP_ROUNDING (as the seed's media computations do)."""
    r = GROUP_ROUNDING
    return f"CAST(floor(({count} + {r // 2}) / {r}) * {r} AS DOUBLE)"


def statistics_query(config: DataLabConfig) -> str:
    """One SQL query whose rows ``(metric, id_name, key, value)`` hold every released statistic
    (module docstring); :func:`sealroom.data_lab.statistics.assemble` builds the report.

    Hashing millions of user ids is what costs, so it is done as few times as possible (each
    result is a materialised CTE that every metric reads):

    * ``users``: one aggregation, by user id, of the rows of matching, segments and
      demographics together: per user, whether it is in matching, how many values of each id,
      how many segments, whether it has demographics. Every per-user metric comes from it.
    * ``users_per_id{i}``: one aggregation of matching by each id column.
    * ``segment_groups`` and ``demographic_groups``: one pass over segments (demographics) by
      group. Users per group among the holders of a matching id are all its users but those
      lacking the id, found by joining to ``lacking``, the users of these tables without some
      matching id: a hash table of those few users, not of every user.

    The query relies on what validation guarantees of the tables (rows breaking it are dropped,
    or the dataset is refused): user ids are never NULL; a ``segments`` row is a distinct
    (user, segment) pair and a ``demographics`` user has one row, so counting rows counts
    distinct users (or segments); a ``matching`` row holding every id is distinct, so with a
    single id column the rows with an id are distinct (user, id) pairs and plain counts are
    distinct counts. ``COUNT(DISTINCT ...)`` is kept where that does not hold.
    """
    k = config.minimum_group_size
    uid = _q(config.user_id)
    ids = config.ids
    mids = [i for i, c in enumerate(ids) if c.is_matching_id]
    activation = [c for c in config.identifiers_config if c.is_activation_id]
    ctes: list[str] = []
    parts: list[str] = []

    def cte(name: str, body: str) -> None:
        # MATERIALIZED: computed once however many metrics read it.
        ctes.append(f"{name} AS MATERIALIZED ({body})")

    def add(metric: str, id_name: str, key: str, value: str, source: str) -> None:
        parts.append(
            f"SELECT {_lit(metric)} AS metric, {_lit(id_name)} AS id_name, "
            f"CAST({key} AS VARCHAR) AS key, CAST({value} AS DOUBLE) AS value FROM {source}"
        )

    def released_groups(metric: str, id_name: str, count: str, source: str) -> None:
        """The groups ``g`` of ``source`` with at least k users (``count``), rounded."""
        add(metric, id_name, "g", _rounded(count), f"{source} WHERE {count} >= {k}")

    # users. The union's columns: user id, table (0 matching, 1 segments, 2 demographics), and
    # per id column v{i}: with one id column whether the row has the id (its (user, id) pairs
    # are distinct), with several the id itself (for COUNT(DISTINCT)).
    single = len(ids) == 1
    values = [f"{_q(c.id_name)} IS NOT NULL" if single else _q(c.id_name) for c in ids]
    payload = "".join(f", {v} AS v{i}" for i, v in enumerate(values))
    nulls = ", NULL" * len(ids)
    rows = [f"SELECT {uid} AS user_id, 0 AS t{payload} FROM matching"]
    per_user = ["count(*) FILTER (WHERE t = 0) > 0 AS known"]
    # n{i}: how many distinct values of id i the user has (0: none, or not in matching).
    per_user += [
        f"count(*) FILTER (WHERE v{i}) AS n{i}" if single else f"count(DISTINCT v{i}) AS n{i}"
        for i in range(len(ids))
    ]
    others: list[str] = []  # conditions of users in the tables other than matching
    if config.has_segments:
        rows.append(f"SELECT user_id, 1{nulls} FROM segments")
        per_user.append("count(*) FILTER (WHERE t = 1) AS segments")
        others.append("segments > 0")
    if config.has_demographics:
        rows.append(f"SELECT user_id, 2{nulls} FROM demographics")
        per_user.append("count(*) FILTER (WHERE t = 2) > 0 AS demographic")
        others.append("demographic")
    cte(
        "users",
        f"SELECT user_id, {', '.join(per_user)} FROM ({' UNION ALL '.join(rows)}) GROUP BY user_id",
    )
    totals = ["count(*) FILTER (WHERE known) AS users"]
    totals += [
        f"coalesce(avg(n{i}) FILTER (WHERE known), 0) AS ids_per_user{i}" for i in range(len(ids))
    ]
    totals += [f"count(*) FILTER (WHERE n{m} > 0) AS holders{m}" for m in mids]
    if config.has_segments:
        totals.append("count(*) FILTER (WHERE segments > 0) AS with_segments")
        totals.append("count(*) FILTER (WHERE known AND segments > 0) AS known_with_segments")
        totals += [
            f"count(*) FILTER (WHERE n{m} > 0 AND segments > 0) AS holders_with_segments{m}"
            for m in mids
        ]
    cte("user_totals", f"SELECT {', '.join(totals)} FROM users")

    add("valid_rows", "matching", "''", "count(*)", "matching")
    add("distinct_user_ids", "matching", "''", "users", "user_totals")
    for i, c in enumerate(ids):
        cid = _q(c.id_name)
        users_of_id = "count(*)" if single else f"count(DISTINCT {uid})"
        cte(
            f"users_per_id{i}",
            "SELECT count(*) AS ids, coalesce(max(n), 0) AS most, coalesce(avg(n), 0) AS mean "
            f"FROM (SELECT {cid}, {users_of_id} AS n FROM matching "
            f"WHERE {cid} IS NOT NULL GROUP BY {cid})",
        )
        add("distinct_ids", c.id_name, "''", "ids", f"users_per_id{i}")
        add("max_userids_per_id", c.id_name, "''", "most", f"users_per_id{i}")
        add("avg_userids_per_id", c.id_name, "''", "mean", f"users_per_id{i}")
        add("avg_ids_per_user", c.id_name, "''", f"ids_per_user{i}", "user_totals")
    for m in mids:
        name = ids[m].id_name
        add("matchable_users", name, "''", f"holders{m}", "user_totals")
        for aid in activation:
            value, source = f"holders{m}", "user_totals"  # the activation id is the user id
            if aid.id_name != config.user_id:
                value = f"count(DISTINCT {_q(aid.id_name)})"
                source = f"matching WHERE {uid} IN (SELECT user_id FROM users WHERE n{m} > 0)"
            add("reachable_activation_ids", name, _lit(aid.id_name), value, source)

    if others:
        lacks = "".join(f", n{m} = 0 AS lacks{m}" for m in mids)
        lacking_any = " OR ".join(f"n{m} = 0" for m in mids)
        cte(
            "lacking",
            f"SELECT user_id{lacks} FROM users WHERE ({' OR '.join(others)}) AND ({lacking_any})",
        )
    # Per group (of the table aliased r): its users, and for each matching id m its users who
    # hold m (joined to no lacking row, or to one that does not lack m).
    by_holders = "".join(
        f", count(*) FILTER (WHERE o.user_id IS NULL OR NOT o.lacks{m}) AS n{m}" for m in mids
    )
    if config.has_segments:
        cte(
            "segment_groups",
            f"SELECT r.segment AS g, count(*) AS n{by_holders} FROM segments r "
            "LEFT JOIN lacking o ON r.user_id = o.user_id GROUP BY r.segment",
        )
        add("valid_rows", "segments", "''", "count(*)", "segments")
        add("distinct_segments", "segments", "''", "count(*)", "segment_groups")
        add("users_with_segments", "", "''", "with_segments", "user_totals")
        released_groups("segment_users", "", "n", "segment_groups")
        released_groups("segments_per_user", "", "c", _segment_counts("segments > 0"))
        for m in mids:
            name = ids[m].id_name
            add("users_with_segments", name, "''", f"holders_with_segments{m}", "user_totals")
            released_groups("segment_users", name, f"n{m}", "segment_groups")
            holders = _segment_counts(f"segments > 0 AND n{m} > 0")
            released_groups("segments_per_user", name, "c", holders)
        for aid in activation:
            value, source = "known_with_segments", "user_totals"
            if aid.id_name != config.user_id:
                value = f"count(DISTINCT {_q(aid.id_name)})"
                source = f"matching WHERE {uid} IN (SELECT user_id FROM users WHERE segments > 0)"
            add("segments_reachable_activation_ids", "", _lit(aid.id_name), value, source)
    if config.has_demographics:
        key = "coalesce(r.age, '') || '||' || coalesce(r.gender, '')"
        cte(
            "demographic_groups",
            f"SELECT {key} AS g, count(*) AS n{by_holders} FROM demographics r "
            "LEFT JOIN lacking o ON r.user_id = o.user_id GROUP BY 1",
        )
        cte(
            "demographic_totals",
            "SELECT count(*) AS users, count(DISTINCT age) AS ages, "
            "count(DISTINCT gender) AS genders FROM demographics",
        )
        add("valid_rows", "demographics", "''", "users", "demographic_totals")
        add("distinct_ages", "demographics", "''", "ages", "demographic_totals")
        add("distinct_genders", "demographics", "''", "genders", "demographic_totals")
        add("users_with_demographics", "", "''", "users", "demographic_totals")
        released_groups("demographics", "", "n", "demographic_groups")
        for m in mids:
            released_groups("demographics", ids[m].id_name, f"n{m}", "demographic_groups")
    if config.has_embeddings:
        add("valid_rows", "embeddings", "''", "count(*)", "embeddings")
        add("distinct_scopes", "embeddings", "''", "count(DISTINCT scope)", "embeddings")
        add("users_with_embeddings", "", "''", "count(DISTINCT user_id)", "embeddings")
    return "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(parts)


def _segment_counts(users: str) -> str:
    """Users per number of segments ``g`` (column ``c``), among the users matching ``users``."""
    return f"(SELECT segments AS g, count(*) AS c FROM users WHERE {users} GROUP BY segments)"


def status_query(config: DataLabConfig) -> str:
    """Rows ``(dataset, valid_rows)``: how many rows of each dataset passed validation."""
    return "\nUNION ALL\n".join(
        f"SELECT {_lit(d.node)} AS dataset, count(*) AS valid_rows FROM {d.node}"
        for d in config.datasets
    )
