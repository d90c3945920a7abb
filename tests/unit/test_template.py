"""Room templates: the export format (known answer), round trips, fresh salts, owners, errors
that say where and what without echoing values, and the committed schema and docs in sync."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealroom.cli.main import app
from sealroom.errors import DefinitionError
from sealroom.model import (
    Column,
    FormatType,
    NumericRangeRule,
    Participant,
    Permission,
    PermissionKind,
    PreviewNode,
    RawNode,
    RoomDefinition,
    RoomPrivacy,
    SqlNode,
    SyntheticColumn,
    SyntheticNode,
    TableNode,
)
from sealroom.model.columns import HashingAlgorithm
from sealroom.model.definition import FileContent, PythonNode, RNode
from sealroom.model.template import (
    MAX_REPORTED_ERRORS,
    MAX_TEMPLATE_SIZE,
    TEMPLATE_FORMAT,
    export_template,
    parse_template,
    room_definition_json_schema,
    room_definition_schema_text,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"
OWNER = "alice@bank.example"
REGENERATE = "sealroom dcr schema -o docs/room-definition.schema.json"


def rich_definition() -> RoomDefinition:
    """Every node kind, every kind of field set away from its default."""
    return RoomDefinition(
        name="Everything — ünïcode",
        description="a room with one node of each kind",
        owner=OWNER,
        nodes=(
            TableNode(
                name="customers",
                is_required=True,
                columns=(
                    Column(name="email", format_type=FormatType.EMAIL, is_nullable=False),
                    Column(
                        name="age",
                        format_type=FormatType.INTEGER,
                        in_range=NumericRangeRule(greater_than_equals=0, less_than=150.5),
                    ),
                    Column(
                        name="phone",
                        format_type=FormatType.STRING,
                        hash_with=HashingAlgorithm.SHA256_HEX,
                    ),
                    Column(name="spend", format_type=FormatType.FLOAT),
                ),
                unique_column_combinations=((0,), (1, 2)),
                drop_invalid_rows=True,
            ),
            RawNode(name="notes", is_required=True),
            SqlNode(
                name="spend by age",
                query="SELECT age, SUM(spend) AS s FROM customers GROUP BY age",
                dependencies=("customers",),
                dp_epsilon=0.5,
                dp_delta=1e-7,
                dp_max_rows_per_unit=3,
                dp_bounds=(("spend", -1.5, 1e6),),
            ),
            PythonNode(
                name="py",
                script="print('hi')\n",
                dependencies=("notes", "spend by age"),
                additional_files=(FileContent(name="helper.py", content="X = 1\n"),),
                enable_logs_on_error=True,
            ),
            RNode(name="r", script="cat(1)\n", enable_logs_on_success=True),
            SyntheticNode(
                name="synthetic",
                dependency="customers",
                columns=(
                    SyntheticColumn(index=0, data_type="string", mask_type="email", name="e"),
                ),
                epsilon=2.5,
                model="aim",
                output_original_data_statistics=True,
            ),
            PreviewNode(name="peek", dependency="py", quota_bytes=4096),
        ),
        participants=(
            Participant(email=OWNER, data_owner_of=("customers", "notes")),
            Participant(
                email="carol@analytics.example",
                analyst_of=("spend by age", "peek"),
                permissions=(Permission(kind=PermissionKind.RETRIEVE_COMPUTE_RESULT, node="py"),),
            ),
        ),
        basic_permissions=False,
        privacy=RoomPrivacy(
            unit_column="email", allow_revealing_aggregates=True, dp_epsilon_budget=10
        ),
    )


def minimal_document() -> dict[str, object]:
    return {
        "format": TEMPLATE_FORMAT,
        "version": 2,
        "name": "room",
        "owner": OWNER,
        "nodes": [
            {"kind": "table", "name": "t", "columns": [{"name": "a", "format_type": "STRING"}]},
            {"kind": "raw", "name": "f"},
            {"kind": "sql", "name": "q", "query": "SELECT COUNT(*) FROM t", "dependencies": ["t"]},
        ],
        "participants": [{"email": OWNER, "data_owner_of": ["t"], "analyst_of": ["q"]}],
    }


def error_of(text: str | bytes, **kwargs: object) -> str:
    with pytest.raises(DefinitionError) as caught:
        parse_template(text, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


# -- the format ------------------------------------------------------------------------------
KNOWN_ANSWER = """\
{
  "format": "sealroom/room-definition",
  "version": 2,
  "name": "kat",
  "description": "",
  "owner": "alice@bank.example",
  "nodes": [
    {
      "kind": "raw",
      "name": "file",
      "is_required": false
    }
  ],
  "participants": [
    {
      "email": "bob@insurer.example",
      "data_owner_of": [
        "file"
      ],
      "analyst_of": [],
      "permissions": []
    }
  ],
  "basic_permissions": true,
  "privacy": {
    "unit_column": null,
    "allow_revealing_aggregates": false,
    "dp_epsilon_budget": null,
    "dp_delta_budget": 1e-05
  },
  "interactive": false,
  "enable_development": false,
  "trust_roots": [],
  "identities": []
}
"""


def test_export_known_answer() -> None:
    # Marker first, then the model's field order, 2-space indent, every field, no salt, a final
    # newline. A failure here means the template format changed: update docs/room-definition.md.
    definition = RoomDefinition(
        name="kat",
        owner=OWNER,
        salt="ab" * 16,
        nodes=(RawNode(name="file"),),
        participants=(Participant(email="bob@insurer.example", data_owner_of=("file",)),),
    )
    assert export_template(definition) == KNOWN_ANSWER


def test_export_writes_no_salt_and_keeps_non_ascii_text_readable() -> None:
    definition = rich_definition()
    text = export_template(definition)
    assert definition.salt not in text
    assert "salt" not in json.loads(text)
    assert "Everything — ünïcode" in text
    assert list(json.loads(text))[:3] == ["format", "version", "name"]


def test_round_trip_keeps_everything_but_the_salt() -> None:
    original = rich_definition()
    parsed = parse_template(export_template(original))
    assert parsed.model_dump(exclude={"salt"}) == original.model_dump(exclude={"salt"})
    assert parsed.model_copy(update={"salt": original.salt}) == original
    assert parsed.model_copy(update={"salt": original.salt}).room_id == original.room_id
    # And again: the export of the parsed room is the same text.
    assert export_template(parsed) == export_template(original)


def test_each_use_of_a_template_is_a_new_room() -> None:
    text = export_template(rich_definition())
    first, second = parse_template(text), parse_template(text.encode())
    assert re.fullmatch(r"[0-9a-f]{32}", first.salt)
    assert first.salt != second.salt
    assert first.room_id != second.room_id


def test_hand_written_templates_may_leave_out_defaults() -> None:
    definition = parse_template(json.dumps(minimal_document()))
    assert definition.description == ""
    assert definition.basic_permissions is True
    assert definition.privacy == RoomPrivacy()
    sql = definition.node("q")
    assert isinstance(sql, SqlNode)
    assert sql.minimum_rows_count is None


def test_the_seed_spelling_of_range_bounds_is_accepted() -> None:
    document = minimal_document()
    document["nodes"] = [
        {
            "kind": "table",
            "name": "t",
            "columns": [{"name": "a", "format_type": "INTEGER", "in_range": {"greaterThan": 1}}],
        }
    ]
    document["participants"] = []
    table = parse_template(json.dumps(document)).node("t")
    assert isinstance(table, TableNode)
    assert table.columns[0].in_range == NumericRangeRule(greater_than=1)


def test_a_schema_reference_for_editors_is_ignored() -> None:
    document = {"$schema": "./room-definition.schema.json", **minimal_document()}
    plain = parse_template(json.dumps(minimal_document()))
    with_schema = parse_template(json.dumps(document))
    assert with_schema.model_dump(exclude={"salt"}) == plain.model_dump(exclude={"salt"})


def test_a_byte_order_mark_is_tolerated() -> None:
    text = "\ufeff" + json.dumps(minimal_document())
    assert parse_template(text.encode()).name == "room"
    assert parse_template(text).name == "room"


def test_the_docs_example_is_a_valid_template() -> None:
    markdown = (DOCS / "room-definition.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", markdown, flags=re.DOTALL)
    assert blocks, "docs/room-definition.md has no ```json example"
    definition = parse_template(blocks[0])
    assert {node.kind for node in definition.nodes} == {"table", "sql", "preview"}


# -- owners ----------------------------------------------------------------------------------
def test_the_owner_in_the_file_is_kept() -> None:
    assert parse_template(json.dumps(minimal_document()), owner="x@y.example").owner == OWNER


def test_a_missing_owner_is_filled_in() -> None:
    document = minimal_document()
    del document["owner"]
    assert parse_template(json.dumps(document), owner="x@y.example").owner == "x@y.example"
    assert error_of(json.dumps(document)) == "invalid room template: owner: field required"
    document["owner"] = None
    assert parse_template(json.dumps(document), owner="x@y.example").owner == "x@y.example"


def test_replace_owner_makes_the_given_user_the_owner() -> None:
    text = json.dumps(minimal_document())
    definition = parse_template(text, owner="x@y.example", replace_owner=True)
    assert definition.owner == "x@y.example"
    # Participants stay as written.
    assert [p.email for p in definition.participants] == [OWNER]
    assert "owner" in error_of(text, owner="not an e-mail", replace_owner=True)


# -- errors ----------------------------------------------------------------------------------
def mutate(change: object) -> str:
    document = minimal_document()
    change(document)  # type: ignore[operator]
    return json.dumps(document, indent=2)


def _del_query(d: dict) -> None:  # type: ignore[type-arg]
    del d["nodes"][2]["query"]


def _del_kind(d: dict) -> None:  # type: ignore[type-arg]
    del d["nodes"][1]["kind"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '{\n  "format": "sealroom/room-definition",\n  "version": 2\n  "name": "x"\n}',
            "invalid room template: not valid JSON at line 4, column 3: Expecting ',' delimiter",
            id="syntax",
        ),
        pytest.param("[1, 2]", "the file must hold a JSON object", id="not-an-object"),
        pytest.param(
            mutate(lambda d: d.pop("format")),
            'format: field required (a template starts with "format": "sealroom/room-definition")',
            id="no-marker",
        ),
        pytest.param(
            mutate(lambda d: d.update(format="decentriq/data-room")),
            "format: not a Sealroom room template",
            id="wrong-marker",
        ),
        pytest.param(
            mutate(lambda d: (d.pop("format"), d.update(salt="00" * 16))),
            "this looks like a room definition, not a template: export one with "
            "`sealroom dcr export ROOM_ID`",
            id="a-definition-not-a-template",
        ),
        pytest.param(
            mutate(lambda d: d.update(salt="00" * 16)),
            "salt: not allowed in a template; every room created from a template gets a fresh "
            "random salt",
            id="salt",
        ),
        pytest.param(mutate(lambda d: d.pop("version")), "version: field required", id="no-vers"),
        pytest.param(
            mutate(lambda d: d.update(version=3)),
            "version: unsupported version 3; this Sealroom reads version 2 templates",
            id="version-3",
        ),
        pytest.param(
            mutate(lambda d: d.update({"$schema": 5})), "$schema: must be a string", id="schema"
        ),
        pytest.param(
            mutate(lambda d: d["nodes"][0]["columns"][0].update(nullable=False)),
            "invalid room template: nodes[0].columns[0].nullable: unknown field",
            id="unknown-field",
        ),
        pytest.param(
            mutate(lambda d: d.update({"room name": "x"})),
            'invalid room template: ["room name"]: unknown field',
            id="unknown-field-odd-key",
        ),
        pytest.param(
            mutate(lambda d: d["nodes"][1].update(kind="spreadsheet")),
            "invalid room template: nodes[1].kind: unknown value (one of 'table', 'raw', 'sql',",
            id="wrong-node-kind",
        ),
        pytest.param(
            mutate(_del_kind), "invalid room template: nodes[1].kind: field required", id="no-kind"
        ),
        pytest.param(
            mutate(_del_query),
            "invalid room template: nodes[2].query: field required",
            id="missing-field",
        ),
        pytest.param(
            mutate(lambda d: d["nodes"][2].update(minimum_rows_count=1)),
            "invalid room template: nodes[2].minimum_rows_count: input should be greater than "
            "or equal to 2",
            id="bound",
        ),
        pytest.param(
            mutate(lambda d: d["participants"][0].update(permissions=[{"kind": "leaf_crud"}])),
            "invalid room template: participants[0].permissions[0]: permission leaf_crud needs "
            "a node",
            id="model-validator",
        ),
        pytest.param(
            mutate(lambda d: d["nodes"][2].update(dependencies=["t", "nowhere"])),
            "invalid room template: SQL node 'q' depends on unknown node 'nowhere'",
            id="structure",
        ),
        pytest.param(
            '{"format": "sealroom/room-definition", "version": 2, "version": 2}',
            'the key "version" appears twice in an object',
            id="duplicate-key",
        ),
        pytest.param(
            mutate(lambda d: d.update(nodes="NaN")).replace('"NaN"', "NaN"),
            "NaN, Infinity and -Infinity are not JSON numbers",
            id="nan",
        ),
        pytest.param(
            mutate(lambda d: d["nodes"][2].update(dp_epsilon="BIG")).replace('"BIG"', "1e999"),
            "a number is too large for a 64-bit float",
            id="overflow",
        ),
        pytest.param(
            mutate(lambda d: d["nodes"][0].update(name="SURROGATE")).replace(
                "SURROGATE", "\\ud800"
            ),
            "invalid room template: nodes[0].name: holds an unpaired UTF-16 surrogate",
            id="surrogate",
        ),
        pytest.param("[" * 100_000 + "]" * 100_000, "nested too deeply", id="deep-json"),
        pytest.param(
            mutate(lambda d: d.update(description="DEEP")).replace('"DEEP"', "[" * 100 + "]" * 100),
            "nested deeper than a template can be",
            id="deep-but-parsable",
        ),
    ],
)
def test_errors_say_where_and_what(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_invalid_utf8_names_the_byte() -> None:
    text = json.dumps(minimal_document()).encode().replace(b'"room"', b'"r\xffom"')
    offset = text.index(b"\xff")
    assert error_of(text) == f"invalid room template: not UTF-8 text (byte {offset})"


def test_oversized_files_are_refused_before_parsing() -> None:
    message = error_of(b" " * (MAX_TEMPLATE_SIZE + 1))
    assert message == "invalid room template: the file is larger than the 32 MiB a template may be"


def test_several_problems_are_reported_at_once_up_to_a_limit() -> None:
    document = minimal_document()
    document["nodes"] = [{"kind": "raw", "name": "f", f"extra{i}": 1} for i in range(8)]
    message = error_of(json.dumps(document))
    assert message.count("unknown field") == MAX_REPORTED_ERRORS
    assert message.startswith("invalid room template: nodes[0].extra0: unknown field")
    assert message.endswith(f"; and {8 - MAX_REPORTED_ERRORS} more")


def test_messages_never_echo_values_from_the_file() -> None:
    secret = "SECRET-4711"
    for change in (
        lambda d: d.update(format=secret),
        lambda d: d.update(version=secret),
        lambda d: d.update(basic_permissions=secret),
        lambda d: d["nodes"][1].update(kind=secret),
        lambda d: d["nodes"][0]["columns"][0].update(format_type=secret),
        lambda d: d["nodes"][2].update(minimum_rows_count=secret),
        lambda d: d["participants"][0].update(email=[secret]),
        lambda d: d["nodes"][0].update(unique_column_combinations=[[secret]]),
    ):
        message = error_of(mutate(change))
        assert message.startswith("invalid room template: ")
        assert secret not in message


# -- schema and docs -------------------------------------------------------------------------
def test_committed_schema_is_up_to_date() -> None:
    committed = (DOCS / "room-definition.schema.json").read_text()
    assert committed == room_definition_schema_text(), (
        "docs/room-definition.schema.json is out of date with the model; regenerate it with "
        f"`{REGENERATE}`"
    )


def test_schema_describes_templates_not_stored_definitions() -> None:
    schema = room_definition_json_schema()
    properties = schema["properties"]
    assert list(properties)[:3] == ["format", "$schema", "version"]
    assert properties["format"] == {
        "const": TEMPLATE_FORMAT,
        "description": "Marks the file as a Sealroom room template.",
    }
    assert "salt" not in properties
    assert schema["required"][:2] == ["format", "version"]
    assert "owner" not in schema["required"]
    assert schema["additionalProperties"] is False
    # Generated: every field of the model but the salt is there.
    assert set(RoomDefinition.model_fields) - {"salt"} <= set(properties)
    # Canonical names, as exported (not the seed's camelCase aliases).
    assert "greater_than_equals" in schema["$defs"]["NumericRangeRule"]["properties"]


def test_docs_describe_every_field_of_the_schema() -> None:
    markdown = (DOCS / "room-definition.md").read_text()
    schema = room_definition_json_schema()
    names = set(schema["properties"])
    for definition in schema["$defs"].values():
        names |= set(definition.get("properties", {}))
    missing = sorted(name for name in names if f"`{name}`" not in markdown)
    assert not missing, f"docs/room-definition.md does not describe: {', '.join(missing)}"


# -- the command, without a server -----------------------------------------------------------
def test_dcr_schema_prints_the_committed_schema() -> None:
    result = CliRunner().invoke(app, ["dcr", "schema"])
    assert result.exit_code == 0
    assert result.stdout == room_definition_schema_text()


def test_dcr_create_refuses_a_bad_template_in_one_line_before_any_request(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(mutate(_del_query))
    # Nothing listens on this port: the error must come from the file, not from a request.
    args = ["dcr", "create", str(path), "--api-url", "http://127.0.0.1:9", "--email", OWNER]
    result = CliRunner().invoke(app, [*args, "--token", "sr_unused"])
    assert result.exit_code == 2
    assert result.stderr == "error: invalid room template: nodes[2].query: field required\n"
    assert result.stdout == ""


def test_dcr_create_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    args = ["dcr", "create", str(missing), "--email", OWNER, "--token", "sr_unused"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot use {missing}: ")
