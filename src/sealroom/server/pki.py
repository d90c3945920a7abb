"""The platform PKI: the operator's certificate authority, which certifies participants' keys.

Host side (untrusted, ARCHITECTURE §1 and §8). A room recognises each participant either by a
pinned key fingerprint or by a trust root that certifies keys for e-mail addresses
(:mod:`sealroom.model.identities`). The seed product's default root is the *platform PKI*, this
CA. **Trusting it means trusting the operator**: whoever runs this server holds the CA key and
can certify any key for any address, so a room that names this root (``TrustRoot(operator=True)``)
believes the operator about who each participant is. A fingerprint pinned after comparing it out
of band, or an organisation's own CA, does not depend on the operator.

Files, in ``<data_dir>/pki/`` (directory mode 0700)::

    ca.key   the CA's Ed25519 private key: its raw 32-byte seed, mode 0600
    ca.pem   the self-signed root certificate (public; what rooms name and people compare)

Invariants:

* Each file is created once, on the first open, complete and only if absent (written aside and
  hard-linked into place), so two servers starting on one data directory agree on one CA.
* A key file that group or others may read (or another user owns) is refused: it is a
  credential. So is a ``pki`` directory others may write (they could swap the root).
* Every open checks that the key and the root belong together (a probe certificate must verify
  under the root), so a replaced certificate or key refuses to start instead of issuing
  certificates nobody can verify.
* A certificate is issued only for an Ed25519 key of the prime-order subgroup (not an
  undecodable, non-canonical or low-order point, which :class:`~sealroom.crypto.VerifyKey`
  itself accepts), and never outlives the root.

There is no revocation: a certificate stays valid until it expires, which is why it is short-lived
(:data:`CERTIFICATE_LIFETIME`); the SDK renews it before then.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from pathlib import Path
from typing import Final

from sealroom.crypto import SIGNING_KEY_SIZE, SigningKey, VerifyKey
from sealroom.crypto.certificates import (
    create_root_certificate,
    issue_participant_certificate,
    load_root_certificate,
    root_fingerprint,
    verify_participant_certificate,
)
from sealroom.errors import ConfigurationError, VerificationError
from sealroom.model.principal import check_email

__all__ = [
    "CERTIFICATE_BACKDATE",
    "CERTIFICATE_LIFETIME",
    "ROOT_LIFETIME",
    "PlatformPki",
    "check_participant_key",
    "participant_key_from_hex",
]

#: How long the root is valid: rooms name it in their definitions, so it must outlive them.
ROOT_LIFETIME: Final = dt.timedelta(days=3650)
#: How long a participant certificate is valid. Short, because nothing revokes one: a removed
#: account's certificates lapse within a quarter; the SDK renews a day before expiry.
CERTIFICATE_LIFETIME: Final = dt.timedelta(days=90)
#: A certificate is valid from this long before it is issued, so that a core or client whose
#: clock is a little behind the host's accepts it at once.
CERTIFICATE_BACKDATE: Final = dt.timedelta(minutes=5)

KEY_FILE: Final = "ca.key"
ROOT_FILE: Final = "ca.pem"
#: The probe's address: a reserved domain (RFC 2606), never anybody's.
_PROBE_EMAIL: Final = "pki-self-check@sealroom.invalid"


class PlatformPki:
    """The operator's CA (module docstring). Open it with :meth:`open`; thread-safe."""

    def __init__(self, key: SigningKey, root_pem: str) -> None:
        """The CA of ``key`` and its root; ConfigurationError unless they belong together."""
        self._key = key
        self._root_pem = root_pem
        self._lock = threading.Lock()
        try:
            root = load_root_certificate(root_pem)
        except ValueError as exc:
            raise ConfigurationError(
                f"the platform CA's root certificate is unusable: {exc}"
            ) from None
        self._root_not_after = root.not_valid_after_utc
        self._fingerprint = root_fingerprint(root_pem)
        self._check_key_matches_root()

    @classmethod
    def open(cls, directory: Path, *, name: str) -> PlatformPki:
        """The CA kept in ``directory``, created there (for ``name``) if it has none yet."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _check_directory(directory)
        key_path, root_path = directory / KEY_FILE, directory / ROOT_FILE
        if not key_path.exists():
            _create_once(key_path, SigningKey.generate().to_bytes())
        key = _read_key(key_path)
        if not root_path.exists():
            now = _now()
            pem = create_root_certificate(
                key,
                f"Sealroom platform CA ({name})",
                not_before=now - CERTIFICATE_BACKDATE,
                not_after=now + ROOT_LIFETIME,
            )
            _create_once(root_path, pem.encode("ascii"), mode=0o644)
        try:
            root_pem = root_path.read_text("ascii")
        except UnicodeDecodeError:
            raise ConfigurationError(f"the platform CA's root {root_path} is not PEM") from None
        return cls(key, root_pem)

    @property
    def root_pem(self) -> str:
        """The root certificate, PEM."""
        return self._root_pem

    @property
    def root_fingerprint(self) -> str:
        """SHA-256 of the root's DER encoding, hex (what people compare out of band)."""
        return self._fingerprint

    def issue(
        self, email: str, public_key: VerifyKey, *, now: dt.datetime | None = None
    ) -> tuple[bytes, dt.datetime]:
        """A certificate (DER) of ``public_key`` for ``email``, and when it expires.

        Valid from :data:`CERTIFICATE_BACKDATE` before ``now`` for :data:`CERTIFICATE_LIFETIME`,
        but never after the root. ValueError for a key that is not a prime-order Ed25519 point;
        BadRequestError for an address no participant may be named by.
        """
        address = check_email(email)
        check_participant_key(public_key)
        at = now or _now()
        not_after = min(at + CERTIFICATE_LIFETIME, self._root_not_after)
        if not_after <= at:
            raise ConfigurationError(
                "the platform CA's root has expired: move <data_dir>/pki aside to make a new "
                "one, and update the rooms that name the old one"
            )
        with self._lock:
            der = issue_participant_certificate(
                self._key,
                self._root_pem,
                address,
                public_key,
                not_before=at - CERTIFICATE_BACKDATE,
                not_after=not_after,
            )
        return der, not_after

    def _check_key_matches_root(self) -> None:
        probe = SigningKey.generate().verify_key
        now = _now()
        # Within the root's validity, or the probe's dates would be refused, not its signature.
        at = min(now, self._root_not_after - CERTIFICATE_BACKDATE)
        der = issue_participant_certificate(
            self._key,
            self._root_pem,
            _PROBE_EMAIL,
            probe,
            not_before=at - CERTIFICATE_BACKDATE,
            not_after=at + CERTIFICATE_BACKDATE,
        )
        try:
            verify_participant_certificate(self._root_pem, der, _PROBE_EMAIL, probe, at)
        except VerificationError:
            raise ConfigurationError(
                "the platform CA's key and root certificate do not belong together (was one "
                "of <data_dir>/pki/ca.key and ca.pem replaced?): restore the pair"
            ) from None


