"""The room builder ("Start from scratch", issue 19 steps 2-5) in real Chromium on a real server.

A bank's employee builds the seed-002 overlap room by clicking and typing — two customer tables
with typed columns and rules, the overlap in SQL written with the table browser and a privacy
filter, three participants with Data Owner and Analyst permissions — and the template the form
makes is compared with the one expected, field by field. The server makes the draft of it, "Test
all computations" shows the overlap's schema, "Encrypt and publish" publishes it, and the Python
SDK reads the published definition back: it is the room built. A second room is built with the
keyboard alone; wrong input gets a message next to its field; templates (hand-written and
exported with every field) loaded into the builder come back out as the same room.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

import sealroom as sr
from sealroom.model.template import export_template, parse_template
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    ServerProcess,
    start_server,
    stop_server,
)
from tests.integration.web_session import LAPTOP, artifacts_for, person

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

QUERY = (
    "SELECT COUNT(*) AS overlapping_customers FROM bank_customers b "
    "JOIN insurer_customers i ON b.email = i.email"
)

#: What the form must produce for the seed-002 room: fields at their defaults are left out.
EXPECTED: dict[str, Any] = {
    "format": "sealroom/room-definition",
    "version": 2,
    "name": "Confidential computing overlap",
    "description": "The overlap of a bank's and an insurance provider's customers",
    "nodes": [
        {
            "kind": "table",
            "name": "bank_customers",
            "is_required": True,
            "columns": [
                {"name": "email", "format_type": "EMAIL", "is_nullable": False},
                {
                    "name": "age",
                    "format_type": "INTEGER",
                    "in_range": {"greater_than_equals": 0, "less_than": 150},
                },
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
            "query": QUERY,
            "dependencies": ["bank_customers", "insurer_customers"],
            "minimum_rows_count": 10,
        },
    ],
    "participants": [
        {"email": BANK, "data_owner_of": ["bank_customers"]},
        {"email": INSURER, "data_owner_of": ["insurer_customers"]},
        {"email": ANALYST, "analyst_of": ["overlap"]},
    ],
    "interactive": True,
    "enable_development": False,
}

#: docs/room-definition.md's example, with a preview node, owner and every kind of rule.
DOCS_EXAMPLE: dict[str, Any] = {
    "format": "sealroom/room-definition",
    "version": 2,
    "name": "Bank x insurer customer overlap",
    "owner": BANK,
    "nodes": [
        {
            "kind": "table",
            "name": "bank_customers",
            "is_required": True,
            "columns": [
                {"name": "email", "format_type": "EMAIL", "is_nullable": False},
                {
                    "name": "age",
                    "format_type": "INTEGER",
                    "in_range": {"greater_than_equals": 0, "less_than": 150},
                },
                {"name": "balance", "format_type": "DECIMAL", "precision": 15, "scale": 2},
                {"name": "product", "format_type": "STRING", "hash_with": "SHA256_HEX"},
            ],
            "unique_column_combinations": [[0], [2, 3]],
        },
        {"kind": "raw", "name": "bank_notes"},
        {
            "kind": "sql",
            "name": "overlap_by_product",
            "query": "SELECT product, COUNT(*) AS customers FROM bank_customers GROUP BY 1",
            "dependencies": ["bank_customers"],
            "dp_epsilon": 1.5,
            "rate_limit": {"window_seconds": 3600, "max_executions": 5},
            "parameters": ["region"],
        },
        {
            "kind": "python",
            "name": "notes_summary",
            "script": "print('hello')\n",
            "dependencies": ["bank_notes", "overlap_by_product"],
            "additional_files": [{"name": "helpers.py", "content": "X = 1\n"}],
            "enable_logs_on_error": True,
        },
        {
            "kind": "synthetic",
            "name": "synthetic_customers",
            "dependency": "bank_customers",
            "epsilon": 2,
            "columns": [
                {
                    "index": 0,
                    "data_type": "string",
                    "mask_type": "email",
                    "should_mask_column": True,
                }
            ],
        },
        {
            "kind": "preview",
            "name": "overlap_preview",
            "dependency": "overlap_by_product",
            "quota_bytes": 1000000,
        },
    ],
    "participants": [
        {"email": BANK, "data_owner_of": ["bank_customers", "bank_notes"]},
        {"email": ANALYST, "analyst_of": ["overlap_by_product", "notes_summary"]},
        {"email": INSURER, "analyst_of": ["overlap_preview", "synthetic_customers"]},
    ],
    "privacy": {"dp_epsilon_budget": 10, "unit_column": "email"},
    "enable_development": True,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("builder"))
    try:
        yield started
    finally:
        stop_server(started)


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str]:
    return {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}


# -- helpers -----------------------------------------------------------------------------------
def start_from_scratch(page: Page, url: str) -> None:
    page.goto(f"{url}/rooms/new")
    page.get_by_label("Start from scratch").check()
    expect(page.locator(".builder")).to_be_visible()


def template_in(page: Page) -> dict[str, Any]:
    """The template the builder made, as the page will send it (the JSON view's text)."""
    text = page.locator("#template-text").input_value()
    document: dict[str, Any] = json.loads(text)
    return document


def set_json(page: Page, text: str) -> None:
    """Type a template into the JSON view and leave it: the form follows."""
    details = page.locator("details.builder-json")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    page.locator("#template-text").fill(text)
    page.locator("#template-text").blur()


def node_box(page: Page, kind: str, index: int) -> Locator:
    return page.locator(f"fieldset[data-builder-node='{kind}']").nth(index)


def column(table: Locator, index: int) -> Locator:
    return table.locator(f"[data-column='{index}']")


def fill_column(
    table: Locator,
    index: int,
    name: str,
    format_type: str,
    *,
    nullable: bool = True,
    unique: bool = False,
) -> None:
    box = column(table, index)
    box.get_by_label(f"Column {index + 1} name").fill(name)
    box.get_by_label(f"Column {index + 1} type").select_option(format_type)
    if not nullable:
        box.get_by_label(f"Nullable (column {index + 1})").uncheck()
    if unique:
        box.get_by_label(f"Unique (column {index + 1})").check()


def same_room(first: str, second: str) -> None:
    """Both texts publish as the same room (every field but the fresh salt)."""
    one = parse_template(first, owner=BANK).model_dump(mode="json", exclude={"salt"})
    two = parse_template(second, owner=BANK).model_dump(mode="json", exclude={"salt"})
    assert one == two


def active_label(page: Page) -> str:
    """The accessible text of the focused control: its label, or a button's text."""
    text: str = page.evaluate(
        """() => { const e = document.activeElement;
                   if (!e) return '';
                   const text = e.labels && e.labels.length ? e.labels[0].innerText
                       : (e.getAttribute('aria-label') || e.innerText || '');
                   return text.replace(/\\s+/g, ' ').trim(); }"""
    )
    return text


def tab_to(page: Page, label: str, *, back: bool = False, limit: int = 80) -> None:
    """Press Tab (Shift+Tab with ``back``) until the control labelled ``label`` has the focus."""
    seen = []
    for _ in range(limit):
        seen.append(active_label(page))
        if seen[-1] == label:
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"Tab never reached {label!r}, went through {seen}")


