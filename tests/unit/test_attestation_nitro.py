"""AWS Nitro evidence: real public documents verify at their own time, and mutations fail.

Real vectors (tests/vectors/attestation/README.md) exercise the pinned AWS root. Checks that need
a re-signed document (chain shape, strict CBOR, time) use a private P-384 PKI made here, passed
explicitly as ``root_der``; that it is refused under the pinned root is itself a test.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import JsonValue

from sealroom.attestation import (
    AttestationDocument,
    EnclaveSpecification,
    produce_attestation,
    verify_attestation,
)
from sealroom.attestation.nitro import (
    MAX_CABUNDLE_CERTIFICATES,
    MAX_DOCUMENT_BYTES,
    MAX_TIMESTAMP_SKEW_MS,
    NitroEvidenceVerifier,
    verify_nitro_document,
)
from sealroom.crypto import KemPrivateKey, SigningKey
from sealroom.errors import AttestationError
from tests.unit.nitro_pki import NOW, NOW_MS, T0, PrivatePki
from tests.unit.nitro_pki import make_cert as _cert
from tests.unit.nitro_pki import make_pki as _private_pki
from tests.unit.nitro_pki import p384_key as _p384
from tests.unit.nitro_pki import x509_name as _name

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "attestation" / "nitro"
PRODUCTION = (VECTORS / "evervault-2022-10-13.cbor").read_bytes()
DEBUG_2022 = (VECTORS / "evervault-debug-2022-10-12.cbor").read_bytes()
DEBUG_2023 = base64.b64decode((VECTORS / "evervault-debug-2023-09-18.b64").read_text())

ROOT_FINGERPRINT = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"

PRODUCTION_PCRS = {
    index: bytes.fromhex(value)
    for index, value in {
        0: "f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d55999"
        "36332687e6f66fc890ac8cf150142d8b",
        1: "bcdf05fefccaa8e55bf2c8d6dee9e79bbff31e34bf28a99aa19e6b29c37ee80b"
        "214a414b7607236edf26fcb78654e63f",
        2: "d8f114da658de5481f8d9ec73907feb553560787522f705c92d7d96beed8e15e"
        "2aa611984e098c576832c292e8dc469a",
        8: "8790eb3cce6c83d07e84b126dc61ca923333d6f66615c4a79157de48c5ab2418"
        "bdc60746ea7b7afbff03a1c6210201cb",
    }.items()
}
PRODUCTION_NONCE_PREFIX = bytes.fromhex("cb3dc2eb76c0c1344adf10cc4868591e")


def _at(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, UTC)


PRODUCTION_TIME = _at(1_665_651_482_136)
DEBUG_2022_TIME = _at(1_665_582_606_081)
DEBUG_2023_TIME = _at(1_695_049_410_860)


def _payload(document: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = cbor2.loads(cbor2.loads(document)[2])
    return payload


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


# --- pinned root and real documents ------------------------------------------------------------


def test_pinned_aws_root_has_the_published_fingerprint() -> None:
    pem = resources.files("sealroom.attestation").joinpath(
        "roots", "aws-nitro-enclaves-root-g1.pem"
    )
    der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)
    assert hashlib.sha256(der).hexdigest() == ROOT_FINGERPRINT


def test_real_document_verifies_at_its_own_time_with_every_expectation() -> None:
    nonce = _payload(PRODUCTION)["nonce"]
    attestation = verify_nitro_document(
        PRODUCTION, expected_pcrs=PRODUCTION_PCRS, expected_nonce=nonce, now=PRODUCTION_TIME
    )
    assert attestation.module_id == "i-020b6af9246d90e92-enc0183d09086c24190"
    assert attestation.timestamp_ms == 1_665_651_482_136
    assert attestation.digest == "SHA384"
    assert sorted(attestation.pcrs) == list(range(16))
    assert attestation.pcrs[0] == PRODUCTION_PCRS[0]
    assert len(attestation.cabundle) == 4
    assert attestation.nonce is not None
    assert attestation.nonce.startswith(PRODUCTION_NONCE_PREFIX)
    assert attestation.user_data is None
    assert attestation.public_key is None
    assert not attestation.debug


def test_tagged_cose_sign1_is_accepted() -> None:
    verify_nitro_document(b"\xd2" + PRODUCTION, now=PRODUCTION_TIME)


@pytest.mark.parametrize(
    ("document", "when"),
    [(DEBUG_2022, DEBUG_2022_TIME), (DEBUG_2023, DEBUG_2023_TIME)],
    ids=["2022", "2023"],
)
def test_real_debug_documents_are_refused_unless_explicitly_allowed(
    document: bytes, when: datetime
) -> None:
    with pytest.raises(AttestationError, match="debug mode"):
        verify_nitro_document(document, now=when)
    assert verify_nitro_document(document, now=when, unsafe_allow_debug=True).debug


def test_real_user_data_and_public_key_are_checked() -> None:
    attestation = verify_nitro_document(
        DEBUG_2022,
        now=DEBUG_2022_TIME,
        expected_user_data=b"hello, world!",
        expected_public_key=b"my super secret key",
        unsafe_allow_debug=True,
    )
    assert attestation.nonce is None
    with pytest.raises(AttestationError, match="user_data differs"):
        verify_nitro_document(
            DEBUG_2022, now=DEBUG_2022_TIME, expected_user_data=b"hello", unsafe_allow_debug=True
        )
    with pytest.raises(AttestationError, match="public_key differs"):
        verify_nitro_document(
            DEBUG_2022, now=DEBUG_2022_TIME, expected_public_key=b"other", unsafe_allow_debug=True
        )
    with pytest.raises(AttestationError, match="nonce differs"):  # expected, but absent
        verify_nitro_document(
            DEBUG_2022, now=DEBUG_2022_TIME, expected_nonce=bytes(16), unsafe_allow_debug=True
        )


@pytest.mark.parametrize("document", [PRODUCTION, DEBUG_2022, DEBUG_2023])
def test_real_documents_are_expired_at_the_real_time(document: bytes) -> None:
    with pytest.raises(AttestationError, match="expired or not yet valid"):
        verify_nitro_document(document, unsafe_allow_debug=True)


def test_document_from_before_its_certificate_is_refused() -> None:
    with pytest.raises(AttestationError, match="expired or not yet valid"):
        verify_nitro_document(PRODUCTION, now=PRODUCTION_TIME - timedelta(hours=1))


# --- mutations of a real document --------------------------------------------------------------


def _offset_of(value: bytes) -> int:
    offset = PRODUCTION.find(value)
    assert offset > 0
    return offset


_SIGNATURE_FAILS = "COSE signature does not verify"


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (_offset_of(PRODUCTION_PCRS[0]) + 7, _SIGNATURE_FAILS),
        (_offset_of(PRODUCTION_PCRS[8]), _SIGNATURE_FAILS),
        (_offset_of(PRODUCTION_NONCE_PREFIX) + 3, _SIGNATURE_FAILS),
        (_offset_of(b"i-020b6af9246d90e92-enc") + 10, _SIGNATURE_FAILS),
        (_offset_of(b"SHA384") - 1, "payload is not valid strict CBOR"),  # a length header
        (len(PRODUCTION) - 1, _SIGNATURE_FAILS),  # in the signature
        (len(PRODUCTION) - 60, _SIGNATURE_FAILS),
    ],
    ids=["pcr0", "pcr8", "nonce", "module-id", "cbor-header", "signature-end", "signature-r"],
)
def test_flipped_byte_is_refused(offset: int, message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        verify_nitro_document(_flip(PRODUCTION, offset), now=PRODUCTION_TIME)


def test_flipped_byte_in_the_signing_certificate_is_refused() -> None:
    leaf = _payload(PRODUCTION)["certificate"]
    offset = _offset_of(leaf) + len(leaf) - 10  # inside the certificate's own signature
    with pytest.raises(AttestationError, match="chain does not verify"):
        verify_nitro_document(_flip(PRODUCTION, offset), now=PRODUCTION_TIME)


@pytest.mark.parametrize(
    ("expected", "message"),
    [
        ({0: bytes(48)}, "PCR0 differs"),
        ({2: PRODUCTION_PCRS[1]}, "PCR2 differs"),
        ({20: bytes(48)}, "PCR20 differs"),  # not in the document
    ],
)
def test_wrong_pcrs_are_refused(expected: dict[int, bytes], message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        verify_nitro_document(PRODUCTION, expected_pcrs=expected, now=PRODUCTION_TIME)


def test_wrong_nonce_is_refused() -> None:
    with pytest.raises(AttestationError, match="nonce differs"):
        verify_nitro_document(PRODUCTION, expected_nonce=bytes(32), now=PRODUCTION_TIME)


def test_expected_user_data_absent_from_the_document_is_refused() -> None:
    with pytest.raises(AttestationError, match="user_data differs"):
        verify_nitro_document(PRODUCTION, expected_user_data=bytes(32), now=PRODUCTION_TIME)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "1 to"),
        (PRODUCTION[:1], "not valid strict CBOR"),
        (PRODUCTION[:-1], "not valid strict CBOR"),
        (PRODUCTION[: len(PRODUCTION) // 2], "not valid strict CBOR"),
        (PRODUCTION + b"\x00", "trailing bytes"),
        (PRODUCTION + PRODUCTION, "trailing bytes"),
        (PRODUCTION + bytes(MAX_DOCUMENT_BYTES), "1 to"),
        (b"\xd2", "not valid strict CBOR"),
        (b"\xd3" + PRODUCTION[1:], "not valid strict CBOR"),  # tag 19 is not COSE_Sign1
    ],
    ids=["empty", "1-byte", "minus-1", "half", "trailing-0", "twice", "huge", "tag-only", "tag19"],
)
def test_truncated_padded_or_garbage_input_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        verify_nitro_document(data, now=PRODUCTION_TIME)


# --- a private Nitro-like PKI, for checks that need a re-signed document -----------------------


@pytest.fixture(scope="module")
def pki() -> PrivatePki:
    return _private_pki()


def test_private_document_verifies_only_with_its_root_passed(pki: PrivatePki) -> None:
    document = pki.document()
    assert pki.verify(document, expected_user_data=b"\x07" * 32).user_data == b"\x07" * 32
    with pytest.raises(AttestationError, match="does not start with the pinned AWS root"):
        verify_nitro_document(document, now=NOW)


def test_real_document_does_not_chain_to_another_root(pki: PrivatePki) -> None:
    with pytest.raises(AttestationError, match="does not start with the pinned AWS root"):
        verify_nitro_document(PRODUCTION, root_der=pki.root, now=PRODUCTION_TIME)


def test_leaf_signed_by_another_key_breaks_the_chain(pki: PrivatePki) -> None:
    stranger = _p384()
    leaf = _cert("test-enclave", pki.leaf_key, "test-root", stranger, ca=False)
    with pytest.raises(AttestationError, match="chain does not verify"):
        pki.verify(pki.document(pki.payload(certificate=leaf)))


def test_document_signed_by_another_key_is_refused(pki: PrivatePki) -> None:
    with pytest.raises(AttestationError, match="COSE signature does not verify"):
        pki.verify(pki.document(key=_p384()))


def test_signing_certificate_must_be_an_end_entity(pki: PrivatePki) -> None:
    leaf = _cert("test-enclave", pki.leaf_key, "test-root", pki.root_key, ca=True)
    with pytest.raises(AttestationError, match="not an end-entity signer"):
        pki.verify(pki.document(pki.payload(certificate=leaf)))


def test_path_length_constraints_are_enforced(pki: PrivatePki) -> None:
    first, second = _p384(), _p384()
    # The root allows no CA below it, yet two intermediates follow.
    root = _cert("r", pki.root_key, "r", pki.root_key, ca=True, path_length=0, hours=48)
    chain = [
        root,
        _cert("i1", first, "r", pki.root_key, ca=True),
        _cert("i2", second, "i1", first, ca=True),
    ]
    leaf = _cert("e", pki.leaf_key, "i2", second, ca=False)
    document = pki.document(pki.payload(certificate=leaf, cabundle=chain))
    with pytest.raises(AttestationError, match="may not issue this chain"):
        verify_nitro_document(document, root_der=root, now=NOW)


def test_p256_signing_key_is_refused(pki: PrivatePki) -> None:
    weak = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("e"))
        .issuer_name(_name("test-root"))
        .public_key(weak.public_key())
        .serial_number(1)
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(hours=3))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(usage, True)
        .sign(pki.root_key, hashes.SHA384())
        .public_bytes(Encoding.DER)
    )
    with pytest.raises(AttestationError, match="not ECDSA P-384"):
        pki.verify(pki.document(pki.payload(certificate=leaf)))


def test_too_long_a_ca_bundle_is_refused(pki: PrivatePki) -> None:
    payload = pki.payload(cabundle=[pki.root] * (MAX_CABUNDLE_CERTIFICATES + 1))
    with pytest.raises(AttestationError, match="'cabundle' must hold"):
        pki.verify(pki.document(payload))


def test_expired_signing_certificate_is_refused(pki: PrivatePki) -> None:
    with pytest.raises(AttestationError, match="expired or not yet valid"):
        pki.verify(pki.document(), now=T0 + timedelta(hours=4))


def test_timestamp_outside_the_certificate_or_in_the_future_is_refused(pki: PrivatePki) -> None:
    late = pki.document(pki.payload(timestamp=NOW_MS + 5 * 3_600_000))
    with pytest.raises(AttestationError, match="outside the signing certificate's validity"):
        pki.verify(late)
    ahead = pki.document(pki.payload(timestamp=NOW_MS + 600_000))
    pki.verify(ahead, now=NOW + timedelta(minutes=10))
    with pytest.raises(AttestationError, match="timestamped in the future"):
        pki.verify(ahead)


def test_pcr0_must_be_present(pki: PrivatePki) -> None:
    payload = pki.payload(pcrs={1: b"\x01" * 48})
    with pytest.raises(AttestationError, match=r"PCR0 \(the enclave image\) is missing"):
        pki.verify(pki.document(payload))


def _duplicate_digest(pki: PrivatePki) -> bytes:
    items = [*pki.payload().items(), ("digest", "SHA384")]
    return bytes([0xA0 + len(items)]) + b"".join(cbor2.dumps(k) + cbor2.dumps(v) for k, v in items)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": b""}, "wrong set of fields"),
        ({"module_id": None}, "'module_id' must be"),
        ({"module_id": ""}, "'module_id' must be"),
        ({"digest": "SHA256"}, "'digest' must be SHA384"),
        ({"timestamp": 0}, "'timestamp' must be"),
        ({"timestamp": float(NOW_MS)}, "'timestamp' must be"),
        ({"timestamp": cbor2.CBORTag(1, NOW_MS // 1000)}, "not valid strict CBOR"),
        ({"pcrs": {}}, "'pcrs' must map"),
        ({"pcrs": {0: b"\x01" * 32}}, "48-byte SHA-384"),
        ({"pcrs": {0: b"\x01" * 48, 32: b"\x01" * 48}}, "not in 0-31"),
        ({"pcrs": {"0": b"\x01" * 48}}, "not in 0-31"),
        ({"cabundle": []}, "'cabundle' must hold"),
        ({"cabundle": [b"\x30" * 1025]}, "'cabundle' entry"),
        ({"user_data": b"\x00" * 1025}, "'user_data' must be"),
        ({"nonce": "text"}, "'nonce' must be"),
        ({"public_key": b""}, "'public_key' must be 1-"),
        ({"user_data": [[[[b""]]]]}, "not valid strict CBOR"),  # deeper than allowed
    ],
)
def test_malformed_payloads_are_refused(
    pki: PrivatePki, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(AttestationError, match=message):
        pki.verify(pki.document(pki.payload(**change)))


@pytest.mark.parametrize("tag", [0, 1, 2, 18, 24, 28, 100, 258, 1004, 55799, 99_999])
def test_every_cbor_tag_inside_the_payload_is_refused(pki: PrivatePki, tag: int) -> None:
    # cbor2 decodes some tags natively (bignums, dates, shared values): none may reach our types.
    payload = pki.payload(user_data=cbor2.CBORTag(tag, b"\x07" * 32))
    with pytest.raises(AttestationError, match="payload is not valid strict CBOR"):
        pki.verify(pki.document(payload))


def test_missing_mandatory_field_is_refused(pki: PrivatePki) -> None:
    payload = pki.payload()
    del payload["digest"]
    with pytest.raises(AttestationError, match="wrong set of fields"):
        pki.verify(pki.document(payload))


def test_duplicate_keys_and_indefinite_lengths_are_refused(pki: PrivatePki) -> None:
    with pytest.raises(AttestationError, match="payload is not valid strict CBOR"):
        pki.verify(pki.document(payload_bytes=_duplicate_digest(pki)))
    indefinite = cbor2.dumps(pki.payload(), indefinite_containers=True)
    with pytest.raises(AttestationError, match="payload is not valid strict CBOR"):
        pki.verify(pki.document(payload_bytes=indefinite))


def test_trailing_bytes_inside_the_payload_are_refused(pki: PrivatePki) -> None:
    with pytest.raises(AttestationError, match="payload has trailing bytes"):
        pki.verify(pki.document(payload_bytes=cbor2.dumps(pki.payload()) + b"\x00"))


def test_cose_envelope_is_strict(pki: PrivatePki) -> None:
    with pytest.raises(AttestationError, match="not exactly \\{alg: ES384\\}"):
        pki.verify(pki.document(protected=cbor2.dumps({1: -7})))  # ES256
    with pytest.raises(AttestationError, match="unprotected header must be empty"):
        pki.verify(pki.document(unprotected={4: b"kid"}))
    cose = cbor2.loads(pki.document())
    with pytest.raises(AttestationError, match="not a 96-byte ES384 signature"):
        pki.verify(cbor2.dumps([*cose[:3], cose[3][:64]]))
    with pytest.raises(AttestationError, match="not a COSE_Sign1 array"):
        pki.verify(cbor2.dumps(cose[:3]))
    with pytest.raises(AttestationError, match="not a COSE_Sign1 array"):
        pki.verify(cbor2.dumps({"payload": cose[2]}))


# --- the EvidenceVerifier: evidence shape, and end to end through verify_attestation -----------

CORE = "cd" * 32
NONCE = bytes(range(32))
SIGNING_KEY = SigningKey.from_bytes(bytes([1]) * 32)
KEM_KEY = KemPrivateKey.from_bytes(bytes([2]) * 32)
PCRS = {index: bytes([index + 1]) * 48 for index in (0, 1, 2)}


class _PrivateNitroProvider:
    """Core side over the private PKI: user_data = report_data, as a real enclave would send."""

    name = "aws-nitro"
    warning = ""

    def __init__(self, pki: PrivatePki, timestamp_ms: int = NOW_MS) -> None:
        self._pki = pki
        self._timestamp_ms = timestamp_ms

    def produce(self, report_data: bytes) -> dict[str, JsonValue]:
        payload = self._pki.payload(user_data=report_data, nonce=None, timestamp=self._timestamp_ms)
        document = self._pki.document(payload)
        return {"attestation_document": base64.b64encode(document).decode()}


def _nitro_document(pki: PrivatePki, timestamp_ms: int = NOW_MS) -> AttestationDocument:
    return produce_attestation(
        _PrivateNitroProvider(pki, timestamp_ms),
        CORE,
        KEM_KEY.public_key,
        SIGNING_KEY.verify_key,
        NONCE,
        now_ms=NOW_MS,
    )


def _verifier(
    pki: PrivatePki | None = None, pcrs: dict[int, bytes] = PCRS
) -> NitroEvidenceVerifier:
    return NitroEvidenceVerifier(
        {CORE: pcrs}, clock=lambda: NOW.timestamp(), root_der=None if pki is None else pki.root
    )


def test_end_to_end_through_verify_attestation(pki: PrivatePki) -> None:
    spec = EnclaveSpecification("sealroom.core", "test", CORE, frozenset({"aws-nitro"}))
    verified = verify_attestation(
        _nitro_document(pki),
        {"sealroom.core": spec},
        nonce=NONCE,
        now_ms=NOW_MS + 1000,
        verifiers={"aws-nitro": _verifier(pki)},
    )
    assert verified.provider == "aws-nitro"


def test_the_verifier_uses_the_pinned_root_by_default(pki: PrivatePki) -> None:
    document = _nitro_document(pki)
    with pytest.raises(AttestationError, match="pinned AWS root"):
        _verifier().verify(document, report_data=bytes.fromhex(document.report_data))


def test_the_verifier_binds_report_data_and_pcrs(pki: PrivatePki) -> None:
    document = _nitro_document(pki)
    report_data = bytes.fromhex(document.report_data)
    with pytest.raises(AttestationError, match="user_data differs"):
        _verifier(pki).verify(document, report_data=bytes(32))
    with pytest.raises(AttestationError, match="PCR1 differs"):
        _verifier(pki, {0: PCRS[0], 1: bytes(48)}).verify(document, report_data=report_data)


def test_the_nitro_clock_must_agree_with_issued_at(pki: PrivatePki) -> None:
    document = _nitro_document(pki, timestamp_ms=NOW_MS - MAX_TIMESTAMP_SKEW_MS - 1)
    with pytest.raises(AttestationError, match="disagrees with the document's issued_at_ms"):
        _verifier(pki).verify(document, report_data=bytes.fromhex(document.report_data))


def _real_document(evidence: dict[str, JsonValue], core: str = CORE) -> AttestationDocument:
    return AttestationDocument(
        provider="aws-nitro",
        measurement=core,
        core_version="0.1.0",
        kem_public_key="00" * 32,
        signing_public_key="00" * 32,
        nonce=NONCE.hex(),
        issued_at_ms=1_665_651_482_136,
        report_data="00" * 32,
        evidence=evidence,
    )


REAL_EVIDENCE: dict[str, JsonValue] = {
    "attestation_document": base64.b64encode(PRODUCTION).decode()
}


def test_real_evidence_passes_chain_and_pcrs_but_not_our_report_data() -> None:
    verifier = NitroEvidenceVerifier(
        {CORE: PRODUCTION_PCRS}, clock=lambda: PRODUCTION_TIME.timestamp()
    )
    with pytest.raises(AttestationError, match="user_data differs"):
        verifier.verify(_real_document(REAL_EVIDENCE), report_data=bytes(32))
    at_real_time = NitroEvidenceVerifier({CORE: PRODUCTION_PCRS})
    with pytest.raises(AttestationError, match="expired"):
        at_real_time.verify(_real_document(REAL_EVIDENCE), report_data=bytes(32))


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ({}, "must be exactly"),
        ({**REAL_EVIDENCE, "extra": "x"}, "must be exactly"),
        ({"attestation_document": 5}, "must be exactly"),
        ({"attestation_document": "@@@@"}, "not base64"),
        ({"attestation_document": "A" * (4 * MAX_DOCUMENT_BYTES)}, "too large"),
    ],
)
def test_malformed_evidence_is_refused(evidence: dict[str, JsonValue], message: str) -> None:
    verifier = NitroEvidenceVerifier({CORE: PRODUCTION_PCRS})
    with pytest.raises(AttestationError, match=message):
        verifier.verify(_real_document(evidence), report_data=bytes(32))


def test_a_core_without_pinned_pcrs_is_refused() -> None:
    verifier = NitroEvidenceVerifier({CORE: PRODUCTION_PCRS})
    with pytest.raises(AttestationError, match="no Nitro PCRs are pinned"):
        verifier.verify(_real_document(REAL_EVIDENCE, core="ef" * 32), report_data=bytes(32))


def test_expected_pcrs_need_pcr0_of_48_bytes() -> None:
    with pytest.raises(ValueError, match="PCR0"):
        NitroEvidenceVerifier({CORE: {1: bytes(48)}})
    with pytest.raises(ValueError, match="48 bytes"):
        NitroEvidenceVerifier({CORE: {0: bytes(32)}})
