"""The core's job workers: threads that claim queued jobs from the host and run them in the core.

:func:`sealroom.enclave.open_core` starts them with the core; the host side only queues jobs
(through the core's actions) and stores them. Jobs are durable in the host's metadata database:
a worker claims one atomically (queued → running), the core runs it and records the outcome. At
start, jobs a previous process left "running" are put back in the queue, so a restart loses no
finished result and leaves nothing stuck. (The core runs a job from its sealed ticket, never
from the host's columns: a host that re-queues a finished job or edits one gets it refused.)
"""

from __future__ import annotations

import logging
import threading

from sealroom.enclave.core import TrustedCore
from sealroom.enclave.host import JobQueue

logger = logging.getLogger(__name__)

#: How often an idle worker looks at the queue even without a wake-up (jobs submitted by
#: another process sharing the database).
IDLE_POLL_SECONDS = 1.0


class JobWorkers:
    def __init__(self, core: TrustedCore, store: JobQueue, count: int) -> None:
        self._core = core
        self._store = store
        self._count = count
        self._wake = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        requeued = self._store.requeue_interrupted_jobs()
        if requeued:
            logger.info("requeued %d job(s) interrupted by the last shutdown", requeued)
        for index in range(self._count):
            thread = threading.Thread(
                target=self._loop, name=f"sealroom-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
            try:
                job = self._store.claim_next_job()
            except Exception as exc:  # noqa: BLE001 - a worker must outlive a database hiccup
                logger.error("cannot claim a job (%s); retrying", type(exc).__name__)
                job = None
            if job is None:
                with self._wake:
                    if self._stopping:
                        return
                    self._wake.wait(IDLE_POLL_SECONDS)
                continue
            self._core.execute_job(job)
