"""The Python examples of docs/scripts.md, docs/privacy.md and docs/interactive-rooms.md run as
written against a real ``sealroom serve``, and do what their comments say.

A page's example is run statement by statement in a namespace that holds what the page says it
assumes (a ``client``, a ``builder`` with the tables the example reads, a ``dcr``). A line ``...``
in an example stands for steps the page leaves out — adding the participants, publishing the
room, uploading the data — and the test does those steps there, with the SDK. The value of each
expression statement is kept, so the test checks what the example's comments promise.
"""

from __future__ import annotations

import ast
import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    MaskType,
    PrimitiveType,
    RequestStatus,
    SqlComputeNodeDefinition,
    SyntheticDataComputeNodeDefinition,
    SyntheticNodeColumn,
    TableDataNodeDefinition,
)
from tests.integration.conftest import ServerProcess, start_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

DOCS = Path(__file__).parents[2] / "docs"
ALICE = "alice@bank.example"
BOB = "bob@insurer.example"
CAROL = "carol@analytics.example"
#: What the privacy page's fragments use without importing it.
NAMES = {
    "SqlComputeNodeDefinition": SqlComputeNodeDefinition,
    "SyntheticDataComputeNodeDefinition": SyntheticDataComputeNodeDefinition,
    "SyntheticNodeColumn": SyntheticNodeColumn,
    "PrimitiveType": PrimitiveType,
    "MaskType": MaskType,
}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    started = start_server(tmp_path_factory.mktemp("docs-examples"))
    try:
        yield started, {email: started.add_user(email) for email in (ALICE, BOB, CAROL)}
    finally:
        stop_server(started)


def client_of(server: tuple[ServerProcess, dict[str, str]], email: str) -> sr.Client:
    process, tokens = server
    return sr.create_client(email, tokens[email], api_url=process.url)


def examples(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text("utf-8"), re.S)


def run(
    code: str, page: str, namespace: dict[str, Any], between: Callable[[], None] = lambda: None
) -> list[Any]:
    """Runs an example as written; a ``...`` line calls ``between``. Returns the values of the
    example's expression statements, in order."""
    values: list[Any] = []
    for statement in ast.parse(code).body:
        if isinstance(statement, ast.Expr) and ast.unparse(statement.value) == "...":
            between()
            continue
        if isinstance(statement, ast.Expr):
            values.append(eval(compile(ast.Expression(statement.value), page, "eval"), namespace))
        else:
            exec(compile(ast.Module([statement], []), page, "exec"), namespace)
    return values


def table(name: str, *columns: tuple[str, FormatType]) -> TableDataNodeDefinition:
    return TableDataNodeDefinition(
        name=name,
        is_required=True,
        columns=[Column(name=c, format_type=f, is_nullable=False) for c, f in columns],
    )


def publish(
    namespace: dict[str, Any],
    client: sr.Client,
    table_name: str,
    rows: list[str],
    analyst_of: list[str],
) -> None:
    """The steps a ``...`` stands for: participants, publish, upload the table."""
    builder = namespace["builder"]
    builder.add_participant(ALICE, data_owner_of=[table_name], analyst_of=analyst_of)
    dcr = client.publish_analytics_dcr(builder.build())
    data = ("\n".join(rows) + "\n").encode()
    dcr.get_node(table_name).upload_and_publish_dataset(io.BytesIO(data), sr.Key(), "t.csv")
    namespace["dcr"] = dcr


