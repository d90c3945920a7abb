"""Interactive rooms through the SDK against the real app: requests, approvals, integration,
development computations, previews of requests, rate limits and parameters.

The full three-party flow also runs against a real ``sealroom serve`` subprocess.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    PythonComputeNodeDefinition,
    RateLimit,
    RequestStatus,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.errors import (
    BadRequestError,
    ConflictError,
    DefinitionError,
    NotFoundError,
    PermissionDeniedError,
    TooManyRequestsError,
)
from sealroom.model import signed_actions
from sealroom.model.commits import Commit, apply_commit, approver_groups, initial_history_pin
from sealroom.model.definition import SqlNode
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    OUTSIDER,
    InProcessPlatform,
    ServerProcess,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

OVERLAP = "SELECT COUNT(*) AS n FROM customers c JOIN policies p ON c.id = p.id"


def _table(name: str) -> TableDataNodeDefinition:
    return TableDataNodeDefinition(
        name=name,
        columns=[
            Column(name="id", format_type=FormatType.INTEGER, is_nullable=False),
            Column(name="region", format_type=FormatType.STRING, is_nullable=False),
        ],
        is_required=True,
    )


def _publish(
    client: sr.Client,
    *,
    interactive: bool = True,
    development: bool = True,
    extra: tuple[object, ...] = (),
    bank_analyst_of: tuple[str, ...] = ("bank_regions",),
) -> AnalyticsDcr:
    """BANK owns customers, INSURER owns policies, ANALYST may read nothing yet."""
    builder = (
        AnalyticsDcrBuilder(client=client)
        .with_name("bank x insurer")
        .with_owner(BANK)
        .with_interactivity(interactive)
        .with_development_environment(development)
        .add_node_definition(_table("customers"))
        .add_node_definition(_table("policies"))
        .add_node_definition(
            SqlComputeNodeDefinition(
                "bank_regions", "SELECT region, COUNT(*) AS n FROM customers GROUP BY region"
            )
        )
    )
    for node in extra:
        builder.add_node_definition(node)  # type: ignore[arg-type]
    builder.add_participant(BANK, data_owner_of=["customers"], analyst_of=list(bank_analyst_of))
    builder.add_participant(INSURER, data_owner_of=["policies"])
    builder.add_participant(ANALYST)
    return client.publish_analytics_dcr(builder.build())


def _upload(dcr: AnalyticsDcr, node: str, csv: bytes) -> None:
    data = dcr.get_node(node)
    assert isinstance(data, TableDataNode)
    data.upload_and_publish_dataset(io.BytesIO(csv), sr.Key(), node)


CUSTOMERS = b"1,north\n2,north\n3,south\n4,south\n5,south\n"
POLICIES = b"2,x\n3,y\n4,z\n9,w\n"


def _three_parties(
    clients: Callable[[str], sr.Client], **options: object
) -> dict[str, AnalyticsDcr]:
    owner = clients(BANK)
    dcr = _publish(owner, **options)  # type: ignore[arg-type]
    _upload(dcr, "customers", CUSTOMERS)
    dcrs = {BANK: dcr}
    for email in (INSURER, ANALYST):
        dcrs[email] = clients(email).retrieve_analytics_dcr(dcr.id)
    _upload(dcrs[INSURER], "policies", POLICIES)
    return dcrs


def _audit_actions(dcr: AnalyticsDcr) -> list[str]:
    return [line.rsplit(",", 1)[-1] for line in dcr.retrieve_audit_log().splitlines()]


def _overlap_request(dcr: AnalyticsDcr, name: str = "overlap") -> object:
    return (
        dcr.build_request()
        .add_computation(SqlComputeNodeDefinition(name, OVERLAP.replace("overlap", name)))
        .add_participant(ANALYST, analyst_of=[name])
        .with_note(f"please add {name}")
        .submit()
    )


def _full_flow(clients: Callable[[str], sr.Client], outsider: sr.Client) -> None:
    dcrs = _three_parties(clients)
    analyst = dcrs[ANALYST]
    assert analyst.get_node("overlap") is None

    request = (
        analyst.build_request()
        .add_computation(SqlComputeNodeDefinition("overlap", OVERLAP))
        .add_participant(ANALYST, analyst_of=["overlap"])
        .with_note("overlap of customers")
        .submit()
    )
    assert request.status is RequestStatus.PENDING
    assert sorted(request.required_approvers) == sorted([BANK, INSURER])
    assert sorted(request.missing_approvals) == sorted([BANK, INSURER])
    assert request.scope.computations == ("overlap",)

    # Nobody outside the room learns it exists; a participant who owns nothing cannot approve.
    with pytest.raises(NotFoundError):
        outsider.session().act_on_request(analyst.id, request.id, "approve")
    with pytest.raises(PermissionDeniedError, match="owns no data node"):
        request.approve()
    with pytest.raises(ConflictError, match="needs the approval") as missing:
        request.integrate()
    assert missing.value.code == "approval_missing"

    bank_view = dcrs[BANK].get_submitted_request(request.id)
    bank_view.approve()
    assert bank_view.status is RequestStatus.PENDING
    assert bank_view.missing_approvals == [INSURER]
    assert bank_view.signers == {BANK: True, INSURER: False}
    with pytest.raises(ConflictError, match="policies"):
        request.integrate()

    insurer_view = dcrs[INSURER].get_submitted_requests()[0]
    assert insurer_view.id == request.id
    insurer_view.approve()
    assert insurer_view.status is RequestStatus.READY_TO_INTEGRATE
    assert insurer_view.missing_approvals == []

    request.integrate()
    assert request.status is RequestStatus.INTEGRATED
    overlap = analyst.get_node("overlap")
    assert isinstance(overlap, SqlComputationNode)
    assert overlap.run_computation_and_get_results_as_string(timeout=60) == "n\n3\n"

    # The other parties see the new node too, verified against the core's commit signature.
    assert dcrs[BANK].refresh().get_node("overlap") is not None
    commits = dcrs[INSURER].get_commits()
    assert [(c.seq, c.nodes, c.name) for c in commits] == [
        (1, ("overlap",), "overlap of customers")
    ]
    definition, pin = dcrs[INSURER].session.retrieve_current_data_room_configuration(analyst.id)
    assert pin != initial_history_pin(analyst.id)
    assert ANALYST in [p.email for p in definition.participants]
    assert dcrs[BANK].session.retrieve_room_state(analyst.id).history_pin == pin

    actions = _audit_actions(dcrs[BANK])
    for action in ("REQUEST_SUBMITTED", "REQUEST_APPROVED", "COMMIT_INTEGRATED", "ACCESS_DENIED"):
        assert action in actions
    assert actions.count("REQUEST_APPROVED") == 2


def test_request_approve_integrate_run_against_a_real_server(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path)
    tokens = {email: server.add_user(email) for email in (BANK, INSURER, ANALYST, OUTSIDER)}

    def clients(email: str) -> sr.Client:
        return sr.create_client(email, tokens[email], api_url=server.url)

    _full_flow(clients, clients(OUTSIDER))


def test_request_flow_in_process(app_platform: InProcessPlatform) -> None:
    _full_flow(app_platform.client, app_platform.client(OUTSIDER))


def test_competing_requests_the_second_is_superseded(app_platform: InProcessPlatform) -> None:
    dcrs = _three_parties(app_platform.client)
    first = _overlap_request(dcrs[ANALYST], "overlap")
    second = _overlap_request(dcrs[ANALYST], "overlap_b")
    stale = (
        dcrs[ANALYST]
        .build_request()
        .add_computation(SqlComputeNodeDefinition("overlap_c", OVERLAP))
        .build()
    )
    for email in (BANK, INSURER):
        dcrs[email].get_submitted_request(first.id).approve()  # type: ignore[attr-defined]
        dcrs[email].get_submitted_request(second.id).approve()  # type: ignore[attr-defined]
    first.integrate()  # type: ignore[attr-defined]

    second_view = dcrs[ANALYST].get_submitted_request(second.id)  # type: ignore[attr-defined]
    assert second_view.status is RequestStatus.SUPERSEDED
    with pytest.raises(ConflictError) as raised:
        second_view.integrate()
    assert raised.value.code == "request_closed"
    with pytest.raises(ConflictError) as outdated:
        dcrs[ANALYST].session.publish_request(dcrs[ANALYST].id, stale)
    assert outdated.value.code == "history_pin_outdated"
    assert "REQUEST_SUPERSEDED" in _audit_actions(dcrs[BANK])


def test_a_request_cannot_add_data_nodes_change_nodes_or_slip_in_ownership(
    app_platform: InProcessPlatform,
) -> None:
    dcrs = _three_parties(app_platform.client)
    analyst = dcrs[ANALYST]
    _, pin = analyst.session.retrieve_current_data_room_configuration(analyst.id)

    def commit(**fields: object) -> Commit:
        return Commit(room_id=analyst.id, history_pin=pin, requester=ANALYST, **fields)  # type: ignore[arg-type]

    table = _table("mine").node
    # Refused by the core: its DefinitionError arrives as one.
    with pytest.raises(DefinitionError, match="data node"):
        analyst.session.publish_request(analyst.id, commit(nodes=(table,)))
    changed = SqlNode(
        name="bank_regions", query="SELECT * FROM customers", dependencies=("customers",)
    )
    with pytest.raises(DefinitionError, match="never change an existing node"):
        analyst.session.publish_request(analyst.id, commit(nodes=(changed,)))
    raw = commit(analysts=()).model_dump(mode="json")
    raw["analysts"] = [
        {"email": ANALYST, "analyst_of": ["bank_regions"], "data_owner_of": ["customers"]}
    ]
    signer = analyst.session._signer(signed_actions.submit_request(analyst.id, raw))
    with pytest.raises(DefinitionError, match="never grant data_owner_of"):
        analyst.session._api.post_json(
            f"/v1/rooms/{analyst.id}/requests", {"commit": raw}, proof=signer
        )
    # Data ownership comes only with an owner grant, which the node's owners approve.
    owning = analyst.build_request().add_participant(ANALYST, data_owner_of=["customers"]).build()
    assert owning.owners
    assert not owning.analysts
    applied = apply_commit(analyst.definition, owning)
    assert [(g.node, g.approvers) for g in approver_groups(applied, owning)] == [
        ("customers", (BANK,))
    ]
    # The builder checks locally with the same rules before anything is sent.
    with pytest.raises(DefinitionError, match="data node"):
        analyst.build_request().add_computation(_table("mine")).build()
    assert analyst.get_submitted_requests() == []


def test_a_static_room_never_changes(app_platform: InProcessPlatform) -> None:
    dcrs = _three_parties(app_platform.client, interactive=False)
    with pytest.raises(ConflictError) as raised:
        _overlap_request(dcrs[ANALYST])
    assert raised.value.code == "room_static"


def test_single_affected_owner_previews_before_approving(app_platform: InProcessPlatform) -> None:
    dcrs = _three_parties(app_platform.client)
    request = (
        dcrs[ANALYST]
        .build_request()
        .add_computation(
            SqlComputeNodeDefinition(
                "south", "SELECT COUNT(*) AS n FROM customers WHERE region = 'south'"
            )
        )
        .add_participant(ANALYST, analyst_of=["south"])
        .submit()
    )
    assert request.required_approvers == [BANK]
    bank_view = dcrs[BANK].get_submitted_request(request.id)
    preview = bank_view.preview()
    assert isinstance(preview, SqlComputationNode)
    assert preview.get_results_as_string(timeout=60) == "n\n3\n"
    # The preview is the owner's alone, and the requester cannot preview its own request.
    with pytest.raises(PermissionDeniedError, match="only the one data owner"):
        request.preview()  # type: ignore[attr-defined]
    assert dcrs[ANALYST].get_node("south") is None
    assert "REQUEST_PREVIEW_SUBMITTED" in _audit_actions(dcrs[BANK])

    two_owners = _overlap_request(dcrs[ANALYST])
    with pytest.raises(PermissionDeniedError, match="affects 2 data owner"):
        dcrs[BANK].get_submitted_request(two_owners.id).preview()  # type: ignore[attr-defined]


def test_rejected_and_withdrawn_requests(app_platform: InProcessPlatform) -> None:
    dcrs = _three_parties(app_platform.client)
    request = _overlap_request(dcrs[ANALYST])
    with pytest.raises(PermissionDeniedError):
        dcrs[ANALYST].session.act_on_request(dcrs[ANALYST].id, request.id, "approve")  # type: ignore[attr-defined]
    rejected = dcrs[INSURER].get_submitted_request(request.id).reject("not our policy data")  # type: ignore[attr-defined]
    assert rejected.status is RequestStatus.REJECTED
    assert rejected.rejection == "not our policy data"
    with pytest.raises(ConflictError):
        dcrs[BANK].get_submitted_request(request.id).approve()  # type: ignore[attr-defined]
    withdrawn = _overlap_request(dcrs[ANALYST], "overlap_two").reject("changed my mind")  # type: ignore[attr-defined]
    assert withdrawn.status is RequestStatus.REJECTED
    assert _audit_actions(dcrs[BANK]).count("REQUEST_REJECTED") == 2


# -- development computations ----------------------------------------------------------------
def test_development_computations_read_only_what_you_may_read(
    app_platform: InProcessPlatform,
) -> None:
    dcrs = _three_parties(app_platform.client)
    own = dcrs[BANK].run_development_computation(
        SqlComputeNodeDefinition("try_it", "SELECT COUNT(*) AS n FROM customers")
    )
    assert own.get_results_as_string(timeout=60) == "n\n5\n"
    # A result the bank is analyst of reads as agreed.
    via_result = dcrs[BANK].run_development_computation(
        SqlComputeNodeDefinition("total", "SELECT SUM(n) AS n FROM bank_regions")
    )
    assert via_result.get_results_as_string(timeout=60) == "n\n5\n"

    with pytest.raises(PermissionDeniedError, match="may not read node 'customers'"):
        dcrs[ANALYST].run_development_computation(
            SqlComputeNodeDefinition("peek", "SELECT * FROM customers")
        )
    with pytest.raises(PermissionDeniedError, match="may not read node 'policies'"):
        dcrs[BANK].run_development_computation(
            SqlComputeNodeDefinition("peek", "SELECT * FROM policies JOIN customers USING (id)")
        )
    with pytest.raises(PermissionDeniedError, match="bank_regions"):
        dcrs[INSURER].run_development_computation(
            SqlComputeNodeDefinition("peek", "SELECT * FROM bank_regions")
        )
    # The development job and its result are the bank's alone; nothing was added to the room.
    assert own.job_id is not None
    with pytest.raises(NotFoundError):
        dcrs[INSURER].session.get_computation_result(own.job_id, timeout=10)
    assert dcrs[BANK].refresh().get_node("try_it") is None
    actions = _audit_actions(dcrs[BANK])
    assert actions.count("DEVELOPMENT_JOB_SUBMITTED") == 2
    assert actions.count("ACCESS_DENIED") >= 3


def test_development_keeps_the_privacy_rules_of_what_it_reads(
    app_platform: InProcessPlatform,
) -> None:
    filtered = SqlComputeNodeDefinition(
        "regions_k3",
        "SELECT region, COUNT(*) AS n FROM customers GROUP BY region",
        minimum_rows_count=3,
    )
    dcrs = _three_parties(
        app_platform.client, extra=(filtered,), bank_analyst_of=("bank_regions", "regions_k3")
    )
    # The north group (2 customers) is suppressed before the development computation reads it.
    dev = dcrs[BANK].run_development_computation(
        SqlComputeNodeDefinition("regions", "SELECT region FROM regions_k3 ORDER BY region")
    )
    assert dev.get_results_as_string(timeout=60) == "region\nsouth\n"


def test_development_needs_a_room_that_enables_it(app_platform: InProcessPlatform) -> None:
    dcrs = _three_parties(app_platform.client, development=False)
    with pytest.raises(ConflictError) as raised:
        dcrs[BANK].run_development_computation(
            SqlComputeNodeDefinition("try_it", "SELECT COUNT(*) AS n FROM customers")
        )
    assert raised.value.code == "development_disabled"


def test_python_development_computation(app_platform: InProcessPlatform) -> None:
    dcrs = _three_parties(app_platform.client)
    script = (
        "import pathlib\n"
        "rows = pathlib.Path('/input/customers/dataset.csv').read_text().splitlines()\n"
        "pathlib.Path('/output/count.txt').write_text(str(len(rows)))\n"
    )
    node = dcrs[BANK].run_development_computation(
        PythonComputeNodeDefinition("count_rows", script, dependencies=["customers"])
    )
    archive = node.get_results_as_zip(timeout=120)  # type: ignore[union-attr]
    assert archive.read("count.txt") == b"5"


# -- rate limits and parameters ---------------------------------------------------------------
def test_rate_limit_counts_every_run_of_the_node(app_platform: InProcessPlatform) -> None:
    limited = SqlComputeNodeDefinition(
        "limited",
        "SELECT COUNT(*) AS n FROM customers",
        rate_limit=RateLimit(window_seconds=3600, max_executions=2),
    )
    dcrs = _three_parties(
        app_platform.client, extra=(limited,), bank_analyst_of=("bank_regions", "limited")
    )
    node = dcrs[BANK].get_node("limited")
    assert isinstance(node, SqlComputationNode)
    assert node.run_computation_and_get_results_as_string(timeout=60) == "n\n5\n"
    # A development computation reading it is a run of it too.
    dcrs[BANK].run_development_computation(
        SqlComputeNodeDefinition("again", "SELECT n FROM limited")
    ).get_results_as_string(timeout=60)
    with pytest.raises(TooManyRequestsError, match="rate limit"):
        node.run_computation()
    assert "ACCESS_DENIED" in _audit_actions(dcrs[BANK])


def test_parameters_are_bound_not_spliced(app_platform: InProcessPlatform) -> None:
    by_region = SqlComputeNodeDefinition(
        "by_region",
        "SELECT COUNT(*) AS n FROM customers WHERE region = $region",
        parameters=["region"],
    )
    dcrs = _three_parties(
        app_platform.client, extra=(by_region,), bank_analyst_of=("bank_regions", "by_region")
    )
    node = dcrs[BANK].get_node("by_region")
    assert isinstance(node, SqlComputationNode)
    node.run_computation(parameters={"region": "south"})
    assert node.get_results_as_string(timeout=60) == "n\n3\n"
    node.run_computation(parameters={"region": "x' OR '1'='1"})
    assert node.get_results_as_string(timeout=60) == "n\n0\n"
    with pytest.raises(BadRequestError, match="region"):
        node.run_computation()
    with pytest.raises(BadRequestError):
        node.run_computation(parameters={"region": "south", "other": "1"})
    # Data owners see which values the analyst ran the computation with.
    log = dcrs[INSURER].retrieve_audit_log()
    assert 'with parameters {""region"": ""south""}' in log


def test_python_parameters_are_a_file(app_platform: InProcessPlatform) -> None:
    script = (
        "import json, pathlib\n"
        "values = json.loads(pathlib.Path('/input/parameters.json').read_text())\n"
        "pathlib.Path('/output/echo.txt').write_text(values['greeting'])\n"
    )
    echo = PythonComputeNodeDefinition("echo", script, parameters=["greeting"])
    dcrs = _three_parties(
        app_platform.client, extra=(echo,), bank_analyst_of=("bank_regions", "echo")
    )
    node = dcrs[BANK].get_node("echo")
    node.run_computation(parameters={"greeting": "hello"})  # type: ignore[union-attr]
    assert node.get_results_as_zip(timeout=120).read("echo.txt") == b"hello"  # type: ignore[union-attr]


# -- testing drafts ---------------------------------------------------------------------------
def test_test_all_computations_on_empty_and_test_datasets(app_platform: InProcessPlatform) -> None:
    client = app_platform.client(BANK)
    builder = (
        AnalyticsDcrBuilder(client=client)
        .with_name("draft")
        .with_owner(BANK)
        .add_node_definition(_table("customers"))
        .add_node_definition(
            SqlComputeNodeDefinition(
                "per_region", "SELECT region, COUNT(*) AS n FROM customers GROUP BY region"
            )
        )
        .add_node_definition(
            SqlComputeNodeDefinition("broken", "SELECT no_such_column FROM customers")
        )
        .add_node_definition(SqlComputeNodeDefinition("after_broken", "SELECT * FROM broken"))
        .add_node_definition(
            PythonComputeNodeDefinition(
                "script",
                "print('hello from the script')\nraise ValueError('boom on purpose')\n",
                dependencies=["customers"],
            )
        )
        .add_participant(BANK, data_owner_of=["customers"])
    )
    results = {r.node: r for r in builder.test_all_computations()}
    assert results["per_region"].succeeded
    assert [c["name"] for c in results["per_region"].output_schema or []] == ["region", "n"]
    assert results["broken"].status == "failed"
    assert "no_such_column" in (results["broken"].error or "")
    assert results["after_broken"].status == "skipped"
    assert results["script"].status == "failed"
    assert "boom on purpose" in (results["script"].error or "")

    # With a test dataset: the node reads the author's mock data, nothing is published.
    key = sr.Key()
    dataset = client.upload_dataset(io.BytesIO(b"1,north\n2,south\n"), key, "mock customers")
    with_data = builder.test_all_computations({"customers": (dataset, key)})
    assert {r.node: r.status for r in with_data}["per_region"] == "success"
    assert client.get_data_room_descriptions() == []


def test_test_datasets_must_be_your_own(app_platform: InProcessPlatform) -> None:
    bank = app_platform.client(BANK)
    key = sr.Key()
    dataset = bank.upload_dataset(io.BytesIO(b"1,north\n"), key, "bank data")
    builder = (
        AnalyticsDcrBuilder(client=app_platform.client(INSURER))
        .with_name("draft")
        .with_owner(INSURER)
        .add_node_definition(_table("customers"))
        .add_node_definition(SqlComputeNodeDefinition("n", "SELECT COUNT(*) AS n FROM customers"))
    )
    with pytest.raises(NotFoundError):
        builder.test_all_computations({"customers": (dataset, key)})


def test_legacy_builder_governance_protocol(app_platform: InProcessPlatform) -> None:
    session = app_platform.client(BANK).session()
    for protocol, interactive in (
        (sr.GovernanceProtocol.static(), False),
        (sr.GovernanceProtocol.affected_data_owners_approve(), True),
    ):
        builder = sr.DataRoomBuilder("legacy", governance_protocol=protocol)
        builder.add_data_node("files")
        room_id = session.publish_data_room(builder.build())
        assert session.retrieve_data_room(room_id).interactive is interactive


def test_development_pays_the_privacy_budget_of_what_it_reads_only(
    app_platform: InProcessPlatform,
) -> None:
    owner = app_platform.client(BANK)
    builder = (
        AnalyticsDcrBuilder(client=owner)
        .with_name("dp room")
        .with_owner(BANK)
        .with_development_environment()
        .with_privacy_budget(epsilon=1.0)
        .add_node_definition(_table("customers"))
        .add_node_definition(
            SqlComputeNodeDefinition(
                "dp_count", "SELECT COUNT(*) AS n FROM customers", dp_epsilon=0.5
            )
        )
        .add_participant(BANK, data_owner_of=["customers"], analyst_of=["dp_count"])
    )
    dcr = owner.publish_analytics_dcr(builder.build())
    _upload(dcr, "customers", CUSTOMERS)
    reads_dp = dcr.run_development_computation(
        SqlComputeNodeDefinition("reads_dp", "SELECT n FROM dp_count")
    )
    reads_dp.get_results_as_string(timeout=60)
    assert dcr.retrieve_privacy_budget().epsilon_spent == pytest.approx(0.5)
    # Its own noise over the bank's own data is not the room's to pay.
    own = dcr.run_development_computation(
        SqlComputeNodeDefinition("own_dp", "SELECT COUNT(*) AS n FROM customers", dp_epsilon=0.5)
    )
    own.get_results_as_string(timeout=60)
    assert dcr.retrieve_privacy_budget().epsilon_spent == pytest.approx(0.5)
