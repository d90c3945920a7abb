"""Debian's Chromium, driven by Playwright, for the tests of what runs in the browser.

``./dev test`` installs Chromium with apt-get and Playwright with the dev extra. Playwright's own
browser download needs a CDN, so the browser is Debian's (``executable_path``). A test that needs
the browser fails — never skips — when it is missing, saying how to get it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Final

import pytest
from playwright.sync_api import Browser, sync_playwright

__all__ = ["CHROMIUM_ARGS", "chromium"]

#: No sandbox: the tests run as root in CI, where Chromium refuses its own sandbox. No background
#: traffic: the machine has no network but the package registries.
CHROMIUM_ARGS: Final = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
)


# Module scope, never session: while Playwright's sync API is open it keeps an event loop
# running in the main thread (and greenlets under it), which breaks every later test that calls
# asyncio.run() or builds a deep AST.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Chromium is not installed: ./dev test installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()
