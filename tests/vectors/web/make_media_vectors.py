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

Two more kinds of known answers, for what the web app's Media tab does as the SDK does:

* ``rule_based_definitions``: what :class:`RuleBasedAudienceBuilder` makes of a source, filters
  and combination steps (the browser's ``ruleBasedDefinition``), and the inputs it refuses;
* ``audience_changes``: the ``custom_audiences`` table :meth:`MediaDcr.share_audiences` and
  :meth:`MediaDcr.delete_audiences` write, or the refusal (its code and the audience it names),
  run by the SDK's own methods over a list instead of a room (the browser's ``afterSharing``,
  ``afterDeleting``).

``tests/unit/test_media_vectors.py`` checks Python still writes every row;
``tests/integration/test_web_media_vectors.py`` checks the browser does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sealroom.errors import ConflictError, DefinitionError, PermissionDeniedError
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
    MediaDcr,
    Participant,
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


# -- rule-based definitions: the builder's inputs as the browser holds them -------------------
#: (case, input): a source reference, ``filters`` (None: with_filters is not called) and
#: ``combine`` steps (empty: with_combinator is not called).
RULE_INPUTS: list[tuple[str, dict[str, Any]]] = [
    ("the base, no filter", {"source": {"kind": "BASE"}, "filters": None, "combine": []}),
    (
        "a seed audience, all filters of every operator",
        {
            "source": {"kind": "SEED", "audienceType": "buyers"},
            "filters": {
                "booleanOp": "AND",
                "filters": [
                    {"attribute": "segment", "operator": "CONTAINS_ANY_OF", "values": ["sports"]},
                    {
                        "attribute": "segment",
                        "operator": "CONTAINS_NONE_OF",
                        "values": ["cars", "vélo 😀"],
                    },
                    {"attribute": "age", "operator": "CONTAINS_ALL_OF", "values": ["18-24"]},
                    # EMPTY and NOT_EMPTY take no values: those given are not written.
                    {"attribute": "gender", "operator": "EMPTY", "values": []},
                    {"attribute": "age", "operator": "NOT_EMPTY", "values": ["ignored"]},
                ],
            },
            "combine": [],
        },
    ),
    (
        "any of, combined three ways, a step filtered",
        {
            "source": {"kind": "CUSTOM", "id": "0123456789abcdef"},
            "filters": {
                "booleanOp": "OR",
                "filters": [
                    {"attribute": "gender", "operator": "CONTAINS_ANY_OF", "values": ["f"]},
                    {"attribute": "age", "operator": "CONTAINS_ANY_OF", "values": ["25-34"]},
                ],
            },
            "combine": [
                {
                    "operator": "INTERSECT",
                    "source": {"kind": "SEED", "audienceType": "browsers"},
                    "filters": {
                        "booleanOp": "AND",
                        "filters": [
                            {"attribute": "segment", "operator": "NOT_EMPTY", "values": []}
                        ],
                    },
                },
                {"operator": "UNION", "source": {"kind": "BASE"}, "filters": None},
                {
                    "operator": "DIFF",
                    "source": {"kind": "SEED", "audienceType": "tiny"},
                    "filters": {"booleanOp": "OR", "filters": []},
                },
            ],
        },
    ),
    (
        "an empty filter list",
        {"source": {"kind": "BASE"}, "filters": {"booleanOp": "AND", "filters": []}, "combine": []},
    ),
    (
        "refused: a filter without values",
        {
            "source": {"kind": "BASE"},
            "filters": {
                "booleanOp": "AND",
                "filters": [{"attribute": "segment", "operator": "CONTAINS_ANY_OF", "values": []}],
            },
            "combine": [],
        },
    ),
    (
        "refused: an attribute rules cannot filter on",
        {
            "source": {"kind": "BASE"},
            "filters": None,
            "combine": [
                {
                    "operator": "UNION",
                    "source": {"kind": "BASE"},
                    "filters": {
                        "booleanOp": "AND",
                        "filters": [{"attribute": "income", "operator": "NOT_EMPTY", "values": []}],
                    },
                }
            ],
        },
    ),
]


def _filters(data: dict[str, Any] | None) -> AudienceFilters | None:
    if data is None:
        return None
    filters = [
        Filter(f["attribute"], list(f["values"]), FilterOperator(f["operator"]))
        for f in data["filters"]
    ]
    return AudienceFilters(filters, MatchOperator(data["booleanOp"]))


def rule_definition(data: dict[str, Any]) -> dict[str, Any] | None:
    """What RuleBasedAudienceBuilder makes of ``data``; None when it refuses it."""
    builder = RuleBasedAudienceBuilder(name="rule", source_audience=data["source"])
    filters = _filters(data["filters"])
    if filters is not None:
        builder = builder.with_filters(filters)
    if data["combine"]:
        builder = builder.with_combinator(
            [
                AudienceCombinator(
                    CombineOperator(step["operator"]), step["source"], _filters(step["filters"])
                )
                for step in data["combine"]
            ]
        )
    try:
        return builder.build().definition
    except DefinitionError:
        return None


