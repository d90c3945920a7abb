"""The pages of the web app (HTML), rendered on the server from the host's own records.

What a page shows from the host could be forged; what matters is verified again in the browser
before it is shown as fact (the room id is the hash of the definition text, the core's
signatures, the audit log's checkpoint). So the room pages are shells: the server renders the
navigation and the forms, and the bundle fills in what it fetched from the API and verified.
A room the user takes no part in answers 404, as the API does (default deny).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from sealroom.attestation import enclave_specifications
from sealroom.errors import NotFoundError
from sealroom.model.records import RoomRecord
from sealroom.server.routes.datasets import _dataset_out
from sealroom.server.routes.deps import PlatformDep
from sealroom.server.web import TEMPLATE_DIR
from sealroom.server.web.auth import WebUserDep, page_context

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATE_DIR)


def _iso_time(ms: int) -> str:
    """UTC, to the minute: when a room or dataset was made (the browser may localise it)."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _filesize(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


templates.env.filters["iso_time"] = _iso_time
templates.env.filters["filesize"] = _filesize

#: The tabs of a room, as the seed's guide names them, in its order.
ROOM_TABS: Final = (
    ("overview", "Overview"),
    ("actions", "Actions"),
    ("development", "Development"),
    ("requests", "Requests"),
    ("audit", "Audit log"),
)

#: Rooms that the media and DataLab SDKs make say so at the start of their description (part of
#: the room id), and get a page of their own, first. These are ``sealroom.media.config.MARKER``
#: and ``sealroom.data_lab.layout.MARKER``, written out so that the server does not import the
#: SDK (tests/integration/test_web_media.py checks that they agree). The host's record only
#: picks the navigation here: the page reads the configuration from the definition it verified.
KIND_TABS: Final = (
    ("sealroom.media v1 ", ("media", "Media")),
    ("sealroom.data_lab v1 ", ("data-lab", "DataLab")),
)


def room_tabs(record: RoomRecord) -> tuple[tuple[str, str], ...]:
    """The tabs of this room: its kind's own page first, if it has one, then the guide's."""
    try:
        definition = json.loads(record.definition)
    except ValueError:
        return ROOM_TABS
    description = definition.get("description") if isinstance(definition, dict) else None
    for marker, tab in KIND_TABS:
        if isinstance(description, str) and description.startswith(marker):
            return (tab, *ROOM_TABS)
    return ROOM_TABS


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: WebUserDep, platform: PlatformDep) -> HTMLResponse:
    rooms = platform.store.rooms_for(user.email)
    return templates.TemplateResponse(
        request,
        "home.html",
        page_context(request, user, title="Data clean rooms", nav="rooms", rooms=rooms),
    )


@router.get("/rooms/new", response_class=HTMLResponse)
def new_room(request: Request, user: WebUserDep) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "new_room.html",
        page_context(request, user, title="New data clean room", nav="rooms"),
    )


@router.get("/rooms/{room_id}")
def room(room_id: str, user: WebUserDep, platform: PlatformDep) -> Response:
    first, _ = room_tabs(_room_record(platform, room_id, user.email))[0]
    return RedirectResponse(f"/rooms/{room_id}/{first}", status_code=303)


@router.get("/rooms/{room_id}/{tab}", response_class=HTMLResponse)
def room_tab(
    request: Request, room_id: str, tab: str, user: WebUserDep, platform: PlatformDep
) -> HTMLResponse:
    record = _room_record(platform, room_id, user.email)
    tabs = room_tabs(record)
    if tab not in dict(tabs):
        raise NotFoundError(f"this room has no page {tab!r}")
    return templates.TemplateResponse(
        request,
        "room.html",
        page_context(
            request,
            user,
            title=f"{dict(tabs)[tab]} · {record.name}",
            nav="rooms",
            room=record,
            tab=tab,
            tabs=tabs,
        ),
    )


@router.get("/web/enclave-specifications.json")
def specifications(user: WebUserDep) -> JSONResponse:
    """The cores this installation's SDK would trust (``enclave_specifications.latest()``), for
    the browser's attestation check. The page's code comes from this server too: a browser
    trusts the server for the code and this list, as an SDK user trusts their installed SDK.
    Anyone can check the same server independently with ``sealroom attest``."""
    specs = enclave_specifications.latest().values()
    return JSONResponse([spec.to_dict() for spec in specs])


@router.get("/keys", response_class=HTMLResponse)
def keys(request: Request, user: WebUserDep) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "keys.html", page_context(request, user, title="Your signing key", nav="keys")
    )


@router.get("/datasets", response_class=HTMLResponse)
def datasets(request: Request, user: WebUserDep, platform: PlatformDep) -> HTMLResponse:
    records = [_dataset_out(r, platform) for r in platform.store.list_datasets(user.email)]
    rooms = {room.id: room.name for room in platform.store.rooms_for(user.email)}
    return templates.TemplateResponse(
        request,
        "datasets.html",
        page_context(
            request, user, title="Datasets", nav="datasets", datasets=records, room_names=rooms
        ),
    )


def _room_record(platform: PlatformDep, room_id: str, email: str) -> RoomRecord:
    for record in platform.store.rooms_for(email):
        if record.id == room_id:
            return record
    raise NotFoundError(f"no room {room_id} that you take part in")
