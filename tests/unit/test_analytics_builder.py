"""The analytics builder refuses bad rooms before anything is sent, naming the culprit."""

from __future__ import annotations

import pytest

from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    RawDataNodeDefinition,
    SqlComputeNodeDefinition,
    TableDataNodeDefinition,
)
from sealroom.errors import DefinitionError
from sealroom.model import SqlNode

COLUMNS = [Column(name="email", format_type=FormatType.EMAIL, is_nullable=False)]


def builder() -> AnalyticsDcrBuilder:
    b = AnalyticsDcrBuilder().with_name("r").with_owner("o@x.example")
    b.add_node_definition(TableDataNodeDefinition(name="a", columns=COLUMNS, is_required=True))
    b.add_node_definition(TableDataNodeDefinition(name="b", columns=COLUMNS, is_required=True))
    return b


def test_a_valid_room_builds_and_infers_dependencies() -> None:
    b = builder()
    b.add_node_definition(
        SqlComputeNodeDefinition(name="q", query="SELECT COUNT(*) FROM a JOIN B USING (email)")
    )
    b.add_participant("o@x.example", analyst_of=["q"], data_owner_of=["a", "b"])
    room = b.build().definition
    sql = room.node("q")
    assert sql is not None
    assert sql.kind == "sql"
    assert sql.dependencies == ("a", "b")  # type: ignore[union-attr]


def test_sql_reading_a_table_outside_its_dependencies_is_refused() -> None:
    b = builder()
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="q", query="SELECT * FROM a JOIN b USING (email)", dependencies=["a"]
        )
    )
    with pytest.raises(DefinitionError, match=r"'q'.*\bb\b"):
        b.build()


@pytest.mark.parametrize(
    ("extra", "participant", "message"),
    [
        ([], {"analyst_of": ["ghost"]}, "ghost"),
        ([], {"data_owner_of": ["nope"]}, "nope"),
        (
            [SqlComputeNodeDefinition(name="q", query="SELECT 1 FROM z", dependencies=["z"])],
            {},
            "z",
        ),
        (
            [
                SqlComputeNodeDefinition(name="x", query="SELECT * FROM y", dependencies=["y"]),
                SqlComputeNodeDefinition(name="y", query="SELECT * FROM x", dependencies=["x"]),
            ],
            {},
            "cycle",
        ),
        (
            [RawDataNodeDefinition(name="f", is_required=False)],
            {"analyst_of": ["f"]},
            "data node",
        ),
    ],
)
def test_builder_errors_name_the_offending_thing(
    extra: list[object], participant: dict[str, list[str]], message: str
) -> None:
    b = builder()
    for definition in extra:
        b.add_node_definition(definition)  # type: ignore[arg-type]
    b.add_participant("p@x.example", **participant)
    with pytest.raises(DefinitionError, match=message):
        b.build()


def test_duplicate_names_and_participants_are_refused_when_added() -> None:
    b = builder()
    with pytest.raises(DefinitionError, match="'A'"):
        b.add_node_definition(TableDataNodeDefinition(name="A", columns=COLUMNS, is_required=False))
    b.add_participant("p@x.example")
    with pytest.raises(DefinitionError, match=r"P@x\.example"):
        b.add_participant("P@x.example")


def test_a_room_needs_a_name_and_an_owner() -> None:
    with pytest.raises(DefinitionError, match="name"):
        AnalyticsDcrBuilder().with_owner("o@x.example").build()
    with pytest.raises(DefinitionError, match="owner"):
        AnalyticsDcrBuilder().with_name("r").build()


@pytest.mark.parametrize("name", ["1abc", "bad/name", "", "trailing-", "x" * 101])
def test_node_names_follow_the_seed_rule(name: str) -> None:
    with pytest.raises(DefinitionError):
        TableDataNodeDefinition(name=name, columns=COLUMNS, is_required=False)


def test_privacy_filter_and_room_privacy_reach_the_definition() -> None:
    b = builder().with_privacy_unit_column("user_id").allow_value_revealing_aggregates()
    b.add_node_definition(
        SqlComputeNodeDefinition(name="q", query="SELECT COUNT(*) FROM a", minimum_rows_count=10)
    )
    room = b.build().definition
    node = room.node("q")
    assert isinstance(node, SqlNode)
    assert node.minimum_rows_count == 10
    assert room.privacy.unit_column == "user_id"
    assert room.privacy.allow_revealing_aggregates


@pytest.mark.parametrize("k", [0, 1, 100_001])
def test_privacy_filter_threshold_out_of_range_is_refused(k: int) -> None:
    b = builder()
    b.add_node_definition(
        SqlComputeNodeDefinition(name="q", query="SELECT COUNT(*) FROM a", minimum_rows_count=k)
    )
    with pytest.raises(DefinitionError, match="minimum_rows_count"):
        b.build()


def test_table_function_and_file_reads_are_refused_at_build_time() -> None:
    b = builder()
    b.add_node_definition(
        SqlComputeNodeDefinition(name="q", query="SELECT * FROM read_csv('/etc/passwd')")
    )
    with pytest.raises(DefinitionError, match=r"(?i)'q'.*read_csv"):
        b.build()