# -- the seed's room, built by clicking and typing --------------------------------------------
def test_build_the_seed_002_overlap_room_test_it_and_publish_it(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    tokens: dict[str, str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    with person(chromium, server.url, BANK, tokens[BANK], shots) as bank:
        page = bank.page
        page.get_by_role("link", name="New data clean room").click()
        page.get_by_label("Start from scratch").check()
        room = page.get_by_role("group", name="Data clean room")
        room.get_by_label("Name", exact=True).fill(EXPECTED["name"])
        room.get_by_label("Description (optional)").fill(EXPECTED["description"])
        bank.shot("named")

        # Datasets: two tables with typed columns and rules.
        page.get_by_role("button", name="Add table").click()
        bank_table = node_box(page, "table", 0)
        expect(bank_table.get_by_label("Name", exact=True)).to_be_focused()
        bank_table.get_by_label("Name", exact=True).fill("bank_customers")
        expect(bank_table.get_by_label("Required before running")).to_be_checked()
        fill_column(bank_table, 0, "email", "EMAIL", nullable=False, unique=True)
        bank_table.get_by_role("button", name="Add column").click()
        fill_column(bank_table, 1, "age", "INTEGER")
        age = column(bank_table, 1)
        age.get_by_label("Lower value").fill("0")
        age.get_by_label("Upper value").fill("150")
        bank_table.get_by_role("button", name="Add column").click()
        fill_column(bank_table, 2, "product", "STRING")
        # A range is for numbers: not offered for a text column.
        expect(column(bank_table, 2).get_by_label("Lower value")).to_be_hidden()
        page.get_by_role("button", name="Add table").click()
        insurer_table = node_box(page, "table", 1)
        insurer_table.get_by_label("Name", exact=True).fill("insurer_customers")
        fill_column(insurer_table, 0, "email", "EMAIL", nullable=False, unique=True)
        insurer_table.get_by_role("button", name="Add column").click()
        fill_column(insurer_table, 1, "product", "STRING")
        bank.shot("datasets")

        # The overlap in SQL, written with the table browser.
        expect(page.get_by_label("Computation type")).to_have_value("sql")
        page.get_by_role("button", name="Add computation").click()
        sql = node_box(page, "sql", 0)
        sql.get_by_label("Name", exact=True).fill("overlap")
        editor = sql.get_by_label("Query (SQL, DuckDB dialect)")
        editor.fill("SELECT COUNT(*) AS overlapping_customers FROM ")
        browser = sql.get_by_role("group", name="Table browser")
        expect(browser).to_contain_text("bank_customers")
        expect(browser).to_contain_text("EMAIL")
        browser.get_by_role("button", name="Insert table bank_customers").click()
        expect(editor).to_be_focused()
        page.keyboard.type(" b JOIN ")
        browser.get_by_role("button", name="Insert table insurer_customers").click()
        page.keyboard.type(" i ON b.")
        browser.get_by_role("button", name="Insert column email of bank_customers").click()
        page.keyboard.type(" = i.")
        browser.get_by_role("button", name="Insert column email of insurer_customers").click()
        expect(editor).to_have_value(QUERY)
        expect(sql.locator("[data-derived-deps]")).to_have_attribute(
            "data-derived-deps", "bank_customers,insurer_customers"
        )
        sql.get_by_label("Privacy filter", exact=True).check()
        sql.get_by_label("Privacy filter minimum rows").fill("10")
        bank.shot("computation")

        # Permissions: three participants, the interactivity toggle.
        page.get_by_label("Enable data clean room interactivity").check()
        expect(page.get_by_label("Enable development environment")).not_to_be_checked()
        new_email = page.get_by_label("Participant e-mail")
        new_email.fill(BANK)
        new_email.press("Enter")  # adds, and does not submit the page's form
        expect(new_email).to_be_focused()
        for email in (INSURER, ANALYST):
            new_email.fill(email)
            page.get_by_role("button", name="Add participant").click()
        participant = page.locator("fieldset.builder-person")
        expect(participant).to_have_count(3)
        participant.nth(0).get_by_label("Data Owner of bank_customers").check()
        participant.nth(1).get_by_label("Data Owner of insurer_customers").check()
        participant.nth(2).get_by_label("Analyst of overlap").check()
        expect(page.locator("[data-builder-problems]")).to_have_attribute(
            "data-builder-problems", "0"
        )
        page.locator("details.builder-json summary").click()
        bank.shot("permissions")
        bank.check_accessibility("builder")
        bank.assert_fits_the_screen()
        assert template_in(page) == EXPECTED
        built = page.locator("#template-text").input_value()

        # The server's draft of it, tested, then published.
        page.get_by_role("button", name="Continue").click()
        draft_id = page.locator("[data-draft-room-id]")
        expect(draft_id).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Test all computations").click()
        tested = page.locator("[data-test-node='overlap'][data-test-status='success']")
        expect(tested).to_be_visible(timeout=60_000)
        expect(tested).to_contain_text("overlapping_customers")
        bank.shot("tested")
        room_id = draft_id.inner_text().strip()
        page.get_by_role("button", name="Encrypt and publish").click()
        page.wait_for_url(f"**/rooms/{room_id}/overview", timeout=30_000)
        expect(page.locator("[data-verified='room']")).to_be_visible(timeout=30_000)
        bank.shot("published")
        assert bank.console_errors == []

    # The SDK reads the published definition (verified against the core's signature): the room
    # the form built, with the platform's identities the draft adds for every participant.
    client = sr.create_client(BANK, tokens[BANK], api_url=server.url, state_dir=tmp_path / "sdk")
    exported = client.export_dcr_definition(room_id)
    published = parse_template(exported).model_dump(mode="json", exclude={"salt"})
    wanted = parse_template(built, owner=BANK).model_dump(mode="json", exclude={"salt"})
    assert published["owner"] == BANK
    for key in ("trust_roots", "identities"):
        published.pop(key)
        wanted.pop(key)
    assert published == wanted


# -- keyboard only -------------------------------------------------------------------------------
def test_a_small_room_built_with_the_keyboard_alone(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    tokens: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    with person(chromium, server.url, BANK, tokens[BANK], shots, viewport=LAPTOP) as bank:
        page = bank.page
        page.goto(f"{server.url}/rooms/new")
        tab_to(page, "Import a JSON template")
        page.keyboard.press("ArrowDown")  # the radio group: "Start from scratch"
        expect(page.get_by_label("Start from scratch")).to_be_checked()
        tab_to(page, "Name")
        page.keyboard.type("Keyboard room")
        tab_to(page, "Add table")
        page.keyboard.press("Enter")
        assert active_label(page) == "Name"  # the new table's name
        page.keyboard.type("sales")
        tab_to(page, "Column 1 name")
        page.keyboard.type("amount")
        page.keyboard.press("Tab")
        assert active_label(page) == "Column 1 type"
        page.keyboard.press("ArrowDown")  # STRING -> INTEGER
        tab_to(page, "Add computation")
        page.keyboard.press("Space")
        assert active_label(page) == "Name"
        page.keyboard.type("total")
        tab_to(page, "Query (SQL, DuckDB dialect)")
        page.keyboard.type("SELECT SUM(amount) AS total FROM sales")
        tab_to(page, "Participant e-mail")
        page.keyboard.type(BANK)
        page.keyboard.press("Enter")
        assert active_label(page) == "Participant e-mail"
        # The permissions are above the field that added the participant.
        tab_to(page, "Analyst of total", back=True)
        page.keyboard.press("Space")
        tab_to(page, "Data Owner of sales", back=True)
        page.keyboard.press("Space")
        bank.shot("built")
        bank.assert_fits_the_screen()
        assert template_in(page) == {
            "format": "sealroom/room-definition",
            "version": 2,
            "name": "Keyboard room",
            "nodes": [
                {
                    "kind": "table",
                    "name": "sales",
                    "is_required": True,
                    "columns": [{"name": "amount", "format_type": "INTEGER"}],
                },
                {
                    "kind": "sql",
                    "name": "total",
                    "query": "SELECT SUM(amount) AS total FROM sales",
                    "dependencies": ["sales"],
                },
            ],
            "participants": [{"email": BANK, "data_owner_of": ["sales"], "analyst_of": ["total"]}],
            "interactive": False,
            "enable_development": False,
        }
        tab_to(page, "Continue")
        page.keyboard.press("Enter")
        expect(page.locator("[data-draft-room-id]")).to_be_visible(timeout=30_000)
        bank.shot("draft")
        assert bank.console_errors == []


# -- wrong input -------------------------------------------------------------------------------
def test_wrong_input_gets_a_message_next_to_its_field(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    tokens: dict[str, str],
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    with person(chromium, server.url, BANK, tokens[BANK], shots) as bank:
        page = bank.page
        start_from_scratch(page, server.url)
        problems = page.locator("[data-builder-problems]")
        expect(problems).to_have_attribute("data-builder-problems", "1")  # no name yet
        page.get_by_role("group", name="Data clean room").get_by_label("Name", exact=True).fill(
            "Bad"
        )
        expect(problems).to_have_attribute("data-builder-problems", "0")

        page.get_by_role("button", name="Add table").click()
        first = node_box(page, "table", 0)
        name = first.get_by_label("Name", exact=True)
        name.fill("1 sales")
        expect(name).to_have_attribute("aria-invalid", "true")
        expect(first).to_contain_text("starting with a letter")
        name.fill("sales")
        expect(name).not_to_have_attribute("aria-invalid", "true")
        fill_column(first, 0, "amount", "DECIMAL")
        decimal = column(first, 0)
        expect(decimal.get_by_label("Precision (digits)")).to_have_value("18")
        decimal.get_by_label("Scale (after the point)").fill("40")
        expect(decimal).to_contain_text("Scale is 0 to the precision (18)")
        decimal.get_by_label("Scale (after the point)").fill("2")
        first.get_by_role("button", name="Add column").click()
        column(first, 1).get_by_label("Column 2 name").fill("amount")
        expect(column(first, 1)).to_contain_text("Two columns have this name.")
        column(first, 1).get_by_label("Column 2 name").fill("region")

        page.get_by_role("button", name="Add table").click()
        second = node_box(page, "table", 1)
        second.get_by_label("Name", exact=True).fill("SALES")
        fill_column(second, 0, "x", "STRING")
        expect(second).to_contain_text("already named “sales” (names ignore case)")
        second.get_by_label("Name", exact=True).fill("costs")

        page.get_by_role("button", name="Add computation").click()
        sql = node_box(page, "sql", 0)
        sql.get_by_label("Name", exact=True).fill("by_region")
        editor = sql.get_by_label("Query (SQL, DuckDB dialect)")
        editor.fill(
            "SELECT region, SUM(amount) FROM sales JOIN costs_2024 USING (region) GROUP BY 1"
        )
        expect(sql).to_contain_text("The query reads “costs_2024”, which this room has no dataset")
        editor.fill("SELECT region, SUM(amount) AS total FROM sales GROUP BY 1")
        # Inputs chosen by hand: the query's table must be among them.
        sql.get_by_label("Inputs: the tables the query names").uncheck()
        sql.get_by_role("group", name="Inputs").get_by_label("sales").uncheck()
        expect(sql).to_contain_text("The query reads “sales”: tick it as an input.")
        sql.get_by_role("group", name="Inputs").get_by_label("sales").check()
        sql.get_by_label("Differential privacy", exact=True).check()
        expect(sql).to_contain_text("Type ε, or choose no differential privacy.")
        sql.get_by_label("Differential privacy ε").fill("1")
        expect(sql).to_contain_text("needs the room's privacy budget ε")
        page.get_by_label("Differential privacy budget ε").fill("5")
        expect(sql.locator(".field-error:visible")).to_have_count(0)

        new_email = page.get_by_label("Participant e-mail")
        new_email.fill("not an address")
        page.get_by_role("button", name="Add participant").click()
        expect(page.locator("#b-new-email-error")).to_have_text(
            "Type an e-mail address, like ann@bank.example."
        )
        expect(new_email).to_have_attribute("aria-invalid", "true")
        expect(page.locator("fieldset.builder-person")).to_have_count(0)
        new_email.fill(INSURER)
        new_email.press("Enter")
        new_email.fill(INSURER.upper())
        new_email.press("Enter")
        expect(page.locator("#b-new-email-error")).to_have_text(
            "This participant is already listed."
        )
        owner = page.locator("fieldset.builder-person").get_by_label("E-mail")
        owner.fill("insurer.example")
        expect(page.locator("fieldset.builder-person")).to_contain_text("Type an e-mail address")
        bank.shot("messages")
        bank.check_accessibility("messages")
        owner.fill(INSURER)
        expect(problems).to_have_attribute("data-builder-problems", "0")

        # What the form cannot see, the server says: an analyst of a data node is refused.
        page.locator("details.builder-json summary").click()
        document = template_in(page)
        document["participants"][0]["analyst_of"] = ["sales"]
        set_json(page, json.dumps(document))
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("#draft .notice.error")).to_contain_text("which is a data node")
        bank.shot("server-says")
        # The draft's refusal (400) is the only thing the browser's console reports.
        assert all("400 (Bad Request)" in error for error in bank.console_errors)


# -- templates in, the same room out ------------------------------------------------------------
@pytest.mark.parametrize("style", ["hand-written", "exported"])
def test_a_template_loaded_into_the_builder_comes_back_as_the_same_room(
    chromium: Browser,  # noqa: F811 (the fixture)
    server: ServerProcess,
    tokens: dict[str, str],
    request: pytest.FixtureRequest,
    style: str,
) -> None:
    original = json.dumps(DOCS_EXAMPLE, indent=2)
    if style == "exported":  # every field written out, defaults included
        original = export_template(parse_template(original))
    shots = artifacts_for(request.node.name)
    with person(chromium, server.url, BANK, tokens[BANK], shots) as bank:
        page = bank.page
        start_from_scratch(page, server.url)
        set_json(page, original)
        expect(page.locator("fieldset[data-builder-node]")).to_have_count(6)
        table = node_box(page, "table", 0)
        expect(table.get_by_label("Name", exact=True)).to_have_value("bank_customers")
        expect(column(table, 1).get_by_label("Lower value")).to_have_value("0")
        expect(column(table, 2).get_by_label("Precision (digits)")).to_have_value("15")
        expect(column(table, 3).get_by_label("Hashed (SHA-256) (column 4)")).to_be_checked()
        expect(table).to_contain_text("Also unique together: balance + product")
        sql = node_box(page, "sql", 0)
        expect(sql.get_by_label("Differential privacy", exact=True)).to_be_checked()
        python = node_box(page, "python", 0)
        expect(python.get_by_label("File 1 name")).to_have_value("helpers.py")
        expect(
            python.get_by_role("group", name="Available data").get_by_label(
                "bank_notes /input/bank_notes"
            )
        ).to_be_checked()
        synthetic = node_box(page, "synthetic", 0)
        expect(synthetic.get_by_label("Mask email", exact=True)).to_be_checked()
        expect(synthetic.get_by_label("Mask email as", exact=True)).to_have_value("email")
        expect(page.get_by_label("Enable development environment")).to_be_checked()
        bank.shot("loaded")
        bank.check_accessibility("loaded")
        bank.assert_fits_the_screen()
        same_room(page.locator("#template-text").input_value(), original)
        if style == "exported":  # untouched, an export comes back field for field
            assert template_in(page) == json.loads(original)

        # Renaming a table in the form renames it wherever the room names it.
        table.get_by_label("Name", exact=True).fill("customers")
        renamed = template_in(page)
        assert renamed["nodes"][4]["dependency"] == "customers"
        assert renamed["participants"][0]["data_owner_of"] == ["customers", "bank_notes"]
        # A query is never rewritten: it reads the old name, and the form says so.
        expect(sql).to_contain_text("The query reads “bank_customers”")
        assert renamed["nodes"][2]["dependencies"] == []
        sql.get_by_label("Query (SQL, DuckDB dialect)").fill(
            "SELECT product, COUNT(*) AS customers FROM customers GROUP BY 1"
        )
        assert template_in(page)["nodes"][2]["dependencies"] == ["customers"]
        assert bank.console_errors == []
