"""One person's row must not decide whether a differentially private run succeeds (issue 12/11).

The attack: a GROUP BY key that only the victim's row turns into a value Python cannot hold (a
timestamp after year 9999). Before the fix the key was converted before OpenDP's threshold and
the run failed exactly when the victim matched: one bit about the victim's salary, read before
any noise. Two rooms, with and without the victim, run the same node through a real server:
both runs succeed and release the same key.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable

import pyarrow as pa
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from tests.integration.conftest import BANK, ServerProcess
from tests.integration.test_differential_privacy import PEOPLE, ROWS

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# The victim (salary 9999) is the only row above 9000.
QUERY = (
    "SELECT CASE WHEN salary > 9000 THEN DATE '9999-12-31' + INTERVAL 1 DAY "
    "ELSE TIMESTAMP '2000-01-01' END AS k, COUNT(*) AS n FROM people GROUP BY k"
)


def run_room(client: sr.Client, rows: list[str]) -> pa.Table:
    b = AnalyticsDcrBuilder(client=client).with_name("dp-channels").with_owner(BANK)
    b.with_privacy_unit_column("user_id").with_privacy_budget(epsilon=1.0, delta=1e-5)
    b.add_node_definition(TableDataNodeDefinition(name="people", columns=PEOPLE, is_required=True))
    b.add_node_definition(SqlComputeNodeDefinition(name="probe", query=QUERY, dp_epsilon=0.5))
    b.add_participant(BANK, data_owner_of=["people"], analyst_of=["probe"])
    dcr = client.publish_analytics_dcr(b.build())
    people = dcr.get_node("people")
    assert isinstance(people, TableDataNode)
    people.upload_and_publish_dataset(
        io.BytesIO(("\n".join(rows) + "\n").encode()), sr.Key(), "people.csv"
    )
    node = dcr.get_node("probe")
    assert isinstance(node, SqlComputationNode)
    return node.run_computation_and_get_results_as_arrow(timeout=60)


def test_a_victim_only_unrepresentable_key_does_not_decide_the_outcome(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    victim = ROWS[-1]
    assert victim.endswith(",9999")
    with_victim = run_room(client, ROWS)
    without_victim = run_room(client, [row for row in ROWS if row != victim])
    for result in (with_victim, without_victim):
        # The victim's key is held by one person: not released; the shared key is.
        assert result.column("k").to_pylist() == [datetime.datetime(2000, 1, 1)]
        assert abs(result.column("n")[0].as_py() - 2000) < 100
