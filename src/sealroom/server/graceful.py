"""Serving until a graceful stop: SIGTERM (or Ctrl-C) ends ``sealroom serve`` in bounded time.

On the first SIGTERM/SIGINT, at once: the job workers stop taking jobs and uvicorn stops
accepting connections. Then, both within ``settings.shutdown_timeout`` seconds of the signal:
open requests (job long-polls among them) finish or are cancelled, and running jobs finish;
jobs still running at the deadline are put back in the queue (:meth:`Platform.close`) and run
again at the next start, from their sealed ticket. A second Ctrl-C quits without waiting
(uvicorn's force exit; the next start requeues what was running, as after a crash).

Invariant: no job is lost or half-visible — each one either finished (its result and audit entry
recorded by the core) or is queued again; the queue lives in the metadata database, so the jobs
that were waiting are still there at the next start.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from types import FrameType

import uvicorn

from sealroom.server.platform import Platform

__all__ = ["serve_until_stopped"]

logger = logging.getLogger(__name__)


class _GracefulServer(uvicorn.Server):
    """uvicorn's server, which also tells the platform to stop taking jobs on the signal."""

    def __init__(self, config: uvicorn.Config, platform: Platform) -> None:
        super().__init__(config)
        self._platform = platform

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            # Not in the handler itself: it interrupts the main thread anywhere, and the
            # workers' lock may be taken there.
            threading.Thread(
                target=self._stop_taking_jobs, args=(sig,), name="sealroom-shutdown"
            ).start()
        super().handle_exit(sig, frame)

    def _stop_taking_jobs(self, sig: int) -> None:
        self._platform.stop_taking_jobs()
        logger.warning(
            "received signal %d: taking no new jobs; waiting up to %g s for %d running job(s)",
            sig,
            self._platform.settings.shutdown_timeout,
            self._platform.opened.workers.busy,
        )


def serve_until_stopped(platform: Platform, config: uvicorn.Config) -> None:
    """Run ``config``'s app on ``platform`` until a signal stops it (the module docstring)."""
    # Whole seconds (uvicorn's type); rounded up, never cutting a request short of the budget.
    config.timeout_graceful_shutdown = math.ceil(platform.settings.shutdown_timeout)
    _GracefulServer(config, platform).run()
    if platform.interrupted_jobs:
        # Their threads still run in this process; they must not outlive the requeue. (After a
        # signal uvicorn re-raises it and the process ends before this line.)
        sys.stderr.flush()
        os._exit(0)
