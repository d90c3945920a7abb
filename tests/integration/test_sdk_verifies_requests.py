"""The SDK verifies the requests and commits it shows (issue 15, item 6), against a real
``sealroom serve`` with a host in the middle rewriting its answers.

``AnalyticsDcr.get_commits()`` shows only the core's signed commits, in order, up to the pin of
the room's signed state; ``SubmittedRequest`` shows the owner, note and scope of the commit
that hashes to the request's id, and approver groups derived from the room's verified
definition. What stays the host's word (a request's existence and state, who integrated a
commit and when) is shown as such in the last test, with the core refusing to act on it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import AnalyticsDcr, Commit, RequestScope, SubmittedRequest
from sealroom.analytics._requests import ApproverGroup
from sealroom.errors import NotFoundError, VerificationError
from sealroom.model.commits import parse_commit
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    ServerProcess,
    start_server,
    stop_server,
)
from tests.integration.test_host_in_the_middle import Host, client_for
from tests.integration.test_interactive_rooms import _overlap_request, _three_parties

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

Rewrite = Callable[[Any], Any]


@dataclass
class Room:
    """Three parties' views of one room with two integrated commits and a pending request;
    every client talks through its own host in the middle."""

    id: str
    dcrs: dict[str, AnalyticsDcr]
    hosts: dict[str, Host]
    integrated: list[str]
    pending: str

    def rewrite(self, email: str, path: str, change: Rewrite) -> None:
        """Make ``email``'s host pass every JSON answer to ``GET path`` through ``change``."""

        def hook(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
            if request.method != "GET" or request.url.path != path:
                return None
            return httpx.Response(response.status_code, json=change(json.loads(response.content)))

        self.hosts[email].response_hooks.append(hook)

    def rewrite_request(self, email: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Rewrite the pending request wherever ``email``'s host serves it (alone or listed)."""

        def one(body: dict[str, Any]) -> dict[str, Any]:
            if body.get("id") == self.pending:
                change(body)
            return body

        self.rewrite(email, f"/v1/rooms/{self.id}/requests/{self.pending}", one)
        self.rewrite(
            email, f"/v1/rooms/{self.id}/requests", lambda listed: [one(r) for r in listed]
        )


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    root = tmp_path_factory.mktemp("sdk-verifies-requests")
    server: ServerProcess = start_server(root)
    try:
        tokens = {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}
        hosts = {email: Host() for email in tokens}
        clients: dict[str, sr.Client] = {
            email: client_for(server, email, tokens[email], hosts[email], root / email)
            for email in tokens
        }
        dcrs = _three_parties(lambda email: clients[email])
        integrated = []
        for name in ("overlap", "overlap_again"):
            request = cast(SubmittedRequest, _overlap_request(dcrs[ANALYST], name))
            for owner in (BANK, INSURER):
                dcrs[owner].get_submitted_request(request.id).approve()
            integrated.append(request.integrate().id)
        pending = cast(SubmittedRequest, _overlap_request(dcrs[ANALYST], "pending"))
        yield Room(dcrs[BANK].id, dcrs, hosts, integrated, pending.id)
    finally:
        stop_server(server)


@pytest.fixture(autouse=True)
def honest_hosts(room: Room) -> Iterator[None]:
    yield
    for host in room.hosts.values():
        host.response_hooks.clear()


# -- honest use: the same objects as before ------------------------------------------------------
def test_honest_answers_give_the_objects_the_host_sent(room: Room) -> None:
    bank = room.dcrs[BANK]
    listed = bank.session.retrieve_commits(room.id)
    # What get_commits() returned when it showed the host's answer unchecked.
    assert bank.get_commits() == [
        Commit(
            id=str(c["id"]),
            name=str(c["note"]),
            nodes=tuple(c["nodes"]),
            seq=int(c["seq"]),
            requester=str(c["requester"]),
            integrated_by=str(c["integrated_by"]),
            integrated_at_ms=int(c["integrated_at_ms"]),
        )
        for c in listed
    ]
    assert [(c.seq, c.id, c.nodes, c.name, c.requester) for c in bank.get_commits()] == [
        (1, room.integrated[0], ("overlap",), "please add overlap", ANALYST),
        (2, room.integrated[1], ("overlap_again",), "please add overlap_again", ANALYST),
    ]

    raw = bank.session.retrieve_request(room.id, room.pending)
    listed_requests = bank.get_submitted_requests()
    assert sorted(r.id for r in listed_requests) == sorted([*room.integrated, room.pending])
    for request in (
        bank.get_submitted_request(room.pending),
        next(r for r in listed_requests if r.id == room.pending),
    ):
        assert request.id == raw["id"] == room.pending
        assert request.owner == raw["requester"] == ANALYST
        assert request.note == raw["note"] == "please add pending"
        assert request.enclave_configuration_pin == raw["history_pin"]
        assert request.scope == RequestScope(
            computations=tuple(node["name"] for node in raw["commit"]["nodes"]),
            analysts={g["email"]: tuple(g["analyst_of"]) for g in raw["commit"]["analysts"]},
            dependencies=tuple(g["node"] for g in raw["approver_groups"]),
        )
        dependencies = ("customers", "policies")
        assert request.scope == RequestScope(("pending",), {ANALYST: ("pending",)}, dependencies)
        assert request.approver_groups == [
            ApproverGroup("customers", (BANK,)),
            ApproverGroup("policies", (INSURER,)),
        ]
    # Integrated requests verify too: their approver groups from the definition holding them.
    done = bank.get_submitted_request(room.integrated[0])
    assert done.scope.dependencies == ("customers", "policies")


# -- integrated commits --------------------------------------------------------------------------
def _swap_first_two(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [listed[1], listed[0], *listed[2:]]


def _commit_note(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    listed[0]["commit"]["note"] = "nothing to see"
    listed[0]["note"] = "nothing to see"
    return listed


def _plain_note(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    listed[0]["note"] = "nothing to see"
    return listed


def _plain_nodes(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    listed[1]["nodes"] = ["harmless"]
    return listed


def _commit_query(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    listed[1]["commit"]["nodes"][0]["query"] = "SELECT * FROM customers"
    return listed


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (_commit_note, "listed commit 1 was altered"),
        (_commit_query, "listed commit 2 was altered"),
        (_plain_note, "commit 1 listed for room .* is shown with a note"),
        (_plain_nodes, "commit 2 listed for room .* is shown with a nodes"),
        (_swap_first_two, "listed commit 1 was altered"),
        (lambda listed: listed[:-1], "are not the room's verified history"),
        (lambda listed: [], "are not the room's verified history"),
    ],
    ids=["content", "query", "note-copy", "nodes-copy", "order", "drop-last", "drop-all"],
)
def test_a_rewritten_commit_list_is_refused(room: Room, change: Rewrite, refusal: str) -> None:
    room.rewrite(INSURER, f"/v1/rooms/{room.id}/commits", change)
    with pytest.raises(VerificationError, match=refusal):
        room.dcrs[INSURER].get_commits()


# -- requests ------------------------------------------------------------------------------------
def _set_note(body: dict[str, Any]) -> None:
    body["note"] = "routine maintenance"


def _set_commit_note(body: dict[str, Any]) -> None:
    body["note"] = body["commit"]["note"] = "routine maintenance"


def _set_requester(body: dict[str, Any]) -> None:
    body["requester"] = INSURER


def _set_commit_requester(body: dict[str, Any]) -> None:
    body["requester"] = body["commit"]["requester"] = INSURER


def _set_query(body: dict[str, Any]) -> None:
    body["commit"]["nodes"][0]["query"] = "SELECT * FROM customers"


def _set_analyst(body: dict[str, Any]) -> None:
    body["commit"]["analysts"][0]["email"] = INSURER


def _drop_group(body: dict[str, Any]) -> None:
    body["approver_groups"] = body["approver_groups"][:1]
    body["missing_approvals"] = body["missing_approvals"][:1]


def _other_owner(body: dict[str, Any]) -> None:
    body["approver_groups"][1]["approvers"] = [ANALYST]


def _set_pin(body: dict[str, Any]) -> None:
    body["history_pin"] = "0" * 64


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (_set_note, "with note that its commit does not have"),
        (_set_commit_note, "not that request's"),
        (_set_requester, "with requester that its commit does not have"),
        (_set_commit_requester, "not that request's"),
        (_set_query, "not that request's"),
        (_set_analyst, "not that request's"),
        (_drop_group, "with approver groups that its commit does not have"),
        (_other_owner, "with approver groups that its commit does not have"),
        (_set_pin, "with history_pin that its commit does not have"),
    ],
    ids=[
        "note",
        "commit-note",
        "owner",
        "commit-owner",
        "scope-query",
        "scope-analyst",
        "scope-dependencies",
        "approvers",
        "pin",
    ],
)
def test_a_rewritten_request_is_refused(
    room: Room, change: Callable[[dict[str, Any]], None], refusal: str
) -> None:
    room.rewrite_request(BANK, change)
    bank = room.dcrs[BANK]
    with pytest.raises(VerificationError, match=refusal):
        bank.get_submitted_request(room.pending)
    with pytest.raises(VerificationError, match=refusal):
        bank.get_submitted_requests()


def test_a_request_answered_with_another_is_refused(room: Room) -> None:
    bank = room.dcrs[BANK]
    request = bank.get_submitted_request(room.pending)
    other = bank.session.retrieve_request(room.id, room.integrated[0])
    room.rewrite(BANK, f"/v1/rooms/{room.id}/requests/{room.pending}", lambda _: other)
    with pytest.raises(
        VerificationError, match=r"answered for request \w+ of room \w+ with another"
    ):
        request.refresh()
    assert request.note == "please add pending"


# -- what stays the host's word ------------------------------------------------------------------
def test_what_stays_the_hosts_word_is_shown_but_the_core_does_not_act_on_it(room: Room) -> None:
    """A request nobody submitted, its status, and who integrated a commit are the host's word
    (nothing the core signs covers them for the SDK): shown, and refused when acted on."""
    bank = room.dcrs[BANK]
    genuine = bank.session.retrieve_request(room.id, room.pending)
    forged = parse_commit(genuine["commit"]).model_copy(
        update={"requester": INSURER, "note": "approved by the board"}
    )
    invented = {
        **genuine,
        "id": forged.commit_id,
        "commit": forged.model_dump(mode="json"),
        "requester": INSURER,
        "note": forged.note,
        "status": "ready_to_integrate",
        "missing_approvals": [],
    }
    room.rewrite(BANK, f"/v1/rooms/{room.id}/requests", lambda listed: [*listed, invented])
    shown = bank.get_submitted_requests()[-1]
    assert (shown.owner, shown.note, shown.status.value) == (
        INSURER,
        "approved by the board",
        "ready_to_integrate",
    )
    with pytest.raises(NotFoundError):
        shown.integrate()

    def integrated_by(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        listed[0]["integrated_by"] = INSURER
        return listed

    room.rewrite(BANK, f"/v1/rooms/{room.id}/commits", integrated_by)
    assert bank.get_commits()[0].integrated_by == INSURER  # the audit log records the truth


def test_the_cli_verifier_is_the_sdks() -> None:
    """One verifier: the CLI names the SDK's functions, it has no copies of its own."""
    from sealroom.analytics import _verified
    from sealroom.cli import request_commands

    assert request_commands.verified_commit is _verified.verified_commit
    assert request_commands.retrieve_verified_commits is _verified.retrieve_verified_commits
    assert request_commands.verify_request is _verified.verify_request
    assert not hasattr(request_commands, "verified_commits")
