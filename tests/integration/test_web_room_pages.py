"""The room pages beyond the seed's main path (issue 19): export, duplicate, the result and the
audit log downloaded (the audit export passes `sealroom audit verify`), the Datasets page, the
user's key shared with the SDK, default deny, and a browser that refuses a core other than the
one it pinned for a room."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

import sealroom as sr
from sealroom.analytics.provisioning import prepare_table, provision
from sealroom.crypto import Key
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    OUTSIDER,
    ServerProcess,
    start_server,
    stop_server,
)
from tests.integration.seed002 import TEMPLATE, bank_csv, insurer_csv
from tests.integration.web_session import artifacts_for, person

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]


class Room:
    def __init__(self, server: ServerProcess, tokens: dict[str, str], room_id: str) -> None:
        self.server = server
        self.tokens = tokens
        self.id = room_id


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    """The seed's room, made and provisioned with the SDK (the browser tests read it)."""
    root = tmp_path_factory.mktemp("room-pages")
    server = start_server(root)
    try:
        tokens = {e: server.add_user(e) for e in (BANK, INSURER, ANALYST, OUTSIDER)}
        clients = {
            e: sr.create_client(e, tokens[e], api_url=server.url, state_dir=root / e.split("@")[0])
            for e in (BANK, INSURER, ANALYST)
        }
        dcr = clients[BANK].create_dcr_from_json(json.dumps(TEMPLATE))
        for email, node, text in (
            (BANK, "bank_customers", bank_csv()),
            (INSURER, "insurer_customers", insurer_csv()),
        ):
            client = clients[email]
            session = client.session()
            definition = session.retrieve_data_room(dcr.id)
            table = definition.node(node)
            prepared = prepare_table(text.encode(), table.schema_)  # type: ignore[union-attr]
            provision(client, session, dcr.id, node, prepared, Key(), f"{node}.csv")
        yield Room(server, tokens, dcr.id)
    finally:
        stop_server(server)


