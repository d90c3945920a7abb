"""Who asks the core to act: a :class:`Principal`, and the one place e-mail addresses are checked
and normalised.

A participant is named by an e-mail address in room definitions, commits and the audit log. Two
spellings of one address (``Alice@Bank.example``, ``alice@bank.example``) are one person, so
every comparison goes through :func:`normalise_email` — nowhere else lowers an address.

Invariants:

* A :class:`Principal` exists only for a well-formed address (:func:`check_email`): one ``@``,
  no whitespace, comma, control character (C0, DEL, C1) or invisible formatting character
  (bidirectional overrides and isolates, zero-width characters: Unicode category ``Cf``) — an
  address that displays as another one's cannot name anybody — and at most
  :data:`MAX_EMAIL_CHARS` characters.
* Its ``email`` is normalised (surrounding whitespace stripped, lower case), so equal principals
  are the same person and an audit entry names them one way.

The host authenticates an API token and passes the address in, with the person's own signature
of the action if they sent one (:attr:`Principal.proof`, ARCHITECTURE §8): the core believes the
address only once that signature verifies under the room's identities
(:func:`sealroom.model.signed_actions.verify_action`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final

from sealroom.errors import BadRequestError

if TYPE_CHECKING:
    from sealroom.model.signed_actions import ActionProof

__all__ = ["MAX_EMAIL_CHARS", "Principal", "check_email", "is_email_address", "normalise_email"]

#: The longest address (RFC 3696 errata 1690), and the longest ``user`` of an audit entry.
MAX_EMAIL_CHARS: Final = 320

# One "@" between two non-empty parts without whitespace, comma or control characters.
_EMAIL: Final = re.compile(r"[^@\s,\x00-\x1f\x7f-\x9f]+@[^@\s,\x00-\x1f\x7f-\x9f]+")


def normalise_email(email: str) -> str:
    """The one spelling of ``email`` every comparison uses."""
    return email.strip().lower()


def is_email_address(email: str) -> bool:
    """Whether ``email`` is an address a participant may be named by (module docstring)."""
    return (
        len(email) <= MAX_EMAIL_CHARS
        and _EMAIL.fullmatch(email) is not None
        and not any(unicodedata.category(c) == "Cf" for c in email)
    )


def check_email(email: str) -> str:
    """``email`` normalised; :class:`~sealroom.errors.BadRequestError` if it is not one."""
    normalised = normalise_email(email)
    if not is_email_address(normalised):
        raise BadRequestError(f"{email!r} is not an e-mail address")
    return normalised


@dataclass(frozen=True)
class Principal:
    """A person the core acts for (see the module docstring); build it with :meth:`of`."""

    #: Normalised (:func:`normalise_email`).
    email: str
    #: The person's signature of the action asked for, as the host relayed it (unverified).
    proof: ActionProof | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if check_email(self.email) != self.email:
            raise BadRequestError("a principal's e-mail address must be normalised")

    @classmethod
    def of(cls, email: str) -> Principal:
        return cls(check_email(email))

    def with_proof(self, proof: ActionProof | None) -> Principal:
        return replace(self, proof=proof)

    def is_named(self, email: str) -> bool:
        """Whether ``email`` (from a definition, a commit, a record) names this principal."""
        return normalise_email(email) == self.email

    def __str__(self) -> str:
        return self.email
