"""A bound on request bodies, enforced before anything reads them (and before authentication).

FastAPI reads a JSON body whole before a route or its dependencies run, so without this a stranger
could make the server hold any number of large bodies (three 80 MB bodies cost about 460 MiB).
The middleware answers 413 at once when ``Content-Length`` says the body is too large, and when a
body sent without one (chunked) grows past the limit while it arrives; nothing past the limit is
kept. Dataset chunks (``PUT /v1/uploads/{id}/chunks/{n}``) stream to the blob store under their
own per-chunk limit and are left to that route.
"""

from __future__ import annotations

import json
import re
from typing import Final

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware"]

_CHUNK_ROUTE: Final = re.compile(r"^/v1/uploads/[^/]+/chunks/[^/]+$")


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with a 413 problem response."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _CHUNK_ROUTE.match(scope["path"]):
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_bytes:
                    # An HTTPException passes FastAPI's body parsing as it is, and the
                    # problem handlers answer it (code body_too_large).
                    raise HTTPException(413, self._detail())
            return message

        await self._app(scope, limited_receive, send)

    def _detail(self) -> str:
        return (
            f"the request body is larger than {self._max_bytes} bytes (max_json_bytes); "
            "datasets are uploaded in chunks"
        )

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "https://sealroom.dev/problems/body_too_large",
                "title": "body too large",
                "status": 413,
                "detail": self._detail(),
                "code": "body_too_large",
            },
            separators=(",", ":"),
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
