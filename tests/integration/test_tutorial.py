"""The seed SDK tutorial, ported name for name, against a real ``sealroom serve`` process."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest

from tests.integration.conftest import ServerProcess

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("pki", ["decentriq_pki", "platform_pki"])
def test_tutorial_prints_the_sum_of_the_three_salaries(
    server_factory: Callable[..., ServerProcess], capsys: pytest.CaptureFixture[str], pki: str
) -> None:
    """Run with the seed's own spellings (``create_auth_using_decentriq_pki``,
    ``decentriq_pki_authentication``) and with Sealroom's (``platform_pki``)."""
    server = server_factory()
    user_email = "tutorial@example.com"
    api_token = server.add_user(user_email)

    import sealroom as sr
    import sealroom.sql as srsql

    client = sr.create_client(user_email, api_token, api_url=server.url)
    enclave_specs = sr.enclave_specifications.latest()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auth, _ = getattr(client, f"create_auth_using_{pki}")(enclave_specs)
        session = client.create_session(auth, enclave_specs)
    # The SDK says loudly that no hardware protects the core.
    assert any(issubclass(w.category, sr.SimulatedAttestationWarning) for w in caught)
    # The session signs as this user, with a key the platform's CA certified.
    assert auth.user_id == user_email
    assert auth.fingerprint == client.key_fingerprint()

    builder = sr.DataRoomBuilder("My DCR", enclave_specs=enclave_specs)
    data_node_builder = srsql.TabularDataNodeBuilder(
        "salary_data",
        schema=[
            ("name", srsql.PrimitiveType.STRING, False),
            ("salary", srsql.PrimitiveType.FLOAT64, False),
        ],
    )
    data_node_builder.add_to_builder(
        builder, authentication=getattr(client, f"{pki}_authentication"), users=[user_email]
    )
    query_node = srsql.SqlCompute(
        name="salary_sum",
        sql_statement="""
        SELECT SUM(salary)
        FROM salary_data
        """,
        dependencies=[("salary_data", data_node_builder.output_node_id)],
    )
    query_node_id = builder.add_compute_node(query_node)
    builder.add_user_permission(
        email=user_email,
        authentication_method=getattr(client, f"{pki}_authentication"),
        permissions=[
            sr.Permissions.execute_compute(query_node_id),
            sr.Permissions.retrieve_compute_result(query_node_id),
        ],
    )
    data_room = builder.build()
    data_room_id = session.publish_data_room(data_room)
    descriptions = client.get_data_room_descriptions()
    assert [d["id"] for d in descriptions] == [data_room_id]

    my_csv_string = """name,salary
Alice,10.0
Bob,12.0
Jack,7.0
"""
    data = srsql.read_input_csv_string(my_csv_string, has_header=True, delimiter=",")
    encryption_key = sr.Key()
    dataset_id = srsql.upload_and_publish_tabular_dataset(
        data,
        encryption_key,
        data_room_id,
        table="salary_data",
        session=session,
        description="salaries",
    )
    assert len(dataset_id) == 64

    job_id = session.run_computation(data_room_id, query_node_id)
    results = session.get_computation_result(job_id, interval=1, timeout=120)
    csv = srsql.read_sql_query_result_as_string(results)
    print(csv.splitlines()[-1])
    assert csv.splitlines() == ["sum(salary)", "29.0"]
    assert capsys.readouterr().out.strip() == "29.0"

    audit_log = session.retrieve_audit_log(data_room_id)
    lines = audit_log.log.decode().splitlines()
    actions = [line.rsplit(",", 1)[-1] for line in lines]
    assert actions[0] == "ROOM_PUBLISHED"
    for expected in (
        "DATASET_PUBLISHED",
        "DATASET_VALIDATED",
        "JOB_SUBMITTED",
        "JOB_COMPLETED",
        "RESULT_RETRIEVED",
    ):
        assert expected in actions
    assert all(line.split(",")[1] == user_email for line in lines)
