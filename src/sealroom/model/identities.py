"""How a room recognises its participants: pinned keys and trust roots (ARCHITECTURE §8).

Every participant holds an Ed25519 signing key (the SDK keeps it in its state directory, the
browser as a non-extractable WebCrypto key). The room definition says, per participant, how the
core recognises that person's key — and since the room id is the hash of the definition, every
participant agrees on it:

* ``Identity(email, key=<fingerprint>)`` — a pinned key (strongest): the SHA-256 of the raw
  public key, which the creator got from the participant out of band, or from the host's
  directory and confirmed;
* ``Identity(email, root=<name>)`` — any key certified for that address by the room's trust
  root of that name (:class:`TrustRoot`): an organisation's own CA, or the operator's
  (``operator=True``, the platform PKI — which means trusting the operator to certify the right
  person, as the seed's platform PKI does).

Invariants (:func:`check_identities`): names of roots are unique; every root is a CA
certificate; an identity names exactly one of a key or a root, and only a root of the room; an
address has at most one identity. :func:`check_identities_complete` adds that every participant
(and the owner) has one — required of a room the core publishes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sealroom.crypto.certificates import load_root_certificate
from sealroom.errors import DefinitionError
from sealroom.model.principal import is_email_address, normalise_email

__all__ = [
    "FINGERPRINT_PATTERN",
    "MAX_TRUST_ROOTS",
    "PLATFORM_ROOT_NAME",
    "AuthenticationMethod",
    "Identity",
    "TrustRoot",
    "check_identities",
    "check_identities_complete",
    "complete_identities",
    "format_fingerprint",
    "identities_for",
    "key_fingerprint",
]

#: A key fingerprint: SHA-256 of the raw 32-byte Ed25519 public key, lower-case hex.
FINGERPRINT_PATTERN: Final = r"^[0-9a-f]{64}$"
#: Trust roots a room may name (an organisation per party is the expected case).
MAX_TRUST_ROOTS: Final = 16
#: The longest PEM root accepted in a definition.
MAX_ROOT_PEM_CHARS: Final = 16_384


def key_fingerprint(public_key: bytes) -> str:
    """The fingerprint of a raw Ed25519 public key (what rooms pin and people compare)."""
    return hashlib.sha256(public_key).hexdigest()


def format_fingerprint(fingerprint: str) -> str:
    """``fingerprint`` in groups of four, for reading aloud: ``3f2a 9c01 …``."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrustRoot(_Frozen):
    """A CA the room trusts to certify participants' keys."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    #: The CA certificate, PEM.
    certificate: str = Field(min_length=1, max_length=MAX_ROOT_PEM_CHARS)
    #: The operator's own CA (the platform PKI): trusting it is trusting the operator.
    operator: bool = False


class Identity(_Frozen):
    """How the core recognises the participant ``email``: a pinned key, or a trust root."""

    email: str = Field(min_length=3, max_length=254)
    key: str | None = Field(default=None, pattern=FINGERPRINT_PATTERN)
    root: str | None = Field(default=None, min_length=1, max_length=40)

    @field_validator("email")
    @classmethod
    def _address(cls, value: str) -> str:
        if not is_email_address(normalise_email(value)):
            raise ValueError("not an e-mail address")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Identity:
        if (self.key is None) == (self.root is None):
            raise ValueError("an identity names either a pinned key or a trust root, not both")
        return self


def check_identities(roots: Iterable[TrustRoot], identities: Iterable[Identity]) -> None:
    """:class:`DefinitionError` unless the roots and identities are sound (module docstring)."""
    names: set[str] = set()
    for root in roots:
        if root.name in names:
            raise DefinitionError(f"two trust roots are named {root.name!r}")
        names.add(root.name)
        try:
            load_root_certificate(root.certificate)
        except ValueError as exc:
            raise DefinitionError(f"trust root {root.name!r}: {exc}") from None
    seen: set[str] = set()
    for identity in identities:
        email = normalise_email(identity.email)
        if email in seen:
            raise DefinitionError(f"{identity.email} has two identities")
        seen.add(email)
        if identity.root is not None and identity.root not in names:
            raise DefinitionError(
                f"the identity of {identity.email} names trust root {identity.root!r}, "
                "which the room does not have"
            )


def check_identities_complete(emails: Iterable[str], identities: Iterable[Identity]) -> None:
    """:class:`DefinitionError` naming the first of ``emails`` without an identity."""
    known = {normalise_email(identity.email) for identity in identities}
    for email in emails:
        if normalise_email(email) not in known:
            raise DefinitionError(
                f"the room does not say how it recognises {email}: give every participant a "
                "pinned key or a trust root (see docs/identities.md)"
            )


#: The name under which a room holds the operator's CA (the platform PKI).
PLATFORM_ROOT_NAME: Final = "platform"


@dataclass(frozen=True)
class AuthenticationMethod:
    """How a room will recognise a participant (the seed SDK's authentication methods).

    * :meth:`platform_pki` — certificates from the operator's CA (the default; it trusts the
      operator to certify the right person);
    * :meth:`pinned_key` — exactly one key, by fingerprint (strongest);
    * :meth:`personal_pki` — certificates from an organisation's own CA.
    """

    key: str | None = None
    root: TrustRoot | None = None

    @classmethod
    def platform_pki(cls) -> AuthenticationMethod:
        return cls()

    @classmethod
    def pinned_key(cls, fingerprint: str) -> AuthenticationMethod:
        fingerprint = fingerprint.replace(" ", "").lower()
        if not re.fullmatch(FINGERPRINT_PATTERN, fingerprint):
            raise DefinitionError(
                "a key fingerprint is 64 hex digits (`sealroom keys show` prints yours)"
            )
        return cls(key=fingerprint)

    @classmethod
    def personal_pki(
        cls, certificate_pem: str, *, name: str = "organisation"
    ) -> AuthenticationMethod:
        try:
            root = TrustRoot(name=name, certificate=certificate_pem)
        except ValueError as exc:
            raise DefinitionError(f"trust root {name!r}: {exc}") from None
        check_identities([root], [])
        return cls(root=root)

    @property
    def is_platform(self) -> bool:
        return self.key is None and self.root is None

    def __repr__(self) -> str:
        if self.key is not None:
            return f"AuthenticationMethod(pinned_key={self.key[:16]}…)"
        if self.root is not None:
            return f"AuthenticationMethod(personal_pki={self.root.name!r})"
        return "AuthenticationMethod(platform_pki)"


def identities_for(
    methods: Mapping[str, AuthenticationMethod], platform_root: TrustRoot | None
) -> tuple[tuple[TrustRoot, ...], tuple[Identity, ...]]:
    """The trust roots and identities of participants recognised by ``methods`` (by e-mail).

    A platform-PKI participant gets an identity only when ``platform_root`` is known (the
    session completes the rest when it publishes: :func:`complete_identities`).
    """
    roots: dict[str, TrustRoot] = {}
    identities: list[Identity] = []
    for email, method in methods.items():
        root = method.root if method.root is not None else None
        if method.is_platform:
            if platform_root is None:
                continue
            root = platform_root
        if root is not None:
            known = roots.setdefault(root.name, root)
            if known != root:
                raise DefinitionError(f"two different trust roots are named {root.name!r}")
        identities.append(
            Identity(email=email, key=method.key, root=None if root is None else root.name)
        )
    return tuple(roots.values()), tuple(identities)


def complete_identities(
    roots: tuple[TrustRoot, ...],
    identities: tuple[Identity, ...],
    emails: Iterable[str],
    platform_root: TrustRoot,
) -> tuple[tuple[TrustRoot, ...], tuple[Identity, ...]]:
    """``roots`` and ``identities`` with every one of ``emails`` that has no identity recognised
    through the platform's CA (added as a root if it is not one yet)."""
    known = {normalise_email(identity.email) for identity in identities}
    missing = [email for email in emails if normalise_email(email) not in known]
    if not missing:
        return roots, identities
    existing = next((root for root in roots if root.name == platform_root.name), None)
    if existing is not None and existing != platform_root:
        raise DefinitionError(
            f"the room's trust root {platform_root.name!r} is not this platform's CA"
        )
    if existing is None:
        roots = (*roots, platform_root)
    added = tuple(Identity(email=email, root=platform_root.name) for email in missing)
    return roots, identities + added
