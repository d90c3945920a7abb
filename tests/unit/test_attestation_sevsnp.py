"""SEV-SNP evidence: real public reports verify, and every mutation fails on the check it breaks.

Real vectors (tests/vectors/attestation/README.md says where each comes from) exercise the pinned
AMD roots. Checks that need a re-signed report (TCB and chip binding, masked chip id, minimum TCB)
use a private AMD-like PKI made here, passed explicitly as ``ark_der``; that it is refused under
the pinned roots is itself a test.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import JsonValue

from sealroom.attestation import (
    AttestationDocument,
    EnclaveSpecification,
    produce_attestation,
    verify_attestation,
)
from sealroom.attestation.sevsnp import (
    REPORT_SIZE,
    SIGNED_LENGTH,
    SevSnpEvidenceVerifier,
    SnpTcb,
    parse_report,
    verify_report,
)
from sealroom.crypto import KemPrivateKey, SigningKey
from sealroom.errors import AttestationError, VerificationError
from tests.unit.snp_pki import MILAN_TCB, NOW, PrivatePki
from tests.unit.snp_pki import make_pki as _pki

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attestation" / "sevsnp"

MILAN_REPORT = (VECTORS / "milan-vcek-report.bin").read_bytes()
MILAN_VCEK = (VECTORS / "milan-vcek.der").read_bytes()
VLEK_REPORT = (VECTORS / "milan-vlek-report.bin").read_bytes()
VLEK_CERT = (VECTORS / "milan-vlek.der").read_bytes()
DEBUG_REPORT = (VECTORS / "milan-debug-report.bin").read_bytes()
DEBUG_VCEK = (VECTORS / "milan-debug-vcek.der").read_bytes()
GENOA_REPORT = (VECTORS / "genoa-vcek-report.bin").read_bytes()
_GENOA_PEM = (VECTORS / "genoa-vcek.pem").read_text()
# PEM body → DER without parsing (AMD's serial-0 VCEKs warn when parsed).
GENOA_VCEK = base64.b64decode("".join(_GENOA_PEM.split("-----")[2].split()))

MILAN_MEASUREMENT = bytes.fromhex(
    "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c"
    "23500644e0e692e6be917f9050d3d38c"
)
MILAN_REPORT_DATA = bytes.fromhex(
    "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2"
)
VLEK_VALID_AT = datetime(2025, 6, 1, tzinfo=UTC)  # The VLEK is valid 2024-12-10 to 2025-12-10.

PINNED_FINGERPRINTS = {
    "amd-milan-ark.pem": "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
    "amd-milan-ask.pem": "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b",
    "amd-milan-asvk.pem": "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5",
    "amd-genoa-ark.pem": "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
    "amd-genoa-ask.pem": "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521",
    "amd-genoa-asvk.pem": "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372",
}


def _flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    return data[:offset] + bytes([data[offset] ^ mask]) + data[offset + 1 :]


def _with_u64(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack("<Q", value) + data[offset + 8 :]


def _with_u32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack("<I", value) + data[offset + 4 :]


# --- pinned roots ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fingerprint"), sorted(PINNED_FINGERPRINTS.items()))
def test_pinned_amd_roots_have_the_published_fingerprints(name: str, fingerprint: str) -> None:
    pem = resources.files("sealroom.attestation").joinpath("roots", name).read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    assert hashlib.sha256(der).hexdigest() == fingerprint


# --- real reports ------------------------------------------------------------------------------


def test_parse_report_known_answer() -> None:
    report = parse_report(MILAN_REPORT)
    assert (report.version, report.guest_svn, report.policy, report.vmpl) == (2, 4, 0x3001F, 0)
    assert report.signing_key == "VCEK"
    assert not report.mask_chip_key
    assert not report.author_key_enabled
    assert report.measurement == MILAN_MEASUREMENT
    assert report.report_data == MILAN_REPORT_DATA + bytes(32)
    assert report.family_id == bytes([1]) + bytes(15)
    assert report.image_id == bytes([2]) + bytes(15)
    assert report.report_id_ma == b"\xff" * 32  # No migration agent.
    assert report.chip_id.hex().startswith("c38427a30d4c7af9")
    assert SnpTcb.from_raw(report.reported_tcb) == MILAN_TCB
    assert report.current_tcb == 0xCE08000000000003  # Newer microcode than reported.
    assert not report.debug_allowed
    assert not report.migration_agent_allowed


def test_real_milan_report_verifies_with_every_expectation() -> None:
    report = verify_report(
        MILAN_REPORT,
        MILAN_VCEK,
        expected_measurement=MILAN_MEASUREMENT,
        expected_report_data=MILAN_REPORT_DATA,
        min_tcb=MILAN_TCB,
    )
    assert report.raw == MILAN_REPORT


def test_real_genoa_report_verifies() -> None:
    report = verify_report(GENOA_REPORT, GENOA_VCEK)
    assert report.version == 3
    assert SnpTcb.from_raw(report.reported_tcb) == SnpTcb(10, 0, 23, 0x54)


def test_real_vlek_report_verifies_while_its_certificate_was_valid() -> None:
    report = verify_report(
        VLEK_REPORT,
        VLEK_CERT,
        now=VLEK_VALID_AT,
        expected_report_data=parse_report(VLEK_REPORT).report_data,  # all 64 bytes
    )
    assert (report.signing_key, report.vmpl) == ("VLEK", 1)
    assert not any(report.chip_id)  # A VLEK certifies no chip.


def test_expired_vlek_is_refused_at_the_real_time() -> None:
    with pytest.raises(AttestationError, match="VLEK certificate is expired"):
        verify_report(VLEK_REPORT, VLEK_CERT)


def test_certificate_not_yet_valid_is_refused() -> None:
    with pytest.raises(AttestationError, match="expired or not yet valid"):
        verify_report(MILAN_REPORT, MILAN_VCEK, now=datetime(2022, 1, 1, tzinfo=UTC))


def test_real_debug_report_is_refused_unless_explicitly_allowed() -> None:
    with pytest.raises(AttestationError, match="allows debugging"):
        verify_report(DEBUG_REPORT, DEBUG_VCEK)
    assert verify_report(DEBUG_REPORT, DEBUG_VCEK, unsafe_allow_debug=True).debug_allowed


# --- mutations of real reports -----------------------------------------------------------------


def test_debug_bit_is_refused_before_the_signature() -> None:
    tampered = _with_u64(MILAN_REPORT, 0x08, parse_report(MILAN_REPORT).policy | 1 << 19)
    with pytest.raises(AttestationError, match="allows debugging"):
        verify_report(tampered, MILAN_VCEK)
    with pytest.raises(AttestationError, match="signature does not verify"):
        verify_report(tampered, MILAN_VCEK, unsafe_allow_debug=True)


def test_migration_agent_bit_is_refused_unless_allowed() -> None:
    tampered = _with_u64(MILAN_REPORT, 0x08, parse_report(MILAN_REPORT).policy | 1 << 18)
    with pytest.raises(AttestationError, match="migration agent"):
        verify_report(tampered, MILAN_VCEK)
    with pytest.raises(AttestationError, match="signature does not verify"):
        verify_report(tampered, MILAN_VCEK, allow_migration_agent=True)


@pytest.mark.parametrize(
    "offset",
    [0x04, 0x30, 0x50, 0x6F, 0x90, 0xBF, 0xC0, 0x140, 0x1A0, 0x1DF, 0x1E0, 0x1F7],
    ids=hex,
)
def test_flipped_byte_in_the_signed_part_fails_the_signature(offset: int) -> None:
    with pytest.raises(AttestationError, match="signature does not verify"):
        verify_report(_flip(MILAN_REPORT, offset), MILAN_VCEK)


@pytest.mark.parametrize("offset", [SIGNED_LENGTH, SIGNED_LENGTH + 40, SIGNED_LENGTH + 72 + 7])
def test_flipped_byte_in_the_signature_fails(offset: int) -> None:
    with pytest.raises(AttestationError, match="signature"):
        verify_report(_flip(MILAN_REPORT, offset), MILAN_VCEK)


def test_oversized_signature_component_is_malformed() -> None:
    with pytest.raises(AttestationError, match="signature is malformed"):
        verify_report(_flip(MILAN_REPORT, SIGNED_LENGTH + 60), MILAN_VCEK)


def test_another_chips_vcek_does_not_verify_the_report() -> None:
    with pytest.raises(AttestationError, match="signature does not verify"):
        verify_report(MILAN_REPORT, DEBUG_VCEK)


def test_wrong_measurement_is_refused() -> None:
    with pytest.raises(AttestationError, match="MEASUREMENT differs"):
        verify_report(MILAN_REPORT, MILAN_VCEK, expected_measurement=bytes(48))


@pytest.mark.parametrize(
    "expected",
    [bytes(32), _flip(MILAN_REPORT_DATA, 31), MILAN_REPORT_DATA + b"\x01" + bytes(31)],
    ids=["zeros", "last-byte", "nonzero-tail"],
)
def test_wrong_report_data_is_refused(expected: bytes) -> None:
    with pytest.raises(AttestationError, match="REPORT_DATA differs"):
        verify_report(MILAN_REPORT, MILAN_VCEK, expected_report_data=expected)


def test_report_data_of_64_bytes_is_compared_whole() -> None:
    verify_report(MILAN_REPORT, MILAN_VCEK, expected_report_data=MILAN_REPORT_DATA + bytes(32))
    with pytest.raises(ValueError, match="32 or 64"):
        verify_report(MILAN_REPORT, MILAN_VCEK, expected_report_data=bytes(16))


def test_minimum_tcb_above_the_reported_one_is_refused() -> None:
    for higher in (SnpTcb(3, 0, 9, 0x73), SnpTcb(3, 0, 8, 0x74), SnpTcb(4, 0, 0, 0)):
        with pytest.raises(AttestationError, match="below the required minimum"):
            verify_report(MILAN_REPORT, MILAN_VCEK, min_tcb=higher)


@pytest.mark.parametrize("size", [0, 1, REPORT_SIZE - 1, REPORT_SIZE + 1, 2 * REPORT_SIZE])
def test_truncated_or_padded_report_is_refused(size: int) -> None:
    data = (MILAN_REPORT * 2)[:size]
    with pytest.raises(AttestationError, match=f"exactly {REPORT_SIZE} bytes"):
        verify_report(data, MILAN_VCEK)


def test_trailing_garbage_after_the_certificate_is_refused() -> None:
    with pytest.raises(AttestationError, match="not valid DER"):
        verify_report(MILAN_REPORT, MILAN_VCEK + b"\x00")
    with pytest.raises(AttestationError, match="not valid DER"):
        verify_report(MILAN_REPORT, MILAN_VCEK[:-1])


@pytest.mark.parametrize(
    ("mutated", "message"),
    [
        (_with_u32(MILAN_REPORT, 0x00, 1), "unsupported report version"),
        (_with_u32(MILAN_REPORT, 0x00, 6), "unsupported report version"),
        (_with_u32(MILAN_REPORT, 0x34, 2), "ECDSA P-384"),
        (_with_u32(MILAN_REPORT, 0x48, 7 << 2), "VCEK or VLEK"),
        (_with_u32(MILAN_REPORT, 0x48, 1 << 5), "VCEK or VLEK"),
        (_with_u64(MILAN_REPORT, 0x08, 0x1001F), "guest policy"),  # bit 17 must be one
        (_with_u64(MILAN_REPORT, 0x08, 0x3001F | 1 << 40), "guest policy"),
        (_flip(MILAN_REPORT, 0x4C), "reserved bytes 0x4C"),
        (_flip(MILAN_REPORT, 0x188), "reserved bytes 0x188"),  # CPUID fields only from v3
        (_flip(MILAN_REPORT, 0x1F8), "reserved bytes 0x1F8"),  # mitigation vectors from v5
        (_flip(MILAN_REPORT, REPORT_SIZE - 1), "reserved bytes"),  # after r and s
    ],
)
def test_malformed_fields_are_refused_by_the_parser(mutated: bytes, message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        parse_report(mutated)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_report(MILAN_REPORT, MILAN_VCEK, now=datetime(2026, 1, 1))


def test_errors_are_verification_errors() -> None:
    assert issubclass(AttestationError, VerificationError)


# --- a private AMD-like PKI, for checks that need a re-signed report ---------------------------


@pytest.fixture(scope="module")
def pki() -> PrivatePki:
    return _pki()


def test_private_chain_verifies_only_when_passed_as_the_trust_anchor(pki: PrivatePki) -> None:
    vcek = pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64)
    report = pki.report()
    pki.verify(report, vcek)
    # Under the pinned roots the same evidence is refused, whatever intermediate it carries.
    with pytest.raises(AttestationError, match="VCEK certificate is not issued"):
        verify_report(report, vcek, now=NOW)
    with pytest.raises(AttestationError, match="ASK certificate is not issued"):
        verify_report(report, vcek, ask_der=pki.ask_der, now=NOW)


def test_real_report_does_not_chain_to_another_root(pki: PrivatePki) -> None:
    with pytest.raises(AttestationError, match="ASK certificate is not issued"):
        verify_report(MILAN_REPORT, MILAN_VCEK, ark_der=pki.ark_der)


def test_pinned_ask_supplied_by_the_evidence_is_accepted() -> None:
    pem = resources.files("sealroom.attestation").joinpath("roots", "amd-milan-ask.pem")
    ask_der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)
    verify_report(MILAN_REPORT, MILAN_VCEK, ask_der=ask_der)
    with pytest.raises(AttestationError, match="not AMD's for this product"):
        verify_report(GENOA_REPORT, GENOA_VCEK, ask_der=ask_der)  # Milan's ASK for a Genoa VCEK


def test_reported_tcb_must_match_the_certificate(pki: PrivatePki) -> None:
    vcek = pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64)
    report = pki.report(tcb=SnpTcb(3, 0, 9, 0x73))  # claims a newer SNP firmware
    with pytest.raises(AttestationError, match="REPORTED_TCB differs"):
        pki.verify(report, vcek)


def test_chip_id_must_match_the_vcek(pki: PrivatePki) -> None:
    vcek = pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64)
    report = pki.report(chip_id=b"\x43" * 64)
    with pytest.raises(AttestationError, match="CHIP_ID differs"):
        pki.verify(report, vcek)


def test_masked_chip_id_must_be_zero(pki: PrivatePki) -> None:
    vcek = pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64)
    pki.verify(pki.report(signer_info=0b10, chip_id=bytes(64)), vcek)
    with pytest.raises(AttestationError, match="masked but not zero"):
        pki.verify(pki.report(signer_info=0b10), vcek)


def test_minimum_tcb_compares_every_component(pki: PrivatePki) -> None:
    tcb = SnpTcb(bootloader=3, tee=1, snp=8, microcode=0x80)
    vcek = pki.endorsement(tcb=tcb, chip_id=b"\x42" * 64)
    report = pki.report(tcb=tcb)
    pki.verify(report, vcek, min_tcb=SnpTcb(2, 1, 8, 0x73))
    with pytest.raises(AttestationError, match="below the required minimum"):
        pki.verify(report, vcek, min_tcb=SnpTcb(2, 2, 1, 0))


def test_allowed_migration_agent_verifies(pki: PrivatePki) -> None:
    vcek = pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64)
    report = pki.report(policy=0x30000 | 1 << 18)
    with pytest.raises(AttestationError, match="migration agent"):
        pki.verify(report, vcek)
    assert pki.verify(report, vcek, allow_migration_agent=True)


def test_endorsement_key_type_must_match_the_report(pki: PrivatePki) -> None:
    vcek = pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64)
    vlek_report = pki.report(signer_info=1 << 2)
    with pytest.raises(AttestationError, match="not AMD's for this product"):  # ASK is not ASVK
        pki.verify(vlek_report, vcek)
    vlek_pki = _pki(ask_name="SEV-VLEK-Milan")
    vlek = vlek_pki.endorsement(tcb=MILAN_TCB, chip_id=b"", kind="VLEK")
    vlek_pki.verify(vlek_pki.report(signer_info=1 << 2), vlek)
    # A VLEK-named leaf under the VCEK intermediate, for a VCEK-signed report.
    misnamed = pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64, kind="VLEK")
    with pytest.raises(AttestationError, match="not the report's key type"):
        pki.verify(pki.report(), misnamed)


def test_unsupported_product_is_refused(pki: PrivatePki) -> None:
    vcek = pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64, product="Turin")
    with pytest.raises(AttestationError, match="unsupported AMD product"):
        pki.verify(pki.report(), vcek)


def test_tcb_with_reserved_bytes_has_an_unknown_layout() -> None:
    with pytest.raises(AttestationError, match="unknown layout"):
        SnpTcb.from_raw(0x7308000000010003)
    assert SnpTcb.from_raw(0x7308000000000003) == MILAN_TCB


# --- the EvidenceVerifier: evidence shape, and end to end through verify_attestation -----------

CORE = "cd" * 32
NONCE = bytes(range(32))
SIGNING_KEY = SigningKey.from_bytes(bytes([1]) * 32)
KEM_KEY = KemPrivateKey.from_bytes(bytes([2]) * 32)
NOW_MS = int(NOW.timestamp() * 1000)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class _PrivateSnpProvider:
    """Core side over the private PKI: puts report_data into REPORT_DATA, as hardware would."""

    name = "sev-snp"
    warning = ""

    def __init__(self, pki: PrivatePki, measurement: bytes) -> None:
        self._pki = pki
        self._measurement = measurement

    def produce(self, report_data: bytes) -> dict[str, JsonValue]:
        report = self._pki.report(
            measurement=self._measurement, report_data=report_data.ljust(64, b"\0")
        )
        return {
            "report": _b64(report),
            "endorsement_cert": _b64(self._pki.endorsement(tcb=MILAN_TCB, chip_id=b"\x42" * 64)),
            "intermediate_cert": _b64(self._pki.ask_der),
        }


def _snp_document(pki: PrivatePki, measurement: bytes = b"\x11" * 48) -> AttestationDocument:
    return produce_attestation(
        _PrivateSnpProvider(pki, measurement),
        CORE,
        KEM_KEY.public_key,
        SIGNING_KEY.verify_key,
        NONCE,
        now_ms=NOW_MS,
    )


def _verifier(pki: PrivatePki | None = None) -> SevSnpEvidenceVerifier:
    return SevSnpEvidenceVerifier(
        {CORE: [b"\x11" * 48, b"\x12" * 48]},
        clock=lambda: NOW.timestamp(),
        ark_der=None if pki is None else pki.ark_der,
    )


def test_end_to_end_through_verify_attestation(pki: PrivatePki) -> None:
    spec = EnclaveSpecification("sealroom.core", "test", CORE, frozenset({"sev-snp"}))
    verified = verify_attestation(
        _snp_document(pki),
        {"sealroom.core": spec},
        nonce=NONCE,
        now_ms=NOW_MS + 1000,
        verifiers={"sev-snp": _verifier(pki)},
    )
    assert verified.provider == "sev-snp"
    assert not verified.is_simulated


def test_the_verifier_refuses_an_unpinned_launch_measurement(pki: PrivatePki) -> None:
    document = _snp_document(pki, measurement=b"\x13" * 48)
    report_data = bytes.fromhex(document.report_data)
    with pytest.raises(AttestationError, match="not a launch measurement of this core"):
        _verifier(pki).verify(document, report_data=report_data)


def test_the_verifier_uses_the_pinned_roots_by_default(pki: PrivatePki) -> None:
    document = _snp_document(pki)
    with pytest.raises(AttestationError, match="ASK certificate is not issued"):
        _verifier().verify(document, report_data=bytes.fromhex(document.report_data))


def test_the_verifier_binds_report_data(pki: PrivatePki) -> None:
    document = _snp_document(pki)
    with pytest.raises(AttestationError, match="REPORT_DATA differs"):
        _verifier(pki).verify(document, report_data=bytes(32))


def _real_evidence_document(
    evidence: dict[str, JsonValue], core: str = CORE
) -> AttestationDocument:
    return AttestationDocument(
        provider="sev-snp",
        measurement=core,
        core_version="0.1.0",
        kem_public_key="00" * 32,
        signing_public_key="00" * 32,
        nonce=NONCE.hex(),
        issued_at_ms=NOW_MS,
        report_data="00" * 32,
        evidence=evidence,
    )


REAL_EVIDENCE: dict[str, JsonValue] = {
    "report": _b64(MILAN_REPORT),
    "endorsement_cert": _b64(MILAN_VCEK),
}


def test_real_evidence_passes_chain_and_signature_but_not_our_report_data() -> None:
    verifier = SevSnpEvidenceVerifier({CORE: [MILAN_MEASUREMENT]})
    with pytest.raises(AttestationError, match="REPORT_DATA differs"):
        verifier.verify(_real_evidence_document(REAL_EVIDENCE), report_data=bytes(32))
    # With the report's own REPORT_DATA (which no document of ours can hash to) it passes.
    verifier.verify(_real_evidence_document(REAL_EVIDENCE), report_data=MILAN_REPORT_DATA)


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ({"report": REAL_EVIDENCE["report"]}, "must hold"),
        ({**REAL_EVIDENCE, "ark": "AAAA"}, "must hold"),
        ({**REAL_EVIDENCE, "report": 5}, "'report' must be base64"),
        ({**REAL_EVIDENCE, "report": "not base64!"}, "'report' is not valid base64"),
        ({**REAL_EVIDENCE, "report": _b64(MILAN_REPORT + bytes(3))}, "'report' must be base64"),
        ({**REAL_EVIDENCE, "intermediate_cert": _b64(b"\x30\x00")}, "ASK certificate is not"),
    ],
)
def test_malformed_evidence_is_refused(evidence: dict[str, JsonValue], message: str) -> None:
    verifier = SevSnpEvidenceVerifier({CORE: [MILAN_MEASUREMENT]})
    with pytest.raises(AttestationError, match=message):
        verifier.verify(_real_evidence_document(evidence), report_data=MILAN_REPORT_DATA)


def test_a_core_without_pinned_launch_measurements_is_refused() -> None:
    verifier = SevSnpEvidenceVerifier({CORE: [MILAN_MEASUREMENT]})
    with pytest.raises(AttestationError, match="no SEV-SNP launch measurement is pinned"):
        verifier.verify(_real_evidence_document(REAL_EVIDENCE, core="ef" * 32), report_data=b"")


def test_launch_measurements_must_be_48_bytes() -> None:
    with pytest.raises(ValueError, match="48-byte"):
        SevSnpEvidenceVerifier({CORE: [bytes(32)]})
    with pytest.raises(ValueError, match="48-byte"):
        SevSnpEvidenceVerifier({CORE: []})
