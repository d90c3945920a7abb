"""The browser writes and reads the rows of a media room's ``custom_audiences`` table as the SDK
does, in Chromium: every known answer of ``tests/vectors/web/media.json`` (the vectors
:meth:`CustomAudience.to_row` is checked against in ``tests/unit/test_media_vectors.py``),
through the served ``/static/js/selftest.js`` (``web/src/selftest/media.ts``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import start_server, stop_server

pytestmark = [pytest.mark.integration]

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "web" / "media.json").read_text()
)


@pytest.fixture(scope="module")
def page(chromium: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:  # noqa: F811
    server = start_server(tmp_path_factory.mktemp("web-media-vectors"))
    opened = chromium.new_page()
    try:
        opened.goto(f"{server.url}/health")
        yield opened
    finally:
        opened.close()
        stop_server(server)


def known_answer_mismatches(page: Page, vectors: dict[str, Any]) -> list[str]:
    mismatches: list[str] = page.evaluate(
        "async (v) => (await import('/static/js/selftest.js')).mediaKnownAnswers(v)", vectors
    )
    return mismatches


def test_the_browser_writes_every_custom_audience_row_as_the_sdk(page: Page) -> None:
    assert known_answer_mismatches(page, VECTORS) == []


def test_the_known_answer_check_reports_a_wrong_vector(page: Page) -> None:
    # The check above would pass vacuously if the page compared nothing: spoil a row's JSON
    # columns and one audience's field, and each is reported.
    spoiled = json.loads(json.dumps(VECTORS))
    rows = spoiled["custom_audience_rows"]
    rows[0]["row"][5] = rows[0]["row"][5].replace(":", ": ", 1)
    rows[1]["row"][4] = rows[1]["row"][4].replace(", ", ",")
    rows[2]["audience"]["name"] += " "
    mismatches = known_answer_mismatches(page, spoiled)
    # The spoiled rows are not how the SDK writes JSON: read back and written again, they fail
    # a second time. The spoiled audience fails once (its row is the SDK's).
    assert len(mismatches) == 5, mismatches
    assert any(m.startswith(f"custom_audience_rows[{rows[0]['case']}] row[5]") for m in mismatches)
    assert any(m.startswith(f"custom_audience_rows[{rows[2]['case']}] row[1]") for m in mismatches)


MEMBERS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "web" / "media-members.json").read_text()
)


def member_mismatches(page: Page, vectors: dict[str, Any]) -> list[str]:
    found: list[str] = page.evaluate(
        "async (v) => (await import('/static/js/selftest.js')).mediaMemberKnownAnswers(v)", vectors
    )
    return found


def test_the_browser_reads_the_groups_a_history_leaves_as_the_sdk(page: Page) -> None:
    assert member_mismatches(page, MEMBERS) == []


def test_the_member_check_reports_a_wrong_answer(page: Page) -> None:
    spoiled = json.loads(json.dumps(MEMBERS))
    # A change that does not count (the agency's) counted, and a role mapped differently.
    spoiled["after"][1]["groups"][1]["emails"].append("dan@shop.example")
    spoiled["roles"][0]["runs"] = spoiled["roles"][0]["runs"][1:]
    found = member_mismatches(page, spoiled)
    assert len(found) == 2, found


def audience_mismatches(page: Page, vectors: dict[str, Any]) -> list[str]:
    found: list[str] = page.evaluate(
        "async (v) => (await import('/static/js/selftest.js')).mediaAudienceKnownAnswers(v)",
        vectors,
    )
    return found


def test_the_browser_builds_rules_and_shares_and_deletes_as_the_sdk(page: Page) -> None:
    # RuleBasedAudienceBuilder's definitions (and its refusals), and the tables
    # MediaDcr.share_audiences / delete_audiences write (and their refusals).
    assert VECTORS["rule_based_definitions"]
    assert VECTORS["audience_changes"]
    assert audience_mismatches(page, VECTORS) == []


def test_the_audience_check_reports_a_wrong_answer(page: Page) -> None:
    spoiled = json.loads(json.dumps(VECTORS))
    rules = spoiled["rule_based_definitions"]
    # A value the SDK writes is not the browser's; a refusal the SDK makes is not refused.
    rules[1]["definition"]["filters"]["filters"][3]["values"] = []
    refused = next(r for r in rules if r["definition"] is None)
    refused["definition"] = {"kind": "RULE_BASED", "sourceRef": {"kind": "BASE"}}
    changes = spoiled["audience_changes"]
    # A deletion that keeps one more audience; a refusal naming another audience.
    deleted = next(c for c in changes if c["action"] == "delete" and "written" in c)
    deleted["written"].append(deleted["audiences"][2])
    named = next(c for c in changes if "refused" in c)
    named["refused"]["audience"] = "audience z"
    found = audience_mismatches(page, spoiled)
    assert len(found) == 4, found
