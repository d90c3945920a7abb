"""The signed state of a room: status and published datasets, versioned by its audit log.

Format (version 1)::

    state     = canonical JSON {"room_id", "version", "status": "active"|"stopped",
                                "datasets": {node: dataset id}, "history_pin": hex}
    signed    = Ed25519(core key, "sealroom/room-state/v1" || state)

Invariants:

* The state is a function of the room's audit log: it is derived from the log's events
  (publish, remove, stop) and ``version`` is the log's size. Every change of state is a new log
  entry, so versions only grow, and a client that keeps the highest version it saw detects a
  host serving an older state (a rollback) — :func:`verify_room_state` with ``min_version``.
* ``history_pin`` names the room's current definition: the published one followed by its
  integrated commits (:mod:`sealroom.model.commits`); a client that sees a newer version with
  an unexpected pin knows the definition changed, and a rolled-back definition is a rollback of
  the version too.
* The room id is the hash of the definition everybody agreed to; the state names it, and the
  signature covers it, so the state of one room never verifies as another's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from sealroom.audit import AuditEvent, kinds
from sealroom.crypto import SigningKey, VerifyKey, canonical_json
from sealroom.errors import VerificationError
from sealroom.model.commits import initial_history_pin

__all__ = ["RoomState", "derive_room_state", "sign_room_state", "verify_room_state"]

_DOMAIN: Final = b"sealroom/room-state/v1"
_FIELDS: Final = frozenset({"room_id", "version", "status", "datasets", "history_pin"})
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RoomState:
    room_id: str
    version: int
    status: str
    datasets: dict[str, str] = field(default_factory=dict)
    history_pin: str = ""

    def __post_init__(self) -> None:
        if not self.history_pin:
            object.__setattr__(self, "history_pin", initial_history_pin(self.room_id))

    def canonical(self) -> bytes:
        return canonical_json(
            {
                "room_id": self.room_id,
                "version": self.version,
                "status": self.status,
                "datasets": dict(sorted(self.datasets.items())),
                "history_pin": self.history_pin,
            }
        )


def derive_room_state(room_id: str, events: Iterable[AuditEvent]) -> RoomState:
    """The state after ``events`` (the room's whole log, in order)."""
    datasets: dict[str, str] = {}
    status = "active"
    version = 0
    pin = ""
    for event in events:
        version += 1
        kind = kinds.kind_of(event)
        if isinstance(kind, kinds.DatasetPublished):
            datasets[kind.node] = kind.dataset_id
        elif isinstance(kind, kinds.DatasetRemoved):
            datasets.pop(kind.node, None)
        elif isinstance(kind, kinds.RoomStopped):
            status = "stopped"
        elif isinstance(kind, kinds.CommitIntegrated):
            pin = kind.history_pin
    return RoomState(room_id, version, status, datasets, pin)


def sign_room_state(state: RoomState, key: SigningKey) -> tuple[bytes, bytes]:
    """(canonical state, signature)."""
    canonical = state.canonical()
    return canonical, key.sign(_DOMAIN + canonical)


def verify_room_state(
    room_id: str, canonical: bytes, signature: bytes, key: VerifyKey, *, min_version: int = 0
) -> RoomState:
    """Check the core's signature, the room, the form and that the version did not go back."""
    try:
        key.verify(_DOMAIN + canonical, signature)
    except VerificationError:
        raise VerificationError(f"room {room_id}: the state is not signed by the core") from None
    try:
        body = json.loads(canonical)
    except ValueError:
        raise VerificationError(f"room {room_id}: the signed state is not JSON") from None
    if not isinstance(body, dict) or set(body) != _FIELDS:
        raise VerificationError(f"room {room_id}: the signed state is malformed")
    datasets = body["datasets"]
    version = body["version"]
    if (
        not isinstance(datasets, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in datasets.items())
        or isinstance(version, bool)
        or not isinstance(version, int)
        or body["status"] not in ("active", "stopped")
        or not isinstance(body["history_pin"], str)
        or not _HEX64.match(body["history_pin"])
    ):
        raise VerificationError(f"room {room_id}: the signed state is malformed")
    state = RoomState(body["room_id"], version, body["status"], datasets, body["history_pin"])
    if state.room_id != room_id:
        raise VerificationError(f"room {room_id}: the server sent the state of another room")
    if state.canonical() != canonical:
        raise VerificationError(f"room {room_id}: the signed state is not canonical")
    if state.version < min_version:
        raise VerificationError(
            f"room {room_id}: the server sent state version {state.version}, older than "
            f"version {min_version} you saw before (rolled back)"
        )
    return state