def test_export_duplicate_and_downloads(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    url = room.server.url
    with person(chromium, url, ANALYST, room.tokens[ANALYST], shots) as analyst:
        page = analyst.page
        page.goto(f"{url}/rooms/{room.id}/overview")
        expect(page.locator("[data-verified='room']")).to_be_visible(timeout=30_000)
        with page.expect_download() as exported:
            page.get_by_role("button", name="Export JSON").click()
        template = json.loads(Path(exported.value.path()).read_text())
        assert template["format"] == "sealroom/room-definition"
        assert "salt" not in template
        assert [n["name"] for n in template["nodes"]] == [n["name"] for n in TEMPLATE["nodes"]]  # type: ignore[attr-defined]

        # Duplicate: the same definition as a new draft, with another id (a fresh salt).
        page.get_by_role("button", name="Duplicate").click()
        page.wait_for_url("**/rooms/new#duplicate")
        expect(page.locator("#template-text")).not_to_have_value("")
        duplicate = json.loads(page.locator("#template-text").input_value())
        assert duplicate == {k: v for k, v in template.items() if k != "owner"}
        page.get_by_role("button", name="Continue").click()
        draft = page.locator("[data-draft-room-id]")
        expect(draft).to_be_visible(timeout=30_000)
        assert draft.inner_text().strip() != room.id
        expect(page.locator("#draft")).to_contain_text(f"Owner: {ANALYST}")
        analyst.shot("duplicate-draft")

        # The result as CSV, as decrypted in this browser.
        page.goto(f"{url}/rooms/{room.id}/actions")
        card = page.locator("[data-computation='overlap']")
        card.get_by_role("button", name="Run").click()
        expect(card.locator("table")).to_be_visible(timeout=120_000)
        with page.expect_download() as result:
            card.get_by_role("button", name="Download CSV").click()
        rows = list(csv.reader(io.StringIO(Path(result.value.path()).read_text())))
        assert rows == [["overlapping_customers"], ["100"]]

        # The audit log's export passes the CLI's offline verification.
        page.goto(f"{url}/rooms/{room.id}/audit")
        expect(page.locator("[data-verified='audit']")).to_be_visible(timeout=30_000)
        with page.expect_download() as audit:
            page.get_by_role("button", name="Download audit log").click()
        export = tmp_path / "audit.json"
        export.write_bytes(Path(audit.value.path()).read_bytes())
        sdk = sr.create_client(
            ANALYST, room.tokens[ANALYST], api_url=url, state_dir=tmp_path / "sdk"
        )
        core_key = sdk.session().attestation.verify_key.hex()
        checked = room.server.cli("audit", "verify", str(export), "--key", core_key, "--json")
        verified = json.loads(checked.stdout)
        assert verified["verified"] is True
        assert verified["room_id"] == room.id
        assert verified["entries"] > 5
        assert analyst.console_errors == []


def test_the_datasets_page_shows_rows_columns_rooms_and_statistics(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    with person(chromium, room.server.url, BANK, room.tokens[BANK], shots) as bank:
        bank.page.goto(f"{room.server.url}/datasets")
        row = bank.page.locator("tr[data-dataset-id]")
        expect(row).to_have_count(1)
        expect(row.locator("[data-rows]")).to_have_text("300", timeout=30_000)
        expect(row.locator("[data-columns]")).to_contain_text("email (EMAIL)")
        expect(row).to_contain_text("bank_customers")
        row.get_by_text("Summary statistics").click()
        statistics = row.locator("[data-statistics-rows]")
        expect(statistics).to_have_attribute("data-statistics-rows", "300", timeout=30_000)
        expect(statistics).to_contain_text("product")
        row.get_by_label("Share these statistics with the room's participants").check()
        expect(row).to_contain_text("Shared with the room's participants", timeout=30_000)
        bank.shot("datasets")
        bank.check_accessibility("datasets")
    # The insurer may now read the bank's statistics (the owner shared them), checked with the SDK.
    insurer = sr.create_client(
        INSURER, room.tokens[INSURER], api_url=room.server.url, state_dir=tmp_path / "insurer"
    )
    node = insurer.retrieve_analytics_dcr(room.id).get_node("bank_customers")
    assert node.get_statistics()["rows"] == 300  # type: ignore[union-attr]


def test_a_key_from_the_sdk_signs_in_the_browser(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    state = tmp_path / "sdk"
    client = sr.create_client(BANK, room.tokens[BANK], api_url=room.server.url, state_dir=state)
    pem = client.participant_keys.export_key(BANK)
    fingerprint = client.key_fingerprint()
    shots = artifacts_for(request.node.name)
    with person(chromium, room.server.url, BANK, room.tokens[BANK], shots) as bank:
        page = bank.page
        page.goto(f"{room.server.url}/keys")
        page.get_by_label("Private key (PEM)").fill(pem)
        page.get_by_role("button", name="Import key").click()
        expect(page.locator("[data-fingerprint]")).to_have_attribute(
            "data-fingerprint", fingerprint, timeout=10_000
        )
        # The browser holds it without being able to read it out again.
        extractable = page.evaluate(
            """async () => (await (await import('/static/js/selftest.js'))
                .storedKeyFacts('alice@bank.example'))"""
        )
        assert extractable["extractable"] is False
        bank.check_accessibility("keys")
        # A signed action with the imported key: the validation report of the bank's table.
        page.goto(f"{room.server.url}/rooms/{room.id}/actions")
        page.get_by_role("button", name="Validation report").click()
        expect(page.locator("[data-report='PASSED']")).to_be_visible(timeout=30_000)
        bank.shot("imported-key-report")


def test_pages_of_a_room_are_not_found_for_an_outsider(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    with person(chromium, room.server.url, OUTSIDER, room.tokens[OUTSIDER], shots) as outsider:
        for tab in ("overview", "actions", "audit"):
            response = outsider.page.goto(f"{room.server.url}/rooms/{room.id}/{tab}")
            assert response is not None
            assert response.status == 404
        outsider.page.goto(f"{room.server.url}/")
        expect(outsider.page.get_by_text(TEMPLATE["name"])).to_have_count(0)  # type: ignore[arg-type]


def test_a_browser_refuses_a_core_other_than_the_one_it_pinned_for_the_room(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    request: pytest.FixtureRequest,
) -> None:
    shots = artifacts_for(request.node.name)
    with person(chromium, room.server.url, INSURER, room.tokens[INSURER], shots) as insurer:
        page = insurer.page
        page.goto(f"{room.server.url}/rooms/{room.id}/overview")
        expect(page.locator("[data-verified='room']")).to_be_visible(timeout=30_000)
        # As if this browser had met another core for this room before (or the server swapped
        # its core since): every pin of the room names another key.
        page.evaluate(
            """() => { for (const name of Object.keys(localStorage)) {
                 const record = JSON.parse(localStorage.getItem(name));
                 if (record && record.core_public_key) {
                   record.core_public_key = "00".repeat(32);
                   localStorage.setItem(name, JSON.stringify(record)); } } }"""
        )
        page.reload()
        expect(page.get_by_role("alert")).to_contain_text("could not be verified", timeout=30_000)
        expect(page.locator("[data-verified='room']")).to_have_count(0)
        insurer.shot("pin-refused")
        insurer.console_errors.clear()


def test_a_template_imported_then_edited_in_the_form(
    chromium: Browser,  # noqa: F811 (the fixture)
    room: Room,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    template = tmp_path / "overlap.json"
    template.write_text(json.dumps(TEMPLATE))
    shots = artifacts_for(request.node.name)
    with person(chromium, room.server.url, BANK, room.tokens[BANK], shots) as bank:
        page = bank.page
        page.goto(f"{room.server.url}/rooms/new")
        page.get_by_label("JSON template", exact=True).set_input_files(str(template))
        page.get_by_role("button", name="Edit in the form").click()
        group = page.get_by_role("group", name="Data clean room")
        expect(group.get_by_label("Name", exact=True)).to_have_value(str(TEMPLATE["name"]))
        group.get_by_label("Name", exact=True).fill("Edited overlap")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator("[data-draft-room-id]")).to_be_visible(timeout=30_000)
        expect(page.locator("#draft h2").first).to_have_text("Edited overlap")
        bank.shot("edited-draft")
