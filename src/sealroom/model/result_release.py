"""What the core says when it releases a job's result, signed so that only the core can say it.

Format (version 1)::

    release   = canonical JSON {"room_id", "node", "job_id", "parameters": {name: value},
                                "recipient_public_key": hex, "format", "sealed_sha256": hex}
    signature = Ed25519(core key, "sealroom/result-release/v1" || release)

The result itself travels HPKE-sealed to ``recipient_public_key`` (the analyst's key, named when
the job was *submitted*), under :func:`~sealroom.crypto.result_context`.

Invariants, and the attacks of a host in the middle they stop:

* Only the attested core signs releases, so a result the host sealed itself (``n\\n999999\\n``)
  has no valid signature: the SDK refuses it.
* The release names the recipient key. A host that swapped in its own key at submission can read
  that result, but the SDK then sees a release to a key that is not its own and refuses it; the
  swap is also in the audit log, which records the key at submission and at each retrieval.
* ``sealed_sha256`` is the hash of the *ciphertext*: it pins the exact bytes without revealing
  anything about the plaintext (a hash of a small result, such as a count, could be guessed).
* Room, node, job, parameters and format are named, so a genuine release of one run is never
  accepted as the answer to another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from sealroom.crypto import SigningKey, VerifyKey, canonical_json, sha256_hex
from sealroom.errors import VerificationError

__all__ = [
    "RESULT_FORMAT_HEADER",
    "RESULT_SIGNATURE_HEADER",
    "ResultRelease",
    "parameters_of",
    "sign_result_release",
    "verify_result_release",
]

_DOMAIN: Final = b"sealroom/result-release/v1"

#: HTTP response headers of ``POST /v1/jobs/{id}/result``: the release's signature (hex) and
#: its format (what the core chose when the request named none).
RESULT_SIGNATURE_HEADER: Final = "Sealroom-Result-Signature"
RESULT_FORMAT_HEADER: Final = "Sealroom-Result-Format"


@dataclass(frozen=True)
class ResultRelease:
    """The facts of one release of a job's result (see the module docstring)."""

    room_id: str
    node: str
    job_id: str
    recipient_public_key: str
    result_format: str
    sealed_sha256: str
    parameters: Mapping[str, str] = field(default_factory=dict)

    def canonical(self) -> bytes:
        return canonical_json(
            {
                "room_id": self.room_id,
                "node": self.node,
                "job_id": self.job_id,
                "parameters": dict(sorted(self.parameters.items())),
                "recipient_public_key": self.recipient_public_key,
                "format": self.result_format,
                "sealed_sha256": self.sealed_sha256,
            }
        )

    @classmethod
    def of(
        cls,
        *,
        room_id: str,
        node: str,
        job_id: str,
        parameters: Mapping[str, str],
        recipient_public_key: str,
        result_format: str,
        sealed: bytes,
    ) -> ResultRelease:
        return cls(
            room_id=room_id,
            node=node,
            job_id=job_id,
            recipient_public_key=recipient_public_key,
            result_format=result_format,
            sealed_sha256=sha256_hex(sealed),
            parameters=dict(parameters),
        )


def sign_result_release(release: ResultRelease, key: SigningKey) -> bytes:
    """The core's signature over ``release``."""
    return key.sign(_DOMAIN + release.canonical())


def verify_result_release(expected: ResultRelease, signature: bytes, key: VerifyKey) -> None:
    """Check that the core released exactly ``expected`` (what the SDK asked for and received).

    Raises :class:`VerificationError` saying what to suspect: the signature covers every field,
    so any difference — another recipient key, other bytes, another job — fails the same way.
    """
    try:
        key.verify(_DOMAIN + expected.canonical(), signature)
    except VerificationError:
        raise VerificationError(
            f"the result of job {expected.job_id} is not the core's release of it to your key "
            "(the server altered the result or re-sealed it, or replaced your key; check the "
            "room's audit log for the key the job was submitted with)"
        ) from None


def parameters_of(stored: str | None) -> dict[str, str]:
    """A job's parameter values from their stored JSON (None: no parameters)."""
    values = json.loads(stored) if stored else {}
    return {str(name): str(value) for name, value in values.items()}
