"""A private Nitro-like P-384 PKI (root → signing certificate) that signs COSE_Sign1 documents.

Shared by the verifier tests (``test_attestation_nitro.py``) and the producer tests
(``test_attestation_devices.py``). Documents made with it verify only when its root is passed
explicitly as ``root_der``: never under the pinned AWS root.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from sealroom.attestation.nitro import NitroAttestation, verify_nitro_document

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
NOW_MS = int(NOW.timestamp() * 1000)
PROTECTED_ES384 = bytes.fromhex("a1013822")


def x509_name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])


def make_cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    path_length: int | None = None,
    hours: int = 3,
) -> bytes:
    usage = x509.KeyUsage(True, False, False, False, False, ca, ca, False, False)
    return (
        x509.CertificateBuilder()
        .subject_name(x509_name(subject))
        .issuer_name(x509_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(hours=hours))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), True)
        .add_extension(usage, critical=True)
        .sign(issuer_key, hashes.SHA384())
        .public_bytes(Encoding.DER)
    )


def p384_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@dataclass
class PrivatePki:
    root_key: ec.EllipticCurvePrivateKey
    root: bytes
    leaf_key: ec.EllipticCurvePrivateKey
    leaf: bytes

    def payload(self, **overrides: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "module_id": "i-0123456789abcdef0-enc0123456789abcdef",
            "digest": "SHA384",
            "timestamp": NOW_MS,
            "pcrs": {index: bytes([index + 1]) * 48 for index in range(16)},
            "certificate": self.leaf,
            "cabundle": [self.root],
            "public_key": None,
            "user_data": b"\x07" * 32,
            "nonce": b"\x09" * 32,
        }
        payload.update(overrides)
        return payload

    def document(
        self,
        payload: dict[str, Any] | None = None,
        *,
        payload_bytes: bytes | None = None,
        protected: bytes = PROTECTED_ES384,
        unprotected: dict[Any, Any] | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> bytes:
        if payload_bytes is None:
            payload_bytes = cbor2.dumps(self.payload() if payload is None else payload)
        to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload_bytes])
        r, s = decode_dss_signature(
            (key or self.leaf_key).sign(to_be_signed, ec.ECDSA(hashes.SHA384()))
        )
        signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        return cbor2.dumps([protected, unprotected or {}, payload_bytes, signature])

    def verify(self, document: bytes, **options: Any) -> NitroAttestation:
        return verify_nitro_document(document, root_der=self.root, **{"now": NOW, **options})


def make_pki() -> PrivatePki:
    root_key, leaf_key = p384_key(), p384_key()
    root = make_cert("test-root", root_key, "test-root", root_key, ca=True, hours=24 * 365)
    leaf = make_cert("test-enclave", leaf_key, "test-root", root_key, ca=False)
    return PrivatePki(root_key=root_key, root=root, leaf_key=leaf_key, leaf=leaf)
