"""Room templates end to end: ``sealroom dcr export`` a published room, ``sealroom dcr create`` a
new one from the file against a real server, and the SDK's equivalents in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import AnalyticsDcrBuilder
from sealroom.cli.crm_data import build_overlap_room
from sealroom.errors import DefinitionError
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    InProcessPlatform,
    ServerProcess,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def overlap_room(client: sr.Client) -> sr.analytics.AnalyticsDcrDefinition:
    return build_overlap_room(
        AnalyticsDcrBuilder(client=client), owner=BANK, bank=BANK, insurer=INSURER, analyst=ANALYST
    )


@pytest.mark.integration
def test_cli_exports_a_room_and_creates_a_new_one_from_the_file(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    tokens = {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}

    def as_user(email: str) -> list[str]:
        return ["--api-url", server.url, "--email", email, "--token", tokens[email]]

    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    original = bank.publish_analytics_dcr(overlap_room(bank))

    # Export: to a file, and (for any participant) to stdout; the same text as the SDK's.
    template = tmp_path / "overlap.json"
    exported = server.cli("dcr", "export", original.id, "-o", str(template), *as_user(BANK))
    assert exported.stdout == ""
    assert f"template of room {original.id} written to {template}" in exported.stderr
    text = template.read_text()
    assert text == bank.export_dcr_definition(original.id)
    assert server.cli("dcr", "export", original.id, *as_user(ANALYST)).stdout == text
    assert json.loads(text)["format"] == "sealroom/room-definition"

    # Create, as the owner: a new room whose definition is the original's but for the salt.
    created = server.cli("dcr", "create", str(template), *as_user(BANK))
    new_id = created.stdout.strip()
    assert len(new_id) == 64
    assert new_id != original.id
    assert "published (owner alice@bank.example)" in created.stderr
    copy = bank.session().retrieve_data_room(new_id)  # verified: hash and core signature
    assert copy.salt != original.definition.salt
    assert copy.model_dump(exclude={"salt"}) == original.definition.model_dump(exclude={"salt"})
    # The same file once more: yet another room.
    again = server.cli("dcr", "create", str(template), *as_user(BANK)).stdout.strip()
    assert again not in (original.id, new_id)
    # The participants see the new room.
    assert new_id in server.cli("room", "list", *as_user(ANALYST)).stdout

    # Somebody else's template: refused in one line, saying how to make it yours ...
    refused = server.cli("dcr", "create", str(template), *as_user(INSURER), check=False)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1
    assert refused.stderr.startswith(
        "error: the template's owner is alice@bank.example, but you are bob@insurer.example: "
        "you can only publish rooms you own."
    )
    assert "--owner-self" in refused.stderr
    # ... and with --owner-self the insurer owns a room with the same nodes and participants.
    theirs = server.cli("dcr", "create", "--owner-self", str(template), *as_user(INSURER))
    insurer = sr.create_client(INSURER, tokens[INSURER], api_url=server.url)
    room = insurer.retrieve_analytics_dcr(theirs.stdout.strip())
    assert room.definition.owner == INSURER
    assert room.definition.nodes == original.definition.nodes
    assert room.definition.participants == original.definition.participants

    # A broken file, and an unknown room: one line each, status 2, no traceback.
    broken = tmp_path / "broken.json"
    document = json.loads(text)
    del document["nodes"][2]["query"]
    broken.write_text(json.dumps(document))
    bad = server.cli("dcr", "create", str(broken), *as_user(BANK), check=False)
    assert (bad.returncode, bad.stderr) == (
        2,
        "error: invalid room template: nodes[2].query: field required\n",
    )
    unknown = server.cli("dcr", "export", "0" * 64, *as_user(BANK), check=False)
    assert unknown.returncode == 1  # the server's refusal; a bad template is a usage error
    # (After the warning that the server's attestation is simulated.)
    assert unknown.stderr.splitlines()[-1] == f"error: room {'0' * 64} not found"
    assert "Traceback" not in unknown.stderr


def test_sdk_round_trip_in_process(app_platform: InProcessPlatform) -> None:
    bank = app_platform.client(BANK)
    original = bank.publish_analytics_dcr(overlap_room(bank))
    text = bank.export_dcr_definition(original.id)
    copy = bank.create_dcr_from_json(text)
    assert copy.id != original.id
    assert copy.definition.model_dump(exclude={"salt"}) == original.definition.model_dump(
        exclude={"salt"}
    )
    # A template without an owner becomes the creator's room.
    document = json.loads(text)
    del document["owner"]
    insurer = app_platform.client(INSURER)
    assert insurer.create_dcr_from_json(json.dumps(document)).definition.owner == INSURER


def test_sdk_checks_queries_against_dependencies_before_publishing(
    app_platform: InProcessPlatform,
) -> None:
    bank = app_platform.client(BANK)
    document = json.loads(
        bank.export_dcr_definition(bank.publish_analytics_dcr(overlap_room(bank)).id)
    )
    # The query reads a table it does not declare.
    document["nodes"][2]["dependencies"] = ["bank_customers"]
    before = len(bank.get_data_room_descriptions())
    with pytest.raises(DefinitionError) as caught:
        bank.create_dcr_from_json(json.dumps(document))
    assert str(caught.value).startswith("invalid room template: SQL node 'overlap_count': ")
    assert "insurer_customers" in str(caught.value)
    assert len(bank.get_data_room_descriptions()) == before


@pytest.mark.integration
def test_cli_tests_a_draft_over_empty_and_test_datasets(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    from sealroom.analytics import (
        Column,
        FormatType,
        PythonComputeNodeDefinition,
        SqlComputeNodeDefinition,
        TableDataNodeDefinition,
    )
    from sealroom.model.template import export_template

    server = server_factory()
    token = server.add_user(BANK)
    user = ["--api-url", server.url, "--email", BANK, "--token", token]
    builder = (
        AnalyticsDcrBuilder()
        .with_name("draft")
        .with_owner(BANK)
        .add_node_definition(
            TableDataNodeDefinition(
                "customers",
                [
                    Column(name="id", format_type=FormatType.INTEGER, is_nullable=False),
                    Column(name="region", format_type=FormatType.STRING, is_nullable=False),
                ],
                is_required=True,
            )
        )
        .add_node_definition(
            SqlComputeNodeDefinition(
                "per_region", "SELECT region, COUNT(*) AS n FROM customers GROUP BY region"
            )
        )
        .add_node_definition(
            PythonComputeNodeDefinition(
                "check",
                "import pathlib\n"
                "rows = pathlib.Path('/input/customers/dataset.csv').read_text().splitlines()\n"
                "print('rows:', len(rows))\n"
                "assert rows, 'no rows in the test data'\n",
                dependencies=["customers"],
            )
        )
    )
    draft = tmp_path / "draft.json"
    draft.write_text(export_template(builder.build().definition))

    # Empty tables: the SQL passes with its schema, the script's assertion fails, with its logs.
    empty = server.cli("dcr", "test", str(draft), *user, check=False)
    assert empty.returncode == 1, empty.stderr
    assert "per_region (sql): ok -> region string, n integer" in empty.stdout
    assert "check (python): FAILED" in empty.stdout
    assert "no rows in the test data" in empty.stdout
    assert "1 of 2 computations passed" in empty.stderr

    mock = tmp_path / "mock.csv"
    mock.write_text("1,north\n2,south\n")
    with_data = server.cli("dcr", "test", str(draft), "--test-dataset", f"customers={mock}", *user)
    assert "check (python): ok" in with_data.stdout
    assert "2 of 2 computations passed" in with_data.stderr
    # Nothing was published: testing a draft creates no room.
    rooms = sr.create_client(BANK, token, api_url=server.url).get_data_room_descriptions()
    assert rooms == []
