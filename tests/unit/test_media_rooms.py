"""A media room's definition: each permission becomes exactly the roles it should (the matrix
the core enforces), the configuration round-trips through the room's description, and a bad
configuration is refused with a reason."""

from __future__ import annotations

import pytest

from sealroom.data_lab.types import CollaborationType, IdentifiersConfig, IdType
from sealroom.errors import DefinitionError
from sealroom.media import MediaPrivacy, Participant, Permission
from sealroom.media.config import BaseAudienceLayout, MediaConfig
from sealroom.media.media_dcr import build_definition
from sealroom.model.definition import PythonNode, SqlNode, TableNode

OWNER = "pia@news.example"
BASE_TABLES = {"matching", "segments", "demographics"}
ENGINE = {"audience_size", "audience_user_list", "lookalike_statistics"}

#: Permission → (tables its holders own, computations they run). Everyone runs the lists.
MATRIX: dict[Permission, tuple[set[str], set[str]]] = {
    Permission.VIEW_OVERLAP: (set(), {"overlap_statistics"}),
    Permission.VIEW_INSIGHTS: (set(), {"insights", "data_attributes"}),
    Permission.PROVIDE_SEED_AUDIENCE: ({"audiences"}, set()),
    Permission.PROVIDE_BASE_AUDIENCE: (BASE_TABLES, set()),
    Permission.CREATE_CUSTOM_AUDIENCE: (
        {"custom_audiences"},
        {"data_attributes", "audience_size", "lookalike_statistics"},
    ),
    Permission.EXPORT_AUDIENCE: (set(), {"audience_size", "audience_user_list"}),
    Permission.MODEL_QUALITY: (set(), {"lookalike_statistics"}),
    Permission.MANAGE_USERS: (set(), set()),
}
LISTS = {"seed_audience_list", "custom_audience_list"}


def config(
    groups: list[Participant], privacy: MediaPrivacy | None = None, **extra: object
) -> MediaConfig:
    return MediaConfig(
        name="room",
        participants=tuple(groups),
        collaboration_types=tuple(CollaborationType),
        matching_id=IdType.EMAIL,
        base=BaseAudienceLayout.default(IdType.EMAIL),
        privacy=privacy or MediaPrivacy(),
        **extra,  # type: ignore[arg-type]
    )


def standard_groups(probe: Permission | None = None) -> list[Participant]:
    # One group provides the base audience: the probe, when that is its permission.
    base = [] if probe is Permission.PROVIDE_BASE_AUDIENCE else [Permission.PROVIDE_BASE_AUDIENCE]
    groups = [
        Participant(["pia@news.example"], base, "Publisher"),
        Participant(["adam@shop.example"], [Permission.PROVIDE_SEED_AUDIENCE], "Advertiser"),
    ]
    if probe is not None:
        groups.append(Participant(["probe@x.example", "probe2@x.example"], [probe], "Probe"))
    return groups


@pytest.mark.parametrize("permission", list(Permission))
def test_each_permission_grants_exactly_its_roles(permission: Permission) -> None:
    definition = build_definition(OWNER, config(standard_groups(permission))).definition
    owns, runs = MATRIX[permission]
    for email in ("probe@x.example", "probe2@x.example"):
        participant = definition.participant(email)
        assert participant is not None
        assert set(participant.data_owner_of) == owns
        assert set(participant.analyst_of) == runs | LISTS


def test_the_base_audience_drops_invalid_rows_as_its_data_lab_does() -> None:
    definition = build_definition(OWNER, config(standard_groups())).definition
    drops = {
        node.name: node.schema_.drop_invalid_rows
        for node in definition.nodes
        if isinstance(node, TableNode)
    }
    assert drops == {
        "matching": True,
        "segments": True,
        "demographics": True,
        "audiences": False,
        "custom_audiences": False,
    }


def test_the_nodes_of_a_room() -> None:
    definition = build_definition(OWNER, config(standard_groups())).definition
    kinds = {node.name: type(node) for node in definition.nodes}
    for name in ("overlap_statistics", "insights", "data_attributes", *LISTS):
        assert kinds[name] is SqlNode
    for name in ENGINE:
        assert kinds[name] is PythonNode
    # In rounding mode nothing is charged to a budget.
    assert all(node.dp_epsilon is None for node in definition.nodes if isinstance(node, PythonNode))


