"""Attestation documents: production and every verification step failing on its own."""

from __future__ import annotations

import base64
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path

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
from sealroom.attestation.nitro import NitroEvidenceVerifier
from sealroom.crypto import KemPrivateKey, SigningKey, open_sealed, result_context, seal
from sealroom.errors import AttestationError, SimulatedAttestationWarning, VerificationError
from tests.unit import nitro_pki

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
        core_version=str(wire["core_version"]),
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
    wire = document.model_dump(mode="json")
    assert AttestationDocument.model_validate(wire) == document


def test_report_data_known_answer() -> None:
    # sha256 of the canonical JSON of the seven bound fields (computed by hand: printf '%s'
    # '{"core_version":"c","issued_at_ms":1,"kem_public_key":"k",...}' | sha256sum).
    assert (
        compute_report_data(
            measurement="m",
            core_version="c",
            kem_public_key="k",
            signing_public_key="s",
            nonce="n",
            provider="p",
            issued_at_ms=1,
        )
        == "c4535543179db6b7625847b1c879a46fda70c9f6fe2883039cc8cfe694bd5d14"
    )


@pytest.mark.parametrize("size", [0, 15, 65])
def test_nonce_length_enforced(size: int) -> None:
    with pytest.raises(ValueError, match="16 to 64 bytes"):
        _document(nonce=b"\x00" * size)


# ---- verification --------------------------------------------------------------------------


def test_accepts_and_warns() -> None:
    document = _document().model_dump(mode="json")
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
    document = _document().model_dump(mode="json")
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
        _verify(MALFORMED[name](_document().model_dump(mode="json")))


def test_step1_error_does_not_echo_input() -> None:
    wire = {**_document().model_dump(mode="json"), "provider": "EVIL<script>"}
    with pytest.raises(AttestationError) as excinfo:
        _verify(wire)
    assert "EVIL" not in str(excinfo.value)
    assert "provider" in str(excinfo.value)


def test_step2_unknown_provider() -> None:
    wire = _resigned({**_document().model_dump(mode="json"), "provider": "sev-snp"})
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
    with pytest.raises(AttestationError, match=r"do not trust: it reports measurement (cd){32}"):
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
    wire = {
        **_document(now_ms=NOW - 10 * DEFAULT_MAX_AGE_MS).model_dump(mode="json"),
        "issued_at_ms": NOW,
    }
    with pytest.raises(AttestationError, match="report_data"):
        _verify(wire)


def test_step6_swapped_kem_key() -> None:
    # The host substitutes its own KEM key to read dataset keys sealed by clients.
    attacker = KemPrivateKey.generate().public_key.hex()
    with pytest.raises(AttestationError, match="report_data"):
        _verify({**_document().model_dump(mode="json"), "kem_public_key": attacker})


def test_step6_tampered_report_data() -> None:
    with pytest.raises(AttestationError, match="report_data"):
        _verify({**_document().model_dump(mode="json"), "report_data": "00" * 32})


def test_step7_bad_signature() -> None:
    wire = _document().model_dump(mode="json")
    signature = bytearray(bytes.fromhex(str(wire["evidence"]["signature"])))  # type: ignore[index]
    signature[0] ^= 1
    with pytest.raises(AttestationError, match="invalid signature"):
        _verify({**wire, "evidence": {"signature": signature.hex()}})


def test_step7_swapped_signing_key_with_recomputed_report_data() -> None:
    # report_data recomputed for the attacker's key, but the evidence still signed by the core.
    wire = _document().model_dump(mode="json")
    swapped = {**wire, "signing_public_key": SigningKey.generate().verify_key.hex()}
    swapped = {**_resigned(swapped, SIGNING_KEY), "evidence": wire["evidence"]}
    with pytest.raises(AttestationError, match="invalid signature"):
        _verify(swapped)


@pytest.mark.parametrize("evidence", [{}, {"signature": 5}, {"signature": "zz"}, {"sig": "00"}])
def test_step7_malformed_evidence(evidence: dict[str, object]) -> None:
    with pytest.raises(AttestationError, match="simulated evidence"):
        _verify({**_document().model_dump(mode="json"), "evidence": evidence})


def test_step7_accepted_provider_without_verifier() -> None:
    spec = EnclaveSpecification("sealroom.core", "v1", MEASUREMENT, frozenset({"tdx"}))
    wire = _resigned({**_document().model_dump(mode="json"), "provider": "tdx"})
    with pytest.raises(AttestationError, match="no verifier for attestation provider 'tdx'"):
        verify_attestation(wire, {"c": spec}, nonce=NONCE, now_ms=NOW)


