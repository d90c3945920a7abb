"""Room definitions: canonical id, structural checks with errors that name the culprit."""

from __future__ import annotations

import hashlib
import json

import pytest

from sealroom.crypto import canonical_json
from sealroom.errors import DefinitionError
from sealroom.model import (
    Column,
    FormatType,
    NumericRangeRule,
    Participant,
    RoomDefinition,
    SqlNode,
    TableNode,
    check_definition,
    parse_definition,
)
from sealroom.model.definition import FileContent, PythonNode, RawNode, RoomPrivacy, SyntheticNode

COLUMNS = (
    Column(name="email", format_type=FormatType.EMAIL, is_nullable=False),
    Column(
        name="age", format_type=FormatType.INTEGER, in_range=NumericRangeRule(greater_than_equals=0)
    ),
)


def definition(**overrides: object) -> RoomDefinition:
    values: dict[str, object] = {
        "name": "room",
        "owner": "owner@x.example",
        "salt": "00" * 16,
        "nodes": (
            TableNode(name="customers", columns=COLUMNS),
            SqlNode(
                name="count", query="SELECT COUNT(*) FROM customers", dependencies=("customers",)
            ),
        ),
        "participants": (Participant(email="a@x.example", analyst_of=("count",)),),
    }
    values.update(overrides)
    return RoomDefinition(**values)  # type: ignore[arg-type]


def test_room_id_is_the_sha256_of_the_canonical_definition() -> None:
    room = definition()
    canonical = canonical_json(room.model_dump(mode="json"))
    assert room.canonical_bytes() == canonical
    assert room.room_id == hashlib.sha256(canonical).hexdigest()


def test_room_id_survives_a_round_trip_through_json() -> None:
    room = definition()
    again = parse_definition(json.loads(room.canonical_bytes()))
    assert again.room_id == room.room_id


def test_any_change_changes_the_id() -> None:
    base = definition()
    assert definition(name="other").room_id != base.room_id
    assert definition(salt="11" * 16).room_id != base.room_id
    changed_query = (
        TableNode(name="customers", columns=COLUMNS),
        SqlNode(name="count", query="SELECT 1 FROM customers", dependencies=("customers",)),
    )
    assert definition(nodes=changed_query).room_id != base.room_id


def test_two_rooms_with_the_same_content_get_different_ids_by_default() -> None:
    one = RoomDefinition(name="r", owner="o@x.example")
    two = RoomDefinition(name="r", owner="o@x.example")
    assert one.room_id != two.room_id


@pytest.mark.parametrize(
    ("nodes", "participants", "message"),
    [
        ((TableNode(name="1bad", columns=COLUMNS),), (), "1bad"),
        ((TableNode(name="bad name ", columns=COLUMNS),), (), "bad name"),
        # "$" of re.match also matches before a final newline; the name then reached the audit
        # log's notes, which refuse control characters (a 500 for every action on the node).
        ((TableNode(name="newline\n", columns=COLUMNS),), (), "newline"),
        ((TableNode(name="dup", columns=COLUMNS), RawNode(name="DUP")), (), "DUP"),
        ((SqlNode(name="q", query="SELECT 1", dependencies=("ghost",)),), (), "ghost"),
        (
            (RawNode(name="file"), SqlNode(name="q", query="SELECT 1", dependencies=("file",))),
            (),
            "raw data node 'file'",
        ),
        (
            (
                SqlNode(name="x", query="SELECT 1", dependencies=("y",)),
                SqlNode(name="y", query="SELECT 1", dependencies=("x",)),
            ),
            (),
            "cycle",
        ),
        ((RawNode(name="f"),), (Participant(email="a@x.example", analyst_of=("nope",)),), "nope"),
        ((RawNode(name="f"),), (Participant(email="a@x.example", analyst_of=("f",)),), "data node"),
        (
            (SqlNode(name="q", query="SELECT 1"),),
            (Participant(email="a@x.example", data_owner_of=("q",)),),
            "compute node",
        ),
        (
            (RawNode(name="f"),),
            (Participant(email="a@x.example"), Participant(email="A@x.example")),
            "listed twice",
        ),
        ((RawNode(name="f"),), (Participant(email="not-an-email"),), "not-an-email"),
    ],
)
def test_check_definition_names_the_offending_thing(
    nodes: tuple[object, ...], participants: tuple[Participant, ...], message: str
) -> None:
    room = RoomDefinition(name="r", owner="o@x.example", nodes=nodes, participants=participants)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match=message):
        check_definition(room)


def test_parse_definition_rejects_unknown_fields_with_a_clear_error() -> None:
    data = json.loads(definition().canonical_bytes())
    data["nodes"][0]["surprise"] = True
    with pytest.raises(DefinitionError, match="surprise"):
        parse_definition(data)


