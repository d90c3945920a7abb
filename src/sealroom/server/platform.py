"""The running platform: the host's services and the trusted core, wired together.

Built once per server process by :func:`open_platform` (never at import time) and closed on
shutdown. Routes reach it through ``request.app.state.platform``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sealroom.compute.sandbox import SandboxLimits, sandbox_available
from sealroom.compute.sql import SqlLimits
from sealroom.enclave.core import CoreSettings, TrustedCore
from sealroom.enclave.keystore import FileSealingKeyProvider, load_or_create_identity
from sealroom.errors import ConfigurationError
from sealroom.server.hardware import evidence_provider
from sealroom.server.scratch import Scratch, open_scratch
from sealroom.server.settings import Settings
from sealroom.server.workers import JobWorkers
from sealroom.storage.blobs import LocalBlobStore
from sealroom.storage.database import migrate, open_engine
from sealroom.storage.metadata import MetadataStore

logger = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    store: MetadataStore
    blobs: LocalBlobStore
    core: TrustedCore
    workers: JobWorkers
    scratch: Scratch

    def close(self) -> None:
        self.workers.stop()
        self.store.engine.dispose()
        self.scratch.close()


def open_store(settings: Settings) -> MetadataStore:
    """Open (and migrate) the metadata database of ``settings.data_dir``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings.effective_database_url)
    migrate(engine)
    return MetadataStore(engine)


def preflight(settings: Settings) -> None:
    """Check before serving that the database migrates and the core's identity unseals.

    Raises :class:`~sealroom.errors.ConfigurationError` with a message saying what to fix,
    instead of a traceback from inside the web server's start-up.
    """
    open_store(settings).engine.dispose()
    identity = load_or_create_identity(
        settings.data_dir / "enclave" / "identity.sealed",
        FileSealingKeyProvider(settings.sealing_key_file).sealing_key(),
    )
    evidence_provider(
        settings.attestation,
        identity.signing_key,
        snp_endorsement_cert=settings.snp_endorsement_cert,
    )
    if not settings.scratch_root.is_dir():
        raise ConfigurationError(f"scratch root {settings.scratch_root} is not a directory")


def open_platform(settings: Settings) -> Platform:
    store = open_store(settings)
    blobs = LocalBlobStore(settings.data_dir / "blobs")
    identity = load_or_create_identity(
        settings.data_dir / "enclave" / "identity.sealed",
        FileSealingKeyProvider(settings.sealing_key_file).sealing_key(),
    )
    settings.scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = open_scratch(settings.scratch_root)
    scratch_dir = scratch.path
    workers_ref: list[JobWorkers] = []
    core = TrustedCore(
        identity=identity,
        store=store,
        blobs=blobs,
        settings=CoreSettings(
            scratch_dir=scratch_dir,
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
            compute_slots=settings.workers,
            max_unfinished_jobs_per_user=settings.max_unfinished_jobs_per_user,
        ),
        on_job_submitted=lambda: workers_ref[0].notify() if workers_ref else None,
        evidence=evidence_provider(
            settings.attestation,
            identity.signing_key,
            snp_endorsement_cert=settings.snp_endorsement_cert,
        ),
    )
    workers = JobWorkers(core, store, settings.workers)
    workers_ref.append(workers)
    workers.start()
    logger.info("core measurement %s (attestation: %s)", core.measurement, settings.attestation)
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
    return Platform(settings, store, blobs, core, workers, scratch)
