"""Requests for the web app: the commit a request proposes, as the canonical text that is hashed.

A request's id is the SHA-256 of its commit's canonical JSON (:mod:`sealroom.model.commits`),
and an SQL node always carries floats (``dp_delta``), which the browser cannot write as Python's
canonical JSON does. So, as for room drafts (:mod:`.drafts`), the host does the bookkeeping the
SDK's ``RequestBuilder.build`` does on the user's machine — read the room's current definition
and history pin, resolve an SQL query's dependencies, apply the commit to check it — and returns
the canonical text; and for a submitted request it returns its commit's canonical text.

None of this is trusted. The browser hashes the text itself (the draft's hash is what it signs
``submit_request`` over, the request's must be the request id), checks that the parsed text says
what the user asked and builds on the room's verified history, and derives the affected data
owners from the verified definition itself; the core recomputes all of it from what it receives.
Nothing here stores anything or reads what the caller could not read through the core: the
definition and the request come from the core, which authorises the caller.

A draft may also make participants data owners (``owners``) and withdraw roles
(``withdrawals``), as ``RequestBuilder.add_participant`` and ``withdraw`` do — how people join
and leave a media room's groups. Someone new to the room is recognised as the SDK's default
does (``RequestBuilder._recognise``): by the platform's CA, when the room trusts it, written on
their first grant only; a draft cannot pin a key or add a trust root. The browser derives the
same from the verified definition and refuses any other.
"""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, ValidationError

from sealroom.analytics._definitions import SqlComputeNodeDefinition
from sealroom.crypto.canonical import canonical_json
from sealroom.errors import DefinitionError
from sealroom.model.commits import (
    MAX_COMMIT_ANALYSTS,
    MAX_COMMIT_NODES,
    MAX_NOTE_CHARS,
    AnalystGrant,
    Commit,
    OwnerGrant,
    Withdrawal,
    apply_commit,
    apply_commits,
    approver_groups,
    parse_commit,
)
from sealroom.model.definition import (
    MAX_SCRIPT_BYTES,
    Node,
    PythonNode,
    RNode,
    RoomDefinition,
    first_validation_error,
    parse_definition,
)
from sealroom.model.principal import normalise_email
from sealroom.model.wire import ApproverGroupOut
from sealroom.server.routes.deps import PlatformDep, PrincipalDep

router = APIRouter(tags=["requests"])


class ComputationIn(BaseModel):
    """One computation the request adds, as the user wrote it."""

    kind: Literal["sql", "python", "r"]
    name: str = Field(min_length=1, max_length=100)
    #: The SQL query, or the script (Python, R).
    code: str = Field(min_length=1, max_length=MAX_SCRIPT_BYTES)
    #: The nodes it reads; ``None`` for SQL: the tables its query names (as the SDK does).
    dependencies: list[str] | None = Field(default=None, max_length=200)
    #: The privacy filter (SQL): every result row aggregates at least this many rows.
    minimum_rows_count: int | None = None


class WithdrawalIn(BaseModel):
    """Roles withdrawn from one participant."""

    analyst_of: list[str] = Field(default_factory=list, max_length=50)
    data_owner_of: list[str] = Field(default_factory=list, max_length=50)


class CommitDraftIn(BaseModel):
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)
    computations: list[ComputationIn] = Field(default_factory=list, max_length=MAX_COMMIT_NODES)
    #: e-mail → the computations (new or existing) they become analyst of.
    analysts: dict[str, list[str]] = Field(default_factory=dict, max_length=MAX_COMMIT_ANALYSTS)
    #: e-mail → the data nodes they become a data owner of.
    owners: dict[str, list[str]] = Field(default_factory=dict, max_length=MAX_COMMIT_ANALYSTS)
    #: e-mail → the roles withdrawn from them.
    withdrawals: dict[str, WithdrawalIn] = Field(
        default_factory=dict, max_length=MAX_COMMIT_ANALYSTS
    )


class CommitDraftOut(BaseModel):
    commit: str = Field(description="the commit's canonical JSON: what is hashed and submitted")
    request_id: str = Field(description="SHA-256 of `commit`, hex (the browser recomputes it)")
    history_pin: str = Field(description="the room's history pin the commit is built on")
    approver_groups: list[ApproverGroupOut] = Field(
        description="the affected data nodes and their owners (the browser derives them too)"
    )


