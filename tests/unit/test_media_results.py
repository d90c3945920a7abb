"""The SDK's reading of a media room's released rows (``sealroom.media.results``)."""

from __future__ import annotations

from sealroom.media.results import parse_insights, parse_overlap


def test_insights_are_shares_and_propensities_of_the_released_sizes() -> None:
    rows = [
        ("buyers", "segment", "sports", 300.0, 600.0),
        ("buyers", "segment", "news", 100.0, 1000.0),
        ("buyers", "total", "segment", 500.0, 2000.0),
    ]
    (audience,) = parse_insights(rows, hide_absolute_values=False)["audiences"]
    (segments,) = audience["aggregations"]
    assert segments["rows"] == [
        ["sports", 300, 600, 0.6, 0.3, 0.3, 2.0],
        ["news", 100, 1000, 0.2, 0.5, -0.3, 0.4],
    ]


def test_a_share_of_a_total_that_rounds_to_zero_is_left_out() -> None:
    # Hidden absolute values: shares of rounded counts; a total that rounds to 0 has none.
    rows = [
        ("buyers", "age_gender", "18-24|f", None, 0.1),
        ("buyers", "age", "18-24", 0.4, 0.3),
        ("buyers", "total", "age_gender", None, None),
        ("buyers", "total", "age", None, None),
    ]
    (audience,) = parse_insights(rows, hide_absolute_values=True)["audiences"]
    assert [a["aggregation"][0]["column"] for a in audience["aggregations"]] == ["age"]
    assert audience["aggregations"][0]["rows"] == [["18-24", None, None, 0.4, 0.3, 0.1, 1.333]]


def test_overlap_rows_are_grouped_by_audience_type() -> None:
    rows = [
        ("buyers", 600, 500, "userId", 500),
        ("buyers", 600, 500, "maid", 300),
        ("tiny", 100, None, "userId", None),
    ]
    assert parse_overlap(rows, show_match_rate=True)["overlap_statistics"] == [
        {
            "audience_type": "buyers",
            "advertiser_size": 600,
            "advertiser_is_empty": False,
            "overlap_size": 500,
            "match_rate": 0.833,
            "num_activation_ids_in_overlap": {"userId": 500, "maid": 300},
        },
        {
            "audience_type": "tiny",
            "advertiser_size": 100,
            "advertiser_is_empty": False,
            "overlap_size": None,
            "match_rate": None,
            "num_activation_ids_in_overlap": {"userId": None},
        },
    ]
