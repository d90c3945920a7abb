"""What a server shows of a room's requests and commits, checked before the SDK or the CLI
shows it: the one verifier of :mod:`sealroom.analytics` (``AnalyticsDcr.get_commits``,
``SubmittedRequest``) and of ``sealroom request …``.

The host relays requests and commits from the core and may rewrite any of it. What it cannot
rewrite unseen, and what stays its word:

Integrated commits (:func:`retrieve_verified_commits`) are verified whole: each is the core's
signed record of the room's ``seq``-th commit, in canonical form, of this room, built on the
history pin before it, and the last one's pin is the one in the room's signed current state, so
a commit altered, listed out of order, or dropped from the end is refused. The host's plain
copies beside each commit (id, seq, note, requester, nodes, analysts, pin) must match it.
``integrated_by`` and ``integrated_at_ms`` are the host's word: the core's signature does not
cover them (the room's audit log, verified by ``retrieve_audit_log``, records both). The
requester a signed commit names is the user the core saw submit it, as the host's
authentication told the core (until participants sign their own requests, issue 16).

A request (:func:`verify_request`) is not signed by the core, only named by its commit:

* verified: the commit hashes to the request id (the id the core signs an approval for and
  integrates), names this room, and is well formed; so its requester, note, history pin,
  computations and analysts are the ones an approval approves. The host's copies of these
  beside the commit must match it.
* verified when the SDK holds a verified definition containing everything the commit reads
  (always, except for a closed request whose computations share a name with computations
  integrated since): the approver groups, i.e. the data nodes the request reads and their
  owners, computed here by the core's rule (:func:`sealroom.model.commits.approver_groups`)
  and compared with the host's. Commits only add nodes and never grant data ownership, so any
  later definition gives the groups the core computed on the request's own history.
* the host's word: that the request exists at all (the host can show a request nobody
  submitted, with any requester and note, under the new id its commit hashes to: nothing the
  core signs reaches the SDK for a request before it is integrated, and the core itself learns
  who submits from the host's authentication), its status, the approvals and when they were
  given (the core signs approvals, but keeps the signatures), what it still waits for, its
  rejection and its times. The core enforces all of these itself: a request, approval or
  integration the host invents does not count.

Nothing here does network or disk work except :func:`retrieve_verified_commits`, which reads
through a session (itself verifying the room's definition and signed state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sealroom.crypto import VerifyKey
from sealroom.crypto.canonical import canonical_json
from sealroom.errors import DefinitionError, VerificationError
from sealroom.model.commits import (
    ApproverGroup,
    Commit,
    apply_commit,
    approver_groups,
    initial_history_pin,
    parse_commit,
    verify_history,
)
from sealroom.model.definition import RoomDefinition
from sealroom.model.principal import normalise_email

if TYPE_CHECKING:
    from sealroom.client import Session

__all__ = [
    "HISTORY_READ_ATTEMPTS",
    "VerifiedCommit",
    "VerifiedRequest",
    "derive_approver_groups",
    "retrieve_verified_commits",
    "verified_commit",
    "verify_commit_listing",
    "verify_request",
]

#: Reads of a room's commit list and of its verified history: one commit integrated between
#: the two makes them differ once; differing again is not a race but a host that lies.
HISTORY_READ_ATTEMPTS = 2


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose commit is the one its id names, in its room (built only by
    :func:`verify_request`; see the module docstring for what is verified and what is not).

    ``data`` is the host's reply, its copies of the commit's fields checked against the commit;
    ``approver_groups`` are the checked groups, ``None`` when they could not be derived (then
    ``data["approver_groups"]`` is the host's word).
    """

    data: Mapping[str, Any]
    commit: Commit
    approver_groups: tuple[ApproverGroup, ...] | None


@dataclass(frozen=True)
class VerifiedCommit:
    """The room's ``seq``-th integrated commit, signed by the core and on the room's signed
    history (built only by :func:`verify_commit_listing`)."""

    seq: int
    commit: Commit
    #: The history pin after this commit.
    history_pin: str
    #: The host's listing entry, its copies of the commit's fields checked against it.
    entry: Mapping[str, Any]

    @property
    def integrated_by(self) -> str:
        """Who integrated it: the host's word (the audit log records it)."""
        return str(self.entry["integrated_by"])

    @property
    def integrated_at_ms(self) -> int:
        """When it was integrated: the host's word (the audit log records it)."""
        return int(self.entry["integrated_at_ms"])


# -- requests -----------------------------------------------------------------------------
def verified_commit(room_id: str, data: Mapping[str, Any]) -> Commit:
    """The commit a request proposes, checked to be the one its id names, in this room."""
    commit = parse_commit(data["commit"])
    # The core approves and integrates the commit whose hash is the id: a commit shown with
    # another hash is not what an approval would approve.
    if commit.commit_id != data["id"] or commit.room_id != room_id:
        raise VerificationError(
            f"the server showed request {_shown(data['id'])} of room {room_id} "
            "with a commit that is not that request's: do not approve it"
        )
    return commit


