"""Evidence producers (SEV-SNP guest, Nitro Secure Module): known answers for every byte format,
and end to end through the client's verifier.

No hardware here: the devices are private PKIs that sign real report and document formats
(``snp_pki``, ``nitro_pki``), and the kernel drivers are stand-ins that read and write through the
pointers the real transports hand to ``ioctl``. One test runs the real ``fcntl.ioctl`` on a
regular file, which the kernel refuses.
"""

from __future__ import annotations

import base64
import ctypes
import errno
import os
import struct
import uuid
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from sealroom.attestation import (
    AttestationDocument,
    EnclaveSpecification,
    EvidenceProvider,
    nsm,
    produce_attestation,
    snp_guest,
    verify_attestation,
)
from sealroom.attestation.nitro import NitroEvidenceVerifier
from sealroom.attestation.nsm import (
    NSM_IOCTL_REQUEST,
    NSM_RESPONSE_MAX_BYTES,
    LinuxNsmDevice,
    NitroNsmProvider,
    decode_attestation_response,
    encode_attestation_request,
)
from sealroom.attestation.sevsnp import REPORT_SIZE, SevSnpEvidenceVerifier, parse_report
from sealroom.attestation.snp_guest import (
    INITIAL_CERTIFICATE_TABLE_BYTES,
    MAX_CERTIFICATE_TABLE_BYTES,
    SNP_GET_EXT_REPORT,
    SNP_GET_REPORT,
    LinuxSevGuestDevice,
    SevSnpGuestProvider,
    build_report_request,
    load_endorsement_certificate,
    parse_certificate_table,
    parse_report_response,
)
from sealroom.crypto import KemPrivateKey, SigningKey
from sealroom.errors import AttestationError, ConfigurationError
from tests.unit import nitro_pki, snp_pki
from tests.unit.nitro_pki import PrivatePki as NitroPki
from tests.unit.snp_pki import MILAN_TCB
from tests.unit.snp_pki import PrivatePki as SnpPki

CORE = "cd" * 32
NONCE = bytes(range(32))
SIGNING_KEY = SigningKey.from_bytes(bytes([1]) * 32)
KEM_KEY = KemPrivateKey.from_bytes(bytes([2]) * 32)
LAUNCH_MEASUREMENT = b"\x11" * 48
CHIP_ID = b"\x42" * 64
SNP_NOW_MS = int(snp_pki.NOW.timestamp() * 1000)

VCEK_GUID = "63da758d-e664-4564-adc5-f4b93be8accd"
VLEK_GUID = "a8074bc2-a25a-483e-aae6-39c045a0b8a1"
ASK_GUID = "4ab7b379-bbac-4fe4-a02f-05aef327c782"
ARK_GUID = "c0b406a4-a803-4952-9743-3fb6014cd0ae"
CRL_GUID = "92f81bc3-5811-4d3d-97ff-d19f88dc67ea"


def _iowr(kind: int, number: int, size: int) -> int:
    """include/uapi/asm-generic/ioctl.h, written out independently of the code under test."""
    return (3 << 30) | (size << 16) | (kind << 8) | number


# --- ioctl numbers and kernel structures ----------------------------------------------------------


def test_ioctl_numbers_follow_the_kernel_formula() -> None:
    assert _iowr(ord("S"), 0, 32) == 0xC0205300  # SNP_GET_REPORT as published: checks the formula
    assert SNP_GET_REPORT == 0xC0205300
    assert SNP_GET_EXT_REPORT == _iowr(ord("S"), 2, 32) == 0xC0205302
    assert NSM_IOCTL_REQUEST == _iowr(0x0A, 0, 32) == 0xC0200A00


def test_kernel_structures_have_the_c_layout() -> None:
    request = snp_guest._GuestRequest
    assert ctypes.sizeof(request) == 32
    assert (request.req_data.offset, request.resp_data.offset, request.exitinfo2.offset) == (
        8,
        16,
        24,
    )
    assert ctypes.sizeof(snp_guest._ReportRequest) == 96
    ext = snp_guest._ExtReportRequest
    assert ctypes.sizeof(ext) == 112  # 96 + 8 + 4, padded to 8
    assert (ext.certs_address.offset, ext.certs_len.offset) == (96, 104)
    assert ctypes.sizeof(nsm._NsmMessage) == 32
    assert nsm._NsmMessage.response.offset == 16


