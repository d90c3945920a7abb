"""Commits: how an interactive room changes after publication, and who must agree.

A room's *current* definition is its published definition (whose hash is the room id, forever)
followed by its integrated commits, in order. A commit is what a request proposes::

    commit    = canonical JSON {"version": 2, "room_id", "history_pin", "requester", "note",
                                "nodes": [compute node, ...],
                                "analysts": [{email, analyst_of, key, root}],
                                "identities": [{email, key, root}],
                                "owners": [{email, data_owner_of, key, root}],    (when any)
                                "withdrawals": [{email, data_owner_of, analyst_of}]}  (when any)
    commit id = SHA-256(commit)
    pin_0     = SHA-256("sealroom/history-pin/v1" || room id)
    pin_k     = SHA-256("sealroom/history-pin/v1" || pin_{k-1} || commit id_k)

Invariants (enforced by :func:`apply_commit`, raised as :class:`DefinitionError`):

* A commit adds new compute nodes and analysts (new participants or new ``analyst_of`` roles).
  It never adds a data node, never grants explicit permissions, never changes or removes an
  existing node, and never touches room settings. It may also change how the room recognises an
  existing participant (a new pinned key or trust root of the room, after a key was lost or
  rotated) — never its requester's own.
* People, not nodes, come and go: a commit may make someone a data owner of an existing data
  node that has an owner (``owners``), and withdraw roles a participant holds (``withdrawals``:
  data owner or analyst of named nodes). It never leaves a data node that had an owner without
  one; a participant left with no role and no explicit permission leaves the room (their
  identity with them), except the room's owner.
* A commit names the history pin it was built on; it applies only on top of exactly that
  history (optimistic concurrency: of two requests built on the same pin, the first integrated
  wins and the other is superseded).
* The approvers of a commit are the data owners of every data node that any computation it adds,
  opens to a new analyst or withdraws from an analyst reads, directly or through other
  computations, and of every data node whose owners it changes (:func:`approver_groups`): one
  owner per such node suffices, every such node must approve. Nobody ever approves for a node
  the same commit makes them an owner of.
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
    "OwnerGrant",
    "Withdrawal",
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
#: What a request may say of an analyst it adds, of a data owner it adds, of a withdrawal.
_GRANT_FIELDS = frozenset({"email", "analyst_of", "key", "root"})
_OWNER_FIELDS = frozenset({"email", "data_owner_of", "key", "root"})
_WITHDRAWAL_FIELDS = frozenset({"email", "data_owner_of", "analyst_of"})
#: Lists a commit carries in its canonical form only when they are not empty (so that commits
#: made before they existed keep their ids).
_OPTIONAL_LISTS = ("owners", "withdrawals")

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


class OwnerGrant(BaseModel):
    """``email`` becomes a data owner of ``data_owner_of`` (data nodes already in the room, each
    with an owner: its current owners approve). New participants come as in :class:`AnalystGrant`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: Email
    data_owner_of: tuple[NodeName, ...] = Field(min_length=1, max_length=50)
    key: str | None = Field(default=None, pattern=FINGERPRINT_PATTERN)
    root: str | None = Field(default=None, min_length=1, max_length=40)


