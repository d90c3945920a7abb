"""A large CSV through the provisioning wizard: encrypted in a Web Worker, streaming (issue 19:
"a 1 GB file neither freezes the page nor loads into memory"). CI uses 48 MiB, enough for many
chunks and for a frozen page or a file read whole to show; bench/web_upload.py runs 1 GiB.

While the worker encrypts and uploads, a timer on the page must keep ticking (the main thread is
free) and the page's JavaScript heap must stay far below the file's size (the page never holds
the file: the worker reads it slice by slice).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

import sealroom as sr
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import BANK, ServerProcess, start_server, stop_server
from tests.integration.web_session import artifacts_for, person

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

FILE_BYTES = 48 << 20

TEMPLATE = {
    "format": "sealroom/room-definition",
    "version": 2,
    "name": "Events",
    "nodes": [
        {
            "kind": "table",
            "name": "events",
            "columns": [
                {"name": "id", "format_type": "INTEGER", "is_nullable": False},
                {"name": "label", "format_type": "STRING"},
            ],
        }
    ],
    "participants": [{"email": BANK, "data_owner_of": ["events"]}],
}


def write_csv(path: Path, size: int) -> int:
    """A CSV of about ``size`` bytes with a header in another order than the table's (so the
    worker rewrites every record while it encrypts); returns its number of rows."""
    rows = 0
    with path.open("w") as out:
        out.write("label,id\n")
        written = 9
        block = []
        while written < size:
            line = f"event label number {rows:012d},{rows}\n"
            block.append(line)
            written += len(line)
            rows += 1
            if len(block) == 10_000:
                out.write("".join(block))
                block.clear()
        out.write("".join(block))
    return rows


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("streaming"))
    try:
        yield started
    finally:
        stop_server(started)


def test_a_large_csv_streams_through_the_worker_without_freezing_the_page(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    token = server.add_user(BANK)
    client = sr.create_client(BANK, token, api_url=server.url, state_dir=tmp_path / "sdk")
    room = client.create_dcr_from_json(json.dumps(TEMPLATE))
    csv_path = tmp_path / "events.csv"
    rows = write_csv(csv_path, FILE_BYTES)
    shots = artifacts_for(request.node.name)
    with person(chromium, server.url, BANK, token, shots) as bank:
        page = bank.page
        page.goto(f"{server.url}/rooms/{room.id}/actions")
        card = page.locator("[data-dataset-node='events']")
        card.get_by_role("button", name="Provision dataset").click()
        card.get_by_label("1. Choose a CSV file").set_input_files(str(csv_path))
        expect(card.locator("[data-mapping]")).to_be_visible()
        # A watchdog on the page's main thread: the longest gap between 20 ms ticks, and the
        # largest JavaScript heap seen (Chromium's performance.memory).
        page.evaluate(
            """() => { window.__watch = {last: performance.now(), gap: 0, heap: 0};
                 window.__timer = setInterval(() => {
                   const now = performance.now(), w = window.__watch;
                   w.gap = Math.max(w.gap, now - w.last); w.last = now;
                   w.heap = Math.max(w.heap, performance.memory.usedJSHeapSize); }, 20); }"""
        )
        card.get_by_role("button", name="Encrypt, upload and publish").click()
        expect(card.locator("[data-report='PASSED']")).to_be_visible(timeout=300_000)
        watch = page.evaluate("() => { clearInterval(window.__timer); return window.__watch; }")
        bank.shot("published")
    report = client.session().get_validation_report(room.id, "events")["report"]
    assert report["numRowsTotal"] == rows
    # Measured here: gaps up to ~0.4 s on a loaded 2-core machine (the server validating, the
    # worker encrypting). Rewriting and encrypting even one 8 MiB chunk on the main thread takes
    # longer than a second, so a page doing the work itself fails this.
    assert watch["gap"] < 1000, f"the page froze for {watch['gap']:.0f} ms"
    assert watch["heap"] < FILE_BYTES / 3, f"the page's heap reached {watch['heap']} bytes"
