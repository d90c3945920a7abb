"""People join and leave a media room's participant groups (MANAGE_USERS) against a real
``sealroom serve``: requests the data owners approve, groups read from the verified history,
what the core then enforces, and what it and the SDK refuse."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.data_lab import DataLab, DataLabBuilder, IdentifiersConfig, IdType
from sealroom.errors import DefinitionError, PermissionDeniedError, SealroomError
from sealroom.media import (
    CollaborationType,
    MediaDcr,
    Participant,
    Permission,
    RemarketingAudienceBuilder,
)
from sealroom.media.members import MembershipChange
from tests.integration.conftest import ServerProcess, run_cli, start_server, stop_server
from tests.integration.media_data import MediaData, generate

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PUBLISHER = "pia@news.example"
ADVERTISER = "adam@shop.example"
COLLEAGUE = "cole@shop.example"
AGENCY = "ada@agency.example"
P = Permission


def groups() -> list[Participant]:
    return [
        Participant(
            emails=[PUBLISHER],
            permissions=[P.PROVIDE_BASE_AUDIENCE, P.VIEW_OVERLAP, P.MANAGE_USERS],
            role="Publisher",
            id="publisher",
        ),
        Participant(
            emails=[ADVERTISER],
            permissions=[
                P.PROVIDE_SEED_AUDIENCE,
                P.VIEW_OVERLAP,
                P.CREATE_CUSTOM_AUDIENCE,
                P.EXPORT_AUDIENCE,
                P.MANAGE_USERS,
            ],
            role="Advertiser",
            id="advertiser",
        ),
        Participant(emails=[AGENCY], permissions=[P.VIEW_OVERLAP], role="Agency", id="agency"),
    ]


@dataclass(frozen=True)
class Setup:
    server: ServerProcess
    tokens: dict[str, str]
    clients: dict[str, sr.Client]
    files: Path
    data: MediaData
    key: sr.Key
    lab: DataLab

    def cli(self, email: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``sealroom ARGS`` as ``email``, with a state directory of their own."""
        env = {
            **self.server.env,
            "SEALROOM_API_URL": self.server.url,
            "SEALROOM_EMAIL": email,
            "SEALROOM_API_TOKEN": self.tokens[email],
            "SEALROOM_STATE_DIR": str(self.files / "states" / email),
        }
        return run_cli(*args, env=env, check=check)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    server = start_server(tmp_path_factory.mktemp("media-members"))
    try:
        tokens = {
            email: server.add_user(email) for email in (PUBLISHER, ADVERTISER, COLLEAGUE, AGENCY)
        }
        clients = {
            email: sr.create_client(email, token, api_url=server.url)
            for email, token in tokens.items()
        }
        files = tmp_path_factory.mktemp("media-members-files")
        data = generate(files, users=1200)
        key = sr.Key()
        lab = (
            DataLabBuilder(clients[PUBLISHER])
            .with_name("news audience")
            .with_identifiers_config(
                [
                    IdentifiersConfig("userId", IdType.STRING, False, True),
                    IdentifiersConfig("email", IdType.EMAIL, True, False),
                ]
            )
            .with_segments()
            .with_collaboration_types([CollaborationType.REMARKETING])
            .build()
        )
        lab.provision_local_datasets(key, files / "ids.csv", files / "segments.csv")
        yield Setup(server, tokens, clients, files, data, key, lab)
    finally:
        stop_server(server)


def room(setup: Setup, name: str) -> dict[str, MediaDcr]:
    publisher = MediaDcr(
        setup.clients[PUBLISHER],
        name=name,
        participants=groups(),
        collaboration_types=[CollaborationType.REMARKETING],
        matching_ids=[IdType.EMAIL],
        base_audience=setup.lab,
    )
    publisher.provision_base_audience(setup.lab.id, setup.key)
    rooms = {PUBLISHER: publisher}
    for email in (ADVERTISER, AGENCY):
        rooms[email] = MediaDcr.from_existing(publisher.id, setup.clients[email])
    rooms[ADVERTISER].upload_seed_audiences(setup.files / "seed.csv", sr.Key())
    return rooms


def approve_and_integrate(rooms: dict[str, MediaDcr], request_id: str) -> None:
    """The data owners' approvals: the publisher's (base audience) and the advertiser's (seed
    and custom audiences), each checked by their own SDK; then the advertiser integrates."""
    for email in (PUBLISHER, ADVERTISER):
        rooms[email].approve_membership_request(request_id)
    rooms[ADVERTISER].integrate_membership_request(request_id)


REMARKETING = RemarketingAudienceBuilder(name="buyers again", source_audience_type="buyers")