def test_step7_hardware_provider_without_pinned_expectations() -> None:
    spec = EnclaveSpecification("sealroom.core", "v1", MEASUREMENT, frozenset({"sev-snp"}))
    wire = _resigned({**_document().model_dump(mode="json"), "provider": "sev-snp"})
    with pytest.raises(AttestationError, match="pins no SEV-SNP launch measurement"):
        verify_attestation(wire, {"c": spec}, nonce=NONCE, now_ms=NOW)


def test_simulated_evidence_proves_only_key_possession() -> None:
    # Documented limitation: anyone can mint a valid simulated document for any key and the
    # expected measurement. That is why it warns, and why it must never be mistaken for hardware.
    forged = _document(signing_key=SigningKey.generate())
    with pytest.warns(SimulatedAttestationWarning):
        verified = verify_attestation(forged, SPECS, nonce=NONCE, now_ms=NOW)
    assert verified.is_simulated


# ---- every refusal names its step, exactly --------------------------------------------------


def _refused(message: str, document: object, **kwargs: object) -> None:
    """Verification fails with exactly ``message``: what the user reads to know which step."""
    with pytest.raises(AttestationError, match=f"^{re.escape(message)}$"):
        _verify(document, **kwargs)


def test_verified_attestation_says_how_it_is_built() -> None:
    message = "VerifiedAttestation is built only by verify_attestation()"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        VerifiedAttestation(object(), _document(), SPEC, KEM_KEY.public_key, SIGNING_KEY.verify_key)


@pytest.mark.parametrize(
    ("mutation", "fields"),
    [
        (lambda w: [w], None),
        (
            lambda w: {k: v for k, v in w.items() if k not in ("nonce", "report_data")},
            "nonce, report_data",
        ),
        (lambda w: {**w, "evidence": {"a": [b"x"]}}, "evidence.a.list.0"),
        (lambda w: {**w, "": 1}, "-"),  # an unnamed field: the list is never empty
    ],
)
def test_step1_names_the_malformed_fields(mutation: Mutation, fields: str | None) -> None:
    _refused(
        "malformed attestation document (not a JSON object)"
        if fields is None
        else f"malformed attestation document (fields: {fields})",
        mutation(_document().model_dump(mode="json")),
    )


def test_step4_names_a_replay() -> None:
    _refused(
        "the attestation document is not for our nonce (replayed)",
        _document(nonce=b"\x07" * 32),
    )


def test_step5_freshness_limits_exactly_at_their_boundaries() -> None:
    """The documented limits, in literal milliseconds: a minute of skew, five minutes of age."""
    one_minute, five_minutes = 60_000, 300_000
    future = "the attestation document is issued in the future (clock skew?)"
    # Issued as far ahead of our clock as the skew allows: accepted; one millisecond more: not.
    assert _verify(_document(now_ms=NOW + one_minute), now_ms=NOW).provider == "simulated"
    _refused(future, _document(now_ms=NOW + one_minute + 1), now_ms=NOW)
    # Exactly as old as allowed: accepted; one millisecond older: stale, and the limit is named.
    assert _verify(_document(), now_ms=NOW + five_minutes).provider == "simulated"
    _refused(
        "the attestation document is older than 300000 ms (stale)",
        _document(),
        now_ms=NOW + five_minutes + 1,
    )
    # A caller's own limit replaces the default, at its boundary too.
    assert _verify(_document(), now_ms=NOW + 1000, max_age_ms=1000).provider == "simulated"
    _refused(
        "the attestation document is older than 1000 ms (stale)",
        _document(),
        now_ms=NOW + 1001,
        max_age_ms=1000,
    )


def test_step5_without_now_uses_the_real_clock_in_milliseconds() -> None:
    real_now = int(time.time() * 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SimulatedAttestationWarning)
        verified = verify_attestation(_document(now_ms=real_now), SPECS, nonce=NONCE)
        assert verified.document.issued_at_ms == real_now
        with pytest.raises(AttestationError, match="stale"):  # NOW is in 2024
            verify_attestation(_document(), SPECS, nonce=NONCE)
        with pytest.raises(AttestationError, match="future"):
            verify_attestation(
                _document(now_ms=real_now + 2 * MAX_CLOCK_SKEW_MS), SPECS, nonce=NONCE
            )


def test_step6_names_a_swapped_key() -> None:
    _refused(
        "report_data does not match the document (keys swapped?)",
        {**_document().model_dump(mode="json"), "report_data": "00" * 32},
    )


