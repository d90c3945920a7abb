"""Client-side verification of an attestation document.

:func:`verify_attestation` is the only way to obtain a :class:`VerifiedAttestation`, and a
``VerifiedAttestation`` is the only way the SDK obtains the core's public keys: so no data key is
ever sealed to, and no signature ever checked against, a key that did not pass this checklist.
"""

from __future__ import annotations

import hmac
import time
import warnings
from collections.abc import Mapping

from pydantic import ValidationError

from sealroom.attestation.document import (
    SIMULATED_PROVIDER,
    AttestationDocument,
    EvidenceVerifier,
    SimulatedEvidenceVerifier,
    compute_report_data,
)
from sealroom.attestation.specifications import (
    CORE_ENCLAVE_NAME,
    EnclaveSpecification,
    EnclaveSpecifications,
    enclave_specifications,
    release_version,
)
from sealroom.crypto import KemPublicKey, VerifyKey
from sealroom.errors import AttestationError, ConfigurationError, SimulatedAttestationWarning

__all__ = [
    "DEFAULT_MAX_AGE_MS",
    "EVIDENCE_VERIFIERS",
    "MAX_CLOCK_SKEW_MS",
    "VerifiedAttestation",
    "verify_attestation",
]

DEFAULT_MAX_AGE_MS = 300_000
"""A document older than 5 minutes is refused: the client's nonce is fresh, so this only bounds
how long a captured document stays usable should a nonce ever be reused."""

MAX_CLOCK_SKEW_MS = 60_000
"""How far in the future ``issued_at_ms`` may be (client and server clocks differ)."""

EVIDENCE_VERIFIERS: Mapping[str, EvidenceVerifier] = {
    SIMULATED_PROVIDER: SimulatedEvidenceVerifier(),
}
"""Provider name → verifier for providers that need no expectations. The hardware providers
("sev-snp", "aws-nitro") are built per specification from what it pins (see
:func:`_hardware_verifier`)."""

_VERIFIER_TOKEN = object()


class VerifiedAttestation:
    """The core's keys and measurement, after :func:`verify_attestation` accepted them."""

    __slots__ = ("_document", "_kem_public_key", "_specification", "_verify_key")

    def __init__(
        self,
        token: object,
        document: AttestationDocument,
        specification: EnclaveSpecification,
        kem_public_key: KemPublicKey,
        verify_key: VerifyKey,
    ) -> None:
        if token is not _VERIFIER_TOKEN:
            raise TypeError("VerifiedAttestation is built only by verify_attestation()")
        self._document = document
        self._specification = specification
        self._kem_public_key = kem_public_key
        self._verify_key = verify_key

    @property
    def kem_public_key(self) -> KemPublicKey:
        """Seal dataset keys to this key."""
        return self._kem_public_key

    @property
    def verify_key(self) -> VerifyKey:
        """Check the core's signatures (audit log, room definitions) with this key."""
        return self._verify_key

    @property
    def measurement(self) -> str:
        return self._document.measurement

    @property
    def core_version(self) -> str:
        """The core's package version, as its attested code states it (bound by the evidence).

        Which code that is, :attr:`specification` says; the version is that code's own label."""
        return self._document.core_version

    @property
    def provider(self) -> str:
        return self._document.provider

    @property
    def is_simulated(self) -> bool:
        return self._document.provider == SIMULATED_PROVIDER

    @property
    def specification(self) -> EnclaveSpecification:
        return self._specification

    @property
    def document(self) -> AttestationDocument:
        return self._document

    def __repr__(self) -> str:
        return (
            f"VerifiedAttestation(provider={self.provider!r}, measurement={self.measurement!r}, "
            f"simulated={self.is_simulated})"
        )


