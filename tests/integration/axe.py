"""Accessibility checks of a page with axe-core, in the real browser.

axe-core is a dev dependency of ``web/`` (pinned in its lockfile); ``npm ci`` installs it when
``web/node_modules`` lacks it (./dev test installs npm). Its source is evaluated in the page
through the DevTools protocol, which the page's CSP does not govern, so the page under test keeps
its real policy.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

WEB = Path(__file__).resolve().parents[2] / "web"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"

#: Impacts that fail a test; "minor" and "moderate" findings are reported, not failed.
FAILING_IMPACTS = frozenset({"serious", "critical"})


@cache
def axe_source() -> str:
    if not AXE.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is not installed: ./dev test installs it (apt-get install npm)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=600)
    return AXE.read_text()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical violations of the page as it is now (WCAG 2.1 A and AA)."""
    page.evaluate(axe_source())
    result = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})"""
    )
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in result["violations"]
        if violation["impact"] in FAILING_IMPACTS
    ]
