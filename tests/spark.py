"""A local Spark Connect server for the ``spark`` tests: one per test process, started on first use.

The server is the full ``pyspark`` distribution (its jars), which ``./dev test`` installs into
``.spark/`` at the repository root — not into the venv, whose ``pyspark-client`` (the thin client
the core uses) provides the same ``pyspark`` package. It runs in the foreground under
``spark-submit`` (``--master local[2]``, bound to 127.0.0.1 on a free port), in its own process
group, which is killed when the test process exits. Starting takes 5 to 45 s, so every test module
shares the one server (:func:`shared_server`, the session-wide fixture each module wraps).

Never skipped: a missing ``.spark/`` or Java is an error that says how to install them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sealroom.compute.sql.spark import SparkConnect

__all__ = ["SPARK_HOME", "SparkServer", "shared_server", "spark_connect"]

REPO = Path(__file__).resolve().parent.parent
SPARK_HOME = REPO / ".spark" / "pyspark"
START_TIMEOUT_SECONDS = 180
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@dataclass
class SparkServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    work_dir: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.work_dir, ignore_errors=True)


def java_home() -> Path:
    """The JDK/JRE behind ``java`` on the PATH (or ``JAVA_HOME``)."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"])
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(
            "the spark tests need Java 17 (Debian: openjdk-17-jre-headless); "
            "run ./dev test to install it"
        )
    return Path(java).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start(*, driver_memory: str = "2g") -> SparkServer:
    """Start a Spark Connect server and wait until it accepts connections.

    ``driver_memory`` is the JVM's heap (``local[2]`` runs every task in the driver): 2 GB is
    enough for the tests' small inputs; the benchmark's larger ones need more (bench/tpch_spark.py).
    """
    submit = SPARK_HOME / "bin" / "spark-submit"
    if not submit.is_file():
        raise RuntimeError(
            f"the Spark Connect server is not installed in {SPARK_HOME.parent}: "
            "run ./dev test to install it (pip install --target .spark pyspark[connect])"
        )
    port = _free_port()
    work_dir = Path(tempfile.mkdtemp(prefix="sealroom-spark-"))
    log = work_dir / "server.log"
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "JAVA_HOME": str(java_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": str(work_dir / "local"),
    }
    argv = [
        str(submit),
        "--class",
        SERVER_CLASS,
        "--master",
        "local[2]",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.sql.warehouse.dir={work_dir / 'warehouse'}",
        "--conf",
        f"spark.driver.memory={driver_memory}",
        "spark-internal",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv,
            cwd=work_dir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() kills the JVM with it
        )
    server = SparkServer(f"sc://127.0.0.1:{port}", process, log, work_dir)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            server.stop()
            raise RuntimeError(f"the Spark Connect server did not start:\n{tail}")
        time.sleep(0.5)
    return server


_SERVER: SparkServer | None = None
_LOCK = threading.Lock()


def shared_server() -> SparkServer:
    """The test process's one server, started on first use and stopped at exit."""
    global _SERVER
    with _LOCK:
        if _SERVER is None or _SERVER.process.poll() is not None:
            _SERVER = start()
            atexit.register(_SERVER.stop)
        return _SERVER


def spark_connect() -> SparkConnect:
    """The shared server as the engine's configuration."""
    return SparkConnect(shared_server().url)
