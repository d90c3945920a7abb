"""statistics_query releases exactly what the plain, one-metric-per-subquery query releases.

The reference below is the first statistics query (each metric its own scan, ``COUNT(DISTINCT)``
everywhere, ``IN (SELECT ...)`` for the holders of an id): slow, but obviously the specification.
Both run in the core's SQL engine over tables made by the core's own validation from CSV files
full of what validation lets through or drops: users with several ids or none, ids shared by
users, exact duplicate rows (with and without NULL ids), users of segments or demographics
missing from matching, empty ages and genders, and groups on both sides of the minimum size.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sql import SqlLimits, run_sql
from sealroom.data_lab import DataLabConfig, IdentifiersConfig, IdType
from sealroom.data_lab.layout import _lit, _q, _rounded, statistics_query, table_layouts
from sealroom.model.columns import TableSchema
from sealroom.validation import validate_table


def reference_query(config: DataLabConfig) -> str:
    """The first statistics query, kept as the specification of what is released."""
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
        scopes = [("", "")] + [(m.id_name, f"WHERE user_id IN {holders(m)}") for m in matching_ids]
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
            grouped(
                "demographics", m.id_name, key, "demographics", f"WHERE user_id IN {holders(m)}"
            )
    if config.has_embeddings:
        add("valid_rows", "embeddings", "''", "count(*)", "embeddings")
        add("distinct_scopes", "embeddings", "''", "count(DISTINCT scope)", "embeddings")
        add("users_with_embeddings", "", "''", "count(DISTINCT user_id)", "embeddings")
    return "\nUNION ALL\n".join(parts)


def lab(
    ids: list[IdentifiersConfig],
    *,
    segments: bool = True,
    demographics: bool = True,
    embeddings: int = 0,
    k: int = 5,
) -> DataLabConfig:
    config = DataLabConfig(
        name="equivalence",
        has_demographics=demographics,
        has_embeddings=embeddings > 0,
        num_embeddings=embeddings,
        has_segments=segments,
        num_identifiers_columns=len(ids),
        identifiers_config=tuple(ids),
        minimum_group_size=k,
    )
    config.check()
    return config


USER = IdentifiersConfig("userId", IdType.STRING, False, True)
EMAIL = IdentifiersConfig("email", IdType.EMAIL, True, False)
CONFIGS = {
    # The bench's and the docs' DataLab.
    "user and e-mail": lab([USER, EMAIL]),
    # Several ids: two matching, activation ids other than the user id, k of 1.
    "four columns": lab(
        [
            IdentifiersConfig("userId", IdType.STRING, False, False),
            IdentifiersConfig("email", IdType.EMAIL, True, True),
            IdentifiersConfig("phone", IdType.PHONE_NUMBER, True, True),
            IdentifiersConfig("maid", IdType.MAID, False, True),
        ],
        embeddings=2,
        k=1,
    ),
    # The user id named as the other tables' column, and no segments.
    "demographics only": lab(
        [
            IdentifiersConfig("user_id", IdType.STRING, False, True),
            IdentifiersConfig("hashed", IdType.HASHED_EMAIL, True, True),
        ],
        segments=False,
    ),
    "identifiers only": lab([USER, EMAIL], segments=False, demographics=False, k=2),
}


def id_value(config: IdentifiersConfig, n: int) -> str:
    """A valid value of ``config``'s type; equal ``n`` give equal values (shared ids)."""
    kind = config.id_type
    if kind is IdType.EMAIL:
        return f"p{n}@mail.example"
    if kind is IdType.PHONE_NUMBER:
        return f"+4179{n:07d}"
    if kind is IdType.MAID:
        return f"{n:08x}-0000-4000-8000-000000000000"
    if kind is IdType.HASHED_EMAIL:
        return f"{n:064x}"
    return f"x{n}"


def csv_files(config: DataLabConfig, seed: int, users: int = 400) -> dict[str, str]:
    rng = random.Random(seed)
    matching: list[list[str]] = []
    for u in range(users):
        if u % 7 == 3:
            continue  # in segments or demographics only
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            row = [f"u{u}"]
            for c in config.ids:
                # Some ids missing; some shared with other users (a small pool).
                roll = rng.random()
                row.append("" if roll < 0.25 else id_value(c, rng.randrange(users // 2)))
            matching.append(row)
        if u % 11 == 0:
            matching.append(matching[-1])  # an exact repeat: dropped unless it holds a NULL
    matching.append([""] + [id_value(c, 1) for c in config.ids])  # no user id: invalid
    segments: list[list[str]] = []
    for u in range(users + 40):  # some users of segments are nowhere else
        for s in rng.sample(range(12), rng.choice((0, 1, 2, 3, 5))):
            segments.append([f"u{u}", f"s{s}"])
            if rng.random() < 0.05:
                segments.append([f"u{u}", f"s{s}"])  # a duplicate pair, dropped
    demographics: list[list[str]] = []
    for u in range(20, users + 20):
        if rng.random() < 0.9:
            age = rng.choice(("18-24", "25-34", "35-44", ""))
            demographics.append([f"u{u}", age, rng.choice(("f", "m", "", "x"))])
    demographics.append(["u25", "99", "z"])  # a second row for u25 (unless absent): dropped
    embeddings = [
        [f"u{u}", scope] + [f"{rng.random():.3f}"] * config.num_embeddings
        for u in range(0, users, 3)
        for scope in ("a", "b")[: 1 + u % 2]
    ]
    rows = {
        "matching": matching,
        "segments": segments,
        "demographics": demographics,
        "embeddings": embeddings,
    }
    return {name: "".join(",".join(r) + "\n" for r in body) for name, body in rows.items()}


def validated_tables(config: DataLabConfig, seed: int) -> dict[str, pa.Table]:
    files = csv_files(config, seed)
    tables = {}
    for dataset, (columns, unique) in table_layouts(config).items():
        schema = TableSchema(
            columns=tuple(columns),
            unique_column_combinations=tuple(tuple(c) for c in unique),
            drop_invalid_rows=True,
        )
        result = validate_table(files[dataset.node].encode(), schema)
        assert result.table is not None, dataset.node
        tables[dataset.node] = result.table
    return tables


def rows(query: str, tables: dict[str, pa.Table]) -> list[tuple[object, ...]]:
    with tempfile.TemporaryDirectory() as scratch:
        result = run_sql(query, tables, limits=SqlLimits(), scratch_dir=Path(scratch))
    return sorted(zip(*(column.to_pylist() for column in result.columns), strict=True))


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_statistics_are_the_reference_statistics(name: str, seed: int) -> None:
    config = CONFIGS[name]
    tables = validated_tables(config, seed)
    expected = rows(reference_query(config), tables)
    assert rows(statistics_query(config), tables) == expected
    # The data reaches every kind of row: groups released and withheld, shared ids.
    metrics = {metric for metric, *_ in expected}
    if config.has_segments:
        assert {"segment_users", "segments_per_user"} <= metrics
    if config.has_demographics:
        assert "demographics" in metrics
    assert any(m == "max_userids_per_id" and v > 1 for m, _, _, v in expected)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_empty_tables_give_the_reference_statistics(name: str) -> None:
    config = CONFIGS[name]
    tables = {
        dataset.node: validated_tables(config, 1)[dataset.node].slice(0, 0)
        for dataset in config.datasets
    }
    assert rows(statistics_query(config), tables) == rows(reference_query(config), tables)
