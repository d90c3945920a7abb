"""The statistics report of a DataLab: assembled from the ``statistics`` computation's rows.

The report has the seed's ``StatisticsResultV2`` shape. What it releases, and how group counts
are protected, is in :mod:`sealroom.data_lab.layout`. Relative values are the released
(rounded) absolute value over the released total it is a share of, to 3 digits, so they reveal
nothing the absolute values do not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sealroom.data_lab.layout import DataLabConfig

Row = tuple[str, str, str, float]


@dataclass(frozen=True)
class StatisticsResultV2:
    """The seed's V2 statistics report (fields as in its JSON)."""

    identifiers_overview: dict[str, Any]
    basic_statistics: dict[str, Any]
    remarketing_activation_potential: dict[str, Any] = field(default_factory=dict)
    segments_activation_potential: dict[str, Any] = field(default_factory=dict)
    embeddings_activation_potential: dict[str, Any] = field(default_factory=dict)
    segment_statistics: dict[str, Any] | None = None
    demographic_statistics: dict[str, Any] | None = None
    embeddings_statistics: dict[str, Any] | None = None
    status: str = "SUCCESS"
    data_errors: list[dict[str, str]] = field(default_factory=list)
    quality_warnings: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class StatisticsResult:
    """The seed's legacy (V1) statistics report."""

    original_number_of_unique_users: dict[str, Any]
    filtered_number_of_unique_users: dict[str, Any]
    segments_per_user_distributions: dict[str, Any] = field(default_factory=dict)
    share_of_users_per_segment_distribution: dict[str, Any] = field(default_factory=dict)
    demographics_distributions: dict[str, Any] = field(default_factory=dict)


_V2_FIELDS = set(StatisticsResultV2.__dataclass_fields__)
_V1_FIELDS = set(StatisticsResult.__dataclass_fields__)


def parse_statistics_result(json_str: str | bytes) -> StatisticsResult | StatisticsResultV2:
    """Parse a statistics report; V2 if it has ``identifiers_overview``, else V1.

    Unknown fields are refused (``ValueError``), so a report of another shape is not misread.
    """
    data = json.loads(json_str)
    if not isinstance(data, dict):
        raise ValueError("a statistics report is a JSON object")
    if "identifiers_overview" in data:
        fields, cls = _V2_FIELDS, StatisticsResultV2
    elif "original_number_of_unique_users" in data:
        fields, cls = _V1_FIELDS, StatisticsResult  # type: ignore[assignment]
    else:
        raise ValueError("not a statistics report: no identifiers_overview nor unique users")
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"unknown fields in the statistics report: {', '.join(unknown)}")
    return cls(**data)


def _count(value: float) -> int:
    return round(value)


def _share(absolute: int, total: int) -> dict[str, Any]:
    return {"absolute": absolute, "relative": round(absolute / total, 3) if total else 0.0}


