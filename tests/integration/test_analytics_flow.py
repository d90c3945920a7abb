"""The analytics API end to end against a real server process, and what reaches its disk."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    RawDataNodeDefinition,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from tests.integration.conftest import ANALYST, BANK, INSURER, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]


def overlap_definition(client: sr.Client) -> object:
    b = AnalyticsDcrBuilder(client=client)
    b.with_name("Overlap").with_description("bank x insurer").with_owner(BANK)
    for table in ("bank_customers", "insurer_customers"):
        b.add_node_definition(
            TableDataNodeDefinition(
                name=table,
                is_required=True,
                columns=[
                    Column(name="email", format_type=FormatType.EMAIL, is_nullable=False),
                    Column(name="age", format_type=FormatType.INTEGER, is_nullable=True),
                ],
                unique_column_combinations=[[0]],
            )
        )
    b.add_node_definition(RawDataNodeDefinition(name="notes", is_required=False))
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="overlap",
            dependencies=["bank_customers", "insurer_customers"],
            query="SELECT COUNT(*) AS n FROM bank_customers b "
            "JOIN insurer_customers i ON b.email = i.email",
        )
    )
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="overlap_ages",
            dependencies=["bank_customers", "insurer_customers"],
            query="SELECT b.age, COUNT(*) AS n FROM bank_customers b "
            "JOIN insurer_customers i ON b.email = i.email GROUP BY b.age ORDER BY b.age",
        )
    )
    b.add_participant(BANK, data_owner_of=["bank_customers", "notes"])
    b.add_participant(INSURER, data_owner_of=["insurer_customers"])
    b.add_participant(ANALYST, analyst_of=["overlap", "overlap_ages"])
    return b.build()


def test_overlap_room_end_to_end_leaves_no_plaintext_or_key_on_disk(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    tokens = {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    insurer = sr.create_client(INSURER, tokens[INSURER], api_url=server.url)
    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=server.url)

    dcr = bank.publish_analytics_dcr(overlap_definition(bank))  # type: ignore[arg-type]
    same = insurer.retrieve_analytics_dcr(dcr.id)
    assert same.id == dcr.id
    assert same.definition.room_id == dcr.id

    marker = "marker" + secrets.token_hex(12)
    bank_rows = [f"{marker}{i}@bank.example,{20 + i}" for i in range(50)]
    insurer_rows = [f"{marker}{i}@bank.example,{30 + i}" for i in range(25, 80)]
    bank_key, insurer_key = sr.Key(), sr.Key()

    bank_node = dcr.get_node("bank_customers")
    assert isinstance(bank_node, TableDataNode)
    bank_node.upload_and_publish_dataset(
        io.BytesIO("\n".join(bank_rows).encode()), bank_key, "bank.csv"
    )
    insurer_node = same.get_node("insurer_customers")
    assert isinstance(insurer_node, TableDataNode)
    insurer_node.upload_and_publish_dataset(
        io.BytesIO("\n".join(insurer_rows).encode() + b"\n"), insurer_key, "insurer.csv"
    )
    report = insurer_node.get_validation_report_as_dict()
    assert report["report"]["outcome"] == "PASSED"
    assert report["report"]["numRowsTotal"] == 55

    room = analyst.retrieve_analytics_dcr(dcr.id)
    overlap = room.get_node("overlap")
    assert isinstance(overlap, SqlComputationNode)
    assert overlap.run_computation_and_get_results_as_string(timeout=120) == "n\n25\n"
    frame = overlap.get_results_as_dataframe()
    assert isinstance(frame, pd.DataFrame)
    assert frame["n"].tolist() == [25]
    assert str(frame["n"].dtype) == "int64"
    same_node = room.get_node("overlap_ages")
    assert isinstance(same_node, SqlComputationNode)
    ages = same_node.run_computation_and_get_results_as_dataframe(timeout=120)
    assert ages["age"].tolist() == list(range(45, 70))

    log = dcr.retrieve_audit_log()
    assert len(log.splitlines()) >= 8
    assert "RESULT_RETRIEVED" in log
    descriptions = bank.get_data_room_descriptions()
    assert [d["id"] for d in descriptions] == [dcr.id]
    dcr.stop()
    assert dcr.get_status() == "Stopped"

    # The attacker's view: every byte the server wrote under its data dir.
    needles = [
        marker.encode(),
        bank_key.material,
        insurer_key.material,
        bank_key.material.hex().encode(),
        insurer_key.material.hex().encode(),
    ]
    files = [p for p in server.data_dir.rglob("*") if p.is_file()]
    assert files, "the server wrote nothing?"
    for path in files:
        content = path.read_bytes()
        for needle in needles:
            assert needle not in content, f"{path} contains plaintext or a key"
    assert marker not in server.log_path.read_text()


def test_a_stopped_room_refuses_uploads_and_runs_but_stays_readable(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    tokens = {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=server.url)
    dcr = bank.publish_analytics_dcr(overlap_definition(bank))  # type: ignore[arg-type]
    dcr.stop()
    node = dcr.get_node("bank_customers")
    assert isinstance(node, TableDataNode)
    with pytest.raises(sr.ConflictError, match="stopped"):
        node.upload_and_publish_dataset(io.BytesIO(b"a@b.example,1\n"), sr.Key(), "x.csv")
    room = analyst.retrieve_analytics_dcr(dcr.id)
    overlap = room.get_node("overlap")
    assert isinstance(overlap, SqlComputationNode)
    with pytest.raises(sr.ConflictError, match="stopped"):
        overlap.run_computation()
    assert "ROOM_STOPPED" in room.retrieve_audit_log()
    assert room.get_status() == "Stopped"
