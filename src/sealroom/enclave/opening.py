"""Starting the core: its identity, its attestation evidence and its workers, in one place.

:func:`open_core` is the only door from the host side into the core. The host passes what it
owns — the configuration (paths, limits, which attestation provider) and its storage behind the
:class:`~sealroom.enclave.host.Host` interface — and gets back a running core. The core's keys
never cross that line: the identity is unsealed here, with the sealing key provider (a file
outside the data directory by default, a KMS or hardware key elsewhere), and only the core holds
it. The evidence provider that vouches for the core's keys is built here, once (a hardware
provider proves it works by producing one piece of evidence at start). The job workers are
started here too, and stopped by :meth:`OpenCore.close`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sealroom.attestation.providers import evidence_provider
from sealroom.enclave.core import CoreSettings, TrustedCore
from sealroom.enclave.host import Host
from sealroom.enclave.keystore import (
    FileSealingKeyProvider,
    SealingKeyInfo,
    SealingKeyProvider,
    load_or_create_identity,
    load_or_create_shared_identity,
    sealing_key_fingerprint,
)
from sealroom.enclave.workers import JobWorkers

__all__ = ["CoreConfig", "OpenCore", "open_core"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoreConfig:
    """What the host decides about the core: limits, paths and the attestation provider."""

    settings: CoreSettings
    #: Where the core's sealed identity is kept (created on first start).
    identity_path: Path
    #: The simulated hardware sealing key, used when no other provider is given.
    sealing_key_file: Path
    #: "simulated", "sev-snp" or "nitro" (:mod:`sealroom.attestation.providers`).
    attestation: str = "simulated"
    #: SEV-SNP only: the chip's endorsement certificate, when the host supplies none.
    snp_endorsement_cert: Path | None = None
    #: Job worker threads to start (0: the caller runs jobs, as tests do).
    workers: int = 2
    #: How long a worker holds a claimed job without renewing it (cores sharing the host).
    job_lease_seconds: float = 60.0


@dataclass
class OpenCore:
    """A running core and its workers."""

    core: TrustedCore
    workers: JobWorkers
    #: Where the sealing key is and its fingerprint, for the operator.
    sealing_key: SealingKeyInfo

    def stop_taking_jobs(self) -> None:
        """The first step of a graceful stop: running jobs go on, queued ones wait."""
        self.workers.stop_claiming()

    def close(self, timeout: float = 10.0) -> list[str]:
        """Stop the workers, waiting up to ``timeout`` seconds (from the first stop request)
        for running jobs; the ids of those still running, for the host to requeue."""
        return self.workers.stop(timeout)


def open_core(
    config: CoreConfig, host: Host, sealing_provider: SealingKeyProvider | None = None
) -> OpenCore:
    """Unseal the core's identity, choose its evidence provider, start it and its workers.

    Raises :class:`~sealroom.errors.ConfigurationError` saying what to fix (a sealing key that
    does not open the identity, an attestation provider this machine cannot be).
    """
    if sealing_provider is None:
        # A key file is created only for a new data directory: an existing identity was sealed
        # with a key that must be restored, not replaced (keystore's docstring).
        creates_key = not config.sealing_key_file.exists()
        has_identity = (
            host.sealed_identity() is not None
            if config.settings.shared_host
            else config.identity_path.exists()
        )
        provider: SealingKeyProvider = FileSealingKeyProvider(
            config.sealing_key_file, may_create=not has_identity
        )
        location = str(config.sealing_key_file)
    else:
        creates_key = False
        provider = sealing_provider
        location = type(sealing_provider).__name__
    sealing_key = provider.sealing_key()
    if config.settings.shared_host:
        identity = load_or_create_shared_identity(host, sealing_key)
    else:
        identity = load_or_create_identity(config.identity_path, sealing_key)
    key_info = SealingKeyInfo(location, sealing_key_fingerprint(sealing_key), creates_key)
    del sealing_key
    evidence = evidence_provider(
        config.attestation, identity.signing_key, snp_endorsement_cert=config.snp_endorsement_cert
    )
    workers_ref: list[JobWorkers] = []
    core = TrustedCore(
        identity=identity,
        host=host,
        settings=config.settings,
        on_job_submitted=lambda: workers_ref[0].notify() if workers_ref else None,
        evidence=evidence,
    )
    workers = JobWorkers(
        core,
        host,
        config.workers,
        shared=config.settings.shared_host,
        lease_seconds=config.job_lease_seconds,
    )
    workers_ref.append(workers)
    workers.start()
    logger.info("core measurement %s (attestation: %s)", core.measurement, config.attestation)
    return OpenCore(core, workers, key_info)
