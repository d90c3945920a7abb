"""What the core's actions share: its keys, the host, its limits and its keepers of state.

One :class:`CoreContext` is built per core (:class:`~sealroom.enclave.core.TrustedCore`) and
passed to every action (:mod:`.rooms`, :mod:`.datasets`, :mod:`.jobs`, …). It holds no state of
its own beyond what the keepers hold; the keepers are the only writers of what they keep:

* ``audit`` — the rooms' audit logs and the facts folded from them (:mod:`.verified_state`);
* ``authority`` — the rooms' verified histories and the access decisions (:mod:`.authorize`);
* ``ledger`` — requests, approvals and commits as the log records them (:mod:`.request_views`);
* ``meters``, ``copies`` — the facts' host copies, compared and repaired;
* ``tables``, ``reader``, ``runner`` — decrypted, validated inputs and the engines;
* ``compute_slots`` — jobs and test runs share them, so test runs cannot start more sandboxes
  than the server has workers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sealroom.compute.sandbox import SandboxLimits
from sealroom.compute.sql import SqlLimits
from sealroom.compute.sql.spark import SparkConnect
from sealroom.crypto import derive_key
from sealroom.enclave.audit_log import AuditLogKeeper
from sealroom.enclave.authorize import Authority
from sealroom.enclave.execution import JobRunner
from sealroom.enclave.host import Host
from sealroom.enclave.host_copies import HostCopies
from sealroom.enclave.inputs import DatasetReader, ValidatedTableCache
from sealroom.enclave.keystore import EnclaveIdentity
from sealroom.enclave.metering import Meters
from sealroom.enclave.request_views import RequestLedger
from sealroom.enclave.tampering import TamperingAlarm
from sealroom.validation import ValidationLimits

__all__ = ["CoreContext", "CoreSettings"]


@dataclass(frozen=True)
class CoreSettings:
    scratch_dir: Path
    sql: SqlLimits = field(default_factory=SqlLimits)
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)
    validation: ValidationLimits = field(default_factory=ValidationLimits)
    #: Memory the core may keep validated tables in, so SQL does not decrypt and re-validate.
    validated_cache_bytes: int = 4 << 30
    #: Largest dataset the core decrypts (it holds one in memory while validating it).
    max_dataset_bytes: int = 16 << 30
    #: Development only: scripts run without the sandbox, and the measurement says so.
    unsafe_no_sandbox: bool = False
    #: Computations that may run at once: jobs and test runs share these slots.
    compute_slots: int = 2
    #: Unfinished (queued or running) jobs one user may have; more are refused with 429.
    max_unfinished_jobs_per_user: int = 32
    #: How long a test run waits for a free slot before it is refused with 429.
    test_run_wait_seconds: float = 10.0
    #: The Spark Connect server (``sc://…``) SQL nodes with ``engine="spark"`` run on; empty:
    #: none (such nodes fail). It receives decrypted inputs (docs/spark.md).
    spark_connect_url: str = ""
    #: Other cores share this host's database (several servers and workers): each room's log
    #: is caught up and appended under the host's lock of the room (AuditLogKeeper).
    shared_host: bool = False


@dataclass(frozen=True)
class CoreContext:
    identity: EnclaveIdentity
    host: Host
    settings: CoreSettings
    audit: AuditLogKeeper
    alarm: TamperingAlarm
    meters: Meters
    copies: HostCopies
    authority: Authority
    ledger: RequestLedger
    reader: DatasetReader
    tables: ValidatedTableCache
    runner: JobRunner
    compute_slots: threading.BoundedSemaphore
    on_job_submitted: Callable[[], None]
    #: Serialises job submissions, so that counts of unfinished jobs and inserts do not
    #: interleave (rate limits are checked and counted under the room's lock).
    submitting: threading.Lock = field(default_factory=threading.Lock)
    #: Serialises integrations: one commit at a time takes the room's next sequence number.
    integrating: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(
        cls,
        identity: EnclaveIdentity,
        host: Host,
        settings: CoreSettings,
        on_job_submitted: Callable[[], None],
    ) -> CoreContext:
        audit = AuditLogKeeper(host, identity.signing_key, shared=settings.shared_host)
        alarm = TamperingAlarm(audit)
        copies = HostCopies(audit, host, alarm, identity.signing_key)
        reader = DatasetReader(
            host, identity.kem_key, max_plaintext_bytes=settings.max_dataset_bytes
        )
        tables = ValidatedTableCache(reader, settings.validation, settings.validated_cache_bytes)
        return cls(
            identity=identity,
            host=host,
            settings=settings,
            audit=audit,
            alarm=alarm,
            meters=Meters(audit, host, alarm),
            copies=copies,
            authority=Authority(host, identity.signing_key, audit, copies),
            ledger=RequestLedger(host, identity.signing_key, audit, alarm),
            reader=reader,
            tables=tables,
            runner=JobRunner(
                settings.sql,
                settings.sandbox,
                settings.scratch_dir,
                unsandboxed=settings.unsafe_no_sandbox,
                spark=SparkConnect(settings.spark_connect_url)
                if settings.spark_connect_url
                else None,
            ),
            compute_slots=threading.BoundedSemaphore(settings.compute_slots),
            on_job_submitted=on_job_submitted,
        )

    # -- keys the core derives for what it stores at the host ---------------------------------
    def report_key(self, room_id: str, node: str) -> bytes:
        """Seals a node's validation report at rest (only this core opens it)."""
        return derive_key(self.identity.storage_key, purpose=f"report/{room_id}/{node}")

    def result_key(self, job_id: str) -> bytes:
        """Seals a job's result at rest, until it is released sealed to its recipient."""
        return derive_key(self.identity.storage_key, purpose=f"result/{job_id}")