# --- SEV-SNP: pure formats ------------------------------------------------------------------------


def test_report_request_known_answer() -> None:
    encoded = build_report_request(bytes(range(64)), 2)
    assert encoded == bytes(range(64)) + bytes.fromhex("02000000") + bytes(28)


@pytest.mark.parametrize(("user_data", "vmpl"), [(bytes(32), 0), (bytes(65), 0), (bytes(64), 4)])
def test_report_request_refuses_bad_arguments(user_data: bytes, vmpl: int) -> None:
    with pytest.raises(ValueError, match=r"user_data|vmpl"):
        build_report_request(user_data, vmpl)


def certificate_table(*entries: tuple[str, bytes]) -> bytes:
    """A GHCB certificate table: the entries, the all-zero terminator, then the certificates."""
    start = (len(entries) + 1) * 24
    header, body = b"", b""
    for guid, der in entries:
        header += uuid.UUID(guid).bytes + struct.pack("<II", start + len(body), len(der))
        body += der
    return header + bytes(24) + body


def _entry(guid: str, offset: int, length: int) -> bytes:
    return uuid.UUID(guid).bytes + struct.pack("<II", offset, length)


KNOWN_TABLE = bytes.fromhex(
    "".join(
        [
            "63da758de6644564adc5f4b93be8accd 48000000 03000000",  # VCEK at 0x48, 3 bytes
            "4ab7b379bbac4fe4a02f05aef327c782 4b000000 02000000",  # ASK at 0x4B, 2 bytes
            "00" * 24,  # terminator
            "aabbcc",
            "ddee",
        ]
    )
)


def test_certificate_table_known_answer() -> None:
    assert parse_certificate_table(KNOWN_TABLE) == {"VCEK": b"\xaa\xbb\xcc", "ASK": b"\xdd\xee"}
    assert certificate_table((VCEK_GUID, b"\xaa\xbb\xcc"), (ASK_GUID, b"\xdd\xee")) == KNOWN_TABLE


def test_certificate_table_names_every_amd_guid_and_skips_others() -> None:
    table = certificate_table(
        (CRL_GUID, b"crl"), (ARK_GUID, b"ark"), (VLEK_GUID, b"vlek"), (ASK_GUID, b"ask")
    )
    assert parse_certificate_table(table) == {"ARK": b"ark", "VLEK": b"vlek", "ASK": b"ask"}
    # Padding after the last certificate (the kernel hands over whole pages) is ignored.
    assert parse_certificate_table(table + bytes(4000))["ASK"] == b"ask"