class Withdrawal(BaseModel):
    """``email`` stops being a data owner of ``data_owner_of`` and an analyst of ``analyst_of``
    (roles they hold; explicit permissions are the room's settings and stay)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    email: Email
    data_owner_of: tuple[NodeName, ...] = Field(default=(), max_length=50)
    analyst_of: tuple[NodeName, ...] = Field(default=(), max_length=50)


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
    #: New data owners of existing data nodes.
    owners: tuple[OwnerGrant, ...] = Field(default=(), max_length=MAX_COMMIT_ANALYSTS)
    #: Roles withdrawn from participants.
    withdrawals: tuple[Withdrawal, ...] = Field(default=(), max_length=MAX_COMMIT_ANALYSTS)

    def canonical_bytes(self) -> bytes:
        data = self.model_dump(mode="json")
        for name in _OPTIONAL_LISTS:
            if not data[name]:
                del data[name]
        return canonical_json(data)

    @property
    def commit_id(self) -> str:
        return sha256_hex(self.canonical_bytes())

    def granted_nodes(self) -> list[str]:
        """The computations this commit opens: those it adds, and those it adds analysts to."""
        names = [node.name for node in self.nodes]
        for grant in self.analysts:
            names.extend(name for name in grant.analyst_of if name not in names)
        return names

    def withdrawn_nodes(self) -> list[str]:
        """The computations this commit withdraws an analyst from."""
        names: list[str] = []
        for withdrawal in self.withdrawals:
            names.extend(name for name in withdrawal.analyst_of if name not in names)
        return names

    def ownership_changes(self) -> list[str]:
        """The data nodes whose owners this commit changes (adds to or withdraws from)."""
        names: list[str] = []
        changes: list[OwnerGrant | Withdrawal] = [*self.owners, *self.withdrawals]
        for change in changes:
            names.extend(name for name in change.data_owner_of if name not in names)
        return names

    def new_owners(self, node: str) -> set[str]:
        """Who this commit makes a data owner of ``node`` (normalised e-mails)."""
        return {
            normalise_email(grant.email) for grant in self.owners if node in grant.data_owner_of
        }


def parse_commit(data: object) -> Commit:
    """Parse a commit received from outside, with a clear refusal of what a request may not do."""
    if isinstance(data, Mapping):
        for field, allowed, what in (
            ("analysts", _GRANT_FIELDS, "an analyst grant"),
            ("owners", _OWNER_FIELDS, "a data-owner grant"),
            ("withdrawals", _WITHDRAWAL_FIELDS, "a withdrawal"),
        ):
            for grant in data.get(field) or ():
                if isinstance(grant, Mapping) and set(grant) - allowed:
                    extra = sorted(set(grant) - allowed)
                    raise DefinitionError(
                        f"{what} can never grant {', '.join(extra)} "
                        f"(asked for {grant.get('email')!r}): a request adds analysts and data "
                        "owners, and withdraws roles, each in its own list; explicit "
                        "permissions are agreed when the room is created"
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
    """The definition with ``commit`` applied; :class:`DefinitionError` if it may not apply.

    Withdrawals apply first, then analyst grants, then owner grants; a participant new to the
    room comes with their key or trust root in the first grant that names them.
    """
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
    if not (
        commit.nodes or commit.analysts or commit.identities or commit.owners or commit.withdrawals
    ):
        raise DefinitionError(
            "the request adds nothing: add a computation, an analyst or a data owner, withdraw a "
            "role, or change how the room recognises a participant"
        )
    _check_people_once(commit)
    people = _People(definition)
    for withdrawal in commit.withdrawals:
        people.withdraw(withdrawal)
    for grant in commit.analysts:
        people.grant(grant.email, grant.key, grant.root, analyst_of=grant.analyst_of)
    for owner in commit.owners:
        _check_ownable(definition, owner)
        people.grant(owner.email, owner.key, owner.root, data_owner_of=owner.data_owner_of)
    applied = rebuild_definition(
        definition,
        "the room would be invalid",
        nodes=definition.nodes + commit.nodes,
        participants=people.participants(),
        identities=tuple(_rebind(definition, people.identities(), commit)),
    )
    _check_owned_still(definition, applied, commit)
    _check_withdrawals_approvable(applied, commit)
    return applied


def _check_people_once(commit: Commit) -> None:
    """Nobody is both granted and withdrawn a role in one commit, nor withdrawn twice."""
    withdrawn = [normalise_email(w.email) for w in commit.withdrawals]
    if len(set(withdrawn)) != len(withdrawn):
        raise DefinitionError("a request withdraws each participant's roles in one withdrawal")
    granted = {normalise_email(g.email) for g in commit.analysts}
    granted |= {normalise_email(g.email) for g in commit.owners}
    both = sorted(granted.intersection(withdrawn))
    if both:
        raise DefinitionError(
            f"a request either grants or withdraws roles of a participant, not both: {both[0]}"
        )


def _check_ownable(definition: RoomDefinition, grant: OwnerGrant) -> None:
    for name in grant.data_owner_of:
        node = definition.node(name)
        if not isinstance(node, TableNode | RawNode):
            raise DefinitionError(
                f"{grant.email} cannot become a data owner of {name!r}: "
                + ("no such node" if node is None else "it is a computation, not a data node")
            )
        if not _owners(definition, node.name):
            raise DefinitionError(
                f"{grant.email} cannot become a data owner of {node.name!r}: it has no owner "
                "to approve (data owners are agreed when the room is created)"
            )


def _check_owned_still(definition: RoomDefinition, applied: RoomDefinition, commit: Commit) -> None:
    """Every data node whose owners the commit changes keeps an owner it had: they approve."""
    for name in commit.ownership_changes():
        before = {normalise_email(e) for e in _owners(definition, name)}
        after = {normalise_email(e) for e in _owners(applied, name)}
        if not before & after:
            raise DefinitionError(
                f"data node {name!r} would keep none of its owners: a request changes its "
                "owners with the approval of one who stays"
            )


def _check_withdrawals_approvable(applied: RoomDefinition, commit: Commit) -> None:
    """An analyst is withdrawn from a computation only with the approval of an owner of the
    data it reads (the people who agreed to open it)."""
    for name in commit.withdrawn_nodes():
        if not any(_owners(applied, data.name) for data in applied.data_inputs(name)):
            raise DefinitionError(
                f"nobody owns data that {name!r} reads, so nobody could approve withdrawing "
                "its analysts"
            )


def _owners(definition: RoomDefinition, node: str) -> list[str]:
    return [
        email
        for email in definition.participant_emails()
        if any(
            p.kind is PermissionKind.LEAF_CRUD and p.node == node
            for p in effective_permissions(definition, email)
        )
    ]


class _People:
    """The participants and identities of a definition being changed by one commit."""

    def __init__(self, definition: RoomDefinition) -> None:
        self._definition = definition
        self._participants = list(definition.participants)
        self._identities = list(definition.identities)

    def participants(self) -> tuple[Participant, ...]:
        return tuple(self._participants)

    def identities(self) -> list[Identity]:
        return self._identities

    def _index(self, email: str) -> int | None:
        return next(
            (
                i
                for i, p in enumerate(self._participants)
                if normalise_email(p.email) == normalise_email(email)
            ),
            None,
        )

    def grant(
        self,
        email: str,
        key: str | None,
        root: str | None,
        *,
        analyst_of: tuple[str, ...] = (),
        data_owner_of: tuple[str, ...] = (),
    ) -> None:
        index = self._index(email)
        is_new = index is None and not self._definition.is_participant(email)
        if is_new != (key is not None or root is not None):
            raise DefinitionError(
                f"{email}: a new participant comes with a pinned key or a trust root, and "
                "a participant of the room keeps theirs"
                if is_new
                else f"{email} is already a participant: a request cannot change how the "
                "room recognises them"
            )
        if is_new:
            self._identities.append(Identity(email=email, key=key, root=root))
        if index is None:
            self._participants.append(
                Participant(email=email, analyst_of=analyst_of, data_owner_of=data_owner_of)
            )
            return
        current = self._participants[index]
        self._participants[index] = current.model_copy(
            update={
                "analyst_of": _union(current.analyst_of, analyst_of),
                "data_owner_of": _union(current.data_owner_of, data_owner_of),
            }
        )

    def withdraw(self, withdrawal: Withdrawal) -> None:
        email = withdrawal.email
        index = self._index(email)
        if index is None:
            raise DefinitionError(f"{email} holds no role in the room to withdraw")
        if not withdrawal.analyst_of and not withdrawal.data_owner_of:
            raise DefinitionError(f"the withdrawal of {email} names no role")
        current = self._participants[index]
        for name, held, what in (
            *((n, current.analyst_of, "an analyst") for n in withdrawal.analyst_of),
            *((n, current.data_owner_of, "a data owner") for n in withdrawal.data_owner_of),
        ):
            if name not in held:
                raise DefinitionError(f"{email} is not {what} of {name!r}")
        remaining = current.model_copy(
            update={
                "analyst_of": _without(current.analyst_of, withdrawal.analyst_of),
                "data_owner_of": _without(current.data_owner_of, withdrawal.data_owner_of),
            }
        )
        if remaining.analyst_of or remaining.data_owner_of or remaining.permissions:
            self._participants[index] = remaining
            return
        # Nothing left: they leave the room, and the room stops recognising them (a later
        # request adds them back as a new participant, with a key or trust root again).
        del self._participants[index]
        if normalise_email(email) != normalise_email(self._definition.owner):
            self._identities = [
                i for i in self._identities if normalise_email(i.email) != normalise_email(email)
            ]


def _union(held: tuple[str, ...], added: tuple[str, ...]) -> tuple[str, ...]:
    return held + tuple(dict.fromkeys(n for n in added if n not in held))


def _without(held: tuple[str, ...], removed: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(h for h in held if h not in removed)


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
    """The data nodes read by a computation the commit opens or withdraws an analyst from (in
    ``applied``, the definition with the commit applied), directly or through other
    computations, each once."""
    affected: list[str] = []
    for name in commit.granted_nodes() + commit.withdrawn_nodes():
        for data in applied.data_inputs(name):
            if data.name not in affected:
                affected.append(data.name)
    return affected


def approver_groups(applied: RoomDefinition, commit: Commit) -> list[ApproverGroup]:
    """One group per affected data node that has an owner (a node nobody owns holds no data).

    The affected nodes are those :func:`affected_data_nodes` names, then those whose owners the
    commit changes. Nobody approves for a node the commit makes them an owner of.

    A commit that changes how the room recognises participants affects every data node: a key
    that becomes theirs acts as them. Each node's group is then its owners other than those
    participants — or, where they are its only owners, the room's owner if not among them (a
    node with neither has no group: :func:`apply_commit` refuses such a commit).
    """
    groups = []
    rebound = {normalise_email(i.email) for i in commit.identities}
    names = affected_data_nodes(applied, commit)
    for changed in commit.ownership_changes():
        node = applied.node(changed)
        if node is not None:
            names.append(node.name)
    if rebound:
        names += [n.name for n in applied.nodes if isinstance(n, TableNode | RawNode)]
    for name in dict.fromkeys(names):
        new = commit.new_owners(name)
        owners = tuple(e for e in _owners(applied, name) if normalise_email(e) not in new)
        if rebound and owners:
            others = tuple(e for e in owners if normalise_email(e) not in rebound)
            fallback = () if normalise_email(applied.owner) in rebound else (applied.owner,)
            owners = others or fallback
        if owners:
            groups.append(ApproverGroup(node=name, approvers=owners))
    return groups
