"""The inbox page (``/inbox``): the rooms a person is invited to or takes part in, and the
requests awaiting their approval — :func:`sealroom.server.routes.inbox.build_inbox` rendered.

The host's records, for navigation: opening a room or a request shows what the browser
verifies (the room's signature, the requests as the core describes them).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from sealroom.server.routes.deps import PlatformDep
from sealroom.server.routes.inbox import build_inbox
from sealroom.server.web import TEMPLATE_DIR
from sealroom.server.web.auth import WebUserDep, page_context

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATE_DIR)


def _iso_time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["iso_time"] = _iso_time


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(request: Request, platform: PlatformDep, user: WebUserDep) -> HTMLResponse:
    inbox = await run_in_threadpool(build_inbox, platform, user.email)
    context = page_context(request, user, title="Inbox", nav="inbox", inbox=inbox)
    return templates.TemplateResponse(request, "inbox.html", context)