@pytest.mark.parametrize("table", [b"", bytes(24), bytes(MAX_CERTIFICATE_TABLE_BYTES)])
def test_empty_certificate_tables(table: bytes) -> None:
    assert parse_certificate_table(table) == {}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (KNOWN_TABLE[:30], "no terminating entry"),
        (KNOWN_TABLE[:60], "no terminating entry"),
        (b"\x01", "no terminating entry"),
        (_entry(VCEK_GUID, 0x20, 3) + bytes(24) + b"abc", "overlap"),  # in the terminator
        (_entry(VCEK_GUID, 0x10, 3) + bytes(24) + b"abc", "overlap"),
        (
            _entry(VCEK_GUID, 0x48, 3) + _entry(ASK_GUID, 0x4A, 2) + bytes(24) + b"abcd",
            "overlap",
        ),
        (_entry(VCEK_GUID, 0x30, 4) + bytes(24) + b"abc", "outside"),
        (_entry(VCEK_GUID, 0xFFFF_FFFF, 0xFFFF_FFFF) + bytes(24), "outside"),
        (_entry(VCEK_GUID, 0x48, 1) + _entry(VCEK_GUID, 0x49, 1) + bytes(24) + b"ab", "twice"),
        (_entry(VCEK_GUID, 0x30, 0) + bytes(24), "empty entry"),
        (bytes(16) + struct.pack("<II", 0x30, 1) + bytes(24) + b"a", "empty entry"),
        (bytes(MAX_CERTIFICATE_TABLE_BYTES + 1), "too large"),
    ],
    ids=[
        "truncated-entry",
        "no-terminator",
        "one-byte",
        "cert-in-terminator",
        "cert-in-entries",
        "certs-overlap",
        "past-the-end",
        "huge-offset",
        "guid-twice",
        "zero-length",
        "zero-guid",
        "oversized",
    ],
)
def test_malformed_certificate_tables_are_refused(table: bytes, message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        parse_certificate_table(table)


def report_response(report: bytes, *, status: int = 0, report_size: int = REPORT_SIZE) -> bytes:
    """``struct snp_report_resp`` holding MSG_REPORT_RSP: status, size, 24 reserved, report."""
    return (struct.pack("<II24x", status, report_size) + report).ljust(4000, b"\0")


def test_report_response_known_answer(snp: SnpPki) -> None:
    report = snp.report(report_data=bytes(range(64)))
    response = report_response(report)
    assert response[:8] == bytes.fromhex("00000000a0040000")
    assert parse_report_response(response).raw == report
    assert parse_report_response(response).report_data == bytes(range(64))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": 0x16}, r"refused the report \(status 0x16\)"),
        ({"report_size": 1000}, "1000-byte report, not 1184"),
        ({"report_size": 0}, "0-byte report"),
    ],
)
def test_report_response_status_and_size_are_checked(
    snp: SnpPki, change: dict[str, int], message: str
) -> None:
    with pytest.raises(AttestationError, match=message):
        parse_report_response(report_response(snp.report(), **change))


def test_report_response_must_be_the_kernel_structure_holding_a_valid_report(snp: SnpPki) -> None:
    response = report_response(snp.report())
    for size in (0, 1216, 3999, 4001):
        with pytest.raises(AttestationError, match="must be 4000 bytes"):
            parse_report_response(response.ljust(size, b"\0")[:size])
    version_1 = response[:0x20] + struct.pack("<I", 1) + response[0x24:]
    with pytest.raises(AttestationError, match="unsupported report version"):
        parse_report_response(version_1)


# --- SEV-SNP: the provider over a device made of the private PKI ----------------------------------


@pytest.fixture(scope="module")
def snp() -> SnpPki:
    return snp_pki.make_pki()


@pytest.fixture(scope="module")
def vcek(snp: SnpPki) -> bytes:
    return snp.endorsement(tcb=MILAN_TCB, chip_id=CHIP_ID)


class PkiSnpDevice:
    """An SEV-SNP guest over the private PKI: its report's REPORT_DATA is the user_data it gets."""

    def __init__(
        self,
        pki: SnpPki,
        table: bytes,
        *,
        status: int = 0,
        report_size: int = REPORT_SIZE,
        signer_info: int = 0,
        ignore_user_data: bool = False,
    ) -> None:
        self.pki = pki
        self.table = table
        self.status = status
        self.report_size = report_size
        self.signer_info = signer_info
        self.ignore_user_data = ignore_user_data
        self.requests: list[tuple[bytes, int]] = []

    def get_ext_report(self, user_data: bytes, vmpl: int) -> tuple[bytes, bytes]:
        self.requests.append((user_data, vmpl))
        report = self.pki.report(
            measurement=LAUNCH_MEASUREMENT,
            report_data=bytes(64) if self.ignore_user_data else user_data,
            chip_id=CHIP_ID,
            signer_info=self.signer_info,
        )
        response = report_response(report, status=self.status, report_size=self.report_size)
        return response, self.table


def _document(provider: EvidenceProvider, now_ms: int = SNP_NOW_MS) -> AttestationDocument:
    return produce_attestation(
        provider, CORE, KEM_KEY.public_key, SIGNING_KEY.verify_key, NONCE, now_ms=now_ms
    )


