"""``sealroom serve --unsafe-no-sandbox``: scripts run without the sandbox for development, the
core says so in its measurement (default clients refuse it before sending any key), every job
logs a warning, and R is refused."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    ContainerComputationNode,
    PythonComputeNodeDefinition,
    RawDataNodeDefinition,
    RComputeNodeDefinition,
)
from sealroom.attestation import enclave_specifications
from sealroom.errors import AttestationError
from tests.integration.conftest import BANK, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

# A script written for the sandbox, touching its paths through several of Python's APIs.
SCRIPT = """
import os, pathlib, shutil
text = open("/input/input_data_node").read()
os.makedirs("/output/sub", exist_ok=True)
pathlib.Path("/output/sub/upper.txt").write_text(text.upper())
shutil.copy("/input/input_data_node", "/tmp/copy")
listing = sorted(os.listdir("/input"))
with open("/output/listing.txt", "w") as f:
    f.write(",".join(listing) + ";" + str(os.path.exists("/tmp/copy")))
"""

UNSAFE = ["sealroom.core:unsafe-no-sandbox"]


def _builder(client: sr.Client) -> AnalyticsDcrBuilder:
    builder = AnalyticsDcrBuilder(client=client).with_name("dev").with_owner(BANK)
    builder.add_node_definition(RawDataNodeDefinition(name="input_data_node", is_required=True))
    builder.add_node_definition(
        PythonComputeNodeDefinition(name="py", script=SCRIPT, dependencies=["input_data_node"])
    )
    builder.add_node_definition(
        RComputeNodeDefinition(name="r", script="q()\n", dependencies=["input_data_node"])
    )
    builder.add_participant(BANK, data_owner_of=["input_data_node"], analyst_of=["py", "r"])
    return builder


def test_unsandboxed_server_runs_python_refuses_r_and_is_refused_by_default(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory(args=["--unsafe-no-sandbox"])
    token = server.add_user(BANK)

    # A client that trusts only the release specification refuses this core outright.
    default_client = sr.create_client(BANK, token, api_url=server.url)
    with pytest.raises(AttestationError, match="measurement"):
        default_client.publish_analytics_dcr(_builder(default_client).build())

    client = sr.create_client(
        BANK, token, api_url=server.url, enclave_specs=enclave_specifications.versions(UNSAFE)
    )
    dcr = client.publish_analytics_dcr(_builder(client).build())
    raw = dcr.get_node("input_data_node")
    raw.upload_and_publish_dataset(io.BytesIO(b"hello"), sr.Key(), "d.txt")  # type: ignore[union-attr]
    py = dcr.get_node("py")
    assert isinstance(py, ContainerComputationNode)
    for _ in range(2):
        archive = py.run_computation_and_get_results_as_zip(timeout=120)
        assert archive.read("sub/upper.txt") == b"HELLO"
        assert archive.read("listing.txt") == b"code,input_data_node;True"

    r = dcr.get_node("r")
    assert isinstance(r, ContainerComputationNode)
    with pytest.raises(sr.ComputationError, match="R scripts need the sandbox"):
        r.run_computation_and_get_results_as_zip(timeout=120)

    log = server.log_path.read_text()
    assert "WARNING: --unsafe-no-sandbox" in log  # at start
    assert log.count("running python node 'py' WITHOUT the sandbox") == 2  # at every job


def test_the_development_specification_is_never_the_default() -> None:
    latest = enclave_specifications.latest()
    (unsafe,) = enclave_specifications.versions(UNSAFE).values()
    assert unsafe.id not in latest
    assert unsafe.measurement not in {spec.measurement for spec in latest.values()}
    assert "sealroom.core:unsafe-no-sandbox" in enclave_specifications.list()


def test_without_bubblewrap_scripts_are_refused_with_how_to_install_it(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    empty = tmp_path / "no-programs"
    empty.mkdir()
    server = server_factory(PATH=str(empty))  # bwrap is looked up on PATH: now it is missing
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    dcr = client.publish_analytics_dcr(_builder(client).build())
    raw = dcr.get_node("input_data_node")
    raw.upload_and_publish_dataset(io.BytesIO(b"hello"), sr.Key(), "d.txt")  # type: ignore[union-attr]
    py = dcr.get_node("py")
    assert isinstance(py, ContainerComputationNode)
    with pytest.raises(sr.ComputationError, match=r"apt-get install bubblewrap"):
        py.run_computation_and_get_results_as_zip(timeout=120)
    assert "bubblewrap is missing" in server.log_path.read_text()  # said at start, too
