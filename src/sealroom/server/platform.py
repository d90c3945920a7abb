"""The running platform: the host's services, and the trusted core started on them.

Built once per server process by :func:`open_platform` (never at import time) and closed on
shutdown. Routes reach it through ``request.app.state.platform``.

The host side builds only what it owns — the metadata database, the blob store, the scratch
directory, the operator's CA (:mod:`sealroom.server.pki`) — and hands the first three, with the
configuration, to :func:`sealroom.enclave.open_core`. It never unseals or holds the core's
keys: the core's identity, its attestation evidence and its job workers are the core's
(``tests/unit/test_import_rules.py`` keeps it so).

Invariants: one platform per data directory — :func:`open_platform` takes the directory's lock
(:mod:`sealroom.server.datadir_lock`) before it opens anything, and holds it until
:meth:`Platform.close`. A close stops the workers from taking jobs, waits up to
``settings.shutdown_timeout`` for the running ones, and puts those still running back in the
queue; it then leaves the storage, the scratch directory and the lock to the process's exit,
since the unfinished jobs' threads still use them (``sealroom serve`` exits at once: the next
start sweeps the scratch directory and runs the requeued jobs).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field

from sealroom.compute.sandbox import SandboxLimits, sandbox_available
from sealroom.compute.sql import SqlLimits
from sealroom.enclave import CoreConfig, OpenCore, open_core
from sealroom.enclave.core import CoreSettings, TrustedCore
from sealroom.enclave.host import Host
from sealroom.errors import ConfigurationError
from sealroom.server.datadir_lock import DataDirLock, lock_data_dir
from sealroom.server.gc_schedule import GcSchedule, PeriodicGc
from sealroom.server.job_watch import JobWatch
from sealroom.server.observability import JobObservingHost, Metrics
from sealroom.server.pki import PlatformPki
from sealroom.server.scratch import Scratch, open_scratch
from sealroom.server.settings import Settings
from sealroom.storage.blobs import BlobStore, LocalBlobStore
from sealroom.storage.database import migrate, open_engine
from sealroom.storage.gc import collect_garbage
from sealroom.storage.metadata import MetadataStore
from sealroom.storage.notifications import FINISHED_CHANNEL, QUEUED_CHANNEL, Listener

logger = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    store: MetadataStore
    blobs: BlobStore
    opened: OpenCore
    scratch: Scratch
    #: The operator's CA (the platform PKI), which certifies participants' keys.
    pki: PlatformPki
    #: Wakes the long-polls of a job when the core's worker finishes it.
    job_watch: JobWatch
    #: This process's hold on the data directory.
    lock: DataDirLock
    #: Jobs the last close left running (requeued): the process must exit without cleaning up.
    interrupted_jobs: list[str] = field(default_factory=list)
    #: The Prometheus metrics of this platform (``/metrics``; server/observability.py).
    metrics: Metrics = field(default_factory=Metrics)
    #: Garbage collection on a timer (stopped first at close).
    gc: PeriodicGc | None = None
    #: Wake-ups from the other processes sharing a PostgreSQL database.
    listener: Listener | None = None

    @property
    def core(self) -> TrustedCore:
        return self.opened.core

    def stop_taking_jobs(self) -> None:
        """First step of a graceful stop (called on SIGTERM): running jobs go on, queued wait."""
        self.opened.stop_taking_jobs()

    def close(self) -> None:
        if self.gc is not None:
            self.gc.stop()
        if self.listener is not None:
            self.listener.stop()
        self.interrupted_jobs = self.opened.close(timeout=self.settings.shutdown_timeout)
        if self.interrupted_jobs:
            # Alone on the database (the data directory's lock), every job still "running" is
            # one of ours: back in the queue, to run again at the next start. Shared, only ours
            # may go back (others' run on): their leases run out, and another worker takes them.
            requeued = (
                len(self.interrupted_jobs)
                if self.settings.shared_database
                else self.store.requeue_interrupted_jobs()
            )
            logger.warning(
                "stopped with %d job(s) still running after the %g s shutdown timeout; "
                "requeued %d: they run again at the next start",
                len(self.interrupted_jobs),
                self.settings.shutdown_timeout,
                requeued,
            )
            return
        self.store.engine.dispose()
        self.scratch.close()
        self.lock.release()


def open_store(settings: Settings) -> MetadataStore:
    """Open (and migrate) the metadata database of ``settings.data_dir``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings.effective_database_url)
    migrate(engine)
    return MetadataStore(engine)


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings name: ``<data_dir>/blobs``, or an S3 bucket whose access is
    checked now (a missing bucket or credentials refuse to start, saying what to set)."""
    if settings.blob_store == "local":
        return LocalBlobStore(settings.data_dir / "blobs")
    from sealroom.storage.s3 import S3BlobStore  # boto3 only when asked for: the s3 extra

    store = S3BlobStore(
        settings.s3_bucket,
        prefix=settings.s3_prefix,
        endpoint_url=settings.s3_endpoint_url or None,
        region=settings.s3_region or None,
    )
    store.check_access()
    return store


def open_pki(settings: Settings) -> PlatformPki:
    """The operator's CA in ``<data_dir>/pki``, made on first use and named after this machine
    (or the data directory), so that people comparing roots can tell servers apart."""
    name = socket.gethostname() or settings.data_dir.resolve().name
    return PlatformPki.open(settings.effective_pki_dir, name=name)


def core_config(settings: Settings, scratch: Scratch) -> CoreConfig:
    """What the server's settings say about the core."""
    return CoreConfig(
        settings=CoreSettings(
            scratch_dir=scratch.path,
            sql=SqlLimits(
                memory_limit_bytes=settings.sql_memory_limit_bytes,
                threads=settings.sql_threads,
                timeout_seconds=settings.sql_timeout_seconds,
                max_result_bytes=settings.max_result_bytes,
            ),
            sandbox=SandboxLimits(
                timeout_seconds=settings.job_timeout,
                memory_bytes=settings.job_memory << 20,
                max_output_bytes=settings.job_output << 20,
                # No single file may outgrow the whole output either (RLIMIT_FSIZE, in the run);
                # one byte more, so that a file stopped by it fails the output check after.
                max_file_bytes=(settings.job_output << 20) + 1,
            ),
            validated_cache_bytes=settings.validated_cache_bytes,
            max_dataset_bytes=settings.max_dataset_bytes,
            unsafe_no_sandbox=settings.unsafe_no_sandbox,
            # Test runs take these slots too: a server whose jobs run elsewhere still has one.
            compute_slots=max(settings.workers, 1),
            max_unfinished_jobs_per_user=settings.max_unfinished_jobs_per_user,
            spark_connect_url=settings.spark_connect_url,
            shared_host=settings.shared_database,
        ),
        identity_path=settings.data_dir / "enclave" / "identity.sealed",
        sealing_key_file=settings.sealing_key_file,
        attestation=settings.attestation,
        snp_endorsement_cert=settings.snp_endorsement_cert,
        workers=settings.workers,
        job_lease_seconds=settings.job_lease_seconds,
    )


