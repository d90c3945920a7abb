"""One JSON error shape for the whole API: RFC 9457 problem details with a stable ``code``.

Internal errors are answered with a generic message; their details are logged by type only,
because an exception message may contain data.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sealroom.errors import (
    CryptoError,
    DefinitionError,
    RequestError,
    VerificationError,
)

logger = logging.getLogger(__name__)


def problem(status: int, code: str, detail: str, title: str | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        media_type="application/problem+json",
        content={
            "type": f"https://sealroom.dev/problems/{code}",
            "title": title or code.replace("_", " "),
            "status": status,
            "detail": detail,
            "code": code,
        },
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.message)

    @app.exception_handler(DefinitionError)
    async def _definition_error(_: Request, exc: DefinitionError) -> JSONResponse:
        return problem(400, "invalid_definition", str(exc))

    @app.exception_handler(VerificationError)
    async def _verification_error(_: Request, exc: VerificationError) -> JSONResponse:
        logger.error("integrity check failed: %s", exc)
        return problem(500, "integrity_violation", str(exc))

    @app.exception_handler(CryptoError)
    async def _crypto_error(_: Request, exc: CryptoError) -> JSONResponse:
        return problem(400, "crypto_error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors()[:5]:
            location = ".".join(str(p) for p in error.get("loc", ()))
            parts.append(f"{location}: {error.get('msg', 'invalid')}")
        return problem(400, "bad_request", "invalid request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
            exc.status_code, "http_error"
        )
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
        logger.error("internal error: %s", type(exc).__name__)
        return problem(500, "server_error", "internal server error")