def test_a_colleague_joins_with_some_permissions_then_leaves(setup: Setup) -> None:
    rooms = room(setup, "members")
    request = rooms[ADVERTISER].add_user_as_participant(
        "Advertiser", COLLEAGUE, [P.VIEW_OVERLAP, P.EXPORT_AUDIENCE]
    )
    # Every table's owners approve: the publisher's base audience, the advertiser's audiences.
    assert {g.node for g in request.approver_groups} == {
        "matching",
        "segments",
        "audiences",
        "custom_audiences",
    }
    (pending,) = rooms[PUBLISHER].get_membership_requests()
    assert pending.sound
    assert pending.change == MembershipChange(
        "advertiser", COLLEAGUE, (P.VIEW_OVERLAP, P.EXPORT_AUDIENCE)
    )
    # Not yet: the colleague is nobody in the room until the request is integrated.
    with pytest.raises(SealroomError):
        MediaDcr.from_existing(rooms[PUBLISHER].id, setup.clients[COLLEAGUE])
    approve_and_integrate(rooms, request.id)

    colleague = MediaDcr.from_existing(rooms[PUBLISHER].id, setup.clients[COLLEAGUE])
    advertiser_group = next(g for g in colleague.get_participants() if g.id == "advertiser")
    assert advertiser_group.emails == [ADVERTISER, COLLEAGUE]
    assert advertiser_group.permissions_of(COLLEAGUE) == [P.VIEW_OVERLAP, P.EXPORT_AUDIENCE]
    assert rooms[PUBLISHER].refresh().get_participants() == colleague.get_participants()
    overlap = colleague.get_overlap_statistics().wait_for_completion(120).result()
    assert any(row["audience_type"] == "buyers" for row in overlap["overlap_statistics"])
    exported = colleague.get_audience_user_list(REMARKETING.build()).wait_for_completion(300)
    users = set(exported.result())
    assert users == {f"u{u}" for u in range(0, 1000, 2)}
    # Their permissions, not the group's: no audience of their own, and no seed upload (the
    # core refuses the upload too: they own no table).
    with pytest.raises(PermissionDeniedError, match="CREATE_CUSTOM_AUDIENCE"):
        colleague.create_remarketing_audience(REMARKETING.build())
    with pytest.raises(SealroomError):
        colleague.dcr.get_node("audiences").upload_and_publish_dataset(  # type: ignore[union-attr]
            (setup.files / "seed.csv").open("rb"), sr.Key(), "mine"
        )

    leaving = rooms[ADVERTISER].remove_user_from_participant("advertiser", COLLEAGUE)
    assert {"overlap_statistics", "audience_user_list"} <= set(leaving.scope.withdrawn[COLLEAGUE])
    approve_and_integrate(rooms, leaving.id)
    assert next(
        g for g in rooms[PUBLISHER].refresh().get_participants() if g.id == "advertiser"
    ).emails == [ADVERTISER]
    with pytest.raises(SealroomError):
        colleague.get_overlap_statistics().wait_for_completion(120).result()
    log = rooms[PUBLISHER].get_audit_log()
    assert f"withdrawing {COLLEAGUE}" in log


def test_who_may_manage_whom_and_what_approvers_refuse(setup: Setup) -> None:
    rooms = room(setup, "members refused")
    with pytest.raises(PermissionDeniedError, match="MANAGE_USERS"):
        rooms[AGENCY].add_user_as_participant("Agency", COLLEAGUE, [P.VIEW_OVERLAP])
    with pytest.raises(PermissionDeniedError, match="manages its own people"):
        rooms[ADVERTISER].add_user_as_participant("Publisher", COLLEAGUE, [P.VIEW_OVERLAP])
    with pytest.raises(DefinitionError, match="does not have it"):
        rooms[ADVERTISER].add_user_as_participant("Advertiser", COLLEAGUE, [P.VIEW_INSIGHTS])
    with pytest.raises(DefinitionError, match="already in participant group"):
        rooms[ADVERTISER].add_user_as_participant("Advertiser", AGENCY, [P.VIEW_OVERLAP])

    # The agency bypasses the SDK's check: a request that says the colleague joins the
    # advertiser's group, asked by someone without MANAGE_USERS there, granting more than it
    # says. The core accepts the request (it is only a request); the approvers' SDK refuses it.
    note = MembershipChange("advertiser", COLLEAGUE, (P.VIEW_OVERLAP,)).note()
    forged = (
        rooms[AGENCY]
        .dcr.build_request()
        .add_participant(COLLEAGUE, analyst_of=["overlap_statistics", "audience_user_list"])
        .with_note(note)
        .submit()
    )
    (pending,) = rooms[PUBLISHER].get_membership_requests()
    assert pending.request.id == forged.id
    assert not pending.sound
    with pytest.raises(PermissionDeniedError, match="not a sound membership change"):
        rooms[PUBLISHER].approve_membership_request(forged.id)
    forged.reject("not from the advertiser")
    # Asked by the advertiser's manager this time, but granting more than the note says.
    more = (
        rooms[ADVERTISER]
        .dcr.build_request()
        .add_participant(COLLEAGUE, analyst_of=["overlap_statistics", "audience_user_list"])
        .with_note(note)
        .submit()
    )
    (pending,) = rooms[PUBLISHER].get_membership_requests()
    assert (pending.request.id, pending.sound) == (more.id, False)
    with pytest.raises(PermissionDeniedError, match="not a sound membership change"):
        rooms[PUBLISHER].approve_membership_request(more.id)
    more.reject("withdrawn")

    # The advertiser cannot leave its own group's seed audiences without an owner.
    with pytest.raises(DefinitionError, match="keep none of its owners"):
        rooms[ADVERTISER].remove_user_from_participant("Advertiser", ADVERTISER)