def _verify_snp(document: AttestationDocument, pki: SnpPki) -> None:
    verifier = SevSnpEvidenceVerifier(
        {CORE: [LAUNCH_MEASUREMENT]}, clock=lambda: snp_pki.NOW.timestamp(), ark_der=pki.ark_der
    )
    spec = EnclaveSpecification("sealroom.core", "test", CORE, frozenset({"sev-snp"}))
    verified = verify_attestation(
        document,
        {"sealroom.core": spec},
        nonce=NONCE,
        now_ms=SNP_NOW_MS + 1000,
        verifiers={"sev-snp": verifier},
    )
    assert verified.provider == "sev-snp"
    assert not verified.is_simulated


def _evidence_bytes(document: AttestationDocument, key: str) -> bytes:
    value = document.evidence[key]
    assert isinstance(value, str)
    return base64.b64decode(value, validate=True)


def test_snp_end_to_end_with_the_hosts_certificates(snp: SnpPki, vcek: bytes) -> None:
    table = certificate_table((VCEK_GUID, vcek), (ASK_GUID, snp.ask_der), (ARK_GUID, snp.ark_der))
    device = PkiSnpDevice(snp, table)
    document = _document(SevSnpGuestProvider(device=device))
    _verify_snp(document, snp)
    # REPORT_DATA is report_data and 32 zero bytes; the ARK stays out (the client pins it).
    assert device.requests == [(bytes.fromhex(document.report_data) + bytes(32), 0)]
    assert set(document.evidence) == {"report", "endorsement_cert", "intermediate_cert"}
    assert _evidence_bytes(document, "endorsement_cert") == vcek
    assert _evidence_bytes(document, "intermediate_cert") == snp.ask_der
    assert document.warning == ""


@pytest.mark.parametrize("encoding", [Encoding.PEM, Encoding.DER])
def test_snp_end_to_end_with_the_operators_vcek(
    snp: SnpPki, vcek: bytes, encoding: Encoding
) -> None:
    configured = load_endorsement_certificate(vcek)  # DER in, DER out
    assert configured == vcek
    if encoding is Encoding.PEM:
        configured = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(vcek)
        configured += b"-----END CERTIFICATE-----\n"
    device = PkiSnpDevice(snp, certificate_table((ASK_GUID, snp.ask_der)))
    provider = SevSnpGuestProvider(device=device, endorsement_cert=configured)
    document = _document(provider)
    _verify_snp(document, snp)
    assert _evidence_bytes(document, "endorsement_cert") == vcek


def test_snp_without_any_certificate_from_the_host(snp: SnpPki, vcek: bytes) -> None:
    provider = SevSnpGuestProvider(device=PkiSnpDevice(snp, bytes(24)), endorsement_cert=vcek)
    document = _document(provider)
    assert set(document.evidence) == {"report", "endorsement_cert"}  # the pinned ASK applies


def test_snp_without_a_vcek_says_where_to_get_one(snp: SnpPki) -> None:
    device = PkiSnpDevice(snp, certificate_table((ASK_GUID, snp.ask_der)))
    with pytest.raises(ConfigurationError, match="AMD KDS") as caught:
        _document(SevSnpGuestProvider(device=device))
    assert "blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115" in str(caught.value)
    assert "pass its path" in str(caught.value)
    vlek_device = PkiSnpDevice(snp, b"", signer_info=1 << 2)
    with pytest.raises(ConfigurationError, match=r"VLEK .* from the cloud provider"):
        _document(SevSnpGuestProvider(device=vlek_device))


def test_snp_a_vcek_of_another_chip_or_tcb_is_caught_on_the_server(
    snp: SnpPki, vcek: bytes
) -> None:
    stranger = snp_pki.make_pki().endorsement(tcb=MILAN_TCB, chip_id=CHIP_ID)
    device = PkiSnpDevice(snp, b"")
    with pytest.raises(AttestationError, match="from the configured file did not sign"):
        _document(SevSnpGuestProvider(device=device, endorsement_cert=stranger))
    device = PkiSnpDevice(snp, certificate_table((VCEK_GUID, stranger)))
    with pytest.raises(AttestationError, match="from the host did not sign"):
        _document(SevSnpGuestProvider(device=device, endorsement_cert=vcek))  # host's first


