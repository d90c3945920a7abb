"""A private AMD-like PKI (ARK → ASK → VCEK/VLEK) that signs SEV-SNP reports, for tests.

Shared by the verifier tests (``test_attestation_sevsnp.py``) and the producer tests
(``test_attestation_devices.py``). Its certificates chain to a freshly generated ARK, so evidence
made with it verifies only when that ARK is passed explicitly as ``ark_der``: never under the
pinned AMD roots.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from sealroom.attestation.sevsnp import (
    REPORT_SIZE,
    SIGNED_LENGTH,
    SnpReport,
    SnpTcb,
    verify_report,
)

MILAN_TCB = SnpTcb(bootloader=3, tee=0, snp=8, microcode=0x73)
"""The TCB of the real Milan vector; private reports and certificates use it by default."""

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
_T0 = datetime(2024, 1, 1, tzinfo=UTC)
_AMD = "1.3.6.1.4.1.3704.1."
NOW = _T0 + timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])


def _rsa_cert(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey
) -> x509.Certificate:
    usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_T0)
        .not_valid_after(_T0 + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .sign(issuer_key, hashes.SHA384(), rsa_padding=_PSS)
    )


def _der_uint(value: int) -> bytes:
    body = value.to_bytes(1, "big")
    return b"\x02\x02\x00" + body if value & 0x80 else b"\x02\x01" + body


@dataclass
class PrivatePki:
    ark: x509.Certificate
    ask: x509.Certificate
    ask_key: rsa.RSAPrivateKey
    key: ec.EllipticCurvePrivateKey

    def endorsement(
        self, *, tcb: SnpTcb, chip_id: bytes, kind: str = "VCEK", product: str = "Milan-B0"
    ) -> bytes:
        raw_tcb = _tcb_bytes(tcb)
        spl_minors = ("1", "2", "4", "5", "6", "7", "3", "8")
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"SEV-{kind}"))
            .issuer_name(self.ask.subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_T0)
            .not_valid_after(_T0 + timedelta(days=3650))
        )
        product_der = b"\x16" + bytes([len(product)]) + product.encode()
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(_AMD + "2"), product_der), False
        )
        for minor, value in zip(spl_minors, raw_tcb, strict=True):
            oid = x509.ObjectIdentifier(_AMD + "3." + minor)
            builder = builder.add_extension(
                x509.UnrecognizedExtension(oid, _der_uint(value)), False
            )
        if kind == "VCEK":
            hwid = x509.UnrecognizedExtension(x509.ObjectIdentifier(_AMD + "4"), chip_id)
            builder = builder.add_extension(hwid, False)
        cert = builder.sign(self.ask_key, hashes.SHA384(), rsa_padding=_PSS)
        return cert.public_bytes(Encoding.DER)

    def report(
        self,
        *,
        tcb: SnpTcb = MILAN_TCB,
        chip_id: bytes = b"\x42" * 64,
        policy: int = 0x30000,
        signer_info: int = 0,
        measurement: bytes = b"\x11" * 48,
        report_data: bytes = bytes(64),
    ) -> bytes:
        body = bytearray(SIGNED_LENGTH)
        struct.pack_into("<IIQ", body, 0, 2, 0, policy)
        struct.pack_into("<I", body, 0x34, 1)
        struct.pack_into("<I", body, 0x48, signer_info)
        body[0x50:0x90] = report_data
        body[0x90:0xC0] = measurement
        body[0x180:0x188] = _tcb_bytes(tcb)
        body[0x1A0:0x1E0] = chip_id
        der = self.key.sign(bytes(body), ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(72, "little") + s.to_bytes(72, "little")
        return bytes(body) + signature.ljust(REPORT_SIZE - SIGNED_LENGTH, b"\0")

    def verify(self, report: bytes, endorsement: bytes, **options: Any) -> SnpReport:
        """verify_report with this PKI as the trust anchor, at a time its certificates are valid."""
        return verify_report(
            report, endorsement, ask_der=self.ask_der, ark_der=self.ark_der, now=NOW, **options
        )

    @property
    def ark_der(self) -> bytes:
        return self.ark.public_bytes(Encoding.DER)

    @property
    def ask_der(self) -> bytes:
        return self.ask.public_bytes(Encoding.DER)


def _tcb_bytes(tcb: SnpTcb) -> bytes:
    return bytes([tcb.bootloader, tcb.tee, 0, 0, 0, 0, tcb.snp, tcb.microcode])


def make_pki(ask_name: str = "SEV-Milan", ark_name: str = "ARK-Milan") -> PrivatePki:
    ark_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ask_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ark = _rsa_cert(ark_name, ark_key, ark_name, ark_key)
    ask = _rsa_cert(ask_name, ask_key, ark_name, ark_key)
    return PrivatePki(
        ark=ark, ask=ask, ask_key=ask_key, key=ec.generate_private_key(ec.SECP384R1())
    )
