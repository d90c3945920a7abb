"""The pages of the web app (HTML), rendered on the server from the host's own records.

What a page shows the host could forge; what matters is checked again in the browser (the room
id is the hash of the definition text, the core's signatures, the audit log's checkpoint), so the
templates hand the browser the raw signed material next to the rendering.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from sealroom.server.web import TEMPLATE_DIR

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATE_DIR)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "home.html", {"title": "Data clean rooms"})
