"""The "Development" and "Requests" tabs in a real browser (issue 19, seed steps 10 to 12).

Three browser contexts — the analyst, the bank (data owner of ``bank_customers``) and the insurer
(of ``insurer_customers``) — on an interactive room with the development environment, made and
provisioned with the SDK, on a real server. The analyst runs an ad-hoc SQL query in the
Development tab and reads the number; takes it to the Requests tab with "Create request", adapts
it to read both customer tables, "Validate"s it (both owners shown), "Submit for approval"s it;
each owner "Approve"s in their own browser; it is integrated and run from the Actions tab. A
request is rejected; one that affects the bank alone is previewed by the bank before approving.
The SDK then checks, in the audit export, that each approval is the owner's own signature with
the key their browser holds. Screenshots of each step are saved under the test's tmp_path.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

import sealroom as sr
from sealroom.analytics.provisioning import prepare_table, provision
from sealroom.audit.export import verify_export
from sealroom.crypto import Key
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    ServerProcess,
    start_server,
    stop_server,
)
from tests.integration.seed002 import BY_PRODUCT, BY_PRODUCT_SQL, TEMPLATE, bank_csv, insurer_csv
from tests.integration.web_session import Person, person
from tests.integration.web_session import create_request as _create_request
from tests.integration.web_session import owners as _owners
from tests.integration.web_session import request_card as _request_card

pytestmark = [
    pytest.mark.integration,
    # The SDK parts attest the server's core, whose attestation is simulated here.
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

#: The seed's room, interactive and with the development environment.
ROOM = copy.deepcopy(TEMPLATE) | {"enable_development": True, "name": "Overlap with requests"}

#: Reads the bank's table only: the bank is its one affected data owner.
BANK_PRODUCTS_SQL = (
    "SELECT product, COUNT(*) AS customers FROM bank_customers GROUP BY product ORDER BY product"
)
TIMEOUT = 120_000


class Room:
    def __init__(self, server: ServerProcess, tokens: dict[str, str], room_id: str, root: Path):
        self.server = server
        self.tokens = tokens
        self.id = room_id
        self.root = root

    def tab(self, name: str) -> str:
        return f"{self.server.url}/rooms/{self.id}/{name}"


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    root = tmp_path_factory.mktemp("web-requests")
    server = start_server(root)
    try:
        tokens = {e: server.add_user(e) for e in (BANK, INSURER, ANALYST)}
        bank = sr.create_client(BANK, tokens[BANK], api_url=server.url, state_dir=root / "bank")
        dcr = bank.create_dcr_from_json(json.dumps(ROOM))
        for email, node, text in (
            (BANK, "bank_customers", bank_csv()),
            (INSURER, "insurer_customers", insurer_csv()),
        ):
            client = sr.create_client(
                email, tokens[email], api_url=server.url, state_dir=root / email.split("@")[0]
            )
            session = client.session()
            table = session.retrieve_data_room(dcr.id).node(node)
            prepared = prepare_table(text.encode(), table.schema_)  # type: ignore[union-attr]
            provision(client, session, dcr.id, node, prepared, Key(), f"{node}.csv")
        yield Room(server, tokens, dcr.id, root)
    finally:
        stop_server(server)


def _open(room: Room, someone: Person, tab: str) -> Page:
    page = someone.page
    page.goto(room.tab(tab))
    expect(page.locator(f"section[data-module='{tab}']")).to_have_attribute(
        "aria-busy", "false", timeout=30_000
    )
    return page


def _browser_key(page: Page, email: str) -> str:
    facts = page.evaluate(
        "async (email) => (await (await import('/static/js/selftest.js')).storedKeyFacts(email))",
        email,
    )
    return str(facts["fingerprint"])


def test_develop_request_approve_by_both_owners_integrate_and_run(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    tmp_path: Path,
) -> None:
    url = room.server.url
    with (
        person(chromium, url, ANALYST, room.tokens[ANALYST], tmp_path) as analyst,
        person(chromium, url, BANK, room.tokens[BANK], tmp_path) as bank,
        person(chromium, url, INSURER, room.tokens[INSURER], tmp_path) as insurer,
    ):
        # Step 10: an ad-hoc query over what the analyst may read (the overlap's result).
        page = _open(room, analyst, "development")
        browser = page.locator("aside.data-browser")
        expect(browser.get_by_role("heading", name="Available data")).to_be_visible()
        expect(browser.locator("[data-available='overlap']")).to_have_count(1)
        # Not the owners' tables: the analyst may not read them here.
        expect(browser.locator("[data-available='bank_customers']")).to_have_count(0)
        page.get_by_label("Language").select_option("sql")
        page.get_by_label("Computation name").fill("try_overlap")
        editor = page.get_by_label("Code", exact=True)
        editor.fill("SELECT overlapping_customers AS n")
        editor.press("End")
        editor.press("Enter")
        editor.press("Tab")  # indents: the editor keeps Tab
        editor.type("FROM overlap")
        assert editor.input_value() == "SELECT overlapping_customers AS n\n    FROM overlap"
        analyst.shot("development-code")
        page.get_by_role("button", name="Run").click()
        result = page.locator("[data-dev-result] table")
        expect(result).to_be_visible(timeout=TIMEOUT)
        assert result.locator("th").all_inner_texts() == ["n"]
        assert result.locator("tbody td").all_inner_texts() == ["100"]
        analyst.shot("development-result")
        analyst.check_accessibility("development")

        # "Create request" takes the code to the Requests tab.
        page.get_by_role("button", name="Create request").click()
        page.wait_for_url("**/requests#draft")
        expect(page.get_by_label("Code", exact=True)).to_have_value(
            "SELECT overlapping_customers AS n\n    FROM overlap", timeout=30_000
        )
        expect(page.get_by_label("Computation name")).to_have_value("try_overlap")
        # Step 11: adapted to read the original datasets, validated, submitted.
        request_id = _create_request(
            page, "overlap_by_product", BY_PRODUCT_SQL, 10, "Shared customers per product"
        )
        validation = page.locator("[data-validated]")
        expect(validation).to_contain_text(BANK)
        expect(validation).to_contain_text(INSURER)
        expect(validation).to_contain_text("bank_customers")
        expect(validation).to_contain_text("insurer_customers")
        analyst.shot("request-validated")
        analyst.check_accessibility("requests")
        page.get_by_role("button", name="Submit for approval").click()
        card = _request_card(page, request_id)
        expect(card).to_have_attribute("data-status", "pending")
        assert sorted(row[1] for row in _owners(card)) == sorted([BANK, INSURER])
        # The analyst owns no affected data: nothing to approve.
        expect(card.get_by_role("button", name="Approve")).to_have_count(0)
        analyst.shot("request-submitted")

        # Step 12: each owner approves in their own browser; the bank first.
        page = _open(room, bank, "requests")
        card = _request_card(page, request_id)
        expect(card).to_contain_text("overlap_by_product")
        expect(card).to_contain_text("GROUP BY i.product")
        # Two owners are affected: no preview for either.
        expect(card.get_by_role("button", name="Preview")).to_have_count(0)
        bank.shot("bank-reviews")
        card.get_by_role("button", name="Approve").click()
        expect(card.locator("[data-owners]")).to_contain_text("Approved", timeout=30_000)
        card = _request_card(page, request_id)
        assert [BANK, "Approved"] in [[row[1], row[2]] for row in _owners(card)]
        expect(card).to_have_attribute("data-status", "pending")
        bank.shot("bank-approved")

        page = _open(room, insurer, "requests")
        card = _request_card(page, request_id)
        assert [INSURER, "Waiting"] in [[row[1], row[2]] for row in _owners(card)]
        card.get_by_role("button", name="Approve").click()
        card = page.locator(f"[data-request-id='{request_id}'][data-status='ready_to_integrate']")
        expect(card).to_be_visible(timeout=30_000)
        insurer.shot("insurer-approved")

        # Integrated (by the analyst), then run from the Actions tab.
        page = _open(room, analyst, "requests")
        card = page.locator(f"[data-request-id='{request_id}'][data-status='ready_to_integrate']")
        card.get_by_role("button", name="Integrate").click()
        expect(page.locator(f"[data-request-id='{request_id}']")).to_have_attribute(
            "data-status", "integrated", timeout=30_000
        )
        analyst.shot("integrated")
        page.get_by_role("link", name="Run it from the Actions tab").click()
        run = page.locator("[data-computation='overlap_by_product']")
        expect(run).to_be_visible(timeout=30_000)
        run.get_by_role("button", name="Run").click()
        table = run.locator("table")
        expect(table).to_be_visible(timeout=TIMEOUT)
        rows = table.locator("tbody tr")
        shown = {
            rows.nth(i).locator("td").nth(0).inner_text(): int(
                rows.nth(i).locator("td").nth(1).inner_text()
            )
            for i in range(rows.count())
        }
        assert shown == BY_PRODUCT
        analyst.shot("new-computation-run")

        keys = {BANK: _browser_key(bank.page, BANK), INSURER: _browser_key(insurer.page, INSURER)}
        for someone in (analyst, bank, insurer):
            assert someone.console_errors == [], someone.console_errors

    # The SDK: in the audit export, each approval is the owner's own signature, with the key
    # their browser holds (not the SDK's key they provisioned with).
    client = sr.create_client(
        ANALYST, room.tokens[ANALYST], api_url=url, state_dir=room.root / "analyst-sdk"
    )
    session = client.session()
    export = session.export_audit_log(room.id)
    verified = verify_export(export, expected_key=session.attestation.verify_key)
    assert verified.approvals is not None
    approvals = {
        a.approver: a.fingerprint for a in verified.approvals if a.request_id == request_id
    }
    assert approvals == keys
    sdk_keys = {
        email: sr.create_client(
            email, room.tokens[email], api_url=url, state_dir=room.root / email.split("@")[0]
        ).key_fingerprint()
        for email in (BANK, INSURER)
    }
    assert all(keys[email] != sdk_keys[email] for email in keys)
    commits = session.retrieve_commits(room.id)
    assert [c["id"] for c in commits][-1] == request_id


def test_a_rejected_request_is_closed_with_its_reason(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    tmp_path: Path,
) -> None:
    url = room.server.url
    with (
        person(chromium, url, ANALYST, room.tokens[ANALYST], tmp_path) as analyst,
        person(chromium, url, INSURER, room.tokens[INSURER], tmp_path) as insurer,
    ):
        page = _open(room, analyst, "requests")
        page.locator("summary", has_text="Create request").click()
        request_id = _create_request(
            page, "all_emails", "SELECT b.email FROM bank_customers b", None, "every e-mail"
        )
        page.get_by_role("button", name="Submit for approval").click()
        expect(_request_card(page, request_id)).to_have_attribute("data-status", "pending")

        # The insurer's data is not read: the insurer has nothing to approve or reject.
        page = _open(room, insurer, "requests")
        card = _request_card(page, request_id)
        expect(card.get_by_role("button", name="Approve")).to_have_count(0)
        expect(card.get_by_role("button", name="Reject")).to_have_count(0)
        insurer.shot("not-affected")

    with person(chromium, url, BANK, room.tokens[BANK], tmp_path) as bank:
        page = _open(room, bank, "requests")
        card = _request_card(page, request_id)
        card.get_by_label("Reason (if you reject)").fill("raw e-mail addresses never leave")
        card.get_by_role("button", name="Reject").click()
        card = page.locator(f"[data-request-id='{request_id}'][data-status='rejected']")
        expect(card).to_be_visible(timeout=30_000)
        expect(card).to_contain_text("raw e-mail addresses never leave")
        expect(card.get_by_role("button", name="Approve")).to_have_count(0)
        bank.shot("rejected")
        assert bank.console_errors == []


def test_the_only_affected_owner_previews_before_approving(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    tmp_path: Path,
) -> None:
    url = room.server.url
    with (
        person(chromium, url, ANALYST, room.tokens[ANALYST], tmp_path) as analyst,
        person(chromium, url, BANK, room.tokens[BANK], tmp_path) as bank,
    ):
        page = _open(room, analyst, "requests")
        page.locator("summary", has_text="Create request").click()
        request_id = _create_request(page, "bank_products", BANK_PRODUCTS_SQL, 10, "per product")
        assert _validated_owners(page) == [["bank_customers", BANK]]
        page.get_by_role("button", name="Submit for approval").click()
        card = _request_card(page, request_id)
        # The requester is not an owner: no preview for them.
        expect(card.get_by_role("button", name="Preview")).to_have_count(0)

        page = _open(room, bank, "requests")
        card = _request_card(page, request_id)
        card.get_by_role("button", name="Preview").click()
        preview = card.locator("[data-preview] table")
        expect(preview).to_be_visible(timeout=TIMEOUT)
        rows = preview.locator("tbody tr")
        shown = {
            rows.nth(i).locator("td").nth(0).inner_text(): rows.nth(i)
            .locator("td")
            .nth(1)
            .inner_text()
            for i in range(rows.count())
        }
        assert shown == {"card": "150", "loan": "150"}
        bank.shot("previewed")
        card.get_by_role("button", name="Approve").click()
        card = page.locator(f"[data-request-id='{request_id}'][data-status='ready_to_integrate']")
        expect(card).to_be_visible(timeout=30_000)
        card.get_by_role("button", name="Integrate").click()
        expect(page.locator(f"[data-request-id='{request_id}']")).to_have_attribute(
            "data-status", "integrated", timeout=30_000
        )
        bank.shot("integrated")
        assert bank.console_errors == []
        assert analyst.console_errors == []


def _validated_owners(page: Page) -> list[list[str]]:
    rows = page.locator("[data-validated] tbody tr")
    return [
        [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]


def test_the_browser_refuses_what_a_lying_host_shows(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    tmp_path: Path,
) -> None:
    """The host drafts another query than the one written, hides an affected owner, or shows a
    request with a commit that is not the one its id names: the page says so and signs nothing."""
    with person(chromium, room.server.url, ANALYST, room.tokens[ANALYST], tmp_path) as analyst:
        page = analyst.page
        attacks = {"draft": ""}

        def lying_drafts(route: Route) -> None:
            answer = route.fetch()
            draft = answer.json()
            if attacks["draft"] == "query":
                draft["commit"] = draft["commit"].replace("GROUP BY i.product", "GROUP BY b.email")
            elif attacks["draft"] == "owners":
                draft["approver_groups"] = [
                    g for g in draft["approver_groups"] if g["node"] != "insurer_customers"
                ]
            route.fulfill(response=answer, body=json.dumps(draft))

        submitted: list[str] = []
        page.route("**/commit-drafts", lying_drafts)
        page.on(
            "request",
            lambda r: (
                submitted.append(r.url)
                if r.method == "POST" and r.url.endswith("/requests")
                else None
            ),
        )
        _open(room, analyst, "requests")
        page.locator("summary", has_text="Create request").click()
        page.get_by_label("Computation name").fill("by_product_again")
        page.get_by_label("Code", exact=True).fill(BY_PRODUCT_SQL)
        for attack, message in (
            ("query", "the code of by_product_again differs from yours"),
            ("owners", "names other affected data owners"),
        ):
            attacks["draft"] = attack
            page.get_by_role("button", name="Validate").click()
            expect(page.locator("[role=alert]")).to_contain_text(message, timeout=30_000)
            expect(page.get_by_role("button", name="Submit for approval")).to_be_disabled()
            analyst.shot(f"refused-draft-{attack}")
        attacks["draft"] = ""
        page.get_by_role("button", name="Validate").click()
        expect(page.locator("[data-validated]")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Submit for approval")).to_be_enabled()
        assert submitted == []  # nothing was submitted while the host lied
        page.get_by_role("button", name="Submit for approval").click()
        expect(page.locator("[data-request-id]").first).to_be_visible(timeout=30_000)

        # A request shown with another commit than the one its id names.
        def lying_commit(route: Route) -> None:
            answer = route.fetch()
            body = answer.json()
            body["commit"] = body["commit"].replace("SELECT", "SELECT /* */", 1)
            route.fulfill(response=answer, body=json.dumps(body))

        page.route("**/requests/*/commit", lying_commit)
        page.reload()
        expect(page.locator("[data-requests] [role=alert]")).to_contain_text(
            "not that request's: do not approve it", timeout=30_000
        )
        expect(page.locator("[data-request-id]")).to_have_count(0)
        analyst.shot("refused-request")
