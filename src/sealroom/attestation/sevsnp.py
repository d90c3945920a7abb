"""AMD SEV-SNP evidence: parse and verify an ATTESTATION_REPORT, client side.

The report is the 1184-byte structure of AMD's SEV-SNP firmware ABI (spec 56860, "ATTESTATION_REPORT
structure"), signed by the chip's VCEK (or by a cloud provider's VLEK) with ECDSA P-384/SHA-384.
Trust comes from AMD's keys only::

    ARK (AMD root, RSA-4096, self-signed) → ASK (VCEK) / ASVK (VLEK) → VCEK/VLEK (P-384) → report

Invariants:

* The ARK, ASK and ASVK of each supported product (Milan, Genoa) are **pinned** as package data
  (``roots/amd-<product>-{ark,ask,asvk}.pem``); nothing in the evidence can choose a root. An
  intermediate carried by the evidence is used only if the pinned ARK signed it.
* Every failure raises :class:`~sealroom.errors.AttestationError` naming the failed check and no
  data value. Parsing checks lengths before slicing and refuses reserved bits it does not know.
* ``REPORT_DATA`` binds our 32-byte ``report_data`` (see :func:`~sealroom.attestation.document.
  compute_report_data`) in its first 32 bytes; the last 32 bytes must be zero.
* ``REPORTED_TCB`` is the TCB the VCEK was derived for: it must equal the TCB in the certificate's
  extensions, and it is what a minimum TCB is compared with.

Not supported (refused): Turin and later (another TCB layout), reports signed by no key, VCEK
revocation (AMD's CRL is fetched over the network; this module does no I/O except reading the
pinned roots once).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import struct
import time
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import SignatureAlgorithmOID
from pydantic import JsonValue

from sealroom.attestation.document import AttestationDocument
from sealroom.errors import AttestationError

__all__ = [
    "MAX_CERTIFICATE_BYTES",
    "REPORT_SIZE",
    "SEV_SNP_PROVIDER",
    "SIGNED_LENGTH",
    "SUPPORTED_PRODUCTS",
    "SevSnpEvidenceVerifier",
    "SnpReport",
    "SnpTcb",
    "parse_report",
    "verify_report",
]

SEV_SNP_PROVIDER = "sev-snp"

REPORT_SIZE = 0x4A0
"""ATTESTATION_REPORT size in bytes (1184)."""

SIGNED_LENGTH = 0x2A0
"""The signature covers bytes ``[0, 0x2A0)``; the 512-byte SIGNATURE field follows."""

MAX_CERTIFICATE_BYTES = 8192
"""Largest VCEK/VLEK/ASK DER accepted (AMD's are 1.3-1.9 KB): bounds parsing of untrusted input."""

SUPPORTED_PRODUCTS = ("Milan", "Genoa")
"""Products whose roots are pinned and whose TCB layout (byte 0 boot loader, 1 TEE, 2-5 reserved,
6 SNP firmware, 7 microcode) this module knows."""

_SUPPORTED_VERSIONS = range(2, 6)  # ABI report versions 2 to 5 share the layout parsed here.
_SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1
_COMPONENT_BYTES = 72  # r and s are each 72 little-endian bytes in the SIGNATURE field.
_P384_BYTES = 48

_POLICY_RESERVED_ONE = 1 << 17  # ABI: "must be one".
_POLICY_MIGRATE_MA = 1 << 18
_POLICY_DEBUG = 1 << 19
_POLICY_KNOWN_BITS = (1 << 26) - 1  # Bits 26-63 are reserved, must be zero.

_SIGNING_KEYS: dict[int, Literal["VCEK", "VLEK"]] = {0: "VCEK", 1: "VLEK"}

_AMD_OID = "1.3.6.1.4.1.3704.1."
_OID_PRODUCT_NAME = x509.ObjectIdentifier(_AMD_OID + "2")
_OID_HWID = x509.ObjectIdentifier(_AMD_OID + "4")
# TCB byte index → the certificate extension holding that security patch level (SPL).
_TCB_BYTE_OIDS = tuple(
    x509.ObjectIdentifier(_AMD_OID + "3." + minor)
    for minor in ("1", "2", "4", "5", "6", "7", "3", "8")
)
_TCB_DER_INTEGER_MAX_BYTES = 2  # An SPL is one byte; DER adds a 0x00 when its top bit is set.


@dataclass(frozen=True, order=False)
class SnpTcb:
    """A TCB_VERSION in the Milan/Genoa layout (reserved bytes 2-5 must be zero)."""

    bootloader: int
    tee: int
    snp: int
    microcode: int

    @classmethod
    def from_raw(cls, raw: int) -> SnpTcb:
        parts = raw.to_bytes(8, "little")
        if any(parts[2:6]):
            raise AttestationError(
                "SEV-SNP: TCB version has non-zero reserved bytes (unknown layout)"
            )
        return cls(bootloader=parts[0], tee=parts[1], snp=parts[6], microcode=parts[7])

    def meets(self, minimum: SnpTcb) -> bool:
        """True if every component is at least the minimum's (TCBs are not totally ordered)."""
        return (
            self.bootloader >= minimum.bootloader
            and self.tee >= minimum.tee
            and self.snp >= minimum.snp
            and self.microcode >= minimum.microcode
        )


@dataclass(frozen=True)
class SnpReport:
    """A parsed ATTESTATION_REPORT. Parsing alone proves nothing; see :func:`verify_report`."""

    version: int
    guest_svn: int
    policy: int
    family_id: bytes
    image_id: bytes
    vmpl: int
    current_tcb: int
    platform_info: int
    author_key_enabled: bool
    mask_chip_key: bool
    signing_key: Literal["VCEK", "VLEK"]
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: int
    chip_id: bytes
    committed_tcb: int
    launch_tcb: int
    signature_r: int
    signature_s: int
    raw: bytes

    @property
    def debug_allowed(self) -> bool:
        """POLICY.DEBUG: the hypervisor may read and write guest memory."""
        return bool(self.policy & _POLICY_DEBUG)

    @property
    def migration_agent_allowed(self) -> bool:
        """POLICY.MIGRATE_MA: a migration agent may export the guest (and its memory)."""
        return bool(self.policy & _POLICY_MIGRATE_MA)


def _u32(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value


def _u64(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<Q", data, offset)[0]
    return value


def _require_zero(data: bytes, start: int, end: int) -> None:
    if any(data[start:end]):
        raise AttestationError(f"SEV-SNP report: reserved bytes 0x{start:X}-0x{end:X} are not zero")


def parse_report(data: bytes) -> SnpReport:
    """Parse an ATTESTATION_REPORT strictly: exact size, known version and algorithm, MBZ fields."""
    if not isinstance(data, bytes) or len(data) != REPORT_SIZE:
        raise AttestationError(f"SEV-SNP report must be exactly {REPORT_SIZE} bytes")
    version = _u32(data, 0x00)
    if version not in _SUPPORTED_VERSIONS:
        raise AttestationError("SEV-SNP report: unsupported report version")
    policy = _u64(data, 0x08)
    if not policy & _POLICY_RESERVED_ONE or policy & ~_POLICY_KNOWN_BITS:
        raise AttestationError("SEV-SNP report: malformed guest policy (reserved bits)")
    if _u32(data, 0x34) != _SIGNATURE_ALGO_ECDSA_P384_SHA384:
        raise AttestationError("SEV-SNP report: signature algorithm is not ECDSA P-384 SHA-384")
    signer_info = _u32(data, 0x48)
    signing_key = _SIGNING_KEYS.get((signer_info >> 2) & 0b111)
    if signer_info >> 5 or signing_key is None:
        raise AttestationError("SEV-SNP report: not signed by a VCEK or VLEK (SIGNING_KEY)")
    _require_zero(data, 0x4C, 0x50)
    # Version 3 added CPUID family/model/stepping at 0x188-0x18A; before, they are reserved.
    _require_zero(data, 0x18B if version >= 3 else 0x188, 0x1A0)
    _require_zero(data, 0x1EB, 0x1EC)
    _require_zero(data, 0x1EF, 0x1F0)
    # Version 5 added the launch/current mitigation vectors at 0x1F8-0x207.
    _require_zero(data, 0x208 if version >= 5 else 0x1F8, SIGNED_LENGTH)
    signature_end = SIGNED_LENGTH + 2 * _COMPONENT_BYTES
    _require_zero(data, signature_end, REPORT_SIZE)
    r_bytes = data[SIGNED_LENGTH : SIGNED_LENGTH + _COMPONENT_BYTES]
    s_bytes = data[SIGNED_LENGTH + _COMPONENT_BYTES : signature_end]
    return SnpReport(
        version=version,
        guest_svn=_u32(data, 0x04),
        policy=policy,
        family_id=data[0x10:0x20],
        image_id=data[0x20:0x30],
        vmpl=_u32(data, 0x30),
        current_tcb=_u64(data, 0x38),
        platform_info=_u64(data, 0x40),
        author_key_enabled=bool(signer_info & 0b1),
        mask_chip_key=bool(signer_info & 0b10),
        signing_key=signing_key,
        report_data=data[0x50:0x90],
        measurement=data[0x90:0xC0],
        host_data=data[0xC0:0xE0],
        id_key_digest=data[0xE0:0x110],
        author_key_digest=data[0x110:0x140],
        report_id=data[0x140:0x160],
        report_id_ma=data[0x160:0x180],
        reported_tcb=_u64(data, 0x180),
        chip_id=data[0x1A0:0x1E0],
        committed_tcb=_u64(data, 0x1E0),
        launch_tcb=_u64(data, 0x1F0),
        signature_r=int.from_bytes(r_bytes, "little"),
        signature_s=int.from_bytes(s_bytes, "little"),
        raw=data,
    )


def _load_certificate(der: bytes, what: str) -> x509.Certificate:
    if not isinstance(der, bytes) or not 0 < len(der) <= MAX_CERTIFICATE_BYTES:
        raise AttestationError(f"SEV-SNP: the {what} certificate is missing or too large")
    try:
        # AMD issues VCEKs with serial number 0, which cryptography accepts with a deprecation
        # warning; the serial is never used here, so the warning says nothing about our checks.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_der_x509_certificate(der)
    except ValueError:
        raise AttestationError(f"SEV-SNP: the {what} certificate is not valid DER") from None


@dataclass(frozen=True)
class _ProductRoots:
    ark: x509.Certificate
    ask: x509.Certificate
    asvk: x509.Certificate


@functools.cache
def _pinned_roots() -> dict[str, _ProductRoots]:
    """The pinned AMD certificates, read once from package data (never at import time)."""
    folder = resources.files("sealroom.attestation").joinpath("roots")
    roots = {}
    for product in SUPPORTED_PRODUCTS:
        loaded = {
            role: x509.load_pem_x509_certificate(
                folder.joinpath(f"amd-{product.lower()}-{role}.pem").read_bytes()
            )
            for role in ("ark", "ask", "asvk")
        }
        roots[product] = _ProductRoots(ark=loaded["ark"], ask=loaded["ask"], asvk=loaded["asvk"])
    return roots


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    value = names[0].value if len(names) == 1 else None
    return value if isinstance(value, str) else ""


def _extension_bytes(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _der_small_uint(encoded: bytes | None, what: str) -> int:
    # DER INTEGER, short form: 0x02, length, big-endian two's complement (non-negative here).
    if (
        encoded is None
        or len(encoded) < 3
        or encoded[0] != 0x02
        or encoded[1] != len(encoded) - 2
        or encoded[1] > _TCB_DER_INTEGER_MAX_BYTES
        or encoded[2] & 0x80
        or (len(encoded) > 3 and encoded[2] == 0 and not encoded[3] & 0x80)  # not minimal
    ):
        raise AttestationError(f"SEV-SNP: the endorsement certificate has no valid {what}")
    value = int.from_bytes(encoded[2:], "big")
    if value > 0xFF:
        raise AttestationError(f"SEV-SNP: the endorsement certificate has no valid {what}")
    return value


def _product_of(leaf: x509.Certificate) -> str:
    encoded = _extension_bytes(leaf, _OID_PRODUCT_NAME)
    # DER IA5String, short form: 0x16, length, ASCII ("Milan-B0", "Milan", "Genoa").
    if encoded is None or len(encoded) < 2 or encoded[0] != 0x16 or encoded[1] != len(encoded) - 2:
        raise AttestationError("SEV-SNP: the endorsement certificate names no product")
    product = encoded[2:].decode("ascii", errors="replace").split("-", 1)[0]
    if product not in SUPPORTED_PRODUCTS:
        raise AttestationError("SEV-SNP: unsupported AMD product (only Milan and Genoa are pinned)")
    return product


def _check_link(child: x509.Certificate, issuer: x509.Certificate, what: str) -> None:
    # AMD signs ARK, ASK, ASVK, VCEK and VLEK with RSASSA-PSS/SHA-384 (ABI 56860, KDS spec 57230).
    if child.signature_algorithm_oid != SignatureAlgorithmOID.RSASSA_PSS or not isinstance(
        child.signature_hash_algorithm, hashes.SHA384
    ):
        raise AttestationError(
            f"SEV-SNP: the {what} certificate is not signed with RSA-PSS SHA-384"
        )
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise AttestationError(
            f"SEV-SNP: the {what} certificate is not issued by its AMD issuer"
        ) from None


def _check_ca(cert: x509.Certificate, what: str) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise AttestationError(f"SEV-SNP: the {what} certificate is not a CA") from None
    if not constraints.ca or not usage.key_cert_sign:
        raise AttestationError(f"SEV-SNP: the {what} certificate is not a CA")


def _check_validity(cert: x509.Certificate, now: datetime, what: str) -> None:
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise AttestationError(f"SEV-SNP: the {what} certificate is expired or not yet valid")


def _verify_chain(
    report: SnpReport,
    leaf: x509.Certificate,
    ask_der: bytes | None,
    ark_der: bytes | None,
    now: datetime,
) -> str:
    """Check ARK → ASK/ASVK → VCEK/VLEK and return the product name."""
    product = _product_of(leaf)
    pinned = _pinned_roots()[product]
    ark = pinned.ark if ark_der is None else _load_certificate(ark_der, "ARK")
    vlek = report.signing_key == "VLEK"
    if ask_der is not None:
        ask = _load_certificate(ask_der, "ASK")
    else:
        ask = pinned.asvk if vlek else pinned.ask
    # Names tie the product claimed by the leaf to the chain (all three are AMD-signed).
    intermediate = f"SEV-VLEK-{product}" if vlek else f"SEV-{product}"
    if _common_name(ark) != f"ARK-{product}" or _common_name(ask) != intermediate:
        raise AttestationError("SEV-SNP: the certificate chain is not AMD's for this product")
    if _common_name(leaf) != f"SEV-{report.signing_key}":
        raise AttestationError("SEV-SNP: the endorsement certificate is not the report's key type")
    _check_link(ark, ark, "ARK")  # Self-signed: a root pinned by value must still be a root.
    _check_ca(ark, "ARK")
    _check_link(ask, ark, "ASK")
    _check_ca(ask, "ASK")
    _check_link(leaf, ask, report.signing_key)
    for cert, what in ((ark, "ARK"), (ask, "ASK"), (leaf, report.signing_key)):
        _check_validity(cert, now, what)
    return product


def _check_signature(report: SnpReport, leaf: x509.Certificate) -> None:
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise AttestationError("SEV-SNP: the endorsement key is not ECDSA P-384")
    if max(report.signature_r, report.signature_s).bit_length() > 8 * _P384_BYTES:
        raise AttestationError("SEV-SNP: report signature is malformed")
    signature = encode_dss_signature(report.signature_r, report.signature_s)
    try:
        key.verify(signature, report.raw[:SIGNED_LENGTH], ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise AttestationError("SEV-SNP: report signature does not verify") from None


def _check_tcb_binding(report: SnpReport, leaf: x509.Certificate) -> None:
    certified = bytes(
        _der_small_uint(_extension_bytes(leaf, oid), "TCB extension") for oid in _TCB_BYTE_OIDS
    )
    if not hmac.compare_digest(certified, report.reported_tcb.to_bytes(8, "little")):
        raise AttestationError(
            "SEV-SNP: REPORTED_TCB differs from the endorsement certificate's TCB"
        )
    if report.signing_key == "VLEK":
        return  # A VLEK is per cloud provider, not per chip: it certifies no chip id.
    if report.mask_chip_key:
        if any(report.chip_id):
            raise AttestationError("SEV-SNP: CHIP_ID is masked but not zero")
        return
    hwid = _extension_bytes(leaf, _OID_HWID)
    if hwid is None or not hmac.compare_digest(hwid, report.chip_id):
        raise AttestationError("SEV-SNP: CHIP_ID differs from the VCEK's hardware id")


def verify_report(
    report_bytes: bytes,
    vcek_der: bytes,
    *,
    ask_der: bytes | None = None,
    ark_der: bytes | None = None,
    expected_measurement: bytes | None = None,
    expected_report_data: bytes | None = None,
    now: datetime | None = None,
    min_tcb: SnpTcb | None = None,
    expected_vmpl: int | None = None,
    allow_migration_agent: bool = False,
    unsafe_allow_debug: bool = False,
) -> SnpReport:
    """Verify an SEV-SNP report signed by ``vcek_der`` (a VCEK or VLEK, as the report says).

    ``ask_der`` is an intermediate (ASK or ASVK) to use instead of the pinned one; it is accepted
    only if the ARK signed it. ``ark_der`` **replaces the pinned trust anchor** (tests, private
    roots): never pass a certificate that came with the evidence. ``expected_report_data`` is 32
    bytes (then REPORT_DATA's last 32 bytes must be zero) or 64. ``now`` defaults to the real time.
    ``None`` for an expectation means "not checked": the caller checks it or has no such policy.
    """
    now = _aware(now)
    # 1. Strict parse: size, version, algorithm, reserved fields.
    report = parse_report(report_bytes)
    # 2. Guest policy, checked before anything costly: a debug guest's memory is readable by the
    #    host (ABI 56860, POLICY.DEBUG), a migration agent can move it out of this chip's keys.
    if report.debug_allowed and not unsafe_allow_debug:
        raise AttestationError("SEV-SNP: the guest policy allows debugging (memory readable)")
    if report.migration_agent_allowed and not allow_migration_agent:
        raise AttestationError("SEV-SNP: the guest policy allows a migration agent")
    #    The privilege level the report was requested at: software at a less privileged VMPL
    #    (a guest kernel under an SVSM) can request reports carrying its own REPORT_DATA.
    if expected_vmpl is not None and report.vmpl != expected_vmpl:
        raise AttestationError(
            f"SEV-SNP: the report comes from VMPL {report.vmpl}, not the pinned VMPL "
            f"{expected_vmpl}"
        )
    # 3. Certificate chain to the pinned AMD root: stops keys that AMD never endorsed.
    leaf = _load_certificate(vcek_der, report.signing_key)
    _verify_chain(report, leaf, ask_der, ark_der, now)
    # 4. The report is signed by that key: stops any edit of the first 0x2A0 bytes.
    _check_signature(report, leaf)
    # 5. The key was derived for this TCB and chip: stops a VCEK from another TCB or machine.
    _check_tcb_binding(report, leaf)
    # 6. Minimum TCB: stops firmware with known, patched vulnerabilities.
    if min_tcb is not None and not SnpTcb.from_raw(report.reported_tcb).meets(min_tcb):
        raise AttestationError("SEV-SNP: REPORTED_TCB is below the required minimum")
    # 7. Launch measurement: stops a guest running another image.
    if expected_measurement is not None and not hmac.compare_digest(
        report.measurement, expected_measurement
    ):
        raise AttestationError("SEV-SNP: MEASUREMENT differs from the expected launch measurement")
    # 8. REPORT_DATA carries our report_data: stops replay and swapped keys.
    if expected_report_data is not None:
        if len(expected_report_data) not in (32, 64):
            raise ValueError("expected_report_data must be 32 or 64 bytes")
        padded = expected_report_data.ljust(64, b"\0")
        if not hmac.compare_digest(report.report_data, padded):
            raise AttestationError("SEV-SNP: REPORT_DATA differs from the expected report_data")
    return report


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _decode_field(evidence: Mapping[str, JsonValue], key: str, max_bytes: int) -> bytes:
    value = evidence.get(key)
    if not isinstance(value, str) or len(value) > 4 * (max_bytes // 3 + 1):
        raise AttestationError(f"SEV-SNP evidence: {key!r} must be base64 of at most {max_bytes} B")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AttestationError(f"SEV-SNP evidence: {key!r} is not valid base64") from None


class SevSnpEvidenceVerifier:
    """:class:`~sealroom.attestation.document.EvidenceVerifier` for the ``"sev-snp"`` provider.

    Evidence shape (standard base64 with padding)::

        {"report": <1184-byte ATTESTATION_REPORT>,
         "endorsement_cert": <DER VCEK or VLEK, as the report's SIGNING_KEY says>,
         "intermediate_cert": <DER ASK or ASVK>}        # optional; default: the pinned one

    ``launch_measurements`` maps a core measurement (``document.measurement``) to the SEV-SNP
    launch measurements (48 bytes each) of the images that run that core: the launch digest depends
    on the firmware, vCPU count and CPU type, so one core may have several. ``ark_der`` replaces
    the pinned AMD roots (a private test PKI; the ASK then comes from ``intermediate_cert``).
    """

    _KEYS = frozenset({"report", "endorsement_cert", "intermediate_cert"})

    def __init__(
        self,
        launch_measurements: Mapping[str, Collection[bytes]],
        *,
        min_tcb: SnpTcb | None = None,
        vmpl: int | None = None,
        allow_migration_agent: bool = False,
        clock: Callable[[], float] = time.time,
        ark_der: bytes | None = None,
    ) -> None:
        self._launch_measurements = {
            core: frozenset(values) for core, values in launch_measurements.items()
        }
        for values in self._launch_measurements.values():
            if not values or any(len(value) != 48 for value in values):
                raise ValueError("each core needs one or more 48-byte launch measurements")
        self._min_tcb = min_tcb
        self._vmpl = vmpl
        self._allow_migration_agent = allow_migration_agent
        self._clock = clock
        self._ark_der = ark_der

    def verify(self, document: AttestationDocument, *, report_data: bytes) -> None:
        evidence = document.evidence
        if not {"report", "endorsement_cert"} <= set(evidence) <= self._KEYS:
            raise AttestationError("SEV-SNP evidence must hold 'report' and 'endorsement_cert'")
        accepted = self._launch_measurements.get(document.measurement)
        if accepted is None:
            raise AttestationError("no SEV-SNP launch measurement is pinned for this core")
        report = verify_report(
            _decode_field(evidence, "report", REPORT_SIZE),
            _decode_field(evidence, "endorsement_cert", MAX_CERTIFICATE_BYTES),
            ask_der=(
                _decode_field(evidence, "intermediate_cert", MAX_CERTIFICATE_BYTES)
                if "intermediate_cert" in evidence
                else None
            ),
            ark_der=self._ark_der,
            expected_report_data=report_data,
            now=datetime.fromtimestamp(self._clock(), UTC),
            min_tcb=self._min_tcb,
            expected_vmpl=self._vmpl,
            allow_migration_agent=self._allow_migration_agent,
        )
        if not any(hmac.compare_digest(report.measurement, value) for value in accepted):
            raise AttestationError("SEV-SNP: MEASUREMENT is not a launch measurement of this core")
