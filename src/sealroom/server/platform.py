"""The running platform: the host's services, and the trusted core started on them.

Built once per server process by :func:`open_platform` (never at import time) and closed on
shutdown. Routes reach it through ``request.app.state.platform``.

The host side builds only what it owns — the metadata database, the blob store, the scratch
directory, the operator's CA (:mod:`sealroom.server.pki`) — and hands the first three, with the
configuration, to :func:`sealroom.enclave.open_core`. It never unseals or holds the core's
keys: the core's identity, its attestation evidence and its job workers are the core's
(``tests/unit/test_import_rules.py`` keeps it so).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from sealroom.compute.sandbox import SandboxLimits, sandbox_available
from sealroom.compute.sql import SqlLimits
from sealroom.enclave import CoreConfig, OpenCore, open_core
from sealroom.enclave.core import CoreSettings, TrustedCore
from sealroom.enclave.host import Host
from sealroom.errors import ConfigurationError
from sealroom.server.job_watch import JobWatch
from sealroom.server.pki import PlatformPki
from sealroom.server.scratch import Scratch, open_scratch
from sealroom.server.settings import Settings
from sealroom.storage.blobs import LocalBlobStore
from sealroom.storage.database import migrate, open_engine
from sealroom.storage.host import SqlHost
from sealroom.storage.metadata import MetadataStore

logger = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    store: MetadataStore
    blobs: LocalBlobStore
    opened: OpenCore
    scratch: Scratch
    #: The operator's CA (the platform PKI), which certifies participants' keys.
    pki: PlatformPki
    #: Wakes the long-polls of a job when the core's worker finishes it.
    job_watch: JobWatch

    @property
    def core(self) -> TrustedCore:
        return self.opened.core

    def close(self) -> None:
        self.opened.close()
        self.store.engine.dispose()
        self.scratch.close()


def open_store(settings: Settings) -> MetadataStore:
    """Open (and migrate) the metadata database of ``settings.data_dir``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = open_engine(settings.effective_database_url)
    migrate(engine)
    return MetadataStore(engine)


def open_pki(settings: Settings) -> PlatformPki:
    """The operator's CA in ``<data_dir>/pki``, made on first use and named after this machine
    (or the data directory), so that people comparing roots can tell servers apart."""
    name = socket.gethostname() or settings.data_dir.resolve().name
    return PlatformPki.open(settings.data_dir / "pki", name=name)


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
            compute_slots=settings.workers,
            max_unfinished_jobs_per_user=settings.max_unfinished_jobs_per_user,
        ),
        identity_path=settings.data_dir / "enclave" / "identity.sealed",
        sealing_key_file=settings.sealing_key_file,
        attestation=settings.attestation,
        snp_endorsement_cert=settings.snp_endorsement_cert,
        workers=settings.workers,
    )


def open_platform(settings: Settings) -> Platform:
    """Open the host's storage and start the core on it.

    Raises :class:`~sealroom.errors.ConfigurationError` with a message saying what to fix
    (``sealroom serve`` opens the platform before it serves, so that is what the user sees).
    """
    if settings.scratch_root.exists() and not settings.scratch_root.is_dir():
        raise ConfigurationError(f"scratch root {settings.scratch_root} is not a directory")
    settings.scratch_root.mkdir(parents=True, exist_ok=True)
    pki = open_pki(settings)
    store = open_store(settings)
    blobs = LocalBlobStore(settings.data_dir / "blobs")
    job_watch = JobWatch()
    host: Host = SqlHost(store.engine, blobs, on_job_finished=job_watch.finished)
    scratch = open_scratch(settings.scratch_root)
    try:
        opened = open_core(core_config(settings, scratch), host)
    except BaseException:
        scratch.close()
        store.engine.dispose()
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
    return Platform(settings, store, blobs, opened, scratch, pki, job_watch)
