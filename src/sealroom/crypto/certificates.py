"""X.509 certificates that vouch for a participant's signing key.

A room may recognise a participant by a certificate instead of a pinned key: a *trust root* named
in the room's definition — the operator's CA (the platform PKI) or an organisation's own CA —
certifies that an Ed25519 key belongs to an e-mail address.

Profile of a participant certificate (what :func:`issue_participant_certificate` makes and
:func:`verify_participant_certificate` accepts):

* issued directly by the root: the root's key verifies its signature and its issuer is the root's
  subject (no intermediates: one link, one thing to check);
* an Ed25519 subject key, the participant's signing key;
* a ``subjectAltName`` with the participant's address as an ``rfc822Name`` (compared normalised);
* ``basicConstraints`` absent or ``CA:FALSE``: a participant cannot certify others;
* valid at the time of use (``notBefore`` ≤ now ≤ ``notAfter``).

A root is a certificate with ``basicConstraints CA:TRUE``; its key may be Ed25519, ECDSA or RSA
(what organisations' CAs use). Every refusal raises :class:`~sealroom.errors.VerificationError`
naming what failed — never anything about other participants.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from sealroom.crypto.signing import SigningKey, VerifyKey
from sealroom.errors import VerificationError

__all__ = [
    "MAX_CERTIFICATE_BYTES",
    "CertificateFacts",
    "certificate_facts",
    "create_root_certificate",
    "issue_participant_certificate",
    "load_root_certificate",
    "root_fingerprint",
    "verify_participant_certificate",
]

#: The largest participant or root certificate accepted (DER bytes; PEM is about 4/3 of it).
MAX_CERTIFICATE_BYTES = 8_192


def load_root_certificate(pem: str) -> x509.Certificate:
    """The root in ``pem``; ValueError if it is not one certificate of a CA."""
    data = pem.encode("ascii", "strict") if pem.isascii() else b""
    if not data or len(data) > MAX_CERTIFICATE_BYTES * 2:
        raise ValueError("a trust root must be one PEM certificate")
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ValueError("a trust root must be one PEM certificate") from None
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise ValueError("a trust root must be a CA certificate (basicConstraints CA:TRUE)")
    return certificate


def root_fingerprint(pem: str) -> str:
    """SHA-256 of the root's DER encoding, hex: what people compare out of band."""
    certificate = load_root_certificate(pem)
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class CertificateFacts:
    """What a client needs to know of its own certificate (nothing here is verified)."""

    #: The raw Ed25519 key it certifies (empty for another kind of key).
    public_key: bytes
    not_after_ms: int
    emails: frozenset[str]


def certificate_facts(der: bytes) -> CertificateFacts:
    """Read (not verify) a participant certificate; ValueError if it is not one."""
    certificate = x509.load_der_x509_certificate(der)
    key = certificate.public_key()
    raw = key.public_bytes_raw() if isinstance(key, ed25519.Ed25519PublicKey) else b""
    not_after = int(certificate.not_valid_after_utc.timestamp() * 1000)
    return CertificateFacts(raw, not_after, frozenset(_certified_emails(certificate)))


def verify_participant_certificate(
    root_pem: str, certificate_der: bytes, email: str, public_key: VerifyKey, now: dt.datetime
) -> None:
    """Return if ``certificate_der`` certifies ``public_key`` for ``email`` under the root."""
    root = load_root_certificate(root_pem)
    if len(certificate_der) > MAX_CERTIFICATE_BYTES:
        raise VerificationError("the certificate is too large")
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
    except ValueError:
        raise VerificationError("the certificate is not a DER X.509 certificate") from None
    try:
        certificate.verify_directly_issued_by(root)
    except (InvalidSignature, ValueError, TypeError):  # a bad signature, another issuer, a key
        raise VerificationError("the certificate was not issued by the room's trust root") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise VerificationError(
            "the certificate is not valid now (valid "
            f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} to "
            f"{certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC): get a new one"
        )
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        if constraints.value.ca:
            raise VerificationError("the certificate is a CA certificate, not a participant's")
    except x509.ExtensionNotFound:
        pass
    if _normalised(email) not in _certified_emails(certificate):
        raise VerificationError("the certificate is for another e-mail address")
    subject_key = certificate.public_key()
    if not isinstance(subject_key, ed25519.Ed25519PublicKey):
        raise VerificationError("the certificate's key is not an Ed25519 key")
    if subject_key.public_bytes_raw() != public_key.to_bytes():
        raise VerificationError("the certificate certifies another key than the one that signed")


def issue_participant_certificate(
    issuer_key: SigningKey,
    issuer_pem: str,
    email: str,
    public_key: VerifyKey,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> bytes:
    """A participant certificate (DER) for ``public_key`` and ``email``, signed by the issuer."""
    issuer = load_root_certificate(issuer_pem)
    subject_key = ed25519.Ed25519PublicKey.from_public_bytes(public_key.to_bytes())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, email[:64])]))
        .issuer_name(issuer.subject)
        .public_key(subject_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    )
    certificate = builder.sign(issuer_key.private_key(), algorithm=None)
    return certificate.public_bytes(serialization.Encoding.DER)


def create_root_certificate(
    key: SigningKey, common_name: str, *, not_before: dt.datetime, not_after: dt.datetime
) -> str:
    """A self-signed Ed25519 CA certificate (PEM) for ``key``: a platform or organisation root."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    private = key.private_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    )
    certificate = builder.sign(private, algorithm=None)
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _certified_emails(certificate: x509.Certificate) -> set[str]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return {_normalised(address) for address in names.value.get_values_for_type(x509.RFC822Name)}


def _normalised(email: str) -> str:
    # The same rule as sealroom.model.principal.normalise_email (crypto does not import model).
    return email.strip().lower()
