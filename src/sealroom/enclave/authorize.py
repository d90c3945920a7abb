"""Authorising an action: the one door every action on a room goes through first.

:meth:`Authority.authorize` loads the room's verified history (the definition the core signed
and the commits it integrated, :mod:`.history`), reads whether the room is stopped from its
audit log (:mod:`.host_copies`), and puts the action to :func:`sealroom.model.policy.decide`.
Allowed, it returns an :class:`Authorized` — who may do what, and the verified room state the
decision was made on, which the action then uses (it never loads the room a second time). Denied,
it audits the denial and raises, in this order:

1. not a participant → :class:`~sealroom.errors.NotFoundError` (the principal may not learn
   that the room exists, ARCHITECTURE §6);
2. the room is stopped → :class:`~sealroom.errors.ConflictError`;
3. otherwise → :class:`~sealroom.errors.PermissionDeniedError`, with the policy's reason.

A refusal decided later by an action's own step (an approver who owns no affected node) is
audited the same way inside :meth:`Authority.denials_audited`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sealroom.audit import kinds
from sealroom.crypto import SigningKey, sha256_hex
from sealroom.enclave.audit_log import AuditLogKeeper
from sealroom.enclave.history import RoomHistory, load_history
from sealroom.enclave.host import Host
from sealroom.enclave.host_copies import HostCopies
from sealroom.errors import (
    ConflictError,
    NotFoundError,
    ParticipantSignatureError,
    PermissionDeniedError,
    VerificationError,
)
from sealroom.model.definition import RoomDefinition, parse_definition, room_signature_message
from sealroom.model.policy import Action, decide
from sealroom.model.principal import Principal
from sealroom.model.records import RoomRecord
from sealroom.model.signed_actions import ActionCall, ActionProof, verify_action

__all__ = ["Authority", "Authorized"]

#: How much of a denial's reason the audit log keeps (a reason names objects, not data).
_MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Authorized:
    """``principal`` may perform ``action`` (on ``node``) in the room, as it was verified then.

    Built only by :meth:`Authority.authorize`, after the policy allowed the action.
    """

    principal: Principal
    action: Action
    node: str | None
    #: The host's row of the room (its signed definition was checked against the room id).
    record: RoomRecord
    #: The published definition and its integrated commits, verified.
    history: RoomHistory
    #: Whether the room is stopped, as its audit log says.
    stopped: bool
    #: The participant's own signature of the action, verified (None for an action that needs
    #: none: reading the room). Entries the action writes carry its signer and nonce.
    proof: ActionProof | None = None

    @property
    def room_id(self) -> str:
        return self.record.id

    @property
    def definition(self) -> RoomDefinition:
        """The room's current definition: the published one with its commits applied."""
        return self.history.current


class Authority:
    """Rooms' verified histories (cached, as long as the log records no newer commit) and the
    decisions."""

    def __init__(
        self,
        host: Host,
        signing_key: SigningKey,
        audit: AuditLogKeeper,
        copies: HostCopies,
    ) -> None:
        self._host = host
        self._signing_key = signing_key
        self._audit = audit
        self._copies = copies
        #: Verified histories by room; reloaded when the log records more commits (another core
        #: sharing the host integrated one).
        self._histories: dict[str, RoomHistory] = {}
        self._guard = threading.Lock()

    def authorize(
        self,
        principal: Principal,
        room_id: str,
        action: Action,
        *,
        node: str | None = None,
        call: ActionCall | None = None,
    ) -> Authorized:
        """Decide ``action``; :class:`Authorized` if allowed, else audit the denial and raise.

        With ``call``, the action is one a participant signs: once the policy allows it, the
        principal's proof must verify for ``call`` under the room's identities and its nonce
        must be new (:class:`~sealroom.errors.ParticipantSignatureError`, audited, otherwise).
        """
        record, history = self.history(room_id)
        stopped = self._copies.stopped(record)
        decision = decide(history.current, principal, action, node=node, stopped=stopped)
        if decision.allowed:
            proof = None
            if call is not None:
                proof = self.authenticate(principal, history.current, call, action, node)
            return Authorized(principal, action, node, record, history, stopped, proof)
        self.audit_denial(principal, room_id, action, node, decision.reason)
        if not decision.visible:
            raise NotFoundError(f"room {room_id} not found")
        if decision.conflict:
            raise ConflictError(decision.reason, code=decision.code)
        raise PermissionDeniedError(decision.reason)

    def authenticate(
        self,
        principal: Principal,
        definition: RoomDefinition,
        call: ActionCall,
        action: Action,
        node: str | None = None,
    ) -> ActionProof:
        """The principal's proof of ``call``, verified and its nonce used up; a refusal is
        audited as a denial of ``action`` and raised."""
        now_ms = int(time.time() * 1000)
        try:
            proof = verify_action(definition, principal.email, call, principal.proof, now_ms=now_ms)
            self._audit.claim_nonce(call.room_id, proof.nonce, now_ms)
        except ParticipantSignatureError as exc:
            self.audit_denial(principal, call.room_id, action, node, str(exc))
            raise
        return proof

    @contextmanager
    def denials_audited(self, authorized: Authorized) -> Iterator[None]:
        """A :class:`PermissionDeniedError` raised inside is audited like any other denial."""
        try:
            yield
        except PermissionDeniedError as exc:
            self.audit_denial(
                authorized.principal, authorized.room_id, authorized.action, None, str(exc)
            )
            raise

    def audit_denial(
        self, principal: Principal, room_id: str, action: Action, node: str | None, reason: str
    ) -> None:
        self._audit.append(
            room_id,
            user=principal.email,
            notes=f"denied {action.value}" + (f" on {node}" if node else "") + f": {reason}",
            event=kinds.AccessDenied(action.value, node, reason[:_MAX_REASON_CHARS]),
        )

    # -- verified histories ---------------------------------------------------------------------
    def history(self, room_id: str) -> tuple[RoomRecord, RoomHistory]:
        """The room's record and verified history (NotFoundError if the host has no room)."""
        record = self._host.get_room(room_id)
        if record is None:
            raise NotFoundError(f"room {room_id} not found")
        with self._guard:
            history = self._histories.get(room_id)
        if history is not None:
            # Another core sharing the host may have integrated a commit since: the log says.
            with self._audit.locked(room_id) as facts:
                if len(facts.commit_ids) != len(history.commits):
                    history = None
        if history is None:
            history = self._load(room_id, record)
            with self._guard:
                self._histories[room_id] = history
        return record, history

    def remember(self, history: RoomHistory) -> None:
        """Replace the room's history (a room just published, a commit just integrated)."""
        with self._guard:
            self._histories[history.room_id] = history

    def _load(self, room_id: str, record: RoomRecord) -> RoomHistory:
        # 1. The host stores the definition: it must hash to the room id, and the core signed it.
        if sha256_hex(record.definition) != room_id:
            raise VerificationError(f"the stored definition of room {room_id} was altered")
        self._signing_key.verify_key.verify(
            room_signature_message(room_id, record.definition), record.signature
        )
        base = parse_definition(json.loads(record.definition))
        # 2. The commits are the ones the log records, each signed by the core (prevents the
        #    host dropping, reordering or forging a commit).
        with self._audit.locked(room_id) as facts:
            audited = list(facts.commit_ids)
        return load_history(room_id, base, self._host.commits(room_id), audited, self._signing_key)