def assemble(
    config: DataLabConfig, rows: Iterable[Row], reports: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """The V2 report from the computation's rows and the datasets' validation reports
    (``{node: report}``, for the row totals and invalid rows by reason)."""
    single: dict[tuple[str, str, str], float] = {}
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for metric, id_name, key, value in rows:
        if metric in {"segment_users", "segments_per_user", "demographics"}:
            groups.setdefault((metric, id_name), {})[key] = _count(value)
        else:
            single[(metric, id_name, key)] = value

    def get(metric: str, id_name: str = "", key: str = "") -> int:
        return _count(single.get((metric, id_name, key), 0.0))

    def basic(node: str) -> dict[str, Any]:
        body = reports.get(node, {}).get("report", {})
        total = int(body.get("numRowsTotal", 0))
        valid = get("valid_rows", node)
        return {
            "total_rows": total,
            "valid_rows": valid,
            "invalid_rows": total - valid,
            "invalid_rows_by_reason": dict(body.get("numInvalidRowsByErrorCode", {})),
        }

    mids = [c.id_name for c in config.ids if c.is_matching_id]
    overview: dict[str, Any] = {}
    for c in config.identifiers_config:
        is_user = c.id_name == config.user_id
        overview[c.id_name] = {
            "id_type": c.id_type.value,
            "is_matching_id": c.is_matching_id,
            "is_activation_id": c.is_activation_id,
            "distinct_ids": get("distinct_user_ids", "matching")
            if is_user
            else get("distinct_ids", c.id_name),
            "avg_userids_per_id": 1.0
            if is_user
            else round(single.get(("avg_userids_per_id", c.id_name, ""), 0.0), 3),
            "max_userids_per_id": 1 if is_user else get("max_userids_per_id", c.id_name),
            "avg_ids_per_user": 1.0
            if is_user
            else round(single.get(("avg_ids_per_user", c.id_name, ""), 0.0), 3),
        }
    identifiers = basic("matching") | {
        "distinct_user_ids": get("distinct_user_ids", "matching"),
        "distinct_id_names": len(config.ids),
        "distinct_ids": sum(get("distinct_ids", c.id_name) for c in config.ids),
    }
    result: dict[str, Any] = {
        "identifiers_overview": overview,
        "basic_statistics": {"identifiers": identifiers},
        "remarketing_activation_potential": {
            m: {
                a.id_name: {
                    "reachable_activation_ids": get("reachable_activation_ids", m, a.id_name)
                }
                for a in config.identifiers_config
                if a.is_activation_id
            }
            for m in mids
        },
        "segments_activation_potential": {},
        "embeddings_activation_potential": {},
        "segment_statistics": None,
        "demographic_statistics": None,
        "embeddings_statistics": None,
        "status": "SUCCESS",
        "data_errors": [],
        "quality_warnings": [],
    }
    if get("distinct_user_ids", "matching") == 0:
        result["status"] = "FAILED"
        result["data_errors"].append(
            {"code": "EMPTY_IDENTIFIERS", "message": "no valid identifiers row"}
        )
    if config.has_segments:
        everyone = get("users_with_segments")

        def distribution(metric: str, id_name: str, total: int) -> dict[str, Any]:
            counts = groups.get((metric, id_name), {})
            return {key: _share(n, total) for key, n in sorted(counts.items())}

        result["basic_statistics"]["segments"] = basic("segments") | {
            "distinct_segments": get("distinct_segments", "segments")
        }
        user_counts: dict[str, dict[str, Any]] = {}
        per_user: dict[str, dict[str, Any]] = {}
        for m in mids:
            matchable = get("users_with_segments", m)
            all_users = distribution("segment_users", "", everyone)
            mine = distribution("segment_users", m, matchable)
            user_counts[m] = {
                s: {"matchable_users": mine.get(s, _share(0, matchable)), "all_users": all_users[s]}
                for s in all_users
            }
            per_user[m] = {
                "matchable": distribution("segments_per_user", m, matchable),
                "all_users": distribution("segments_per_user", "", everyone),
            }
        result["segment_statistics"] = {
            "distinct_users_with_segments": everyone,
            "segment_user_counts": user_counts,
            "segments_per_user_distribution": per_user,
        }
        result["segments_activation_potential"] = {
            a.id_name: {
                "reachable_activation_ids": get("segments_reachable_activation_ids", "", a.id_name)
            }
            for a in config.identifiers_config
            if a.is_activation_id
        }
        if get("distinct_segments", "segments") == 0:
            result["quality_warnings"].append(
                {"code": "NO_SEGMENTS", "message": "no valid segments row"}
            )
    if config.has_demographics:
        everyone = get("users_with_demographics")
        result["basic_statistics"]["demographics"] = basic("demographics") | {
            "distinct_ages": get("distinct_ages", "demographics"),
            "distinct_genders": get("distinct_genders", "demographics"),
        }
        demographic: dict[str, Any] = {
            "distinct_users_with_demographics": everyone,
            "all_users": {
                key: _share(n, everyone)
                for key, n in sorted(groups.get(("demographics", ""), {}).items())
            },
        }
        for m in mids:
            counts = groups.get(("demographics", m), {})
            total = sum(counts.values())
            demographic[m] = {key: _share(n, total) for key, n in sorted(counts.items())}
        result["demographic_statistics"] = demographic
    if config.has_embeddings:
        result["basic_statistics"]["embeddings"] = basic("embeddings") | {
            "distinct_scopes": get("distinct_scopes", "embeddings")
        }
        result["embeddings_statistics"] = {
            "distinct_users_with_embeddings": get("users_with_embeddings")
        }
    return result
