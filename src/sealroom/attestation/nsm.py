"""AWS Nitro Enclaves evidence, core side: a document from the Nitro Secure Module (``/dev/nsm``).

The NSM speaks CBOR through one ioctl (aws-nitro-enclaves-nsm-api, ``src/api/mod.rs``; Linux
``include/uapi/linux/nsm.h``): the request and response buffers travel as two iovecs::

    request   {"Attestation": {"user_data": <report_data>, "nonce": null, "public_key": null}}
    response  {"Attestation": {"document": <COSE_Sign1 bytes>}}  or  {"Error": "<ErrorCode>"}

``user_data`` is the 32-byte ``report_data``, which already binds the client's nonce, the core's
keys and the time; ``nonce`` and ``public_key`` stay empty (see
:class:`~sealroom.attestation.nitro.NitroEvidenceVerifier`).

Layers: pure :func:`encode_attestation_request` / :func:`decode_attestation_response`; the thin
transport :class:`LinuxNsmDevice` behind the :class:`NsmDevice` protocol; and
:class:`NitroNsmProvider`, the :class:`~sealroom.attestation.document.EvidenceProvider`.

Invariants:

* The response is decoded strictly (bounded size, one CBOR item, no tags, only the two shapes
  above); the document inside is not verified here: the client verifies it.
* Failures raise :class:`~sealroom.errors.AttestationError` (the NSM refused or answered
  malformed) or :class:`~sealroom.errors.ConfigurationError` (no device, no permission). Messages
  carry errno names and the NSM's error code names, never document bytes.
"""

from __future__ import annotations

import base64
import ctypes
import errno
import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cbor2
from pydantic import JsonValue

from sealroom.attestation.nitro import MAX_DOCUMENT_BYTES, NITRO_PROVIDER, _strict_cbor
from sealroom.errors import AttestationError, ConfigurationError

__all__ = [
    "NITRO_SECURE_MODULE_DEVICE",
    "NSM_IOCTL_REQUEST",
    "NSM_REQUEST_MAX_BYTES",
    "NSM_RESPONSE_MAX_BYTES",
    "LinuxNsmDevice",
    "NitroNsmProvider",
    "NsmDevice",
    "decode_attestation_response",
    "encode_attestation_request",
]

NITRO_SECURE_MODULE_DEVICE = Path("/dev/nsm")

NSM_REQUEST_MAX_BYTES = 0x1000
"""4 KiB, the kernel's NSM_REQUEST_MAX_SIZE: the driver refuses a larger request."""

NSM_RESPONSE_MAX_BYTES = 0x3000
"""12 KiB, the kernel's NSM_RESPONSE_MAX_SIZE: the largest answer the NSM gives (a document with
its certificate chain is about 4.5 KB)."""

_USER_DATA_BYTES = 32  # Our report_data; the NSM accepts up to 1024 bytes.

# aws-nitro-enclaves-nsm-api ErrorCode: only these names are echoed (the rest is "unknown").
_NSM_ERROR_CODES = frozenset(
    {
        "InvalidArgument",
        "InvalidIndex",
        "InvalidResponse",
        "ReadOnlyIndex",
        "InvalidOperation",
        "BufferTooSmall",
        "InputTooLarge",
        "InternalError",
    }
)


class _Iovec(ctypes.Structure):
    """``struct iovec`` on 64-bit Linux (Nitro enclaves are x86-64 or arm64): address, length."""

    _fields_ = (("iov_base", ctypes.c_uint64), ("iov_len", ctypes.c_uint64))


class _NsmMessage(ctypes.Structure):
    """``struct nsm_message`` (upstream: ``struct nsm_raw``): request and response buffers."""

    _fields_ = (("request", _Iovec), ("response", _Iovec))


def _iowr(kind: int, number: int, size: int) -> int:
    # include/uapi/asm-generic/ioctl.h: direction read|write (3) << 30, size << 16, type << 8, nr.
    return (3 << 30) | (size << 16) | (kind << 8) | number


NSM_IOCTL_REQUEST = _iowr(0x0A, 0, ctypes.sizeof(_NsmMessage))


# --- pure parts -----------------------------------------------------------------------------------


def encode_attestation_request(user_data: bytes) -> bytes:
    """The CBOR of an NSM Attestation request carrying ``user_data`` (32 bytes)."""
    if not isinstance(user_data, bytes) or len(user_data) != _USER_DATA_BYTES:
        raise ValueError(f"user_data must be {_USER_DATA_BYTES} bytes")
    return cbor2.dumps({"Attestation": {"user_data": user_data, "nonce": None, "public_key": None}})


