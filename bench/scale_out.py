"""Scale-out: jobs per second with 1, 2 and 4 worker processes, and what PostgreSQL + S3 add.

Everything runs on this machine, as the deployment of docs/deployment.md does across machines:
a throwaway PostgreSQL cluster, an S3 server (moto, in its own process), one ``sealroom serve
--workers 0`` and N ``sealroom worker run --workers 1`` processes sharing them.

1. **Throughput.** For N in 1, 2, 4: a fresh database and bucket, ``--rooms`` rooms with a small
   table each, and ``--jobs`` trivial SQL jobs spread over them, submitted from 8 threads at once
   through the SDK; jobs per second from the first submission to the last result. (A room's log
   takes one append at a time across processes, so jobs of one room do not spread.)
2. **Per-job overhead.** The same trivial job run one at a time (submit, wait, fetch), ``--runs``
   times, on a single ``serve --workers 1`` with SQLite and local files, then on PostgreSQL + S3
   with one worker process: the median latency of each and the difference.

The machine has 2 cores (see ``env``): more worker processes than cores only share them, so the
throughput flattens past 2; the figures say how much each process costs, not how a cluster of
machines scales. Usage::

    python bench/scale_out.py                 # 60 jobs per run, 30 sequential runs
    python bench/scale_out.py --jobs 20 --runs 10
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.integration.conftest import ServerProcess, start_server, stop_server  # noqa: E402
from tests.postgres import PostgresCluster, running_cluster  # noqa: E402
from tests.s3server import CREDENTIALS_ENV, S3Server, moto_in_subprocess  # noqa: E402

import sealroom as sr  # noqa: E402
from sealroom.analytics import (  # noqa: E402
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)

OWNER = "bench@bank.example"


def _room(client: sr.Client) -> str:
    b = AnalyticsDcrBuilder(client=client).with_name("scale-out").with_owner(OWNER)
    b.add_node_definition(
        TableDataNodeDefinition(
            name="t",
            columns=[Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    b.add_node_definition(SqlComputeNodeDefinition(name="q", query="SELECT SUM(x) AS s FROM t"))
    b.add_participant(OWNER, data_owner_of=["t"], analyst_of=["q"])
    dcr = client.publish_analytics_dcr(b.build())
    table = dcr.get_node("t")
    assert isinstance(table, TableDataNode)
    table.upload_and_publish_dataset(io.BytesIO(b"1\n2\n3\n"), sr.Key(), "t.csv")
    return dcr.id


@contextmanager
def _deployment(
    root: Path, env: dict[str, str], workers: int
) -> Iterator[tuple[ServerProcess, list[subprocess.Popen[bytes]]]]:
    """One server (--workers 0 when separate workers run) and ``workers`` worker processes."""
    (root / "server").mkdir(parents=True)
    server = start_server(root / "server", env, args=("--workers", "0" if workers else "1"))
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "sealroom.cli", "worker", "run", "--workers", "1"],
            env={**os.environ, **env, "SEALROOM_DATA_DIR": str(root / f"worker-{i}")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    try:
        yield server, processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        stop_server(server)


def _shared_env(cluster: PostgresCluster, s3: S3Server, name: str, root: Path) -> dict[str, str]:
    bucket = s3.create_bucket(name.replace("_", "-"))
    return {
        **s3.env(bucket),
        "SEALROOM_DATABASE_URL": cluster.create_database(name),
        "SEALROOM_SEALING_KEY_FILE": str(root / f"{name}.key"),
        "SEALROOM_PKI_DIR": str(root / f"{name}-pki"),
    }


def throughput(server: ServerProcess, jobs: int, rooms: int) -> float:
    client = sr.create_client(OWNER, server.add_user(OWNER), api_url=server.url)
    room_ids = [_room(client) for _ in range(rooms)]
    session = client.session()
    for room in room_ids:  # warm: each table validated (and cached by the worker that ran it)
        session.get_computation_result(session.run_computation(room, "q"), timeout=300)

    def one(i: int) -> bytes:
        job = session.run_computation(room_ids[i % rooms], "q")
        return session.get_computation_result(job, timeout=300)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(jobs)))
    elapsed = time.perf_counter() - started
    assert set(results) == {b"s\n6\n"}, set(results)
    return jobs / elapsed


def latencies(server: ServerProcess, runs: int) -> list[float]:
    client = sr.create_client(OWNER, server.add_user(OWNER), api_url=server.url)
    room = _room(client)
    session = client.session()
    session.get_computation_result(session.run_computation(room, "q"), timeout=300)  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        job = session.run_computation(room, "q")
        assert session.get_computation_result(job, timeout=300) == b"s\n6\n"
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument(
        "--rooms", type=int, default=8, help="rooms the jobs are spread over (one log each)"
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.update(CREDENTIALS_ENV)
    with (
        tempfile.TemporaryDirectory(prefix="sealroom-scale-") as tmp,
        running_cluster() as cluster,
        moto_in_subprocess() as s3,
    ):
        root = Path(tmp)
        print(
            f"1. throughput: {args.jobs} trivial SQL jobs over {args.rooms} rooms from 8 threads, "
            "PostgreSQL + S3"
        )
        rates = {}
        for n in args.workers:
            env = _shared_env(cluster, s3, f"throughput_{n}", root)
            with _deployment(root / f"throughput-{n}", env, n) as (server, _):
                rates[n] = throughput(server, args.jobs, args.rooms)
            print(f"   {n} worker process(es): {rates[n]:6.1f} jobs/s")
        base = rates[args.workers[0]]
        for n in args.workers[1:]:
            print(f"   {n} vs {args.workers[0]}: x{rates[n] / base:.2f}")

        print(f"2. per-job latency, {args.runs} sequential runs (median, p90)")
        with _deployment(root / "sqlite", {}, 0) as (server, _):
            local = latencies(server, args.runs)
        env = _shared_env(cluster, s3, "overhead", root)
        with _deployment(root / "shared", env, 1) as (server, _):
            shared = latencies(server, args.runs)
        for name, values in (("SQLite + local files", local), ("PostgreSQL + S3", shared)):
            p90 = statistics.quantiles(values, n=10)[-1]
            print(f"   {name:22} {statistics.median(values) * 1000:7.1f} ms  {p90 * 1000:7.1f} ms")
        added = statistics.median(shared) - statistics.median(local)
        print(f"   PostgreSQL + S3 adds {added * 1000:.1f} ms a job (median; the same run)")


if __name__ == "__main__":
    main()
