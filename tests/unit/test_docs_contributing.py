"""docs/contributing.md shows commands that exist and the modules the mutation tool really checks.

The page and the code cannot drift apart: every ``./dev TASK`` the page names is a task of the
``dev`` script, every task of the script is on the page, and the list of mutation-tested modules
is ``MODULES`` of ``bench/mutation.py``, in order.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "contributing.md").read_text("utf-8")


def _dev_tasks() -> set[str]:
    script = (ROOT / "dev").read_text("utf-8")
    case = script[script.index('case "$task" in') :]
    return set(re.findall(r"^\s{4}([a-z-]+)\)", case, flags=re.MULTILINE))


def test_every_dev_task_on_the_page_exists_and_every_task_is_there() -> None:
    tasks = _dev_tasks()
    assert {"demo", "test", "serve", "mutation"} <= tasks
    named = set(re.findall(r"\./dev ([a-z-]+)", PAGE))
    assert named == tasks


def test_the_page_lists_the_mutation_tested_modules() -> None:
    tool_path = ROOT / "bench" / "mutation.py"
    spec = importlib.util.spec_from_file_location("bench_mutation_docs", tool_path)
    assert spec is not None
    assert spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tool  # dataclasses look their module up while being built
    spec.loader.exec_module(tool)
    block = PAGE.split("<!-- mutation-modules -->")[1].split("<!-- /mutation-modules -->")[0]
    assert re.findall(r"^- `([^`]+)`$", block, flags=re.MULTILINE) == list(tool.MODULES)


def test_the_module_options_on_the_page_are_the_tools() -> None:
    source = (ROOT / "bench" / "mutation.py").read_text("utf-8")
    for option in set(re.findall(r"\./dev mutation[^\n]*", PAGE)):
        for flag in re.findall(r"(--[a-z-]+)", option):
            assert f'"{flag}"' in source, flag
