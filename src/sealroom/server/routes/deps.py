"""Request dependencies: the platform, the authenticated principal and the names in paths.

A request is authenticated by an API token (``Authorization: Bearer``, the SDK's and the CLI's
way) or by the web app's session cookie (the pages' JavaScript calls the same API); the token
wins when both are sent. A cookie-authenticated unsafe request must also carry the session's
CSRF token in ``X-CSRF-Token`` and come from this server's origin (``server/sessions.py``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from sealroom.errors import AuthenticationError
from sealroom.model.definition import MAX_NODE_NAME_LENGTH, NODE_NAME_PATTERN
from sealroom.model.principal import Principal
from sealroom.model.signed_actions import PROOF_HEADER, ActionProof
from sealroom.server.accounts import authenticate
from sealroom.server.observability import note_user
from sealroom.server.platform import Platform
from sealroom.server.sessions import (
    CSRF_HEADER,
    SESSION_COOKIE,
    UNSAFE_METHODS,
    check_unsafe_request,
    current_session,
)

# Declared so that the OpenAPI document says which operations need a token (and answer 401);
# a missing or malformed header is refused below with the API's own problem response.
_bearer = HTTPBearer(auto_error=False, description="an API token from `sealroom user add`")
_session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="WebSession",
    description="the web app's session (log in at /login); POST, PUT, PATCH and DELETE also "
    f"need the session's CSRF token in the {CSRF_HEADER} header",
)


def _platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


# Dependencies that do no I/O are ``async``: FastAPI runs a plain ``def`` dependency in the
# thread pool, and each such hop cost up to a millisecond per request while a job ran.
async def get_platform(request: Request) -> Platform:
    return _platform(request)


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    session_cookie: Annotated[str | None, Depends(_session_cookie)],
) -> str:
    """The e-mail of the caller, by API token, else by session cookie (see the module)."""
    platform = _platform(request)
    if credentials is not None:
        email = authenticate(platform.store, credentials.credentials.strip())
        if email is None:
            raise AuthenticationError("unknown or revoked API token")
        note_user(request.scope, email)
        return email
    if session_cookie is not None:
        session = current_session(platform, request)
        if session is None:
            raise AuthenticationError("the session has ended (logged out or expired): log in")
        note_user(request.scope, session.email)
        if request.method in UNSAFE_METHODS:
            check_unsafe_request(request, session, request.headers.get(CSRF_HEADER))
        return session.email
    raise AuthenticationError("missing API token: send 'Authorization: Bearer <token>'")


async def current_principal(
    user: Annotated[str, Depends(current_user)],
    proof: Annotated[
        str | None,
        Header(
            alias=PROOF_HEADER,
            description="the participant's own signature of the action (the SDK adds it); the "
            "core refuses an action a participant signs without it",
        ),
    ] = None,
) -> Principal:
    """The authenticated user as the core's :class:`~sealroom.model.principal.Principal`, with
    the signature they sent (the core verifies it; the host only relays it)."""
    principal = Principal.of(user)
    return principal if proof is None else principal.with_proof(ActionProof.from_header(proof))


PlatformDep = Annotated[Platform, Depends(get_platform)]
UserDep = Annotated[str, Depends(current_user)]
#: For routes that relay to the core: who the host authenticated, as the core takes it.
PrincipalDep = Annotated[Principal, Depends(current_principal)]
#: A node name in a path, checked like a room definition checks it (400 otherwise): a 3,000
#: character or control-character name once reached the core's audit log and answered 500.
NodeInPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=MAX_NODE_NAME_LENGTH,
        pattern=NODE_NAME_PATTERN.pattern,
        description="a node name of the room's definition",
    ),
]
