"""Waking long-polls when the job they wait for finishes (host side).

The core's workers mark a job finished through the host (:class:`~sealroom.storage.host.SqlHost`
calls :meth:`JobWatch.finished` once the row is committed); a long-poll registered for that job
is woken at once and reads the job again. Reading the job from the database stays the only
source of truth: a wake-up only says "look now", and a long-poll still looks every
:data:`FALLBACK_POLL_SECONDS` (a job finished by another process sharing the database wakes
nobody here).

Long-polls wait in the event loop; :meth:`JobWatch.finished` is called from worker threads, so it
hands the wake-up to each waiter's loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

__all__ = ["FALLBACK_POLL_SECONDS", "JobWatch"]

#: How often a long-poll reads its job even without a wake-up.
FALLBACK_POLL_SECONDS: Final = 0.25


class JobWatch:
    """Who waits for which job; :meth:`finished` wakes them."""

    def __init__(self) -> None:
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def watching(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set when ``job_id`` finishes, while the block runs (in an event loop).

        Register before reading the job's status, then wait: a job finishing in between has
        set the event already, so no wake-up is lost.
        """
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.setdefault(job_id, []).append(waiter)
        try:
            yield waiter[1]
        finally:
            with self._lock:
                waiters = self._waiters.get(job_id, [])
                waiters.remove(waiter)
                if not waiters:
                    self._waiters.pop(job_id, None)

    def finished(self, job_id: str) -> None:
        """``job_id`` has finished (its row is committed); callable from any thread."""
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for loop, event in waiters:
            # A closed loop (RuntimeError) has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def waiting(self) -> int:
        """How many long-polls are registered (for tests)."""
        with self._lock:
            return sum(len(waiters) for waiters in self._waiters.values())
