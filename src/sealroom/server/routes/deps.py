"""Request dependencies: the platform and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sealroom.errors import AuthenticationError
from sealroom.server.accounts import authenticate
from sealroom.server.platform import Platform


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def current_user(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("missing API token: send 'Authorization: Bearer <token>'")
    email = authenticate(get_platform(request).store, token.strip())
    if email is None:
        raise AuthenticationError("unknown or revoked API token")
    return email


PlatformDep = Annotated[Platform, Depends(get_platform)]
UserDep = Annotated[str, Depends(current_user)]
