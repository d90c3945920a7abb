"""Overhead of the script sandbox: an empty Python script through run_sandboxed vs plain python.

Run: ``PYTHONPATH=src .venv/bin/python bench/sandbox.py [N]``. Prints the median of N runs of each
(same process, interleaved), the same for an empty R script when R is installed, the end-to-end
latency of the seed's uppercase job and, as the last line, the Python overhead in milliseconds.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    ContainerComputationNode,
    PythonComputeNodeDefinition,
    RawDataNode,
    RawDataNodeDefinition,
)
from sealroom.compute.sandbox import (
    Mount,
    SandboxLimits,
    python_env,
    python_libraries,
    python_runtime,
    r_runtime,
    run_sandboxed,
    sandbox_available,
)
from sealroom.compute.scripts import RUNTIME_DIR
from sealroom.server.accounts import issue_token
from sealroom.server.embedded import EmbeddedServer, free_port
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not sandbox_available():
        raise SystemExit("sandbox unavailable (bwrap or libseccomp missing)")
    interpreter, runtime = python_runtime()
    plain: list[float] = []
    boxed: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for i in range(repetitions):
            started = time.perf_counter()
            subprocess.run([str(interpreter), "-c", "pass"], check=True)
            plain.append(time.perf_counter() - started)

            out, work = base / f"out{i}", base / f"work{i}"
            out.mkdir()
            work.mkdir()
            started = time.perf_counter()
            result = run_sandboxed(
                [str(interpreter), "-c", "pass"],
                mounts=(),
                output_dir=out,
                work_dir=work,
                limits=SandboxLimits(timeout_seconds=30.0),
                runtime=runtime,
                libraries=python_libraries(),
                env=python_env(),
            )
            boxed.append(time.perf_counter() - started)
            assert result.exit_code == 0, result.stderr
    plain_ms = statistics.median(plain) * 1000
    boxed_ms = statistics.median(boxed) * 1000
    job_ms = uppercase_job_latency(repetitions) * 1000
    print(f"repetitions: {repetitions}")
    print(f"plain python -c pass: median {plain_ms:.1f} ms")
    print(f"sandboxed python -c pass: median {boxed_ms:.1f} ms")
    r_timings = r_overhead(repetitions)
    if r_timings is not None:
        r_plain, r_boxed = r_timings
        print(f"plain R (empty script): median {r_plain * 1000:.1f} ms")
        print(
            f"sandboxed R (empty script, with sealroom_util.R): median {r_boxed * 1000:.1f} ms "
            f"(overhead {(r_boxed - r_plain) * 1000:.1f} ms)"
        )
    print(f"uppercase example, run + fetch zip through the SDK: median {job_ms:.1f} ms")
    print(f"overhead: {boxed_ms - plain_ms:.1f} ms")


def r_overhead(repetitions: int) -> tuple[float, float] | None:
    """Median seconds of an empty R script run directly and through the core's R wrapper."""
    runtime = r_runtime()
    if runtime is None:
        return None
    plain: list[float] = []
    boxed: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        code = base / "code"
        code.mkdir()
        (code / "main.R").write_text("invisible(NULL)\n")
        for i in range(repetitions):
            started = time.perf_counter()
            subprocess.run([*runtime.command, str(code / "main.R")], env=runtime.env, check=True)
            plain.append(time.perf_counter() - started)
            out, work = base / f"rout{i}", base / f"rwork{i}"
            out.mkdir()
            work.mkdir()
            started = time.perf_counter()
            result = run_sandboxed(
                [*runtime.command, "/opt/sealroom/runtime/run_r.R"],
                mounts=[Mount(code, "/input/code")],
                output_dir=out,
                work_dir=work,
                limits=SandboxLimits(timeout_seconds=30.0),
                runtime=runtime.runtime,
                libraries=[(RUNTIME_DIR, "/opt/sealroom/runtime")],
                env={**runtime.env, "R_PROFILE": "/opt/sealroom/runtime/Rprofile"},
            )
            boxed.append(time.perf_counter() - started)
            assert result.exit_code == 0, result.stderr
    return statistics.median(plain), statistics.median(boxed)


def uppercase_job_latency(repetitions: int) -> float:
    """Median seconds of run_computation_and_get_results_as_zip() on the seed's example."""
    warnings.simplefilter("ignore", sr.SimulatedAttestationWarning)
    email = "bench@example.com"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            data_dir=root / "data", sealing_key_file=root / "sealing.key", port=free_port()
        )
        store = open_store(settings)
        token = issue_token(store, email)
        store.engine.dispose()
        with EmbeddedServer(settings) as server:
            client = sr.create_client(email, token, api_url=server.url)
            builder = AnalyticsDcrBuilder(client=client).with_name("up").with_owner(email)
            builder.add_node_definition(
                RawDataNodeDefinition(name="input_data_node", is_required=True)
            )
            builder.add_node_definition(
                PythonComputeNodeDefinition(
                    name="uppercase_text_node",
                    script=UPPERCASE,
                    dependencies=["input_data_node"],
                )
            )
            builder.add_participant(
                email, data_owner_of=["input_data_node"], analyst_of=["uppercase_text_node"]
            )
            dcr = client.publish_analytics_dcr(builder.build())
            raw = dcr.get_node("input_data_node")
            assert isinstance(raw, RawDataNode)
            raw.upload_and_publish_dataset(io.BytesIO(b"hello world"), sr.Key(), "my-data.txt")
            node = dcr.get_node("uppercase_text_node")
            assert isinstance(node, ContainerComputationNode)
            timings = []
            for _ in range(repetitions):
                started = time.perf_counter()
                archive = node.run_computation_and_get_results_as_zip()
                timings.append(time.perf_counter() - started)
                assert archive.read("uppercase.txt") == b"HELLO WORLD"
    return statistics.median(timings)


UPPERCASE = """
with open("/input/input_data_node") as input_file:
    data = input_file.read()
with open("/output/uppercase.txt", "w") as output_file:
    output_file.write(data.upper())
"""


if __name__ == "__main__":
    main()
