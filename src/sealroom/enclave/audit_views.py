"""Reading a room's audit log: entries, the signed checkpoint, inclusion and consistency proofs.

Every participant may read the whole log (it names objects, never data values:
:mod:`sealroom.audit.events`). What is served is bounded by a checkpoint the core signs now, so a
client verifies the entries against it (:func:`sealroom.audit.verify_log`) and proves later logs
extend it (RFC 9162 §2.1.4).
"""

from __future__ import annotations

from sealroom.audit import AuditEvent
from sealroom.enclave.context import CoreContext
from sealroom.errors import BadRequestError
from sealroom.model.policy import Action
from sealroom.model.principal import Principal

__all__ = ["audit_checkpoint", "audit_consistency_proof", "audit_inclusion_proof", "audit_log"]


def audit_log(
    core: CoreContext, principal: Principal, room_id: str, start: int = 0
) -> tuple[list[AuditEvent], str]:
    """Entries from ``start`` up to the size of the returned signed checkpoint."""
    core.authority.authorize(principal, room_id, Action.RETRIEVE_AUDIT_LOG)
    size, note = core.audit.checkpoint(room_id)
    if start > size:
        return [], note
    return core.audit.events(room_id, start, size), note


def audit_checkpoint(core: CoreContext, principal: Principal, room_id: str) -> str:
    core.authority.authorize(principal, room_id, Action.RETRIEVE_AUDIT_LOG)
    return core.audit.checkpoint(room_id)[1]


def audit_inclusion_proof(
    core: CoreContext, principal: Principal, room_id: str, index: int, size: int
) -> list[bytes]:
    """RFC 9162 §2.1.3: entry ``index`` is in the log of ``size`` entries."""
    core.authority.authorize(principal, room_id, Action.RETRIEVE_AUDIT_LOG)
    try:
        return core.audit.log(room_id).inclusion_proof(index, size)
    except ValueError as exc:
        raise BadRequestError(f"inclusion proof: {exc}") from None


def audit_consistency_proof(
    core: CoreContext, principal: Principal, room_id: str, first: int, second: int
) -> list[bytes]:
    """RFC 9162 §2.1.4: the log of ``second`` entries extends the one of ``first``."""
    core.authority.authorize(principal, room_id, Action.RETRIEVE_AUDIT_LOG)
    try:
        return core.audit.log(room_id).consistency_proof(first, second)
    except ValueError as exc:
        raise BadRequestError(f"consistency proof: {exc}") from None