def decode_attestation_response(response: bytes) -> bytes:
    """The attestation document in an NSM response; :class:`AttestationError` for anything else."""
    # 1. Size: bounded before any parsing.
    if not 0 < len(response) <= NSM_RESPONSE_MAX_BYTES:
        raise AttestationError(f"Nitro: the NSM response must be 1 to {NSM_RESPONSE_MAX_BYTES} B")
    # 2. One strict CBOR item: no tags, indefinite lengths, duplicate keys or trailing bytes.
    message = _strict_cbor(response, "the NSM response")
    if type(message) is not dict or len(message) != 1:
        raise AttestationError("Nitro: the NSM response is not a one-entry map")
    # 3. An error, named if the name is one the NSM API defines.
    if "Error" in message:
        code = message["Error"]
        name = code if type(code) is str and code in _NSM_ERROR_CODES else "unknown error"
        raise AttestationError(f"Nitro: the NSM refused the attestation request ({name})")
    # 4. Exactly {"Attestation": {"document": bytes}}, of a size the client accepts.
    body = message.get("Attestation")
    if type(body) is not dict or set(body) != {"document"}:
        raise AttestationError("Nitro: the NSM response is not an attestation")
    document = body["document"]
    if type(document) is not bytes or not 0 < len(document) <= MAX_DOCUMENT_BYTES:
        raise AttestationError(
            f"Nitro: the NSM's attestation document must be 1 to {MAX_DOCUMENT_BYTES} bytes"
        )
    return document


# --- transport ------------------------------------------------------------------------------------


class NsmDevice(Protocol):
    """The seam between the provider and the kernel (tests supply their own device)."""

    def process_request(self, request: bytes) -> bytes:
        """The NSM's CBOR response to one CBOR request."""
        ...


Ioctl = Callable[[int, int, bytearray, bool], object]
"""The signature of :func:`fcntl.ioctl` as used here (a mutable argument, mutate_flag=True)."""


def _errno_name(code: int | None) -> str:
    return errno.errorcode.get(code or 0, f"errno {code}")


class LinuxNsmDevice:
    """``/dev/nsm`` through the NSM_IOCTL_REQUEST ioctl; opened per request, no state.

    ``ioctl`` is :func:`fcntl.ioctl`; tests pass a stand-in for the kernel driver.
    """

    def __init__(
        self, path: Path = NITRO_SECURE_MODULE_DEVICE, *, ioctl: Ioctl = fcntl.ioctl
    ) -> None:
        self._path = path
        self._ioctl = ioctl

    def process_request(self, request: bytes) -> bytes:
        if not 0 < len(request) <= NSM_REQUEST_MAX_BYTES:
            raise ValueError(f"an NSM request is 1 to {NSM_REQUEST_MAX_BYTES} bytes")
        request_buffer = ctypes.create_string_buffer(request, len(request))
        response_buffer = ctypes.create_string_buffer(NSM_RESPONSE_MAX_BYTES)
        call = bytearray(
            _NsmMessage(
                request=_Iovec(ctypes.addressof(request_buffer), len(request)),
                response=_Iovec(ctypes.addressof(response_buffer), NSM_RESPONSE_MAX_BYTES),
            )
        )
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ConfigurationError(
                f"{self._path} does not exist: not a Nitro enclave, or the nsm driver is not loaded"
            ) from None
        except PermissionError:
            raise ConfigurationError(
                f"no permission to open {self._path}: run the server as a user allowed to use it"
            ) from None
        except OSError as exc:
            raise AttestationError(f"cannot open {self._path} ({_errno_name(exc.errno)})") from None
        try:
            self._ioctl(fd, NSM_IOCTL_REQUEST, call, True)
        except OSError as exc:
            raise AttestationError(
                f"Nitro: the NSM request failed ({_errno_name(exc.errno)})"
            ) from None
        finally:
            os.close(fd)
        # The driver writes the response's length back into the response iovec.
        length = int(_NsmMessage.from_buffer_copy(call).response.iov_len)
        if length > NSM_RESPONSE_MAX_BYTES:
            raise AttestationError("Nitro: the NSM reports a response longer than its buffer")
        return response_buffer.raw[:length]


# --- the provider ---------------------------------------------------------------------------------


class NitroNsmProvider:
    """:class:`~sealroom.attestation.document.EvidenceProvider` for ``"aws-nitro"``."""

    name = NITRO_PROVIDER
    warning = ""

    def __init__(self, *, device: NsmDevice | None = None) -> None:
        self._device = LinuxNsmDevice() if device is None else device

    def produce(self, report_data: bytes) -> dict[str, JsonValue]:
        response = self._device.process_request(encode_attestation_request(report_data))
        document = decode_attestation_response(response)
        return {"attestation_document": base64.b64encode(document).decode("ascii")}
