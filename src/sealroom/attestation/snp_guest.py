"""AMD SEV-SNP evidence, core side: a report from the guest's firmware through ``/dev/sev-guest``.

Flow, for the 32 bytes of ``report_data``::

    REPORT_DATA = report_data || 32 zero bytes      (what verify_report expects for 32 bytes)
    SNP_GET_EXT_REPORT ioctl                        (Linux include/uapi/linux/sev-guest.h)
      → MSG_REPORT_RSP: status, report_size, the 1184-byte report    (AMD ABI 56860)
      → the host's certificate table: VCEK or VLEK, ASK              (GHCB spec 56421 §4.1.8.1)
    evidence = {"report", "endorsement_cert", ["intermediate_cert"]}  (SevSnpEvidenceVerifier)

Three layers, so that all but a few lines run without the hardware:

* pure: :func:`build_report_request`, :func:`parse_report_response`,
  :func:`parse_certificate_table`, :func:`load_endorsement_certificate` (bytes in, checked
  values out);
* transport: :class:`LinuxSevGuestDevice`, the ioctl and its ctypes buffers and nothing else,
  behind the :class:`SnpGuestDevice` protocol;
* :class:`SevSnpGuestProvider`, the :class:`~sealroom.attestation.document.EvidenceProvider`.

Invariants:

* The server is not trusted by clients: it checks only what helps its operator (the answer is
  well-formed, the endorsement key signed the report); the client verifies everything again.
* Every input from the kernel, the firmware or the host is bounds-checked before it is sliced.
* Failures raise :class:`~sealroom.errors.AttestationError` (the device, firmware or host refused,
  or answered malformed) or :class:`~sealroom.errors.ConfigurationError` (no device, no permission,
  no endorsement certificate). Messages carry errno names and firmware/VMM error codes, never
  report, certificate or key bytes.
"""

from __future__ import annotations

import base64
import ctypes
import errno
import fcntl
import os
import struct
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from pydantic import JsonValue

from sealroom.attestation.sevsnp import (
    MAX_CERTIFICATE_BYTES,
    REPORT_SIZE,
    SEV_SNP_PROVIDER,
    SnpReport,
    SnpTcb,
    _check_signature,
    _load_certificate,
    parse_report,
)
from sealroom.errors import AttestationError, ConfigurationError

__all__ = [
    "INITIAL_CERTIFICATE_TABLE_BYTES",
    "MAX_CERTIFICATE_TABLE_BYTES",
    "SEV_GUEST_DEVICE",
    "SNP_GET_EXT_REPORT",
    "SNP_GET_REPORT",
    "SNP_REPORT_RESPONSE_BYTES",
    "LinuxSevGuestDevice",
    "SevSnpGuestProvider",
    "SnpGuestDevice",
    "build_report_request",
    "load_endorsement_certificate",
    "parse_certificate_table",
    "parse_report_response",
]

SEV_GUEST_DEVICE = Path("/dev/sev-guest")

_PAGE_BYTES = 4096  # The kernel wants the certificate buffer in whole pages (shared with the host).

MAX_CERTIFICATE_TABLE_BYTES = 0x4000
"""16 KiB, the kernel's SEV_FW_BLOB_MAX_SIZE: it refuses a larger certificate buffer (EINVAL)."""

INITIAL_CERTIFICATE_TABLE_BYTES = 2 * _PAGE_BYTES
"""First buffer offered to the host: a table of VCEK, ASK and ARK (about 1.4 + 1.7 + 1.7 KB) fits;
a host that needs more says so and the request is repeated with its size."""

SNP_REPORT_RESPONSE_BYTES = 4000
"""``sizeof(struct snp_report_resp)``: the response buffer a device returns."""

