"""A throwaway PostgreSQL cluster for the tests, started by the tests themselves.

One cluster per test session (``postgres_cluster``): ``initdb`` into a temporary directory,
``pg_ctl start`` on a free port of 127.0.0.1, stopped and deleted at the end. Each test asks for
its own empty database (``postgres_url``); ``CREATE DATABASE`` copies ``template1`` in a few
milliseconds, so tests never share rows.

* The binaries are Debian's (``apt-get install postgresql``, which ``./dev test`` does): they
  live in ``/usr/lib/postgresql/<version>/bin``, not on ``PATH``; the newest version is used,
  else whatever ``PATH`` has.
* ``initdb`` and the server refuse to run as root. As root (CI), the data directory belongs to
  the ``postgres`` user and both run through ``runuser -u postgres``; as anyone else, they run
  as that user. The superuser is named ``postgres`` either way.
* A missing PostgreSQL is an error that says how to install it, never a skip: a suite that
  silently skipped its PostgreSQL half would pass without testing it.
* ``fsync=off`` and ``--no-sync``: a test cluster that loses its data in a power cut loses
  nothing. The C locale sorts text bytewise, as SQLite does.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresCluster", "find_postgres_bin", "postgres_cluster", "postgres_url"]

INSTALL_HINT = "PostgreSQL is not installed: run ./dev test to install postgresql"
SUPERUSER = "postgres"
#: Servers in integration tests open pools of their own; the default 100 is close.
MAX_CONNECTIONS = 300
_DEBIAN_ROOT = Path("/usr/lib/postgresql")


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: Debian's newest, else ``PATH``'s."""
    versions = sorted(
        (p for p in _DEBIAN_ROOT.glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = shutil.which("initdb")
    return None if initdb is None else Path(initdb).resolve().parent


@dataclass(frozen=True)
class PostgresCluster:
    bin_dir: Path
    data_dir: Path
    port: int

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create the empty database ``name`` and return its SQLAlchemy URL."""
        import psycopg  # here: every test session loads this module, few use PostgreSQL

        with psycopg.connect(self.url("postgres", "postgresql"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name: the fixture's, [a-z0-9_]
        return self.url(name)


def _free_port() -> int:
    # Not sealroom.server.embedded.free_port: importing the server costs every session a second.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _as_cluster_owner(args: Sequence[str]) -> list[str]:
    """``args`` run as the cluster's owner: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *args]
    return list(args)


def _run(args: Sequence[str], cwd: Path) -> None:
    # cwd: the owner must be able to enter it (root's working directory may be closed to it).
    result = subprocess.run(
        _as_cluster_owner(args), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    with running_cluster() as cluster:
        yield cluster


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    """A throwaway cluster on a free port, stopped and deleted at the end (also for bench/)."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise RuntimeError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="sealroom-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, SUPERUSER, SUPERUSER)
    data_dir = root / "data"
    cluster = PostgresCluster(bin_dir, data_dir, _free_port())
    options = " ".join(
        [
            f"-p {cluster.port}",
            f"-k {root}",  # the Unix socket stays in the temporary directory
            "-c listen_addresses=127.0.0.1",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            f"-c max_connections={MAX_CONNECTIONS}",
        ]
    )
    started = False
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "-D",
                str(data_dir),
            ],
            cwd=root,
        )
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data_dir),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "start",
            ],
            cwd=root,
        )
        started = True
        yield cluster
    finally:
        if started:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"], root)
        shutil.rmtree(root, ignore_errors=True)


_DATABASE_NUMBERS = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A new, empty database of the session's cluster (``postgresql+psycopg://…``)."""
    return postgres_cluster.create_database(f"test_{next(_DATABASE_NUMBERS)}")
