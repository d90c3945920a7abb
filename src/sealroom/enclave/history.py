"""A room's verified history: its published definition, the commits integrated since, and the
definition they make — and what the core checks of a computation before it accepts one.

A history is built only from what the core signed (:func:`load_history` verifies each stored
commit against the core's signature and the sequence the room's audit log records), so the
*current* definition every action is decided on is one the core itself made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from sealroom.compute.sql import check_query_dependencies, check_query_parameters
from sealroom.crypto import SigningKey
from sealroom.errors import DefinitionError, VerificationError
from sealroom.model.commits import Commit, apply_commit, verify_history
from sealroom.model.definition import Node, RoomDefinition, SqlNode
from sealroom.model.records import CommitRecord

__all__ = ["RoomHistory", "check_computations", "load_history"]


@dataclass(frozen=True)
class RoomHistory:
    """A room's published definition, its integrated commits, and the definition they make."""

    room_id: str
    base: RoomDefinition
    commits: tuple[Commit, ...] = ()
    records: tuple[CommitRecord, ...] = ()
    pins: tuple[str, ...] = field(default=())

    @property
    def current(self) -> RoomDefinition:
        return self.definitions[-1]

    @property
    def pin(self) -> str:
        return self.pins[-1]

    @cached_property
    def definitions(self) -> list[RoomDefinition]:
        """The definition after 0, 1, ... commits (computed once per history)."""
        definitions = [self.base]
        for commit in self.commits:
            definitions.append(apply_commit(definitions[-1], commit))
        return definitions

    def definition_at(self, pin: str) -> RoomDefinition | None:
        """The definition a request built on ``pin`` was built against (None: unknown pin)."""
        try:
            return self.definitions[self.pins.index(pin)]
        except ValueError:
            return None


def load_history(
    room_id: str,
    base: RoomDefinition,
    records: Sequence[CommitRecord],
    audited: Sequence[str],
    signing_key: SigningKey,
) -> RoomHistory:
    """Verify the stored commits against the core's signatures and the audit log's record."""
    ids = [record.commit_id for record in records]
    if ids != list(audited):
        raise VerificationError(
            f"room {room_id}: the stored commits ({len(ids)}) differ from the "
            f"{len(audited)} the audit log records: the host dropped or altered some"
        )
    commits, pins = verify_history(
        room_id,
        [record.commit for record in records],
        [record.signature for record in records],
        signing_key.verify_key,
        what="stored commit",
    )
    if [commit.commit_id for commit in commits] != ids:
        raise VerificationError(f"room {room_id}: the stored commit ids were altered")
    history = RoomHistory(room_id, base, tuple(commits), tuple(records), tuple(pins))
    history.definitions  # noqa: B018 - applies every commit now, so a bad one fails here
    return history


def check_computations(definition: RoomDefinition, nodes: Sequence[Node]) -> None:
    """What the core checks of SQL beyond the model: tables read, parameters used."""
    for node in nodes:
        if isinstance(node, SqlNode):
            try:
                check_query_dependencies(node.query, node.dependencies)
                check_query_parameters(node.query, node.parameters)
            except DefinitionError as exc:
                raise DefinitionError(f"SQL node {node.name!r}: {exc}") from None
