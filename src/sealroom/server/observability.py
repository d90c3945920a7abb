"""What an operator sees of a running server: structured logs, Prometheus metrics, readiness.

Logs. :func:`configure_logging` sends every logger (the server's, the core's, uvicorn's) to
stderr, one line per record, as JSON (``--log-format json``: ``time``, ``level``, ``logger``,
``message`` and the event's fields) or as text. Two kinds of events are this module's:

* one line per HTTP request (logger ``sealroom.http``): request id (also the ``X-Request-Id``
  response header), method, the route's *template* (``/v1/rooms/{room_id}/jobs``), status,
  duration, and the caller's e-mail once authenticated;
* one line per change of a job's state (logger ``sealroom.jobs``): job id, room id, node,
  state (queued, running, succeeded, failed), the time spent in the state it leaves, and a
  failed job's error code.

Invariant: these lines carry identifiers the host stores anyway (ids, node names, e-mails,
error codes) and never what a request or a job carries: no raw path or query string, no header,
no body, no parameter value, no file name, no error message (a core's message may quote a
name the analyst chose). ``tests/integration/test_observability.py`` runs a server through
uploads, runs, refusals and log-ins and searches the whole log for every secret it used.

Metrics (Prometheus text format at ``/metrics``): one :class:`Metrics` per platform, with a
registry of its own (never the process-wide default, so that two apps in one process do not
collide). Counters end in ``_total``, durations are histograms in seconds, sizes in bytes.
Gauges of state (the job queue, the scratch directory) are read when scraped, from the database
and the file system, so they are right even after a restart. Labels are bounded: route
templates (never raw paths; unmatched paths are one label), methods, status classes (``2xx``),
job states.

``/metrics`` shows activity volumes, not data; still, by default it answers loopback clients
only (a request relayed by a proxy, which says so in ``Forwarded``/``X-Forwarded-For``, is not
one), unless ``SEALROOM_METRICS_TOKEN`` is set, in which case it answers whoever sends that
token as a bearer token, and nobody else.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealroom._version import __version__
from sealroom.model.records import AuditRow, JobRecord, JobStatus, now_ms
from sealroom.storage import schema
from sealroom.storage.host import SqlHost
from sealroom.storage.metadata import DEFAULT_JOB_LEASE_MS

__all__ = [
    "LOG_FORMATS",
    "JobObservingHost",
    "Metrics",
    "ObservabilityMiddleware",
    "configure_logging",
    "metrics_allowed",
    "note_user",
]

LogFormat = Literal["json", "text"]
LOG_FORMATS: Final = ("json", "text")

http_logger = logging.getLogger("sealroom.http")
job_logger = logging.getLogger("sealroom.jobs")

#: The attribute of a log record that holds an event's fields (``logger.info(..., extra=)``).
_FIELDS: Final = "sealroom_fields"
#: Where a request's scope keeps what the middleware logs once the app has answered; a mutable
#: object, so that a copy of the scope made on the way in still shares it.
_REQUEST_NOTE: Final = "sealroom.request"
#: A request id a proxy sends is kept when it looks like one (nginx's ``$request_id``, a UUID);
#: anything else is replaced, so that a log line never carries what a client chose to write.
_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
#: Routes a monitor calls every few seconds: logged at DEBUG when they succeed, not to bury
#: the requests people make.
_QUIET_ROUTES: Final = frozenset({"/health", "/ready", "/metrics"})
#: The route label of a path no route matched (404s): raw paths would be unbounded labels.
UNMATCHED_ROUTE: Final = "(unmatched)"
_CHUNK_ROUTE: Final = "/v1/uploads/{upload_id}/chunks/{index}"

#: Request latency buckets (seconds): API calls take milliseconds, a job's long-poll up to 30 s
#: (``max_job_wait_seconds``), a dataset's publication (decrypt and validate) minutes.
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
#: Job duration buckets (seconds): a SQL query takes well under a second, a script up to
#: ``job_timeout`` (300 s by default), a synthetic-data or media job longer.
JOB_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)


# -- logs -------------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, event fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, _FIELDS, None)
        if isinstance(fields, Mapping):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Every logger to stderr, at ``level``, as JSON lines or text (replacing any handler)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def note_user(scope: Scope, email: str) -> None:
    """The request was authenticated as ``email`` (its log line says who it was)."""
    note = scope.get(_REQUEST_NOTE)
    if isinstance(note, _RequestNote):
        note.user = email


class _RequestNote:
    __slots__ = ("user",)

    def __init__(self) -> None:
        self.user: str | None = None


# -- the HTTP middleware ------------------------------------------------------------------------


class ObservabilityMiddleware:
    """Times, logs and counts every HTTP request, and names it with ``X-Request-Id``.

    The outermost of the app's own middleware, so that a body refused for its size (413) is
    seen too; an exception escaping the app is logged as a 500 and raised again (Starlette's
    error middleware, outside this one, answers it).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = _request_id(scope)
        note = _RequestNote()
        scope[_REQUEST_NOTE] = note
        status = 500
        received = 0
        started = time.perf_counter()

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, counting_receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            metrics = _metrics_of(scope)
            if metrics is not None:
                metrics.request(route, method, status, seconds)
                if route == _CHUNK_ROUTE and method == "PUT" and 200 <= status < 300:
                    metrics.upload_bytes.inc(received)
            _log_request(request_id, method, route, status, seconds, note.user)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if _REQUEST_ID.match(candidate):
                return candidate
    return secrets.token_hex(8)


