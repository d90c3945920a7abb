"""docs/provisioning.md: its Python example runs as written, and every option a report's hint
names is an option of ``sealroom dataset provision``."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from sealroom.cli.main import app
from sealroom.validation import report

PAGE = Path(__file__).parents[2] / "docs" / "provisioning.md"


def test_the_python_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], str(PAGE), "exec"), {})


def provision_options() -> set[str]:
    command = typer.main.get_command(app)
    dataset = command.commands["dataset"]  # type: ignore[attr-defined]
    return {
        option
        for parameter in dataset.commands["provision"].params
        for option in (*parameter.opts, *parameter.secondary_opts)
    }


def test_every_option_a_hint_names_exists() -> None:
    hints = " ".join([*report._HINT_TEXT.values(), report._ENCODING_HINT, report._DELIMITER_HINT])
    named = set(re.findall(r"--[a-z-]+", hints))
    assert named >= {"--thousands-separator", "--decimal-comma", "--encoding", "--delimiter"}
    assert named <= provision_options()
    # The page's options are provision's (and share-statistics' --stop).
    page_options = set(re.findall(r"`(--[a-z-]+)", PAGE.read_text()))
    assert page_options - {"--stop"} <= provision_options()
