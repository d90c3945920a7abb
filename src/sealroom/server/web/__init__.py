"""The web app (ARCHITECTURE §9): server-rendered pages for the parties who do not write Python.

The pages are rendered from Jinja2 templates and navigated with htmx; what must happen in the
browser — encryption, HPKE sealing, attestation and audit verification, result decryption, the
participant's key — is done by the ES-module bundle in ``static/js`` (built from ``web/`` and
committed; a test rebuilds it byte for byte). The server never receives a plaintext byte or a key
from the browser: the pages call the same ``/v1`` API as the SDK, with the same signatures.

Everything the pages load comes from this server (``/static``); no CDN, no inline script.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "install_web_app"]

STATIC_DIR: Final = Path(__file__).parent / "static"
TEMPLATE_DIR: Final = Path(__file__).parent / "templates"


def install_web_app(app: FastAPI) -> None:
    """Serve the pages and their static files on ``app``."""
    from sealroom.server.web import auth, inbox, pages, signup

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    auth.install_auth(app)  # log in and out, login redirects, security headers
    for module in (signup, inbox):  # sign-up links (no session), the inbox page
        app.include_router(module.router)
