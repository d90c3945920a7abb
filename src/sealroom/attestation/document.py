"""The attestation document the core hands to clients, and the evidence providers behind it.

The document says: "the core running measurement M, which calls itself version V, holds the
private halves of these two public keys (KEM for sealing to it, signing for everything it signs);
here is evidence from provider P, bound to your nonce". Binding works through ``report_data``::

    report_data = sha256_hex(canonical_json({measurement, core_version, kem_public_key,
                                             signing_public_key, nonce, provider, issued_at_ms}))

``core_version`` is the package version stated by the core's own (measured) code, so it is
covered by the evidence like the rest; it is still only a *claim* of that code: a client decides
on the measurement alone and uses the version to name what a server runs (e.g. in the error that
refuses an unknown measurement).

A hardware provider puts ``report_data`` (as 32 raw bytes) into the report it signs (SEV-SNP
``REPORT_DATA``, TDX ``REPORTDATA``, Nitro ``user_data``), so that the keys, the nonce and the
time are covered by the hardware's signature. Providers implement :class:`EvidenceProvider` on the
core side and :class:`EvidenceVerifier` on the client side; nothing else changes when a real one
is added.

The only provider today is **simulated**: its "evidence" is a signature by the core's own signing
key, which proves possession of that key and nothing about which code runs or who can read memory.
:data:`SIMULATED_WARNING` says so in every simulated document.
"""

from __future__ import annotations

import time
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from sealroom._version import __version__
from sealroom.crypto import KemPublicKey, SigningKey, VerifyKey, canonical_json, sha256_hex
from sealroom.errors import AttestationError, VerificationError

__all__ = [
    "MAX_NONCE_BYTES",
    "MIN_NONCE_BYTES",
    "SIMULATED_PROVIDER",
    "SIMULATED_WARNING",
    "AttestationDocument",
    "EvidenceProvider",
    "EvidenceVerifier",
    "SimulatedEvidenceVerifier",
    "SimulatedProvider",
    "compute_report_data",
    "produce_attestation",
]

MIN_NONCE_BYTES = 16
"""Shortest client nonce: 128 bits, so that a replayed document is never accepted by chance."""

MAX_NONCE_BYTES = 64
"""Longest client nonce (the size of SEV-SNP's REPORT_DATA)."""

SIMULATED_PROVIDER = "simulated"

SIMULATED_WARNING = (
    "SIMULATED ATTESTATION: no confidential-computing hardware protects this server. The evidence "
    "is signed by the server's own key: it proves possession of that key, not which code runs. "
    "Whoever operates the machine can read the keys and every dataset in memory."
)

_SIMULATED_EVIDENCE_DOMAIN = b"sealroom/simulated-evidence/v1"
_HEX64 = r"^[0-9a-f]{64}$"
# A PEP 440 version's characters, bounded: it is shown to users in messages, so no spaces or
# control characters can come through it.
_CORE_VERSION = r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$"


