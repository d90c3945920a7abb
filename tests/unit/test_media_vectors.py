"""The SDK writes and reads every row of ``tests/vectors/web/media.json``.

The same file is what the browser is checked against
(``tests/integration/test_web_media_vectors.py``): the browser rewrites the room's
``custom_audiences`` table as the SDK writes it, so a change of :meth:`CustomAudience.to_row`
that is not also made in the vectors (``make_media_vectors.py``) and in ``web/src/media.ts``
fails here first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sealroom.media import CustomAudience
from tests.vectors.web.make_media_vectors import build

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "web" / "media.json").read_text()
)
ROWS: list[dict[str, Any]] = VECTORS["custom_audience_rows"]


@pytest.mark.parametrize("case", ROWS, ids=lambda case: str(case["case"]))
def test_to_row_writes_the_known_row(case: dict[str, Any]) -> None:
    assert CustomAudience(**case["audience"]).to_row() == case["row"]


@pytest.mark.parametrize("case", ROWS, ids=lambda case: str(case["case"]))
def test_from_row_reads_the_known_audience(case: dict[str, Any]) -> None:
    assert CustomAudience.from_row(tuple(case["row"])) == CustomAudience(**case["audience"])


def test_the_file_is_what_the_generator_writes() -> None:
    # The vectors are made from the SDK's builders: a builder that changes its definitions
    # changes them here too, and the file must be made again (and the browser checked).
    assert build() == VECTORS


def test_the_vectors_cover_what_the_browser_could_get_wrong() -> None:
    rows = [case["row"] for case in ROWS]
    kinds = {json.loads(row[5]).get("kind") for row in rows}
    assert {"REMARKETING", "EXCLUSION_TARGETING", "LOOKALIKE", "RULE_BASED"} <= kinds
    written = "".join(row[4] + row[5] for row in rows)
    # Escaped: beyond U+FFFF (a surrogate pair), U+007F (ASCII, yet escaped by Python), lone
    # surrogates, controls; the JSON columns are ASCII only.
    for escape in ("\\ud83d\\ude00", "\\u007f", "\\ud800", "\\u0000", "\\u2028", '\\"', "\\\\"):
        assert escape in written, escape
    assert written.isascii()
    assert any(case["audience"]["shared_with"] for case in ROWS)
    assert any(not case["audience"]["created_by_group"] for case in ROWS)
