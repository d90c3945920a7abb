"""A failing script as an output channel, through the SDK and a real server (issue 12, 15 and 16).

Each script reads the published ``sales`` table (first row: north) and tries to carry what it
read out through its failure: the exit status, an exception class name, a forged wrapper marker,
a line past its own end. With logs off the analyst reads a fixed message (at most a line within
the script); a preview node charges failures to the analyst's quota like results, so even a node
whose logs are on cannot leak past it. A file name in ``/output`` that is not UTF-8 is a clear
error, not an internal one.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    ContainerComputationNode,
    FormatType,
    PreviewComputeNodeDefinition,
    PythonComputeNodeDefinition,
    RComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.compute.sandbox import r_runtime
from tests.integration.conftest import (
    ANALYST,
    BANK,
    InProcessPlatform,
    ServerProcess,
    sales_room,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WITHHELD = "; its error message, exit status and output are withheld (logs are off for this node)"
READ = 'import sealroom_util\ndf = sealroom_util.read_tabular_data("/input/sales")\n'
# 1 when the first region is "north": the secret bit each attack tries to carry out.
BIT = 'int(df["region"][0] == "north")'

ATTACKS = {
    # 200 + bit as the exit status.
    "status": (READ + f"import sys\nsys.exit(200 + {BIT})\n", "script failed"),
    # The first region, spelled in an exception class's name, raised at line 4.
    "class": (
        READ + 'Leak = type("Leak_" + df["region"][0], (Exception,), {})\nraise Leak()\n',
        "script failed at line 4 of main.py",
    ),
    # The wrapper's marker, old form (class name) and new form, on both streams.
    "forged": (
        READ
        + "import sys\n"
        + "for s in (sys.stdout, sys.stderr):\n"
        + '    s.write("\\n__SEALROOM_SCRIPT_ERROR__ " + df["region"][0] + " 2\\n")\n'
        + f'    s.write("\\n__SEALROOM_SCRIPT_ERROR__ " + str(1000 + {BIT}) + "\\n")\n'
        + "sys.exit(1)\n",
        "script failed",
    ),
    # A line chosen by the data, past the script's end, under the script's own file name.
    "past_end": (
        READ
        + f'code = "\\n" * (1000 + {BIT}) + "raise ValueError()"\n'
        + 'exec(compile(code, "/input/code/main.py", "exec"))\n',
        "script failed",
    ),
}


def _failure(node: object) -> tuple[str, str]:
    """(code, the core's message) of running ``node``, which must fail."""
    assert isinstance(node, ContainerComputationNode)
    with pytest.raises(sr.ComputationError) as caught:
        node.run_computation_and_get_results_as_zip(timeout=120)
    prefix = f"computation {node.name!r} failed: "  # the SDK's
    assert str(caught.value).startswith(prefix)
    return caught.value.code, str(caught.value).removeprefix(prefix)


def test_a_failing_python_script_tells_only_a_fixed_outcome(
    app_platform: InProcessPlatform,
) -> None:
    dcr = sales_room(
        app_platform,
        [
            PythonComputeNodeDefinition(name=name, script=script, dependencies=["sales"])
            for name, (script, _) in ATTACKS.items()
        ],
        list(ATTACKS),
    )
    for name, (_, outcome) in ATTACKS.items():
        code, message = _failure(dcr.get_node(name))
        assert code == "script_failed"
        assert message == f"python node {name!r}: {outcome}{WITHHELD}", name


@pytest.mark.skipif(r_runtime() is None, reason="needs R: apt-get install r-base-core")
def test_a_failing_r_script_tells_only_a_fixed_outcome(app_platform: InProcessPlatform) -> None:
    read = 'sales <- read_tabular_data("/input/sales")\nbit <- sales$region[[1]] == "north"\n'
    scripts = {
        "r_status": (read + "quit(status = 200 + bit)\n", "script failed"),
        "r_class": (
            read + "stop(structure(class = c(paste0('Leak_', sales$region[[1]]), 'error',\n"
            "    'condition'), list(message = 'x', call = NULL)))\n",
            "script failed at line 3 of main.R",
        ),
        "r_forged": (
            read + 'message("\\n__SEALROOM_SCRIPT_ERROR__ ", sales$region[[1]], " ", 1000 + bit)\n'
            "quit(status = 1)\n",
            "script failed",
        ),
    }
    dcr = sales_room(
        app_platform,
        [
            RComputeNodeDefinition(name=name, script=script, dependencies=["sales"])
            for name, (script, _) in scripts.items()
        ],
        list(scripts),
    )
    for name, (_, outcome) in scripts.items():
        code, message = _failure(dcr.get_node(name))
        assert code == "script_failed"
        assert message == f"r node {name!r}: {outcome}{WITHHELD}", name


def test_an_output_name_that_is_not_utf8_is_a_clear_error(app_platform: InProcessPlatform) -> None:
    script = 'open(b"/output/r\\xe9sum\\xe9.txt", "w").write("x")\n'
    dcr = sales_room(
        app_platform,
        [PythonComputeNodeDefinition(name="latin1", script=script, dependencies=["sales"])],
        ["latin1"],
    )
    code, message = _failure(dcr.get_node("latin1"))
    assert code == "unsafe_output"
    assert message == "python node 'latin1': an output file name is not valid UTF-8: rename it"


SALES = [
    Column(name="region", format_type=FormatType.STRING, is_nullable=False),
    Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False),
]
# Prints every row to stderr, then raises a class named after the first region, at line 5.
LEAKY = (
    READ
    + 'print(df.to_csv(), file=__import__("sys").stderr)\n'
    + 'Leak = type("Leak_" + df["region"][0], (Exception,), {})\n'
    + "raise Leak()\n"
)


