"""The results of a media room's computations, as the seed's result models (plain dicts).

Everything here is post-processing of what the core released (rounded or noised counts, or
shares): ratios computed from released values reveal nothing the values do not.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from typing import Any

from sealroom.errors import AudienceRefusedError


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def parse_overlap(rows: Sequence[tuple[Any, ...]], show_match_rate: bool) -> dict[str, Any]:
    """``OverlapStatisticsResult``: ``{"overlap_statistics": [{audience_type, advertiser_size,
    advertiser_is_empty, overlap_size, match_rate, num_activation_ids_in_overlap}]}``; a size
    below the room's minimum audience size is None."""
    by_type: dict[str, dict[str, Any]] = {}
    for audience_type, advertiser, overlap, activation_id, activation_ids in rows:
        entry = by_type.setdefault(
            str(audience_type),
            {
                "audience_type": str(audience_type),
                "advertiser_size": advertiser,
                "advertiser_is_empty": advertiser == 0,
                "overlap_size": overlap,
                "match_rate": _ratio(overlap, advertiser) if show_match_rate else None,
                "num_activation_ids_in_overlap": {},
            },
        )
        if activation_id is not None:
            entry["num_activation_ids_in_overlap"][str(activation_id)] = activation_ids
    return {"overlap_statistics": list(by_type.values())}


def parse_insights(rows: Sequence[tuple[Any, ...]], hide_absolute_values: bool) -> dict[str, Any]:
    """``ComputeInsightsResult``: per audience type, per aggregation (segment, age, gender,
    age_gender), rows ``[key, overlap size, base size, overlap propensity, base propensity,
    net propensity, affinity ratio]`` (sizes None when the room hides absolute values)."""
    totals: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    groups: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for audience_type, aggregation, key, overlap_value, base_value in rows:
        if aggregation == "total":
            totals[(str(audience_type), str(key))] = (overlap_value, base_value)
        elif overlap_value is None or base_value is None:
            # A share of a total that rounds to 0 (hide_absolute_values): nothing to show.
            continue
        else:
            groups.setdefault((str(audience_type), str(aggregation)), []).append(
                (str(key), float(overlap_value), float(base_value))
            )
    audiences: dict[str, list[dict[str, Any]]] = {}
    columns = [
        "key",
        "overlap_size",
        "base_size",
        "overlap_propensity",
        "base_propensity",
        "net_propensity",
        "affinity_ratio",
    ]
    for (audience_type, aggregation), items in sorted(groups.items()):
        overlap_total, base_total = totals.get((audience_type, aggregation), (None, None))
        table = []
        for key, overlap_value, base_value in items:
            if hide_absolute_values:
                overlap_share, base_share = overlap_value, base_value
                sizes: tuple[float | None, float | None] = (None, None)
            else:
                overlap_share = _ratio(overlap_value, overlap_total) or 0.0
                base_share = _ratio(base_value, base_total) or 0.0
                sizes = (int(overlap_value), int(base_value))
            table.append(
                [
                    key,
                    *sizes,
                    overlap_share,
                    base_share,
                    round(overlap_share - base_share, 3),
                    _ratio(overlap_share, base_share),
                ]
            )
        audiences.setdefault(audience_type, []).append(
            {
                "id": f"{audience_type}:{aggregation}",
                "aggregation": [{"column": aggregation}],
                "audience_type": audience_type,
                "columns": columns,
                "rows": table,
            }
        )
    return {
        "audiences": [
            {"audience_type": t, "aggregations": aggregations}
            for t, aggregations in sorted(audiences.items())
        ]
    }


def parse_data_attributes(rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    """``DataAttributesResult``: ``{"attributes": {name: {values, value_type, filters}}}``."""
    attributes: dict[str, dict[str, Any]] = {}
    filters = ["CONTAINS_ANY_OF", "CONTAINS_NONE_OF", "CONTAINS_ALL_OF", "EMPTY", "NOT_EMPTY"]
    for attribute, value in rows:
        entry = attributes.setdefault(
            str(attribute), {"values": [], "value_type": "CATEGORICAL", "filters": filters}
        )
        entry["values"].append(str(value))
    return {"attributes": attributes}


def engine_rows(released: Any) -> list[tuple[Any, ...]]:
    """The rows of an engine result ``{"columns", "rows", "privacy"}`` (DP overlap and
    insights), as a SQL result's rows."""
    rows = released.get("rows") if isinstance(released, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ValueError("the audience engine's result has no rows")
    return [tuple(row) for row in rows]


#: What the audience engine writes instead of a result when it refuses a run.
REFUSAL_FILE = "refusal.json"


def _read(data: bytes, file_name: str) -> bytes:
    """``file_name`` of a script's result zip, or :class:`AudienceRefusedError`."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        if REFUSAL_FILE in names:
            reason = json.loads(archive.read(REFUSAL_FILE)).get("refused", "refused")
            raise AudienceRefusedError(f"the audience engine refused: {reason}")
        return archive.read(file_name)


def parse_zip_json(data: bytes, file_name: str) -> Any:
    """The JSON file ``file_name`` of a script's result zip."""
    return json.loads(_read(data, file_name))


def parse_zip_lines(data: bytes, file_name: str) -> list[str]:
    """The one-column CSV ``file_name`` of a script's result zip, as values."""
    text = _read(data, file_name).decode("utf-8")
    return [row[0] for row in csv.reader(io.StringIO(text)) if row]
