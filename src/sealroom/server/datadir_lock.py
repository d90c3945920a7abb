"""One server per data directory: an exclusive lock held for the server process's lifetime.

Two servers on one data directory each believe they own the core's state: both run the same
queued jobs, both append to the same rooms' audit logs, and each one's cached view of the other's
writes goes stale (an operator saw 500s and a truncated audit log). So :func:`lock_data_dir`
takes an exclusive ``flock`` on ``<data dir>/serve.lock`` before anything else is opened, and a
second server on the same directory stops at once with a message naming the holder.

Invariants:

* The lock is the kernel's, not the file's existence: a crashed server (``kill -9``, power loss)
  holds nothing, and the next start takes the lock without anyone deleting a stale file.
* The file says who holds the lock (pid, host, start time, as one JSON object) for the message
  of the refused server and for the operator; it holds nothing secret. It is rewritten only by
  the holder, after it has the lock.
* ``flock`` locks belong to an open file description: a second :func:`lock_data_dir` in the same
  process is refused too (two platforms in one process on one directory are the same mistake).
  On a network file system without ``flock`` semantics the lock protects nothing; the operator
  guide says to keep the data directory on a local disk.

Operator commands that write the data directory's database while a server runs (``sealroom user
add``, ``revoke-token``) do not take this lock: they change rows in single SQLite transactions,
which the database serialises with the server's, and the server reads accounts from the database
on every request (docs/operating.md).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Final

from sealroom.errors import ConfigurationError

__all__ = ["LOCK_FILE", "DataDirLock", "lock_data_dir"]

LOCK_FILE: Final = "serve.lock"


class DataDirLock:
    """The held lock of one data directory; :meth:`release` (or process exit) lets it go."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    def release(self) -> None:
        if self._descriptor is not None:
            # Closing the descriptor drops the flock; the file stays (harmless, and removing it
            # would race with a server that has just opened it to take the lock).
            os.close(self._descriptor)
            self._descriptor = None


def lock_data_dir(data_dir: Path) -> DataDirLock:
    """Take ``data_dir``'s lock, or raise :class:`ConfigurationError` naming its holder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe_holder(descriptor)
        os.close(descriptor)
        raise ConfigurationError(
            f"the data directory {data_dir} is in use by another Sealroom server ({holder}); "
            "stop it first (one server per data directory)"
        ) from None
    except BaseException:
        os.close(descriptor)
        raise
    holder_record = json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    ).encode()
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, holder_record + b"\n", 0)
    return DataDirLock(path, descriptor)


def _describe_holder(descriptor: int) -> str:
    """``pid 123 on host, started 2024-…`` from the lock file; what can be read of it."""
    try:
        record = json.loads(os.pread(descriptor, 4096, 0))
        return f"pid {int(record['pid'])} on {record['host']}, started {record['started_at']}"
    except (OSError, ValueError, KeyError, TypeError):
        # The holder has the lock but has not written its record yet (it is starting).
        return "a server that is starting"
