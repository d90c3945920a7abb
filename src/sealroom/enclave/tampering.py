"""When the host's copy of a fact disagrees with the core's: log it, audit it, believe the core.

The host keeps copies of facts the core keeps in the audit log (a room's status, the budget it
spent, a job's parameters, …). A disagreement means the host changed one — or lost a write, which
the core cannot tell apart — so the core believes its own record, says so in a warning and, once
per disagreement and process, in the room's audit log (``TAMPERING_DETECTED``), where every
participant sees it.

What is said names the fact and the objects (room, node, job) and, for counters the log already
shows (ε spent, bytes used, runs counted), both numbers; never a value the host wrote into a
field that can hold data (parameters, a definition), and never anything of another party.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Final

from sealroom.audit import kinds
from sealroom.enclave.audit_log import AuditLogKeeper

__all__ = ["TamperingAlarm"]

logger = logging.getLogger("sealroom.enclave.tampering")

#: Disagreements remembered, so a lasting one is audited once (the oldest are forgotten first).
_REMEMBERED: Final = 10_000


class TamperingAlarm:
    def __init__(self, audit: AuditLogKeeper) -> None:
        self._audit = audit
        self._reported: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._guard = threading.Lock()

    def __call__(self, room_id: str, fact: str, what: str, *, user: str = "") -> None:
        """Report that the host's ``fact`` of ``room_id`` disagrees: ``what`` says how."""
        key = (room_id, fact, what)
        with self._guard:
            if key in self._reported:
                return
            self._reported[key] = None
            while len(self._reported) > _REMEMBERED:
                self._reported.popitem(last=False)
        logger.warning("room %s: the host altered %s: %s", room_id, fact, what)
        self._audit.append(
            room_id,
            user=user,
            notes=f"the host's copy of {fact} disagreed with the core's record ({what}); the "
            "core's record was used",
            event=kinds.TamperingDetected(fact),
        )
