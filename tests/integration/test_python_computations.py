"""Python computations in the sandbox, end to end (the seed's uppercase example, chaining)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    ContainerComputationNode,
    FileContent,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
    SqlComputationNode,
    SqlComputeNodeDefinition,
)
from tests.integration.conftest import BANK, InProcessPlatform, ServerProcess, sales_room

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

UPPERCASE_SCRIPT = """
with open("/input/input_data_node", "r") as input_file:
    input_data = input_file.read()
with open("/output/uppercase.txt", "w") as output_file:
    output_file.write(input_data.upper())
"""


@pytest.mark.integration
def test_the_seeds_uppercase_example(server_factory: Callable[..., ServerProcess]) -> None:
    server = server_factory()
    user_email = BANK
    client = sr.create_client(user_email, server.add_user(user_email), api_url=server.url)

    builder = AnalyticsDcrBuilder(client=client)
    builder.with_name("Secure Uppercase").with_owner(user_email)
    builder.add_node_definition(RawDataNodeDefinition(name="input_data_node", is_required=True))
    builder.add_node_definition(
        PythonComputeNodeDefinition(
            name="uppercase_text_node",
            script=UPPERCASE_SCRIPT.encode(),
            dependencies=["input_data_node"],
        )
    )
    builder.add_participant(
        user_email, data_owner_of=["input_data_node"], analyst_of=["uppercase_text_node"]
    )
    dcr_definition = builder.build()
    dcr = client.publish_analytics_dcr(dcr_definition)

    key = sr.Key()
    data = io.BytesIO(b"hello world")
    dcr.get_node("input_data_node").upload_and_publish_dataset(data, key, "my-data.txt")  # type: ignore[union-attr]
    uppercase_text_node = dcr.get_node("uppercase_text_node")
    assert isinstance(uppercase_text_node, ContainerComputationNode)
    result = uppercase_text_node.run_computation_and_get_results_as_zip()
    assert result.read("uppercase.txt").decode() == "HELLO WORLD"


def test_python_reads_a_table_and_sql_reads_what_python_wrote(
    app_platform: InProcessPlatform,
) -> None:
    script = """
import sealroom_util
from helpers import factor
df = sealroom_util.read_tabular_data("/input/sales")
assert str(df["amount"].dtype) == "Int64", df.dtypes
df["amount"] = df["amount"] * factor()
sealroom_util.write_tabular_data(df, "/output")
"""
    dcr = sales_room(
        app_platform,
        [
            PythonComputeNodeDefinition(
                name="doubled",
                script=script,
                dependencies=["sales"],
                additional_files=[
                    FileContent(name="helpers.py", content="def factor():\n    return 2\n")
                ],
            ),
            SqlComputeNodeDefinition(
                name="totals",
                query="SELECT region, SUM(amount) AS total FROM doubled "
                "GROUP BY region ORDER BY region",
                dependencies=["doubled"],
            ),
        ],
        ["doubled", "totals"],
    )
    totals = dcr.get_node("totals")  # type: ignore[attr-defined]
    assert isinstance(totals, SqlComputationNode)
    assert totals.run_computation_and_get_results_as_string(timeout=120) == (
        "region,total\nnorth,30\nsouth,6\n"
    )


def test_a_failing_script_gives_a_safe_error(app_platform: InProcessPlatform) -> None:
    script = (
        'import sealroom_util\ndf = sealroom_util.read_tabular_data("/input/sales")\n'
        'raise ValueError("secret " + df["region"][0])\n'
    )
    dcr = sales_room(
        app_platform,
        [PythonComputeNodeDefinition(name="boom", script=script, dependencies=["sales"])],
        ["boom"],
    )
    node = dcr.get_node("boom")  # type: ignore[attr-defined]
    assert isinstance(node, ContainerComputationNode)
    with pytest.raises(sr.ComputationError) as caught:
        node.run_computation_and_get_results_as_zip(timeout=120)
    message = str(caught.value)
    assert "script failed at line 3 of main.py;" in message
    assert "ValueError" not in message  # the class name is the script's choice: withheld
    assert "north" not in message
    assert "withheld" in message


def test_python_on_sql_and_on_python_each_upstream_node_runs_once(
    app_platform: InProcessPlatform,
) -> None:
    # "counter" appends a line to its output each time it runs: run once per job, it has one.
    counter = """
import sealroom_util
df = sealroom_util.read_tabular_data("/input/north")
with open("/output/runs.txt", "a") as f:
    f.write("ran\\n")
sealroom_util.write_tabular_data(df, "/output")
print("rows", len(df))
"""
    left = 'import shutil\nshutil.copy("/input/counter/runs.txt", "/output/left.txt")\n'
    right = 'import shutil\nshutil.copy("/input/counter/runs.txt", "/output/right.txt")\n'
    both = """
import os
with open("/output/summary.txt", "w") as f:
    for name in ("left", "right"):
        f.write(name + ":" + open(f"/input/{name}/{name}.txt").read())
"""
    dcr = sales_room(
        app_platform,
        [
            SqlComputeNodeDefinition(
                name="north", query="SELECT * FROM sales WHERE region = 'north'"
            ),
            PythonComputeNodeDefinition(
                name="counter", script=counter, dependencies=["north"], enable_logs_on_success=True
            ),
            PythonComputeNodeDefinition(name="left", script=left, dependencies=["counter"]),
            PythonComputeNodeDefinition(name="right", script=right, dependencies=["counter"]),
            PythonComputeNodeDefinition(name="both", script=both, dependencies=["left", "right"]),
        ],
        ["counter", "both"],
    )
    both_node = dcr.get_node("both")  # type: ignore[attr-defined]
    assert isinstance(both_node, ContainerComputationNode)
    summary = both_node.run_computation_and_get_results_as_zip(timeout=120).read("summary.txt")
    assert summary.decode() == "left:ran\nright:ran\n"
    counter_node = dcr.get_node("counter")  # type: ignore[attr-defined]
    assert isinstance(counter_node, ContainerComputationNode)
    archive = counter_node.run_computation_and_get_results_as_zip(timeout=120)
    assert archive.read("logs/stdout.txt") == b"rows 2\n"  # logs enabled for this node
    assert sorted(archive.namelist()) == [
        "dataset.csv", "logs/stderr.txt", "logs/stdout.txt", "runs.txt", "types.json",
    ]  # fmt: skip


def test_with_logs_enabled_the_error_message_comes_back(app_platform: InProcessPlatform) -> None:
    script = 'print("progress 1")\nraise RuntimeError("explained in detail")\n'
    dcr = sales_room(
        app_platform,
        [
            PythonComputeNodeDefinition(
                name="noisy", script=script, dependencies=["sales"], enable_logs_on_error=True
            )
        ],
        ["noisy"],
    )
    node = dcr.get_node("noisy")  # type: ignore[attr-defined]
    assert isinstance(node, ContainerComputationNode)
    with pytest.raises(sr.ComputationError) as caught:
        node.run_computation_and_get_results_as_zip(timeout=120)
    message = str(caught.value)
    assert "script failed at line 2 of main.py (exit status 1)" in message
    assert "RuntimeError: explained in detail" in message  # the traceback, logs being on
    assert "explained in detail" in message  # logs are on for this node
