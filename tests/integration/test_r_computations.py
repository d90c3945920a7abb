"""R computations in the sandbox, end to end through the API: R on a table, SQL on what R wrote,
Python on R and R on Python, safe errors, and logs when the room enables them."""

from __future__ import annotations

import pytest

import sealroom as sr
from sealroom.analytics import (
    ContainerComputationNode,
    FileContent,
    PythonComputeNodeDefinition,
    RComputeNodeDefinition,
    SqlComputationNode,
    SqlComputeNodeDefinition,
)
from sealroom.analytics._dcr import AnalyticsDcr
from sealroom.compute.sandbox import r_runtime
from tests.integration.conftest import InProcessPlatform, sales_room

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.skipif(r_runtime() is None, reason="needs R: apt-get install r-base-core"),
]


def _container(dcr: AnalyticsDcr, name: str) -> ContainerComputationNode:
    node = dcr.get_node(name)
    assert isinstance(node, ContainerComputationNode)
    return node


R_TOTALS = """
source("/input/code/helpers.R")
sales <- read_tabular_data("/input/sales")
stopifnot(is.integer(sales$amount))
totals <- aggregate(amount ~ region, data = sales, FUN = sum)
totals$amount <- scale_by(totals$amount)
write_tabular_data(totals, "/output")
"""


def test_r_on_a_table_and_sql_on_what_r_wrote(app_platform: InProcessPlatform) -> None:
    dcr = sales_room(
        app_platform,
        [
            RComputeNodeDefinition(
                name="r_totals",
                script=R_TOTALS,
                dependencies=["sales"],
                additional_files=[
                    FileContent(name="helpers.R", content="scale_by <- function(x) x * 2L\n")
                ],
            ),
            SqlComputeNodeDefinition(
                name="report",
                query="SELECT region, amount + 1 AS plus_one FROM r_totals ORDER BY region",
                dependencies=["r_totals"],
            ),
        ],
        ["r_totals", "report"],
    )
    archive = _container(dcr, "r_totals").run_computation_and_get_results_as_zip(timeout=120)
    assert archive.read("dataset.csv") == b'"north",30\n"south",6\n'
    report = dcr.get_node("report")
    assert isinstance(report, SqlComputationNode)
    # The integer column stayed an integer through R: plus_one is 31, not 31.0.
    assert report.run_computation_and_get_results_as_string(timeout=120) == (
        "region,plus_one\nnorth,31\nsouth,7\n"
    )


def test_python_on_r_and_r_on_python(app_platform: InProcessPlatform) -> None:
    python_first = """
import sealroom_util
df = sealroom_util.read_tabular_data("/input/sales")
df["amount"] = df["amount"] * 10
sealroom_util.write_tabular_data(df, "/output")
"""
    r_middle = """
df <- read_tabular_data("/input/py_scaled")
df$share <- df$amount / sum(df$amount)
write_tabular_data(df[order(df$amount), ], "/output")
writeLines("made by R", "/output/note.txt")
"""
    python_last = """
import sealroom_util
df = sealroom_util.read_tabular_data("/input/r_share")
note = open("/input/r_share/note.txt").read().strip()
with open("/output/summary.txt", "w") as f:
    amounts = [int(v) for v in df["amount"]]
    f.write(f"{note}: {amounts} {round(df['share'].sum(), 6)} {df['amount'].dtype}")
"""
    dcr = sales_room(
        app_platform,
        [
            PythonComputeNodeDefinition(
                name="py_scaled", script=python_first, dependencies=["sales"]
            ),
            RComputeNodeDefinition(name="r_share", script=r_middle, dependencies=["py_scaled"]),
            PythonComputeNodeDefinition(
                name="py_last", script=python_last, dependencies=["r_share"]
            ),
        ],
        ["py_last"],
    )
    summary = _container(dcr, "py_last").run_computation_and_get_results_as_zip(timeout=120)
    assert summary.read("summary.txt").decode() == "made by R: [30, 50, 100] 1.0 Int64"


def test_a_failing_r_script_gives_a_safe_error(app_platform: InProcessPlatform) -> None:
    script = (
        'sales <- read_tabular_data("/input/sales")\n\nstop(paste("secret", sales$region[1]))\n'
    )
    dcr = sales_room(
        app_platform, [RComputeNodeDefinition(name="boom", script=script, dependencies=["sales"])],
        ["boom"],
    )  # fmt: skip
    with pytest.raises(sr.ComputationError) as caught:
        _container(dcr, "boom").run_computation_and_get_results_as_zip(timeout=120)
    message = str(caught.value)
    assert "script failed at line 3 of main.R;" in message
    assert "simpleError" not in message  # the condition's class is the script's choice
    assert "north" not in message
    assert "withheld" in message


def test_with_logs_enabled_r_output_comes_back(app_platform: InProcessPlatform) -> None:
    noisy = 'cat("progress 1\\n")\nmessage("to stderr")\nwriteLines("x", "/output/x.txt")\n'
    failing = 'cat("before\\n")\nstop("explained in detail")\n'
    dcr = sales_room(
        app_platform,
        [
            RComputeNodeDefinition(
                name="noisy", script=noisy, dependencies=["sales"], enable_logs_on_success=True
            ),
            RComputeNodeDefinition(
                name="failing", script=failing, dependencies=["sales"], enable_logs_on_error=True
            ),
        ],
        ["noisy", "failing"],
    )
    archive = _container(dcr, "noisy").run_computation_and_get_results_as_zip(timeout=120)
    assert archive.read("logs/stdout.txt") == b"progress 1\n"
    assert archive.read("logs/stderr.txt") == b"to stderr\n"
    with pytest.raises(sr.ComputationError) as caught:
        _container(dcr, "failing").run_computation_and_get_results_as_zip(timeout=120)
    assert "line 2 of main.R" in str(caught.value)
    assert "explained in detail" in str(caught.value)


def test_r_cannot_reach_the_network_or_start_programs(app_platform: InProcessPlatform) -> None:
    probe = """
results <- character()
con <- tryCatch(socketConnection("127.0.0.1", 8000, timeout = 2), error = function(e) NULL,
                warning = function(w) NULL)
results <- c(results, if (is.null(con)) "network blocked" else "network open")
status <- suppressWarnings(system("id > /output/id.txt"))
results <- c(results, if (status == 127) "programs blocked" else "programs ran")
opened <- tryCatch({ file("/input/sales/dataset.csv", "w"); "input writable" },
                   error = function(e) "input read-only", warning = function(w) "input read-only")
results <- c(results, opened)
writeLines(results, "/output/results.txt")
"""
    dcr = sales_room(
        app_platform, [RComputeNodeDefinition(name="probe", script=probe, dependencies=["sales"])],
        ["probe"],
    )  # fmt: skip
    archive = _container(dcr, "probe").run_computation_and_get_results_as_zip(timeout=120)
    assert archive.read("results.txt").decode().splitlines() == [
        "network blocked", "programs blocked", "input read-only",
    ]  # fmt: skip
    assert "id.txt" not in archive.namelist()
