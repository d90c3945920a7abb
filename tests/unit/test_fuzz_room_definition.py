"""Fuzzing the room-definition parsers (issue 21, item 10): DefinitionError or a valid room.

:func:`~sealroom.model.template.parse_template` (a template file from anyone) and
:func:`~sealroom.model.definition.parse_definition` (a definition received by the core) document
one error class, :class:`~sealroom.errors.DefinitionError`, for every problem. Hypothesis gives
them arbitrary bytes, arbitrary JSON and, mostly, a template with every node kind in it
(tests/unit/test_template.py's ``rich_definition``) changed at random places: any other exception
fails the test. A file they accept must be a room that passes the core's structural checks
again and exports to a template that parses back to it.
"""

from __future__ import annotations

import contextlib
import json

from hypothesis import given
from hypothesis import strategies as st

from sealroom.errors import DefinitionError
from sealroom.model.definition import RoomDefinition, parse_definition
from sealroom.model.template import export_template, parse_template
from tests.unit.fuzz_strategies import FUZZ, JSON, mutated_json
from tests.unit.test_template import rich_definition

RICH = rich_definition()
TEMPLATE = json.loads(export_template(RICH))
DEFINITION = RICH.model_dump(mode="json")


def _accepted_template(text: str | bytes) -> RoomDefinition | None:
    try:
        definition = parse_template(text, owner="owner@example.com")
    except DefinitionError:
        return None
    # Accepted: it is a room the core would take, and it round-trips as a template.
    assert parse_definition(definition.model_dump(mode="json")) == definition
    again = parse_template(export_template(definition))
    assert again.model_dump(exclude={"salt"}) == definition.model_dump(exclude={"salt"})
    return definition


def test_the_seed_template_is_accepted() -> None:
    assert _accepted_template(json.dumps(TEMPLATE)) is not None


@FUZZ
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_definition_error(data: bytes) -> None:
    _accepted_template(data)


@FUZZ
@given(document=JSON)
def test_arbitrary_json_raises_only_definition_error(document: object) -> None:
    _accepted_template(json.dumps(document))
    with contextlib.suppress(DefinitionError):
        parse_definition(document)


@FUZZ
@given(document=mutated_json(TEMPLATE))
def test_a_changed_template_raises_only_definition_error(document: object) -> None:
    _accepted_template(json.dumps(document, ensure_ascii=False))


@FUZZ
@given(document=mutated_json(TEMPLATE, max_mutations=1), cut=st.integers(0, 4000))
def test_a_cut_or_respelled_template_raises_only_definition_error(
    document: object, cut: int
) -> None:
    text = json.dumps(document, indent=2)
    _accepted_template(text[:cut])  # truncated JSON: syntax errors with line and column
    _accepted_template(text.encode("utf-16"))  # not UTF-8


@FUZZ
@given(document=mutated_json(DEFINITION))
def test_a_changed_definition_raises_only_definition_error(document: object) -> None:
    try:
        definition = parse_definition(document)
    except DefinitionError:
        return
    assert parse_definition(definition.model_dump(mode="json")) == definition
