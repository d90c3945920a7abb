"""Media clean rooms (seed 003) against a real ``sealroom serve``: a publisher's DataLab becomes
the base audience, an advertiser provides seed audiences, and what each group may run and read
is enforced by the core; every released figure is checked against plain Python.

One server, its users, the generated files and the publisher's DataLab serve the whole module
(:func:`media_setup`): no test changes them, and each builds the rooms it works in. A room is
changed by what a test does in it (its audiences, its privacy budget, its audit log), so every
test gets rooms of its own (:func:`media_room`), never another test's.
"""

from __future__ import annotations

import io
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sealroom as sr
from sealroom.data_lab import DataLab, DataLabBuilder, IdType
from sealroom.errors import ConflictError, SealroomError
from sealroom.media import (
    AudienceCombinator,
    AudienceFilters,
    AudienceReference,
    AudienceRefusedError,
    CollaborationType,
    CombineOperator,
    CustomAudience,
    ExclusionTargetingAudienceBuilder,
    Filter,
    FilterOperator,
    LookalikeAudienceBuilder,
    MatchOperator,
    MediaDcr,
    MediaPrivacy,
    Participant,
    Permission,
    RemarketingAudienceBuilder,
    RuleBasedAudienceBuilder,
)
from sealroom.model.definition import PythonNode
from tests.integration.conftest import start_server, stop_server
from tests.integration.media_data import MediaData, data_lab, generate, released, rounded

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PUBLISHER = "pia@news.example"
ADVERTISER = "adam@shop.example"
AGENCY = "ada@agency.example"
PLANNER = "pat@planner.example"
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
    Participant(emails=[PLANNER], permissions=[P.CREATE_CUSTOM_AUDIENCE], role="Planner"),
]
ALL_TYPES = [
    CollaborationType.INSIGHTS,
    CollaborationType.REMARKETING,
    CollaborationType.RULE_BASED,
    CollaborationType.EXCLUSION_TARGETING,
    CollaborationType.LOOKALIKE,
]


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


@dataclass(frozen=True)
class MediaSetup:
    """What every test of the module reads: the server's users, the generated files (in
    ``files``: ids, segments, demographics and seed CSVs) and the publisher's DataLab, provisioned
    with ``key``."""

    clients: dict[str, sr.Client]
    files: Path
    data: MediaData
    key: sr.Key
    lab: DataLab


@pytest.fixture(scope="module")
def media_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaSetup]:
    server = start_server(tmp_path_factory.mktemp("media-server"))
    try:
        clients = {
            email: sr.create_client(email, server.add_user(email), api_url=server.url)
            for email in (PUBLISHER, ADVERTISER, AGENCY, PLANNER)
        }
        files = tmp_path_factory.mktemp("media-files")
        data = generate(files)
        key = sr.Key()
        lab = data_lab(
            clients[PUBLISHER], files, key, minimum_group_size=K, collaboration_types=ALL_TYPES
        )
        yield MediaSetup(clients, files, data, key, lab)
    finally:
        stop_server(server)


@pytest.fixture
def media_room(media_setup: MediaSetup) -> Callable[..., tuple[MediaDcr, MediaDcr]]:
    """Build a new room of every group and collaboration type on the module's DataLab (or
    ``lab``, provisioned with ``key``), matched by e-mail, provision its base audience and upload
    the seed audiences: the publisher's room and the advertiser's view of it."""

    def build(
        name: str,
        *,
        show_match_rate: bool = False,
        privacy: MediaPrivacy | None = None,
        minimum_group_size: int | None = K,
        lab: DataLab | None = None,
        key: sr.Key | None = None,
    ) -> tuple[MediaDcr, MediaDcr]:
        base = lab or media_setup.lab
        room = MediaDcr(
            media_setup.clients[PUBLISHER],
            name=name,
            participants=GROUPS,
            collaboration_types=ALL_TYPES,
            matching_ids=[IdType.EMAIL],
            show_match_rate=show_match_rate,
            privacy=privacy,
            base_audience=base,
            minimum_group_size=minimum_group_size,
        )
        room.provision_base_audience(base.id, key or media_setup.key)
        shop = MediaDcr.from_existing(room.id, media_setup.clients[ADVERTISER])
        shop.upload_seed_audiences(media_setup.files / "seed.csv", sr.Key())
        return room, shop

    return build


