"""Browser sessions of the web app: opened by logging in with an e-mail and an API token.

Shared by the pages (``server/web/auth.py``) and the API (``routes/deps.py``), which accepts a
session cookie as well as a bearer token, because the pages' JavaScript calls the same ``/v1``
API as the SDK.

Invariants:

* A session id is 32 random bytes (base64url) in an HttpOnly, SameSite=Strict cookie; the
  database holds only its SHA-256, so a copy of the database opens no session.
* A session ends when logged out, after ``web_session_idle_seconds`` unused, after
  ``web_session_lifetime_seconds`` in all, or when the API token it was opened with is revoked
  (the lookup joins the token table; a revoked token's session is not found).
* An unsafe request (POST, PUT, PATCH, DELETE) authenticated by the cookie must carry the
  session's CSRF token (compared in constant time) and, when the browser says where it comes
  from (``Origin``, ``Sec-Fetch-Site``), come from this server's own origin. SameSite=Strict
  already keeps the cookie off cross-site requests; the token is the second lock, for browsers
  or paths (a sibling site on the same registrable domain) where SameSite does not hold.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request

from sealroom.errors import PermissionDeniedError
from sealroom.model.records import now_ms
from sealroom.server.accounts import token_sha256
from sealroom.server.platform import Platform

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "UNSAFE_METHODS",
    "Session",
    "check_same_origin",
    "check_unsafe_request",
    "close_session",
    "current_session",
    "open_session",
    "own_origin",
]

SESSION_COOKIE: Final = "sealroom_session"
CSRF_HEADER: Final = "X-CSRF-Token"
#: The hidden field of the pages' forms that carries the CSRF token.
CSRF_FIELD: Final = "csrf_token"
UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: A session's last use is written at most this often: the pages call the API many times a
#: minute, and a write per call would serialise them on SQLite for a precision nobody needs.
TOUCH_INTERVAL_MS: Final = 60_000
#: Longer than any cookie this server sets (43 characters); a longer one is not looked up.
_MAX_COOKIE_LENGTH: Final = 100


@dataclass(frozen=True)
class Session:
    """A valid session, as found for a request's cookie."""

    id_sha256: str
    email: str
    csrf_token: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(platform: Platform, email: str, token: str) -> tuple[str, Session]:
    """A new session for ``email``, who just proved ``token``: (the cookie value, the session).

    Sessions past their time are deleted here, so that the table stays as small as the number
    of people logged in."""
    settings = platform.settings
    now = now_ms()
    platform.store.delete_expired_web_sessions(
        idle_since_ms=now - int(settings.web_session_idle_seconds * 1000),
        created_before_ms=now - int(settings.web_session_lifetime_seconds * 1000),
    )
    session_id = secrets.token_urlsafe(32)
    session = Session(_hash(session_id), email, secrets.token_urlsafe(32))
    platform.store.add_web_session(
        session.id_sha256, email, token_sha256(token), session.csrf_token, now
    )
    return session_id, session


def current_session(platform: Platform, request: Request) -> Session | None:
    """The session of ``request``'s cookie, if it is still valid (marking it used)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > _MAX_COOKIE_LENGTH:
        return None
    id_sha256 = _hash(cookie)
    record = platform.store.web_session(id_sha256)
    if record is None:
        return None
    settings = platform.settings
    now = now_ms()
    if (
        now - record.last_seen_at_ms > settings.web_session_idle_seconds * 1000
        or now - record.created_at_ms > settings.web_session_lifetime_seconds * 1000
    ):
        platform.store.delete_web_session(id_sha256)
        return None
    if now - record.last_seen_at_ms >= TOUCH_INTERVAL_MS:
        platform.store.touch_web_session(id_sha256, now)
    return Session(id_sha256, record.email, record.csrf_token)


def close_session(platform: Platform, request: Request) -> None:
    """Delete the session of ``request``'s cookie, if any (logging out)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and len(cookie) <= _MAX_COOKIE_LENGTH:
        platform.store.delete_web_session(_hash(cookie))


def own_origin(request: Request) -> str:
    """This server's origin as the browser addresses it (scheme, host and port)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def check_same_origin(request: Request) -> None:
    """Refuse a request a browser says came from another site (``Origin``, ``Sec-Fetch-Site``).

    Without either header (a non-browser client) the request passes: those two headers are how
    a browser tells, and a non-browser client has no victim's cookie to abuse."""
    origin = request.headers.get("origin")
    if origin is not None and origin != own_origin(request):
        raise PermissionDeniedError(
            "refused: the request came from another origin than this server's",
            code="cross_origin_refused",
        )
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise PermissionDeniedError(
            f"refused: the browser says the request is {site}", code="cross_origin_refused"
        )


def check_unsafe_request(request: Request, session: Session, sent_token: str | None) -> None:
    """Refuse an unsafe cookie-authenticated request that is cross-origin or lacks the
    session's CSRF token (form field or ``X-CSRF-Token`` header)."""
    check_same_origin(request)
    if sent_token is None:
        raise PermissionDeniedError(
            f"refused: a request authenticated by the session cookie must send the "
            f"{CSRF_HEADER} header (or the {CSRF_FIELD} form field)",
            code="csrf_token_missing",
        )
    if not hmac.compare_digest(sent_token.encode(), session.csrf_token.encode()):
        raise PermissionDeniedError(
            "refused: the CSRF token is not this session's", code="csrf_token_invalid"
        )
