"""Requests to change an interactive room (seed SDK: ``analytics.computation_requests``).

``dcr.build_request().add_computation(node).add_participant(email, analyst_of=[...])
.with_note("…").submit()`` proposes a commit on the room's current history; the data owners of
every data node the new computations read approve it (one owner per node), then anyone
integrates it. A request also adds data owners of existing data nodes
(``add_participant(email, data_owner_of=[...])``: their current owners approve) and withdraws
roles (``withdraw(email, analyst_of=[...], data_owner_of=[...])``). The core decides all of it;
this module only builds, sends and reads.

What a :class:`SubmittedRequest` shows of the request itself is checked first
(:func:`sealroom.analytics._verified.verify_request`): its id, owner, note, history pin and
scope come from the commit that hashes to its id, in this room, and its approver groups are
derived from the room's verified definition. Its state (status, approvals, what it waits for,
rejection, times) is the host's word: the core enforces it, but signs none of it for the SDK.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sealroom.analytics._definitions import NodeDefinition, SqlComputeNodeDefinition
from sealroom.analytics._verified import VerifiedRequest, verify_request
from sealroom.errors import DefinitionError, VerificationError
from sealroom.model import commits as model
from sealroom.model.definition import Node, RoomDefinition
from sealroom.model.identities import AuthenticationMethod, Identity
from sealroom.model.principal import normalise_email

if TYPE_CHECKING:
    from sealroom.analytics._dcr import (
        AnalyticsDcr,
        ContainerComputationNode,
        SqlComputationNode,
    )


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    READY_TO_INTEGRATE = "ready_to_integrate"
    INTEGRATED = "integrated"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class ApproverGroup:
    """The data owners of one affected data node: any one of them approves for it."""

    node: str
    approvers: tuple[str, ...]


@dataclass(frozen=True)
class RequestScope:
    """What a request changes: computations and analysts added, data owners added, roles
    withdrawn (``{email: (node, ...)}``), and the data nodes it affects."""

    computations: tuple[str, ...]
    analysts: dict[str, tuple[str, ...]]
    dependencies: tuple[str, ...]
    data_owners: dict[str, tuple[str, ...]] = field(default_factory=dict)
    withdrawn: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Commit:
    """An integrated commit (seed SDK: ``Commit(id, name, node)``), verified by
    :meth:`AnalyticsDcr.get_commits <sealroom.analytics.AnalyticsDcr.get_commits>`: all but
    ``integrated_by`` and ``integrated_at_ms`` (the host's word) are from the core's signed
    commit on the room's signed history."""

    id: str
    name: str
    nodes: tuple[str, ...]
    seq: int
    requester: str
    integrated_by: str
    integrated_at_ms: int

    @property
    def node(self) -> str | None:
        return self.nodes[0] if self.nodes else None


class RequestBuilder:
    """Builds a request on the room's current history (seed SDK: ``RequestBuilder``)."""

    def __init__(self, dcr: AnalyticsDcr) -> None:
        self._dcr = dcr
        self._nodes: list[NodeDefinition] = []
        self._analysts: dict[str, list[str]] = {}
        self._owners: dict[str, list[str]] = {}
        self._withdrawals: dict[str, model.Withdrawal] = {}
        self._emails: dict[str, str] = {}
        self._methods: dict[str, AuthenticationMethod] = {}
        self._rebinds: dict[str, tuple[str, AuthenticationMethod]] = {}
        self._note = ""

    def add_computation(self, definition: NodeDefinition) -> RequestBuilder:
        if any(d.name.lower() == definition.name.lower() for d in self._nodes):
            raise DefinitionError(f"a computation named {definition.name!r} was already added")
        self._nodes.append(definition)
        return self

    def add_participant(
        self,
        email: str,
        *,
        analyst_of: Sequence[str] = (),
        data_owner_of: Sequence[str] = (),
        authentication: AuthenticationMethod | None = None,
    ) -> RequestBuilder:
        """Make ``email`` analyst of ``analyst_of`` and data owner of ``data_owner_of`` (data
        nodes that have an owner: one of them approves). A participant new to the room is
        recognised by ``authentication``: a pinned key, or the platform's CA (the default) if
        the room trusts it — a request cannot add a trust root."""
        key = normalise_email(email)
        self._emails.setdefault(key, email)
        for roles, names in (
            (self._analysts.setdefault(key, []), analyst_of),
            (self._owners.setdefault(key, []), data_owner_of),
        ):
            roles.extend(name for name in names if name not in roles)
        if authentication is not None:
            self._methods[key] = authentication
        return self

    def withdraw(
        self,
        email: str,
        *,
        analyst_of: Sequence[str] = (),
        data_owner_of: Sequence[str] = (),
    ) -> RequestBuilder:
        """Withdraw roles ``email`` holds. The owners of the data those computations read, and
        the owners who stay on those data nodes, approve; someone left with no role leaves the
        room (and comes back only as a new participant)."""
        self._withdrawals[normalise_email(email)] = model.Withdrawal(
            email=email, analyst_of=tuple(analyst_of), data_owner_of=tuple(data_owner_of)
        )
        return self

    def change_authentication(
        self, email: str, authentication: AuthenticationMethod
    ) -> RequestBuilder:
        """Recognise the participant ``email`` differently from now on — a new pinned key after
        theirs was lost or rotated, or one of the room's trust roots. Every data node's owners
        approve (other than ``email``; where they are its only owner, the room's owner)."""
        self._rebinds[normalise_email(email)] = (email, authentication)
        return self

    def with_note(self, note: str) -> RequestBuilder:
        self._note = note
        return self

    def build(self) -> model.Commit:
        """The commit, checked locally against the room's current definition."""
        definition, pin = self._dcr.session.retrieve_current_data_room_configuration(self._dcr.id)
        known = [node.name for node in definition.nodes] + [d.name for d in self._nodes]
        nodes: list[Node] = [
            d.resolve(known) if isinstance(d, SqlComputeNodeDefinition) else d.node
            for d in self._nodes
        ]
        commit = model.Commit(
            room_id=self._dcr.id,
            history_pin=pin,
            requester=self._dcr.client.user_email,
            note=self._note,
            nodes=tuple(nodes),
            analysts=tuple(
                model.AnalystGrant(email=email, analyst_of=tuple(roles), key=key, root=root)
                for email, roles, key, root in self._grants(definition, self._analysts, set())
            ),
            identities=tuple(
                self._identity(definition, email, method)
                for email, method in self._rebinds.values()
            ),
            owners=tuple(
                model.OwnerGrant(email=email, data_owner_of=tuple(roles), key=key, root=root)
                for email, roles, key, root in self._grants(
                    definition, self._owners, {k for k, r in self._analysts.items() if r}
                )
            ),
            withdrawals=tuple(self._withdrawals.values()),
        )
        model.apply_commit(definition, commit)
        return commit

    def _grants(
        self, definition: RoomDefinition, roles: dict[str, list[str]], recognised: set[str]
    ) -> list[tuple[str, list[str], str | None, str | None]]:
        """``(email, roles, key, root)`` per person given roles; a participant new to the room
        comes with how it recognises them, once (``recognised``: already given)."""
        grants: list[tuple[str, list[str], str | None, str | None]] = []
        for person, names in roles.items():
            if not names:
                continue
            email = self._emails[person]
            if definition.is_participant(email) or person in recognised:
                grants.append((email, names, None, None))
            else:
                grants.append((email, names, *self._recognise(definition, person)))
        return grants

    def _recognise(self, definition: RoomDefinition, person: str) -> tuple[str | None, str | None]:
        email = self._emails[person]
        method = self._methods.get(person, AuthenticationMethod.platform_pki())
        if method.root is not None:
            raise DefinitionError(
                f"{email}: a request cannot add a trust root; pin their key, or use a root "
                "the room already has"
            )
        root = None
        if method.is_platform:
            root = definition.platform_root()
            if root is None:
                raise DefinitionError(
                    f"{email}: the room does not trust the platform's CA, so a new participant "
                    "comes with a pinned key (authentication=AuthenticationMethod.pinned_key(…))"
                )
        return method.key, root

    @staticmethod
    def _identity(definition: RoomDefinition, email: str, method: AuthenticationMethod) -> Identity:
        if method.root is not None:
            known = definition.trust_root(method.root.name)
            if known != method.root:
                raise DefinitionError(
                    f"{email}: a request cannot add a trust root; use one the room has"
                )
            return Identity(email=email, root=method.root.name)
        if method.is_platform:
            root = definition.platform_root()
            if root is None:
                raise DefinitionError("the room does not trust the platform's CA")
            return Identity(email=email, root=root)
        return Identity(email=email, key=method.key)

    def submit(self) -> SubmittedRequest:
        """Send the request to the core; it waits for the affected data owners' approvals."""
        data = self._dcr.session.publish_request(self._dcr.id, self.build())
        return SubmittedRequest(self._dcr, data)


class SubmittedRequest:
    """A request and its state, as the core reports it (refresh with :meth:`refresh`).

    Verified before it is shown (see :func:`~sealroom.analytics._verified.verify_request`):
    ``id``, ``owner``, ``note``, ``enclave_configuration_pin`` and ``scope`` are those of the
    commit that hashes to the id, in this room (what an approval approves); ``approver_groups``
    (and ``scope.dependencies``) are derived from the room's verified definition, except for a
    closed request whose computations' names were taken since. :class:`VerificationError`
    when the host's reply says otherwise. The host's word: that anybody submitted this request
    (nothing signed reaches the SDK before it is integrated, so ``owner`` is the name its
    commit carries), ``status``, approvals, ``missing_approvals``, ``rejection`` and times.
    """

    def __init__(self, dcr: AnalyticsDcr, data: dict[str, Any]) -> None:
        self._dcr = dcr
        self._verified = self._verify(data)
        self._data = data

    def _verify(self, data: dict[str, Any]) -> VerifiedRequest:
        dcr = self._dcr
        verified = verify_request(dcr.id, data, dcr.definition, dcr.history_pin)
        if verified.approver_groups is None and dcr.definition.interactive:
            # Built on a history newer than the room as last read: read it again, once.
            dcr.refresh()
            verified = verify_request(dcr.id, data, dcr.definition, dcr.history_pin)
        return verified

    def _update(self, data: dict[str, Any]) -> SubmittedRequest:
        verified = self._verify(data)
        if verified.commit.commit_id != self._verified.commit.commit_id:
            raise VerificationError(
                f"the server answered for request {self.id} of room {self._dcr.id} with another"
            )
        self._verified, self._data = verified, data
        return self

    # -- what it is -----------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._verified.commit.commit_id

    @property
    def commit(self) -> model.Commit:
        """The verified commit: what approving this request approves."""
        return self._verified.commit

    @property
    def enclave_commit_id(self) -> str:
        return self.id

    @property
    def enclave_configuration_pin(self) -> str:
        """The history pin the request was built on (it applies only on top of it)."""
        return self._verified.commit.history_pin

    @property
    def owner(self) -> str:
        """The requester its commit names (bound to the id; who sent it is the host's word)."""
        return self._verified.commit.requester

    @property
    def note(self) -> str:
        return self._verified.commit.note

    @property
    def created_at(self) -> int:
        return int(self._data["created_at_ms"])

    @property
    def updated_at(self) -> int:
        return int(self._data["updated_at_ms"])

    @property
    def status(self) -> RequestStatus:
        return RequestStatus(self._data["status"])

    @property
    def approver_groups(self) -> list[ApproverGroup]:
        """The affected data nodes and their owners (verified, but see the class docstring)."""
        groups = self._verified.approver_groups
        if groups is not None:
            return [ApproverGroup(g.node, g.approvers) for g in groups]
        return [
            ApproverGroup(str(g["node"]), tuple(g["approvers"]))
            for g in self._data["approver_groups"]
        ]

    @property
    def required_approvers(self) -> list[str]:
        """Everybody who may approve (one owner of each affected data node must)."""
        emails: list[str] = []
        for group in self.approver_groups:
            emails.extend(e for e in group.approvers if e not in emails)
        return emails

    @property
    def signers(self) -> dict[str, bool]:
        approved = {normalise_email(e) for e in self._data["approvals"]}
        return {e: normalise_email(e) in approved for e in self.required_approvers}

    @property
    def missing_approvals(self) -> list[str]:
        """The owners of the affected data nodes that nobody has approved for yet."""
        waiting = set(self._data["missing_approvals"])
        emails: list[str] = []
        for group in self.approver_groups:
            if group.node in waiting:
                emails.extend(e for e in group.approvers if e not in emails)
        return emails

    @property
    def missing_approval_nodes(self) -> list[str]:
        return list(self._data["missing_approvals"])

    @property
    def rejection(self) -> str | None:
        reason = self._data.get("rejection")
        return None if reason is None else str(reason)

    @property
    def scope(self) -> RequestScope:
        """What the verified commit adds, and the data nodes it affects (its approver groups)."""
        commit = self._verified.commit
        return RequestScope(
            computations=tuple(node.name for node in commit.nodes),
            analysts={grant.email: grant.analyst_of for grant in commit.analysts},
            dependencies=tuple(group.node for group in self.approver_groups),
            data_owners={grant.email: grant.data_owner_of for grant in commit.owners},
            withdrawn={w.email: (*w.data_owner_of, *w.analyst_of) for w in commit.withdrawals},
        )

    # -- acting ---------------------------------------------------------------------------
    def refresh(self) -> SubmittedRequest:
        return self._update(self._dcr.session.retrieve_request(self._dcr.id, self.id))

    def approve(self) -> SubmittedRequest:
        """Approve as the data owner of an affected node (the core signs your approval)."""
        return self._update(self._dcr.session.act_on_request(self._dcr.id, self.id, "approve"))

    def reject(self, reason: str = "") -> SubmittedRequest:
        """Reject as an affected data owner, or withdraw as the requester."""
        return self._update(
            self._dcr.session.act_on_request(self._dcr.id, self.id, "reject", reason=reason)
        )

    def integrate(self) -> SubmittedRequest:
        """Integrate an approved request: the room changes as it says, for everybody."""
        self._update(self._dcr.session.act_on_request(self._dcr.id, self.id, "integrate"))
        self._dcr.refresh()
        return self

    def preview(
        self, parameters: dict[str, str] | None = None
    ) -> SqlComputationNode | ContainerComputationNode:
        """Run the requested computation before approving (only when you are the one data
        owner it affects); fetch the result from the returned node as for any computation."""
        node = self._dcr.preview_node(self)
        node.job_id = self._dcr.session.preview_request(
            self._dcr.id, self.id, node.name, parameters=parameters
        )
        return node

    def __repr__(self) -> str:
        return f"SubmittedRequest(id={self.id!r}, status={self.status.value})"
