"""AWS Nitro Enclaves evidence: parse and verify an attestation document, client side.

The document is a COSE_Sign1 (RFC 9052 §4.2; CBOR, tagged 18 or not) whose payload is the CBOR
map of AWS's "Nitro Enclaves attestation process" (aws-nitro-enclaves-nsm-api,
``docs/attestation_process.md`` §2.2): module_id, digest, timestamp, pcrs, certificate, cabundle,
and optional public_key, user_data and nonce. It is signed with ES384 by a short-lived (about 3 h)
certificate chaining to the **AWS Nitro Enclaves root G1**, pinned as package data
(``roots/aws-nitro-enclaves-root-g1.pem``).

Invariants:

* Nothing in the document chooses the root: ``cabundle[0]`` must be the pinned root, byte for byte.
* Parsing is bounded (document size, CBOR depth, field sizes, chain length) and strict: no CBOR tag
  but the outer 18, no indefinite lengths, no duplicate keys, no unknown field, no trailing byte.
* Certificates are checked at ``now`` (the real time by default): AWS's expire within hours, so a
  captured document stops verifying soon. Every failure raises
  :class:`~sealroom.errors.AttestationError` naming the failed check and no data value.
* A debug-mode enclave reports PCR0 as all zeros (its memory is inspectable through the console):
  refused unless ``unsafe_allow_debug``.
* Sealroom's 32-byte ``report_data`` travels in ``user_data`` (it binds the client's nonce).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from types import MappingProxyType
from typing import Any

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import SignatureAlgorithmOID

from sealroom.attestation.document import AttestationDocument
from sealroom.errors import AttestationError

__all__ = [
    "MAX_CABUNDLE_CERTIFICATES",
    "MAX_DOCUMENT_BYTES",
    "MAX_TIMESTAMP_SKEW_MS",
    "NITRO_PROVIDER",
    "NitroAttestation",
    "NitroEvidenceVerifier",
    "verify_nitro_document",
]

NITRO_PROVIDER = "aws-nitro"

MAX_PAYLOAD_BYTES = 16384
"""AWS: the signed payload is ``bstr .size (1..16384)``."""

MAX_DOCUMENT_BYTES = MAX_PAYLOAD_BYTES + 1024
"""The payload plus the COSE envelope (headers, 96-byte signature, CBOR framing)."""

MAX_CABUNDLE_CERTIFICATES = 8
"""AWS chains have 4 (root, regional, zonal, instance); 8 bounds the work on hostile input."""

MAX_CERTIFICATE_BYTES = 1024
"""AWS: ``cert = bytes .size (1..1024)``."""

MAX_USER_FIELD_BYTES = 1024
"""AWS CDDL: ``user_data = bytes .size (0..1024)`` for public_key, user_data and nonce."""

MAX_MODULE_ID_CHARS = 256
"""Module ids look like ``i-0123456789abcdef0-enc0123456789abcdef`` (39 characters)."""

MAX_TIMESTAMP_SKEW_MS = 120_000
"""How far the Nitro timestamp may be from the document's ``issued_at_ms`` (two clocks: the Nitro
hypervisor's and the enclave's, which the parent instance feeds)."""

MAX_FUTURE_SKEW = timedelta(seconds=60)
"""How far in the verifier's future a document's timestamp may be (client clocks drift)."""

_MAX_CBOR_DEPTH = 4  # COSE array → payload map → pcrs map / cabundle array; one level to spare.
_PCR_BYTES = 48  # digest "SHA384"
_PCR_COUNT = 32
_COSE_SIGN1_TAG_BYTE = 0xD2  # Major type 6 (tag), value 18: COSE_Sign1.
_PROTECTED_ES384 = bytes.fromhex("a1013822")  # The serialized map {1: -35}: alg = ES384.
_SIGNATURE_BYTES = 96  # r || s, 48 big-endian bytes each (RFC 9053 §2.1).
_MANDATORY = frozenset({"module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle"})
_OPTIONAL = frozenset({"public_key", "user_data", "nonce"})
# Tags cbor2 6 decodes natively: each is refused here instead (any other tag reaches tag_hook).
# Probed on cbor2 6.2.1: re-probe when the pin moves (an unlisted one would still meet the strict
# type checks of the payload, which admit only bytes, text, int, list and dict).
_CBOR2_SEMANTIC_TAGS = frozenset(
    [0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004, 43000]
)
_CBOR_SELF_DESCRIBED = 55799  # RFC 8949 §3.4.6 "self-described CBOR" magic, decoded natively too.


@dataclass(frozen=True)
class NitroAttestation:
    """A verified Nitro attestation document (built only by :func:`verify_nitro_document`)."""

    module_id: str
    timestamp_ms: int
    digest: str
    pcrs: Mapping[int, bytes]
    certificate: bytes
    cabundle: tuple[bytes, ...]
    public_key: bytes | None
    user_data: bytes | None
    nonce: bytes | None

    @property
    def debug(self) -> bool:
        """Debug-mode enclaves report PCRs 0-2 as zeros; PCR0 (the whole image) decides."""
        return not any(self.pcrs.get(0, b""))


def _refuse_tag(*_: object) -> Any:
    raise ValueError("CBOR tags are not allowed here")


_NO_TAGS = {tag: _refuse_tag for tag in _CBOR2_SEMANTIC_TAGS | {_CBOR_SELF_DESCRIBED}}


def _strict_cbor(data: bytes, what: str) -> Any:
    """Decode exactly one CBOR item with no tags, indefinite lengths or duplicate keys."""
    stream = io.BytesIO(data)
    # read_size=1 so that stream.tell() is exactly the end of the item (no read-ahead).
    decoder = cbor2.CBORDecoder(
        stream,
        tag_hook=_refuse_tag,
        semantic_decoders=_NO_TAGS,
        max_depth=_MAX_CBOR_DEPTH,
        allow_indefinite=False,
        allow_duplicate_keys=False,
        read_size=1,
    )
    try:
        value = decoder.decode()
    except (cbor2.CBORError, ValueError, TypeError, RecursionError):
        raise AttestationError(f"Nitro: {what} is not valid strict CBOR") from None
    if stream.tell() != len(data):
        raise AttestationError(f"Nitro: {what} has trailing bytes")
    return value


def _bytes_field(payload: Mapping[str, Any], key: str, min_len: int, max_len: int) -> bytes:
    value = payload[key]
    if type(value) is not bytes or not min_len <= len(value) <= max_len:
        raise AttestationError(f"Nitro document: {key!r} must be {min_len}-{max_len} bytes")
    return value


def _parse(doc_bytes: bytes) -> tuple[bytes, bytes, bytes, dict[str, Any]]:
    """COSE_Sign1 → (protected, payload, signature, payload map), checking every type and size."""
    if not isinstance(doc_bytes, bytes) or not 0 < len(doc_bytes) <= MAX_DOCUMENT_BYTES:
        raise AttestationError(f"Nitro: the document must be 1 to {MAX_DOCUMENT_BYTES} bytes")
    # RFC 9052 allows COSE_Sign1 tagged (18) or untagged; the NSM returns it untagged.
    body = doc_bytes[1:] if doc_bytes[0] == _COSE_SIGN1_TAG_BYTE else doc_bytes
    cose = _strict_cbor(body, "the COSE_Sign1")
    if type(cose) is not list or len(cose) != 4:
        raise AttestationError("Nitro: the document is not a COSE_Sign1 array")
    protected, unprotected, payload_bytes, signature = cose
    if type(protected) is not bytes or protected != _PROTECTED_ES384:
        raise AttestationError("Nitro: the protected header is not exactly {alg: ES384}")
    if type(unprotected) is not dict or unprotected:
        raise AttestationError("Nitro: the unprotected header must be empty")
    if type(payload_bytes) is not bytes or not 0 < len(payload_bytes) <= MAX_PAYLOAD_BYTES:
        raise AttestationError("Nitro: the payload is missing or too large")
    if type(signature) is not bytes or len(signature) != _SIGNATURE_BYTES:
        raise AttestationError("Nitro: the signature is not a 96-byte ES384 signature")
    payload = _strict_cbor(payload_bytes, "the payload")
    # AWS §3.2.2: the mandatory fields and optional ones, nothing else (null: see _attestation).
    if type(payload) is not dict or not _MANDATORY <= set(payload) <= _MANDATORY | _OPTIONAL:
        raise AttestationError("Nitro document: wrong set of fields")
    return protected, payload_bytes, signature, payload


def _attestation(payload: dict[str, Any]) -> NitroAttestation:
    module_id, digest, timestamp = payload["module_id"], payload["digest"], payload["timestamp"]
    if type(module_id) is not str or not 0 < len(module_id) <= MAX_MODULE_ID_CHARS:
        raise AttestationError("Nitro document: 'module_id' must be a non-empty short text")
    if digest != "SHA384":
        raise AttestationError("Nitro document: 'digest' must be SHA384")
    if type(timestamp) is not int or not 0 < timestamp < 2**64:
        raise AttestationError("Nitro document: 'timestamp' must be a positive uint64")
    pcrs = payload["pcrs"]
    if type(pcrs) is not dict or not 0 < len(pcrs) <= _PCR_COUNT:
        raise AttestationError("Nitro document: 'pcrs' must map 1 to 32 registers")
    for index, value in pcrs.items():
        if type(index) is not int or not 0 <= index < _PCR_COUNT:
            raise AttestationError("Nitro document: a PCR index is not in 0-31")
        if type(value) is not bytes or len(value) != _PCR_BYTES:
            raise AttestationError("Nitro document: a PCR is not a 48-byte SHA-384 value")
    cabundle = payload["cabundle"]
    if type(cabundle) is not list or not 0 < len(cabundle) <= MAX_CABUNDLE_CERTIFICATES:
        raise AttestationError(
            f"Nitro document: 'cabundle' must hold 1 to {MAX_CABUNDLE_CERTIFICATES} certificates"
        )
    if any(type(c) is not bytes or not 0 < len(c) <= MAX_CERTIFICATE_BYTES for c in cabundle):
        raise AttestationError("Nitro document: a 'cabundle' entry is not a 1-1024 byte cert")
    # AWS §3.2.2 says "no field content can be null", yet the NSM writes an absent optional field
    # as null (every public sample does): null means absent, for the optional fields only.
    optional = {
        key: _bytes_field(payload, key, 1 if key == "public_key" else 0, MAX_USER_FIELD_BYTES)
        for key in _OPTIONAL
        if payload.get(key) is not None
    }
    return NitroAttestation(
        module_id=module_id,
        timestamp_ms=timestamp,
        digest=digest,
        pcrs=MappingProxyType(dict(sorted(pcrs.items()))),
        certificate=_bytes_field(payload, "certificate", 1, MAX_CERTIFICATE_BYTES),
        cabundle=tuple(cabundle),
        public_key=optional.get("public_key"),
        user_data=optional.get("user_data"),
        nonce=optional.get("nonce"),
    )


@functools.cache
def _pinned_root_der() -> bytes:
    pem = resources.files("sealroom.attestation").joinpath("roots/aws-nitro-enclaves-root-g1.pem")
    return x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)


def _load(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise AttestationError(f"Nitro: the {what} certificate is not valid DER") from None


def _verify_chain(
    attestation: NitroAttestation, root_der: bytes, now: datetime
) -> x509.Certificate:
    """Root → cabundle[1:] → certificate (AWS §3.2.3): signatures, CA flags, path lengths, times."""
    if not hmac.compare_digest(attestation.cabundle[0], root_der):
        raise AttestationError("Nitro: the CA bundle does not start with the pinned AWS root")
    chain = [_load(der, "CA bundle") for der in attestation.cabundle]
    leaf = _load(attestation.certificate, "signing")
    for position, cert in enumerate([*chain, leaf]):
        issuer = chain[position - 1] if position else cert  # The root signs itself.
        if cert.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA384:
            raise AttestationError("Nitro: a certificate is not signed with ECDSA SHA-384")
        key = cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP384R1
        ):
            raise AttestationError("Nitro: a certificate key is not ECDSA P-384")
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise AttestationError("Nitro: the certificate chain does not verify") from None
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise AttestationError("Nitro: a certificate is expired or not yet valid")
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            raise AttestationError(
                "Nitro: a certificate lacks basic constraints or key usage"
            ) from None
        is_leaf = cert is leaf
        # RFC 5280 §4.2.1.9: CAs sign certificates; pathLen counts the CAs allowed below.
        cas_below = len(chain) - 1 - position
        if is_leaf:
            if constraints.ca or not usage.digital_signature:
                raise AttestationError("Nitro: the signing certificate is not an end-entity signer")
        elif (
            not constraints.ca
            or not usage.key_cert_sign
            or (constraints.path_length is not None and constraints.path_length < cas_below)
        ):
            raise AttestationError("Nitro: a CA bundle certificate may not issue this chain")
    return leaf


def _check_signature(
    protected: bytes, payload: bytes, signature: bytes, leaf: x509.Certificate
) -> None:
    # RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload].
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    der_signature = encode_dss_signature(
        int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
    )
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):  # Already refused by _verify_chain.
        raise AttestationError("Nitro: the signing key is not ECDSA")
    try:
        key.verify(der_signature, to_be_signed, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise AttestationError("Nitro: the COSE signature does not verify") from None


def _equal(actual: bytes | None, expected: bytes | None) -> bool:
    return expected is None or (actual is not None and hmac.compare_digest(actual, expected))


def verify_nitro_document(
    doc_bytes: bytes,
    *,
    expected_pcrs: Mapping[int, bytes] | None = None,
    expected_nonce: bytes | None = None,
    expected_user_data: bytes | None = None,
    expected_public_key: bytes | None = None,
    now: datetime | None = None,
    root_der: bytes | None = None,
    unsafe_allow_debug: bool = False,
) -> NitroAttestation:
    """Verify a Nitro attestation document and return its contents.

    ``root_der`` **replaces the pinned AWS root** (tests, private PKIs): never pass one taken from
    the document. ``now`` (timezone-aware) defaults to the real time; certificates must be valid
    then. An expectation left at ``None`` is not checked.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    # 1. Strict, bounded parse of COSE_Sign1 and of the payload (AWS §3.2.2).
    protected, payload_bytes, signature, payload = _parse(doc_bytes)
    attestation = _attestation(payload)
    # 2. Chain to the pinned root, valid now: stops documents not made by the Nitro hypervisor.
    leaf = _verify_chain(attestation, _pinned_root_der() if root_der is None else root_der, now)
    # 3. ES384 over the payload: stops any edit of the document.
    _check_signature(protected, payload_bytes, signature, leaf)
    # 4. Time: the document was made while its certificate was valid, and not in our future.
    issued = datetime.fromtimestamp(attestation.timestamp_ms / 1000, UTC)
    if not leaf.not_valid_before_utc <= issued <= leaf.not_valid_after_utc:
        raise AttestationError("Nitro: the timestamp is outside the signing certificate's validity")
    if issued > now + MAX_FUTURE_SKEW:
        raise AttestationError("Nitro: the document is timestamped in the future")
    # 5. Debug mode zeroes the measurements and opens a console: nothing is attested.
    if 0 not in attestation.pcrs:
        raise AttestationError("Nitro: PCR0 (the enclave image) is missing")
    if attestation.debug and not unsafe_allow_debug:
        raise AttestationError("Nitro: the enclave runs in debug mode (PCR0 is zero)")
    # 6. Measurements: stops an enclave built from another image, kernel or application.
    for index, value in (expected_pcrs or {}).items():
        if not _equal(attestation.pcrs.get(index), value):
            raise AttestationError(f"Nitro: PCR{index} differs from the expected value")
    # 7. Bindings: nonce (replay), user_data (our report_data), public_key.
    if not _equal(attestation.nonce, expected_nonce):
        raise AttestationError("Nitro: the nonce differs from the expected one (replayed?)")
    if not _equal(attestation.user_data, expected_user_data):
        raise AttestationError("Nitro: user_data differs from the expected report_data")
    if not _equal(attestation.public_key, expected_public_key):
        raise AttestationError("Nitro: public_key differs from the expected key")
    return attestation


