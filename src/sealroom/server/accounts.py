"""Accounts and API tokens (host side).

A token is 32 random bytes, base64url-encoded with a ``sr_`` prefix so that secret scanners can
recognise it. Only its SHA-256 is stored: a copy of the database does not let anyone log in.
"""

from __future__ import annotations

import hashlib
import secrets

from sealroom.errors import BadRequestError
from sealroom.model.principal import check_email
from sealroom.storage.metadata import MetadataStore

TOKEN_PREFIX = "sr_"  # noqa: S105 - a public prefix, not a secret


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(store: MetadataStore, email: str, label: str = "") -> str:
    """Create the user if needed and return a new API token (shown once, never stored)."""
    if len(email) > 254:  # what the accounts table holds (a participant may be named by more)
        raise BadRequestError(f"{email!r} is not an e-mail address")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.add_token(check_email(email), token_sha256(token), label)
    return token


def authenticate(store: MetadataStore, token: str) -> str | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return store.email_for_token(token_sha256(token))
