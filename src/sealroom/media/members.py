"""Who is in each participant group of a media room, after the requests that changed it.

A media room's groups are in its configuration (part of the room id, so fixed); people join and
leave a group later through requests of the room (:mod:`sealroom.model.commits`): adding someone
grants them the roles their permissions map to (:func:`member_roles`), removing them withdraws
every role they hold. The core enforces those roles and requires the approval of an owner of
every data node each change affects — so for a media room, of the base audience and the seed
audiences: the publisher and the advertisers approve.

Each such request carries a *membership note* (:class:`MembershipChange`, after
:data:`NOTE_MARKER`): which group the person joins or leaves, and with which permissions. A note
counts only when its commit does exactly what it says (:func:`fits`) and was requested by someone
of that group with ``MANAGE_USERS`` (:func:`may_manage`); the SDK of an approver refuses to
approve one that does not. The groups of :func:`current_groups` are built from the room's
verified history alone: a note that does not count changes no group (the roles its commit
granted still exist — the core enforces them — and show as roles of someone outside any group).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sealroom.errors import DefinitionError
from sealroom.media import layout
from sealroom.media.config import MediaConfig
from sealroom.media.types import Participant, Permission
from sealroom.model.commits import Commit, apply_commit
from sealroom.model.definition import RoomDefinition
from sealroom.model.principal import normalise_email

__all__ = [
    "NOTE_MARKER",
    "MembershipChange",
    "check_new_member",
    "current_groups",
    "fits",
    "may_manage",
    "member_roles",
]

NOTE_MARKER = "sealroom.media v1 member "


@dataclass(frozen=True)
class MembershipChange:
    """``email`` joins group ``group_id`` with ``permissions``, or leaves it (no permissions)."""

    group_id: str
    email: str
    permissions: tuple[Permission, ...] = ()

    @property
    def removed(self) -> bool:
        return not self.permissions

    def note(self) -> str:
        return NOTE_MARKER + json.dumps(
            {
                "group": self.group_id,
                "email": self.email,
                "permissions": [p.value for p in self.permissions],
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_note(cls, note: str) -> MembershipChange | None:
        """The change a request's note records; None for a note that records none."""
        if not note.startswith(NOTE_MARKER):
            return None
        try:
            data = json.loads(note[len(NOTE_MARKER) :])
            return cls(
                group_id=str(data["group"]),
                email=str(data["email"]),
                permissions=tuple(Permission(p) for p in data["permissions"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def member_roles(
    config: MediaConfig, permissions: Sequence[Permission]
) -> tuple[list[str], list[str]]:
    """``(tables owned, computations run)`` by someone with ``permissions`` in this room."""
    owns = [t.name for t in layout.tables(config) if any(p in permissions for p in t.owners)]
    runs = [
        c for c in layout.computations(config) if any(p in permissions for p in layout.ANALYSTS[c])
    ]
    return owns, runs


def fits(
    change: MembershipChange, config: MediaConfig, before: RoomDefinition, commit: Commit
) -> bool:
    """Whether ``commit`` (built on ``before``) does exactly what ``change`` says: grants the
    roles its permissions map to, or withdraws every role the person holds — nothing else."""
    if commit.nodes or commit.identities:
        return False
    me = normalise_email(change.email)
    if change.removed:
        held = before.participant(change.email)
        if held is None or commit.analysts or commit.owners or len(commit.withdrawals) != 1:
            return False
        (withdrawal,) = commit.withdrawals
        return (
            normalise_email(withdrawal.email) == me
            and set(withdrawal.analyst_of) == set(held.analyst_of)
            and set(withdrawal.data_owner_of) == set(held.data_owner_of)
            and not held.permissions
        )
    if commit.withdrawals or before.is_participant(change.email):
        return False
    owns, runs = member_roles(config, change.permissions)
    granted = [(g.email, set(g.analyst_of)) for g in commit.analysts]
    owned = [(g.email, set(g.data_owner_of)) for g in commit.owners]
    return [(normalise_email(e), r) for e, r in granted] == (
        [(me, set(runs))] if runs else []
    ) and [(normalise_email(e), r) for e, r in owned] == ([(me, set(owns))] if owns else [])


def may_manage(groups: Sequence[Participant], requester: str, group_id: str) -> bool:
    """Whether ``requester`` may change the people of group ``group_id``: they are in it and
    may manage users (a group manages its own people)."""
    for group in groups:
        if group.id == group_id:
            return group.includes(requester) and Permission.MANAGE_USERS in group.permissions_of(
                requester
            )
    return False


def current_groups(
    config: MediaConfig, published: RoomDefinition, commits: Sequence[Commit]
) -> tuple[Participant, ...]:
    """The room's groups after every membership change its verified history records that
    counts (see the module docstring)."""
    groups = list(config.participants)
    definition = published
    for commit in commits:
        change = MembershipChange.from_note(commit.note)
        if (
            change is not None
            and may_manage(groups, commit.requester, change.group_id)
            and fits(change, config, definition, commit)
        ):
            groups = [_changed(g, change) if g.id == change.group_id else g for g in groups]
        definition = apply_commit(definition, commit)
    return tuple(groups)


def _changed(group: Participant, change: MembershipChange) -> Participant:
    me = normalise_email(change.email)
    emails = [e for e in group.emails if normalise_email(e) != me]
    members = {
        e: list(p) for e, p in (group.member_permissions or {}).items() if normalise_email(e) != me
    }
    if not change.removed:
        emails.append(change.email)
        if set(change.permissions) != set(group.permissions):
            members[change.email] = list(change.permissions)
    return dataclasses.replace(group, emails=emails, member_permissions=members or None)


def check_new_member(
    config: MediaConfig, group: Participant, email: str, permissions: Sequence[Permission]
) -> None:
    """Refuse what :meth:`MediaDcr.add_user_as_participant` cannot ask for."""
    existing = config.group_of(email)
    if existing is not None:
        raise DefinitionError(f"{email} is already in participant group {existing.role!r}")
    if not permissions:
        raise DefinitionError(f"{email}: give them at least one of the group's permissions")
    extra = [Permission(p).value for p in permissions if Permission(p) not in group.permissions]
    if extra:
        raise DefinitionError(
            f"{email} cannot have {', '.join(extra)}: group {group.role!r} does not have it"
        )