class NitroEvidenceVerifier:
    """:class:`~sealroom.attestation.document.EvidenceVerifier` for the ``"aws-nitro"`` provider.

    Evidence shape: ``{"attestation_document": <standard base64 of the COSE_Sign1 bytes>}``, with
    ``user_data`` = the 32-byte ``report_data``, which already binds the client's nonce, keys and
    time. The NSM ``nonce`` and ``public_key`` fields are not used: ``EvidenceProvider.produce``
    receives only ``report_data``.

    ``expected_pcrs`` maps a core measurement (``document.measurement``) to the PCR values of the
    enclave image that runs it; PCR0 (the whole image) is required, PCR1/2/8 recommended.
    """

    def __init__(
        self,
        expected_pcrs: Mapping[str, Mapping[int, bytes]],
        *,
        clock: Callable[[], float] = time.time,
        root_der: bytes | None = None,
    ) -> None:
        self._expected_pcrs = {core: dict(pcrs) for core, pcrs in expected_pcrs.items()}
        for pcrs in self._expected_pcrs.values():
            if 0 not in pcrs or any(len(value) != _PCR_BYTES for value in pcrs.values()):
                raise ValueError("each core needs PCR0, and every PCR is 48 bytes")
        self._clock = clock
        self._root_der = root_der

    def verify(self, document: AttestationDocument, *, report_data: bytes) -> None:
        evidence = document.evidence
        encoded = evidence.get("attestation_document")
        if set(evidence) != {"attestation_document"} or not isinstance(encoded, str):
            raise AttestationError("Nitro evidence must be exactly {'attestation_document': b64}")
        if len(encoded) > 4 * (MAX_DOCUMENT_BYTES // 3 + 1):
            raise AttestationError("Nitro evidence: the attestation document is too large")
        try:
            doc_bytes = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise AttestationError(
                "Nitro evidence: the attestation document is not base64"
            ) from None
        expected_pcrs = self._expected_pcrs.get(document.measurement)
        if expected_pcrs is None:
            raise AttestationError("no Nitro PCRs are pinned for this core measurement")
        attestation = verify_nitro_document(
            doc_bytes,
            expected_pcrs=expected_pcrs,
            expected_user_data=report_data,
            now=datetime.fromtimestamp(self._clock(), UTC),
            root_der=self._root_der,
        )
        # The hardware clock vouches for the time the core claims (verify.py checks freshness).
        if abs(attestation.timestamp_ms - document.issued_at_ms) > MAX_TIMESTAMP_SKEW_MS:
            raise AttestationError(
                "Nitro: the timestamp disagrees with the document's issued_at_ms"
            )