def test_a_low_order_kem_key_is_refused_even_when_attested() -> None:
    # The all-zero X25519 point passes parsing and is bound into genuine evidence, but every
    # secret sealed to it would be all zeros: the key itself is refused.
    wire = _resigned({**_document().model_dump(mode="json"), "kem_public_key": "00" * 32})
    _refused("the attested public keys are malformed", wire)


SIMULATED_MESSAGE = (
    "The Sealroom core uses a SIMULATED attestation: no confidential-computing hardware "
    "protects it, and its operator can read all data. Use it only for development or "
    "with an operator you trust."
)


def test_the_simulated_warning_text_and_how_it_is_shown() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        verify_attestation(_document(), SPECS, nonce=NONCE, now_ms=NOW)
    [warning] = caught
    assert warning.category is SimulatedAttestationWarning
    assert str(warning.message) == SIMULATED_MESSAGE
    # Shown as the message alone: no line of Sealroom's source printed under it.
    shown = warnings.formatwarning(
        warning.message, warning.category, warning.filename, warning.lineno, warning.line
    )
    assert shown.endswith(f"SimulatedAttestationWarning: {SIMULATED_MESSAGE}\n")
    assert shown.count("\n") == 1


def test_the_simulated_warning_is_filtered_by_its_module_like_any_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.filterwarnings(
            "error", category=SimulatedAttestationWarning, module=r"sealroom\.attestation\.verify$"
        )
        with pytest.raises(SimulatedAttestationWarning):
            verify_attestation(_document(), SPECS, nonce=NONCE, now_ms=NOW)


# ---- the hardware providers, through the verifiers the specification pins ------------------
#
# Without ``verifiers`` the Nitro and SEV-SNP verifiers are built from the specification, with the
# pinned vendor roots and the real clock. Real evidence (tests/vectors/attestation) reaches as far
# as those allow: its REPORT_DATA / user_data can never be our document's.

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attestation"
NITRO_PRODUCTION = (VECTORS / "nitro" / "evervault-2022-10-13.cbor").read_bytes()
NITRO_PCR0 = (
    "f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d55999"
    "36332687e6f66fc890ac8cf150142d8b"
)
# The Milan VCEK is valid until 2030-01-24 (as in test_attestation_sevsnp.py's real-time tests).
SNP_REPORT = (VECTORS / "sevsnp" / "milan-vcek-report.bin").read_bytes()
SNP_VCEK = (VECTORS / "sevsnp" / "milan-vcek.der").read_bytes()
SNP_MEASUREMENT = (
    "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c"
    "23500644e0e692e6be917f9050d3d38c"
)
SNP_TCB = (3, 0, 8, 0x73)  # the report's REPORTED_TCB (bootloader, tee, snp, microcode)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _hardware_wire(
    provider: str, evidence: dict[str, object] | None = None, issued_at_ms: int = NOW
) -> dict[str, object]:
    """A document that passes steps 1-6 (fields bound into report_data) with ``evidence``."""
    wire = {
        **_document(now_ms=issued_at_ms).model_dump(mode="json"),
        "provider": provider,
        "warning": "",
        "evidence": evidence or {},
    }
    report_data = compute_report_data(
        measurement=MEASUREMENT,
        core_version=str(wire["core_version"]),
        kem_public_key=str(wire["kem_public_key"]),
        signing_public_key=str(wire["signing_public_key"]),
        nonce=NONCE.hex(),
        provider=provider,
        issued_at_ms=issued_at_ms,
    )
    return {**wire, "report_data": report_data}


def _hardware_refused(
    message: str, spec: EnclaveSpecification, evidence: dict[str, object]
) -> None:
    provider = next(iter(spec.accepted_providers))
    with pytest.raises(AttestationError, match=f"^{re.escape(message)}$"):
        verify_attestation(
            _hardware_wire(provider, evidence), {"c": spec}, nonce=NONCE, now_ms=NOW + 1000
        )


def _nitro_spec(*pcrs: tuple[int, str]) -> EnclaveSpecification:
    return EnclaveSpecification(
        "sealroom.core", "v1", MEASUREMENT, frozenset({"aws-nitro"}), nitro_pcrs=pcrs
    )


def test_nitro_real_evidence_chains_to_the_pinned_aws_root_and_expired_since() -> None:
    # The chain to AWS's root verifies; at the real time its 3-hour certificates have expired.
    _hardware_refused(
        "Nitro: a certificate is expired or not yet valid",
        _nitro_spec((0, NITRO_PCR0)),
        {"attestation_document": _b64(NITRO_PRODUCTION)},
    )


