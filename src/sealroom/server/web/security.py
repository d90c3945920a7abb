"""Security headers on every response of the app: pages, API, static files and errors.

The Content-Security-Policy allows only this server's own scripts, styles, connections and
workers: no inline script, no inline style attribute, no eval (htmx is configured without it in
``base.html``), no plugin, no framing, no form posted elsewhere, no ``<base>``. An injected tag
in a page can therefore neither run code nor send what it reads to another site. ``img-src``
also allows ``data:`` and ``blob:`` for charts and previews the bundle draws in the browser.

Pages and API answers are never cached (``no-store``: they carry what one person may see);
static files may be cached but are revalidated (``no-cache``, with the ETag StaticFiles sends),
so that a new bundle is used as soon as the server runs it.
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "SecurityHeadersMiddleware"]

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "worker-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": under it Chromium sends "Origin: null" with the pages' own form posts,
    # and the origin check (server/sessions.py) must refuse null. "same-origin" still sends
    # nothing to another site.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: Over HTTPS only: browsers ignore it over HTTP, and a year is what preload lists ask for.
_HSTS: Final = "max-age=31536000"
_STATIC_PREFIX: Final = "/static/"


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` and a ``Cache-Control`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(_STATIC_PREFIX)
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                # A route's own Cache-Control never loosens no-store: all but static is private.
                headers["Cache-Control"] = "no-cache" if static else "no-store"
                if https:
                    headers["Strict-Transport-Security"] = _HSTS
            await send(message)

        await self._app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI) -> None:
    """Wrap ``app`` in :class:`SecurityHeadersMiddleware` (outermost: errors get them too)."""
    app.add_middleware(SecurityHeadersMiddleware)
