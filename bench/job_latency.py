"""The fixed cost of one job: a trivial SQL query through Sealroom, end to end, N times.

A real ``sealroom serve`` process; one user owns a room with one small published table ``t``
and a SQL node ``SELECT count(*) AS n FROM t``. Each run is what a user does:
``node.run_computation_and_get_results_as_arrow()`` — sign and submit the job, long-poll its
status, sign and fetch the sealed result, check the core's signature over the release and
decrypt it. The table is published (decrypted and validated by the core) before timing, so what
is measured is the per-job overhead that comes on top of DuckDB's own time.

Printed: the median and p90 of the end-to-end latency, the server's and the client's CPU time
per run, then where the time goes —

* client side, timed in this process (the SDK is wrapped, not changed): making the recipient
  key, signing actions, each HTTP request (submit, status long-poll, result fetch), checking the
  release's signature and decrypting;
* server side, from an instrumented ``sealroom serve`` (this file runs it with timing wrappers
  around the core's actions, the host's database calls, DuckDB and the crypto, and writes what
  they measured when the server stops): each job's milestones (submitted → a worker starts it →
  finished → the answer leaves: its status or its result) and the mean time per run of each step;
* with ``--profile`` (``pip install py-spy``, not a project dependency), where the server's
  threads spend their time, by the innermost Sealroom frame of each sampled stack.

DuckDB alone on the same query and table is timed too, as the floor. ``--compare TREE ...``
runs the whole benchmark once per source tree (``TREE/src`` first on ``PYTHONPATH``), in
alternating rounds, and prints their medians side by side: before and after a change, in one
run. Usage::

    python bench/job_latency.py --runs 50 [--rows 1000] [--profile] [--plain]
    git worktree add --detach /tmp/before HEAD~1
    python bench/job_latency.py --runs 50 --compare /tmp/before .
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

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
from sealroom.client import _http, _session
from sealroom.server.accounts import issue_token
from sealroom.server.embedded import free_port, wait_until_healthy
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings

USER = "alice@bank.example"
QUERY = "SELECT count(*) AS n FROM t"


class Timings:
    """Seconds spent per phase in the current run, and all runs' totals per phase."""

    def __init__(self) -> None:
        self.current: Counter[str] = Counter()
        self.runs: list[Counter[str]] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.current[name] += time.perf_counter() - started

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return original(*args, **kwargs)

        setattr(owner, attribute, timed)

    def next_run(self) -> None:
        self.runs.append(self.current)
        self.current = Counter()


