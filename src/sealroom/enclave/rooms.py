"""Actions on a room as a whole: publish, retrieve, status, stop, signed state, meters.

A room is published by its owner: the core checks the definition, signs its canonical form (the
room id is its SHA-256) and records the publication as the first entry of the room's audit log.
Everything else here reads what the core verified — the history (:mod:`.history`), the audit
log's facts (:mod:`.verified_state`) — after :meth:`~.authorize.Authority.authorize`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealroom.audit import kinds
from sealroom.crypto import sha256_hex
from sealroom.enclave.context import CoreContext
from sealroom.enclave.history import RoomHistory, check_computations
from sealroom.errors import DefinitionError
from sealroom.model import signed_actions
from sealroom.model.commits import initial_history_pin
from sealroom.model.definition import PreviewNode, parse_definition, room_signature_message
from sealroom.model.identities import check_identities_complete
from sealroom.model.policy import Action, decide
from sealroom.model.principal import Principal
from sealroom.model.records import RoomRecord, now_ms
from sealroom.model.room_state import sign_room_state
from sealroom.model.signed_actions import verify_action
from sealroom.model.wire import AirlockQuota, AirlockQuotas, PrivacyBudgetOut, RoomStateOut

__all__ = [
    "RoomView",
    "airlock_quotas",
    "privacy_budget",
    "publish_room",
    "retrieve_room",
    "room_state",
    "room_status",
    "stop_room",
]


@dataclass(frozen=True)
class RoomView:
    """What a participant gets back when retrieving a room."""

    room_id: str
    definition: bytes  # canonical JSON; sha256 of it is the room id
    signature: bytes
    stopped: bool
    created_at_ms: int
    #: Integrated commits, in order: (canonical commit, the core's signature over it).
    commits: tuple[tuple[bytes, bytes], ...] = ()
    history_pin: str = ""


def publish_room(core: CoreContext, principal: Principal, definition_data: object) -> str:
    definition = parse_definition(definition_data)
    if not principal.is_named(definition.owner):
        raise DefinitionError(
            f"the room's owner is {definition.owner}, but {principal} is publishing it; "
            "publish rooms you own"
        )
    check_identities_complete(definition.participant_emails(), definition.identities)
    check_computations(definition, definition.nodes)
    canonical = definition.canonical_bytes()
    room_id = sha256_hex(canonical)
    # The owner's own signature of the room id — the hash of everything the room agrees on —
    # under the identity the definition gives them (there is no room to authorise against yet).
    proof = verify_action(
        definition,
        principal.email,
        signed_actions.publish_room(room_id),
        principal.proof,
        now_ms=now_ms(),
    )
    signature = core.identity.signing_key.sign(room_signature_message(room_id, canonical))
    record = RoomRecord(
        id=room_id,
        name=definition.name,
        owner_email=definition.owner,
        definition=canonical,
        signature=signature,
        created_at_ms=now_ms(),
        stopped_at_ms=None,
        state_signature=None,
    )
    # The room and its first entry in one host transaction (a room without it would look to
    # the next core like one the host slipped in).
    core.audit.append(
        room_id,
        user=principal.email,
        notes=f"published room {definition.name!r}",
        event=kinds.RoomPublished(room_id),
        proof=proof,
        write=lambda audit: core.host.insert_room(
            record, definition.participant_emails(), audit=audit
        ),
    )
    core.authority.remember(RoomHistory(room_id, definition, pins=(initial_history_pin(room_id),)))
    return room_id


def retrieve_room(core: CoreContext, principal: Principal, room_id: str) -> RoomView:
    allowed = core.authority.authorize(principal, room_id, Action.RETRIEVE_DEFINITION)
    record, history = allowed.record, allowed.history
    return RoomView(
        room_id=record.id,
        definition=record.definition,
        signature=record.signature,
        stopped=allowed.stopped,
        created_at_ms=record.created_at_ms,
        commits=tuple((c.commit, c.signature) for c in history.records),
        history_pin=history.pin,
    )


def room_status(core: CoreContext, principal: Principal, room_id: str) -> str:
    """``"active"`` or ``"stopped"``, as the room's audit log says."""
    allowed = core.authority.authorize(principal, room_id, Action.RETRIEVE_STATUS)
    return "stopped" if allowed.stopped else "active"


def stop_room(core: CoreContext, principal: Principal, room_id: str) -> None:
    allowed = core.authority.authorize(
        principal, room_id, Action.STOP_ROOM, call=signed_actions.stop_room(room_id)
    )
    with core.audit.locked(room_id) as facts:
        if facts.stopped:
            return
        core.audit.append(
            room_id,
            user=principal.email,
            notes="stopped the room",
            event=kinds.RoomStopped(),
            proof=allowed.proof,
        )
        core.copies.copy_status(room_id, facts.stopped_at_ms)


def room_state(core: CoreContext, principal: Principal, room_id: str) -> RoomStateOut:
    """Status and datasets, versioned by the audit log, in canonical form and signed."""
    core.authority.authorize(principal, room_id, Action.RETRIEVE_STATUS)
    with core.audit.locked(room_id) as facts:
        state = facts.room_state()
    canonical, signature = sign_room_state(state, core.identity.signing_key)
    return RoomStateOut(state=canonical.decode(), signature=signature.hex())


def privacy_budget(core: CoreContext, principal: Principal, room_id: str) -> PrivacyBudgetOut:
    """The room's differential-privacy budget and what its runs have spent."""
    privacy = core.authority.authorize(
        principal, room_id, Action.RETRIEVE_STATUS
    ).definition.privacy
    spent_epsilon, spent_delta = core.meters.spent(room_id)
    return PrivacyBudgetOut(
        epsilon_budget=privacy.dp_epsilon_budget,
        epsilon_spent=spent_epsilon,
        delta_budget=privacy.dp_delta_budget,
        delta_spent=spent_delta,
    )


def airlock_quotas(core: CoreContext, principal: Principal, room_id: str) -> AirlockQuotas:
    """The quota and use of each preview node ``principal`` may run."""
    definition = core.authority.authorize(principal, room_id, Action.RETRIEVE_STATUS).definition
    used = core.meters.airlock_usage(room_id, principal.email)
    return AirlockQuotas(
        quotas={
            node.name: AirlockQuota(limit=node.quota_bytes, used=used.get(node.name, 0))
            for node in definition.nodes
            if isinstance(node, PreviewNode)
            and decide(definition, principal, Action.RUN_COMPUTATION, node=node.name).allowed
        }
    )