def test_snp_firmware_refusals_reach_the_server(snp: SnpPki, vcek: bytes) -> None:
    table = certificate_table((VCEK_GUID, vcek))
    with pytest.raises(AttestationError, match="status 0x27"):
        _document(SevSnpGuestProvider(device=PkiSnpDevice(snp, table, status=0x27)))
    with pytest.raises(AttestationError, match="2000-byte report"):
        _document(SevSnpGuestProvider(device=PkiSnpDevice(snp, table, report_size=2000)))
    bad_table = table[:24]
    with pytest.raises(AttestationError, match="no terminating entry"):
        _document(SevSnpGuestProvider(device=PkiSnpDevice(snp, bad_table)))


def test_snp_a_device_that_ignores_user_data_is_refused_by_the_client(
    snp: SnpPki, vcek: bytes
) -> None:
    table = certificate_table((VCEK_GUID, vcek), (ASK_GUID, snp.ask_der))
    device = PkiSnpDevice(snp, table, ignore_user_data=True)
    document = _document(SevSnpGuestProvider(device=device))
    with pytest.raises(AttestationError, match="REPORT_DATA differs"):
        _verify_snp(document, snp)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a DER or PEM"),
        (b"\x30\x03\x02\x01\x00", "not a DER or PEM"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a DER or PEM"),
    ],
)
def test_operator_certificate_must_be_a_certificate(snp: SnpPki, data: bytes, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SevSnpGuestProvider(device=PkiSnpDevice(snp, b""), endorsement_cert=data)


def test_operator_certificate_must_be_a_p384_endorsement(snp: SnpPki) -> None:
    with pytest.raises(ConfigurationError, match="not a P-384 VCEK or VLEK"):
        load_endorsement_certificate(snp.ask_der)  # RSA: an ASK, not a VCEK


def test_snp_provider_settings_are_checked(snp: SnpPki) -> None:
    with pytest.raises(ConfigurationError, match="VMPL must be 0 to 3"):
        SevSnpGuestProvider(device=PkiSnpDevice(snp, b""), vmpl=4)
    provider = SevSnpGuestProvider(device=PkiSnpDevice(snp, b""))
    with pytest.raises(ValueError, match="32 bytes"):
        provider.produce(bytes(64))


# --- SEV-SNP: the real transport, with a stand-in for the kernel driver ---------------------------


class SevGuestKernel:
    """The sev-guest driver's ioctl ABI: reads and writes through the pointers it is given.

    ``certificates`` is the host's table; a buffer too small for it gets VMM error INVALID_LEN and
    the needed size written back into the request, as the driver does. ``exitinfo2`` forces a
    failure with that value.
    """

    def __init__(self, device: PkiSnpDevice, *, exitinfo2: int = 0, needed: int = 0) -> None:
        self.device = device
        self.exitinfo2 = exitinfo2
        self.needed = needed  # a size to claim, whatever the table's
        self.offered: list[int] = []

    def __call__(self, fd: int, request: int, arg: bytearray, mutate_flag: bool) -> int:
        assert (request, mutate_flag, len(arg)) == (SNP_GET_EXT_REPORT, True, 32)
        call = snp_guest._GuestRequest.from_buffer(arg)
        assert call.msg_version == 1
        size = ctypes.sizeof(snp_guest._ExtReportRequest)
        ext = snp_guest._ExtReportRequest.from_buffer_copy(ctypes.string_at(call.req_data, size))
        self.offered.append(ext.certs_len)
        if ext.certs_len % 4096 or ext.certs_len > 0x4000:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        assert ext.certs_address % 4096 == 0
        if self.exitinfo2:
            call.exitinfo2 = self.exitinfo2
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        table = self.device.table
        needed = self.needed or -(-len(table) // 4096) * 4096
        if self.needed or needed > ext.certs_len:
            ext.certs_len = needed
            ctypes.memmove(call.req_data, bytes(ext), size)
            call.exitinfo2 = 1 << 32  # SNP_GUEST_VMM_ERR(SNP_GUEST_VMM_ERR_INVALID_LEN)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        response, _ = self.device.get_ext_report(bytes(ext.data.user_data), ext.data.vmpl)
        ctypes.memmove(call.resp_data, response, len(response))
        ctypes.memmove(ext.certs_address, table.ljust(ext.certs_len, b"\0"), ext.certs_len)
        return 0


@pytest.fixture
def device_file(tmp_path: Path) -> Path:
    path = tmp_path / "device"
    path.write_bytes(b"")
    return path


def test_transport_grows_the_certificate_buffer_when_the_host_asks(
    snp: SnpPki, vcek: bytes, device_file: Path
) -> None:
    # A CRL makes the table larger than the first buffer: the host asks for three pages.
    table = certificate_table(
        (VCEK_GUID, vcek), (ASK_GUID, snp.ask_der), (CRL_GUID, b"\x30" * 7000)
    )
    kernel = SevGuestKernel(PkiSnpDevice(snp, table))
    device = LinuxSevGuestDevice(device_file, ioctl=kernel)
    document = _document(SevSnpGuestProvider(device=device, vmpl=1))
    _verify_snp(document, snp)
    assert kernel.offered == [INITIAL_CERTIFICATE_TABLE_BYTES, 3 * 4096]
    assert kernel.device.requests[0][1] == 1  # the VMPL went through the request


def test_transport_returns_the_raw_buffers(snp: SnpPki, vcek: bytes, device_file: Path) -> None:
    table = certificate_table((VCEK_GUID, vcek))
    kernel = SevGuestKernel(PkiSnpDevice(snp, table))
    response, certificates = LinuxSevGuestDevice(device_file, ioctl=kernel).get_ext_report(
        bytes(range(64)), 0
    )
    assert len(response) == 4000
    assert parse_report(response[0x20 : 0x20 + REPORT_SIZE]).report_data == bytes(range(64))
    assert certificates == table.ljust(INITIAL_CERTIFICATE_TABLE_BYTES, b"\0")


@pytest.mark.parametrize(
    ("exitinfo2", "message"),
    [
        (2 << 32, "EIO, firmware error 0x0, VMM error 0x2"),  # BUSY
        (1 << 63, "VMM error 0x80000000"),  # GENERIC
        (0x16, "firmware error 0x16, VMM error 0x0"),
        (0xFF, "firmware error 0xff"),  # no firmware call was made
    ],
    ids=["busy", "generic", "firmware", "no-call"],
)
def test_transport_reports_firmware_and_vmm_errors(
    snp: SnpPki, device_file: Path, exitinfo2: int, message: str
) -> None:
    kernel = SevGuestKernel(PkiSnpDevice(snp, b""), exitinfo2=exitinfo2)
    provider = SevSnpGuestProvider(device=LinuxSevGuestDevice(device_file, ioctl=kernel))
    with pytest.raises(AttestationError, match=message):
        _document(provider)


@pytest.mark.parametrize(
    ("needed", "message"),
    [
        (MAX_CERTIFICATE_TABLE_BYTES + 4096, "asks for a 20480-byte certificate buffer"),
        (INITIAL_CERTIFICATE_TABLE_BYTES, "offered 8192"),  # not larger: would loop forever
    ],
)
def test_transport_bounds_what_the_host_may_ask(
    snp: SnpPki, device_file: Path, needed: int, message: str
) -> None:
    kernel = SevGuestKernel(PkiSnpDevice(snp, b""), needed=needed)
    with pytest.raises(AttestationError, match=message):
        LinuxSevGuestDevice(device_file, ioctl=kernel).get_ext_report(bytes(64), 0)
    assert kernel.offered == [INITIAL_CERTIFICATE_TABLE_BYTES]


def test_transport_on_a_regular_file_fails_in_the_real_ioctl(device_file: Path) -> None:
    with pytest.raises(AttestationError, match=r"SNP_GET_EXT_REPORT failed \(ENOTTY"):
        LinuxSevGuestDevice(device_file).get_ext_report(bytes(64), 0)


def test_transport_without_the_device_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist: not an SEV-SNP guest"):
        LinuxSevGuestDevice(tmp_path / "sev-guest").get_ext_report(bytes(64), 0)


# --- Nitro: pure formats --------------------------------------------------------------------------


def test_nsm_request_known_answer() -> None:
    expected = [
        "a1",  # map(1)
        "6b" + b"Attestation".hex() + "a3",  # text(11): map(3)
        "69" + b"user_data".hex() + "5820" + bytes(range(32)).hex(),  # text(9): bytes(32)
        "65" + b"nonce".hex() + "f6",  # text(5): null
        "6a" + b"public_key".hex() + "f6",  # text(10): null
    ]
    assert encode_attestation_request(bytes(range(32))) == bytes.fromhex("".join(expected))
    with pytest.raises(ValueError, match="32 bytes"):
        encode_attestation_request(bytes(33))


def test_nsm_response_known_answer() -> None:
    response = ["a1", "6b" + b"Attestation".hex(), "a1", "68" + b"document".hex(), "43aabbcc"]
    assert decode_attestation_response(bytes.fromhex("".join(response))) == b"\xaa\xbb\xcc"


def _cbor(value: Any) -> bytes:
    return cbor2.dumps(value)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            _cbor({"Error": "InvalidArgument"}),
            r"refused the attestation request \(InvalidArgument\)",
        ),
        (_cbor({"Error": "Nonsense <script>"}), r"\(unknown error\)"),
        (_cbor({"Error": 5}), r"\(unknown error\)"),
        (b"\xff", "NSM response is not valid strict CBOR"),
        (_cbor({"Attestation": {"document": b"d"}})[:-1], "not valid strict CBOR"),
        (_cbor({"Attestation": {"document": b"d"}}) + b"\x00", "trailing bytes"),
        (_cbor(cbor2.CBORTag(18, {"Attestation": {"document": b"d"}})), "not valid strict CBOR"),
        (_cbor([{"Attestation": {"document": b"d"}}]), "not a one-entry map"),
        (_cbor({"Attestation": {"document": b"d"}, "Error": "InternalError"}), "one-entry map"),
        (_cbor({}), "one-entry map"),
        (_cbor({"Attestation": {"document": b"d", "extra": 1}}), "not an attestation"),
        (_cbor({"Attestation": {}}), "not an attestation"),
        (_cbor({"Attestation": [b"d"]}), "not an attestation"),
        (_cbor({"Describe": {"document": b"d"}}), "not an attestation"),
        (_cbor({"Attestation": {"document": "text"}}), "document must be 1 to"),
        (_cbor({"Attestation": {"document": b""}}), "document must be 1 to"),
        (b"", "response must be 1 to 12288"),
        (_cbor({"Attestation": {"document": bytes(NSM_RESPONSE_MAX_BYTES)}}), "1 to 12288"),
    ],
)
def test_malformed_nsm_responses_are_refused(response: bytes, message: str) -> None:
    with pytest.raises(AttestationError, match=message):
        decode_attestation_response(response)