# -- participants' keys ---------------------------------------------------------------------

# Edwards25519 (RFC 8032 §5.1): the field prime, the curve constant d, the group order L.
_P: Final = 2**255 - 19
_D: Final = -121665 * pow(121666, _P - 2, _P) % _P
_L: Final = 2**252 + 27742317777372353535851937790883648493
_SQRT_M1: Final = pow(2, (_P - 1) // 4, _P)

_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z
_IDENTITY: Final[_Point] = (0, 1, 1, 0)


def participant_key_from_hex(text: str) -> VerifyKey:
    """The Ed25519 key of 64 hex digits, checked as :func:`check_participant_key` does."""
    key = VerifyKey.from_hex(text)
    check_participant_key(key)
    return key


def check_participant_key(key: VerifyKey) -> None:
    """ValueError unless ``key`` is a point of Ed25519's prime-order subgroup.

    ``cryptography`` loads any 32 bytes as a public key. A certificate must not vouch for an
    undecodable point (no signature verifies), nor for a low-order one such as the identity
    (all zeros but one): under lax verifiers a signature ``(R, 0)`` then verifies for *every*
    message, so whoever holds such a certificate "signs" anything. A real key ``a·B`` always lies
    in the subgroup of order L, so requiring ``L·A = identity, A ≠ identity`` refuses exactly the
    keys nobody can have made (low-order and mixed-order points). Public input: no need for
    constant time.
    """
    point = _decode(key.to_bytes())
    if point is None:
        raise ValueError("not an Ed25519 public key: not the encoding of a curve point")
    if _is_identity(point) or not _is_identity(_multiply(_L, point)):
        raise ValueError("not an Ed25519 public key: a low-order point, which no key is")


def _decode(raw: bytes) -> _Point | None:
    """RFC 8032 §5.1.3, refusing non-canonical encodings (y ≥ p, or x = 0 with the sign set)."""
    if len(raw) != SIGNING_KEY_SIZE:
        return None
    number = int.from_bytes(raw, "little")
    y, sign = number & ((1 << 255) - 1), number >> 255
    if y >= _P:
        return None
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if (v * x * x - u) % _P != 0:
        if (v * x * x + u) % _P != 0:
            return None  # u/v is not a square: no point has this y
        x = x * _SQRT_M1 % _P
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _add(a: _Point, b: _Point) -> _Point:
    """RFC 8032 §5.1.4 (complete: also doubles)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1 = (y1 - x1) * (y2 - x2) % _P
    e2 = (y1 + x1) * (y2 + x2) % _P
    c = 2 * t1 * t2 * _D % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = e2 - e1, d - c, d + c, e2 + e1
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: _Point) -> _Point:
    result = _IDENTITY
    for bit in bin(scalar)[2:]:
        result = _add(result, result)
        if bit == "1":
            result = _add(result, point)
    return result


def _is_identity(point: _Point) -> bool:
    x, y, z, _ = point
    return x % _P == 0 and (y - z) % _P == 0


# -- files ----------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _check_directory(directory: Path) -> None:
    status = directory.stat()
    if status.st_mode & 0o022 or status.st_uid != os.getuid():
        raise ConfigurationError(
            f"the platform CA's directory {directory} can be written by other users; make it "
            f"the server's alone (chmod 700 {directory})"
        )


def _read_key(path: Path) -> SigningKey:
    status = path.stat()
    if status.st_mode & 0o077 or status.st_uid != os.getuid():
        raise ConfigurationError(
            f"the platform CA's key {path} can be read by other users; chmod 600 {path} (and, "
            "if someone may have copied it, make a new CA: anyone holding it can certify keys)"
        )
    try:
        return SigningKey.from_bytes(path.read_bytes())
    except ValueError:
        raise ConfigurationError(
            f"the platform CA's key {path} is corrupt (expected {SIGNING_KEY_SIZE} bytes)"
        ) from None


def _create_once(path: Path, content: bytes, *, mode: int = 0o600) -> None:
    """Write ``path`` with ``content`` unless it exists: whoever links first wins, and nobody
    ever sees a partial file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # whatever the umask took away or left
        # FileExistsError: another process made it first, and theirs is the one.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
