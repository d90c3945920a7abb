"""Commits: how an interactive room changes after publication, and who must agree.

A room's *current* definition is its published definition (whose hash is the room id, forever)
followed by its integrated commits, in order. A commit is what a request proposes::

    commit    = canonical JSON {"version": 2, "room_id", "history_pin", "requester", "note",
                                "nodes": [compute node, ...],
                                "analysts": [{email, analyst_of, key, root}],
                                "identities": [{email, key, root}]}
    commit id = SHA-256(commit)
    pin_0     = SHA-256("sealroom/history-pin/v1" || room id)
    pin_k     = SHA-256("sealroom/history-pin/v1" || pin_{k-1} || commit id_k)

Invariants (enforced by :func:`apply_commit`, raised as :class:`DefinitionError`):

* A commit only **adds**: new compute nodes, and analysts (new participants or new
  ``analyst_of`` roles). It never adds a data node, never grants data-owner rights or explicit
  permissions, never changes or removes an existing node, and never touches room settings.
  The one thing it may change is how the room recognises an existing participant (a new pinned
  key or trust root of the room, after a key was lost or rotated) — never its requester's own.
* A commit names the history pin it was built on; it applies only on top of exactly that
  history (optimistic concurrency: of two requests built on the same pin, the first integrated
  wins and the other is superseded).
* The approvers of a commit are the data owners of every data node that any computation it adds
  or opens to a new analyst reads, directly or through other computations
  (:func:`approver_groups`): one owner per such node suffices, every such node must approve.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sealroom.crypto import VerifyKey
from sealroom.crypto.canonical import canonical_json, sha256_hex
from sealroom.errors import DefinitionError, VerificationError
from sealroom.model.definition import (
    Email,
    Node,
    NodeName,
    Participant,
    RawNode,
    RoomDefinition,
    TableNode,
    effective_permissions,
    first_validation_error,
    rebuild_definition,
)
from sealroom.model.identities import FINGERPRINT_PATTERN, Identity
from sealroom.model.permissions import PermissionKind
from sealroom.model.principal import normalise_email

__all__ = [
    "MAX_COMMIT_ANALYSTS",
    "MAX_COMMIT_NODES",
    "AnalystGrant",
    "ApproverGroup",
    "Commit",
    "affected_data_nodes",
    "apply_commit",
    "apply_commits",
    "approval_message",
    "approver_groups",
    "commit_record_message",
    "history_pins",
    "initial_history_pin",
    "next_history_pin",
    "parse_commit",
    "verify_history",
]

_PIN_DOMAIN = b"sealroom/history-pin/v1"
_APPROVAL_DOMAIN = b"sealroom/commit-approval/v1"
_RECORD_DOMAIN = b"sealroom/room-commit/v1"
_HEX64 = r"^[0-9a-f]{64}$"
#: What a request may say of an analyst it adds.
_GRANT_FIELDS = frozenset({"email", "analyst_of", "key", "root"})

#: Bounds of one request: a request is reviewed by people, so it stays small.
MAX_COMMIT_NODES = 20
MAX_COMMIT_ANALYSTS = 100
MAX_NOTE_CHARS = 2_000


class AnalystGrant(BaseModel):
    """``email`` becomes analyst of ``analyst_of`` (compute nodes, new or existing).

    A new participant comes with how the room will recognise them — a pinned key or one of the
    room's trust roots (:mod:`sealroom.model.identities`); a participant already in the room
    keeps the identity they have.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: Email
    analyst_of: tuple[NodeName, ...] = Field(min_length=1, max_length=50)
    key: str | None = Field(default=None, pattern=FINGERPRINT_PATTERN)
    root: str | None = Field(default=None, min_length=1, max_length=40)