def instrument_client(timings: Timings) -> None:
    """Time the SDK's steps from outside (the SDK itself is unchanged)."""
    timings.wrap(_session.KemPrivateKey, "generate", "client: make recipient key")
    timings.wrap(_session.Session, "_signer", "client: read signing key, certificate")
    timings.wrap(_session, "sign_action", "client: sign actions")
    timings.wrap(_session, "verify_result_release", "client: verify release signature")
    timings.wrap(_session, "open_sealed", "client: decrypt result")
    original = _http.ApiClient.request

    def request(self: _http.ApiClient, method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("/result"):
            name = "http: fetch result (POST /result)"
        elif path.endswith("/jobs"):
            name = "http: submit (POST /jobs)"
        elif path.startswith("/v1/jobs/"):
            name = "http: status long-poll (GET /jobs/id)"
        else:
            name = f"http: other ({method} {path})"
        with timings.phase(name):
            return original(self, method, path, **kwargs)

    _http.ApiClient.request = request  # type: ignore[method-assign]


#: Server-side steps timed by the instrumented server: (module, attribute, step name). A method
#: is patched on its class, a function where the caller looks it up (the module that imported it).
_SERVER_STEPS: list[tuple[str, str, str]] = [
    ("sealroom.server.routes.deps", "authenticate", "token authentication (host)"),
    ("sealroom.enclave.core", "TrustedCore.submit_job", "core: submit_job"),
    ("sealroom.enclave.core", "TrustedCore.job_status", "core: job_status"),
    ("sealroom.enclave.core", "TrustedCore.execute_job", "core: execute_job (the run)"),
    ("sealroom.enclave.core", "TrustedCore.retrieve_result", "core: retrieve_result"),
    ("sealroom.enclave.authorize", "Authority.authorize", "  authorize (history, policy)"),
    ("sealroom.enclave.authorize", "Authority.authenticate", "    participant signature, nonce"),
    ("sealroom.enclave.authorize", "Authority.history", "    room history (host row, cache)"),
    ("sealroom.enclave.audit_log", "AuditLogKeeper.append", "  audit: append"),
    (
        "sealroom.enclave.audit_log",
        "AuditLogKeeper.checkpoint",
        "    audit: checkpoint",
    ),
    ("sealroom.enclave.jobs", "open_ticket", "  job ticket: open (status)"),
    ("sealroom.enclave.job_runs", "open_ticket", "  job ticket: open (run)"),
    ("sealroom.enclave.results", "open_ticket", "  job ticket: open (result)"),
    ("sealroom.enclave.job_ticket", "JobTicket.seal", "  job ticket: seal"),
    ("sealroom.enclave.execution", "run_sql", "  sql: run_sql (DuckDB)"),
    ("sealroom.compute.sql.connection", "_Pool.take", "    sql: take a database"),
    ("sealroom.compute.sql.connection", "_Pool.give_back", "    sql: give the database back"),
    ("sealroom.enclave.inputs", "validate_table", "  inputs: validate a table (cache miss)"),
    ("sealroom.enclave.job_runs", "seal_at_rest", "  result: seal at rest"),
    ("sealroom.enclave.results", "open_at_rest", "  result: open at rest"),
    ("sealroom.enclave.results", "seal", "  result: HPKE-seal to recipient"),
    ("sealroom.enclave.results", "sign_result_release", "  result: sign release"),
    ("sealroom.storage.metadata", "MetadataStore.email_for_token", "host db: token lookup"),
    ("sealroom.storage.metadata", "MetadataStore.get_room", "host db: get_room"),
    ("sealroom.storage.metadata", "MetadataStore.insert_job", "host db: insert_job"),
    ("sealroom.storage.metadata", "MetadataStore.get_job", "host db: get_job"),
    (
        "sealroom.storage.metadata",
        "MetadataStore.count_unfinished_jobs",
        "host db: count_unfinished",
    ),
    ("sealroom.storage.metadata", "MetadataStore.claim_next_job", "host db: claim_next_job"),
    ("sealroom.storage.metadata", "MetadataStore.finish_job", "host db: finish_job"),
    ("sealroom.storage.metadata", "MetadataStore.append_audit_entry", "host db: audit entry"),
    ("sealroom.storage.metadata", "MetadataStore.save_audit_checkpoint", "host db: checkpoint"),
    ("sealroom.storage.host", "SqlHost.put_job_result", "host blobs: put result"),
    ("sealroom.storage.host", "SqlHost.job_result", "host blobs: get result"),
]


class ServerRecorder:
    """Runs inside the server process: times the steps above and the job's milestones, and
    writes them (JSON lines) to a file when the server exits."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.samples: list[tuple[str, float, float]] = []  # (step, wall start, seconds)
        self.events: list[tuple[str, str, float]] = []  # (event, job id, wall time)
        self._lock = threading.Lock()

    def install(self) -> None:
        import importlib

        for module_name, attribute, step in _SERVER_STEPS:
            owner: Any = importlib.import_module(module_name)
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, name, self._timed(getattr(owner, name), step))
        self._milestones()

    def _timed(self, function: Callable[..., Any], step: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, started = time.time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.samples.append((step, wall, elapsed))

        return timed

    def event(self, name: str, job_id: str) -> None:
        with self._lock:
            self.events.append((name, job_id, time.time()))

    def _milestones(self) -> None:
        """Submitted (the core queued it), started (a worker runs it), finished (the host
        marks it), answered (a status or result response about it leaves the server)."""
        from sealroom.enclave.core import TrustedCore
        from sealroom.server import app as app_module
        from sealroom.storage.metadata import MetadataStore

        submit, execute, finish = (
            TrustedCore.submit_job,
            TrustedCore.execute_job,
            MetadataStore.finish_job,
        )

        def submit_job(core: Any, *args: Any, **kwargs: Any) -> Any:
            job = submit(core, *args, **kwargs)
            self.event("submitted", job.id)
            return job

        def execute_job(core: Any, job: Any) -> None:
            self.event("started", job.id)
            execute(core, job)

        def finish_job(store: Any, job_id: str, **kwargs: Any) -> None:
            finish(store, job_id, **kwargs)
            self.event("finished", job_id)

        TrustedCore.submit_job = submit_job  # type: ignore[method-assign]
        TrustedCore.execute_job = execute_job  # type: ignore[method-assign]
        MetadataStore.finish_job = finish_job  # type: ignore[method-assign]
        create_app = app_module.create_app
        recorder = self

        def instrumented_app(*args: Any, **kwargs: Any) -> Any:
            app = create_app(*args, **kwargs)

            async def timed_app(scope: Any, receive: Any, send: Any) -> None:
                if scope["type"] == "lifespan":
                    # uvicorn ends by re-raising SIGTERM (no atexit): dump at shutdown instead.
                    async def lifespan_send(message: Any) -> None:
                        await send(message)
                        if message["type"] == "lifespan.shutdown.complete":
                            recorder.dump()

                    await app(scope, receive, lifespan_send)
                    return
                if scope["type"] != "http":
                    await app(scope, receive, send)
                    return
                path, method = scope["path"], scope["method"]
                wall, started = time.time(), time.perf_counter()

                async def timed_send(message: Any) -> None:
                    await send(message)
                    if message["type"] == "http.response.body" and not message.get("more_body"):
                        step = f"http (server): {method} {_route(path)}"
                        with recorder._lock:
                            recorder.samples.append((step, wall, time.perf_counter() - started))
                        if path.startswith("/v1/jobs/"):  # a status, or a result fetched
                            recorder.event("answered", path.split("/")[3])

                await app(scope, receive, timed_send)

            return timed_app

        app_module.create_app = instrumented_app

    def dump(self) -> None:
        with self._lock, self.out.open("w") as handle:
            for step, wall, seconds in self.samples:
                handle.write(json.dumps({"step": step, "at": wall, "s": seconds}) + "\n")
            for name, job_id, wall in self.events:
                handle.write(json.dumps({"event": name, "job": job_id, "at": wall}) + "\n")


def _route(path: str) -> str:
    if path.startswith("/v1/jobs/"):
        return "/v1/jobs/{id}" + ("/result" if path.endswith("/result") else "")
    if path.endswith("/jobs"):
        return "/v1/rooms/{room}/nodes/{node}/jobs"
    return path


def serve_instrumented(stats: Path, argv: list[str]) -> None:
    """The server process of ``--instrumented``: ``sealroom serve`` with the recorder on."""
    ServerRecorder(stats).install()
    from sealroom.cli.main import main as sealroom_main

    sys.argv = ["sealroom", *argv]
    sealroom_main()


def start_server(root: Path, *, instrumented: bool) -> tuple[subprocess.Popen[bytes], str, str]:
    settings = Settings(data_dir=root / "data", sealing_key_file=root / "sealing.key")
    store = open_store(settings)
    token = issue_token(store, USER)
    store.engine.dispose()
    port = free_port()
    env = {**os.environ, "SEALROOM_SEALING_KEY_FILE": str(root / "sealing.key")}
    serve = ["serve", "--data-dir", str(root / "data"), "--port", str(port)]
    serve += ["--log-level", "warning"]
    if instrumented:
        command = [sys.executable, __file__, "--serve-instrumented", str(root / "server.jsonl")]
    else:
        command = [sys.executable, "-m", "sealroom.cli"]
    process = subprocess.Popen([*command, *serve], env=env)
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, is_alive=lambda: process.poll() is None, timeout=60)
    return process, url, token


def table_csv(rows: int) -> bytes:
    return "".join(f"{i}\n" for i in range(rows)).encode()


def publish_room(client: sr.Client, rows: int) -> SqlComputationNode:
    b = AnalyticsDcrBuilder(client=client).with_name("latency").with_owner(USER)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            is_required=True,
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="q", query=QUERY))
    b.add_participant(USER, data_owner_of=["t"], analyst_of=["q"])
    dcr = client.publish_analytics_dcr(b.build())
    table = dcr.get_node("t")
    assert isinstance(table, TableDataNode)
    table.upload_and_publish_dataset(io.BytesIO(table_csv(rows)), sr.Key(), "t.csv")
    node = dcr.get_node("q")
    assert isinstance(node, SqlComputationNode)
    return node


def duckdb_alone(rows: int, runs: int) -> list[float]:
    connection = duckdb.connect(":memory:")
    connection.execute("CREATE TABLE t AS SELECT range AS x FROM range(?)", [rows])
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        connection.sql(QUERY).arrow()
        seconds.append(time.perf_counter() - started)
    connection.close()
    return seconds


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("--profile: py-spy is not installed (pip install py-spy); no server profile")
        return None
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "1000"]
    profiler = subprocess.Popen(
        [*command, "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    return profiler


def summarise_profile(path: Path, top: int = 25) -> list[tuple[str, int]]:
    """Busy samples of the server's threads by the innermost Sealroom frame of each stack."""
    where: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        ours = [f for f in frames if "sealroom/" in f]
        where[ours[-1] if ours else frames[-1]] += int(count)
    return where.most_common(top)


def server_report(path: Path, since: float, runs: int) -> list[str]:
    """Lines of the server's side: milestones per job (medians) and steps (mean per run)."""
    steps: dict[str, list[float]] = defaultdict(list)
    events: dict[str, dict[str, float]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["at"] < since:
            continue
        if "step" in record:
            steps[record["step"]].append(record["s"])
        elif record["event"] == "answered":
            # The first answer after the job finished (a status, or the result itself).
            finished = events[record["job"]].get("finished")
            if finished is not None and "answered" not in events[record["job"]]:
                events[record["job"]]["answered"] = record["at"]
        else:
            events[record["job"]].setdefault(record["event"], record["at"])
    lines = ["server milestones (median per job, ms):"]
    for label, first, second in (
        ("submitted -> a worker starts it", "submitted", "started"),
        ("started -> finished (the run)", "started", "finished"),
        ("finished -> answered (its status or result)", "finished", "answered"),
    ):
        gaps = [e[second] - e[first] for e in events.values() if first in e and second in e]
        if gaps:
            lines.append(f"  {label:<50} {statistics.median(gaps) * 1000:7.2f}")
    lines.append("server steps (mean per run, ms; indented steps are part of the one above):")
    for step in sorted(steps, key=lambda name: _STEP_ORDER.get(name, 999)):
        values = steps[step]
        lines.append(
            f"  {step:<58} {sum(values) / runs * 1000:7.2f}   ({len(values) / runs:.1f} calls)"
        )
    return lines


_STEP_ORDER = {step: index for index, (_, _, step) in enumerate(_SERVER_STEPS, start=10)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """One server, one room, ``args.runs`` timed runs; prints the breakdown."""
    timings = Timings()
    with tempfile.TemporaryDirectory(prefix="sealroom-latency-") as tmp:
        root = Path(tmp)
        process, url, token = start_server(root, instrumented=not args.plain)
        profiler = None
        try:
            client = sr.create_client(USER, token, api_url=url, state_dir=root / "state")
            client.session()  # attestation is verified once per client, before timing
            node = publish_room(client, args.rows)
            for _ in range(args.warmup):  # first-job imports, caches
                node.run_computation_and_get_results_as_arrow()
            if not args.plain:
                instrument_client(timings)
            if args.profile:
                profiler = start_profiler(process.pid, root / "profile.txt")
            since = time.time()
            cpu_before = process_cpu_seconds(process.pid), time.process_time()
            latencies = []
            for _ in range(args.runs):
                started = time.perf_counter()
                table = node.run_computation_and_get_results_as_arrow()
                latencies.append(time.perf_counter() - started)
                timings.next_run()
                assert table.column(0)[0].as_py() == args.rows
            cpu = (
                process_cpu_seconds(process.pid) - cpu_before[0],
                time.process_time() - cpu_before[1],
            )
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
        finally:
            process.terminate()
            process.wait()

        duck = duckdb_alone(args.rows, args.runs)
        median = statistics.median(latencies)
        summary = {
            "sealroom_median_ms": median * 1000,
            "sealroom_p90_ms": percentile(latencies, 0.9) * 1000,
            "duckdb_median_ms": statistics.median(duck) * 1000,
        }
        print(
            f"{args.runs} runs of {QUERY!r} over {args.rows:,} rows (sealroom from {sr.__file__})"
        )
        print(f"duckdb alone: median {summary['duckdb_median_ms']:.2f} ms")
        print(
            f"sealroom end to end: median {median * 1000:.1f} ms, "
            f"p90 {summary['sealroom_p90_ms']:.1f} ms, "
            f"min {min(latencies) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms"
        )
        print(
            f"cpu per run: server {cpu[0] / args.runs * 1000:.1f} ms, "
            f"client {cpu[1] / args.runs * 1000:.1f} ms (all threads)"
        )
        if timings.runs:
            print("client side (median per run, ms):")
            for name in sorted({name for run in timings.runs for name in run}):
                values = [run.get(name, 0.0) for run in timings.runs]
                print(f"  {name:<50} {statistics.median(values) * 1000:7.2f}")
        if (root / "server.jsonl").exists():
            for line in server_report(root / "server.jsonl", since, args.runs):
                print(line)
        if profiler is not None and (root / "profile.txt").exists():
            samples = summarise_profile(root / "profile.txt")
            total = sum(count for _, count in samples) or 1
            print("server profile (busy samples, innermost Sealroom frame; top 25):")
            for name, count in samples:
                print(f"  {100 * count / total:5.1f} %  {name}")
            keep = Path("job_latency_profile.txt").resolve()
            shutil.copy(root / "profile.txt", keep)
            print(f"raw stacks kept in {keep} (py-spy --format raw)")
    return summary


def compare(args: argparse.Namespace) -> None:
    """Run this benchmark with each source tree in turn (``--rounds`` times, alternating) and
    print their medians side by side: before and after, in one run, on one machine."""
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for round_index in range(args.rounds):
        for tree in args.compare:
            src = str(Path(tree, "src").resolve())
            command = [sys.executable, __file__, "--runs", str(args.runs), "--rows", str(args.rows)]
            command += ["--summary-json"]
            print(f"--- round {round_index + 1}: {src}", flush=True)
            output = subprocess.run(
                command,
                env={**os.environ, "PYTHONPATH": src},
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            print(output.rsplit("\n", 2)[0], flush=True)
            results[tree].append(json.loads(output.strip().splitlines()[-1]))
    print("=== comparison (median of each round's median, ms)")
    for tree, rounds in results.items():
        sealroom_ms = statistics.median(r["sealroom_median_ms"] for r in rounds)
        p90_ms = statistics.median(r["sealroom_p90_ms"] for r in rounds)
        print(f"  {tree:<40} median {sealroom_ms:6.1f}   p90 {p90_ms:6.1f}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-instrumented":
        serve_instrumented(Path(sys.argv[2]), sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    parser.add_argument("--rows", type=int, default=1000, help="rows of the published table")
    parser.add_argument("--profile", action="store_true", help="sample the server with py-spy")
    parser.add_argument("--plain", action="store_true", help="no timing of steps, only totals")
    parser.add_argument(
        "--compare", nargs="+", metavar="TREE", help="source trees to compare (their src/)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --compare")
    parser.add_argument("--summary-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.simplefilter("ignore", sr.SimulatedAttestationWarning)
    if args.compare:
        compare(args)
        return
    summary = measure(args)
    if args.summary_json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