def test_differential_privacy_charges_every_count_to_the_budget() -> None:
    privacy = MediaPrivacy.differential_privacy(epsilon_budget=3, epsilon_per_run=0.25)
    definition = build_definition(
        OWNER, config(standard_groups(Permission.VIEW_INSIGHTS), privacy)
    ).definition
    assert definition.privacy.dp_epsilon_budget == 3
    charged = {
        node.name: node.dp_epsilon for node in definition.nodes if isinstance(node, PythonNode)
    }
    # Overlap and insights are the engine's noisy counts; the export is by permission: not
    # noised, not charged.
    assert charged == {
        "overlap_statistics": 0.25,
        "insights": 0.25,
        "audience_size": 0.25,
        "lookalike_statistics": 0.25,
        "audience_user_list": None,
    }
    nodes = {node.name: node for node in definition.nodes}
    for name in ("overlap_statistics", "insights"):
        node = nodes[name]
        assert isinstance(node, PythonNode)
        assert node.parameters == ()
        assert node.script.endswith(f"main({name!r})\n")


def test_the_configuration_round_trips_through_the_description() -> None:
    original = config(
        standard_groups(Permission.VIEW_INSIGHTS),
        MediaPrivacy.differential_privacy(2, 0.5, minimum_audience_size=250),
        hide_absolute_values=True,
        show_match_rate=True,
        minimum_group_size=20,
    )
    assert MediaConfig.from_description(original.description()) == original
    with pytest.raises(DefinitionError, match="not a media clean room"):
        MediaConfig.from_description("sealroom.data_lab v1 {}")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: g[:1], "provides seed audiences"),
        (lambda g: g[1:], "exactly one participant group provides the base audience"),
        (
            lambda g: [*g, Participant(["pia@news.example"], [], "Twice")],
            "in two participant groups",
        ),
        (lambda g: [*g, Participant(["not an address"], [], "Bad")], "not an e-mail"),
    ],
)
def test_bad_groups_are_refused(change: object, message: str) -> None:
    groups = change(standard_groups())  # type: ignore[operator]
    with pytest.raises(DefinitionError, match=message):
        build_definition(OWNER, config(groups))


def test_a_base_audience_that_cannot_match_is_refused() -> None:
    base = BaseAudienceLayout(
        (
            IdentifiersConfig("userId", IdType.STRING, False, True),
            IdentifiersConfig("phone", IdType.PHONE_NUMBER, True, False),
        )
    )
    bad = MediaConfig(
        name="room",
        participants=tuple(standard_groups()),
        collaboration_types=(CollaborationType.OVERLAP,),
        matching_id=IdType.EMAIL,
        base=base,
    )
    with pytest.raises(DefinitionError, match="no matching identifier of type EMAIL"):
        bad.check()


@pytest.mark.parametrize(
    "privacy",
    [
        MediaPrivacy.differential_privacy(epsilon_budget=1, epsilon_per_run=2),
        MediaPrivacy(epsilon_budget=1),
        MediaPrivacy(minimum_audience_size=0),
    ],
)
def test_bad_privacy_settings_are_refused(privacy: MediaPrivacy) -> None:
    with pytest.raises(DefinitionError):
        build_definition(OWNER, config(standard_groups(), privacy))


def test_the_engine_is_told_which_definition_kinds_the_room_enables() -> None:
    import json

    groups = tuple(standard_groups())
    room = MediaConfig(
        name="room",
        participants=groups,
        collaboration_types=(CollaborationType.OVERLAP, CollaborationType.RULE_BASED),
        matching_id=IdType.EMAIL,
        base=BaseAudienceLayout.default(IdType.EMAIL),
    )
    definition = build_definition(OWNER, room).definition
    engine = definition.node("audience_size")
    assert isinstance(engine, PythonNode)
    (config_file,) = engine.additional_files
    assert json.loads(config_file.content)["definition_kinds"] == ["RULE_BASED"]
