"""Through a real ``sealroom serve``, the SDK raises the class the core raised (issue 15, item 5).

The server answers each refusal with a problem document whose ``code`` names the exception
class; the SDK rebuilds that class from the code, not from the HTTP status — a definition the
core refuses is a :class:`DefinitionError` in the SDK (its status, 400, is also a bad request's).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.errors import (
    AuthenticationError,
    ConflictError,
    DefinitionError,
    NotFoundError,
    PermissionDeniedError,
    SealroomError,
)
from sealroom.model.definition import Participant, RoomDefinition, SqlNode, TableNode
from tests.integration.conftest import BANK, INSURER, ServerProcess, start_server, stop_server

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@dataclass(frozen=True)
class Parties:
    server: ServerProcess
    bank: sr.Client
    insurer: sr.Client
    bank_token: str


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    root = tmp_path_factory.mktemp("error-codes")
    server = start_server(root)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SEALROOM_STATE_DIR", str(root / "sdk-state"))
            bank_token = server.add_user(BANK)
            insurer_token = server.add_user(INSURER)
            yield Parties(
                server,
                sr.create_client(BANK, bank_token, api_url=server.url),
                sr.create_client(INSURER, insurer_token, api_url=server.url),
                bank_token,
            )
    finally:
        stop_server(server)


def _raised(call: Callable[[], object]) -> SealroomError:
    with pytest.raises(SealroomError) as raised:
        call()
    return raised.value


def test_a_definition_the_core_refuses_is_a_definition_error(parties: Parties) -> None:
    # Built without the builder's checks, so only the core can refuse it.
    definition = RoomDefinition(
        name="refused",
        owner=BANK,
        nodes=(
            TableNode(
                name="sales",
                columns=(Column(name="amount", format_type=FormatType.INTEGER),),
            ),
            SqlNode(name="totals", query="SELECT 1 FROM insurers", dependencies=("insurers",)),
        ),
        participants=(Participant(email=BANK, data_owner_of=("sales",), analyst_of=("totals",)),),
    )
    error = _raised(lambda: parties.bank.session().publish_data_room(definition))
    assert type(error) is DefinitionError
    assert error.code == "invalid_definition"
    assert str(error) == "SQL node 'totals' depends on unknown node 'insurers'"
    # The wire says the same: a 400 whose code names the class.
    response = httpx.post(
        f"{parties.server.url}/v1/rooms",
        json={"definition": definition.model_dump(mode="json")},
        headers={"Authorization": f"Bearer {parties.bank_token}"},
        timeout=30,
    )
    assert (response.status_code, response.json()["code"]) == (400, "invalid_definition")


def test_denied_unknown_and_stopped_arrive_as_their_classes(parties: Parties) -> None:
    b = AnalyticsDcrBuilder(client=parties.bank).with_name("codes").with_owner(BANK)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="sales",
            columns=[Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_node_definition(
        SqlComputeNodeDefinition(
            name="total", query="SELECT SUM(amount) AS total FROM sales", dependencies=["sales"]
        )
    )
    b.add_participant(BANK, data_owner_of=["sales"], analyst_of=["total"])
    b.add_participant(INSURER)
    dcr = parties.bank.publish_analytics_dcr(b.build())
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(b"10\n3\n"), sr.Key(), "sales")

    # A participant who is not the total's analyst may not run it.
    seen_by_insurer = parties.insurer.retrieve_analytics_dcr(dcr.id).get_node("total")
    assert isinstance(seen_by_insurer, SqlComputationNode)
    denied = _raised(seen_by_insurer.run_computation)
    assert type(denied) is PermissionDeniedError
    assert denied.code == "permission_denied"

    unknown = _raised(lambda: parties.bank.retrieve_analytics_dcr("0" * 64))
    assert type(unknown) is NotFoundError

    bogus = sr.create_client(BANK, "sr_not-a-token", api_url=parties.server.url)
    assert type(_raised(bogus.get_available_datasets)) is AuthenticationError

    dcr.stop()
    total = dcr.get_node("total")
    assert isinstance(total, SqlComputationNode)
    stopped = _raised(total.run_computation)
    assert type(stopped) is ConflictError
    assert (stopped.code, str(stopped)) == ("room_stopped", "the room is stopped")
