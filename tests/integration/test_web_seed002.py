"""Seed 002 end to end in a real browser (issue 19): a bank and an insurer who do not write
Python build their overlap room in the web app, provision their CSVs through the wizard, and an
analyst runs the overlap — three browser contexts, three people, one real server.

Every step saves a screenshot under ``test-artifacts/``. What the browser sends is checked where
it lands: after the uploads, no file of the server's data directory holds any customer's e-mail
(each carries a unique marker), and the number the analyst sees is the true overlap.
"""

from __future__ import annotations

import json
import secrets
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
from tests.integration.web_session import LAPTOP, Person, artifacts_for, person

pytestmark = [pytest.mark.integration]

MARKER = "zq" + secrets.token_hex(6)
BANK_ROWS = range(0, 300)
INSURER_ROWS = range(200, 450)
OVERLAP = len(set(BANK_ROWS) & set(INSURER_ROWS))  # 100

TEMPLATE = {
    "format": "sealroom/room-definition",
    "version": 2,
    "name": "Confidential computing overlap",
    "description": "The overlap of a bank's and an insurance provider's customers",
    "interactive": True,
    "nodes": [
        {
            "kind": "table",
            "name": "bank_customers",
            "is_required": True,
            "columns": [
                {"name": "email", "format_type": "EMAIL", "is_nullable": False},
                {"name": "age", "format_type": "INTEGER"},
                {"name": "product", "format_type": "STRING"},
            ],
            "unique_column_combinations": [[0]],
        },
        {
            "kind": "table",
            "name": "insurer_customers",
            "is_required": True,
            "columns": [
                {"name": "email", "format_type": "EMAIL", "is_nullable": False},
                {"name": "product", "format_type": "STRING"},
            ],
            "unique_column_combinations": [[0]],
        },
        {
            "kind": "sql",
            "name": "overlap",
            "query": "SELECT COUNT(*) AS overlapping_customers FROM bank_customers b "
            "JOIN insurer_customers i ON b.email = i.email",
            "dependencies": ["bank_customers", "insurer_customers"],
            "minimum_rows_count": 10,
        },
    ],
    "participants": [
        {"email": BANK, "data_owner_of": ["bank_customers"]},
        {"email": INSURER, "data_owner_of": ["insurer_customers"]},
        {"email": ANALYST, "analyst_of": ["overlap"]},
    ],
}


def customer(index: int) -> str:
    return f"customer{index}.{MARKER}@example.org"


def bank_csv() -> str:
    # A header row with the columns in another order than the table's: the wizard maps them.
    lines = ["Product,Email,Age"]
    lines += [f"{['loan', 'card'][i % 2]},{customer(i)},{20 + i % 50}" for i in BANK_ROWS]
    return "\r\n".join(lines) + "\r\n"


def insurer_csv() -> str:
    # Semicolons, as a spreadsheet in many countries writes them, and a header.
    lines = ["email;product"]
    lines += [f"{customer(i)};{['home', 'car', 'life'][i % 3]}" for i in INSURER_ROWS]
    return "\n".join(lines) + "\n"


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

        for someone in (bank, insurer, analyst):
            assert someone.console_errors == [], someone.console_errors