def test_the_exported_activation_column_is_one_the_room_agreed(setup: Setup) -> None:
    rooms = room(setup, "activation")
    shop = rooms[ADVERTISER]
    with pytest.raises(DefinitionError, match="not an activation identifier"):
        shop.set_activation_id("email")
    shop.set_activation_id("userId")
    users = shop.get_audience_user_list(REMARKETING.build()).wait_for_completion(300).result()
    assert set(users) == {f"u{u}" for u in range(0, 1000, 2)}


def test_the_cli_adds_approves_integrates_and_lists_members(setup: Setup) -> None:
    rooms = room(setup, "members cli")
    room_id = rooms[PUBLISHER].id
    refused = setup.cli(
        AGENCY,
        "media",
        "members",
        "add",
        room_id,
        COLLEAGUE,
        "--permission",
        "VIEW_OVERLAP",
        check=False,
    )
    assert refused.returncode == 1
    assert "lacks MANAGE_USERS" in refused.stderr
    assert "Traceback" not in refused.stderr
    bad = setup.cli(
        ADVERTISER,
        "media",
        "members",
        "add",
        room_id,
        COLLEAGUE,
        "--permission",
        "VIEW_EVERYTHING",
        check=False,
    )
    assert bad.returncode == 2
    assert "is not one of" in bad.stderr

    asked = json.loads(
        setup.cli(
            ADVERTISER,
            "media",
            "members",
            "add",
            room_id,
            COLLEAGUE,
            "--permission",
            "view_overlap",
            "--json",
        ).stdout
    )
    assert (asked["action"], asked["email"], asked["permissions"]) == (
        "add",
        COLLEAGUE,
        ["VIEW_OVERLAP"],
    )
    assert asked["sound"] is True
    listed = setup.cli(PUBLISHER, "media", "members", "list", room_id).stdout
    assert f"add {COLLEAGUE} (VIEW_OVERLAP) to Advertiser, asked by {ADVERTISER}" in listed
    for email in (PUBLISHER, ADVERTISER):
        setup.cli(email, "media", "members", "approve", room_id, asked["id"][:12])
    done = setup.cli(ADVERTISER, "media", "members", "integrate", room_id, asked["id"][:12])
    assert f"{COLLEAGUE} joined Advertiser" in done.stdout

    groups = json.loads(setup.cli(AGENCY, "media", "members", "list", room_id, "--json").stdout)
    advertiser = next(g for g in groups["groups"] if g["id"] == "advertiser")
    assert advertiser["emails"] == [ADVERTISER, COLLEAGUE]
    assert advertiser["memberPermissions"] == {COLLEAGUE: ["VIEW_OVERLAP"]}
    assert groups["requests"] == []
    # The colleague's own permissions, not the group's: overlap yes, export no.
    setup.cli(COLLEAGUE, "media", "overlap", room_id)
    export = setup.cli(COLLEAGUE, "media", "export", room_id, "seed:buyers", check=False)
    assert export.returncode == 1
    assert "lacks EXPORT_AUDIENCE" in export.stderr

    wrong = setup.cli(
        ADVERTISER,
        "media",
        "export",
        room_id,
        "seed:buyers",
        "--activation-id",
        "email",
        check=False,
    )
    assert wrong.returncode == 2
    assert "not an activation identifier" in wrong.stderr


def test_the_docs_members_example_runs(setup: Setup) -> None:
    markdown = (Path(__file__).resolve().parents[2] / "docs" / "media.md").read_text()
    section = markdown.split("### People join and leave", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    rooms = room(setup, "members docs")
    namespace: dict[str, object] = {
        "shop": rooms[ADVERTISER],
        "news": rooms[PUBLISHER],
        "Permission": Permission,
    }
    exec(compile(code, "docs/media.md", "exec"), namespace)  # the docs example, verbatim
    groups = rooms[PUBLISHER].refresh().get_participants()
    assert COLLEAGUE in next(g for g in groups if g.id == "advertiser").emails
    # The last line asked for the colleague to leave: a sound request, waiting for approvals.
    (leaving,) = rooms[PUBLISHER].get_membership_requests()
    assert leaving.change == MembershipChange("advertiser", COLLEAGUE)
    assert leaving.sound