def test_the_execution_plan_runs_each_upstream_node_once_inputs_first() -> None:
    room = RoomDefinition(
        name="r",
        owner="o@x.example",
        nodes=(
            TableNode(name="t", columns=COLUMNS),
            RawNode(name="f"),
            SqlNode(name="top", query="SELECT * FROM a JOIN b USING (x)", dependencies=("a", "b")),
            PythonNode(name="a", script="pass", dependencies=("mid", "f")),
            SqlNode(name="b", query="SELECT * FROM mid", dependencies=("mid",)),
            SqlNode(name="mid", query="SELECT * FROM t", dependencies=("t",)),
        ),
    )
    check_definition(room)
    assert [n.name for n in room.execution_plan("top")] == ["mid", "a", "b", "top"]
    assert sorted(n.name for n in room.data_inputs("top")) == ["f", "t"]
    assert [n.name for n in room.execution_plan("mid")] == ["mid"]


def test_script_nodes_are_checked_like_the_others() -> None:
    with pytest.raises(DefinitionError, match="ghost"):
        check_definition(
            RoomDefinition(
                name="r",
                owner="o@x.example",
                nodes=(PythonNode(name="p", script="pass", dependencies=("ghost",)),),
            )
        )
    with pytest.raises(DefinitionError, match=r"main\.py"):
        check_definition(
            RoomDefinition(
                name="r",
                owner="o@x.example",
                nodes=(
                    PythonNode(
                        name="p",
                        script="pass",
                        additional_files=(FileContent(name="main.py", content=""),),
                    ),
                ),
            )
        )
    with pytest.raises(DefinitionError, match="cycle"):
        check_definition(
            RoomDefinition(
                name="r",
                owner="o@x.example",
                nodes=(
                    PythonNode(name="p", script="pass", dependencies=("q",)),
                    SqlNode(name="q", query="SELECT * FROM p", dependencies=("p",)),
                ),
            )
        )
    with pytest.raises(ValueError, match="name"):
        FileContent(name="../escape.py", content="")


def test_hash_with_validates_as_sha256_hex() -> None:
    from sealroom.model import HashingAlgorithm

    column = Column(name="e", format_type=FormatType.EMAIL, hash_with=HashingAlgorithm.SHA256_HEX)
    assert column.effective_format is FormatType.HASH_SHA256_HEX


def test_range_only_on_numeric_columns() -> None:
    with pytest.raises(ValueError, match="in_range"):
        Column(name="c", format_type=FormatType.STRING, in_range=NumericRangeRule(less_than=3))


_COPIES = SqlNode(
    name="copies",
    query="SELECT c.* FROM customers c JOIN customers d ON c.age = d.age",
    dependencies=("customers",),
)


@pytest.mark.parametrize(
    ("protected", "protection"),
    [
        (
            SqlNode(
                name="k",
                query="SELECT COUNT(*) FROM copies",
                dependencies=("copies",),
                minimum_rows_count=5,
            ),
            "the privacy filter",
        ),
        (
            SqlNode(
                name="k",
                query="SELECT COUNT(*) FROM copies",
                dependencies=("copies",),
                dp_epsilon=1.0,
            ),
            "differential privacy",
        ),
        (SyntheticNode(name="k", dependency="copies", epsilon=1.0), "synthetic data"),
        (SyntheticNode(name="k", dependency="script", epsilon=1.0), "synthetic data"),
    ],
)
def test_protected_nodes_read_only_table_data_nodes(
    protected: SqlNode | SyntheticNode, protection: str
) -> None:
    """A computation in between could copy one person's rows past k, DP bounds or the model."""
    room = definition(
        nodes=(
            TableNode(name="customers", columns=COLUMNS),
            _COPIES,
            PythonNode(name="script", script="print(1)", dependencies=("customers",)),
            protected,
        ),
        participants=(Participant(email="a@x.example", analyst_of=("k",)),),
        privacy=RoomPrivacy(dp_epsilon_budget=10.0),
    )
    with pytest.raises(DefinitionError, match=f"uses {protection}, so it may read only table"):
        check_definition(room)


def test_unprotected_nodes_still_read_computations() -> None:
    room = definition(
        nodes=(
            TableNode(name="customers", columns=COLUMNS),
            _COPIES,
            SqlNode(name="k", query="SELECT COUNT(*) FROM copies", dependencies=("copies",)),
        ),
        participants=(Participant(email="a@x.example", analyst_of=("k",)),),
    )
    check_definition(room)


@pytest.mark.parametrize(
    "email", ["ann\u202e@x.example", "ann@x.exa\u200bmple", "ann @x.example", "ann\n@x.example"]
)
def test_an_email_with_invisible_or_control_characters_is_refused(email: str) -> None:
    """A right-to-left override in an e-mail made a verified audit line read as another."""
    with pytest.raises(ValueError, match="invisible formatting"):
        Participant(email=email, analyst_of=("count",))
    with pytest.raises(ValueError, match="invisible formatting"):
        definition(owner=email)
