"""Participants' signing keys for tests that drive the trusted core in-process.

The core performs an action for a participant only with their signature
(:mod:`sealroom.model.signed_actions`). Here each test e-mail has a fixed Ed25519 key (derived
from the address, so two test modules agree), :func:`pinned` gives a room the identities that
recognise those keys, and :class:`Actor` calls the core as one participant: the actions they
sign are signed with their key (fresh nonce and time each time), the rest pass through.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

from sealroom.crypto import SigningKey
from sealroom.enclave.core import TrustedCore
from sealroom.model import signed_actions
from sealroom.model.identities import Identity, key_fingerprint
from sealroom.model.principal import Principal
from sealroom.model.signed_actions import ActionCall, sign_action

__all__ = ["Actor", "key_of", "pinned", "signed"]


def key_of(email: str) -> SigningKey:
    """The test key of ``email`` (the same in every test)."""
    return SigningKey.from_bytes(hashlib.sha256(b"test-participant/" + email.encode()).digest())


def pinned(*emails: str) -> tuple[Identity, ...]:
    """Identities that recognise each of ``emails`` by their test key."""
    return tuple(
        Identity(email=email, key=key_fingerprint(key_of(email).verify_key.to_bytes()))
        for email in emails
    )


def signed(email: str, call: ActionCall, key: SigningKey | None = None) -> Principal:
    """``email`` asking for ``call``, signed with their test key (or ``key``)."""
    proof = sign_action(key or key_of(email), call, now_ms=int(time.time() * 1000))
    return Principal.of(email).with_proof(proof)


class Actor:
    """The core as one participant uses it (module docstring)."""

    def __init__(self, core: TrustedCore, email: str, key: SigningKey | None = None) -> None:
        self._core = core
        self.email = email
        self._key = key or key_of(email)

    def _as(self, call: ActionCall) -> Principal:
        return signed(self.email, call, self._key)

    def publish_room(self, definition: Mapping[str, Any]) -> str:
        from sealroom.model.definition import RoomDefinition

        room_id = RoomDefinition.model_validate(definition).room_id
        return self._core.publish_room(self._as(signed_actions.publish_room(room_id)), definition)

    def stop_room(self, room: str) -> None:
        self._core.stop_room(self._as(signed_actions.stop_room(room)), room)

    def publish_dataset(
        self,
        room: str,
        node: str,
        dataset_id: str,
        sealed: bytes,
        *,
        replace_passing: bool = False,
        replaces: str | None = None,
    ) -> Any:
        call = signed_actions.publish_dataset(
            room, node, dataset_id, sealed, replace_passing=replace_passing, replaces=replaces
        )
        return self._core.publish_dataset(
            self._as(call),
            room,
            node,
            dataset_id,
            sealed,
            replace_passing=replace_passing,
            replaces=replaces,
        )

    def dataset_statistics(self, room: str, node: str, recipient: bytes) -> Any:
        call = signed_actions.retrieve_dataset_statistics(room, node, recipient)
        return self._core.dataset_statistics(self._as(call), room, node, recipient)

    def share_dataset_statistics(
        self, room: str, node: str, dataset_id: str, shared: bool = True
    ) -> None:
        call = signed_actions.share_dataset_statistics(room, node, dataset_id, shared)
        self._core.share_dataset_statistics(self._as(call), room, node, dataset_id, shared)

    def remove_dataset(self, room: str, node: str) -> None:
        call = signed_actions.remove_dataset(room, node)
        self._core.remove_dataset(self._as(call), room, node)

    def validation_report(self, room: str, node: str) -> bytes:
        call = signed_actions.retrieve_validation_report(room, node)
        return self._core.validation_report(self._as(call), room, node)

    def submit_job(
        self, room: str, node: str, parameters: Mapping[str, str] | None, recipient: bytes
    ) -> Any:
        call = signed_actions.run_computation(room, node, parameters, recipient)
        return self._core.submit_job(self._as(call), room, node, parameters, recipient)

    def submit_development_job(
        self, room: str, node: Any, parameters: Mapping[str, str] | None, recipient: bytes
    ) -> Any:
        call = signed_actions.run_development(room, node, parameters, recipient)
        return self._core.submit_development_job(self._as(call), room, node, parameters, recipient)

    def retrieve_result(
        self, room: str, job_id: str, recipient: bytes, result_format: str | None
    ) -> tuple[bytes, bytes, str]:
        call = signed_actions.retrieve_result(room, job_id, recipient, result_format)
        return self._core.retrieve_result(self._as(call), job_id, recipient, result_format)

    def submit_request(self, room: str, commit: Any) -> Any:
        call = signed_actions.submit_request(room, commit)
        return self._core.submit_request(self._as(call), room, commit)

    def approve_request(self, room: str, request_id: str) -> Any:
        call = signed_actions.approve_request(room, request_id)
        return self._core.approve_request(self._as(call), room, request_id)

    def reject_request(self, room: str, request_id: str, reason: str) -> Any:
        call = signed_actions.reject_request(room, request_id, reason)
        return self._core.reject_request(self._as(call), room, request_id, reason)

    def integrate_request(self, room: str, request_id: str) -> Any:
        call = signed_actions.integrate_request(room, request_id)
        return self._core.integrate_request(self._as(call), room, request_id)

    def preview_request(
        self, room: str, request_id: str, parameters: Mapping[str, str] | None, recipient: bytes
    ) -> Any:
        call = signed_actions.preview_request(room, request_id, parameters, recipient)
        return self._core.preview_request(self._as(call), room, request_id, parameters, recipient)

    def __getattr__(self, name: str) -> Any:
        """An action nobody signs (reading the room): called as this participant."""
        method = getattr(self._core, name)
        return lambda *args, **kwargs: method(Principal.of(self.email), *args, **kwargs)
