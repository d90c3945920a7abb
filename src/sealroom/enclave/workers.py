"""The core's job workers: threads that claim queued jobs from the host and run them in the core.

:func:`sealroom.enclave.open_core` starts them with the core; the host side only queues jobs
(through the core's actions) and stores them. Jobs are durable in the host's metadata database:
a worker claims one atomically (queued → running), the core runs it and records the outcome. At
start, jobs a previous process left "running" are put back in the queue, so a restart loses no
finished result and leaves nothing stuck. Processes that share the database (``shared``) hold
each claimed job by a lease they renew while it runs; a job whose lease runs out (its worker
died, ``kill -9``) goes back to the queue for another worker, and if the first worker was only
slow, the core keeps the first outcome recorded (:mod:`.job_runs`). (The core runs a job from
its sealed ticket, never from the host's columns: a host that re-queues a finished job or edits
one gets it refused.)

Graceful stop (SIGTERM): :meth:`JobWorkers.stop_claiming` makes every worker stop taking jobs
at once; :meth:`JobWorkers.stop` then lets the running ones finish until a deadline counted from
that first request, and returns the ids of the jobs still running, which the host puts back in
the queue before the process exits (they run again at the next start, from their ticket).
"""

from __future__ import annotations

import logging
import threading
import time

from sealroom.enclave.core import TrustedCore
from sealroom.enclave.host import JobQueue

logger = logging.getLogger(__name__)

#: How often an idle worker looks at the queue even without a wake-up (jobs submitted by
#: another process sharing the database).
IDLE_POLL_SECONDS = 1.0


class JobWorkers:
    """``count`` threads that run queued jobs; :meth:`notify` after queueing one.

    A submission wakes one idle worker, which claims at once (the other workers keep sleeping:
    waking them all made them race for one job, and the losers' claim queries slowed the
    winner). A wake-up is never lost: each submission bumps a counter, and a worker that saw
    the counter change since it last looked at the queue looks again instead of sleeping (a
    submission between its empty claim and its sleep once waited a whole idle poll).
    """

    def __init__(
        self,
        core: TrustedCore,
        store: JobQueue,
        count: int,
        *,
        shared: bool = False,
        lease_seconds: float = 60.0,
    ) -> None:
        self._core = core
        self._store = store
        self._count = count
        self._shared = shared
        self._lease_seconds = lease_seconds
        self._wake = threading.Condition()
        self._stopping = False
        #: When the first stop request came (monotonic); the shutdown deadline counts from it.
        self._stop_requested_at: float | None = None
        #: Bumped by every notify; a worker compares it with the value before its claim.
        self._submissions = 0
        self._threads: list[threading.Thread] = []
        #: The job each busy worker runs, by thread name (what a stop past its deadline leaves).
        self._running: dict[str, str] = {}

    def start(self) -> None:
        if self._shared:
            # Other processes' jobs run too: only those whose lease ran out go back.
            lease = threading.Thread(target=self._hold_leases, name="sealroom-leases", daemon=True)
            lease.start()
        else:
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
            self._submissions += 1
            self._wake.notify()

    def stop_claiming(self) -> None:
        """No worker takes another job (the running ones go on); safe to call more than once."""
        with self._wake:
            if self._stop_requested_at is None:
                self._stop_requested_at = time.monotonic()
            self._stopping = True
            self._wake.notify_all()

    def stop(self, timeout: float = 10.0) -> list[str]:
        """Stop claiming; wait for running jobs until ``timeout`` seconds after the first stop
        request; the ids of the jobs still running then (their threads are left to the exit)."""
        self.stop_claiming()
        assert self._stop_requested_at is not None
        deadline = self._stop_requested_at + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._wake:
            return sorted(self._running.values())

    @property
    def busy(self) -> int:
        """How many workers are running a job now."""
        with self._wake:
            return len(self._running)

    def running(self) -> bool:
        """Whether every worker started and none stopped or died (the server's readiness)."""
        with self._wake:
            if self._stopping:
                return False
        alive = sum(thread.is_alive() for thread in self._threads)
        return len(self._threads) == self._count and alive == self._count

    def _loop(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                seen = self._submissions
            try:
                job = self._store.claim_next_job()
            except Exception as exc:  # noqa: BLE001 - a worker must outlive a database hiccup
                logger.error("cannot claim a job (%s); retrying", type(exc).__name__)
                job = None
            if job is None:
                self._sleep(seen)
                continue
            name = threading.current_thread().name
            with self._wake:
                self._running[name] = job.id
            try:
                self._core.execute_job(job)
            finally:
                with self._wake:
                    del self._running[name]

    def _hold_leases(self) -> None:
        """Shared host: renew the leases of this process's running jobs a few times a lease,
        and put back in the queue the jobs of workers that stopped renewing (they died)."""
        while True:
            with self._wake:
                if self._stopping and not self._running:
                    return
                running = list(self._running.values())
            try:
                self._store.renew_job_leases(running)
                requeued = self._store.requeue_expired_job_leases()
                if requeued:
                    logger.warning("requeued %d job(s) whose worker stopped renewing", requeued)
                    self.notify()
            except Exception as exc:  # noqa: BLE001 - retried at the next beat
                logger.error("cannot renew job leases (%s); retrying", type(exc).__name__)
            time.sleep(self._lease_seconds / 4)

    def _sleep(self, seen: int) -> None:
        """Until a submission made after the claim that saw ``seen``, a stop, or the idle poll."""
        with self._wake:
            self._wake.wait_for(
                lambda: self._stopping or self._submissions != seen, IDLE_POLL_SECONDS
            )
