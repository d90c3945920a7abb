"""Participant groups after membership requests (sealroom.media.members): which notes count,
and the roles a member's permissions map to."""

from __future__ import annotations

import pytest

from sealroom.errors import DefinitionError
from sealroom.media import Participant, Permission
from sealroom.media.config import MediaConfig
from sealroom.media.media_dcr import build_definition
from sealroom.media.members import MembershipChange, current_groups, fits, member_roles
from sealroom.model.commits import (
    AnalystGrant,
    Commit,
    OwnerGrant,
    Withdrawal,
    apply_commit,
    initial_history_pin,
)
from sealroom.model.definition import RoomDefinition
from tests.unit.test_media_rooms import OWNER, config

P = Permission
ADAM = "adam@shop.example"
COLE = "cole@shop.example"
KEY = "c0" * 32


def room() -> tuple[MediaConfig, RoomDefinition]:
    groups = [
        Participant([OWNER], [P.PROVIDE_BASE_AUDIENCE, P.VIEW_OVERLAP], "Publisher", id="pub"),
        Participant(
            [ADAM],
            [P.PROVIDE_SEED_AUDIENCE, P.VIEW_OVERLAP, P.EXPORT_AUDIENCE, P.MANAGE_USERS],
            "Advertiser",
            id="adv",
        ),
        Participant(["ada@agency.example"], [P.VIEW_OVERLAP], "Agency", id="agency"),
    ]
    media = config(groups)
    return media, build_definition(OWNER, media).definition


def commit_on(definition: RoomDefinition, requester: str, **fields: object) -> Commit:
    commit = Commit(
        room_id=definition.room_id,
        history_pin=initial_history_pin(definition.room_id),
        requester=requester,
        **fields,  # type: ignore[arg-type]
    )
    apply_commit(definition, commit)  # a commit the core would accept
    return commit


def joining(media: MediaConfig, definition: RoomDefinition, requester: str = ADAM) -> Commit:
    change = MembershipChange("adv", COLE, (P.VIEW_OVERLAP, P.EXPORT_AUDIENCE))
    owns, runs = member_roles(media, change.permissions)
    assert not owns
    return commit_on(
        definition,
        requester,
        note=change.note(),
        analysts=(AnalystGrant(email=COLE, analyst_of=tuple(runs), key=KEY),),
    )


def test_a_sound_join_and_leave_change_the_group() -> None:
    media, definition = room()
    join = joining(media, definition)
    groups = current_groups(media, definition, [join])
    advertiser = next(g for g in groups if g.id == "adv")
    assert advertiser.emails == [ADAM, COLE]
    assert advertiser.permissions_of(COLE) == [P.VIEW_OVERLAP, P.EXPORT_AUDIENCE]
    assert advertiser.permissions_of(ADAM) == advertiser.permissions

    after = apply_commit(definition, join)
    held = after.participant(COLE)
    assert held is not None
    leave = Commit(
        room_id=after.room_id,
        history_pin="0" * 64,
        requester=ADAM,
        note=MembershipChange("adv", COLE).note(),
        withdrawals=(Withdrawal(email=COLE, analyst_of=held.analyst_of),),
    )
    assert fits(MembershipChange("adv", COLE), media, after, leave)
    groups = current_groups(media, definition, [join, leave])
    assert next(g for g in groups if g.id == "adv").emails == [ADAM]


def test_a_note_counts_only_from_a_manager_of_that_group() -> None:
    media, definition = room()
    by_agency = joining(media, definition, requester="ada@agency.example")
    assert current_groups(media, definition, [by_agency]) == media.participants


@pytest.mark.parametrize(
    "extra",
    [
        {"analysts": (AnalystGrant(email=COLE, analyst_of=("insights",), key=KEY),)},
        {"owners": (OwnerGrant(email=COLE, data_owner_of=("audiences",), key=KEY),)},
    ],
    ids=["other computations", "data ownership"],
)
def test_a_note_counts_only_when_its_commit_grants_exactly_its_roles(
    extra: dict[str, object],
) -> None:
    media, definition = room()
    change = MembershipChange("adv", COLE, (P.VIEW_OVERLAP,))
    if "analysts" in extra:
        commit = Commit(
            room_id=definition.room_id,
            history_pin="0" * 64,
            requester=ADAM,
            note=change.note(),
            **extra,  # type: ignore[arg-type]
        )
    else:
        _, runs = member_roles(media, change.permissions)
        commit = Commit(
            room_id=definition.room_id,
            history_pin="0" * 64,
            requester=ADAM,
            note=change.note(),
            analysts=(AnalystGrant(email=COLE, analyst_of=tuple(runs), key=KEY),),
            owners=(OwnerGrant(email=COLE, data_owner_of=("audiences",)),),
        )
    assert not fits(change, media, definition, commit)


def test_notes_that_record_no_change() -> None:
    assert MembershipChange.from_note("Dave joins") is None
    assert MembershipChange.from_note("sealroom.media v1 member {not json") is None
    change = MembershipChange("adv", COLE, (P.VIEW_OVERLAP,))
    assert MembershipChange.from_note(change.note()) == change


def test_member_permissions_at_creation_give_fewer_roles() -> None:
    media, _ = room()
    groups = list(media.participants)
    groups[1] = Participant(
        [ADAM, COLE],
        groups[1].permissions,
        "Advertiser",
        id="adv",
        member_permissions={COLE: [P.VIEW_OVERLAP]},
    )
    definition = build_definition(OWNER, config(groups)).definition
    cole = definition.participant(COLE)
    assert cole is not None
    assert cole.data_owner_of == ()
    assert "audience_user_list" not in cole.analyst_of
    assert "audience_user_list" in definition.participant(ADAM).analyst_of  # type: ignore[union-attr]
    with pytest.raises(DefinitionError, match="which the group does not have"):
        Participant(
            [COLE], [P.VIEW_OVERLAP], "x", member_permissions={COLE: [P.VIEW_INSIGHTS]}
        ).check()
    with pytest.raises(DefinitionError, match="not in the group"):
        Participant([ADAM], [P.VIEW_OVERLAP], "x", member_permissions={COLE: []}).check()
    # Part of the room's description, so of its id: written and read back unchanged.
    assert MediaConfig.from_description(config(groups).description()) == config(groups)
