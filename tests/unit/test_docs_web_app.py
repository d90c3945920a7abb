"""docs/web-app.md says what the app does: the guide's words it lists are on the pages, the
commands and settings it names exist, and the rebuild it shows is the one CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from sealroom.cli.main import app
from sealroom.server.settings import Settings

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "web-app.md"


def app_text() -> str:
    """Everything the pages can show: templates and the bundle's sources."""
    files = [
        *sorted((ROOT / "src/sealroom/server/web/templates").glob("*.html")),
        *sorted((ROOT / "web/src").rglob("*.ts")),
    ]
    return "\n".join(path.read_text() for path in files)


def test_every_button_and_tab_the_page_names_is_in_the_app() -> None:
    table = PAGE.read_text().split("## The guide, step by step")[1].split("\n## ")[0]
    words = set(re.findall(r"\*\*([^*]+)\*\*", table))
    assert {"Encrypt and publish", "Test all computations", "Approve", "Run"} <= words
    shown = app_text()
    missing = sorted(word for word in words if word not in shown)
    assert missing == [], f"docs/web-app.md names what no page shows: {missing}"


def test_the_serve_options_and_settings_it_names_exist() -> None:
    text = PAGE.read_text()
    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    options = {option for parameter in serve.params for option in parameter.opts}
    assert set(re.findall(r"(--tls-[a-z]+)", text)) <= options
    fields = {f"SEALROOM_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"`(SEALROOM_[A-Z_]+)`", text))
    assert named
    assert named <= fields


def test_the_rebuild_it_shows_is_the_bundle_tests() -> None:
    text = PAGE.read_text()
    assert "npm ci && node build.mjs --outdir" in text
    bundle_test = (ROOT / "tests/integration/test_web_bundle.py").read_text()
    assert '"ci"' in bundle_test
    assert "--outdir" in bundle_test
