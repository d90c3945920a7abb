"""The participant's own signing key and certificates, kept in the SDK's state directory.

Every action the core performs for someone carries that person's signature
(:mod:`sealroom.model.signed_actions`). The key is made on first use and never leaves this
directory (the server never sees it)::

    identity/keys/<sha256(e-mail)>.pem              the Ed25519 key, PKCS#8 PEM, mode 0600
    identity/retired/<sha256(e-mail)>-<fp>.pem       keys replaced by `sealroom keys rotate`
    identity/certificates/<sha256(e-mail)>/<root fingerprint>.der
                                                     certificates of the current key, one per
                                                     trust root (the platform's, or imported)

Invariants: a key file another user can read is refused (it is a credential); a certificate is
used only while it certifies the current key and is valid for another
:data:`RENEW_BEFORE_MS`; the directory is the same as the rest of the SDK's state
(``SEALROOM_STATE_DIR``), checked private.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sealroom.client._state import check_private, default_state_dir, write_atomically
from sealroom.crypto import SigningKey
from sealroom.crypto.certificates import CertificateFacts, certificate_facts
from sealroom.errors import ConfigurationError
from sealroom.model.identities import key_fingerprint
from sealroom.model.principal import normalise_email

__all__ = ["RENEW_BEFORE_MS", "ParticipantKeys"]

#: A certificate that expires sooner than this is renewed (or reported) before it is used.
RENEW_BEFORE_MS: Final = 24 * 3600 * 1000
_FINGERPRINT: Final = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredCertificate:
    der: bytes
    not_after_ms: int


class ParticipantKeys:
    """One user's keys and certificates in a state directory (module docstring)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._root = (directory or default_state_dir()) / "identity"
        for path in (self._root.parent, self._root):
            check_private(path)
        # Parsed keys by their file's identity (another process may rotate or import a key:
        # a changed file is read again), and certificates' facts by their bytes. Every action
        # is signed, and parsing both took most of the SDK's own time per job.
        self._parsed_keys: dict[Path, tuple[tuple[int, ...], SigningKey]] = {}
        self._certificate_facts: dict[bytes, CertificateFacts] = {}

    # -- the key ------------------------------------------------------------------------------
    def signing_key(self, email: str) -> SigningKey:
        """``email``'s key, made now if this directory has none."""
        path = self._key_path(email)
        try:
            return self._read_key(path)
        except FileNotFoundError:
            key = SigningKey.generate()
            self._write_key(path, key, exclusive=True)
            return self._read_key(path)  # whoever won a race of two first uses

    def fingerprint(self, email: str) -> str:
        return key_fingerprint(self.signing_key(email).verify_key.to_bytes())

    def has_key(self, email: str) -> bool:
        """Whether ``email`` has a key in this directory yet (:meth:`signing_key` makes one)."""
        return self._key_path(email).exists()

    def key_path(self, email: str) -> Path:
        """The file of ``email``'s key (what ``sealroom keys show`` names)."""
        return self._key_path(email)

    @property
    def retired_directory(self) -> Path:
        """Where replaced keys are kept (``sealroom keys rotate`` and ``import``)."""
        return self._root / "retired"

    def rotate(self, email: str) -> SigningKey:
        """Replace ``email``'s key by a new one; the old one is kept under ``retired/``."""
        self._retire(email, self.signing_key(email))
        new = SigningKey.generate()
        self._write_key(self._key_path(email), new, exclusive=False)
        return new

    def export_key(self, email: str) -> str:
        return self.signing_key(email).to_pem()

    def import_key(self, email: str, pem: str) -> SigningKey:
        """Use ``pem`` (an Ed25519 PKCS#8 key) as ``email``'s key; the current one is retired."""
        try:
            key = SigningKey.from_pem(pem)
        except ValueError as exc:
            raise ConfigurationError(f"cannot import the key: {exc}") from None
        path = self._key_path(email)
        if path.exists():
            old = self._read_key(path)
            if _fp(old) == _fp(key):
                return key
            write_atomically(
                self._root / "retired" / f"{_user(email)}-{_fp(old)}.pem", old.to_pem()
            )
        self._write_key(path, key, exclusive=False)
        return key

    # -- certificates ---------------------------------------------------------------------------
    def certificate(
        self, email: str, root_fingerprint: str, *, now_ms: int | None = None
    ) -> bytes | None:
        """A certificate of ``email``'s current key from the root, valid for a while yet."""
        path = self._certificate_path(email, root_fingerprint)
        try:
            der = path.read_bytes()
        except FileNotFoundError:
            return None
        facts = self._certificate_facts.get(der)
        if facts is None:
            facts = certificate_facts(der)
            self._certificate_facts = {der: facts}  # the one in use; a renewal replaces it
        now = int(time.time() * 1000) if now_ms is None else now_ms
        key = self.signing_key(email).verify_key.to_bytes()
        if facts.public_key != key or facts.not_after_ms - RENEW_BEFORE_MS < now:
            return None
        return der

    def save_certificate(self, email: str, root_fingerprint: str, der: bytes) -> None:
        """Keep ``der`` (which must certify the current key) for the root."""
        facts = certificate_facts(der)
        if facts.public_key != self.signing_key(email).verify_key.to_bytes():
            raise ConfigurationError(
                "the certificate is for another key than yours (`sealroom keys show` prints yours)"
            )
        path = self._certificate_path(email, root_fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = path.with_suffix(".tmp")
        handle.write_bytes(der)
        os.chmod(handle, 0o600)
        os.replace(handle, path)

    # -- files ----------------------------------------------------------------------------------
    def _key_path(self, email: str) -> Path:
        return self._root / "keys" / f"{_user(email)}.pem"

    def _certificate_path(self, email: str, root_fingerprint: str) -> Path:
        if len(root_fingerprint) != 64 or not all(
            c in "0123456789abcdef" for c in root_fingerprint
        ):
            raise ValueError("a root fingerprint is 64 lower-case hex digits")
        return self._root / "certificates" / _user(email) / f"{root_fingerprint}.der"

    def _retire(self, email: str, key: SigningKey) -> None:
        write_atomically(self._root / "retired" / f"{_user(email)}-{_fp(key)}.pem", key.to_pem())

    def _read_key(self, path: Path) -> SigningKey:
        status = path.stat()
        if status.st_mode & 0o077 or status.st_uid != os.getuid():
            raise ConfigurationError(
                f"your signing key {path} can be read by other users; chmod 600 {path}"
            )
        identity = (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
        cached = self._parsed_keys.get(path)
        if cached is not None and cached[0] == identity:
            return cached[1]
        try:
            key = SigningKey.from_pem(path.read_text("ascii"))
            self._parsed_keys[path] = (identity, key)
            return key
        except (ValueError, UnicodeDecodeError):
            raise ConfigurationError(
                f"your signing key {path} is unreadable; restore it from your export, or import "
                "one with `sealroom keys import`"
            ) from None

    def _write_key(self, path: Path, key: SigningKey, *, exclusive: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not exclusive:
            write_atomically(path, key.to_pem())
            return
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(key.to_pem())
            out.flush()
            os.fsync(out.fileno())


def _user(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def _fp(key: SigningKey) -> str:
    return key_fingerprint(key.verify_key.to_bytes())