def test_scripts_python_node_uppercases_its_input(
    server: tuple[ServerProcess, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    (code,) = examples("scripts.md")
    namespace: dict[str, Any] = {"client": client_of(server, ALICE)}
    run(code, "docs/scripts.md", namespace)
    assert capsys.readouterr().out == "b'HELLO'\n"
    assert namespace["zf"].namelist() == ["uppercase.txt"]


def test_privacy_filter_example_releases_only_groups_of_ten_people(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    code = examples("privacy.md")[0]
    client = client_of(server, ALICE)
    builder = AnalyticsDcrBuilder(client=client).with_name("by city").with_owner(ALICE)
    columns = (("user_id", FormatType.STRING), ("city", FormatType.STRING))
    builder.add_node_definition(table("purchases", *columns, ("amount", FormatType.INTEGER)))
    # Bern: 10 people, one of them with five purchases. Genf: 3 people with 4 purchases each,
    # 12 rows: enough rows, too few people.
    rows = [f"u{i},Bern,10" for i in range(10)] + ["u0,Bern,10"] * 4
    rows += [f"g{i % 3},Genf,7" for i in range(12)]
    namespace: dict[str, Any] = {**NAMES, "builder": builder}
    between = lambda: publish(namespace, client, "purchases", rows, ["by_city"])  # noqa: E731
    *_, released, suppressed = run(code, "docs/privacy.md", namespace, between)
    assert list(csv.reader(io.StringIO(released))) == [
        ["city", "n", "total"],
        ["Bern", "14", "140"],
    ]
    assert suppressed == 1


def test_differential_privacy_example_charges_the_budget(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    code = examples("privacy.md")[1]
    client = client_of(server, ALICE)
    builder = AnalyticsDcrBuilder(client=client).with_name("salaries").with_owner(ALICE)
    columns = (("user_id", FormatType.STRING), ("city", FormatType.STRING))
    builder.add_node_definition(table("people", *columns, ("salary", FormatType.INTEGER)))
    rows = [f"p{i},{('Bern', 'Genf')[i % 2]},{50_000 + i * 100}" for i in range(400)]
    namespace: dict[str, Any] = {**NAMES, "builder": builder}
    between = lambda: publish(namespace, client, "people", rows, ["salaries"])  # noqa: E731
    *_, released, budget = run(code, "docs/privacy.md", namespace, between)
    header, *groups = list(csv.reader(io.StringIO(released)))
    assert header[0] == "city"
    assert {group[0] for group in groups} <= {"Bern", "Genf"}
    assert budget.epsilon_budget == 3.0
    assert budget.epsilon_spent == pytest.approx(0.5)


def test_synthetic_data_example_writes_a_masked_table(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    code = examples("privacy.md")[2]
    client = client_of(server, ALICE)
    builder = AnalyticsDcrBuilder(client=client).with_name("synthetic").with_owner(ALICE)
    columns = (("name", FormatType.STRING), ("email", FormatType.EMAIL))
    builder.add_node_definition(table("customers", *columns, ("city", FormatType.STRING)))
    rows = [
        f"Person{i} Secret,secret{i}@bank.example,{('Bern', 'Genf')[i % 2]}" for i in range(300)
    ]
    namespace: dict[str, Any] = {**NAMES, "builder": builder}
    between = lambda: publish(namespace, client, "customers", rows, ["synth"])  # noqa: E731
    *_, archive = run(code, "docs/privacy.md", namespace, between)
    assert {"dataset.csv", "types.json"} <= set(archive.namelist())
    synthetic = archive.read("dataset.csv").decode()
    assert "Secret" not in synthetic
    assert "secret1@bank.example" not in synthetic
    assert client.retrieve_analytics_dcr(
        namespace["dcr"].id
    ).retrieve_privacy_budget().epsilon_spent == (pytest.approx(1.0))


def test_request_example_adds_a_computation_once_approved(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    code, _people = examples("interactive-rooms.md")
    alice = client_of(server, ALICE)
    builder = AnalyticsDcrBuilder(client=alice).with_name("requests").with_owner(ALICE)
    builder.with_interactivity()
    builder.add_node_definition(table("a", ("id", FormatType.STRING)))
    builder.add_node_definition(table("b", ("id", FormatType.STRING)))
    builder.add_participant(ALICE, data_owner_of=["a", "b"])
    builder.add_participant(CAROL)
    dcr = alice.publish_analytics_dcr(builder.build())
    for name, ids in (("a", b"1\n2\n"), ("b", b"2\n3\n")):
        dcr.get_node(name).upload_and_publish_dataset(io.BytesIO(ids), sr.Key(), f"{name}.csv")
    assert dcr.get_node("overlap") is None

    namespace: dict[str, Any] = {**NAMES, "dcr": dcr}
    _approved, status, integrated = run(code, "docs/interactive-rooms.md", namespace)
    request = namespace["request"]
    assert request.required_approvers == [ALICE]
    assert status is RequestStatus.READY_TO_INTEGRATE
    assert integrated.status is RequestStatus.INTEGRATED

    carol = client_of(server, CAROL).retrieve_analytics_dcr(dcr.id)
    overlap = carol.get_node("overlap")
    assert overlap.run_computation_and_get_results_as_string(timeout=60) == "n\n1\n"


def test_people_example_adds_a_data_owner_then_withdraws_them(
    server: tuple[ServerProcess, dict[str, str]],
) -> None:
    _request, code = examples("interactive-rooms.md")
    alice = client_of(server, ALICE)
    builder = AnalyticsDcrBuilder(client=alice).with_name("people").with_owner(ALICE)
    builder.with_interactivity()
    builder.add_node_definition(table("customers", ("id", FormatType.STRING)))
    builder.add_node_definition(
        SqlComputeNodeDefinition("regions", "SELECT COUNT(*) AS n FROM customers")
    )
    builder.add_participant(ALICE, data_owner_of=["customers"], analyst_of=["regions"])
    dcr = alice.publish_analytics_dcr(builder.build())
    namespace: dict[str, Any] = {**NAMES, "dcr": dcr}
    run(code, "docs/interactive-rooms.md", namespace)
    joining, leaving = namespace["joining"], namespace["leaving"]
    assert joining.scope.data_owners == {"dave@bank.example": ("customers",)}
    assert [g.approvers for g in joining.approver_groups] == [(ALICE,)]
    assert leaving.status is RequestStatus.INTEGRATED
    assert not dcr.refresh().definition.is_participant("dave@bank.example")
