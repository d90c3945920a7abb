"""The host's copies of a room's status and publications, read as the audit log says they are.

The room's audit log says whether the room is stopped and which dataset is published to each
node (:mod:`.verified_state`). The host keeps both too: ``rooms.stopped_at_ms`` and the
``publications`` rows, which also hold what only the host stores (the sealed dataset key, the
encrypted validation report). Read through :class:`HostCopies`, each is compared with the log:

* a status that disagrees is reported and rewritten (the log's wins: clearing ``stopped_at_ms``
  does not restart a stopped room);
* a publication row of another dataset than the log's, or a missing one, is reported and
  refused: the sealed key is bound to (room, node, dataset), so a host restoring an older row
  of the node would otherwise have the core open the older dataset.

Writers change a copy and append its entry under the room's lock; readers compare under it
again before they report, so a write in progress is never mistaken for tampering.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Final

from sealroom.crypto import SigningKey
from sealroom.enclave.audit_log import AuditLogKeeper
from sealroom.enclave.host import RoomStore
from sealroom.enclave.tampering import TamperingAlarm
from sealroom.enclave.verified_state import PublishedDataset
from sealroom.errors import ConflictError
from sealroom.model.records import PublicationRecord, RoomRecord

__all__ = ["HostCopies"]

_ROOM_STATE_DOMAIN: Final = b"sealroom/room-state/v1"
_SAYS: Final = {True: "stopped", False: "active"}


class HostCopies:
    def __init__(
        self,
        audit: AuditLogKeeper,
        host: RoomStore,
        alarm: TamperingAlarm,
        signing_key: SigningKey,
    ) -> None:
        self._audit = audit
        self._host = host
        self._alarm = alarm
        self._signing_key = signing_key

    # -- status -------------------------------------------------------------------------------
    def stopped(self, record: RoomRecord) -> bool:
        """Whether the room is stopped, as its audit log says (``record`` is the host's)."""
        with self._audit.locked(record.id) as facts:
            if facts.stopped == record.is_stopped:
                return facts.stopped
            # Read again under the room's lock: stopping writes the entry and the copy in it.
            stored = self._host.get_room(record.id)
            if stored is not None and stored.is_stopped != facts.stopped:
                self._alarm(
                    record.id,
                    "the room's status",
                    f"the host says {_SAYS[stored.is_stopped]}, the log {_SAYS[facts.stopped]}",
                )
                self.copy_status(record.id, facts.stopped_at_ms)
            return facts.stopped

    def copy_status(self, room_id: str, stopped_at: int | None) -> None:
        """Write the log's status to the host (with the core's signature, for the host's use)."""
        signature = None
        if stopped_at is not None:
            state = _ROOM_STATE_DOMAIN + room_id.encode() + b"/stopped/" + str(stopped_at).encode()
            signature = self._signing_key.sign(state)
        self._host.set_room_stopped(room_id, stopped_at, signature)

    # -- publications -------------------------------------------------------------------------
    def publication(self, room_id: str, node: str) -> PublicationRecord | None:
        """The host's row of the dataset the log says is published to ``node`` (None if none
        is); ConflictError ``dataset_tampered`` if the host lost or replaced it."""
        with self._audit.locked(room_id) as facts:
            logged = facts.datasets.get(node)
            row = self._host.get_publication(room_id, node)
        expected = logged.dataset_id if logged else None
        if (row.dataset_id if row else None) == expected:
            return row
        self._alarm(
            room_id,
            f"the publication of node {node}",
            f"the host has dataset {row.dataset_id if row else 'none'}, the log "
            f"{expected or 'none'}",
        )
        if logged is None:
            return None
        raise ConflictError(
            f"the host lost or replaced the dataset published to node {node!r}; its data owner "
            "must publish it again",
            code="dataset_tampered",
        )

    def publications(self, room_id: str) -> dict[str, PublishedDataset]:
        """The room's datasets by node, as the log records them (the host's rows checked)."""
        with self._audit.locked(room_id) as facts:
            published = dict(facts.datasets)
            stored = {p.node: p.dataset_id for p in self._host.list_publications(room_id)}
        for node in sorted(set(stored) | set(published)):
            logged = published.get(node)
            if stored.get(node) != (logged.dataset_id if logged else None):
                with suppress(ConflictError):
                    self.publication(room_id, node)  # reports the disagreement
        return published
