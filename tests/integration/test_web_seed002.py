"""Seed 002 end to end in a real browser (issue 19): a bank and an insurer who do not write
Python build their overlap room in the web app, provision their CSVs through the wizard, and an
analyst runs the overlap — three browser contexts, three people, one real server.

Every step saves a screenshot under ``test-artifacts/``. What the browser sends is checked where
it lands: after the uploads, no file of the server's data directory holds any customer's e-mail
(each carries a unique marker), and the number the analyst sees is the true overlap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    ServerProcess,
    start_server,
    stop_server,
)
from tests.integration.seed002 import (
    BY_PRODUCT,
    BY_PRODUCT_SQL,
    MARKER,
    OVERLAP,
    TEMPLATE,
    bank_csv,
    insurer_csv,
)
from tests.integration.web_session import (
    LAPTOP,
    Person,
    artifacts_for,
    create_request,
    person,
    request_card,
)

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("seed002"))
    try:
        yield started
    finally:
        stop_server(started)


def provision(owner: Person, room_id: str, node: str, csv_path: Path, base_url: str) -> None:
    page = owner.page
    page.goto(f"{base_url}/rooms/{room_id}/actions")
    card = page.locator(f"[data-dataset-node='{node}']")
    expect(card).to_be_visible(timeout=30_000)
    card.get_by_role("button", name="Provision dataset").click()
    card.get_by_label("1. Choose a CSV file").set_input_files(str(csv_path))
    expect(card.locator("[data-mapping]")).to_be_visible()
    owner.shot(f"{node}-mapping")
    owner.check_accessibility(f"{node} wizard")
    card.get_by_role("button", name="Encrypt, upload and publish").click()
    expect(card.locator("[data-report='PASSED']")).to_be_visible(timeout=60_000)
    owner.shot(f"{node}-published")


def test_seed_002_overlap_in_three_browsers(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    tokens = {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}
    template = tmp_path / "overlap.json"
    template.write_text(json.dumps(TEMPLATE, indent=2))
    (tmp_path / "bank.csv").write_text(bank_csv())
    (tmp_path / "insurer.csv").write_text(insurer_csv())
    url = server.url

    with (
        person(chromium, url, BANK, tokens[BANK], shots) as bank,
        person(chromium, url, INSURER, tokens[INSURER], shots, viewport=LAPTOP) as insurer,
        person(chromium, url, ANALYST, tokens[ANALYST], shots) as analyst,
    ):
        # Step 2: the bank creates the room from the JSON template.
        page: Page = bank.page
        bank.shot("home")
        bank.check_accessibility("home")
        page.get_by_role("link", name="New data clean room").click()
        page.get_by_label("JSON template", exact=True).set_input_files(str(template))
        page.get_by_role("button", name="Continue").click()
        draft_id = page.locator("[data-draft-room-id]")
        expect(draft_id).to_be_visible(timeout=30_000)
        bank.shot("draft")
        page.get_by_role("button", name="Test all computations").click()
        expect(
            page.locator("[data-test-node='overlap'][data-test-status='success']")
        ).to_be_visible(timeout=60_000)
        expect(page.locator("[data-test-node='overlap']")).to_contain_text("overlapping_customers")
        bank.shot("tested")
        bank.check_accessibility("draft")
        room_id = draft_id.inner_text().strip()
        page.get_by_role("button", name="Encrypt and publish").click()
        page.wait_for_url(f"**/rooms/{room_id}/overview", timeout=30_000)
        expect(page.locator("[data-verified='room']")).to_be_visible(timeout=30_000)
        expect(page.locator("[data-attestation='simulated']")).to_be_visible()
        bank.shot("overview")
        bank.check_accessibility("overview")
        bank.assert_fits_the_screen()

        # Step 7: each owner provisions their CSV through the wizard.
        provision(bank, room_id, "bank_customers", tmp_path / "bank.csv", url)
        insurer.page.goto(f"{url}/")
        insurer.page.get_by_role("link", name=TEMPLATE["name"]).click()  # type: ignore[arg-type]
        expect(insurer.page.locator("[data-verified='room']")).to_be_visible(timeout=30_000)
        provision(insurer, room_id, "insurer_customers", tmp_path / "insurer.csv", url)
        insurer.assert_fits_the_screen()

        # Nothing the browsers uploaded is readable on the server: no customer e-mail anywhere.
        for path in server.data_dir.rglob("*"):
            if path.is_file():
                assert MARKER.encode() not in path.read_bytes(), f"{path} holds plaintext"

        # The analyst runs the overlap and sees the number.
        analyst.page.goto(f"{url}/rooms/{room_id}/actions")
        card = analyst.page.locator("[data-computation='overlap']")
        expect(card).to_be_visible(timeout=30_000)
        card.get_by_role("button", name="Run").focus()
        analyst.page.keyboard.press("Enter")
        result = analyst.page.locator("[data-result='overlap'] table")
        expect(result).to_be_visible(timeout=120_000)
        expect(result).to_contain_text("overlapping_customers")
        expect(result.locator("td")).to_have_text([str(OVERLAP)])
        analyst.shot("result")
        analyst.check_accessibility("result")

        # Step 9: the audit log, verified in the browser.
        analyst.page.get_by_role("link", name="Audit log").click()
        expect(analyst.page.locator("[data-verified='audit']")).to_be_visible(timeout=30_000)
        expect(analyst.page.locator("table")).to_contain_text("bank_customers")
        analyst.shot("audit")
        analyst.check_accessibility("audit log")

        # Steps 11-12: the analyst requests a new computation; both owners approve; it runs.
        page = analyst.page
        page.get_by_role("link", name="Requests").click()
        expect(page.locator("section[data-module='requests']")).to_have_attribute(
            "aria-busy", "false", timeout=30_000
        )
        page.locator("summary", has_text="Create request").click()
        request_id = create_request(
            page, "overlap_by_product", BY_PRODUCT_SQL, 10, "Shared customers per product"
        )
        expect(page.locator("[data-validated]")).to_contain_text(INSURER)
        page.get_by_role("button", name="Submit for approval").click()
        expect(request_card(page, request_id)).to_have_attribute("data-status", "pending")
        analyst.shot("request-submitted")
        for owner in (bank, insurer):
            owner.page.goto(f"{url}/rooms/{room_id}/requests")
            card = request_card(owner.page, request_id)
            expect(card).to_contain_text("GROUP BY")
            card.get_by_role("button", name="Approve").click()
            expect(card.locator("[data-owners]")).to_contain_text("Approved", timeout=30_000)
            owner.shot("request-approved")
        page.reload()
        ready = page.locator(f"[data-request-id='{request_id}'][data-status='ready_to_integrate']")
        ready.get_by_role("button", name="Integrate").click()
        expect(page.locator(f"[data-request-id='{request_id}']")).to_have_attribute(
            "data-status", "integrated", timeout=30_000
        )
        page.goto(f"{url}/rooms/{room_id}/actions")
        card = page.locator("[data-computation='overlap_by_product']")
        card.get_by_role("button", name="Run").click()
        table = card.locator("table")
        expect(table).to_be_visible(timeout=120_000)
        rows = table.locator("tbody tr")
        shown = {
            rows.nth(i).locator("td").nth(0).inner_text(): int(
                rows.nth(i).locator("td").nth(1).inner_text()
            )
            for i in range(rows.count())
        }
        assert shown == BY_PRODUCT
        analyst.shot("new-computation")

        for someone in (bank, insurer, analyst):
            assert someone.console_errors == [], someone.console_errors
