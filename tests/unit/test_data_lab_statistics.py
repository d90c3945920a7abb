"""parse_statistics_result and the assembly of the report from the computation's rows."""

from __future__ import annotations

import json

import pytest

from sealroom.data_lab import (
    DataLabConfig,
    IdentifiersConfig,
    IdType,
    StatisticsResult,
    StatisticsResultV2,
    parse_statistics_result,
)
from sealroom.data_lab.statistics import assemble


def config() -> DataLabConfig:
    return DataLabConfig(
        name="lab",
        has_demographics=False,
        has_embeddings=False,
        num_embeddings=0,
        has_segments=True,
        num_identifiers_columns=2,
        identifiers_config=(
            IdentifiersConfig("userId", IdType.STRING, False, True),
            IdentifiersConfig("email", IdType.EMAIL, True, False),
        ),
    )


def test_v2_is_detected_and_parsed() -> None:
    rows = [
        ("valid_rows", "matching", "", 10.0),
        ("distinct_user_ids", "matching", "", 8.0),
        ("distinct_ids", "email", "", 10.0),
        ("users_with_segments", "", "", 8.0),
        ("users_with_segments", "email", "", 8.0),
        ("segment_users", "", "sports", 50.0),
        ("segment_users", "email", "sports", 50.0),
        ("valid_rows", "segments", "", 12.0),
        ("distinct_segments", "segments", "", 3.0),
    ]
    report = assemble(config(), rows, {"matching": {"report": {"numRowsTotal": 11}}})
    parsed = parse_statistics_result(json.dumps(report))
    assert isinstance(parsed, StatisticsResultV2)
    assert parsed.basic_statistics["identifiers"]["invalid_rows"] == 1
    assert parsed.identifiers_overview["userId"]["distinct_ids"] == 8
    counts = parsed.segment_statistics
    assert counts is not None
    assert counts["segment_user_counts"]["email"]["sports"]["all_users"] == {
        "absolute": 50,
        "relative": 6.25,
    }


def test_v1_is_detected() -> None:
    v1 = {
        "original_number_of_unique_users": {"matching": 3, "all": 3},
        "filtered_number_of_unique_users": {"matching": 3, "all": 3},
    }
    assert isinstance(parse_statistics_result(json.dumps(v1)), StatisticsResult)


@pytest.mark.parametrize(
    "text",
    ["[]", "{}", json.dumps({"identifiers_overview": {}, "basic_statistics": {}, "x": 1})],
)
def test_other_shapes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="statistics report"):
        parse_statistics_result(text)
