"""What a participant signs so that the core acts for them (ARCHITECTURE §8).

The host authenticates API tokens for its own purposes; the core believes only the participant's
own signature. Every action the core performs for someone — publish or remove a dataset, run,
fetch a result, submit, approve, reject, withdraw or integrate a request, preview, development
runs, stop, publish a room — comes with an :class:`ActionProof` over an :class:`ActionCall`::

    message = b"sealroom/participant-action/v1" || canonical_json({
                  "room_id", "action", "arguments": {name: text},
                  "nonce": 32 hex, "issued_at_ms": int, "public_key": 64 hex})

The call's arguments are built by the functions below from what the action acts on, by the SDK
when it signs and by the core from what it received, so a host that alters an argument breaks
the signature. The proof travels in the ``Sealroom-Proof`` HTTP header (base64url of canonical
JSON: the key, the certificate if any, the nonce, the time and the signature).

:func:`verify_action` checks a proof for a participant of a room: the key is the one the room
pins for them, or is certified for their address by the room's trust root; the time is within
:data:`MAX_CLOCK_SKEW_MS` of the verifier's clock; the signature verifies. That a nonce is not
used twice is the core's to check (it remembers the nonces of a room's recent actions).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from sealroom.crypto import SigningKey, VerifyKey, canonical_json, sha256_hex
from sealroom.crypto.certificates import MAX_CERTIFICATE_BYTES, verify_participant_certificate
from sealroom.errors import ParticipantSignatureError, VerificationError
from sealroom.model.identities import Identity, TrustRoot, format_fingerprint, key_fingerprint

__all__ = [
    "MAX_CLOCK_SKEW_MS",
    "PROOF_HEADER",
    "ActionCall",
    "ActionProof",
    "IdentityBinding",
    "action_message",
    "approve_request",
    "integrate_request",
    "preview_request",
    "publish_dataset",
    "publish_room",
    "reject_request",
    "remove_dataset",
    "retrieve_dataset_statistics",
    "retrieve_result",
    "retrieve_validation_report",
    "run_computation",
    "run_development",
    "share_dataset_statistics",
    "sign_action",
    "stop_room",
    "submit_request",
    "verify_action",
]

PURPOSE: Final = b"sealroom/participant-action/v1"
#: The HTTP header that carries a proof.
PROOF_HEADER: Final = "Sealroom-Proof"
#: How far a proof's time may be from the verifier's clock (either way).
MAX_CLOCK_SKEW_MS: Final = 5 * 60 * 1000
#: The longest header accepted (a certificate dominates it).
MAX_PROOF_CHARS: Final = 2 * MAX_CERTIFICATE_BYTES
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_SIGNATURE = re.compile(r"[0-9a-f]{128}")


class IdentityBinding(Protocol):
    """Where a room says how it recognises people (a :class:`RoomDefinition`)."""

    def identity(self, email: str) -> Identity | None: ...

    def trust_root(self, name: str) -> TrustRoot | None: ...


@dataclass(frozen=True)
class ActionCall:
    """An action on a room with the arguments a signature covers."""

    room_id: str
    action: str
    arguments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionProof:
    """A participant's signature over one :class:`ActionCall`."""

    public_key: VerifyKey
    nonce: str
    issued_at_ms: int
    signature: bytes
    #: A certificate (DER) of ``public_key`` from one of the room's trust roots, if any.
    certificate: bytes | None = None

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_key.to_bytes())

    def to_header(self) -> str:
        body = {
            "public_key": self.public_key.hex(),
            "certificate": None
            if self.certificate is None
            else base64.b64encode(self.certificate).decode(),
            "nonce": self.nonce,
            "issued_at_ms": self.issued_at_ms,
            "signature": self.signature.hex(),
        }
        return base64.urlsafe_b64encode(canonical_json(body)).decode().rstrip("=")

    @classmethod
    def from_header(cls, header: str) -> ActionProof:
        """Parse a header; :class:`ParticipantSignatureError` if it is not a well-formed proof."""
        malformed = ParticipantSignatureError(
            f"the {PROOF_HEADER} header is not a well-formed participant signature"
        )
        if not header.isascii() or len(header) > MAX_PROOF_CHARS:
            raise malformed
        try:
            body = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
            if not isinstance(body, dict) or set(body) != {
                "public_key",
                "certificate",
                "nonce",
                "issued_at_ms",
                "signature",
            }:
                raise malformed
            public_key, nonce = body["public_key"], body["nonce"]
            signature, issued_at, certificate = (
                body["signature"],
                body["issued_at_ms"],
                body["certificate"],
            )
            if not (
                isinstance(public_key, str)
                and _HEX64.fullmatch(public_key)
                and isinstance(nonce, str)
                and _NONCE.fullmatch(nonce)
                and isinstance(signature, str)
                and _SIGNATURE.fullmatch(signature)
                and type(issued_at) is int
                and 0 <= issued_at < 2**53
                and (certificate is None or isinstance(certificate, str))
            ):
                raise malformed
            der = None if certificate is None else base64.b64decode(certificate, validate=True)
            return cls(
                public_key=VerifyKey.from_hex(public_key),
                nonce=nonce,
                issued_at_ms=issued_at,
                signature=bytes.fromhex(signature),
                certificate=der,
            )
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise malformed from None