def test_overlap_insights_and_permissions_end_to_end(
    media_setup: MediaSetup, media_room: Callable[..., tuple[MediaDcr, MediaDcr]]
) -> None:
    clients, data = media_setup.clients, media_setup.data
    room, advertiser = media_room("news x shop", show_match_rate=True)
    assert room.is_base_audience_provisioned()
    assert room.get_base_audience_validation_reports().is_passed()
    assert advertiser.config == room.config
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
        assert entry["advertiser_size"] == released(advertiser_n), audience_type
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
    with (media_setup.files / "seed.csv").open("rb") as seed:
        dataset = clients[PUBLISHER].upload_dataset(seed, publisher_key, "fake seed")
    with pytest.raises(SealroomError):
        room.dcr.session.publish_dataset(room.id, dataset, "audiences", publisher_key)
    # Nor may anyone but the publisher replace the base audience.
    with pytest.raises(SealroomError):
        advertiser.dcr.session.publish_dataset(room.id, dataset, "matching", publisher_key)

    log = room.get_audit_log()
    assert "overlap_statistics" in log
    assert "insights" in log


def test_a_data_lab_that_dropped_rows_is_the_rooms_base_audience(
    media_setup: MediaSetup,
    media_room: Callable[..., tuple[MediaDcr, MediaDcr]],
    tmp_path: Path,
) -> None:
    # The DataLab dropped an invalid e-mail and a repeated row; its validation passed. The
    # room's tables drop them too: the same table as the DataLab's, not a refusal.
    files = tmp_path / "files"
    shutil.copytree(media_setup.files, files)
    ids = (files / "ids.csv").read_text()
    (files / "ids.csv").write_text(ids + "u-bad,not an e-mail\n" + ids.splitlines()[0] + "\n")
    key = sr.Key()
    lab = data_lab(
        media_setup.clients[PUBLISHER], files, key, minimum_group_size=K,
        collaboration_types=ALL_TYPES,
    )  # fmt: skip
    dropped = lab.get_validation_reports().identifiers["report"]["dropInvalidRows"]
    assert dropped["numInvalidRowsDropped"] == 2
    room, shop = media_room("dropped rows", lab=lab, key=key)
    reports = room.get_base_audience_validation_reports()
    assert reports.is_passed()
    assert reports.identifiers["report"]["dropInvalidRows"] == dropped
    overlap = shop.get_overlap_statistics().wait_for_completion(timeout=120).result()
    sizes = {o["audience_type"]: o["overlap_size"] for o in overlap["overlap_statistics"]}
    assert sizes["buyers"] == released(len(media_setup.data.overlap("buyers")))


def test_base_audience_only_from_a_validated_compatible_data_lab(media_setup: MediaSetup) -> None:
    clients, key, lab = media_setup.clients, media_setup.key, media_setup.lab
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
    assert not other.is_base_audience_provisioned()
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


def size_of(room: MediaDcr, audience: Any) -> int | None:
    result = room.get_audience_size(audience).wait_for_completion(timeout=300).result()
    size: int | None = result["size"]
    return size


