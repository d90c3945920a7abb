"""Attestation documents: production and every verification step failing on its own."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest

from sealroom.attestation import (
    DEFAULT_MAX_AGE_MS,
    MAX_CLOCK_SKEW_MS,
    SIMULATED_WARNING,
    AttestationDocument,
    EnclaveSpecification,
    SimulatedProvider,
    VerifiedAttestation,
    compute_report_data,
    produce_attestation,
    verify_attestation,
)
from sealroom.crypto import KemPrivateKey, SigningKey, open_sealed, result_context, seal
from sealroom.errors import AttestationError, SimulatedAttestationWarning, VerificationError

MEASUREMENT = "ab" * 32
NOW = 1_732_233_600_000
NONCE = bytes(range(32))
SPEC = EnclaveSpecification(
    name="sealroom.core",
    version="v1",
    measurement=MEASUREMENT,
    accepted_providers=frozenset({"simulated"}),
)
SPECS = {"sealroom.core": SPEC}

SIGNING_KEY = SigningKey.from_bytes(bytes([1]) * 32)
KEM_KEY = KemPrivateKey.from_bytes(bytes([2]) * 32)


def _document(
    *,
    signing_key: SigningKey = SIGNING_KEY,
    measurement: str = MEASUREMENT,
    nonce: bytes = NONCE,
    now_ms: int = NOW,
) -> AttestationDocument:
    return produce_attestation(
        SimulatedProvider(signing_key),
        measurement,
        KEM_KEY.public_key,
        signing_key.verify_key,
        nonce,
        now_ms=now_ms,
    )


def _verify(document: object, **kwargs: object) -> VerifiedAttestation:
    options: dict[str, object] = {"nonce": NONCE, "now_ms": NOW + 1000, **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SimulatedAttestationWarning)
        return verify_attestation(document, SPECS, **options)  # type: ignore[arg-type]


def _resigned(wire: dict[str, object], signing_key: SigningKey = SIGNING_KEY) -> dict[str, object]:
    """Recompute report_data and the simulated evidence after changing fields."""
    report_data = compute_report_data(
        measurement=str(wire["measurement"]),
        kem_public_key=str(wire["kem_public_key"]),
        signing_public_key=str(wire["signing_public_key"]),
        nonce=str(wire["nonce"]),
        provider=str(wire["provider"]),
        issued_at_ms=int(wire["issued_at_ms"]),  # type: ignore[call-overload]
    )
    evidence = SimulatedProvider(signing_key).produce(bytes.fromhex(report_data))
    return {**wire, "report_data": report_data, "evidence": evidence}


# ---- production ----------------------------------------------------------------------------


def test_document_contents() -> None:
    document = _document()
    assert document.version == 1
    assert document.provider == "simulated"
    assert document.measurement == MEASUREMENT
    assert document.kem_public_key == KEM_KEY.public_key.hex()
    assert document.signing_public_key == SIGNING_KEY.verify_key.hex()
    assert document.nonce == NONCE.hex()
    assert document.issued_at_ms == NOW
    assert document.warning == SIMULATED_WARNING
    assert "no confidential-computing hardware" in document.warning
    assert set(document.evidence) == {"signature"}
    wire = document.to_wire()
    assert AttestationDocument.model_validate(wire) == document


def test_report_data_known_answer() -> None:
    # sha256 of the canonical JSON of the six bound fields (computed by hand).
    assert (
        compute_report_data(
            measurement="m",
            kem_public_key="k",
            signing_public_key="s",
            nonce="n",
            provider="p",
            issued_at_ms=1,
        )
        == "869933d8f11686a5d544ca4fce64f04a840a7ea80929c6b7605b13b9f22377ca"
    )


@pytest.mark.parametrize("size", [0, 15, 65])
def test_nonce_length_enforced(size: int) -> None:
    with pytest.raises(ValueError, match="16 to 64 bytes"):
        _document(nonce=b"\x00" * size)


# ---- verification --------------------------------------------------------------------------


def test_accepts_and_warns() -> None:
    document = _document().to_wire()
    with pytest.warns(SimulatedAttestationWarning, match="SIMULATED"):
        verified = verify_attestation(document, SPECS, nonce=NONCE, now_ms=NOW + 1000)
    assert verified.is_simulated
    assert verified.provider == "simulated"
    assert verified.measurement == MEASUREMENT
    assert verified.kem_public_key == KEM_KEY.public_key
    assert verified.verify_key == SIGNING_KEY.verify_key
    assert verified.specification == SPEC
    # The verified keys are usable: seal to the core, check its signatures.
    sealed = seal(verified.kem_public_key, b"k", context=result_context("r", "j", "csv"))
    assert open_sealed(KEM_KEY, sealed, context=result_context("r", "j", "csv")) == b"k"
    verified.verify_key.verify(b"m", SIGNING_KEY.sign(b"m"))


def test_warns_every_time_not_once_per_process() -> None:
    """Under Python's default filters a warning from one line is shown once per process; the
    simulated attestation must be said every time it is accepted (each session)."""
    document = _document().to_wire()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            verify_attestation(document, SPECS, nonce=NONCE, now_ms=NOW + 1000)
    assert [w.category for w in caught] == [SimulatedAttestationWarning] * 3


def test_accepts_a_parsed_document() -> None:
    assert _verify(_document()).measurement == MEASUREMENT


def test_verified_attestation_cannot_be_built_directly() -> None:
    with pytest.raises(TypeError, match="verify_attestation"):
        VerifiedAttestation(object(), _document(), SPEC, KEM_KEY.public_key, SIGNING_KEY.verify_key)


def test_attestation_error_is_a_verification_error() -> None:
    assert issubclass(AttestationError, VerificationError)


Mutation = Callable[[dict[str, object]], object]

# Step 1: strict parsing.
MALFORMED: dict[str, Mutation] = {
    "extra_field": lambda w: {**w, "hardware": True},
    "missing_field": lambda w: {k: v for k, v in w.items() if k != "report_data"},
    "version": lambda w: {**w, "version": 2},
    "version_bool": lambda w: {**w, "version": True},
    "version_float": lambda w: {**w, "version": 1.0},
    "issued_at_str": lambda w: {**w, "issued_at_ms": str(w["issued_at_ms"])},
    "issued_at_bool": lambda w: {**w, "issued_at_ms": True},
    "upper_hex": lambda w: {**w, "measurement": str(w["measurement"]).upper()},
    "short_key": lambda w: {**w, "kem_public_key": "ab" * 31},
    "short_nonce": lambda w: {**w, "nonce": "00" * 15},
    "odd_nonce": lambda w: {**w, "nonce": "0" * 33},
    "evidence_list": lambda w: {**w, "evidence": ["x"]},
    "not_an_object": lambda w: [w],
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_step1_malformed(name: str) -> None:
    with pytest.raises(AttestationError, match="malformed attestation document"):
        _verify(MALFORMED[name](_document().to_wire()))


def test_step1_error_does_not_echo_input() -> None:
    wire = {**_document().to_wire(), "provider": "EVIL<script>"}
    with pytest.raises(AttestationError) as excinfo:
        _verify(wire)
    assert "EVIL" not in str(excinfo.value)
    assert "provider" in str(excinfo.value)


def test_step2_unknown_provider() -> None:
    wire = _resigned({**_document().to_wire(), "provider": "sev-snp"})
    with pytest.raises(AttestationError, match="provider 'sev-snp' is not accepted"):
        _verify(wire)


def test_step2_requires_a_core_specification() -> None:
    other = {"x": EnclaveSpecification("other.core", "v1", MEASUREMENT, frozenset({"simulated"}))}
    with pytest.raises(AttestationError, match=r"no enclave specification for 'sealroom.core'"):
        verify_attestation(_document(), other, nonce=NONCE, now_ms=NOW)
    with pytest.raises(AttestationError, match="no enclave specification"):
        verify_attestation(_document(), {}, nonce=NONCE, now_ms=NOW)


def test_step3_wrong_measurement() -> None:
    # A modified server measures differently, and signs its document correctly.
    with pytest.raises(AttestationError, match=r"measurement .*modified"):
        _verify(_document(measurement="cd" * 32))


def test_step3_any_trusted_version_is_accepted() -> None:
    v2 = EnclaveSpecification("sealroom.core", "v2", "cd" * 32, frozenset({"simulated"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SimulatedAttestationWarning)
        verified = verify_attestation(
            _document(measurement="cd" * 32), {"a": SPEC, "b": v2}, nonce=NONCE, now_ms=NOW
        )
    assert verified.specification == v2


def test_step4_wrong_nonce() -> None:
    with pytest.raises(AttestationError, match="nonce"):
        _verify(_document(nonce=b"\x07" * 32))


def test_step5_stale() -> None:
    document = _document()
    assert _verify(document, now_ms=NOW + DEFAULT_MAX_AGE_MS).measurement == MEASUREMENT
    with pytest.raises(AttestationError, match="stale"):
        _verify(document, now_ms=NOW + DEFAULT_MAX_AGE_MS + 1)
    with pytest.raises(AttestationError, match="stale"):
        _verify(document, now_ms=NOW + 2000, max_age_ms=1000)


def test_step5_from_the_future() -> None:
    document = _document(now_ms=NOW + MAX_CLOCK_SKEW_MS + 1)
    with pytest.raises(AttestationError, match="future"):
        _verify(document, now_ms=NOW)


def test_step5_time_is_bound_into_report_data() -> None:
    # Rewriting issued_at_ms to pass the freshness check breaks step 6.
    wire = {**_document(now_ms=NOW - 10 * DEFAULT_MAX_AGE_MS).to_wire(), "issued_at_ms": NOW}
    with pytest.raises(AttestationError, match="report_data"):
        _verify(wire)


def test_step6_swapped_kem_key() -> None:
    # The host substitutes its own KEM key to read dataset keys sealed by clients.
    attacker = KemPrivateKey.generate().public_key.hex()
    with pytest.raises(AttestationError, match="report_data"):
        _verify({**_document().to_wire(), "kem_public_key": attacker})


def test_step6_tampered_report_data() -> None:
    with pytest.raises(AttestationError, match="report_data"):
        _verify({**_document().to_wire(), "report_data": "00" * 32})


def test_step7_bad_signature() -> None:
    wire = _document().to_wire()
    signature = bytearray(bytes.fromhex(str(wire["evidence"]["signature"])))  # type: ignore[index]
    signature[0] ^= 1
    with pytest.raises(AttestationError, match="invalid signature"):
        _verify({**wire, "evidence": {"signature": signature.hex()}})


def test_step7_swapped_signing_key_with_recomputed_report_data() -> None:
    # report_data recomputed for the attacker's key, but the evidence still signed by the core.
    wire = _document().to_wire()
    swapped = {**wire, "signing_public_key": SigningKey.generate().verify_key.hex()}
    swapped = {**_resigned(swapped, SIGNING_KEY), "evidence": wire["evidence"]}
    with pytest.raises(AttestationError, match="invalid signature"):
        _verify(swapped)


@pytest.mark.parametrize("evidence", [{}, {"signature": 5}, {"signature": "zz"}, {"sig": "00"}])
def test_step7_malformed_evidence(evidence: dict[str, object]) -> None:
    with pytest.raises(AttestationError, match="simulated evidence"):
        _verify({**_document().to_wire(), "evidence": evidence})


def test_step7_accepted_provider_without_verifier() -> None:
    spec = EnclaveSpecification("sealroom.core", "v1", MEASUREMENT, frozenset({"tdx"}))
    wire = _resigned({**_document().to_wire(), "provider": "tdx"})
    with pytest.raises(AttestationError, match="no verifier for attestation provider 'tdx'"):
        verify_attestation(wire, {"c": spec}, nonce=NONCE, now_ms=NOW)


def test_step7_hardware_provider_without_pinned_expectations() -> None:
    spec = EnclaveSpecification("sealroom.core", "v1", MEASUREMENT, frozenset({"sev-snp"}))
    wire = _resigned({**_document().to_wire(), "provider": "sev-snp"})
    with pytest.raises(AttestationError, match="pins no SEV-SNP launch measurement"):
        verify_attestation(wire, {"c": spec}, nonce=NONCE, now_ms=NOW)


def test_simulated_evidence_proves_only_key_possession() -> None:
    # Documented limitation: anyone can mint a valid simulated document for any key and the
    # expected measurement. That is why it warns, and why it must never be mistaken for hardware.
    forged = _document(signing_key=SigningKey.generate())
    with pytest.warns(SimulatedAttestationWarning):
        verified = verify_attestation(forged, SPECS, nonce=NONCE, now_ms=NOW)
    assert verified.is_simulated
