"""Media clean rooms (seed 003) against a real ``sealroom serve``: a publisher's DataLab becomes
the base audience, an advertiser provides seed audiences, and what each group may run and read
is enforced by the core; every released figure is checked against plain Python."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sealroom as sr
from sealroom.data_lab import DataLab, DataLabBuilder, IdentifiersConfig, IdType
from sealroom.errors import SealroomError
from sealroom.media import (
    CollaborationType,
    MediaDcr,
    Participant,
    Permission,
)
from tests.integration.conftest import ServerProcess
from tests.integration.media_data import MediaData, generate, released, rounded

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PUBLISHER = "pia@news.example"
ADVERTISER = "adam@shop.example"
AGENCY = "ada@agency.example"
K = 10

P = Permission
GROUPS = [
    Participant(
        emails=[PUBLISHER],
        permissions=[P.PROVIDE_BASE_AUDIENCE, P.VIEW_OVERLAP, P.VIEW_INSIGHTS],
        role="Publisher",
    ),
    Participant(
        emails=[ADVERTISER],
        permissions=[
            P.PROVIDE_SEED_AUDIENCE,
            P.VIEW_OVERLAP,
            P.VIEW_INSIGHTS,
            P.CREATE_CUSTOM_AUDIENCE,
            P.EXPORT_AUDIENCE,
            P.MODEL_QUALITY,
        ],
        role="Advertiser",
    ),
    Participant(emails=[AGENCY], permissions=[P.VIEW_OVERLAP], role="Agency"),
]
ALL_TYPES = [
    CollaborationType.INSIGHTS,
    CollaborationType.REMARKETING,
    CollaborationType.RULE_BASED,
    CollaborationType.EXCLUSION_TARGETING,
    CollaborationType.LOOKALIKE,
]


def data_lab(client: sr.Client, tmp: Path, key: sr.Key) -> DataLab:
    lab = (
        DataLabBuilder(client)
        .with_name("news audience")
        .with_identifiers_config(
            [
                IdentifiersConfig("userId", IdType.STRING, False, True),
                IdentifiersConfig("email", IdType.EMAIL, True, False),
            ]
        )
        .with_segments()
        .with_demographics()
        .with_minimum_group_size(K)
        .with_collaboration_types(ALL_TYPES)
        .build()
    )
    lab.provision_local_datasets(
        key,
        tmp / "ids.csv",
        segments_data_path=tmp / "segments.csv",
        demographics_data_path=tmp / "demographics.csv",
    )
    return lab


def expected_insights(data: MediaData, audience_type: str) -> dict[str, dict[str, tuple[int, int]]]:
    """``{aggregation: {key: (overlap size, base size)}}`` as the room releases them."""
    overlap = data.overlap(audience_type)
    attrs: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for user, segment in data.segments:
        attrs["segment"][segment].add(user)
    for user, age, gender in data.demographics:
        attrs["age"][age].add(user)
        attrs["gender"][gender].add(user)
        attrs["age_gender"][f"{age}|{gender}"].add(user)
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for aggregation, groups in attrs.items():
        kept = {}
        for key, users in groups.items():
            o, b = len(users & overlap), len(users)
            if o >= K and b >= K:
                kept[key] = (rounded(o, 50), rounded(b, 50))
        out[aggregation] = kept
    return out


@pytest.fixture
def media_setup(server_factory: Callable[..., ServerProcess], tmp_path: Path) -> dict[str, Any]:
    server = server_factory()
    clients = {
        email: sr.create_client(email, server.add_user(email), api_url=server.url)
        for email in (PUBLISHER, ADVERTISER, AGENCY)
    }
    data = generate(tmp_path)
    key = sr.Key()
    lab = data_lab(clients[PUBLISHER], tmp_path, key)
    return {"server": server, "clients": clients, "data": data, "key": key, "lab": lab}


def test_overlap_insights_and_permissions_end_to_end(
    media_setup: dict[str, Any], tmp_path: Path
) -> None:
    clients, data, key, lab = (
        media_setup["clients"],
        media_setup["data"],
        media_setup["key"],
        media_setup["lab"],
    )
    room = MediaDcr(
        clients[PUBLISHER],
        name="news x shop",
        participants=GROUPS,
        collaboration_types=ALL_TYPES,
        matching_ids=[IdType.EMAIL],
        show_match_rate=True,
        base_audience=lab,
        minimum_group_size=K,
    )
    assert not room.is_base_audience_provisioned()
    room.provision_base_audience(lab.id, key)
    assert room.is_base_audience_provisioned()
    assert room.get_base_audience_validation_reports().is_passed()

    advertiser = MediaDcr.from_existing(room.id, clients[ADVERTISER])
    assert advertiser.config == room.config
    advertiser.upload_seed_audiences(tmp_path / "seed.csv", sr.Key())
    assert advertiser.are_seed_audiences_provisioned()
    assert advertiser.get_seed_audiences_validation_report()["report"]["outcome"] == "PASSED"

    # Overlap: sizes rounded to 100, None below the minimum audience size (100).
    overlap = advertiser.get_overlap_statistics().wait_for_completion(timeout=120).result()
    by_type = {o["audience_type"]: o for o in overlap["overlap_statistics"]}
    assert set(by_type) == {"buyers", "browsers", "tiny"}
    for audience_type in by_type:
        advertiser_n = len({e for e, t in data.seed if t == audience_type})
        overlap_n = len(data.overlap(audience_type))
        entry = by_type[audience_type]
        assert entry["advertiser_size"] == released(advertiser_n, 1), audience_type
        assert entry["overlap_size"] == released(overlap_n), audience_type
        assert entry["num_activation_ids_in_overlap"] == {"userId": released(overlap_n)}
    assert by_type["buyers"]["overlap_size"] == 500
    assert by_type["tiny"]["overlap_size"] is None
    assert by_type["buyers"]["match_rate"] == round(500 / 600, 3)

    # Insights: groups of >= K users, rounded to 50; nothing for an overlap below 100.
    insights = advertiser.get_insights().wait_for_completion(timeout=120).result()
    released_types = {a["audience_type"] for a in insights["audiences"]}
    assert released_types == {"buyers", "browsers"}
    for audience in insights["audiences"]:
        expected = expected_insights(data, audience["audience_type"])
        got = {
            agg["aggregation"][0]["column"]: {row[0]: (row[1], row[2]) for row in agg["rows"]}
            for agg in audience["aggregations"]
        }
        assert got == {a: g for a, g in expected.items() if g}
    buyers = next(a for a in insights["audiences"] if a["audience_type"] == "buyers")
    segments = next(a for a in buyers["aggregations"] if a["aggregation"][0]["column"] == "segment")
    sports = next(r for r in segments["rows"] if r[0] == "sports")
    # 300 of the 500 buyers like sports, 600 of 2000 users: propensities from released sizes.
    assert sports[3:] == [0.6, 0.3, 0.3, 2.0]
    assert "rare" not in {r[0] for r in segments["rows"]}

    attributes = advertiser.get_data_attributes().wait_for_completion(timeout=120).result()
    assert attributes["attributes"]["segment"]["values"] == sorted(
        ["sports", "news", "travel", "cars"]
    )
    assert attributes["attributes"]["gender"]["values"] == ["f", "m"]

    # The agency views the overlap but nothing else; the core refuses what the SDK would.
    agency = MediaDcr.from_existing(room.id, clients[AGENCY])
    agency_overlap = agency.get_overlap_statistics().wait_for_completion(timeout=120).result()
    assert agency_overlap == overlap
    with pytest.raises(SealroomError, match="VIEW_INSIGHTS"):
        agency.get_insights()
    with pytest.raises(SealroomError):
        agency.dcr.session.run_computation(room.id, "insights")
    with pytest.raises(SealroomError):
        agency.dcr.session.run_computation(
            room.id, "audience_user_list", parameters={"audience": '{"kind":"BASE"}'}
        )
    # Only the advertiser's group may provide seed audiences: the core refuses the publisher.
    publisher_key = sr.Key()
    with (tmp_path / "seed.csv").open("rb") as seed:
        dataset = clients[PUBLISHER].upload_dataset(seed, publisher_key, "fake seed")
    with pytest.raises(SealroomError):
        room.dcr.session.publish_dataset(room.id, dataset, "audiences", publisher_key)
    # Nor may anyone but the publisher replace the base audience.
    with pytest.raises(SealroomError):
        advertiser.dcr.session.publish_dataset(room.id, dataset, "matching", publisher_key)

    log = room.get_audit_log()
    assert "overlap_statistics" in log
    assert "insights" in log


def test_base_audience_only_from_a_validated_compatible_data_lab(
    media_setup: dict[str, Any], tmp_path: Path
) -> None:
    clients, key, lab = media_setup["clients"], media_setup["key"], media_setup["lab"]
    publisher = clients[PUBLISHER]
    # A room made for the default layout (userId, matchingId) refuses this DataLab (email).
    other = MediaDcr(
        publisher,
        name="default layout",
        participants=GROUPS,
        collaboration_types=[CollaborationType.INSIGHTS],
        matching_ids=[IdType.EMAIL],
    )
    with pytest.raises(SealroomError, match="not compatible"):
        other.provision_base_audience(lab.id, key)
    # An empty DataLab is not validated.
    empty = (
        DataLabBuilder(publisher)
        .with_name("empty")
        .with_identifiers_config(list(lab.config.identifiers_config))
        .with_segments()
        .with_demographics()
        .build()
    )
    room = MediaDcr(
        publisher,
        name="needs validation",
        participants=GROUPS,
        collaboration_types=[CollaborationType.INSIGHTS],
        matching_ids=[IdType.EMAIL],
        base_audience=empty,
    )
    with pytest.raises(SealroomError, match="not validated"):
        room.provision_base_audience(empty.id, key)
    # Only the publisher's group may provision it.
    advertiser = MediaDcr.from_existing(room.id, clients[ADVERTISER])
    with pytest.raises(SealroomError, match="PROVIDE_BASE_AUDIENCE"):
        advertiser.provision_base_audience(lab.id, key)
