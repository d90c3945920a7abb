"""The core's scratch directory, and the sweep of those that crashed servers left behind.

Jobs write plaintext (decrypted inputs, DuckDB spills, script outputs) only under the scratch
directory, which lives in RAM (``/dev/shm``) and is removed when the server stops. A server
killed mid-job (``kill -9``, out of memory) cannot remove it, and the plaintext would stay in
RAM until reboot. So every scratch directory holds a lock file that its server keeps locked
(``flock``) while it runs, and a server starting sweeps every ``sealroom-scratch-*`` directory
whose lock it can take: its owner is gone, since the kernel drops a dead process's locks.

Invariants: a scratch directory is 0700 and appears under its final name only once its lock is
held (it is made under a temporary name and renamed), so a sweep never takes a live server's
directory for a dead one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from pathlib import Path
from typing import Final

from sealroom.compute.sandbox import remove_tree

__all__ = ["Scratch", "open_scratch"]

logger = logging.getLogger(__name__)

PREFIX: Final = "sealroom-scratch-"
_LOCK: Final = ".lock"


class Scratch:
    """A scratch directory this process holds (its lock stays locked until :meth:`close`)."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd = lock_fd

    def close(self) -> None:
        remove_tree(self.path)
        os.close(self._lock_fd)


def open_scratch(root: Path) -> Scratch:
    """Sweep what dead servers left under ``root``, then make and lock a directory of our own."""
    swept = sweep(root)
    if swept:
        logger.warning("removed %d scratch directories left by servers that did not stop", swept)
    name = secrets.token_hex(6)
    pending = root / f".{PREFIX}{name}"
    pending.mkdir(mode=0o700)
    lock_fd = os.open(pending / _LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    path = root / f"{PREFIX}{name}"
    pending.rename(path)
    return Scratch(path, lock_fd)


def sweep(root: Path) -> int:
    """Remove every scratch directory under ``root`` whose lock nobody holds; how many."""
    removed = 0
    for directory in root.glob(f"{PREFIX}*"):
        if directory.is_symlink() or not directory.is_dir():
            continue
        if directory.stat().st_uid != os.getuid():
            continue  # another user's: not ours to judge
        try:
            lock_fd = os.open(directory / _LOCK, os.O_RDWR)
        except FileNotFoundError:
            lock_fd = None  # made by a version without locks: its server is not this one
        except OSError:
            continue
        try:
            if lock_fd is not None:
                try:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live server holds it
            remove_tree(directory)
            removed += 1
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
    return removed