class CommitTextOut(BaseModel):
    commit: str = Field(description="the request's commit, canonical JSON; SHA-256 = its id")


def _current(platform: PlatformDep, user: PrincipalDep, room_id: str) -> tuple[RoomDefinition, str]:
    """The room's current definition and history pin, as the core serves them to ``user``."""
    view = platform.core.retrieve_room(user, room_id)
    definition = parse_definition(json.loads(view.definition))
    commits = [parse_commit(json.loads(text)) for text, _ in view.commits]
    return apply_commits(definition, commits), view.history_pin


def _recognition(definition: RoomDefinition, email: str, recognised: set[str]) -> str | None:
    """The trust root that recognises ``email`` (RequestBuilder._recognise, its default: the
    platform's CA): None for a participant already in the room or already given one in this
    commit (``recognised``, which this adds to)."""
    person = normalise_email(email)
    if definition.is_participant(email) or person in recognised:
        return None
    recognised.add(person)
    root = definition.platform_root()
    if root is None:
        raise DefinitionError(
            f"{email}: the room does not trust the platform's CA, so a new participant comes "
            "with a pinned key: add them with the SDK or the CLI"
        )
    return root


def _node(computation: ComputationIn, known: list[str]) -> Node:
    if computation.kind == "sql":
        return SqlComputeNodeDefinition(
            computation.name,
            computation.code,
            dependencies=computation.dependencies,
            minimum_rows_count=computation.minimum_rows_count,
        ).resolve(known)
    if computation.minimum_rows_count is not None:
        raise DefinitionError("the privacy filter (minimum rows) applies to SQL computations")
    script = PythonNode if computation.kind == "python" else RNode
    return script(
        name=computation.name,
        script=computation.code,
        dependencies=tuple(computation.dependencies or ()),
    )


@router.post("/v1/rooms/{room_id}/commit-drafts")
def make_commit_draft(
    room_id: str, body: CommitDraftIn, platform: PlatformDep, user: PrincipalDep
) -> CommitDraftOut:
    """The commit the caller's request would submit, on the room's current history, checked
    against it (nothing is stored; the browser verifies and signs it; see the module)."""
    definition, pin = _current(platform, user, room_id)
    known = [node.name for node in definition.nodes] + [c.name for c in body.computations]
    recognised: set[str] = set()
    try:
        nodes = tuple(_node(computation, known) for computation in body.computations)
        # Analysts first, then owners: a newcomer's recognition is on their first grant, as
        # RequestBuilder.build writes it.
        analysts = tuple(
            AnalystGrant(
                email=email,
                analyst_of=tuple(names),
                root=_recognition(definition, email, recognised),
            )
            for email, names in body.analysts.items()
            if names
        )
        owners = tuple(
            OwnerGrant(
                email=email,
                data_owner_of=tuple(names),
                root=_recognition(definition, email, recognised),
            )
            for email, names in body.owners.items()
            if names
        )
        commit = Commit(
            room_id=room_id,
            history_pin=pin,
            requester=user.email,
            note=body.note,
            nodes=nodes,
            analysts=analysts,
            owners=owners,
            withdrawals=tuple(
                Withdrawal(
                    email=email,
                    analyst_of=tuple(roles.analyst_of),
                    data_owner_of=tuple(roles.data_owner_of),
                )
                for email, roles in body.withdrawals.items()
            ),
        )
    except ValidationError as exc:  # a name, e-mail or query out of bounds
        raise DefinitionError(f"invalid request: {first_validation_error(exc)}") from None
    applied = apply_commit(definition, commit)
    return CommitDraftOut(
        commit=commit.canonical_bytes().decode(),
        request_id=commit.commit_id,
        history_pin=pin,
        approver_groups=[
            ApproverGroupOut(node=group.node, approvers=list(group.approvers))
            for group in approver_groups(applied, commit)
        ],
    )


@router.get("/v1/rooms/{room_id}/requests/{request_id}/commit")
def request_commit_text(
    room_id: str, request_id: str, platform: PlatformDep, user: PrincipalDep
) -> CommitTextOut:
    """The canonical text of a request's commit (the browser checks it hashes to the id)."""
    request = platform.core.get_request(user, room_id, request_id)
    return CommitTextOut(commit=canonical_json(request.commit).decode())