def action_message(call: ActionCall, proof_key: VerifyKey, nonce: str, issued_at_ms: int) -> bytes:
    """The bytes a proof signs (module docstring)."""
    return PURPOSE + canonical_json(
        {
            "room_id": call.room_id,
            "action": call.action,
            "arguments": dict(call.arguments),
            "nonce": nonce,
            "issued_at_ms": issued_at_ms,
            "public_key": proof_key.hex(),
        }
    )


def sign_action(
    key: SigningKey, call: ActionCall, *, now_ms: int, certificate: bytes | None = None
) -> ActionProof:
    """The participant's proof for ``call``, with a fresh nonce."""
    nonce = secrets.token_hex(16)
    message = action_message(call, key.verify_key, nonce, now_ms)
    return ActionProof(key.verify_key, nonce, now_ms, key.sign(message), certificate)


def verify_action(
    definition: IdentityBinding,
    email: str,
    call: ActionCall,
    proof: ActionProof | None,
    *,
    now_ms: int,
    check_time: bool = True,
) -> ActionProof:
    """``proof``, if it authenticates ``email`` for ``call`` under the room's identities (module
    docstring); :class:`ParticipantSignatureError` naming what failed.

    ``check_time=False`` is for reading a log later (offline), where the time was checked when
    the action was done.
    """
    if proof is None:
        raise ParticipantSignatureError(
            f"{call.action} needs the participant's own signature ({PROOF_HEADER} header): "
            "update the SDK, or sign with `sealroom keys`"
        )
    identity = definition.identity(email)
    if identity is None:
        raise ParticipantSignatureError(
            "the room does not say how it recognises you, so it cannot accept your signature"
        )
    fingerprint = proof.fingerprint
    if identity.key is not None:
        if fingerprint != identity.key:
            raise ParticipantSignatureError(
                f"the room pins another key for you: you signed with {_short(fingerprint)}, the "
                f"room recognises {_short(identity.key)} (`sealroom keys show` prints yours)"
            )
    else:
        root = definition.trust_root(identity.root or "")
        if root is None:  # check_identities makes this impossible in a checked definition
            raise ParticipantSignatureError("the room names no such trust root")
        if proof.certificate is None:
            raise ParticipantSignatureError(
                f"the room recognises you by certificates from its trust root {root.name!r}: "
                "send your certificate with your signature"
            )
        at_ms = now_ms if check_time else proof.issued_at_ms
        moment = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC)
        try:
            verify_participant_certificate(
                root.certificate, proof.certificate, email, proof.public_key, moment
            )
        except VerificationError as exc:
            raise ParticipantSignatureError(f"trust root {root.name!r}: {exc}") from None
    if check_time and abs(now_ms - proof.issued_at_ms) > MAX_CLOCK_SKEW_MS:
        raise ParticipantSignatureError(
            "the signature was made more than 5 minutes from the core's time: check your "
            "computer's clock and try again (an old signature is never accepted twice)"
        )
    try:
        proof.public_key.verify(
            action_message(call, proof.public_key, proof.nonce, proof.issued_at_ms),
            proof.signature,
        )
    except VerificationError:
        raise ParticipantSignatureError(
            f"the signature does not verify for {call.action} with these arguments"
        ) from None
    return proof


def _short(fingerprint: str) -> str:
    return format_fingerprint(fingerprint[:16]) + " …"


# -- the calls --------------------------------------------------------------------------------
def publish_room(room_id: str) -> ActionCall:
    """The owner publishes the room whose definition hashes to ``room_id``."""
    return ActionCall(room_id, "publish_room")


