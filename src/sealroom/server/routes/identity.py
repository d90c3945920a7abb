"""The platform PKI and the key directory (host side, ARCHITECTURE §8).

* ``GET /v1/pki/root`` — the operator's CA certificate, which a room names as its platform trust
  root. Trusting it means trusting the operator (see :mod:`sealroom.server.pki`).
* ``POST /v1/pki/certificates`` — certify the caller's signing key for the caller's own address:
  the address is the API token's, never one from the body.
* ``GET /v1/directory/{email}`` — the key a user registered last.
* ``GET /v1/me`` — whose token this is: the SDK compares it with the e-mail it was given.

Nothing here is the core's: the core believes a certificate only if it verifies under a root
the room's definition names, and a directory entry not at all.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from sealroom.errors import BadRequestError, NotFoundError
from sealroom.model.principal import MAX_EMAIL_CHARS, normalise_email
from sealroom.model.wire import MeOut
from sealroom.server.pki import participant_key_from_hex
from sealroom.server.routes.deps import PlatformDep, UserDep

router = APIRouter(tags=["identity"])

_HEX_KEY = r"^[0-9a-f]{64}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RootOut(_Frozen):
    certificate: str = Field(description="the platform CA's root certificate, PEM")
    fingerprint: str = Field(
        pattern=_HEX_KEY, description="SHA-256 of the root's DER encoding, hex"
    )


class CertificateIn(_Frozen):
    public_key: str = Field(
        pattern=_HEX_KEY, description="the caller's raw Ed25519 public key, 64 lower-case hex"
    )


class CertificateOut(_Frozen):
    certificate: str = Field(description="the participant certificate, base64 DER")
    not_after_ms: int = Field(description="when it expires, ms since the epoch")
    fingerprint: str = Field(
        pattern=_HEX_KEY, description="the certified key's fingerprint: SHA-256 of its raw bytes"
    )


class DirectoryEntryOut(_Frozen):
    email: str
    public_key: str = Field(pattern=_HEX_KEY, description="raw Ed25519 public key, hex")
    fingerprint: str = Field(pattern=_HEX_KEY, description="SHA-256 of the raw public key, hex")
    registered_at_ms: int


EmailInPath = Annotated[
    str, Path(min_length=1, max_length=MAX_EMAIL_CHARS, description="an e-mail address")
]


@router.get("/v1/pki/root")
def pki_root(platform: PlatformDep, user: UserDep) -> RootOut:
    """The operator's CA. A room that names it trusts the operator to certify the right person
    for each address; compare its fingerprint out of band before naming it."""
    return RootOut(certificate=platform.pki.root_pem, fingerprint=platform.pki.root_fingerprint)


@router.post("/v1/pki/certificates", status_code=201)
def issue_certificate(body: CertificateIn, platform: PlatformDep, user: UserDep) -> CertificateOut:
    """Certify ``public_key`` for the caller's address (the token's) and register it in the
    directory as the caller's latest key."""
    try:
        key = participant_key_from_hex(body.public_key)
    except ValueError as exc:
        # The reason (not a curve point, a low-order point) is about the caller's own input.
        raise BadRequestError(f"public_key: {exc}") from None
    der, not_after = platform.pki.issue(user, key)
    registered = platform.store.register_participant_key(user, key.hex())
    return CertificateOut(
        certificate=base64.b64encode(der).decode("ascii"),
        not_after_ms=int(not_after.timestamp() * 1000),
        fingerprint=registered.fingerprint,
    )


@router.get("/v1/directory/{email}")
def directory_entry(email: EmailInPath, platform: PlatformDep, user: UserDep) -> DirectoryEntryOut:
    """The key ``email`` registered last.

    This is the host's word, not a verified fact: whoever runs the server can answer with any
    key. A room creator who pins a participant's key must first confirm its fingerprint with
    that person out of band (in person, by phone); the core never reads the directory.
    The answer for an address without a key is the same whether or not it has an account.
    """
    entry = platform.store.participant_key(email)
    if entry is None:
        raise NotFoundError("no signing key is registered for this address")
    return DirectoryEntryOut(
        email=normalise_email(email),
        public_key=entry.public_key_hex,
        fingerprint=entry.fingerprint,
        registered_at_ms=entry.registered_at_ms,
    )


@router.get("/v1/me")
def me(user: UserDep) -> MeOut:
    """The account the API token belongs to, its address normalised.

    A client configured with one address and another user's token would otherwise act as the
    token's owner without noticing (the core signs and audits as the token's owner, and the
    participant's signature, made for the configured address, would be refused later and
    less clearly); the SDK asks once, before its first request, and refuses a mismatch.
    """
    return MeOut(email=normalise_email(user))