_MSG_REPORT_RSP_HEADER = 0x20  # status u32, report_size u32, 24 reserved bytes; then the report.
_USER_DATA_BYTES = 64  # SNP_REPORT_USER_DATA_SIZE
_MAX_VMPL = 3  # VMPLs 0-3 exist (ABI 56860 §"Virtual Machine Privilege Levels").
_MSG_VERSION = 1  # The only MSG_REPORT_REQ version.
_VMM_ERR_INVALID_LEN = 1  # SNP_GUEST_VMM_ERR_INVALID_LEN: the certificate buffer is too small.
_U32 = 0xFFFF_FFFF

# GHCB spec 56421 §4.1.8.1: the table's GUIDs, in RFC 4122 byte order (as libuuid's uuid_parse).
_CERTIFICATE_GUIDS = {
    uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd").bytes: "VCEK",
    uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1").bytes: "VLEK",
    uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782").bytes: "ASK",
    uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae").bytes: "ARK",
}
_TABLE_ENTRY = struct.Struct("<16sII")  # guid, offset, length
_TERMINATOR = bytes(_TABLE_ENTRY.size)


# --- the kernel ABI (include/uapi/linux/sev-guest.h), laid out by ctypes as the C compiler does ---


class _GuestRequest(ctypes.Structure):
    """``struct snp_guest_request_ioctl``; exitinfo2 = vmm_error << 32 | fw_error."""

    _fields_ = (
        ("msg_version", ctypes.c_uint8),
        ("req_data", ctypes.c_uint64),
        ("resp_data", ctypes.c_uint64),
        ("exitinfo2", ctypes.c_uint64),
    )


class _ReportRequest(ctypes.Structure):
    """``struct snp_report_req``, the body of MSG_REPORT_REQ."""

    _fields_ = (
        ("user_data", ctypes.c_uint8 * _USER_DATA_BYTES),
        ("vmpl", ctypes.c_uint32),
        ("rsvd", ctypes.c_uint8 * 28),
    )


class _ExtReportRequest(ctypes.Structure):
    """``struct snp_ext_report_req``: the report request and the certificate buffer."""

    _fields_ = (
        ("data", _ReportRequest),
        ("certs_address", ctypes.c_uint64),
        ("certs_len", ctypes.c_uint32),
    )


def _iowr(kind: int, number: int, size: int) -> int:
    # include/uapi/asm-generic/ioctl.h: direction read|write (3) << 30, size << 16, type << 8, nr.
    return (3 << 30) | (size << 16) | (kind << 8) | number


SNP_GET_REPORT = _iowr(ord("S"), 0x0, ctypes.sizeof(_GuestRequest))
SNP_GET_EXT_REPORT = _iowr(ord("S"), 0x2, ctypes.sizeof(_GuestRequest))


# --- pure parts -----------------------------------------------------------------------------------


def build_report_request(user_data: bytes, vmpl: int) -> bytes:
    """The 96 bytes of ``struct snp_report_req``: user_data (64), vmpl (u32 LE), 28 zero bytes."""
    if not isinstance(user_data, bytes) or len(user_data) != _USER_DATA_BYTES:
        raise ValueError(f"user_data must be {_USER_DATA_BYTES} bytes")
    if not 0 <= vmpl <= _MAX_VMPL:
        raise ValueError(f"vmpl must be 0 to {_MAX_VMPL}")
    return bytes(_ReportRequest.from_buffer_copy(struct.pack("<64sI28x", user_data, vmpl)))