# --- Nitro: the provider over a device made of the private PKI ------------------------------------


@pytest.fixture(scope="module")
def nitro() -> NitroPki:
    return nitro_pki.make_pki()


class PkiNsmDevice:
    """A Nitro Secure Module over the private PKI: answers the CBOR protocol with a document."""

    def __init__(self, pki: NitroPki, *, answer: bytes | None = None, ignore: bool = False) -> None:
        self.pki = pki
        self.answer = answer
        self.ignore_user_data = ignore

    def process_request(self, request: bytes) -> bytes:
        decoded = cbor2.loads(request)
        assert set(decoded) == {"Attestation"}
        body = decoded["Attestation"]
        assert set(body) == {"user_data", "nonce", "public_key"}
        assert body["nonce"] is None
        assert body["public_key"] is None
        if self.answer is not None:
            return self.answer
        user_data = b"\x00" * 32 if self.ignore_user_data else body["user_data"]
        payload = self.pki.payload(user_data=user_data, nonce=None, public_key=None)
        return cbor2.dumps({"Attestation": {"document": self.pki.document(payload)}})


def _nitro_document(provider: EvidenceProvider) -> AttestationDocument:
    return _document(provider, now_ms=nitro_pki.NOW_MS)


def _verify_nitro(document: AttestationDocument, pki: NitroPki) -> None:
    verifier = NitroEvidenceVerifier(
        {CORE: {0: b"\x01" * 48, 1: b"\x02" * 48}},
        clock=lambda: nitro_pki.NOW.timestamp(),
        root_der=pki.root,
    )
    spec = EnclaveSpecification("sealroom.core", "test", CORE, frozenset({"aws-nitro"}))
    verified = verify_attestation(
        document,
        {"sealroom.core": spec},
        nonce=NONCE,
        now_ms=nitro_pki.NOW_MS + 1000,
        verifiers={"aws-nitro": verifier},
    )
    assert verified.provider == "aws-nitro"