def stop_room(room_id: str) -> ActionCall:
    return ActionCall(room_id, "stop_room")


def publish_dataset(
    room_id: str,
    node: str,
    dataset_id: str,
    sealed_key: bytes,
    *,
    replace_passing: bool,
    replaces: str | None = None,
) -> ActionCall:
    """``replace_passing``: whether a dataset that fails validation still replaces one that
    passed (signed, so that the host cannot turn a refused upload into a replacement).
    ``replaces``: publish only if the node's dataset is still this one ("" for none), checked
    by the core when it publishes (a read-modify-write without lost updates); signed, so that
    the host cannot drop the condition. Absent, the parameters are those they always were."""
    parameters = {
        "node": node,
        "dataset_id": dataset_id,
        "sealed_key": sha256_hex(sealed_key),
        "replace_passing": "true" if replace_passing else "false",
    }
    if replaces is not None:
        parameters["replaces"] = replaces
    return ActionCall(room_id, "publish_dataset", parameters)


def remove_dataset(room_id: str, node: str) -> ActionCall:
    return ActionCall(room_id, "remove_dataset", {"node": node})


def retrieve_validation_report(room_id: str, node: str) -> ActionCall:
    return ActionCall(room_id, "retrieve_validation_report", {"node": node})


def run_computation(
    room_id: str, node: str, parameters: Mapping[str, str] | None, recipient_key: bytes
) -> ActionCall:
    return ActionCall(
        room_id,
        "run_computation",
        {"node": node, "parameters": _parameters(parameters), "recipient_key": recipient_key.hex()},
    )


def run_development(
    room_id: str, node: object, parameters: Mapping[str, str] | None, recipient_key: bytes
) -> ActionCall:
    """A development run of ``node`` (its JSON, as sent), covered by its canonical hash."""
    return ActionCall(
        room_id,
        "run_development",
        {
            "node": sha256_hex(canonical_json(node)),
            "parameters": _parameters(parameters),
            "recipient_key": recipient_key.hex(),
        },
    )


def preview_request(
    room_id: str, request_id: str, parameters: Mapping[str, str] | None, recipient_key: bytes
) -> ActionCall:
    return ActionCall(
        room_id,
        "preview_request",
        {
            "request_id": request_id,
            "parameters": _parameters(parameters),
            "recipient_key": recipient_key.hex(),
        },
    )


def retrieve_result(
    room_id: str, job_id: str, recipient_key: bytes, result_format: str | None
) -> ActionCall:
    return ActionCall(
        room_id,
        "retrieve_result",
        {"job_id": job_id, "recipient_key": recipient_key.hex(), "format": result_format or ""},
    )


def retrieve_dataset_statistics(room_id: str, node: str, recipient_key: bytes) -> ActionCall:
    return ActionCall(
        room_id,
        "retrieve_dataset_statistics",
        {"node": node, "recipient_key": recipient_key.hex()},
    )


def share_dataset_statistics(room_id: str, node: str, dataset_id: str, shared: bool) -> ActionCall:
    """Sharing (or no longer sharing) the statistics of ``dataset_id`` — that dataset only: a new
    dataset published to the node is not shared until its owner says so."""
    return ActionCall(
        room_id,
        "share_dataset_statistics",
        {"node": node, "dataset_id": dataset_id, "shared": "true" if shared else "false"},
    )


def submit_request(room_id: str, commit: object) -> ActionCall:
    """Submitting the commit ``commit`` (its JSON, as sent), covered by its canonical hash."""
    return ActionCall(room_id, "submit_request", {"commit": sha256_hex(canonical_json(commit))})


def approve_request(room_id: str, request_id: str) -> ActionCall:
    """Approving the request ``request_id`` — which is its commit's id, the hash of the change
    the approver reviewed, so the signature covers exactly that change."""
    return ActionCall(room_id, "approve_request", {"request_id": request_id})


def reject_request(room_id: str, request_id: str, reason: str) -> ActionCall:
    """Rejecting a request, or withdrawing one's own."""
    return ActionCall(room_id, "reject_request", {"request_id": request_id, "reason": reason})


def integrate_request(room_id: str, request_id: str) -> ActionCall:
    return ActionCall(room_id, "integrate_request", {"request_id": request_id})


def _parameters(parameters: Mapping[str, str] | None) -> str:
    return canonical_json(dict(parameters or {})).decode()
