"""The browser applies commits and derives approver groups as the core does, in Chromium: every
known answer of ``tests/vectors/web/commits.json`` (checked against Python in
``tests/unit/test_commit_vectors.py``), through the served ``/static/js/selftest.js``
(``web/src/selftest/commits.ts``)."""

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
    (Path(__file__).parents[1] / "vectors" / "web" / "commits.json").read_text()
)


@pytest.fixture(scope="module")
def page(chromium: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:  # noqa: F811
    server = start_server(tmp_path_factory.mktemp("web-commit-vectors"))
    opened = chromium.new_page()
    try:
        opened.goto(f"{server.url}/health")
        yield opened
    finally:
        opened.close()
        stop_server(server)


def mismatches(page: Page, vectors: dict[str, Any]) -> list[str]:
    found: list[str] = page.evaluate(
        "async (v) => (await import('/static/js/selftest.js')).commitKnownAnswers(v)", vectors
    )
    return found


def test_the_browser_applies_every_commit_and_names_every_approver_as_the_core(
    page: Page,
) -> None:
    assert mismatches(page, VECTORS) == []


def test_the_known_answer_check_reports_a_wrong_answer(page: Page) -> None:
    # Spoil one answer of each kind: each is reported, so the check above compares something.
    spoiled = json.loads(json.dumps(VECTORS))
    by_case = {case["case"]: case for case in spoiled["cases"]}
    joined = by_case["a new colleague: analyst, then data owner"]
    joined["approver_groups"][0]["approvers"].append("Dave@Bank.example")
    left = by_case["an analyst withdrawn, who leaves the room"]
    left["identities"].append({"email": "carol@analytics.example"})
    owner = by_case["the room owner withdrawn from a role, with a new owner in their place"]
    owner["participants"][0]["analyst_of"] = ["bank_ids"]
    found = mismatches(page, spoiled)
    assert len(found) == 3, found
    assert any(
        m.startswith("a new colleague: analyst, then data owner approver groups") for m in found
    )