def test_custom_audiences_sizes_exports_and_lookalikes(
    media_setup: MediaSetup, media_room: Callable[..., tuple[MediaDcr, MediaDcr]]
) -> None:
    clients, data = media_setup.clients, media_setup.data
    room, shop = media_room("audiences")

    audiences = shop.get_audiences()
    assert {a.audience_type: a.audience_size for a in audiences.seed} == {
        "buyers": 600,
        "browsers": 200,
        "tiny": None,
    }
    assert audiences.custom == []

    users = data.users()
    buyers = data.overlap("buyers")
    segment_users: dict[str, set[str]] = defaultdict(set)
    for user, segment in data.segments:
        segment_users[segment].add(user)
    female = {u for u, _, g in data.demographics if g == "f"}

    remarketing = shop.create_remarketing_audience(
        RemarketingAudienceBuilder(name="buyers again", source_audience_type="buyers").build()
    )
    exclusion = shop.create_exclusion_targeting_audience(
        ExclusionTargetingAudienceBuilder(name="not buyers", source_audience_type="buyers").build()
    )
    sporty_women = shop.create_rule_based_audience(
        RuleBasedAudienceBuilder(name="sporty women or car buyers", source_audience="BASE")
        .with_filters(
            AudienceFilters(
                [
                    Filter("segment", ["sports"], FilterOperator.CONTAINS_ANY_OF),
                    Filter("gender", ["f"], FilterOperator.CONTAINS_ANY_OF),
                ],
                MatchOperator.MATCH_ALL,
            )
        )
        .with_combinator(
            [
                AudienceCombinator(
                    CombineOperator.UNION,
                    remarketing,
                    AudienceFilters([Filter("segment", ["cars"])]),
                )
            ]
        )
        .build()
    )
    expected_rule = (segment_users["sports"] & female) | (buyers & segment_users["cars"])
    assert size_of(shop, remarketing) == released(len(buyers))
    assert size_of(shop, exclusion) == released(len(users - buyers))
    assert size_of(shop, sporty_women) == released(len(expected_rule))
    assert size_of(shop, AudienceReference.seed("tiny")) is None

    # The export: exactly the activation ids (user ids) of the audience.
    exported = shop.get_audience_user_list(sporty_women).wait_for_completion(300).result()
    assert sorted(exported) == sorted(expected_rule)
    # Below the minimum audience size the engine refuses to export, and says why.
    with pytest.raises(AudienceRefusedError, match="fewer users than the room's minimum"):
        shop.get_audience_user_list(AudienceReference.seed("tiny")).wait_for_completion(
            300
        ).result()

    # Lookalike: trained and scored in the core; the seed of buyers is learnable from segments
    # (half of them like sports, against 30 % of the base).
    lookalike = shop.create_lookalike_audience(
        LookalikeAudienceBuilder(name="like buyers", reach=10, source_audience=remarketing)
        .with_exclude_seed_audience()
        .build()
    )
    stats = shop.get_lookalike_audience_statistics(lookalike).wait_for_completion(600).result()
    assert stats["quality"]["roc_curve"]["auc"] > 0.6
    addressable = len(users - buyers)
    assert size_of(shop, lookalike) == released(round(addressable * 0.10))
    lookalike_users = set(shop.get_audience_user_list(lookalike).wait_for_completion(600).result())
    assert len(lookalike_users) == round(addressable * 0.10)
    assert not lookalike_users & buyers

    # Every group sees the definitions; sharing marks who they are for.
    names = {a.name for a in shop.get_audiences().custom}
    assert names == {"buyers again", "not buyers", "sporty women or car buyers", "like buyers"}
    publisher = MediaDcr.from_existing(room.id, clients[PUBLISHER])
    assert publisher.get_audiences().custom == []
    shop.share_audiences([remarketing], ["Publisher"])
    assert [a.name for a in publisher.get_audiences().custom] == ["buyers again"]

    # The agency (VIEW_OVERLAP) may neither size audiences nor export them: the core refuses
    # the run even when the SDK's check is bypassed.
    agency = MediaDcr.from_existing(room.id, clients[AGENCY])
    with pytest.raises(SealroomError, match="CREATE_CUSTOM_AUDIENCE or EXPORT_AUDIENCE"):
        agency.get_audience_size(remarketing)
    with pytest.raises(SealroomError):
        agency.dcr.session.run_computation(
            room.id, "audience_size", parameters={"audience": '{"kind":"BASE"}'}
        )
    with pytest.raises(SealroomError, match="EXPORT_AUDIENCE"):
        agency.get_audience_user_list(remarketing)
    with pytest.raises(SealroomError):
        agency.dcr.session.run_computation(
            room.id, "audience_user_list", parameters={"audience": '{"kind":"BASE"}'}
        )
    # The publisher's group cannot create audiences, in the SDK or in the core.
    with pytest.raises(SealroomError, match="CREATE_CUSTOM_AUDIENCE"):
        publisher.create_remarketing_audience(
            RemarketingAudienceBuilder(name="x", source_audience_type="buyers").build()
        )
    with pytest.raises(SealroomError):
        publisher.dcr.session.publish_dataset(
            room.id,
            shop.dcr.retrieve_published_datasets()[0]["dataset_id"],
            "custom_audiences",
            sr.Key(),
        )

    # Deleting an audience others depend on needs delete_dependent_audiences, and never takes
    # another group's audience with it.
    planner = MediaDcr.from_existing(room.id, clients[PLANNER])
    planned = planner.create_rule_based_audience(
        RuleBasedAudienceBuilder(name="planned", source_audience=remarketing).build()
    )
    with pytest.raises(SealroomError, match="depends on"):
        shop.delete_audiences([remarketing])
    with pytest.raises(SealroomError, match="of another group depends on"):
        shop.delete_audiences([remarketing], delete_dependent_audiences=True)
    with pytest.raises(SealroomError, match="created by another group"):
        planner.delete_audiences([remarketing])
    planner.delete_audiences([planned])
    shop.delete_audiences([remarketing], delete_dependent_audiences=True)
    assert {a.name for a in shop.get_audiences().custom} == {"not buyers"}


