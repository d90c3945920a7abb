"""Wake-ups between a submission, the core's workers and the long-polls waiting for a job.

A job's latency once carried two sleeps: a long-poll looked at the job every 50 ms (25 ms late on
average), and a submission made between a worker's empty look at the queue and its sleep woke
nobody (the job waited for the idle poll, a second). These pin that neither happens.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from contextlib import AbstractContextManager

import pytest

from sealroom.enclave import workers as workers_module
from sealroom.enclave.workers import IDLE_POLL_SECONDS, JobWorkers
from sealroom.model.records import JobRecord
from sealroom.server.job_watch import JobWatch


def _job(job_id: str) -> JobRecord:
    return JobRecord(
        id=job_id,
        room_id="r",
        node="n",
        submitted_by="a@x.example",
        status="running",
        created_at_ms=0,
        started_at_ms=0,
        finished_at_ms=None,
        attempts=1,
        error_code=None,
        error_message=None,
        result_blob=None,
        parameters=None,
        spec=None,
        ticket=None,
    )


class _Queue:
    """A job queue whose ``claim_next_job`` can run a hook before it answers."""

    def __init__(self) -> None:
        self.jobs: deque[JobRecord] = deque()
        self.claims = 0
        self.lock = threading.Lock()
        self.before_answer: list[object] = []

    def requeue_interrupted_jobs(self) -> int:
        return 0

    def claim_next_job(self) -> JobRecord | None:
        with self.lock:
            self.claims += 1
            job = self.jobs.popleft() if self.jobs else None
            hooks, self.before_answer = self.before_answer, []
        for hook in hooks:
            hook()  # type: ignore[operator]
        return job


class _Core:
    def __init__(self) -> None:
        self.ran: dict[str, float] = {}
        self.done = threading.Event()

    def execute_job(self, job: JobRecord) -> None:
        self.ran[job.id] = time.monotonic()
        self.done.set()


def _workers(count: int) -> tuple[JobWorkers, _Queue, _Core]:
    queue, core = _Queue(), _Core()
    workers = JobWorkers(core, queue, count)  # type: ignore[arg-type]
    workers.start()
    return workers, queue, core


def _idle(queue: _Queue, workers: int) -> None:
    """Until every worker has looked at the (empty) queue and gone to sleep."""
    deadline = time.monotonic() + 5
    while queue.claims < workers and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)


def test_a_submitted_job_starts_at_once() -> None:
    workers, queue, core = _workers(2)
    try:
        _idle(queue, 2)
        queue.jobs.append(_job("j1"))
        submitted = time.monotonic()
        workers.notify()
        assert core.done.wait(IDLE_POLL_SECONDS / 2)
        assert core.ran["j1"] - submitted < 0.2
    finally:
        workers.stop()


def test_a_submission_during_an_empty_look_at_the_queue_is_not_lost() -> None:
    """The job is queued and notified after the worker's claim found nothing but before it
    sleeps: it must look again instead of sleeping through the idle poll."""
    workers, queue, core = _workers(1)
    try:
        _idle(queue, 1)
        submitted: list[float] = []

        def submit_meanwhile() -> None:
            queue.jobs.append(_job("late"))
            submitted.append(time.monotonic())
            workers.notify()

        # The next claim (a wake-up or the idle poll) finds nothing, then the job arrives.
        queue.before_answer.append(submit_meanwhile)
        workers.notify()
        assert core.done.wait(IDLE_POLL_SECONDS * 3)
        assert core.ran["late"] - submitted[0] < IDLE_POLL_SECONDS / 2
    finally:
        workers.stop()


def test_a_submission_wakes_one_idle_worker_not_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """The others keep sleeping: all of them racing for one job slowed the one that got it."""
    monkeypatch.setattr(workers_module, "IDLE_POLL_SECONDS", 30.0)
    workers, queue, core = _workers(4)
    try:
        _idle(queue, 4)
        before = queue.claims
        queue.jobs.append(_job("j1"))
        workers.notify()
        assert core.done.wait(5)
        time.sleep(0.2)
        # The woken worker claims the job, then looks once more and finds the queue empty.
        assert queue.claims - before == 2
    finally:
        workers.stop()


def test_workers_stop_while_idle() -> None:
    workers, queue, _ = _workers(3)
    _idle(queue, 3)
    started = time.monotonic()
    workers.stop()
    assert time.monotonic() - started < 1.0


# -- the host's side: long-polls woken by the job's end --------------------------------------


def test_a_finished_job_wakes_its_long_polls_from_another_thread() -> None:
    watch = JobWatch()

    async def wait() -> float:
        with watch.watching("j1") as finished, watch.watching("j1") as second:
            assert watch.waiting() == 2
            started = time.monotonic()
            threading.Timer(0.05, watch.finished, args=("j1",)).start()
            await asyncio.wait_for(finished.wait(), timeout=5)
            await asyncio.wait_for(second.wait(), timeout=5)
            return time.monotonic() - started

    assert asyncio.run(wait()) < 1.0
    assert watch.waiting() == 0


def test_a_job_finishing_before_the_wait_is_not_missed() -> None:
    """Registered first, then the status read, then the wait: an end in between is kept."""
    watch = JobWatch()

    async def wait() -> bool:
        with watch.watching("j1") as finished:
            watch.finished("j1")  # while the status was being read
            await asyncio.wait_for(finished.wait(), timeout=1)
            return finished.is_set()

    assert asyncio.run(wait())


def test_another_jobs_end_wakes_nobody() -> None:
    watch = JobWatch()

    async def wait() -> bool:
        with watch.watching("j1") as finished:
            watch.finished("j2")
            await asyncio.sleep(0.05)
            return finished.is_set()

    assert not asyncio.run(wait())


def test_a_wake_up_for_a_closed_event_loop_is_ignored() -> None:
    watch = JobWatch()
    loop = asyncio.new_event_loop()

    async def register() -> AbstractContextManager[asyncio.Event]:
        context = watch.watching("j1")
        context.__enter__()
        return context

    context = loop.run_until_complete(register())
    loop.close()
    watch.finished("j1")  # its loop is gone: nothing to wake, and no error
    context.__exit__(None, None, None)
    assert watch.waiting() == 0
