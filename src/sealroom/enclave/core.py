"""The trusted core: the narrow interface of actions on rooms.

Every public method of :class:`TrustedCore` is one action, carried out by the module of its area
over one shared :class:`~.context.CoreContext`:

==================  ======================================================================
module              actions
==================  ======================================================================
:mod:`.rooms`       publish, retrieve, status, stop, signed state, privacy budget, quotas
:mod:`.audit_views` the audit log, its checkpoint, inclusion and consistency proofs
:mod:`.datasets`    publish a dataset (its key unsealed once), remove it, validation report
:mod:`.jobs`        submit a job or a development job, a job's status
:mod:`.job_runs`    run a claimed job (workers)
:mod:`.results`     release a job's result, sealed to its recipient and signed
:mod:`.requests`    interactive rooms: requests, approvals, integration, previews, commits
:mod:`.test_runs`   test runs of drafts
==================  ======================================================================

Each action, in this order: is authorised by :meth:`~.authorize.Authority.authorize` — the one
door, which loads the room's verified history and its audit log's facts, asks
:func:`sealroom.model.policy.decide` and returns a typed :class:`~.authorize.Authorized` (or
audits the denial and raises "not found", "permission denied" or "conflict") — then applies the
action, appends to the room's audit log, and only then returns. The core reaches the host only
through its ``Host`` interface (:mod:`.host`), and decides only from what it can verify —
definitions, commits and job tickets it signed or sealed, and the facts of the room's audit log
(:mod:`.verified_state`) — never from the host's copies of them, which it compares and repairs
(:mod:`.tampering`).

The host passes in the :class:`~sealroom.model.principal.Principal` it authenticated (an e-mail
address, normalised once when it is built). A host that lies about who is calling is outside
what this version defends against; per-user request signatures (ARCHITECTURE §8) will be carried
by the same type.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

from sealroom.attestation import (
    AttestationDocument,
    EvidenceProvider,
    SimulatedProvider,
    measure_installed_package,
    produce_attestation,
    unsandboxed_measurement,
)
from sealroom.audit import AuditEvent
from sealroom.crypto import KemPublicKey, VerifyKey
from sealroom.enclave import (
    audit_views,
    datasets,
    job_runs,
    jobs,
    requests,
    results,
    rooms,
    statistics,
)
from sealroom.enclave.arrow_memory import use_core_allocator
from sealroom.enclave.context import CoreContext, CoreSettings
from sealroom.enclave.host import Host
from sealroom.enclave.keystore import EnclaveIdentity
from sealroom.enclave.rooms import RoomView
from sealroom.enclave.test_runs import TestRuns
from sealroom.enclave.verified_state import RoomFacts
from sealroom.model.principal import Principal
from sealroom.model.records import JobRecord
from sealroom.model.wire import (
    AirlockQuotas,
    CommitOut,
    DatasetPublishedOut,
    PrivacyBudgetOut,
    PublishedDatasetOut,
    RequestOut,
    RoomStateOut,
    TestReportOut,
)

__all__ = ["CoreSettings", "RoomView", "TrustedCore"]


class TrustedCore:
    """The core's actions (see the module docstring); it owns the state they share."""

    def __init__(
        self,
        *,
        identity: EnclaveIdentity,
        host: Host,
        settings: CoreSettings,
        on_job_submitted: Callable[[], None] = lambda: None,
        evidence: EvidenceProvider | None = None,
    ) -> None:
        self._core = CoreContext.build(identity, host, settings, on_job_submitted)
        #: Who vouches for the core's keys: the hardware, or (default) a simulated self-signature.
        self._evidence = evidence or SimulatedProvider(identity.signing_key)
        self._test_runs = TestRuns(self._core)
        self.measurement = measure_installed_package()
        if settings.unsafe_no_sandbox:
            self.measurement = unsandboxed_measurement(self.measurement)
        use_core_allocator()

    # -- identity and attestation -------------------------------------------------------------
    @property
    def kem_public_key(self) -> KemPublicKey:
        return self._core.identity.kem_key.public_key

    @property
    def verify_key(self) -> VerifyKey:
        """The key the core signs definitions, checkpoints, states and releases with."""
        return self._core.identity.signing_key.verify_key

    def attestation(self, nonce: bytes) -> AttestationDocument:
        return produce_attestation(
            self._evidence, self.measurement, self.kem_public_key, self.verify_key, nonce
        )

    def facts(self, room_id: str) -> RoomFacts:
        """A copy of what the core believes about the room now (for inspection and tests)."""
        with self._core.audit.locked(room_id) as facts:
            return copy.deepcopy(facts)

    # -- rooms --------------------------------------------------------------------------------
    def publish_room(self, principal: Principal, definition_data: object) -> str:
        return rooms.publish_room(self._core, principal, definition_data)

    def retrieve_room(self, principal: Principal, room_id: str) -> RoomView:
        return rooms.retrieve_room(self._core, principal, room_id)

    def room_status(self, principal: Principal, room_id: str) -> str:
        return rooms.room_status(self._core, principal, room_id)

    def stop_room(self, principal: Principal, room_id: str) -> None:
        rooms.stop_room(self._core, principal, room_id)

    def room_state(self, principal: Principal, room_id: str) -> RoomStateOut:
        return rooms.room_state(self._core, principal, room_id)

    def privacy_budget(self, principal: Principal, room_id: str) -> PrivacyBudgetOut:
        return rooms.privacy_budget(self._core, principal, room_id)

    def airlock_quotas(self, principal: Principal, room_id: str) -> AirlockQuotas:
        return rooms.airlock_quotas(self._core, principal, room_id)

    # -- audit log ----------------------------------------------------------------------------
    def audit_log(
        self, principal: Principal, room_id: str, start: int = 0
    ) -> tuple[list[AuditEvent], str]:
        return audit_views.audit_log(self._core, principal, room_id, start)

    def audit_checkpoint(self, principal: Principal, room_id: str) -> str:
        return audit_views.audit_checkpoint(self._core, principal, room_id)

    def audit_inclusion_proof(
        self, principal: Principal, room_id: str, index: int, size: int
    ) -> list[bytes]:
        return audit_views.audit_inclusion_proof(self._core, principal, room_id, index, size)

    def audit_consistency_proof(
        self, principal: Principal, room_id: str, first: int, second: int
    ) -> list[bytes]:
        return audit_views.audit_consistency_proof(self._core, principal, room_id, first, second)

    # -- datasets -----------------------------------------------------------------------------
    def publish_dataset(
        self,
        principal: Principal,
        room_id: str,
        node_name: str,
        dataset_id: str,
        sealed_key: bytes,
        *,
        replace_passing: bool = False,
        replaces: str | None = None,
    ) -> DatasetPublishedOut:
        return datasets.publish_dataset(
            self._core,
            principal,
            room_id,
            node_name,
            dataset_id,
            sealed_key,
            replace_passing=replace_passing,
            replaces=replaces,
        )

    def remove_dataset(self, principal: Principal, room_id: str, node_name: str) -> None:
        datasets.remove_dataset(self._core, principal, room_id, node_name)

    def dataset_statistics(
        self, principal: Principal, room_id: str, node_name: str, recipient_public_key: bytes
    ) -> tuple[str, bytes, bytes]:
        return statistics.retrieve(self._core, principal, room_id, node_name, recipient_public_key)

    def share_dataset_statistics(
        self, principal: Principal, room_id: str, node_name: str, dataset_id: str, shared: bool
    ) -> None:
        statistics.share(self._core, principal, room_id, node_name, dataset_id, shared)

    def validation_report(self, principal: Principal, room_id: str, node_name: str) -> bytes:
        return datasets.validation_report(self._core, principal, room_id, node_name)

    def published_datasets(self, principal: Principal, room_id: str) -> list[PublishedDatasetOut]:
        return datasets.published_datasets(self._core, principal, room_id)

    # -- jobs ---------------------------------------------------------------------------------
    def submit_job(
        self,
        principal: Principal,
        room_id: str,
        node_name: str,
        parameters: Mapping[str, str] | None,
        recipient_public_key: bytes,
    ) -> JobRecord:
        return jobs.submit_job(
            self._core, principal, room_id, node_name, parameters, recipient_public_key
        )

    def submit_development_job(
        self,
        principal: Principal,
        room_id: str,
        node_data: object,
        parameters: Mapping[str, str] | None,
        recipient_public_key: bytes,
    ) -> JobRecord:
        return jobs.submit_development_job(
            self._core, principal, room_id, node_data, parameters, recipient_public_key
        )

    def job_status(self, principal: Principal, job_id: str) -> JobRecord:
        return jobs.job_status(self._core, principal, job_id)

    def execute_job(self, job: JobRecord) -> None:
        """Run a claimed job to completion (called by a worker; never raises)."""
        job_runs.execute_job(self._core, job)

    def retrieve_result(
        self,
        principal: Principal,
        job_id: str,
        recipient_public_key: bytes,
        result_format: str | None,
    ) -> tuple[bytes, bytes, str]:
        """``(sealed result, signature of its release, its format)``."""
        return results.retrieve_result(
            self._core, principal, job_id, recipient_public_key, result_format
        )

    # -- requests (interactive rooms) ---------------------------------------------------------
    def submit_request(self, principal: Principal, room_id: str, commit_data: object) -> RequestOut:
        return requests.submit_request(self._core, principal, room_id, commit_data)

    def list_requests(self, principal: Principal, room_id: str) -> list[RequestOut]:
        return requests.list_requests(self._core, principal, room_id)

    def get_request(self, principal: Principal, room_id: str, request_id: str) -> RequestOut:
        return requests.get_request(self._core, principal, room_id, request_id)

    def approve_request(self, principal: Principal, room_id: str, request_id: str) -> RequestOut:
        return requests.approve_request(self._core, principal, room_id, request_id)

    def reject_request(
        self, principal: Principal, room_id: str, request_id: str, reason: str
    ) -> RequestOut:
        return requests.reject_request(self._core, principal, room_id, request_id, reason)

    def integrate_request(self, principal: Principal, room_id: str, request_id: str) -> RequestOut:
        return requests.integrate_request(self._core, principal, room_id, request_id)

    def commits(self, principal: Principal, room_id: str) -> list[CommitOut]:
        return requests.commits(self._core, principal, room_id)

    def preview_request(
        self,
        principal: Principal,
        room_id: str,
        request_id: str,
        parameters: Mapping[str, str] | None,
        recipient_public_key: bytes,
    ) -> JobRecord:
        return requests.preview_request(
            self._core, principal, room_id, request_id, parameters, recipient_public_key
        )

    # -- testing drafts -----------------------------------------------------------------------
    def test_computations(
        self,
        principal: Principal,
        definition_data: object,
        test_datasets: Mapping[str, tuple[str, bytes]],
        parameters: Mapping[str, Mapping[str, str]] | None,
        test_run: str,
    ) -> list[TestReportOut]:
        return self._test_runs.run(principal, definition_data, test_datasets, parameters, test_run)
