"""Helpers for the web app's browser tests: a logged-in browser context per person, screenshots
kept as test artifacts, and page checks (no console errors, no horizontal scrolling).

Screenshots go to ``test-artifacts/<test>/`` at the repository root (ignored by git), so that a
CI run leaves them for people to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, expect

from tests.integration.axe import serious_violations

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

#: Viewports the pages must work at: 1280 px wide, and a common laptop screen.
DESKTOP = {"width": 1280, "height": 900}
LAPTOP = {"width": 1366, "height": 768}


@dataclass
class Person:
    """One person's browser context, logged in."""

    email: str
    context: BrowserContext
    page: Page
    shots: Path
    console_errors: list[str] = field(default_factory=list)
    _count: int = 0

    def shot(self, name: str) -> Path:
        """Save a full-page screenshot of this person's page as a numbered artifact."""
        self._count += 1
        who = self.email.split("@")[0]
        path = self.shots / f"{who}-{self._count:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check_accessibility(self, where: str) -> None:
        """axe finds no serious or critical violation on the page as it is now."""
        found = serious_violations(self.page)
        assert found == [], f"{where}: {found}"

    def assert_fits_the_screen(self) -> None:
        """Nothing scrolls sideways at this context's width."""
        overflow = self.page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{self.page.url} scrolls {overflow} px sideways"


def log_in(page: Page, base_url: str, email: str, token: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header .email")).to_have_text(email)


@contextmanager
def person(
    browser: Browser,
    base_url: str,
    email: str,
    token: str,
    shots: Path,
    viewport: dict[str, int] = DESKTOP,
) -> Iterator[Person]:
    context = browser.new_context(viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]
    page = context.new_page()
    someone = Person(email, context, page, shots)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            someone.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: someone.console_errors.append(str(error)))
    try:
        log_in(page, base_url, email, token)
        yield someone
    finally:
        context.close()


def artifacts_for(test_name: str) -> Path:
    path = ARTIFACTS / re.sub(r"[^\w.-]+", "_", test_name)
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- the Requests tab ---------------------------------------------------------------------
def create_request(page: Page, name: str, code: str, minimum: int | None, note: str) -> str:
    """Fill the request form (opened), validate it; returns the validated request id."""
    page.get_by_label("Language").select_option("sql")
    page.get_by_label("Computation name").fill(name)
    page.get_by_label("Code", exact=True).fill(code)
    if minimum is not None:
        page.get_by_label("Privacy filter: minimum rows per result row (SQL, optional)").fill(
            str(minimum)
        )
    page.get_by_label("Note for the approvers").fill(note)
    page.get_by_role("button", name="Validate").click()
    validated = page.locator("[data-validated]")
    expect(validated).to_be_visible(timeout=30_000)
    request_id = validated.get_attribute("data-validated")
    assert request_id is not None
    assert len(request_id) == 64
    return request_id


def request_card(page: Page, request_id: str) -> Locator:
    card = page.locator(f"[data-request-id='{request_id}']")
    expect(card).to_be_visible(timeout=30_000)
    return card


def owners(card: Locator) -> list[list[str]]:
    rows = card.locator("[data-owners] tbody tr")
    return [
        [cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]
