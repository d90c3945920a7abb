"""A large CSV provisioned through the web app's wizard in Chromium, against the SDK doing the
same (encrypt, upload, publish, the core validates) on the same server, in the same run.

Usage: PYTHONPATH=src .venv/bin/python bench/web_upload.py [MiB=1024]

The file has a header row in another order than the table's, so the browser's worker rewrites
every record while it encrypts (the SDK gets the same rows already in the table's format, its
fastest path). Prints both times, their ratio, and what the page's main thread saw during the
browser's upload: the longest gap between 20 ms timer ticks (a frozen page shows here) and the
largest JavaScript heap (a page that read the file whole shows here).

Needs Debian's Chromium (./dev test installs it).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

import sealroom as sr
from sealroom.crypto import Key
from sealroom.errors import SimulatedAttestationWarning
from sealroom.server.accounts import issue_token
from sealroom.server.embedded import EmbeddedServer, free_port
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings

OWNER = "alice@bank.example"
TEMPLATE = {
    "format": "sealroom/room-definition",
    "version": 2,
    "name": "Events",
    "nodes": [
        {
            "kind": "table",
            "name": name,
            "columns": [
                {"name": "id", "format_type": "INTEGER", "is_nullable": False},
                {"name": "label", "format_type": "STRING"},
            ],
        }
        for name in ("by_browser", "by_sdk")
    ],
    "participants": [{"email": OWNER, "data_owner_of": ["by_browser", "by_sdk"]}],
}


def write_files(directory: Path, size: int) -> tuple[Path, Path, int]:
    """The browser's file (header, columns swapped) and the SDK's (the upload format)."""
    browser, sdk = directory / "browser.csv", directory / "sdk.csv"
    rows = 0
    with browser.open("w") as b, sdk.open("w") as s:
        b.write("label,id\n")
        written = 0
        while written < size:
            labels = [f"event label number {i:012d}" for i in range(rows, rows + 10_000)]
            b.write("".join(f"{label},{i}\n" for i, label in enumerate(labels, rows)))
            block = "".join(f"{i},{label}\n" for i, label in enumerate(labels, rows))
            s.write(block)
            written += len(block)
            rows += 10_000
    return browser, sdk, rows


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("Chromium is not installed: ./dev test installs it (apt-get install chromium)")
    work = Path(tempfile.mkdtemp(prefix="sealroom-web-upload-"))
    try:
        browser_csv, sdk_csv, rows = write_files(work, mib << 20)
        print(f"{rows:,} rows, {browser_csv.stat().st_size / 1e6:,.0f} MB")
        settings = Settings(
            data_dir=work / "data", sealing_key_file=work / "sealing.key", port=free_port()
        )
        store = open_store(settings)
        token = issue_token(store, OWNER)
        store.engine.dispose()
        with EmbeddedServer(settings) as server, warnings.catch_warnings():
            warnings.simplefilter("ignore", SimulatedAttestationWarning)
            client = sr.create_client(OWNER, token, api_url=server.url, state_dir=work / "sdk")
            room = client.create_dcr_from_json(json.dumps(TEMPLATE))

            start = time.perf_counter()
            key = Key()
            with sdk_csv.open("rb") as data:
                dataset = client.upload_dataset(data, key, "sdk.csv")
            answer = client.session().publish_dataset(room.id, dataset, "by_sdk", key)
            sdk_seconds = time.perf_counter() - start
            assert answer["validation"] == "PASSED", answer

            browser_seconds, watch = _browser(chromium, server.url, token, room.id, browser_csv)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"SDK (upload format, no rewriting):   {sdk_seconds:7.1f} s")
    print(f"browser wizard (rewrites, worker):   {browser_seconds:7.1f} s")
    print(f"ratio browser / SDK:                 {browser_seconds / sdk_seconds:7.2f}")
    print(
        f"page main thread: longest gap {watch['gap']:.0f} ms, "
        f"heap peak {watch['heap'] / 1e6:.0f} MB"
    )


def _browser(
    chromium: str, url: str, token: str, room_id: str, csv_path: Path
) -> tuple[float, dict[str, float]]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page()
        page.goto(f"{url}/login")
        page.get_by_label("Email").fill(OWNER)
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{url}/rooms/{room_id}/actions")
        card = page.locator("[data-dataset-node='by_browser']")
        card.get_by_role("button", name="Provision dataset").click()
        card.get_by_label("1. Choose a CSV file").set_input_files(str(csv_path))
        expect(card.locator("[data-mapping]")).to_be_visible()
        page.evaluate(
            """() => { window.__watch = {last: performance.now(), gap: 0, heap: 0};
                 window.__timer = setInterval(() => {
                   const now = performance.now(), w = window.__watch;
                   w.gap = Math.max(w.gap, now - w.last); w.last = now;
                   w.heap = Math.max(w.heap, performance.memory.usedJSHeapSize); }, 20); }"""
        )
        start = time.perf_counter()
        card.get_by_role("button", name="Encrypt, upload and publish").click()
        expect(card.locator("[data-report='PASSED']")).to_be_visible(timeout=3_600_000)
        seconds = time.perf_counter() - start
        watch: dict[str, float] = page.evaluate(
            "() => { clearInterval(window.__timer); return window.__watch; }"
        )
        browser.close()
    return seconds, watch


if __name__ == "__main__":
    main()
