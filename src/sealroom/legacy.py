"""The seed tutorial's low-level builder, as a thin layer over the same room model.

``DataRoomBuilder`` collects nodes and explicit permission grants; ``build()`` gives a
:class:`DataRoom` whose owner is filled in with the publishing user when the session publishes
it, as in the seed product. Node ids are node names.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sealroom.attestation import EnclaveSpecification
from sealroom.errors import DefinitionError
from sealroom.model.definition import (
    Participant,
    RawNode,
    RoomDefinition,
    SqlNode,
    TableNode,
    check_definition,
)
from sealroom.model.identities import AuthenticationMethod, identities_for
from sealroom.model.permissions import Permission
from sealroom.model.principal import normalise_email


class SqlNodeSource(Protocol):
    """Anything that compiles to a SQL node (the legacy ``sealroom.sql.SqlCompute``)."""

    def to_node(self) -> SqlNode: ...


@dataclass(frozen=True)
class GovernanceProtocol:
    """Seed SDK: how a published room may change. ``static()`` (the default) never changes;
    ``affected_data_owners_approve()`` is an interactive room: requests that the data owners of
    every data node they read approve."""

    interactive: bool = False

    @staticmethod
    def static() -> GovernanceProtocol:
        return GovernanceProtocol(interactive=False)

    @staticmethod
    def affected_data_owners_approve() -> GovernanceProtocol:
        return GovernanceProtocol(interactive=True)


@dataclass(frozen=True)
class DataRoom:
    """A built legacy room, waiting for its owner (the user who publishes it)."""

    name: str
    description: str
    nodes: tuple[TableNode | RawNode | SqlNode, ...]
    grants: tuple[tuple[str, tuple[Permission, ...]], ...]
    basic_permissions: bool
    salt: str
    governance: GovernanceProtocol = GovernanceProtocol()
    #: How the room recognises each user who was given a method other than the platform's
    #: (the session recognises the rest through the platform's CA when it publishes).
    authentication: tuple[tuple[str, AuthenticationMethod], ...] = ()

    def definition_for(self, owner: str) -> RoomDefinition:
        roots, identities = identities_for(dict(self.authentication), None)
        definition = RoomDefinition(
            salt=self.salt,
            name=self.name,
            description=self.description,
            owner=owner,
            nodes=self.nodes,
            participants=tuple(
                Participant(email=email, permissions=permissions)
                for email, permissions in self.grants
            ),
            basic_permissions=self.basic_permissions,
            interactive=self.governance.interactive,
            trust_roots=roots,
            identities=identities,
        )
        check_definition(definition)
        return definition


class DataRoomBuilder:
    """Seed SDK: ``DataRoomBuilder(name, enclave_specs=...)``."""

    def __init__(
        self,
        name: str,
        enclave_specs: Mapping[str, EnclaveSpecification] | None = None,
        governance_protocol: GovernanceProtocol | None = None,
        *,
        add_basic_user_permissions: bool = True,
        description: str | None = None,
    ) -> None:
        del enclave_specs  # the session's attestation pins the core
        self.name = name
        self.governance = governance_protocol or GovernanceProtocol.static()
        self.description = description or ""
        self.add_basic_user_permissions = add_basic_user_permissions
        self._nodes: dict[str, TableNode | RawNode | SqlNode] = {}
        self._grants: dict[str, list[Permission]] = {}
        self._emails: dict[str, str] = {}
        self._methods: dict[str, AuthenticationMethod] = {}

    def add_description(self, description: str) -> None:
        self.description = description

    def _add_node(self, node: TableNode | RawNode | SqlNode) -> str:
        if node.name.lower() in (n.lower() for n in self._nodes):
            raise DefinitionError(f"a node named {node.name!r} was already added")
        self._nodes[node.name] = node
        return node.name

    def add_table_node(self, node: TableNode) -> str:
        return self._add_node(node)

    def add_data_node(
        self, name: str, is_required: bool = False, node_id: str | None = None
    ) -> str:
        if node_id is not None and node_id != name:
            raise DefinitionError("Sealroom identifies nodes by name: leave node_id unset")
        return self._add_node(RawNode(name=name, is_required=is_required))

    def add_compute_node(self, node: SqlNode | SqlNodeSource, node_id: str | None = None) -> str:
        compiled = node if isinstance(node, SqlNode) else node.to_node()
        if node_id is not None and node_id != compiled.name:
            raise DefinitionError("Sealroom identifies nodes by name: leave node_id unset")
        return self._add_node(compiled)

    def add_user_permission(
        self,
        email: str,
        authentication_method: AuthenticationMethod | None = None,
        permissions: Iterable[Permission] = (),
    ) -> None:
        """Grant ``permissions`` to ``email``, recognised by ``authentication_method`` (the
        platform's CA when None, as ``client.platform_pki_authentication``)."""
        key = normalise_email(email)
        method = authentication_method or AuthenticationMethod.platform_pki()
        if self._methods.setdefault(key, method) != method:
            raise DefinitionError(f"{email} was given two different authentication methods")
        self._emails.setdefault(normalise_email(email), email)
        self._grants.setdefault(normalise_email(email), []).extend(permissions)

    def build(self) -> DataRoom:
        return DataRoom(
            name=self.name,
            description=self.description,
            nodes=tuple(self._nodes.values()),
            grants=tuple(
                (self._emails[key], tuple(dict.fromkeys(grants)))
                for key, grants in self._grants.items()
            ),
            basic_permissions=self.add_basic_user_permissions,
            salt=secrets.token_hex(16),
            governance=self.governance,
            authentication=tuple(
                (self._emails[key], method)
                for key, method in self._methods.items()
                if not method.is_platform
            ),
        )
