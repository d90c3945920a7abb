"""Write ``tests/vectors/web/media.json``: rows of the ``custom_audiences`` table that the browser
and Python must write byte for byte alike.

Run by hand after a deliberate format change (and say so in the commit)::

    .venv/bin/python tests/vectors/web/make_media_vectors.py

The browser creates custom audiences by rewriting the room's ``custom_audiences`` table as the
SDK writes it (``web/src/media.ts``, ``customAudienceRow``); the SDK reads it back
(``CustomAudience.from_row``). Each vector is a :class:`CustomAudience` (its fields as the SDK
names them) and the row :meth:`CustomAudience.to_row` writes for it: the definitions the SDK's
builders make for each kind, and definitions and names that stress how JSON is written (key
order by code point, non-ASCII and characters beyond U+FFFF escaped as ``\\uXXXX`` pairs,
control characters, quotes and backslashes, nesting, booleans, nulls and whole numbers).

``tests/unit/test_media_vectors.py`` checks Python still writes every row;
``tests/integration/test_web_media_vectors.py`` checks the browser does.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from sealroom.media import (
    AudienceCombinator,
    AudienceFilters,
    AudienceReference,
    CombineOperator,
    CustomAudience,
    ExclusionTargetingAudienceBuilder,
    Filter,
    FilterOperator,
    LookalikeAudienceBuilder,
    MatchOperator,
    RemarketingAudienceBuilder,
    RuleBasedAudienceBuilder,
)
from sealroom.media.audiences import AudienceDraft

OUT = Path(__file__).with_name("media.json")

#: Fixed inputs: the ids and times the SDK would make at random or from the clock.
CREATED_AT = "2026-01-31T09:00:00Z"
GROUP = "g-advertiser"


def _drafts() -> list[tuple[str, AudienceDraft]]:
    remarketing = CustomAudience(
        "0123456789abcdef", "buyers again", "adam@shop.example", CREATED_AT, [], {}, GROUP
    )
    return [
        (
            "remarketing",
            RemarketingAudienceBuilder(name="buyers again", source_audience_type="buyers").build(),
        ),
        (
            "exclusion, shared with two groups",
            ExclusionTargetingAudienceBuilder(name="not buyers", source_audience_type="buyers")
            .with_share_with_participants(["g-publisher", "Agency"])
            .build(),
        ),
        (
            "lookalike of a custom audience, without it",
            LookalikeAudienceBuilder(name="like buyers", reach=12, source_audience=remarketing)
            .with_exclude_seed_audience()
            .build(),
        ),
        (
            "lookalike of a seed audience",
            LookalikeAudienceBuilder(
                name="like browsers", reach=30, source_audience=AudienceReference.seed("browsers")
            ).build(),
        ),
        (
            "rule-based, filters and combinations",
            RuleBasedAudienceBuilder(name="sporty women or car buyers", source_audience="BASE")
            .with_filters(
                AudienceFilters(
                    [
                        Filter("segment", ["sports", "vélo"], FilterOperator.CONTAINS_ANY_OF),
                        Filter("gender", ["f"], FilterOperator.CONTAINS_ANY_OF),
                        Filter("age", [], FilterOperator.NOT_EMPTY),
                    ],
                    MatchOperator.MATCH_ALL,
                )
            )
            .with_combinator(
                [
                    AudienceCombinator(
                        CombineOperator.UNION,
                        remarketing,
                        AudienceFilters([Filter("segment", ["cars"])]),
                    ),
                    AudienceCombinator(CombineOperator.DIFF, AudienceReference.seed("tiny")),
                ]
            )
            .build(),
        ),
        (
            "rule-based, no filter",
            RuleBasedAudienceBuilder(name="everyone", source_audience="BASE").build(),
        ),
    ]


#: Definitions no builder makes, for how JSON is written: (name, audience name, shared with,
#: definition, group).
EDGE_CASES: list[tuple[str, str, list[str], dict[str, Any], str]] = [
    (
        "non-ASCII and astral characters",
        "Käufer \u2013 東京 😀",
        ["Éditeur", "広告主 😀"],
        {"kind": "RULE_BASED", "note": "café 東京 😀 \u2028\u2029 \ufeff", "é": 1, "z": 2},
        "g-é",
    ),
    (
        "escapes and control characters",
        'quote " backslash \\ tab \t',
        ['a "quoted" group', "back\\slash"],
        {
            "kind": "RULE_BASED",
            "text": 'quote " backslash \\ slash / newline \n tab \t cr \r nul \u0000 '
            "\u0008\u000c\u001f\u007f",
            "lone surrogate": "\ud800",
        },
        "",
    ),
    (
        "key order by code point",
        "keys",
        [],
        # Python sorts by code point: "B" < "_" < "a" < "é" < "\uffff" < "😀" (UTF-16 code
        # units would put "😀", a surrogate pair, before "\uffff").
        {"a": 1, "_": 2, "B": 3, "é": 4, "😀": 5, "\uffff": 6, "10": 7, "9": 8, "": 9},
        GROUP,
    ),
    (
        "nesting, booleans, nulls, whole numbers",
        "shapes",
        [],
        {
            "kind": "LOOKALIKE",
            "nested": [[[{"deep": [1, [2, [3, {}]]]}]]],
            "empty": [],
            "object": {},
            "flags": [True, False, None],
            "numbers": [0, -1, 9007199254740991, -9007199254740991],
        },
        GROUP,
    ),
]


def build() -> dict[str, Any]:
    audiences: list[tuple[str, CustomAudience]] = []
    for index, (case, draft) in enumerate(_drafts()):
        audiences.append(
            (
                case,
                CustomAudience(
                    f"{index:016x}",
                    draft.name,
                    "adam@shop.example",
                    CREATED_AT,
                    draft.share_with,
                    draft.definition,
                    GROUP,
                ),
            )
        )
    for index, (case, name, shared, definition, group) in enumerate(EDGE_CASES, start=100):
        audiences.append(
            (
                case,
                CustomAudience(
                    f"{index:016x}", name, "pia@news.example", CREATED_AT, shared, definition, group
                ),
            )
        )
    return {
        "custom_audience_rows": [
            {
                "case": case,
                "audience": {k: v for k, v in dataclasses.asdict(audience).items() if k != "kind"},
                "row": audience.to_row(),
            }
            for case, audience in audiences
        ]
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    main()
