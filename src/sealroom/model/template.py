"""Room templates: a room definition as a JSON file people can keep, edit, share and re-use.

A template is the definition's JSON (the same field names as its canonical form) without the
``salt``, with a format marker first::

    {
      "format": "sealroom/room-definition",
      "version": 2,
      "name": "...",
      "owner": "...",
      "nodes": [...],
      ...
    }

Invariants:

* A template never carries a salt, and :func:`parse_template` never accepts one: every room made
  from a template gets a fresh random salt, so a template used twice gives two rooms (two ids).
* ``export_template(d)`` parsed back equals ``d`` in every field but the salt; every field is
  written out, defaults included, so a template says everything the room agrees to and does not
  depend on the defaults of the version reading it.
* Every problem is a :class:`~sealroom.errors.DefinitionError` that says where (a JSON path such
  as ``nodes[2].query``, or a line and column for JSON syntax) and what. Messages name fields,
  keys and nodes, never the values found in the file.
* The JSON Schema (:func:`room_definition_json_schema`) is generated from the model, never
  written by hand, so it cannot drift from what :func:`parse_template` accepts.

Pure: no I/O. The CLI (``sealroom dcr``) and the SDK read and write the files.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sealroom.errors import DefinitionError
from sealroom.model.definition import DEFINITION_VERSION, RoomDefinition, check_definition

__all__ = [
    "MAX_REPORTED_ERRORS",
    "MAX_TEMPLATE_SIZE",
    "TEMPLATE_FORMAT",
    "export_template",
    "parse_template",
    "room_definition_json_schema",
    "room_definition_schema_text",
]

#: The format marker: the first key of every template.
TEMPLATE_FORMAT = "sealroom/room-definition"
#: 32 MiB (of UTF-8 for ``bytes``, characters for ``str``): bounds the memory of parsing a file
#: meant to be read and edited by people; rooms with hundreds of scripted nodes stay far below.
MAX_TEMPLATE_SIZE = 32 << 20
#: Validation problems listed in one message; past that the author fixes these and re-runs.
MAX_REPORTED_ERRORS = 5

_PREFIX = "invalid room template: "
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
#: Keys of a template that are not fields of the definition.
_MARKER_KEYS = ("format", "$schema")
#: Templates nest about six levels (nodes[0].columns[1].in_range.less_than); a much deeper file
#: is not a template, and walking it would only spend stack.
_MAX_DEPTH = 64
_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


# -- export ----------------------------------------------------------------------------------
def export_template(definition: RoomDefinition) -> str:
    """The definition as a template: indented JSON, the marker first, then the model's order.

    Key order is the model's field order (stable for a given Sealroom version), not sorted, so
    that the file reads top-down: name, owner, nodes, participants, settings.
    """
    body = definition.model_dump(mode="json", exclude={"salt"})
    document = {"format": TEMPLATE_FORMAT, "version": body.pop("version"), **body}
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# -- parse -----------------------------------------------------------------------------------
def parse_template(
    text: str | bytes, *, owner: str | None = None, replace_owner: bool = False
) -> RoomDefinition:
    """Parse and check a template; the result is a NEW room definition with a fresh salt.

    The file's ``owner`` is kept; ``owner`` is used when the file has none (or ``null``), or when
    ``replace_owner`` (e.g. to publish somebody else's template as your own room). Raises
    :class:`DefinitionError` for every problem, naming where it is.
    """
    if replace_owner and owner is None:
        raise ValueError("replace_owner needs the owner to put in")
    document = _load_json(text)
    # 1. An object, and a Sealroom template of a version we read (not some other JSON file).
    if not isinstance(document, dict):
        raise DefinitionError(_PREFIX + "the file must hold a JSON object ({...})")
    _check_strings(document, [])
    _check_marker(document)
    # 2. No salt: the new room's salt is drawn here, so re-using a template never re-uses an id.
    if "salt" in document:
        raise DefinitionError(
            _PREFIX + "salt: not allowed in a template; every room created from a template "
            "gets a fresh random salt (remove the field)"
        )
    fields = {key: value for key, value in document.items() if key not in _MARKER_KEYS}
    if owner is not None and (replace_owner or fields.get("owner") is None):
        fields["owner"] = owner
    # 3. The model: types, bounds, unknown fields — every problem with its path in the file.
    try:
        definition = RoomDefinition.model_validate(fields)
    except ValidationError as exc:
        raise DefinitionError(_PREFIX + _describe_errors(exc, fields)) from None
    # 4. The structure: names, dependencies, roles (the same checks as the core's).
    try:
        check_definition(definition)
    except DefinitionError as exc:
        raise DefinitionError(_PREFIX + str(exc)) from None
    return definition


def _load_json(text: str | bytes) -> object:
    if len(text) > MAX_TEMPLATE_SIZE:
        raise DefinitionError(
            f"{_PREFIX}the file is larger than the {MAX_TEMPLATE_SIZE >> 20} MiB a template may be"
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DefinitionError(f"{_PREFIX}not UTF-8 text (byte {exc.start})") from None
    # Editors on some systems write a byte-order mark; JSON forbids it, people do not see it.
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(
            text,
            object_pairs_hook=_object_without_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        # The decoder's messages describe the syntax ("Expecting ',' delimiter"), not the text.
        raise DefinitionError(
            f"{_PREFIX}not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise DefinitionError(f"{_PREFIX}the JSON is nested too deeply") from None


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys; in a template that silently drops what a reviewer
    # may have read and agreed to (two "nodes" lists, two "query" strings).
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DefinitionError(f"{_PREFIX}the key {json.dumps(key)} appears twice in an object")
        result[key] = value
    return result


def _reject_constant(name: str) -> float:
    raise DefinitionError(f"{_PREFIX}NaN, Infinity and -Infinity are not JSON numbers")


def _finite_float(literal: str) -> float:
    # "1e400" parses to inf, which no canonical JSON (and so no room id) can hold.
    value = float(literal)
    if not math.isfinite(value):
        raise DefinitionError(f"{_PREFIX}a number is too large for a 64-bit float")
    return value


def _check_strings(value: object, path: list[str | int]) -> None:
    # JSON may spell unpaired UTF-16 surrogates ("\ud800"); Python accepts them, but no UTF-8
    # (and so no canonical form, no room id) can hold them. Found here to report their path.
    if len(path) > _MAX_DEPTH:
        raise DefinitionError(
            f"{_PREFIX}{_render_path(path[:_MAX_DEPTH])}: nested deeper than a template can be"
        )
    if isinstance(value, str):
        _check_encodable(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_encodable(key, path)
            _check_strings(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, [*path, index])


def _check_encodable(text: str, path: list[str | int]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        where = _render_path(path) or "a key at the top level"
        raise DefinitionError(
            f"{_PREFIX}{where}: holds an unpaired UTF-16 surrogate (a lone \\ud800-\\udfff escape)"
        ) from None


def _check_marker(document: dict[str, Any]) -> None:
    marker = document.get("format")
    if marker != TEMPLATE_FORMAT:
        hint = (
            "; this looks like a room definition, not a template: export one with "
            "`sealroom dcr export ROOM_ID`"
            if marker is None and "salt" in document
            else ""
        )
        what = "field required" if marker is None else "not a Sealroom room template"
        expected = f'a template starts with "format": "{TEMPLATE_FORMAT}"'
        raise DefinitionError(f"{_PREFIX}format: {what} ({expected}){hint}")
    if not isinstance(document.get("$schema", ""), str):
        raise DefinitionError(f"{_PREFIX}$schema: must be a string (a path or URL of the schema)")
    version = document.get("version")
    if version is None:
        raise DefinitionError(
            f"{_PREFIX}version: field required (this Sealroom reads version "
            f"{DEFINITION_VERSION} templates)"
        )
    if version != DEFINITION_VERSION or isinstance(version, bool):
        found = f" {version}" if isinstance(version, int) and not isinstance(version, bool) else ""
        raise DefinitionError(
            f"{_PREFIX}version: unsupported version{found}; this Sealroom reads version "
            f"{DEFINITION_VERSION} templates"
        )


# -- validation errors, with their JSON paths ------------------------------------------------
def _describe_errors(exc: ValidationError, data: dict[str, Any]) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [_describe_error(error, data) for error in errors[:MAX_REPORTED_ERRORS]]
    more = len(errors) - MAX_REPORTED_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _describe_error(error: ErrorDetails, data: dict[str, Any]) -> str:
    path = _path_in_file(error["loc"], data)
    kind = error["type"]
    context = error.get("ctx") or {}
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = "unknown field (see docs/room-definition.md for the fields of each object)"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        # Rewritten because pydantic's message quotes the tag found in the file.
        discriminator = str(context.get("discriminator", "kind")).strip("'")
        path = f"{path}.{discriminator}" if path else discriminator
        expected = context.get("expected_tags")
        message = "field required" if kind == "union_tag_not_found" else "unknown value"
        if expected:
            message += f" (one of {expected})"
    else:
        message = error["msg"].removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
    return f"{path or '(top level)'}: {message}"


def _path_in_file(loc: Sequence[str | int], data: object) -> str:
    """Turn pydantic's location into the path of the value in the file.

    Pydantic's locations also name the member of a union that was tried: the node's kind for
    the discriminated ``nodes`` union (``nodes, 2, sql, query``), a type name for other unions.
    Those steps are not keys of the file and are skipped by walking the data alongside.
    """
    path: list[str | int] = []
    current: object = data
    for position, step in enumerate(loc):
        is_last = position == len(loc) - 1
        if isinstance(step, int):
            path.append(step)
            in_list = isinstance(current, list) and 0 <= step < len(current)
            current = current[step] if isinstance(current, list) and in_list else None
            continue
        if isinstance(current, dict):
            if current.get("kind") == step or (step not in current and not is_last):
                continue  # the union member pydantic tried, not a key
            path.append(step)
            current = current.get(step)
        elif current is None and is_last:
            path.append(step)  # a field of something missing or malformed
        # else: a union member tried on a scalar ("int", "str"): not part of the path
    return _render_path(path)


def _render_path(path: Sequence[str | int]) -> str:
    rendered = ""
    for step in path:
        if isinstance(step, int):
            rendered += f"[{step}]"
        elif _IDENTIFIER.match(step):
            rendered += f".{step}" if rendered else step
        else:
            rendered += f"[{json.dumps(step)}]"
    return rendered


# -- schema ----------------------------------------------------------------------------------
def room_definition_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a template, generated from :class:`RoomDefinition`.

    Property names are the canonical ones (``greater_than_equals``, not the seed's
    ``greaterThanEquals`` alias, which :func:`parse_template` also accepts). The model's salt
    is left out (a template has none) and its owner is optional (the creator fills it in).
    """
    model = RoomDefinition.model_json_schema(by_alias=False)
    fields = {name: spec for name, spec in model["properties"].items() if name != "salt"}
    fields["version"] = {
        "const": DEFINITION_VERSION,
        "description": "The version of the room definition format.",
    }
    required = [name for name in model.get("required", []) if name not in ("salt", "owner")]
    schema: dict[str, Any] = {
        "$schema": _SCHEMA_DIALECT,
        "title": "Sealroom room template",
        "description": (
            "A Sealroom room definition without its salt: `sealroom dcr create FILE` publishes "
            "it as a new room (with a fresh salt, so a new room id). See docs/room-definition.md."
        ),
        "type": "object",
        "properties": {
            "format": {
                "const": TEMPLATE_FORMAT,
                "description": "Marks the file as a Sealroom room template.",
            },
            "$schema": {
                "type": "string",
                "description": "Optional: where editors find this schema. Ignored by Sealroom.",
            },
            **fields,
        },
        "required": ["format", "version", *required],
        "additionalProperties": False,
        "$defs": model.get("$defs", {}),
    }
    return schema


def room_definition_schema_text() -> str:
    """The schema as committed in ``docs/room-definition.schema.json`` (``sealroom dcr schema``)."""
    return json.dumps(room_definition_json_schema(), indent=2, ensure_ascii=False) + "\n"