def test_nitro_end_to_end(nitro: NitroPki) -> None:
    document = _nitro_document(NitroNsmProvider(device=PkiNsmDevice(nitro)))
    _verify_nitro(document, nitro)
    assert set(document.evidence) == {"attestation_document"}
    assert document.warning == ""


def test_nitro_a_device_that_ignores_user_data_is_refused_by_the_client(nitro: NitroPki) -> None:
    document = _nitro_document(NitroNsmProvider(device=PkiNsmDevice(nitro, ignore=True)))
    with pytest.raises(AttestationError, match="user_data differs"):
        _verify_nitro(document, nitro)


def test_nitro_nsm_error_reaches_the_server(nitro: NitroPki) -> None:
    device = PkiNsmDevice(nitro, answer=_cbor({"Error": "InvalidArgument"}))
    with pytest.raises(AttestationError, match="InvalidArgument"):
        _nitro_document(NitroNsmProvider(device=device))


# --- Nitro: the real transport, with a stand-in for the kernel driver -----------------------------


class NsmKernel:
    """The nsm driver's ioctl ABI: request from its iovec, response into its iovec, length back."""

    def __init__(self, device: PkiNsmDevice, *, claimed_length: int | None = None) -> None:
        self.device = device
        self.claimed_length = claimed_length

    def __call__(self, fd: int, request: int, arg: bytearray, mutate_flag: bool) -> int:
        assert (request, mutate_flag, len(arg)) == (NSM_IOCTL_REQUEST, True, 32)
        message = nsm._NsmMessage.from_buffer(arg)
        assert message.response.iov_len == NSM_RESPONSE_MAX_BYTES
        answer = self.device.process_request(
            ctypes.string_at(message.request.iov_base, message.request.iov_len)
        )
        length = min(len(answer), message.response.iov_len)
        ctypes.memmove(message.response.iov_base, answer, length)
        message.response.iov_len = self.claimed_length or length
        return 0


def test_nitro_end_to_end_through_the_transport(nitro: NitroPki, device_file: Path) -> None:
    device = LinuxNsmDevice(device_file, ioctl=NsmKernel(PkiNsmDevice(nitro)))
    _verify_nitro(_nitro_document(NitroNsmProvider(device=device)), nitro)


def test_nitro_transport_refuses_a_length_beyond_its_buffer(
    nitro: NitroPki, device_file: Path
) -> None:
    kernel = NsmKernel(PkiNsmDevice(nitro), claimed_length=NSM_RESPONSE_MAX_BYTES + 1)
    with pytest.raises(AttestationError, match="longer than its buffer"):
        _nitro_document(NitroNsmProvider(device=LinuxNsmDevice(device_file, ioctl=kernel)))


def test_nitro_transport_on_a_regular_file_fails_in_the_real_ioctl(device_file: Path) -> None:
    with pytest.raises(AttestationError, match=r"NSM request failed \(ENOTTY\)"):
        LinuxNsmDevice(device_file).process_request(encode_attestation_request(bytes(32)))


def test_nitro_transport_without_the_device_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist: not a Nitro enclave"):
        _nitro_document(NitroNsmProvider(device=LinuxNsmDevice(tmp_path / "nsm")))