def parse_report_response(response: bytes) -> SnpReport:
    """The report inside MSG_REPORT_RSP (ABI 56860), after its status and size are checked."""
    if len(response) != SNP_REPORT_RESPONSE_BYTES:
        raise AttestationError(
            f"SEV-SNP: the report response must be {SNP_REPORT_RESPONSE_BYTES} bytes"
        )
    status, report_size = struct.unpack_from("<II", response)
    # 1. Firmware status: non-zero means no report was made (0x16 INVALID_PARAM, 0x27 INVALID_KEY).
    if status != 0:
        raise AttestationError(f"SEV-SNP: the firmware refused the report (status 0x{status:x})")
    # 2. Size: a report of another size has a layout this code and the client do not know.
    if report_size != REPORT_SIZE:
        raise AttestationError(
            f"SEV-SNP: the firmware returned a {report_size}-byte report, not {REPORT_SIZE}"
        )
    # 3. The report parses as the client will parse it (version, algorithm, reserved fields). The
    #    header's reserved bytes are not checked: a future field there must not stop attestation.
    return parse_report(response[_MSG_REPORT_RSP_HEADER : _MSG_REPORT_RSP_HEADER + REPORT_SIZE])


def parse_certificate_table(table: bytes) -> dict[str, bytes]:
    """The host's certificates by name ("VCEK", "VLEK", "ASK", "ARK"), from a GHCB table.

    The table is entries of (GUID, offset, length) ending with an all-zero entry; offsets count
    from the start of the table and point after the entries. Empty input means the host gave no
    buffer; an immediate terminator means it has no certificates. Entries with other GUIDs (a CRL)
    are checked and skipped. Refused: no terminator, an entry with no GUID or no length, a GUID
    twice, certificates inside the entries, outside the buffer, or overlapping each other.
    """
    if len(table) > MAX_CERTIFICATE_TABLE_BYTES:
        raise AttestationError("SEV-SNP: the host's certificate table is too large")
    entries: list[tuple[bytes, int, int]] = []
    guids: set[bytes] = set()
    position = 0
    while table:
        if position + _TABLE_ENTRY.size > len(table):
            raise AttestationError("SEV-SNP: the host's certificate table has no terminating entry")
        entry = table[position : position + _TABLE_ENTRY.size]
        position += _TABLE_ENTRY.size
        if entry == _TERMINATOR:
            break
        guid, offset, length = _TABLE_ENTRY.unpack(entry)
        if guid == bytes(16) or length == 0:
            raise AttestationError("SEV-SNP: the host's certificate table has an empty entry")
        if guid in guids:
            raise AttestationError("SEV-SNP: the host's certificate table lists a GUID twice")
        guids.add(guid)
        entries.append((guid, offset, length))
    end_of_previous = position  # Certificates follow the entries, in any order, disjoint.
    for _, offset, length in sorted(entries, key=lambda entry: entry[1]):
        if offset < end_of_previous:
            raise AttestationError("SEV-SNP: certificates in the host's table overlap")
        if offset + length > len(table):
            raise AttestationError("SEV-SNP: a certificate lies outside the host's table")
        end_of_previous = offset + length
    return {
        _CERTIFICATE_GUIDS[guid]: table[offset : offset + length]
        for guid, offset, length in entries
        if guid in _CERTIFICATE_GUIDS
    }


def load_endorsement_certificate(data: bytes) -> bytes:
    """The DER of an operator-supplied VCEK or VLEK, given as DER (AMD KDS) or PEM (snpguest).

    Raises :class:`~sealroom.errors.ConfigurationError` for anything else: it is checked when the
    server starts, not when the first client asks.
    """
    try:
        # AMD issues VCEKs with serial number 0, which cryptography accepts with a warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            if data.lstrip().startswith(b"-----BEGIN"):
                cert = x509.load_pem_x509_certificate(data)
            else:
                cert = x509.load_der_x509_certificate(data)
    except ValueError:
        raise ConfigurationError(
            "SEV-SNP: the endorsement certificate file is not a DER or PEM X.509 certificate"
        ) from None
    der = cert.public_bytes(Encoding.DER)
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP384R1):
        raise ConfigurationError("SEV-SNP: the endorsement certificate is not a P-384 VCEK or VLEK")
    if len(der) > MAX_CERTIFICATE_BYTES:
        raise ConfigurationError("SEV-SNP: the endorsement certificate is too large")
    return der


# --- transport ------------------------------------------------------------------------------------