def open_platform(settings: Settings) -> Platform:
    """Open the host's storage and start the core on it.

    Raises :class:`~sealroom.errors.ConfigurationError` with a message saying what to fix
    (``sealroom serve`` opens the platform before it serves, so that is what the user sees).
    """
    if settings.scratch_root.exists() and not settings.scratch_root.is_dir():
        raise ConfigurationError(f"scratch root {settings.scratch_root} is not a directory")
    if settings.workers == 0 and not settings.shared_database:
        raise ConfigurationError(
            "--workers 0 leaves no one to run jobs: only with a shared database "
            "(SEALROOM_DATABASE_URL) where `sealroom worker run` processes run them"
        )
    lock = lock_data_dir(settings.data_dir)
    try:
        settings.scratch_root.mkdir(parents=True, exist_ok=True)
        pki = open_pki(settings)
        store = open_store(settings)
    except BaseException:
        lock.release()
        raise
    try:
        blobs = open_blob_store(settings)
    except BaseException:
        store.engine.dispose()
        lock.release()
        raise
    job_watch = JobWatch()
    metrics = Metrics()
    host: Host = JobObservingHost(
        store.engine,
        blobs,
        metrics=metrics,
        on_job_finished=job_watch.finished,
        job_lease_ms=int(settings.job_lease_seconds * 1000),
    )
    scratch = open_scratch(settings.scratch_root)
    try:
        opened = open_core(core_config(settings, scratch), host)
    except BaseException:
        scratch.close()
        store.engine.dispose()
        lock.release()
        raise
    if settings.unsafe_no_sandbox:
        logger.warning(
            "--unsafe-no-sandbox: room scripts run WITHOUT the sandbox and can read and change "
            "anything this server can. For development only; clients must accept the "
            "'sealroom.core:unsafe-no-sandbox' enclave specification to use this server."
        )
    elif not sandbox_available():
        logger.warning(
            "bubblewrap is missing: Python and R computations will be refused "
            "(install it with `apt-get install bubblewrap`)"
        )
    metrics.watch(store.engine, scratch.path)
    schedule = GcSchedule(
        settings.gc_interval_hours, settings.result_retention_days, settings.gc_grace_hours
    )
    gc = PeriodicGc(schedule, lambda policy: collect_garbage(store.engine, blobs, policy))
    gc.start()
    listener = None
    if store.engine.dialect.name == "postgresql":
        # Other processes queue and finish jobs too: wake this one's workers and long-polls.
        listener = Listener(
            store.engine,
            {
                QUEUED_CHANNEL: lambda _: opened.workers.notify(),
                FINISHED_CHANNEL: job_watch.finished,
            },
        )
        listener.start()
    return Platform(
        settings,
        store,
        blobs,
        opened,
        scratch,
        pki,
        job_watch,
        lock,
        metrics=metrics,
        gc=gc,
        listener=listener,
    )
