"""The core's rules still give every answer of ``tests/vectors/web/commits.json``.

The same file is what the browser is checked against
(``tests/integration/test_web_commit_vectors.py``): the browser applies commits to show a room
and derives approver groups to check the host's, so a change of
:func:`~sealroom.model.commits.apply_commit` or :func:`~sealroom.model.commits.approver_groups`
that is not also made in ``web/src/requests.ts`` and in the vectors fails here first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.vectors.web.make_commit_vectors import build

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "web" / "commits.json").read_text()
)


def test_the_file_is_what_the_core_s_rules_give() -> None:
    assert build() == VECTORS


def test_the_vectors_cover_every_kind_of_change() -> None:
    commits = [case["commit"] for case in VECTORS["cases"]]
    for field in ("nodes", "analysts", "owners", "withdrawals"):
        assert any(commit.get(field) for commit in commits), field
    # Someone leaves the room, someone joins it, and a new owner never approves for their node.
    emails = [{p["email"] for p in case["participants"]} for case in VECTORS["cases"]]
    assert any(len(e) < len(VECTORS["definition"]["participants"]) for e in emails)
    assert any(len(e) > len(VECTORS["definition"]["participants"]) for e in emails)
