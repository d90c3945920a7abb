"""One JSON error shape for the whole API: RFC 9457 problem details with a stable ``code``.

A :class:`~sealroom.errors.SealroomError` is answered under its class's status with its
``code`` and message (:func:`problem_for`), from which the SDK rebuilds the same class
(:func:`sealroom.errors.error_for_code`); messages of Sealroom's errors never carry data values.
Internal errors, and Sealroom's errors that never cross the wire, are answered with a generic
message; their details are logged by type only, because an exception message may contain data.

The OpenAPI document says the same as the handlers (:func:`document_problems`): every operation
lists the error statuses it may answer, each with the one :class:`Problem` body, and none lists
FastAPI's default 422, which this API never answers (an invalid request is a 400, like every
other refusal of input, so that a client handles one status and one body).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from sealroom.errors import SealroomError, ServerError, VerificationError, crosses_the_wire

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "document_problems",
    "install_problem_handlers",
    "problem_for",
]

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"


class Problem(BaseModel):
    """The body of every error response (RFC 9457 problem details, plus a stable ``code``)."""

    type: str = Field(description="a URI naming the problem: https://sealroom.dev/problems/{code}")
    title: str = Field(description="the code in words")
    status: int = Field(description="the HTTP status, repeated")
    detail: str = Field(
        description="what went wrong, naming rooms, nodes, jobs and limits, never data values"
    )
    code: str = Field(
        description="stable wire code: an exception class's, or a more specific one within the "
        "class the status names; the SDK raises one exception class per code"
    )


#: Error statuses any operation may answer.
_EVERY_OPERATION: Final = {
    400: "Invalid request: a malformed path, query or body parameter, or input the core refuses",
    404: "Not found, or not to be known to the caller",
    413: "The request body is larger than the server accepts (max_json_bytes)",
    500: "An internal error or a failed integrity check; the detail says no more",
}
#: Error statuses an operation that needs an API token may answer as well.
_AUTHENTICATED_OPERATION: Final = {
    401: "Missing, unknown or revoked API token",
    403: "The caller may not do this (the detail says why)",
    409: "The state forbids it: room stopped, job not finished, upload complete …",
    429: "A rate limit or a bound on unfinished jobs; try again later",
}


def problem(
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"https://sealroom.dev/problems/{code}",
        title=title or code.replace("_", " "),
        status=status,
        detail=detail,
        code=code,
    )
    return JSONResponse(
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        content=body.model_dump(),
        headers=headers,
    )


def problem_for(exc: SealroomError) -> JSONResponse:
    """The problem document of one of Sealroom's errors: its status, code and message.

    An error that never crosses the wire (:func:`~sealroom.errors.crosses_the_wire`: the core's
    job failures, configuration, the SDK's own) reaching here is a bug: an internal error.
    """
    if not crosses_the_wire(type(exc)):
        logger.error("internal error: %s", type(exc).__name__)
        return problem(ServerError.status, ServerError.code, "internal server error")
    if isinstance(exc, VerificationError):
        logger.error("integrity check failed: %s", exc)
    return problem(exc.status, exc.code, str(exc))


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(SealroomError)
    async def _sealroom_error(_: Request, exc: SealroomError) -> JSONResponse:
        return problem_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors()[:5]:
            location = ".".join(str(p) for p in error.get("loc", ()))
            parts.append(f"{location}: {error.get('msg', 'invalid')}")
        return problem(400, "bad_request", "invalid request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # RFC 9110 §15.5.6: a 405 lists every method of the resource. Starlette's lists
            # those of one route, and FastAPI makes a route per method (GET and DELETE …).
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(DataError)
    async def _data_error(_: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot hold, from the request (PostgreSQL refuses the NUL
        # character in text, which SQLite stores): the client's to fix. The database's own
        # message quotes the value, so it is not passed on.
        logger.info("refused a value the database cannot store: %s", type(exc.orig).__name__)
        return problem(
            400,
            "bad_request",
            "a value of the request cannot be stored (text may not contain the NUL character, "
            "U+0000; numbers must fit 64 bits)",
        )

    @app.exception_handler(Exception)
    async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
        logger.error("internal error: %s", type(exc).__name__)
        return problem(500, "server_error", "internal server error")


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


def document_problems(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document list the error responses its handlers give.

    Operations that declare the bearer token (see ``routes.deps``) also list 401, 403, 409 and
    429. FastAPI's 422 and its ValidationError schemas are removed: no handler answers them.
    """
    generate = app.openapi
    document: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal document
        if document is None:
            document = _declare_problems(generate())
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_problems(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = Problem.model_json_schema()
    for path in document["paths"].values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            errors = dict(_EVERY_OPERATION)
            if operation.get("security"):
                errors.update(_AUTHENTICATED_OPERATION)
            for status, description in sorted(errors.items()):
                schema = {"$ref": "#/components/schemas/Problem"}
                responses.setdefault(
                    str(status),
                    {
                        "description": description,
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
                    },
                )
    return document
