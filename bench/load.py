"""Load: N concurrent clients against one real ``sealroom serve`` on loopback, for a while.

Each client is one person with an API token (issued in the data directory before the server
starts, as ``sealroom user add`` does) who owns a room with a small table ``t`` (published
through the SDK at set-up) and a SQL node ``q`` over it. Then, until the duration is over (and
at most ``--max-iterations`` rounds), each client repeats:

* **run** — the SDK signs and submits a job of ``q`` (a signed core action);
* **long poll** — ``GET /v1/jobs/{id}?wait=…`` until the job has finished (raw HTTP);
* **result** — the SDK signs the fetch, checks the core's signature and decrypts;
* **audit** — ``GET /v1/rooms/{id}/audit-log`` (raw HTTP: a cheap read);
* every ``--upload-every``-th round, **upload** — the SDK removes the table's dataset, then
  encrypts, uploads and publishes a new one (the core decrypts and validates it).

The SDK is synchronous: its calls run in threads (one client object per person, used by one
call at a time); the raw reads use one shared ``httpx.AsyncClient``. Every loop is bounded in
time and count; every request goes to 127.0.0.1 only.

Printed: per call, the count, p50, p99 and max latency; the number of errors (any exception or
non-2xx answer: it must be zero); and the server process's resident memory (VmRSS) sampled every
second, as a short series and its growth from the end of the warm-up to the end. Exit status 1
when any call failed. Usage::

    python bench/load.py                          # 100 clients for 5 minutes
    python bench/load.py --clients 20 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

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
from sealroom.model.records import JobStatus
from sealroom.server.accounts import issue_token
from sealroom.server.embedded import free_port, wait_until_healthy
from sealroom.server.platform import open_store
from sealroom.server.settings import Settings

QUERY = "SELECT x % 10 AS bucket, COUNT(*) AS n FROM t GROUP BY bucket"
ROWS = 1000
#: A long poll waits at most this long per request; the loop asks again until the job is done.
POLL_WAIT_SECONDS = 10
#: Give up on one job after this long (counted as an error): bounds every loop.
JOB_DEADLINE_SECONDS = 120


@dataclass
class Client:
    email: str
    token: str
    sdk: sr.Client
    room_id: str
    table: TableDataNode
    query: SqlComputationNode


@dataclass
class Recorder:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: The first few error descriptions (type and status only: no data in them anyway).
    samples: list[str] = field(default_factory=list)

    def error(self, call: str, what: str) -> None:
        self.errors[call] += 1
        if len(self.samples) < 10:
            self.samples.append(f"{call}: {what}")


def start_server(
    root: Path, emails: list[str], workers: int
) -> tuple[subprocess.Popen[bytes], str, list[str]]:
    """The real command, with a token per person issued in its data directory beforehand."""
    settings = Settings(data_dir=root / "data", sealing_key_file=root / "sealing.key")
    store = open_store(settings)
    tokens = [issue_token(store, email) for email in emails]
    store.engine.dispose()
    port = free_port()
    env = {**os.environ, "SEALROOM_SEALING_KEY_FILE": str(root / "sealing.key")}
    command = [sys.executable, "-m", "sealroom.cli", "serve", "--data-dir", str(root / "data")]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning"]
    log = open(root / "server.log", "wb")  # noqa: SIM115 - the server's lifetime
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_until_healthy(url, is_alive=lambda: process.poll() is None, timeout=60)
    return process, url, tokens


def table_csv(seed: int) -> bytes:
    return "".join(f"{i * 7 + seed}\n" for i in range(ROWS)).encode()


def set_up(email: str, token: str, url: str) -> Client:
    sdk = sr.create_client(email, token, api_url=url)
    b = AnalyticsDcrBuilder(client=sdk).with_name("load").with_owner(email)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            is_required=True,
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="q", query=QUERY))
    b.add_participant(email, data_owner_of=["t"], analyst_of=["q"])
    dcr = sdk.publish_analytics_dcr(b.build())
    table, query = dcr.get_node("t"), dcr.get_node("q")
    assert isinstance(table, TableDataNode)
    assert isinstance(query, SqlComputationNode)
    table.upload_and_publish_dataset(io.BytesIO(table_csv(0)), sr.Key(), "t.csv")
    return Client(email, token, sdk, dcr.id, table, query)


def reupload(client: Client, seed: int) -> None:
    client.table.remove_published_dataset()
    client.table.upload_and_publish_dataset(io.BytesIO(table_csv(seed)), sr.Key(), "t.csv")


async def timed(recorder: Recorder, call: str, awaitable: object) -> object:
    start = time.perf_counter()
    try:
        result = await awaitable  # type: ignore[misc]
    except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
        recorder.error(
            call,
            type(exc).__name__
            + (f" {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else ""),
        )
        return None
    recorder.latencies[call].append(time.perf_counter() - start)
    return result


async def long_poll(http: httpx.AsyncClient, client: Client, job_id: str) -> None:
    headers = {"Authorization": f"Bearer {client.token}"}
    deadline = time.monotonic() + JOB_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        response = await http.get(
            f"/v1/jobs/{job_id}", params={"wait": POLL_WAIT_SECONDS}, headers=headers
        )
        response.raise_for_status()
        status = response.json()["status"]
        if status == JobStatus.SUCCEEDED:
            return
        if status in JobStatus.FINISHED:
            raise RuntimeError(f"job {status}")
    raise TimeoutError("job not finished in time")


async def audit_read(http: httpx.AsyncClient, client: Client) -> None:
    response = await http.get(
        f"/v1/rooms/{client.room_id}/audit-log",
        headers={"Authorization": f"Bearer {client.token}"},
    )
    response.raise_for_status()
    assert response.json()["entries"]


async def run_client(
    client: Client,
    http: httpx.AsyncClient,
    recorder: Recorder,
    stop_at: float,
    max_iterations: int,
    upload_every: int,
) -> int:
    rounds = 0
    while rounds < max_iterations and time.monotonic() < stop_at:
        rounds += 1
        if upload_every and rounds % upload_every == 0:
            await timed(recorder, "upload", asyncio.to_thread(reupload, client, rounds))
        job = await timed(recorder, "run", asyncio.to_thread(client.query.run_computation))
        if job is None:
            continue
        await timed(recorder, "long poll", long_poll(http, client, job.id))  # type: ignore[attr-defined]
        await timed(
            recorder, "result", asyncio.to_thread(client.query.get_results_as_string, 1, 60)
        )
        await timed(recorder, "audit", audit_read(http, client))
    return rounds


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def sample_rss(pid: int, samples: list[tuple[float, int]], stop: asyncio.Event) -> None:
    start = time.monotonic()
    while not stop.is_set():
        samples.append((time.monotonic() - start, rss_kib(pid)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main_async(args: argparse.Namespace) -> int:
    emails = [f"load{i:03d}@load.example" for i in range(args.clients)]
    with tempfile.TemporaryDirectory(prefix="sealroom-load-") as tmp:
        root = Path(tmp)
        process, url, tokens = start_server(root, emails, args.workers)
        try:
            set_up_start = time.perf_counter()
            # Set-up is not measured: rooms published and datasets uploaded a few at a time.
            semaphore = asyncio.Semaphore(8)

            async def one(email: str, token: str) -> Client:
                async with semaphore:
                    return await asyncio.to_thread(set_up, email, token, url)

            clients = await asyncio.gather(
                *(one(e, t) for e, t in zip(emails, tokens, strict=True))
            )
            took = time.perf_counter() - set_up_start
            print(f"set-up: {len(clients)} people, rooms and datasets in {took:.1f} s")

            recorder = Recorder()
            samples: list[tuple[float, int]] = []
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_rss(process.pid, samples, stop))
            limits = httpx.Limits(max_connections=args.clients * 2)
            async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
                stop_at = time.monotonic() + args.duration
                started = time.perf_counter()
                rounds = await asyncio.gather(
                    *(
                        run_client(
                            c, http, recorder, stop_at, args.max_iterations, args.upload_every
                        )
                        for c in clients
                    )
                )
                elapsed = time.perf_counter() - started
            stop.set()
            await sampler
            return report(args, recorder, samples, rounds, elapsed, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def report(
    args: argparse.Namespace,
    recorder: Recorder,
    samples: list[tuple[float, int]],
    rounds: list[int],
    elapsed: float,
    process: subprocess.Popen[bytes],
) -> int:
    print(
        f"{args.clients} clients, {elapsed:.0f} s, {sum(rounds)} rounds "
        f"({sum(rounds) / elapsed:.1f}/s), server workers {args.workers}"
    )
    print(f"{'call':<10} {'count':>7} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'errors':>7}")
    for call in ["upload", "run", "long poll", "result", "audit"]:
        values = recorder.latencies.get(call, [])
        if not values and not recorder.errors.get(call):
            continue
        p50 = percentile(values, 0.5) * 1000 if values else float("nan")
        p99 = percentile(values, 0.99) * 1000 if values else float("nan")
        top = max(values) * 1000 if values else float("nan")
        print(
            f"{call:<10} {len(values):>7} {p50:>9.1f} {p99:>9.1f} {top:>9.1f} "
            f"{recorder.errors.get(call, 0):>7}"
        )
    errors = sum(recorder.errors.values())
    print(f"errors: {errors}")
    for sample in recorder.samples:
        print(f"  {sample}")
    if samples:
        step = max(1, len(samples) // 10)
        series = ", ".join(f"{t:.0f}s {kib / 1024:.0f}" for t, kib in samples[::step])
        print(f"server RSS (MiB) over time: {series}")
        warm = [kib for t, kib in samples if t >= min(args.warm_up, samples[-1][0] / 2)]
        end = statistics.median(kib for _, kib in samples[-5:])
        peak = max(kib for _, kib in samples)
        print(
            f"server RSS: {warm[0] / 1024:.0f} MiB after warm-up, {end / 1024:.0f} MiB at the "
            f"end ({(end - warm[0]) / 1024:+.0f} MiB), peak {peak / 1024:.0f} MiB"
        )
    if process.poll() is not None:
        print("the server exited during the run")
        return 1
    return 1 if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--max-iterations", type=int, default=10_000, help="rounds per client")
    parser.add_argument("--upload-every", type=int, default=5, help="0: never re-upload")
    parser.add_argument("--workers", type=int, default=2, help="the server's job workers")
    parser.add_argument("--warm-up", type=float, default=20.0, help="seconds before RSS counts")
    args = parser.parse_args()
    warnings.simplefilter("ignore", sr.SimulatedAttestationWarning)
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
