"""``sealroom.media.members`` still gives every answer of ``tests/vectors/web/media-members.json``,
the known answers the browser's ``currentGroups`` and ``memberRoles`` are checked against
(``tests/integration/test_web_media_vectors.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.vectors.web.make_media_member_vectors import build

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "web" / "media-members.json").read_text()
)


def test_the_file_is_what_the_rules_give() -> None:
    assert build() == VECTORS


def test_the_history_has_changes_that_count_and_some_that_do_not() -> None:
    groups = [json.dumps(step["groups"], sort_keys=True) for step in VECTORS["after"]]
    initial = json.dumps(VECTORS["config"]["participantGroups"], sort_keys=True)
    changed = [before != after for before, after in zip([initial, *groups], groups, strict=False)]
    assert True in changed
    assert False in changed