class SnpGuestDevice(Protocol):
    """The seam between the provider and the kernel (tests supply their own device)."""

    def get_ext_report(self, user_data: bytes, vmpl: int) -> tuple[bytes, bytes]:
        """(``struct snp_report_resp``, the host's certificate table) for 64 bytes of user_data."""
        ...


Ioctl = Callable[[int, int, bytearray, bool], object]
"""The signature of :func:`fcntl.ioctl` as used here (a mutable argument, mutate_flag=True)."""


def _errno_name(code: int | None) -> str:
    return errno.errorcode.get(code or 0, f"errno {code}")


def _open_device(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path} does not exist: not an SEV-SNP guest, or the sev-guest driver is not loaded"
        ) from None
    except PermissionError:
        raise ConfigurationError(
            f"no permission to open {path}: run the server as a user allowed to use it"
        ) from None
    except OSError as exc:
        raise AttestationError(f"cannot open {path} ({_errno_name(exc.errno)})") from None


def _whole_pages(size: int) -> int:
    """``size`` rounded up to a multiple of the page size."""
    return -(-size // _PAGE_BYTES) * _PAGE_BYTES


class LinuxSevGuestDevice:
    """``/dev/sev-guest`` through the SNP_GET_EXT_REPORT ioctl; opened per request, no state.

    ``ioctl`` is :func:`fcntl.ioctl`; tests pass a stand-in for the kernel driver.
    """

    def __init__(self, path: Path = SEV_GUEST_DEVICE, *, ioctl: Ioctl = fcntl.ioctl) -> None:
        self._path = path
        self._ioctl = ioctl

    def get_ext_report(self, user_data: bytes, vmpl: int) -> tuple[bytes, bytes]:
        request = build_report_request(user_data, vmpl)
        certs_len = INITIAL_CERTIFICATE_TABLE_BYTES
        fd = _open_device(self._path)
        try:
            # Ends: each retry needs a strictly larger buffer, and the size is bounded.
            while True:
                answer = self._request(fd, request, certs_len)
                if not isinstance(answer, int):
                    return answer
                if not certs_len < answer <= MAX_CERTIFICATE_TABLE_BYTES:
                    raise AttestationError(
                        f"SEV-SNP: the host asks for a {answer}-byte certificate buffer "
                        f"(offered {certs_len}, limit {MAX_CERTIFICATE_TABLE_BYTES})"
                    )
                certs_len = _whole_pages(answer)
        finally:
            os.close(fd)

    def _request(self, fd: int, request: bytes, certs_len: int) -> tuple[bytes, bytes] | int:
        """The report and the certificate table, or the buffer size the host asks for instead."""
        # One spare page so that the buffer handed to the kernel can start on a page boundary.
        certs = ctypes.create_string_buffer(certs_len + _PAGE_BYTES)
        certs_address = _whole_pages(ctypes.addressof(certs))
        ext_request = _ExtReportRequest(
            data=_ReportRequest.from_buffer_copy(request),
            certs_address=certs_address,
            certs_len=certs_len,
        )
        response = ctypes.create_string_buffer(SNP_REPORT_RESPONSE_BYTES)
        call = bytearray(
            _GuestRequest(
                msg_version=_MSG_VERSION,
                req_data=ctypes.addressof(ext_request),
                resp_data=ctypes.addressof(response),
                exitinfo2=0,
            )
        )
        try:
            self._ioctl(fd, SNP_GET_EXT_REPORT, call, True)
        except OSError as exc:
            # The kernel copies exitinfo2 back on failure (and certs_len when it is too small).
            exitinfo2 = int(_GuestRequest.from_buffer_copy(call).exitinfo2)
            fw_error, vmm_error = exitinfo2 & _U32, exitinfo2 >> 32
            if vmm_error == _VMM_ERR_INVALID_LEN:
                return int(ext_request.certs_len)
            raise AttestationError(
                f"SEV-SNP: SNP_GET_EXT_REPORT failed ({_errno_name(exc.errno)}, "
                f"firmware error 0x{fw_error:x}, VMM error 0x{vmm_error:x})"
            ) from None
        return response.raw, ctypes.string_at(certs_address, certs_len)


# --- the provider ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _missing_certificate_message(report: SnpReport) -> str:
    if report.signing_key == "VLEK":
        return (
            "SEV-SNP: the host supplied no VLEK certificate and none is configured: get this "
            "platform's VLEK from the cloud provider and pass its path"
        )
    tcb = SnpTcb.from_raw(report.reported_tcb)
    return (
        "SEV-SNP: the host supplied no VCEK certificate and none is configured: fetch this "
        "chip's VCEK for its reported TCB from AMD KDS (https://kdsintf.amd.com/vcek/v1/"
        f"<Milan|Genoa>/<CHIP_ID hex>?blSPL={tcb.bootloader}&teeSPL={tcb.tee}&snpSPL={tcb.snp}"
        f"&ucodeSPL={tcb.microcode}, or `snpguest fetch vcek`) and pass its path"
    )


class SevSnpGuestProvider:
    """:class:`~sealroom.attestation.document.EvidenceProvider` for ``"sev-snp"``.

    ``endorsement_cert`` (DER or PEM bytes of the VCEK/VLEK) is used when the host's certificate
    table has none; the host's is preferred, as it follows TCB updates. ``vmpl`` is the privilege
    level the report is requested for (0 unless the guest runs under an SVSM).
    """

    name = SEV_SNP_PROVIDER
    warning = ""

    def __init__(
        self,
        *,
        device: SnpGuestDevice | None = None,
        endorsement_cert: bytes | None = None,
        vmpl: int = 0,
    ) -> None:
        if not 0 <= vmpl <= _MAX_VMPL:
            raise ConfigurationError(f"SEV-SNP: the VMPL must be 0 to {_MAX_VMPL}")
        self._device = LinuxSevGuestDevice() if device is None else device
        self._endorsement_cert = (
            None if endorsement_cert is None else load_endorsement_certificate(endorsement_cert)
        )
        self._vmpl = vmpl

    def produce(self, report_data: bytes) -> dict[str, JsonValue]:
        if len(report_data) != 32:
            raise ValueError("report_data must be 32 bytes")
        # 1. REPORT_DATA = report_data and 32 zero bytes, exactly what verify_report compares a
        #    32-byte expectation with.
        response, table = self._device.get_ext_report(
            report_data.ljust(_USER_DATA_BYTES, b"\0"), self._vmpl
        )
        # 2. The firmware's answer: status, size, a report the client can parse.
        report = parse_report_response(response)
        # 3. The key that signed it: the host's certificate for this chip and TCB, else the
        #    operator's. The ARK is left out: the client pins it, the evidence cannot choose it.
        certificates = parse_certificate_table(table)
        from_host = certificates.get(report.signing_key)
        endorsement = from_host if from_host is not None else self._endorsement_cert
        if endorsement is None:
            raise ConfigurationError(_missing_certificate_message(report))
        # 4. That key signed this report: a VCEK is per chip and TCB, so a file goes stale at the
        #    next firmware update; say so here rather than let every client fail.
        leaf = _load_certificate(endorsement, report.signing_key)
        try:
            _check_signature(report, leaf)
        except AttestationError:
            source = "the host" if from_host is not None else "the configured file"
            raise AttestationError(
                f"SEV-SNP: the {report.signing_key} certificate from {source} did not sign this "
                "report (another chip's, or an older TCB's: fetch the current one)"
            ) from None
        evidence: dict[str, JsonValue] = {
            "report": _b64(report.raw),
            "endorsement_cert": _b64(endorsement),
        }
        intermediate = certificates.get("ASK")
        if intermediate is not None:
            evidence["intermediate_cert"] = _b64(intermediate)
        return evidence