def _route_template(scope: Scope) -> str:
    """The matched route's path template, the mount's for a mounted app, else one label."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    # A mounted app (the static files) leaves no route in the scope, only its endpoint.
    endpoint = scope.get("endpoint")
    router = getattr(scope.get("app"), "router", None)
    for mount in getattr(router, "routes", ()):
        if endpoint is not None and isinstance(mount, Mount) and mount.app is endpoint:
            return f"{mount.path}/{{path}}"
    return UNMATCHED_ROUTE


def _metrics_of(scope: Scope) -> Metrics | None:
    app = scope.get("app")
    platform = getattr(getattr(app, "state", None), "platform", None)
    metrics = getattr(platform, "metrics", None)
    return metrics if isinstance(metrics, Metrics) else None


def _log_request(
    request_id: str, method: str, route: str, status: int, seconds: float, user: str | None
) -> None:
    level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
    if not http_logger.isEnabledFor(level):
        return
    duration_ms = round(seconds * 1000, 1)
    fields: dict[str, object] = {
        "event": "http_request",
        "request_id": request_id,
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
    }
    if user is not None:
        fields["user"] = user
    who = f" by {user}" if user is not None else ""
    http_logger.log(
        level,
        "%s %s -> %d in %.1f ms%s [%s]",
        method,
        route,
        status,
        duration_ms,
        who,
        request_id,
        extra={_FIELDS: fields},
    )


def metrics_allowed(client_host: str | None, headers: Mapping[str, str], token: str) -> bool:
    """Whether a request may read ``/metrics`` (the policy is in the module docstring)."""
    if token:
        scheme, _, sent = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            sent.strip().encode(), token.encode()
        )
    if "forwarded" in headers or "x-forwarded-for" in headers:
        return False  # relayed by a proxy: the loopback address is the proxy's, not the client's
    if client_host is None:
        return False
    try:
        return ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False


# -- metrics ----------------------------------------------------------------------------------


def _status_class(status: int) -> str:
    return f"{status // 100}xx"


class Metrics:
    """The platform's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "sealroom_http_requests_total",
            "HTTP requests answered, by route template, method and status class.",
            ["route", "method", "status_class"],
            registry=r,
        )
        self.http_duration = Histogram(
            "sealroom_http_request_duration_seconds",
            "Time to answer an HTTP request (to its last byte), by route template, method and "
            "status class.",
            ["route", "method", "status_class"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.jobs = Counter(
            "sealroom_jobs_total",
            "Job state changes: queued (submitted), running (claimed by a worker), succeeded, "
            "failed, requeued (left running by a stopped server).",
            ["state"],
            registry=r,
        )
        self.job_duration = Histogram(
            "sealroom_job_duration_seconds",
            "Time a job ran, from a worker claiming it to its outcome, by outcome.",
            ["outcome"],
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.job_queue_wait = Histogram(
            "sealroom_job_queue_wait_seconds",
            "Time a job waited in the queue before a worker claimed it.",
            buckets=JOB_BUCKETS,
            registry=r,
        )
        self.upload_bytes = Counter(
            "sealroom_upload_bytes_total",
            "Ciphertext bytes of dataset chunks accepted.",
            registry=r,
        )
        self.validations = Counter(
            "sealroom_dataset_validations_total",
            "Tables the core validated on publication, by outcome (passed, failed).",
            ["outcome"],
            registry=r,
        )
        self.validation_rows = Counter(
            "sealroom_validation_rows_total",
            "Rows of tables the core validated, by result (valid, invalid).",
            ["result"],
            registry=r,
        )
        build = Gauge(
            "sealroom_build_info", "The running version (always 1).", ["version"], registry=r
        )
        build.labels(version=__version__).set(1)
        ProcessCollector(registry=r)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = (route, method, _status_class(status))
        self.http_requests.labels(*labels).inc()
        self.http_duration.labels(*labels).observe(seconds)

    def validated(self, report: Mapping[str, Any] | None) -> None:
        """Count a validation report (codes and counts only; a raw file has none)."""
        if not report:
            return
        body = report.get("report")  # {"version": ..., "report": {...}}
        if isinstance(body, Mapping):
            report = body
        outcome = str(report.get("outcome", "")).lower()
        if outcome in ("passed", "failed"):
            self.validations.labels(outcome).inc()
        total = report.get("numRowsTotal")
        invalid = report.get("numInvalidRowsTotal")
        if isinstance(total, int) and isinstance(invalid, int) and 0 <= invalid <= total:
            self.validation_rows.labels("valid").inc(total - invalid)
            self.validation_rows.labels("invalid").inc(invalid)

    def watch(self, engine: Engine, scratch_path: Path) -> None:
        """Report the job queue (from ``engine``) and the scratch directory when scraped."""
        self.registry.register(_StateCollector(engine, scratch_path))

    def exposition(self) -> tuple[bytes, str]:
        """The metrics in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _StateCollector(Collector):
    """Gauges read at scrape time: jobs queued and running, and the scratch directory's use."""

    def __init__(self, engine: Engine, scratch_path: Path) -> None:
        self._engine = engine
        self._scratch = scratch_path

    def collect(self) -> Iterable[GaugeMetricFamily]:
        counts = {JobStatus.QUEUED: 0, JobStatus.RUNNING: 0}
        jobs = schema.jobs
        query = (
            select(jobs.c.status, func.count())
            .where(jobs.c.status.in_(list(counts)))
            .group_by(jobs.c.status)
        )
        with self._engine.connect() as conn:
            for status, count in conn.execute(query).all():
                counts[str(status)] = int(count)
        yield GaugeMetricFamily(
            "sealroom_job_queue_length",
            "Jobs queued, waiting for a worker.",
            value=counts[JobStatus.QUEUED],
        )
        yield GaugeMetricFamily(
            "sealroom_jobs_running", "Jobs a worker is running.", value=counts[JobStatus.RUNNING]
        )
        yield GaugeMetricFamily(
            "sealroom_scratch_used_bytes",
            "Bytes the core's scratch directory holds (decrypted inputs, spills, outputs; in "
            "RAM when it is under /dev/shm).",
            value=_allocated_bytes(self._scratch),
        )
        try:
            stats = os.statvfs(self._scratch)
        except OSError:
            return
        yield GaugeMetricFamily(
            "sealroom_scratch_filesystem_free_bytes",
            "Bytes free on the file system of the scratch directory.",
            value=stats.f_bavail * stats.f_frsize,
        )


def _allocated_bytes(root: Path) -> int:
    """Bytes allocated to the files under ``root`` (its sparse files count what they use)."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue  # removed while we looked: a job finished
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
    return total


# -- job state changes ------------------------------------------------------------------------


class JobObservingHost(SqlHost):
    """:class:`SqlHost` that logs and counts each change of a job's state.

    The host sees every change, since the core makes them through it: queued
    (:meth:`insert_job`), running (:meth:`claim_next_job`), succeeded or failed
    (:meth:`finish_job`), and back to queued at start (:meth:`requeue_interrupted_jobs`).
    Each is logged after the database committed it.
    """

    def __init__(
        self,
        engine: Engine,
        blobs: Any,
        *,
        metrics: Metrics,
        on_job_finished: Callable[[str], None] = lambda job_id: None,
        job_lease_ms: int = DEFAULT_JOB_LEASE_MS,
    ) -> None:
        super().__init__(engine, blobs, on_job_finished=on_job_finished, job_lease_ms=job_lease_ms)
        self._metrics = metrics
        #: Jobs this process claimed: id -> (room, node, monotonic start); bounded by workers.
        self._running: dict[str, tuple[str, str, float]] = {}
        self._lock = threading.Lock()

    def insert_job(self, job: JobRecord, *, audit: Sequence[AuditRow] = ()) -> None:
        super().insert_job(job, audit=audit)
        self._changed(job.id, job.room_id, job.node, JobStatus.QUEUED, None)

    def claim_next_job(self) -> JobRecord | None:
        job = super().claim_next_job()
        if job is None:
            return None
        with self._lock:
            self._running[job.id] = (job.room_id, job.node, time.monotonic())
        waited = max(0, (job.started_at_ms or now_ms()) - job.created_at_ms) / 1000
        self._metrics.job_queue_wait.observe(waited)
        self._changed(job.id, job.room_id, job.node, JobStatus.RUNNING, waited)
        return job

    def finish_job(
        self,
        job_id: str,
        *,
        succeeded: bool,
        result_blob: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        audit: Sequence[AuditRow] = (),
    ) -> None:
        super().finish_job(
            job_id,
            succeeded=succeeded,
            result_blob=result_blob,
            error_code=error_code,
            error_message=error_message,
            audit=audit,
        )
        with self._lock:
            claimed = self._running.pop(job_id, None)
        if claimed is not None:
            room_id, node, started = claimed
            ran: float | None = time.monotonic() - started
        else:  # claimed by another process sharing the database
            job = self.get_job(job_id)
            room_id, node = (job.room_id, job.node) if job is not None else ("", "")
            ran = None
        state = JobStatus.SUCCEEDED if succeeded else JobStatus.FAILED
        if ran is not None:
            self._metrics.job_duration.labels(state).observe(ran)
        self._changed(job_id, room_id, node, state, ran, error_code=error_code)

    def requeue_interrupted_jobs(self) -> int:
        requeued = super().requeue_interrupted_jobs()
        self._metrics.jobs.labels("requeued").inc(requeued)
        return requeued

    def _changed(
        self,
        job_id: str,
        room_id: str,
        node: str,
        state: str,
        seconds: float | None,
        *,
        error_code: str | None = None,
    ) -> None:
        """Count and log a change to ``state``; ``seconds`` spent in the state it left."""
        self._metrics.jobs.labels(state).inc()
        if not job_logger.isEnabledFor(logging.INFO):
            return
        fields: dict[str, object] = {
            "event": "job_state",
            "job_id": job_id,
            "room_id": room_id,
            "node": node,
            "state": state,
        }
        after = ""
        if seconds is not None:
            fields["duration_ms"] = round(seconds * 1000, 1)
            after = f" after {fields['duration_ms']} ms"
        if error_code:
            fields["error_code"] = error_code
            after += f" ({error_code})"
        job_logger.info(
            "job %s (room %s, node %s) %s%s",
            job_id,
            room_id,
            node,
            state,
            after,
            extra={_FIELDS: fields},
        )