class Commit(BaseModel):
    """A proposed change of a room, built on one history pin."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[2] = 2
    room_id: str = Field(pattern=_HEX64)
    history_pin: str = Field(pattern=_HEX64)
    requester: Email
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)
    nodes: tuple[Node, ...] = Field(default=(), max_length=MAX_COMMIT_NODES)
    analysts: tuple[AnalystGrant, ...] = Field(default=(), max_length=MAX_COMMIT_ANALYSTS)
    #: New identities of participants already in the room: how a lost or rotated key is
    #: replaced in a room that pins keys (see :func:`approver_groups` for who approves).
    identities: tuple[Identity, ...] = Field(default=(), max_length=MAX_COMMIT_ANALYSTS)

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    @property
    def commit_id(self) -> str:
        return sha256_hex(self.canonical_bytes())

    def granted_nodes(self) -> list[str]:
        """The computations this commit opens: those it adds, and those it adds analysts to."""
        names = [node.name for node in self.nodes]
        for grant in self.analysts:
            names.extend(name for name in grant.analyst_of if name not in names)
        return names


def parse_commit(data: object) -> Commit:
    """Parse a commit received from outside, with a clear refusal of what a request may not do."""
    if isinstance(data, Mapping):
        for grant in data.get("analysts") or ():
            if isinstance(grant, Mapping) and set(grant) - _GRANT_FIELDS:
                extra = sorted(set(grant) - _GRANT_FIELDS)
                raise DefinitionError(
                    f"a request can only add analysts; it can never grant {', '.join(extra)} "
                    f"(asked for {grant.get('email')!r})"
                )
    try:
        return Commit.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(f"invalid request: {first_validation_error(exc)}") from None


# -- history pins ---------------------------------------------------------------------------
def initial_history_pin(room_id: str) -> str:
    return sha256_hex(_PIN_DOMAIN + room_id.encode())


def next_history_pin(pin: str, commit_id: str) -> str:
    return sha256_hex(_PIN_DOMAIN + bytes.fromhex(pin) + bytes.fromhex(commit_id))


def history_pins(room_id: str, commit_ids: Iterable[str]) -> list[str]:
    """``[pin_0, pin_1, ...]``: the pin before any commit, then after each."""
    pins = [initial_history_pin(room_id)]
    for commit_id in commit_ids:
        pins.append(next_history_pin(pins[-1], commit_id))
    return pins


def approval_message(room_id: str, commit_id: str, history_pin: str, approver: str) -> bytes:
    """What the core signs when ``approver`` approves a commit (domain-separated)."""
    return (
        b"/".join((_APPROVAL_DOMAIN, room_id.encode(), commit_id.encode(), history_pin.encode()))
        + b"/"
        + normalise_email(approver).encode()
    )


def commit_record_message(room_id: str, sequence: int, commit: bytes, pin_after: str) -> bytes:
    """What the core signs when it integrates ``commit`` as the room's ``sequence``-th (from 1)."""
    return (
        _RECORD_DOMAIN
        + room_id.encode()
        + b"/"
        + str(sequence).encode()
        + b"/"
        + pin_after.encode()
        + b"/"
        + commit
    )


def verify_history(
    room_id: str,
    commits: Sequence[bytes],
    signatures: Sequence[bytes],
    verify_key: VerifyKey,
    *,
    what: str = "commit",
) -> tuple[list[Commit], list[str]]:
    """Parse a room's integrated commits, in order, checking each is canonical, of this room,
    built on the pin before it and signed by the core as the room's ``seq``-th commit.

    Returns the commits and ``[pin_0, pin_1, ...]``. :class:`VerificationError` names the
    first that is not (as ``"room R: <what> N was altered"``). The core checks what its host
    stores with it, the SDK and the CLI what a server sends.
    """
    pins = [initial_history_pin(room_id)]
    parsed = []
    for seq, (raw, signature) in enumerate(zip(commits, signatures, strict=True), start=1):
        altered = VerificationError(f"room {room_id}: {what} {seq} was altered")
        try:
            commit = parse_commit(json.loads(raw))
            pin = next_history_pin(pins[-1], commit.commit_id)
            verify_key.verify(commit_record_message(room_id, seq, raw, pin), signature)
        except (VerificationError, DefinitionError, ValueError):
            raise altered from None
        if (
            commit.canonical_bytes() != raw
            or commit.room_id != room_id
            or commit.history_pin != pins[-1]
        ):
            raise altered
        parsed.append(commit)
        pins.append(pin)
    return parsed, pins


# -- applying -------------------------------------------------------------------------------
def apply_commit(definition: RoomDefinition, commit: Commit) -> RoomDefinition:
    """The definition with ``commit`` applied; :class:`DefinitionError` if it may not apply."""
    existing = {node.name.lower(): node for node in definition.nodes}
    for node in commit.nodes:
        if isinstance(node, TableNode | RawNode):
            raise DefinitionError(
                f"a request can only add computations; {node.name!r} is a {node.kind} data node "
                "(data nodes are agreed when the room is created)"
            )
        if node.name.lower() in existing:
            raise DefinitionError(
                f"a request can never change an existing node: {node.name!r} is already in the "
                "room; give the new computation another name"
            )
    if not commit.nodes and not commit.analysts and not commit.identities:
        raise DefinitionError(
            "the request adds nothing: add a computation or an analyst, or change how the room "
            "recognises a participant"
        )
    participants = list(definition.participants)
    identities = list(definition.identities)
    for grant in commit.analysts:
        index = next(
            (
                i
                for i, p in enumerate(participants)
                if normalise_email(p.email) == normalise_email(grant.email)
            ),
            None,
        )
        is_new = index is None and not definition.is_participant(grant.email)
        if is_new != (grant.key is not None or grant.root is not None):
            raise DefinitionError(
                f"{grant.email}: a new participant comes with a pinned key or a trust root, and "
                "a participant of the room keeps theirs"
                if is_new
                else f"{grant.email} is already a participant: a request cannot change how the "
                "room recognises them"
            )
        if is_new:
            identities.append(Identity(email=grant.email, key=grant.key, root=grant.root))
        if index is None:
            participants.append(Participant(email=grant.email, analyst_of=grant.analyst_of))
            continue
        current = participants[index]
        added = tuple(n for n in grant.analyst_of if n not in current.analyst_of)
        participants[index] = current.model_copy(update={"analyst_of": current.analyst_of + added})
    return rebuild_definition(
        definition,
        "the room would be invalid",
        nodes=definition.nodes + commit.nodes,
        participants=tuple(participants),
        identities=tuple(_rebind(definition, identities, commit)),
    )