def _hardware_verifier(provider: str, spec: EnclaveSpecification) -> EvidenceVerifier:
    """The verifier of a hardware provider, expecting what ``spec`` pins for it."""
    # Imported here: the vendor verifiers load certificates and CBOR only when needed.
    if provider == "sev-snp":
        from sealroom.attestation.sevsnp import SevSnpEvidenceVerifier, SnpTcb

        if not spec.snp_launch_measurements:
            raise AttestationError(f"{spec.id} pins no SEV-SNP launch measurement")
        if spec.snp_min_tcb is None:
            # Without a floor any platform passes, however old its firmware's known flaws.
            raise AttestationError(
                f"{spec.id} pins no SEV-SNP minimum TCB (snp_min_tcb); a specification for "
                "SEV-SNP must name the lowest firmware it accepts"
            )
        launch = {bytes.fromhex(m) for m in spec.snp_launch_measurements}
        try:
            return SevSnpEvidenceVerifier(
                {spec.measurement: launch},
                min_tcb=SnpTcb(*spec.snp_min_tcb),
                vmpl=spec.snp_vmpl,
            )
        except ValueError as exc:
            raise AttestationError(f"{spec.id}: {exc}") from None
    if provider == "aws-nitro":
        from sealroom.attestation.nitro import NitroEvidenceVerifier

        if not spec.nitro_pcrs:
            raise AttestationError(f"{spec.id} pins no Nitro PCRs")
        pcrs = {index: bytes.fromhex(value) for index, value in spec.nitro_pcrs}
        try:
            return NitroEvidenceVerifier({spec.measurement: pcrs})
        except ValueError as exc:
            raise AttestationError(f"{spec.id}: {exc}") from None
    raise AttestationError(f"no verifier for attestation provider {provider!r}")


def verify_attestation(
    document: Mapping[str, object] | AttestationDocument,
    specs: Mapping[str, EnclaveSpecification],
    *,
    nonce: bytes,
    now_ms: int | None = None,
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
    verifiers: Mapping[str, EvidenceVerifier] = EVIDENCE_VERIFIERS,
    catalogue: EnclaveSpecifications = enclave_specifications,
) -> VerifiedAttestation:
    """Accept the document only if it attests a core trusted by ``specs``, for our ``nonce``.

    ``specs`` is what :meth:`EnclaveSpecifications.latest` or ``versions`` return; the
    ``"sealroom.core"`` entries among them are the acceptable cores (any one of them will do).
    Raises :class:`~sealroom.errors.AttestationError` naming the failed step. ``catalogue`` only
    serves to name an untrusted core's release in that error; it never makes a core trusted.
    """
    # 1. Parse strictly (unknown fields, wrong types, malformed hex): stops a host smuggling
    #    fields or values that a lax parser would coerce into something else.
    if not isinstance(document, AttestationDocument):
        if not isinstance(document, Mapping):
            raise AttestationError("malformed attestation document (not a JSON object)")
        try:
            document = AttestationDocument.model_validate(dict(document), strict=True)
        except ValidationError as exc:
            # Field locations only: pydantic's messages would echo the untrusted input.
            fields = sorted({".".join(str(p) for p in error["loc"]) for error in exc.errors()})
            raise AttestationError(
                f"malformed attestation document (fields: {', '.join(fields) or '-'})"
            ) from None

    # 2. Provider accepted by a trusted specification of the core: stops a downgrade to a
    #    provider the client never agreed to trust (e.g. "simulated" where hardware is required).
    candidates = [spec for spec in specs.values() if spec.name == CORE_ENCLAVE_NAME]
    if not candidates:
        raise AttestationError(f"no enclave specification for {CORE_ENCLAVE_NAME!r} was given")
    candidates = [spec for spec in candidates if document.provider in spec.accepted_providers]
    if not candidates:
        raise AttestationError(
            f"attestation provider {document.provider!r} is not accepted by the specification"
        )

    # 3. Measurement equals a trusted one: stops a server running modified or unknown code.
    #    Only the measurement decides; the message names what the server runs, for the user.
    matching = [s for s in candidates if hmac.compare_digest(s.measurement, document.measurement)]
    if not matching:
        raise AttestationError(_untrusted_measurement_message(document, candidates, catalogue))
    specification = matching[0]

    # 4. Our nonce: stops replay of a document produced for somebody else or earlier.
    if not hmac.compare_digest(document.nonce, nonce.hex()):
        raise AttestationError("the attestation document is not for our nonce (replayed)")

    # 5. Freshness: stops use of an old captured document; also refuses one from the future.
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if document.issued_at_ms > now + MAX_CLOCK_SKEW_MS:
        raise AttestationError("the attestation document is issued in the future (clock skew?)")
    if now - document.issued_at_ms > max_age_ms:
        raise AttestationError(f"the attestation document is older than {max_age_ms} ms (stale)")

    # 6. Recompute report_data: binds the keys, nonce, time, measurement and stated version to
    #    the evidence, so no key can be swapped into a document whose evidence is genuine.
    expected_report_data = compute_report_data(
        measurement=document.measurement,
        core_version=document.core_version,
        kem_public_key=document.kem_public_key,
        signing_public_key=document.signing_public_key,
        nonce=document.nonce,
        provider=document.provider,
        issued_at_ms=document.issued_at_ms,
    )
    if not hmac.compare_digest(expected_report_data, document.report_data):
        raise AttestationError("report_data does not match the document (keys swapped?)")

    # 7. The provider's evidence covers report_data and the measurement: stops forged documents.
    verifier = verifiers.get(document.provider) or _hardware_verifier(
        document.provider, specification
    )
    verifier.verify(document, report_data=bytes.fromhex(expected_report_data))

    try:
        kem_public_key = KemPublicKey.from_hex(document.kem_public_key)
        verify_key = VerifyKey.from_hex(document.signing_public_key)
    except ValueError:
        raise AttestationError("the attested public keys are malformed") from None

    # 8. Say it loudly when nothing but software stands behind the attestation, every time:
    #    warn_explicit without a registry is not shown once per process and then muted.
    if document.provider == SIMULATED_PROVIDER:
        warnings.warn_explicit(
            "The Sealroom core uses a SIMULATED attestation: no confidential-computing hardware "
            "protects it, and its operator can read all data. Use it only for development or "
            "with an operator you trust.",
            SimulatedAttestationWarning,
            __file__,
            0,
            module=__name__,
        )
    return VerifiedAttestation(_VERIFIER_TOKEN, document, specification, kem_public_key, verify_key)


