"""Logging in to the web app, and the pages' dependency on a logged-in person.

A person logs in with their e-mail and one of their API tokens (``sealroom user add`` prints
one; the seed's guide names the fields "Email" and "Token"). The server opens a session
(``server/sessions.py``: a random id in an HttpOnly, SameSite=Strict cookie, only its hash
stored) and every page then depends on :data:`WebUserDep`, which answers a redirect to the log in
page when there is no valid session.

Invariants:

* A failed log in says the same whether or not the e-mail has an account (401, no session).
* Logging in always opens a new session (the old one, if the browser had one, is deleted): a
  session id planted before log in is worth nothing after.
* ``next`` after log in is a path of this server only (no scheme, no host, no ``//``): an
  attacker's link to ``/login?next=//evil.example`` lands on ``/``.
* The cookie is ``Secure`` when the request came over HTTPS. Over plain HTTP it cannot be:
  Chromium keeps a Secure cookie set by http://127.0.0.1 (it treats loopback as trustworthy),
  but Firefox and Safari drop it, so the one place plain HTTP is fine (loopback) would not work.
  Anywhere else the web app needs HTTPS anyway (WebCrypto needs a secure context).
* Unsafe page requests (the log out form, the pages' own forms) need the session's CSRF token
  (hidden field ``csrf_token`` or header ``X-CSRF-Token``) and this server's origin; the log in
  form itself is refused from another origin (login CSRF: being logged in as the attacker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from sealroom._version import __version__
from sealroom.errors import AuthenticationError
from sealroom.model.principal import normalise_email
from sealroom.server.accounts import authenticate
from sealroom.server.problems import problem_for
from sealroom.server.routes.deps import PlatformDep, get_platform
from sealroom.server.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    UNSAFE_METHODS,
    Session,
    check_same_origin,
    check_unsafe_request,
    close_session,
    current_session,
    open_session,
)
from sealroom.server.web import TEMPLATE_DIR
from sealroom.server.web.security import install_security_headers

__all__ = ["WebUser", "WebUserDep", "install_auth", "page_context", "router", "safe_next"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATE_DIR)

#: The wire code of "this page needs a logged-in person" (an AuthenticationError, 401): the
#: handler installed by :func:`install_auth` turns it into a redirect to the log in page.
LOGIN_REQUIRED: Final = "login_required"
LOGIN_FAILED_MESSAGE: Final = (
    "That e-mail and token do not match an account. Check both (the token starts with sr_), or "
    "ask the operator of this server for a new token."
)
#: Longest accepted inputs: an e-mail as the accounts table holds it, a token with room to spare.
_MAX_EMAIL: Final = 254
_MAX_TOKEN: Final = 200
_MAX_NEXT: Final = 2000


@dataclass(frozen=True)
class WebUser:
    """The logged-in person of a page; renders as their e-mail in templates."""

    email: str
    csrf_token: str

    def __str__(self) -> str:
        return self.email


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this server, else ``/`` (no open redirect).

    Refused: anything with a scheme or host, ``//host`` and ``/\\host`` (browsers read a
    backslash as a slash), and control characters."""
    if not target or len(target) > _MAX_NEXT or not target.startswith("/"):
        return "/"
    if target.startswith("//") or "\\" in target or not target.isprintable():
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def page_context(request: Request, user: WebUser | None, **extra: Any) -> dict[str, Any]:
    """The context ``base.html`` expects (``title``, ``user``, ``csrf_token``, ``nav``,
    ``version``), plus ``extra``, which may override ``title`` and ``nav``."""
    context: dict[str, Any] = {
        "request": request,
        "title": "Sealroom",
        "user": user,
        "csrf_token": user.csrf_token if user is not None else None,
        "nav": None,
        "version": __version__,
    }
    context.update(extra)
    return context


async def _sent_csrf_token(request: Request) -> str | None:
    """The CSRF token an unsafe page request sent: the header, else the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        # Starlette keeps the parsed form: the route's own Form parameters read it again.
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def web_user(request: Request) -> WebUser:
    """The logged-in person, or a redirect to the log in page (see :func:`install_auth`).

    For an unsafe method the CSRF token and the origin are checked too (403)."""
    platform = await get_platform(request)
    session: Session | None = await run_in_threadpool(current_session, platform, request)
    if session is None:
        raise AuthenticationError("log in to see this page", code=LOGIN_REQUIRED)
    if request.method in UNSAFE_METHODS:
        check_unsafe_request(request, session, await _sent_csrf_token(request))
    return WebUser(session.email, session.csrf_token)


#: For pages: ``user: WebUserDep``.
WebUserDep = Annotated[WebUser, Depends(web_user)]


def _login_page(
    request: Request, *, next_path: str, email: str = "", error: str | None = None
) -> HTMLResponse:
    context = page_context(
        request, None, title="Log in", email=email, error=error, next_path=next_path
    )
    return templates.TemplateResponse(
        request, "login.html", context, status_code=200 if error is None else 401
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    platform: PlatformDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=_MAX_NEXT)] = None,
) -> Response:
    if current_session(platform, request) is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return _login_page(request, next_path=safe_next(next_path))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    platform: PlatformDep,
    email: Annotated[str, Form(max_length=_MAX_EMAIL)] = "",
    token: Annotated[str, Form(max_length=_MAX_TOKEN)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=_MAX_NEXT)] = "/",
) -> Response:
    check_same_origin(request)  # login CSRF: no one logs a victim in as someone else
    target = safe_next(next_path)
    owner = authenticate(platform.store, token.strip())
    # The same answer whether the e-mail is unknown or the token is someone else's.
    if owner is None or owner != normalise_email(email.strip()):
        return _login_page(request, next_path=target, email=email, error=LOGIN_FAILED_MESSAGE)
    close_session(platform, request)  # a session the browser had before is not reused
    session_id, _ = open_session(platform, owner, token.strip())
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(platform.settings.web_session_lifetime_seconds),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
def logout(request: Request, platform: PlatformDep, user: WebUserDep) -> Response:
    """End the session on the server (the cookie is worth nothing after) and clear it."""
    del user  # checked the CSRF token and the origin
    close_session(platform, request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def _login_redirect(request: Request) -> Response:
    """Where a page without a valid session sends the browser: the log in page, then back."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login"
    if request.method == "GET" and here != "/":
        location += "?next=" + quote(safe_next(here), safe="/")
    if request.headers.get("hx-request") == "true":
        # htmx would follow a 303 and swap the log in page into a fragment: ask it to navigate.
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def install_auth(app: FastAPI) -> None:
    """Add the log in and log out routes, the login redirect of pages, and the security
    headers of every response to ``app``."""

    @app.exception_handler(AuthenticationError)
    async def _authentication_error(request: Request, exc: AuthenticationError) -> Response:
        if exc.code == LOGIN_REQUIRED:
            return _login_redirect(request)
        return problem_for(exc)

    app.include_router(router)
    install_security_headers(app)