def verify_request(
    room_id: str,
    data: Mapping[str, Any],
    definition: RoomDefinition | None = None,
    history_pin: str | None = None,
) -> VerifiedRequest:
    """Check a request the host shows (``data``, as the API returns it) for room ``room_id``.

    1. Its commit hashes to its id and names this room (:func:`verified_commit`): what an
       approver reads is what the core approves and integrates.
    2. The host's copies of the commit's fields (room, requester, note, history pin) are the
       commit's: a rewritten copy beside a genuine commit is not shown.
    3. With ``definition``, the verified current definition of the room at ``history_pin``,
       the approver groups of a request built on that history are derived by the core's rule
       and must be the host's: a host cannot hide an affected data node or name another owner.
    """
    commit = verified_commit(room_id, data)
    request_id = commit.commit_id
    copies: dict[str, object] = {
        "room_id": commit.room_id,
        "note": commit.note,
        "history_pin": commit.history_pin,
    }
    for field, expected in copies.items():
        if field in data and data[field] != expected:
            raise _altered_request(room_id, request_id, field)
    # The core records the authenticated submitter, whose email it checked the commit names
    # (in any case).
    shown_requester = normalise_email(str(data.get("requester", commit.requester)))
    if shown_requester != normalise_email(commit.requester):
        raise _altered_request(room_id, request_id, "requester")
    groups = (
        None
        if definition is None or history_pin is None
        else derive_approver_groups(definition, history_pin, commit)
    )
    if groups is not None and "approver_groups" in data:
        shown = [(str(g["node"]), tuple(map(str, g["approvers"]))) for g in data["approver_groups"]]
        if shown != [(g.node, g.approvers) for g in groups]:
            raise _altered_request(room_id, request_id, "approver groups")
    return VerifiedRequest(data, commit, None if groups is None else tuple(groups))


def derive_approver_groups(
    definition: RoomDefinition, history_pin: str, commit: Commit
) -> list[ApproverGroup] | None:
    """The approver groups of ``commit``, by the core's rule, when it was built on the history
    whose verified current definition is ``definition`` (pin ``history_pin``); ``None`` for a
    commit built on another history (commits add data owners and withdraw roles, so the owners
    of a node at another point of the history may differ: the caller may read the room again).
    """
    if commit.history_pin != history_pin:
        return None
    try:
        return approver_groups(apply_commit(definition, commit), commit)
    except DefinitionError:
        return None


def _altered_request(room_id: str, request_id: str, what: str) -> VerificationError:
    return VerificationError(
        f"the server showed request {request_id} of room {room_id} with {what} that its "
        "commit does not have: do not act on it"
    )


# -- integrated commits ---------------------------------------------------------------------
def verify_commit_listing(
    room_id: str, listed: Sequence[Mapping[str, Any]], verify_key: VerifyKey
) -> list[VerifiedCommit]:
    """Check the commits a server lists for a room (as ``GET …/commits`` returns them).

    1. Each is the core's signed record of the room's ``seq``-th commit, canonical, of this
       room, built on the pin before it (:func:`sealroom.model.commits.verify_history`):
       prevents altered, reordered or inserted commits.
    2. Its listed ``seq`` and ``id`` are its place and hash, and the host's copies of its
       fields are the commit's.

    A prefix of the history passes this alone: :func:`retrieve_verified_commits` compares the
    last pin with the room's signed state (prevents dropping the last commits).
    """
    commits, pins = verify_history(
        room_id,
        [canonical_json(entry["commit"]) for entry in listed],
        [bytes.fromhex(str(entry["signature"])) for entry in listed],
        verify_key,
        what="listed commit",
    )
    verified = []
    for seq, (entry, commit) in enumerate(zip(listed, commits, strict=True), start=1):
        if (entry["seq"], entry["id"]) != (seq, commit.commit_id):
            raise VerificationError(
                f"commit {seq} listed for room {room_id} is not on the room's history"
            )
        copies: dict[str, object] = {
            "note": commit.note,
            "requester": commit.requester,
            "nodes": [node.name for node in commit.nodes],
            "analysts": [grant.model_dump(mode="json") for grant in commit.analysts],
            "history_pin": pins[seq],
        }
        for field, expected in copies.items():
            if field in entry and entry[field] != expected:
                raise VerificationError(
                    f"commit {seq} listed for room {room_id} is shown with a {field} that the "
                    "core's signed commit does not have"
                )
        verified.append(VerifiedCommit(seq, commit, pins[seq], entry))
    return verified


def retrieve_verified_commits(session: Session, room_id: str) -> list[VerifiedCommit]:
    """The commits integrated into a room, in order, verified (:func:`verify_commit_listing`)
    and chaining to the history pin of the room's verified current state, so that none is
    missing at the end."""
    for _ in range(HISTORY_READ_ATTEMPTS):
        # The list first: a commit integrated in between then only lengthens the verified
        # history, and the next attempt reads both again.
        listed = session.retrieve_commits(room_id)
        # Verified: the definition hashes to the id, the core signed it, every commit, and
        # the room state naming the pin of the whole history.
        _, verified_pin = session.retrieve_current_data_room_configuration(room_id)
        verified = verify_commit_listing(room_id, listed, session.attestation.verify_key)
        last_pin = verified[-1].history_pin if verified else initial_history_pin(room_id)
        if last_pin == verified_pin:
            return verified
    raise VerificationError(
        f"the commits listed for room {room_id} are not the room's verified history"
    )


def _shown(value: object) -> str:
    """An id as the host sent it, safe to print: anything but lowercase hex is shown escaped."""
    text = str(value)
    return text if text.isalnum() and text.isascii() else ascii(text)
