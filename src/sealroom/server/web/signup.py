"""The sign-up pages: ``/signup/{token}`` (the one-time link of an invitation, or of the domain
sign-up form) and ``/signup`` (that form, under the ``domains`` policy).

Nobody is logged in here: the token in the path is the credential. So:

* a GET never changes anything (it shows the address and the rooms, and a button);
* the POST that creates the account refuses requests another site made (``Sec-Fetch-Site``
  cross-site, or an ``Origin`` that is not this server), so a page elsewhere cannot spend a
  link it learnt;
* the token is never echoed in an error or a log (the path is matched by hand, not by a
  validator that would quote it); pages carrying it are ``Cache-Control: no-store`` — the page
  showing the new API token above all — and the app's ``Referrer-Policy: same-origin`` keeps
  the link's URL from other sites.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from sealroom._version import __version__
from sealroom.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RequestError,
)
from sealroom.server.invitations import (
    LINK_EXPIRED,
    LINK_USED,
    SIGNUP_TOKEN_PATTERN,
    invitation_service,
)
from sealroom.server.web import TEMPLATE_DIR

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATE_DIR)

_TOKEN = re.compile(SIGNUP_TOKEN_PATTERN)
#: Headers of every sign-up page: the URL holds a credential, and one page shows another.
_PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}


def _page(request: Request, status: int, **context: Any) -> HTMLResponse:
    values = {
        "title": "Sign up",
        "user": None,
        "csrf_token": None,
        "nav": None,
        "version": __version__,
        **context,
    }
    response = templates.TemplateResponse(request, "signup.html", values, status_code=status)
    response.headers.update(_PRIVATE_HEADERS)
    return response


def _error_page(request: Request, exc: RequestError) -> HTMLResponse:
    status = exc.status
    if isinstance(exc, ConflictError) and exc.code in (LINK_USED, LINK_EXPIRED):
        status = 410  # Gone: the link will never work again
    title = {
        404: "Sign-up link not valid",
        410: "Sign-up link no longer valid",
        403: "Sign-up not possible",
        409: "Account already exists",
    }.get(status, "Sign-up not possible")
    return _page(request, status, state="error", title=title, message=str(exc))


def _cross_site(request: Request) -> bool:
    """Whether another site made this request.

    ``Sec-Fetch-Site`` decides when the browser sends it: with ``Referrer-Policy: no-referrer``
    a same-origin form post carries ``Origin: null``, so the origin alone cannot. Without it
    (an older browser), an ``Origin`` must be this server's (compared with the Host header the
    browser sent); ``null`` is refused there, as a sandboxed frame elsewhere sends it too."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False  # not a browser, or one that sends neither: no cookie is at stake
    return origin == "null" or urlsplit(origin).netloc != request.headers.get("host", "")


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request) -> HTMLResponse:
    policy = invitation_service(request.app).policy
    refusal = policy.open_form_refusal()
    return _page(
        request,
        200,
        state="request",
        open_form=refusal is None,
        domains=sorted(policy.domains),
        message=refusal,
    )


@router.post("/signup", response_class=HTMLResponse)
def request_signup_link(
    request: Request, email: Annotated[str, Form(max_length=254)]
) -> HTMLResponse:
    if _cross_site(request):
        return _error_page(request, PermissionDeniedError("Refused: sent by another site."))
    service = invitation_service(request.app)
    try:
        service.request_domain_signup(email)
    except (BadRequestError, PermissionDeniedError) as exc:
        return _error_page(request, exc)
    return _page(request, 200, state="requested", email=email.strip().lower())


@router.get("/signup/{token}", response_class=HTMLResponse)
def signup_link(request: Request, token: str) -> HTMLResponse:
    if not _TOKEN.fullmatch(token):
        return _error_page(request, NotFoundError("This sign-up link is not valid."))
    try:
        record, invitations = invitation_service(request.app).check_link(token)
    except RequestError as exc:
        return _error_page(request, exc)
    return _page(request, 200, state="confirm", email=record.email, invitations=invitations)


@router.post("/signup/{token}", response_class=HTMLResponse)
def create_account(request: Request, token: str) -> HTMLResponse:
    if not _TOKEN.fullmatch(token):
        return _error_page(request, NotFoundError("This sign-up link is not valid."))
    if _cross_site(request):
        return _error_page(request, PermissionDeniedError("Refused: sent by another site."))
    try:
        account = invitation_service(request.app).complete_signup(token)
    except RequestError as exc:
        return _error_page(request, exc)
    return _page(
        request,
        201,
        state="created",
        title="Your account",
        email=account.email,
        api_token=account.api_token,
    )