def _untrusted_measurement_message(
    document: AttestationDocument,
    trusted: list[EnclaveSpecification],
    catalogue: EnclaveSpecifications = enclave_specifications,
) -> str:
    """Why a core is refused, what it runs, and how to trust it if the user decides to.

    What the core runs is named from its measurement when this SDK's catalogue knows it (a fact
    about the code), else by the version the core states (a claim of code nobody vouches for,
    labelled so). Never a reason to accept: the caller refuses whatever this says.
    """
    try:
        known = catalogue.with_measurement(document.measurement)
        listed = catalogue.list()
    except ConfigurationError:  # this SDK's own catalogue is broken: name nothing from it
        known, listed = [], []
    trusted_ids = ", ".join(sorted(spec.id for spec in trusted))
    message = (
        f"the core runs code you do not trust: it reports measurement {document.measurement}, "
        f"which no specification you trust has (you trust: {trusted_ids}). "
    )
    if known:
        return message + (
            f"This SDK knows that measurement as {' and '.join(s.id for s in known)} (the core "
            f"states version {document.core_version}). If you mean to trust it: "
            f"`sealroom attest URL --spec {known[0].id}` on the command line, "
            f"enclave_specs=enclave_specifications.versions([{known[0].id!r}]) in the SDK."
        )
    claimed = f"{CORE_ENCLAVE_NAME}:{release_version(document.core_version)}"
    if claimed in listed:
        message += (
            f"The core states version {document.core_version}, but that release "
            f"({claimed}) has another measurement: the server runs modified code, or misstates "
            "its version. "
        )
    else:
        message += (
            f"The core states version {document.core_version} (its own claim: this SDK lists no "
            "release with that measurement). "
        )
    return message + (
        "To trust a release this SDK does not list, take its specification from the release, "
        "reproduce its measurement (docs/releases.md) and pin it: `sealroom attest URL "
        "--spec-file FILE` on the command line, "
        "enclave_specs=enclave_specifications.from_file(FILE) in the SDK."
    )