def test_changes_made_at_the_same_time_are_all_kept(
    media_setup: MediaSetup,
    media_room: Callable[..., tuple[MediaDcr, MediaDcr]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room, shop = media_room("at once")
    planner = MediaDcr.from_existing(room.id, media_setup.clients[PLANNER])
    buyers = RemarketingAudienceBuilder(name="buyers again", source_audience_type="buyers")
    browsers = RemarketingAudienceBuilder(name="browsers again", source_audience_type="browsers")
    # The planner publishes between the advertiser's read of the definitions and its write.
    read = shop._custom_audiences
    between: list[str] = []

    def read_then_planner_writes(dataset_id: str | None = None) -> list[CustomAudience]:
        audiences = read(dataset_id)
        if not between:
            between.append(planner.create_remarketing_audience(browsers.build()).id)
        return audiences

    monkeypatch.setattr(shop, "_custom_audiences", read_then_planner_writes)
    mine = shop.create_remarketing_audience(buyers.build())
    monkeypatch.undo()
    # The core refused the advertiser's first write (its read was stale); the SDK read again.
    names = {a.name for a in MediaDcr.from_existing(room.id, media_setup.clients[PLANNER])
             ._custom_audiences()}  # fmt: skip
    assert names == {"buyers again", "browsers again"}
    assert mine.id in {a.id for a in shop.get_audiences().custom}
    # A stale write through the session is refused by the core, whatever the SDK does.
    published = {d["node"]: d["dataset_id"] for d in shop.dcr.retrieve_published_datasets()}
    key = sr.Key()
    dataset = media_setup.clients[ADVERTISER].upload_dataset(
        io.BytesIO(b"x,n,c,t,[],{},g\n"), key, "stale"
    )
    with pytest.raises(ConflictError, match="changed since you read it"):
        shop.dcr.session.publish_dataset(
            room.id, dataset, "custom_audiences", key, replaces="0" * 64
        )
    assert published == {d["node"]: d["dataset_id"] for d in shop.dcr.retrieve_published_datasets()}


def test_differential_privacy_mode_charges_every_size(
    media_setup: MediaSetup, media_room: Callable[..., tuple[MediaDcr, MediaDcr]]
) -> None:
    data = media_setup.data
    room, shop = media_room(
        "dp",
        privacy=MediaPrivacy.differential_privacy(epsilon_budget=1.5, epsilon_per_run=0.5),
        minimum_group_size=None,
    )
    # No SQL releasing exact (rounded) counts: no seed sizes (overlap and insights: below).
    assert {a.audience_size for a in shop.get_audiences().seed} == {None}

    exclusion = shop.create_exclusion_targeting_audience(
        ExclusionTargetingAudienceBuilder(name="not buyers", source_audience_type="buyers").build()
    )
    true_size = len(data.users() - data.overlap("buyers"))
    size = size_of(shop, exclusion)
    # A noisy count (epsilon 0.5: scale 2), then rounded to 100.
    assert size is not None
    assert abs(size - true_size) <= 100
    budget = shop.retrieve_privacy_budget()
    assert budget.epsilon_spent == pytest.approx(0.5)
    lookalike = shop.create_lookalike_audience(
        LookalikeAudienceBuilder(name="like buyers", reach=10, source_audience=exclusion).build()
    )
    stats = shop.get_lookalike_audience_statistics(lookalike).wait_for_completion(600).result()
    assert stats["quality"] is None
    assert shop.retrieve_privacy_budget().epsilon_spent == pytest.approx(1.0)
    # The export is by permission, not charged.
    shop.get_audience_user_list(exclusion).wait_for_completion(300).result()
    assert shop.retrieve_privacy_budget().epsilon_spent == pytest.approx(1.0)
    size_of(shop, exclusion)
    with pytest.raises(SealroomError, match="privacy budget"):
        size_of(shop, exclusion)
    assert "spent epsilon 0.5" in room.get_audit_log()


def test_differential_privacy_mode_noises_overlap_and_insights(
    media_setup: MediaSetup, media_room: Callable[..., tuple[MediaDcr, MediaDcr]]
) -> None:
    data = media_setup.data
    # A large epsilon per run, so that the noisy figures are near the exact ones (insights'
    # sensitivity is 3 + 4 x 17 = 71 here: scale 7).
    room, shop = media_room(
        "dp counts",
        privacy=MediaPrivacy.differential_privacy(epsilon_budget=25, epsilon_per_run=10),
    )
    nodes = {n: room.dcr.definition.node(n) for n in ("overlap_statistics", "insights")}
    assert all(isinstance(node, PythonNode) and node.dp_epsilon == 10 for node in nodes.values())

    overlap = shop.get_overlap_statistics().wait_for_completion(timeout=300).result()
    by_type = {o["audience_type"]: o for o in overlap["overlap_statistics"]}
    assert set(by_type) == {"buyers", "browsers", "tiny"}
    assert by_type["buyers"]["overlap_size"] == 500  # 500 + noise of scale 0.9, rounded
    assert by_type["buyers"]["num_activation_ids_in_overlap"] == {"userId": 500}
    assert by_type["tiny"]["overlap_size"] is None  # 30 users: below the minimum of 100
    assert shop.retrieve_privacy_budget().epsilon_spent == pytest.approx(10)

    insights = shop.get_insights().wait_for_completion(timeout=300).result()
    assert {a["audience_type"] for a in insights["audiences"]} == {"buyers", "browsers"}
    for audience in insights["audiences"]:
        expected = expected_insights(data, audience["audience_type"])
        for aggregation in audience["aggregations"]:
            rows = {row[0]: row for row in aggregation["rows"]}
            exact = expected[aggregation["aggregation"][0]["column"]]
            for key, row in rows.items():
                # Groups near the minimum group size may come and go with the noise; a group
                # released is near its exact (rounded) sizes.
                if key in exact:
                    assert abs(row[1] - exact[key][0]) <= 100
                    assert abs(row[2] - exact[key][1]) <= 100
            assert {k for k, (o, _) in exact.items() if o >= 100} <= set(rows)
    assert shop.retrieve_privacy_budget().epsilon_spent == pytest.approx(20)
    with pytest.raises(SealroomError, match="privacy budget"):
        shop.get_overlap_statistics().wait_for_completion(timeout=300).result()
    log = room.get_audit_log()
    assert log.count("spent epsilon 10") == 2


def test_the_docs_example_runs(media_setup: MediaSetup, monkeypatch: pytest.MonkeyPatch) -> None:
    markdown = (Path(__file__).resolve().parents[2] / "docs" / "media.md").read_text()
    code = markdown.split("```python\n", 1)[1].split("```", 1)[0]
    clients, data = media_setup.clients, media_setup.data
    monkeypatch.chdir(media_setup.files)  # the example reads seed.csv
    namespace: dict[str, object] = {
        "publisher": clients[PUBLISHER],
        "advertiser": clients[ADVERTISER],
        "lab": media_setup.lab,
        "key": media_setup.key,
    }
    exec(compile(code, "docs/media.md", "exec"), namespace)  # the docs example, verbatim
    activation_ids = namespace["activation_ids"]
    assert isinstance(activation_ids, list)
    assert sorted(activation_ids) == sorted(data.overlap("buyers"))
    quality = namespace["quality"]
    assert isinstance(quality, dict)
    assert quality["quality"]["roc_curve"]["auc"] > 0.6


def test_the_readme_media_example_runs(
    media_setup: MediaSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = readme.split("`sealroom demo --media`", 1)[1].split("```python\n", 1)[1].split("```")[0]
    clients, data = media_setup.clients, media_setup.data
    monkeypatch.chdir(media_setup.files)  # the example reads seed.csv
    namespace: dict[str, object] = {
        "sr": sr,
        "MediaDcr": MediaDcr,
        "IdType": IdType,
        "CollaborationType": CollaborationType,
        "publisher": clients[PUBLISHER],
        "advertiser": clients[ADVERTISER],
        "groups": GROUPS,
        "lab": media_setup.lab,
        "key": media_setup.key,
    }
    exec(compile(code, "README.md", "exec"), namespace)  # the README's example, verbatim
    overlap = namespace["overlap"]
    assert isinstance(overlap, dict)
    sizes = {o["audience_type"]: o["overlap_size"] for o in overlap["overlap_statistics"]}
    assert sizes["buyers"] == released(len(data.overlap("buyers")))