def test_nitro_evidence_from_another_root_is_refused() -> None:
    pki = nitro_pki.make_pki()
    _hardware_refused(
        "Nitro: the CA bundle does not start with the pinned AWS root",
        _nitro_spec((0, NITRO_PCR0)),
        {"attestation_document": _b64(pki.document())},
    )


def test_nitro_specification_must_pin_pcr0() -> None:
    evidence = {"attestation_document": _b64(NITRO_PRODUCTION)}
    _hardware_refused("sealroom.core:v1 pins no Nitro PCRs", _nitro_spec(), evidence)
    _hardware_refused(
        "sealroom.core:v1: each core needs PCR0, and every PCR is 48 bytes",
        _nitro_spec((1, NITRO_PCR0)),
        evidence,
    )


def _snp_spec(
    launch: frozenset[str] = frozenset({SNP_MEASUREMENT}),
    min_tcb: tuple[int, int, int, int] | None = SNP_TCB,
    vmpl: int = 0,
) -> EnclaveSpecification:
    return EnclaveSpecification(
        "sealroom.core",
        "v1",
        MEASUREMENT,
        frozenset({"sev-snp"}),
        snp_launch_measurements=launch,
        snp_min_tcb=min_tcb,
        snp_vmpl=vmpl,
    )


SNP_EVIDENCE = {"report": _b64(SNP_REPORT), "endorsement_cert": _b64(SNP_VCEK)}


def test_snp_real_evidence_passes_the_pinned_chain_and_minimum_tcb() -> None:
    # Chain to AMD's root, signature, TCB binding and the pinned minimum TCB (equal) all pass;
    # the report's REPORT_DATA is not ours.
    _hardware_refused(
        "SEV-SNP: REPORT_DATA differs from the expected report_data", _snp_spec(), SNP_EVIDENCE
    )


def test_snp_minimum_tcb_from_the_specification_is_enforced() -> None:
    newer_microcode = (*SNP_TCB[:3], SNP_TCB[3] + 1)
    _hardware_refused(
        "SEV-SNP: REPORTED_TCB is below the required minimum",
        _snp_spec(min_tcb=newer_microcode),
        SNP_EVIDENCE,
    )


def test_snp_vmpl_from_the_specification_is_enforced() -> None:
    _hardware_refused(
        "SEV-SNP: the report comes from VMPL 0, not the pinned VMPL 1",
        _snp_spec(vmpl=1),
        SNP_EVIDENCE,
    )


def test_snp_specification_must_pin_measurements_and_a_minimum_tcb() -> None:
    _hardware_refused(
        "sealroom.core:v1 pins no SEV-SNP minimum TCB (snp_min_tcb); a specification for "
        "SEV-SNP must name the lowest firmware it accepts",
        _snp_spec(min_tcb=None),
        SNP_EVIDENCE,
    )
    _hardware_refused(
        "sealroom.core:v1 pins no SEV-SNP launch measurement",
        _snp_spec(launch=frozenset()),
        SNP_EVIDENCE,
    )
    _hardware_refused(
        "sealroom.core:v1: each core needs one or more 48-byte launch measurements",
        _snp_spec(launch=frozenset({"11" * 47})),
        SNP_EVIDENCE,
    )


def test_a_nitro_document_is_accepted_without_the_simulated_warning() -> None:
    # A private PKI stands in for AWS's (passed as the verifier's root): the whole checklist passes.
    pki = nitro_pki.make_pki()
    verifier = NitroEvidenceVerifier(
        {MEASUREMENT: pki.payload()["pcrs"]},
        clock=lambda: nitro_pki.NOW.timestamp(),
        root_der=pki.root,
    )
    wire = _hardware_wire("aws-nitro", issued_at_ms=nitro_pki.NOW_MS)
    payload = pki.payload(user_data=bytes.fromhex(str(wire["report_data"])), nonce=None)
    wire["evidence"] = {"attestation_document": _b64(pki.document(payload))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        verified = verify_attestation(
            wire,
            {"c": _nitro_spec((0, NITRO_PCR0))},
            nonce=NONCE,
            now_ms=nitro_pki.NOW_MS,
            verifiers={"aws-nitro": verifier},
        )
    assert (verified.provider, verified.is_simulated) == ("aws-nitro", False)
    assert verified.kem_public_key == KEM_KEY.public_key
    assert verified.verify_key == SIGNING_KEY.verify_key
    assert "simulated=False" in repr(verified)
