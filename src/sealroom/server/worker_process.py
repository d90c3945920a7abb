"""``sealroom worker run``: a process that only runs jobs, beside ``serve`` replicas.

Several servers and workers share one PostgreSQL database and one blob store (S3): each
process opens its own core with the same sealing key, which unseals the one identity the
database holds, and runs job worker threads that claim queued jobs durably (a lease each,
renewed while the job runs; the jobs of a worker that dies run again elsewhere once their lease
runs out). It serves no HTTP: clients reach the ``serve`` replicas, which queue the jobs.

SIGTERM or SIGINT stops it as ``serve`` stops: no new jobs, running ones get the shutdown
timeout, and any still running then are left to their leases.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

from sealroom.errors import ConfigurationError
from sealroom.server.platform import Platform, open_platform
from sealroom.server.settings import Settings

__all__ = ["open_worker", "run_worker"]

logger = logging.getLogger(__name__)


def open_worker(settings: Settings) -> Platform:
    """The platform of a worker process (ConfigurationError unless the database is shared)."""
    if not settings.shared_database:
        raise ConfigurationError(
            "a separate worker needs a database other processes share: set "
            "SEALROOM_DATABASE_URL to PostgreSQL (with SQLite, `sealroom serve` runs the jobs)"
        )
    if settings.blob_store == "local":
        logger.warning(
            "this worker keeps blobs in %s: servers on other machines cannot read them; use "
            "SEALROOM_BLOB_STORE=s3 (docs/deployment.md)",
            settings.data_dir / "blobs",
        )
    return open_platform(settings)


def run_worker(platform: Platform) -> None:
    """Run jobs until SIGTERM/SIGINT, then stop gracefully (the module docstring)."""
    stopping = threading.Event()

    def on_signal(sig: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    logger.info("worker running %d job thread(s)", platform.settings.workers)
    while not stopping.wait(1.0):
        if not platform.opened.workers.running():
            logger.error("a job worker thread stopped; exiting")
            break
    platform.stop_taking_jobs()
    logger.warning(
        "stopping: taking no new jobs; waiting up to %g s for %d running job(s)",
        platform.settings.shutdown_timeout,
        platform.opened.workers.busy,
    )
    platform.close()
    if platform.interrupted_jobs:
        # Their threads still run; the process must end without waiting for them.
        sys.stderr.flush()
        os._exit(0)