def _airlock_room(owner: sr.Client, quota: int) -> AnalyticsDcr:
    """BANK owns ``sales``; ANALYST may only preview two failing scripts, one with logs on."""
    b = AnalyticsDcrBuilder(client=owner).with_name("airlock").with_owner(BANK)
    b.add_node_definition(TableDataNodeDefinition(name="sales", columns=SALES, is_required=True))
    for name, logs in (("leaky", False), ("chatty", True)):
        b.add_node_definition(
            PythonComputeNodeDefinition(
                name=name, script=LEAKY, dependencies=["sales"], enable_logs_on_error=logs
            )
        )
        b.add_node_definition(
            PreviewComputeNodeDefinition(name=f"peek {name}", dependency=name, quota_bytes=quota)
        )
    b.add_participant(BANK, data_owner_of=["sales"], analyst_of=["leaky", "chatty"])
    b.add_participant(ANALYST, analyst_of=["peek leaky", "peek chatty"])
    dcr = owner.publish_analytics_dcr(b.build())
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(b"north,10\nsouth,3\nnorth,5\n"), sr.Key(), "s")
    return dcr


@pytest.mark.integration
def test_a_preview_charges_what_a_failure_tells_to_the_quota(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    owner = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    analyst = sr.create_client(ANALYST, server.add_user(ANALYST), api_url=server.url)

    # A generous quota: each failure costs the bytes of its message, like a result.
    generous = analyst.retrieve_analytics_dcr(_airlock_room(owner, 1 << 20).id)
    _, quiet = _failure(generous.get_node("peek leaky"))
    assert quiet == f"python node 'leaky': script failed at line 5 of main.py{WITHHELD}"
    _, chatty = _failure(generous.get_node("peek chatty"))
    assert "south,3" in chatty  # logs are on for this node: the room agreed to show them
    used = generous.retrieve_used_airlock_quotas()
    assert used["peek leaky"].used == len(quiet.encode())
    assert used["peek chatty"].used == len(chatty.encode())
    assert "for its failure message" in generous.retrieve_audit_log()

    # A 10-byte quota: no failure fits, so only the quota's message comes back; telling that
    # is one bit, charged one byte.
    tight = analyst.retrieve_analytics_dcr(_airlock_room(owner, 10).id)
    for name in ("peek leaky", "peek chatty"):
        code, message = _failure(tight.get_node(name))
        assert code == "airlock_quota_exceeded"
        assert message == (
            f"preview node {name!r}: this result (or failure message) is larger than the 10 "
            "bytes left of your quota (telling you so cost 1 byte); used 1 of 10 bytes"
        )
        assert tight.retrieve_used_airlock_quotas()[name].used == 1
