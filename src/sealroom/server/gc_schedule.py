"""The server's periodic garbage collection: ``sealroom gc`` on a timer, inside ``serve``.

Every ``SEALROOM_GC_INTERVAL_HOURS`` (default 24; 0 turns it off) a background thread runs
:func:`sealroom.storage.gc.collect_garbage` with the server's result retention
(``SEALROOM_RESULT_RETENTION_DAYS``, default 30) and grace age (``SEALROOM_GC_GRACE_HOURS``,
default 7 days). The first run comes one interval after the start, so a restart loop never
collects more often than asked. Each run is safe while the server works (see that module) and
logs one line of counts and bytes freed: ids never, data never.

A failing run is logged and retried at the next interval; it never stops the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sealroom.model.records import now_ms
from sealroom.storage.gc import GcPolicy, GcReport

__all__ = ["GcSchedule", "PeriodicGc"]

logger = logging.getLogger(__name__)

_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS


@dataclass(frozen=True)
class GcSchedule:
    """How often the server collects, and what it deletes (ages in the settings' units)."""

    interval_hours: float
    result_retention_days: float
    grace_hours: float

    @property
    def enabled(self) -> bool:
        return self.interval_hours > 0

    def policy(self, at_ms: int) -> GcPolicy:
        return GcPolicy(
            now_ms=at_ms,
            result_retention_ms=int(self.result_retention_days * _DAY_MS),
            grace_ms=int(self.grace_hours * _HOUR_MS),
        )


class PeriodicGc:
    """A daemon thread running gc every interval until :meth:`stop`."""

    def __init__(self, schedule: GcSchedule, collect: Callable[[GcPolicy], GcReport]) -> None:
        """``collect`` runs one collection under a policy (the server's database and blobs)."""
        self._schedule = schedule
        self._collect = collect
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sealroom-gc", daemon=True)
        #: Completed runs (for tests and metrics); a failed run does not count.
        self.runs = 0

    def start(self) -> None:
        if self._schedule.enabled:
            self._thread.start()

    def stop(self) -> None:
        """Stop waiting; a run in progress finishes its current step's transaction first."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        interval_s = self._schedule.interval_hours * 3600
        while not self._stopping.wait(interval_s):
            try:
                report = self._collect(self._schedule.policy(now_ms()))
            except Exception:
                logger.exception("garbage collection failed; retrying in %g h", interval_s / 3600)
                continue
            self.runs += 1
            logger.info(
                "garbage collection: %d result(s) expired, %d unpublished dataset(s), "
                "%d abandoned upload(s), %d orphan file(s); %d bytes freed%s",
                len(report.results),
                len(report.datasets),
                len(report.uploads),
                len(report.files),
                report.freed_bytes,
                "; skipped: " + "; ".join(report.skipped) if report.skipped else "",
            )
