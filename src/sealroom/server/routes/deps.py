"""Request dependencies: the platform, the authenticated principal and the names in paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sealroom.errors import AuthenticationError
from sealroom.model.definition import MAX_NODE_NAME_LENGTH, NODE_NAME_PATTERN
from sealroom.model.principal import Principal
from sealroom.model.signed_actions import PROOF_HEADER, ActionProof
from sealroom.server.accounts import authenticate
from sealroom.server.platform import Platform

# Declared so that the OpenAPI document says which operations need a token (and answer 401);
# a missing or malformed header is refused below with the API's own problem response.
_bearer = HTTPBearer(auto_error=False, description="an API token from `sealroom user add`")


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
) -> str:
    if credentials is None:
        raise AuthenticationError("missing API token: send 'Authorization: Bearer <token>'")
    email = authenticate(_platform(request).store, credentials.credentials.strip())
    if email is None:
        raise AuthenticationError("unknown or revoked API token")
    return email


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
