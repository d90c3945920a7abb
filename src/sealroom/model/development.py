"""Development computations: ad-hoc computations over what a participant may already read.

A participant of a room that enables development may run a SQL, Python, R or synthetic-data
computation without adding it to the room. It runs in the room's definition with that one node
added, so the nodes it reads run exactly as agreed, with their output privacy rules (privacy
filter, differential privacy and its budget, rate limits).

Invariants (:func:`development_definition`):

* The computation reads only data nodes the participant owns (``leaf_crud``) and computations
  whose results they may retrieve (``retrieve_compute_result``): nothing they could not read
  already. Anything else is refused with :class:`PermissionDeniedError`, naming the node.
* It cannot read a preview node (nothing may: see the definition's checks), so a development
  computation cannot go around an airlock quota.
* Its name must not be a node of the room; it changes nothing in the room.
"""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from sealroom.errors import DefinitionError, PermissionDeniedError
from sealroom.model.definition import (
    Node,
    PreviewNode,
    PythonNode,
    RawNode,
    RNode,
    RoomDefinition,
    SqlNode,
    SyntheticNode,
    TableNode,
    effective_permissions,
    first_validation_error,
    rebuild_definition,
)
from sealroom.model.permissions import PermissionKind

__all__ = ["DevelopmentNode", "development_definition", "parse_node"]

DevelopmentNode = SqlNode | PythonNode | RNode | SyntheticNode
_NODE = TypeAdapter(Node)


def parse_node(data: object) -> Node:
    """One node definition received from outside."""
    try:
        return _NODE.validate_python(data)
    except ValidationError as exc:
        raise DefinitionError(f"invalid computation: {first_validation_error(exc)}") from None


def development_definition(
    definition: RoomDefinition, principal: str, node_data: object
) -> tuple[RoomDefinition, DevelopmentNode]:
    """The room's definition with ``principal``'s development computation added."""
    node = (
        node_data
        if isinstance(node_data, SqlNode | PythonNode | RNode | SyntheticNode)
        else (parse_node(node_data))
    )
    if not isinstance(node, SqlNode | PythonNode | RNode | SyntheticNode):
        raise DefinitionError(
            f"a development computation is SQL, Python, R or synthetic data, not {node.kind}"
        )
    granted = list(effective_permissions(definition, principal))
    for dependency in node.dependencies:
        target = definition.node(dependency)
        if target is None:
            raise DefinitionError(f"the room has no node {dependency!r} to read")
        if isinstance(target, PreviewNode):
            raise PermissionDeniedError(
                f"development computations cannot read preview node {dependency!r}: its "
                "results go out only through it, within each analyst's quota"
            )
        if isinstance(target, TableNode | RawNode):
            needed, role = PermissionKind.LEAF_CRUD, "its data owner"
        else:
            needed, role = PermissionKind.RETRIEVE_COMPUTE_RESULT, "an analyst of it"
        if not any(p.kind is needed and p.node == dependency for p in granted):
            raise PermissionDeniedError(
                f"{principal} may not read node {dependency!r} in a development computation: "
                f"only {role} may (development reads data you own and results you may retrieve)"
            )
    applied = rebuild_definition(definition, "invalid computation", nodes=(*definition.nodes, node))
    return applied, node
