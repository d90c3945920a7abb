"""Write ``tests/vectors/web/media-members.json``: a media room's participant groups after each
commit of a history of membership requests, and the roles each permission set maps to — by
:mod:`sealroom.media.members`.

Run by hand after a deliberate change of those rules (and say so in the commit)::

    .venv/bin/python tests/vectors/web/make_media_member_vectors.py

The browser shows a media room's groups as the verified history leaves them
(``web/src/media-members.ts``, ``currentGroups`` and ``memberRoles``).
``tests/unit/test_media_member_vectors.py`` checks Python still gives every answer;
``tests/integration/test_web_media_vectors.py`` checks the browser does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sealroom.data_lab.types import CollaborationType, IdType
from sealroom.media import MediaPrivacy, Participant, Permission
from sealroom.media.config import BaseAudienceLayout, MediaConfig
from sealroom.media.media_dcr import build_definition
from sealroom.media.members import MembershipChange, current_groups, member_roles
from sealroom.model.commits import (
    AnalystGrant,
    Commit,
    OwnerGrant,
    Withdrawal,
    apply_commit,
    initial_history_pin,
)
from sealroom.model.definition import RoomDefinition

PATH = Path(__file__).parent / "media-members.json"

P = Permission
PIA = "pia@news.example"
ADAM = "adam@shop.example"
ADA = "ada@agency.example"
COLE = "Cole@Shop.example"
DAN = "dan@shop.example"
EVE = "eve@shop.example"
KEY = "c0" * 32


def config() -> MediaConfig:
    return MediaConfig(
        name="vectors",
        participants=(
            Participant([PIA], [P.PROVIDE_BASE_AUDIENCE, P.VIEW_OVERLAP], "Publisher", id="pub"),
            Participant(
                [ADAM],
                [P.PROVIDE_SEED_AUDIENCE, P.VIEW_OVERLAP, P.CREATE_CUSTOM_AUDIENCE, P.MANAGE_USERS],
                "Advertiser",
                id="adv",
            ),
            Participant([ADA], [P.VIEW_OVERLAP], "Agency", id="agency"),
        ),
        collaboration_types=tuple(CollaborationType),
        matching_id=IdType.EMAIL,
        base=BaseAudienceLayout.default(IdType.EMAIL),
        privacy=MediaPrivacy(),
    )


def _history(media: MediaConfig, published: RoomDefinition) -> list[tuple[str, Commit]]:
    steps: list[tuple[str, Commit]] = []
    definition = published

    def add(name: str, requester: str, note: str, **fields: Any) -> None:
        nonlocal definition
        commit = Commit(
            room_id=published.room_id,
            history_pin=initial_history_pin(published.room_id),
            requester=requester,
            note=note,
            **fields,
        )
        definition = apply_commit(definition, commit)
        steps.append((name, commit))

    def join(email: str, permissions: tuple[Permission, ...]) -> tuple[str, dict[str, Any]]:
        owns, runs = member_roles(media, permissions)
        fields: dict[str, Any] = {}
        if runs:
            fields["analysts"] = (AnalystGrant(email=email, analyst_of=tuple(runs), key=KEY),)
        if owns:
            fields["owners"] = (
                OwnerGrant(email=email, data_owner_of=tuple(owns), key=None if runs else KEY),
            )
        return MembershipChange("adv", email, permissions).note(), fields

    note, fields = join(COLE, (P.VIEW_OVERLAP, P.CREATE_CUSTOM_AUDIENCE))
    add("the advertiser's manager adds a colleague with some permissions", ADAM, note, **fields)
    note, fields = join(DAN, (P.VIEW_OVERLAP,))
    add("the agency, no manager of the advertiser's group, adds someone", ADA, note, **fields)
    held = definition.participant(DAN)
    assert held is not None
    add(
        "an ordinary request takes the agency's person out again",
        ADAM,
        "not a membership note",
        withdrawals=(Withdrawal(email=DAN, analyst_of=held.analyst_of),),
    )
    note, fields = join(DAN, (P.VIEW_OVERLAP,))
    fields["analysts"] = (
        AnalystGrant(email=DAN, analyst_of=("overlap_statistics", "audience_size"), key=KEY),
    )
    add("a manager's note that grants more than it says", ADAM, note, **fields)
    held = definition.participant(COLE)
    assert held is not None
    add(
        "the colleague leaves",
        ADAM,
        MembershipChange("adv", COLE).note(),
        withdrawals=(
            Withdrawal(email=COLE, analyst_of=held.analyst_of, data_owner_of=held.data_owner_of),
        ),
    )
    everything = tuple(media.participants[1].permissions)
    note, fields = join(EVE, everything)
    add("someone joins with all the group's permissions", ADAM, note, **fields)
    return steps


def build() -> dict[str, Any]:
    media = config()
    # A fixed salt: the same room id (and so the same commits) on every run.
    published = build_definition(PIA, media).definition.model_copy(update={"salt": "0" * 32})
    steps = _history(media, published)
    commits = [commit for _, commit in steps]
    return {
        "config": media.to_dict(),
        "published": json.loads(published.canonical_bytes()),
        "commits": [json.loads(commit.canonical_bytes()) for commit in commits],
        "after": [
            {
                "case": name,
                "groups": [g.to_dict() for g in current_groups(media, published, commits[: i + 1])],
            }
            for i, (name, _) in enumerate(steps)
        ],
        "roles": [
            {"permissions": [p.value for p in permissions], "owns": owns, "runs": runs}
            for permissions in ((p,) for p in Permission)
            for owns, runs in [member_roles(media, permissions)]
        ],
    }


if __name__ == "__main__":
    PATH.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