def _rebind(
    definition: RoomDefinition, identities: list[Identity], commit: Commit
) -> list[Identity]:
    """``identities`` with the commit's new identities of existing participants in place."""
    for new in commit.identities:
        index = next(
            (
                i
                for i, known in enumerate(identities)
                if normalise_email(known.email) == normalise_email(new.email)
            ),
            None,
        )
        if index is None or not definition.is_participant(new.email):
            raise DefinitionError(
                f"{new.email} is not a participant of the room: a request changes how the room "
                "recognises its participants, and adds new ones as analysts"
            )
        if identities[index] == new:
            raise DefinitionError(f"the room already recognises {new.email} this way")
        identities[index] = new
    if not _nobody_rebinds_themselves(definition, commit):
        raise DefinitionError("a request cannot change how the room recognises its own requester")
    if commit.identities:
        approved_for = {group.node for group in approver_groups(definition, commit)}
        owned = {
            p.node
            for email in definition.participant_emails()
            for p in effective_permissions(definition, email)
            if p.kind is PermissionKind.LEAF_CRUD and p.node is not None
        }
        orphaned = sorted(name for name in owned if name not in approved_for)
        if orphaned:
            raise DefinitionError(
                "nobody else could approve changing how the room recognises "
                + ", ".join(i.email for i in commit.identities)
                + f" for data node(s) {', '.join(orphaned)}: only they own them, and the room's "
                "owner is among them; publish a new room"
            )
    return identities


def _nobody_rebinds_themselves(definition: RoomDefinition, commit: Commit) -> bool:
    # The requester signs the request with the key the room recognises now; a request that
    # changes that very binding would let a stolen key replace itself.
    return not any(
        normalise_email(i.email) == normalise_email(commit.requester) for i in commit.identities
    )


def apply_commits(definition: RoomDefinition, commits: Sequence[Commit]) -> RoomDefinition:
    for commit in commits:
        definition = apply_commit(definition, commit)
    return definition


# -- approvers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApproverGroup:
    """The data owners of one affected data node: any one of them approves for the node."""

    node: str
    approvers: tuple[str, ...]


def affected_data_nodes(applied: RoomDefinition, commit: Commit) -> list[str]:
    """The data nodes read by a computation the commit opens (in ``applied``, the definition
    with the commit applied), directly or through other computations, each once."""
    affected: list[str] = []
    for name in commit.granted_nodes():
        for data in applied.data_inputs(name):
            if data.name not in affected:
                affected.append(data.name)
    return affected


def approver_groups(applied: RoomDefinition, commit: Commit) -> list[ApproverGroup]:
    """One group per affected data node that has an owner (a node nobody owns holds no data).

    A commit that changes how the room recognises participants affects every data node: a key
    that becomes theirs acts as them. Each node's group is then its owners other than those
    participants — or, where they are its only owners, the room's owner if not among them (a
    node with neither has no group: :func:`apply_commit` refuses such a commit).
    """
    groups = []
    emails = applied.participant_emails()
    rebound = {normalise_email(i.email) for i in commit.identities}
    names = affected_data_nodes(applied, commit)
    if rebound:
        names += [n.name for n in applied.nodes if isinstance(n, TableNode | RawNode)]
    for name in dict.fromkeys(names):
        owners = tuple(
            email
            for email in emails
            if any(
                p.kind is PermissionKind.LEAF_CRUD and p.node == name
                for p in effective_permissions(applied, email)
            )
        )
        if rebound and owners:
            others = tuple(e for e in owners if normalise_email(e) not in rebound)
            fallback = () if normalise_email(applied.owner) in rebound else (applied.owner,)
            owners = others or fallback
        if owners:
            groups.append(ApproverGroup(node=name, approvers=owners))
    return groups
