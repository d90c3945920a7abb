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
    (module docstring); :func:`sealroom.data_lab.statistics.assemble` builds the report."""
    k = config.minimum_group_size
    uid = _q(config.user_id)
    parts: list[str] = []

    def add(metric: str, id_name: str, key: str, value: str, source: str) -> None:
        parts.append(
            f"SELECT {_lit(metric)} AS metric, {_lit(id_name)} AS id_name, "
            f"CAST({key} AS VARCHAR) AS key, CAST({value} AS DOUBLE) AS value FROM {source}"
        )

    add("valid_rows", "matching", "''", "count(*)", "matching")
    add("distinct_user_ids", "matching", "''", f"count(DISTINCT {uid})", "matching")
    for c in config.ids:
        cid = _q(c.id_name)
        add("distinct_ids", c.id_name, "''", f"count(DISTINCT {cid})", "matching")
        per_id = (
            f"(SELECT {cid}, count(DISTINCT {uid}) AS n FROM matching "
            f"WHERE {cid} IS NOT NULL GROUP BY {cid})"
        )
        add("max_userids_per_id", c.id_name, "''", "coalesce(max(n), 0)", per_id)
        add("avg_userids_per_id", c.id_name, "''", "coalesce(avg(n), 0)", per_id)
        per_user = f"(SELECT {uid}, count(DISTINCT {cid}) AS n FROM matching GROUP BY {uid})"
        add("avg_ids_per_user", c.id_name, "''", "coalesce(avg(n), 0)", per_user)
    matching_ids = [c for c in config.ids if c.is_matching_id]
    activation_ids = [c for c in config.identifiers_config if c.is_activation_id]

    def holders(mid: IdentifiersConfig) -> str:
        return f"(SELECT {uid} FROM matching WHERE {_q(mid.id_name)} IS NOT NULL)"

    for mid in matching_ids:
        add("matchable_users", mid.id_name, "''", f"count(DISTINCT {uid})", holders(mid))
        for aid in activation_ids:
            add(
                "reachable_activation_ids",
                mid.id_name,
                _lit(aid.id_name),
                f"count(DISTINCT {_q(aid.id_name)})",
                f"matching WHERE {uid} IN {holders(mid)}",
            )

    def grouped(metric: str, id_name: str, key_expr: str, table: str, where: str) -> None:
        source = (
            f"(SELECT {key_expr} AS g, count(DISTINCT user_id) AS n FROM {table} {where} "
            f"GROUP BY 1 HAVING count(DISTINCT user_id) >= {k})"
        )
        add(metric, id_name, "g", _rounded("n"), source)

    if config.has_segments:
        add("valid_rows", "segments", "''", "count(*)", "segments")
        add("distinct_segments", "segments", "''", "count(DISTINCT segment)", "segments")
        add("users_with_segments", "", "''", "count(DISTINCT user_id)", "segments")
        scopes: list[tuple[str, str]] = [("", "")] + [
            (m.id_name, f"WHERE user_id IN {holders(m)}") for m in matching_ids
        ]
        for id_name, where in scopes:
            if id_name:
                add(
                    "users_with_segments",
                    id_name,
                    "''",
                    "count(DISTINCT user_id)",
                    f"segments {where}",
                )
            grouped("segment_users", id_name, "segment", "segments", where)
            per_user = (
                f"(SELECT user_id, count(DISTINCT segment) AS segments_count FROM segments "
                f"{where} GROUP BY user_id)"
            )
            source = (
                f"(SELECT segments_count AS g, count(*) AS n FROM {per_user} GROUP BY 1 "
                f"HAVING count(*) >= {k})"
            )
            add("segments_per_user", id_name, "g", _rounded("n"), source)
        for aid in activation_ids:
            add(
                "segments_reachable_activation_ids",
                "",
                _lit(aid.id_name),
                f"count(DISTINCT {_q(aid.id_name)})",
                f"matching WHERE {uid} IN (SELECT user_id FROM segments)",
            )
    if config.has_demographics:
        add("valid_rows", "demographics", "''", "count(*)", "demographics")
        add("distinct_ages", "demographics", "''", "count(DISTINCT age)", "demographics")
        add("distinct_genders", "demographics", "''", "count(DISTINCT gender)", "demographics")
        add("users_with_demographics", "", "''", "count(DISTINCT user_id)", "demographics")
        key = "coalesce(age, '') || '||' || coalesce(gender, '')"
        grouped("demographics", "", key, "demographics", "")
        for m in matching_ids:
            where = f"WHERE user_id IN {holders(m)}"
            grouped("demographics", m.id_name, key, "demographics", where)
    if config.has_embeddings:
        add("valid_rows", "embeddings", "''", "count(*)", "embeddings")
        add("distinct_scopes", "embeddings", "''", "count(DISTINCT scope)", "embeddings")
        add("users_with_embeddings", "", "''", "count(DISTINCT user_id)", "embeddings")
    return "\nUNION ALL\n".join(parts)


def status_query(config: DataLabConfig) -> str:
    """Rows ``(dataset, valid_rows)``: how many rows of each dataset passed validation."""
    return "\nUNION ALL\n".join(
        f"SELECT {_lit(d.node)} AS dataset, count(*) AS valid_rows FROM {d.node}"
        for d in config.datasets
    )