# -- share and delete: the SDK's own methods over a list ---------------------------------------
class _Offline(MediaDcr):
    """MediaDcr's share_audiences and delete_audiences as they are, changing ``audiences``
    instead of the room's ``custom_audiences`` and keeping what they would write; the caller is
    in ``group`` with CREATE_CUSTOM_AUDIENCE."""

    def __init__(self, audiences: list[CustomAudience], group: Participant) -> None:
        self._audiences = audiences
        self._caller = group
        self.written: list[CustomAudience] | None = None

    def _require(self, *permissions: Any) -> None:
        return None

    def _group(self) -> Participant:
        return self._caller

    def _change_custom(
        self, change: Callable[[list[CustomAudience]], list[CustomAudience]]
    ) -> None:
        # The SDK's own change, on the list instead of the room's table, once (nobody else
        # writes here, so the condition the room's publication carries always holds).
        self.written = list(change(list(self._audiences)))


def _audience(
    ident: str, group: str, shared: list[str], definition: dict[str, Any]
) -> CustomAudience:
    return CustomAudience(
        ident, f"audience {ident}", "x@shop.example", CREATED_AT, shared, definition, group
    )


def _ref(ident: str) -> dict[str, Any]:
    return AudienceReference.custom(ident)


#: A table: a (ours) <- b (ours, a lookalike of a) <- c (ours, rule-based on b);
#: d (ours, alone); e (theirs, shared with us) <- f (theirs, lookalike of a).
_CHANGES_TABLE = [
    _audience("a", "g-ours", [], {"kind": "REMARKETING", "seedAudienceRef": {"audienceType": "t"}}),
    _audience(
        "b",
        "g-ours",
        ["g-theirs"],
        {"kind": "LOOKALIKE", "sourceRef": _ref("a"), "reach": 5, "excludeSeedAudience": False},
    ),
    _audience(
        "c",
        "g-ours",
        [],
        {
            "kind": "RULE_BASED",
            "sourceRef": {"kind": "BASE"},
            "combine": [{"operator": "DIFF", "sourceRef": _ref("b")}],
        },
    ),
    _audience(
        "d",
        "g-ours",
        ["Agency"],
        {"kind": "EXCLUSION_TARGETING", "seedAudienceRef": {"audienceType": "t"}},
    ),
    _audience(
        "e",
        "g-theirs",
        ["g-ours"],
        {"kind": "REMARKETING", "seedAudienceRef": {"audienceType": "u"}},
    ),
]
_WITH_THEIRS = [
    *_CHANGES_TABLE,
    _audience(
        "f",
        "g-theirs",
        [],
        {"kind": "LOOKALIKE", "sourceRef": _ref("d"), "reach": 10, "excludeSeedAudience": True},
    ),
]

#: (case, table, action, ids, participants (share) or with_dependents (delete)).
CHANGES: list[tuple[str, list[CustomAudience], str, list[str], Any]] = [
    (
        "share two with a group and a role",
        _CHANGES_TABLE,
        "share",
        ["a", "d"],
        ["g-theirs", "Agency"],
    ),
    (
        "share again: each group once, in order",
        _CHANGES_TABLE,
        "share",
        ["b"],
        ["Agency", "g-theirs"],
    ),
    ("share another group's: refused", _CHANGES_TABLE, "share", ["d", "e"], ["Agency"]),
    ("share nothing", _CHANGES_TABLE, "share", [], ["Agency"]),
    ("delete one nothing depends on", _CHANGES_TABLE, "delete", ["c"], False),
    ("delete one others depend on: refused", _CHANGES_TABLE, "delete", ["a"], False),
    ("delete with its dependents, two deep", _CHANGES_TABLE, "delete", ["a"], True),
    ("delete another group's: refused", _CHANGES_TABLE, "delete", ["e"], True),
    ("delete one another group's depends on: refused", _WITH_THEIRS, "delete", ["d"], True),
    (
        "delete one another group's depends on, without dependents",
        _WITH_THEIRS,
        "delete",
        ["d"],
        False,
    ),
]


def _row(audience: CustomAudience) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(audience).items() if k != "kind"}


def audience_change(
    table: list[CustomAudience], action: str, ids: list[str], arg: Any
) -> dict[str, Any]:
    """What the SDK writes (``written``), or why it refuses (``refused``: code and audience)."""
    room = _Offline(table, Participant(["x@shop.example"], [], "Advertiser", id="g-ours"))
    chosen = [a for a in table if a.id in ids]
    try:
        if action == "share":
            room.share_audiences(chosen, list(arg))
        else:
            room.delete_audiences(chosen, delete_dependent_audiences=bool(arg))
    except (PermissionDeniedError, ConflictError) as refused:
        named = [a.name for a in table if repr(a.name) in str(refused)]
        if len(named) != 1:
            raise RuntimeError(f"the refusal names no one audience: {refused}") from refused
        return {"refused": {"code": refused.code, "audience": named[0]}}
    assert room.written is not None
    return {"written": [_row(a) for a in room.written]}


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
        ],
        "rule_based_definitions": [
            {"case": case, "input": data, "definition": rule_definition(data)}
            for case, data in RULE_INPUTS
        ],
        "audience_changes": [
            {
                "case": case,
                "audiences": [_row(a) for a in table],
                "group": "g-ours",
                "action": action,
                "ids": ids,
                **({"participants": arg} if action == "share" else {"with_dependents": arg}),
                **audience_change(table, action, ids, arg),
            }
            for case, table, action, ids, arg in CHANGES
        ],
    }


def main() -> None:
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    main()