class AttestationDocument(BaseModel):
    """The JSON document served by ``GET /v1/enclave/attestation?nonce=...``.

    Parsing is strict: no unknown fields, no type coercion, lower-case hex of exact length.
    Validity says nothing about trust; only :func:`~sealroom.attestation.verify.verify_attestation`
    decides that.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    # Not Literal[1]: pydantic's literal check accepts True and 1.0 even in strict mode.
    version: int = Field(default=1, ge=1, le=1)
    provider: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    measurement: str = Field(pattern=_HEX64)
    #: The core's package version, as its own code states it (``sealroom.__version__``).
    core_version: str = Field(pattern=_CORE_VERSION)
    kem_public_key: str = Field(pattern=_HEX64)
    signing_public_key: str = Field(pattern=_HEX64)
    nonce: str = Field(pattern=rf"^(?:[0-9a-f]{{2}}){{{MIN_NONCE_BYTES},{MAX_NONCE_BYTES}}}$")
    issued_at_ms: int = Field(ge=0, le=2**53 - 1)
    report_data: str = Field(pattern=_HEX64)
    evidence: dict[str, JsonValue]
    warning: str = Field(default="", max_length=1000)


def compute_report_data(
    *,
    measurement: str,
    core_version: str,
    kem_public_key: str,
    signing_public_key: str,
    nonce: str,
    provider: str,
    issued_at_ms: int,
) -> str:
    """The hex SHA-256 that binds the document's fields into the provider's evidence."""
    return sha256_hex(
        canonical_json(
            {
                "measurement": measurement,
                "core_version": core_version,
                "kem_public_key": kem_public_key,
                "signing_public_key": signing_public_key,
                "nonce": nonce,
                "provider": provider,
                "issued_at_ms": issued_at_ms,
            }
        )
    )


class EvidenceProvider(Protocol):
    """Core side of an attestation provider (simulated, SEV-SNP, TDX, Nitro ...)."""

    @property
    def name(self) -> str: ...

    @property
    def warning(self) -> str:
        """Shown in the document; empty for hardware providers."""
        ...

    def produce(self, report_data: bytes) -> dict[str, JsonValue]:
        """Evidence binding the 32-byte ``report_data`` (JSON-able, provider-specific)."""
        ...


class EvidenceVerifier(Protocol):
    """Client side of an attestation provider.

    ``verify`` returns only if ``document.evidence`` is genuine for this provider, covers
    ``report_data`` (32 bytes, recomputed by the client) and attests ``document.measurement``;
    otherwise it raises :class:`~sealroom.errors.AttestationError`. It receives the whole document
    because providers need different parts (the simulated one needs the signing key).
    """

    def verify(self, document: AttestationDocument, *, report_data: bytes) -> None: ...


class SimulatedProvider:
    """Self-signed evidence: ``{"signature": hex(Ed25519(core key, domain || report_data))}``.

    Proves only that the document was produced by the holder of the core's signing key — not what
    code runs, nor that anybody but the operator is kept out. Never a substitute for hardware.
    """

    name = SIMULATED_PROVIDER
    warning = SIMULATED_WARNING

    def __init__(self, signing_key: SigningKey) -> None:
        self._signing_key = signing_key

    def produce(self, report_data: bytes) -> dict[str, JsonValue]:
        signature = self._signing_key.sign(_SIMULATED_EVIDENCE_DOMAIN + report_data)
        return {"signature": signature.hex()}


class SimulatedEvidenceVerifier:
    """Checks the self-signature of :class:`SimulatedProvider` with the document's signing key."""

    def verify(self, document: AttestationDocument, *, report_data: bytes) -> None:
        evidence = document.evidence
        signature = evidence.get("signature")
        if set(evidence) != {"signature"} or not isinstance(signature, str):
            raise AttestationError("simulated evidence must be exactly {'signature': hex}")
        try:
            verify_key = VerifyKey.from_hex(document.signing_public_key)
            verify_key.verify(_SIMULATED_EVIDENCE_DOMAIN + report_data, bytes.fromhex(signature))
        except (ValueError, VerificationError):
            raise AttestationError("simulated evidence: invalid signature") from None


def produce_attestation(
    provider: EvidenceProvider,
    measurement: str,
    kem_public_key: KemPublicKey,
    signing_public_key: VerifyKey,
    nonce: bytes,
    *,
    now_ms: int | None = None,
    core_version: str = __version__,
) -> AttestationDocument:
    """Build the document for a client's ``nonce`` (:data:`MIN_NONCE_BYTES` to
    :data:`MAX_NONCE_BYTES` bytes; :class:`ValueError` otherwise, a 400 for the server).

    ``core_version`` is this package's version; tests may state another."""
    if not isinstance(nonce, bytes) or not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
        raise ValueError(f"the nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes")
    issued_at_ms = int(time.time() * 1000) if now_ms is None else now_ms
    report_data = compute_report_data(
        measurement=measurement,
        core_version=core_version,
        kem_public_key=kem_public_key.hex(),
        signing_public_key=signing_public_key.hex(),
        nonce=nonce.hex(),
        provider=provider.name,
        issued_at_ms=issued_at_ms,
    )
    return AttestationDocument(
        provider=provider.name,
        measurement=measurement,
        core_version=core_version,
        kem_public_key=kem_public_key.hex(),
        signing_public_key=signing_public_key.hex(),
        nonce=nonce.hex(),
        issued_at_ms=issued_at_ms,
        report_data=report_data,
        evidence=provider.produce(bytes.fromhex(report_data)),
        warning=provider.warning,
    )
