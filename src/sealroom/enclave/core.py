"""The trusted core: the narrow interface of actions on rooms.

Every public method is one action. Each one, in this order: loads and verifies what it needs from
the untrusted host, asks :func:`sealroom.model.policy.decide`, applies the action, appends to the
room's audit log, and only then returns. The core reaches the host only through its ``Host``
interface (:mod:`.host`), and decides only from what it can verify: definitions, commits and job
tickets it signed or sealed, and the facts of the room's audit log (:mod:`.verified_state`) —
never from the host's copies of them, which it compares and repairs (:mod:`.tampering`). A
denial is audited too and raised as "not found" (the principal may not know the room exists),
"permission denied" or "conflict" (room stopped).

The host passes in the principal it authenticated. (A host that lies about who is calling is
outside what this version defends against; per-user request signatures are a later step.)
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sealroom.attestation import (
    AttestationDocument,
    EvidenceProvider,
    SimulatedProvider,
    measure_installed_package,
    produce_attestation,
    unsandboxed_measurement,
)
from sealroom.audit import AuditAction, AuditEvent
from sealroom.audit.events import MAX_DETAIL_VALUE_CHARS, DetailValue
from sealroom.compute.sandbox import SandboxLimits
from sealroom.compute.sql import (
    SqlLimits,
    check_parameter_values,
    table_from_ipc,
    table_to_csv,
)
from sealroom.crypto import (
    DatasetDecryptor,
    KemPublicKey,
    derive_key,
    open_at_rest,
    result_context,
    seal,
    seal_at_rest,
    sha256_hex,
)
from sealroom.enclave.arrow_memory import use_core_allocator
from sealroom.enclave.audit_log import AuditLogKeeper
from sealroom.enclave.dry_run import test_all
from sealroom.enclave.execution import JobRunner
from sealroom.enclave.host import Host
from sealroom.enclave.host_copies import HostCopies
from sealroom.enclave.inputs import (
    DatasetReader,
    KeyUse,
    ValidatedTableCache,
    open_dataset_key,
)
from sealroom.enclave.job_ticket import JobTicket, open_ticket
from sealroom.enclave.keystore import EnclaveIdentity
from sealroom.enclave.metering import Meters, Run
from sealroom.enclave.requests import RequestDesk, RoomHistory, check_computations, load_history
from sealroom.enclave.sources import PublishedData, TestData, TestDataset
from sealroom.enclave.tampering import TamperingAlarm
from sealroom.enclave.validation import ValidationLimits
from sealroom.enclave.verified_state import rate_limited_details
from sealroom.errors import (
    BadRequestError,
    ConflictError,
    DecryptionError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    TooManyRequestsError,
    VerificationError,
)
from sealroom.model.commits import initial_history_pin
from sealroom.model.definition import (
    PreviewNode,
    RawNode,
    RoomDefinition,
    SqlNode,
    SyntheticNode,
    TableNode,
    parse_definition,
    room_signature_message,
)
from sealroom.model.development import development_definition
from sealroom.model.policy import Action, decide
from sealroom.model.records import JobRecord, JobStatus, PublicationRecord, RoomRecord, now_ms
from sealroom.model.result_release import ResultRelease, parameters_of, sign_result_release
from sealroom.model.room_state import sign_room_state

_T = TypeVar("_T")

_REPORT_AAD = b"sealroom/validation-report/v1"
_RESULT_AAD = b"sealroom/job-result/v1"
#: Test run ids remembered to refuse replays (the oldest are forgotten first).
_TEST_RUNS_REMEMBERED = 100_000

#: Result formats by kind of node: SQL tables as CSV or Arrow; scripts' /output as a zip.
SQL_RESULT_FORMATS = frozenset({"csv", "arrow"})
SCRIPT_RESULT_FORMATS = frozenset({"zip"})


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


@dataclass(frozen=True)
class RoomView:
    """What a participant gets back when retrieving a room."""

    room_id: str
    definition: bytes  # canonical JSON; sha256 of it is the room id
    signature: bytes
    stopped: bool
    created_at_ms: int
    #: Integrated commits, in order: (canonical commit, the core's signature over it).
    commits: tuple[tuple[bytes, bytes], ...] = ()
    history_pin: str = ""


class TrustedCore:
    def __init__(
        self,
        *,
        identity: EnclaveIdentity,
        host: Host,
        settings: CoreSettings,
        on_job_submitted: Callable[[], None] = lambda: None,
        evidence: EvidenceProvider | None = None,
    ) -> None:
        self._identity = identity
        #: Who vouches for the core's keys: the hardware, or (default) a simulated self-signature.
        self._evidence = evidence or SimulatedProvider(identity.signing_key)
        self._host = host
        self._settings = settings
        self._on_job_submitted = on_job_submitted
        self._audit = AuditLogKeeper(host, identity.signing_key)
        self._alarm = TamperingAlarm(self._audit)
        self._meters = Meters(self._audit, host, self._alarm)
        self._copies = HostCopies(self._audit, host, self._alarm, identity.signing_key)
        self._reader = DatasetReader(
            host, identity.kem_key, max_plaintext_bytes=settings.max_dataset_bytes
        )
        self._tables = ValidatedTableCache(
            self._reader, settings.validation, settings.validated_cache_bytes
        )
        self._runner = JobRunner(
            self._tables,
            self._reader,
            settings.sql,
            settings.sandbox,
            settings.scratch_dir,
            unsandboxed=settings.unsafe_no_sandbox,
        )
        self._requests = RequestDesk(host, identity.signing_key, self._audit, self._alarm)
        #: Verified histories (published definition + commits), by room; the core is the only
        #: writer, so an entry changes only when this core integrates a commit.
        self._histories: dict[str, RoomHistory] = {}
        self._test_runs_seen: OrderedDict[str, None] = OrderedDict()
        #: Serialises job submissions, so that counts of unfinished jobs and inserts do not
        #: interleave (rate limits are checked and counted under the room's lock).
        self._submitting = threading.Lock()
        # Jobs (one per worker) and test runs (in request threads) take a slot each, so test
        # runs cannot start more sandboxes than the server has workers.
        self._compute_slots = threading.BoundedSemaphore(settings.compute_slots)
        self._guard = threading.Lock()
        self.measurement = measure_installed_package()
        if settings.unsafe_no_sandbox:
            self.measurement = unsandboxed_measurement(self.measurement)
        use_core_allocator()

    # -- identity and attestation -------------------------------------------------------
    @property
    def kem_public_key(self) -> KemPublicKey:
        return self._identity.kem_key.public_key

    def attestation(self, nonce: bytes) -> AttestationDocument:
        return produce_attestation(
            self._evidence,
            self.measurement,
            self._identity.kem_key.public_key,
            self._identity.signing_key.verify_key,
            nonce,
        )

    # -- rooms --------------------------------------------------------------------------
    def publish_room(self, principal: str, definition_data: object) -> str:
        definition = parse_definition(definition_data)
        if definition.owner.lower() != principal.lower():
            raise BadRequestError(
                f"the room's owner is {definition.owner}, but {principal} is publishing it; "
                "publish rooms you own",
                code="invalid_definition",
            )
        check_computations(definition, definition.nodes)
        canonical = definition.canonical_bytes()
        room_id = sha256_hex(canonical)
        signature = self._identity.signing_key.sign(room_signature_message(room_id, canonical))
        record = RoomRecord(
            id=room_id,
            name=definition.name,
            owner_email=definition.owner,
            definition=canonical,
            signature=signature,
            created_at_ms=now_ms(),
            stopped_at_ms=None,
            state_signature=None,
        )
        self._host.insert_room(record, definition.participant_emails())
        with self._guard:
            self._histories[room_id] = RoomHistory(
                room_id, definition, pins=(initial_history_pin(room_id),)
            )
        self._audit.append(
            room_id,
            user=principal,
            action=AuditAction.ROOM_PUBLISHED,
            notes=f"published room {definition.name!r}",
            details={"room_id": room_id},
        )
        return room_id

    def retrieve_room(self, principal: str, room_id: str) -> RoomView:
        record, history = self._authorize_history(principal, room_id, Action.RETRIEVE_DEFINITION)
        return RoomView(
            room_id=record.id,
            definition=record.definition,
            signature=record.signature,
            stopped=self._copies.stopped(record),
            created_at_ms=record.created_at_ms,
            commits=tuple((c.commit, c.signature) for c in history.records),
            history_pin=history.pin,
        )

    def room_status(self, principal: str, room_id: str) -> str:
        record, _ = self._authorize(principal, room_id, Action.RETRIEVE_STATUS)
        return "stopped" if self._copies.stopped(record) else "active"

    def stop_room(self, principal: str, room_id: str) -> None:
        self._authorize(principal, room_id, Action.STOP_ROOM)
        with self._audit.locked(room_id) as facts:
            if facts.stopped:
                return
            self._audit.append(
                room_id, user=principal, action=AuditAction.ROOM_STOPPED, notes="stopped the room"
            )
            self._copies.copy_status(room_id, facts.stopped_at_ms)

    def audit_log(
        self, principal: str, room_id: str, start: int = 0
    ) -> tuple[list[AuditEvent], str]:
        """Entries from ``start`` up to the size of the returned signed checkpoint."""
        self._authorize(principal, room_id, Action.RETRIEVE_AUDIT_LOG)
        size, note = self._audit.checkpoint(room_id)
        return self._audit.log(room_id).events(start, size), note

    def room_state(self, principal: str, room_id: str) -> tuple[bytes, bytes]:
        """(canonical state, signature): status and datasets, versioned by the audit log."""
        self._authorize(principal, room_id, Action.RETRIEVE_STATUS)
        with self._audit.locked(room_id) as facts:
            state = facts.room_state()
        return sign_room_state(state, self._identity.signing_key)

    def audit_checkpoint(self, principal: str, room_id: str) -> str:
        self._authorize(principal, room_id, Action.RETRIEVE_AUDIT_LOG)
        return self._audit.checkpoint(room_id)[1]

    def audit_inclusion_proof(
        self, principal: str, room_id: str, index: int, size: int
    ) -> list[bytes]:
        self._authorize(principal, room_id, Action.RETRIEVE_AUDIT_LOG)
        try:
            return self._audit.log(room_id).inclusion_proof(index, size)
        except ValueError as exc:
            raise BadRequestError(f"inclusion proof: {exc}") from None

    def audit_consistency_proof(
        self, principal: str, room_id: str, first: int, second: int
    ) -> list[bytes]:
        self._authorize(principal, room_id, Action.RETRIEVE_AUDIT_LOG)
        try:
            return self._audit.log(room_id).consistency_proof(first, second)
        except ValueError as exc:
            raise BadRequestError(f"consistency proof: {exc}") from None

    # -- datasets -----------------------------------------------------------------------
    def publish_dataset(
        self, principal: str, room_id: str, node_name: str, dataset_id: str, sealed_key: bytes
    ) -> dict[str, Any]:
        _, definition = self._authorize(principal, room_id, Action.PUBLISH_DATASET, node=node_name)
        dataset = self._host.get_dataset(dataset_id)
        if dataset is None or dataset.owner_email.lower() != principal.lower():
            raise NotFoundError(f"dataset {dataset_id} not found among your datasets")
        node = definition.node(node_name)
        # Opening the key proves it was sealed to this core for exactly this room and node; the
        # manifest's key commitment, that it is the dataset's key (checked without decrypting).
        key = open_dataset_key(
            self._identity.kem_key, sealed_key, KeyUse(room_id, node_name, dataset_id)
        )
        try:
            DatasetDecryptor(key, self._reader.manifest(dataset_id))
        except DecryptionError:
            raise BadRequestError(
                f"the key sealed for dataset {dataset_id} is not the key it was encrypted with",
                code="invalid_sealed_key",
            ) from None
        publication = PublicationRecord(
            room_id=room_id,
            node=node_name,
            dataset_id=dataset_id,
            sealed_key=sealed_key,
            publisher_email=principal,
            published_at_ms=now_ms(),
            validation_outcome=None,
            validation_report=None,
        )
        outcome: str | None = None
        if isinstance(node, TableNode):
            self._tables.forget(room_id, node_name)
            validated = self._tables.validate(room_id, node, publication)
            outcome = "PASSED" if validated.passed else "FAILED"
            report = json.dumps(validated.report, sort_keys=True).encode()
            publication = PublicationRecord(
                **{
                    **publication.__dict__,
                    "validation_outcome": outcome,
                    "validation_report": seal_at_rest(
                        self._report_key(room_id, node_name),
                        report,
                        aad=_REPORT_AAD + dataset_id.encode(),
                    ),
                }
            )
        # The row and the entries together: the log says which dataset is the node's.
        with self._audit.locked(room_id):
            self._host.put_publication(publication)
            self._audit.append(
                room_id,
                user=principal,
                action=AuditAction.DATASET_PUBLISHED,
                notes=f"published dataset {dataset_id} to node {node_name}",
                details={"node": node_name, "dataset_id": dataset_id},
            )
            if outcome is not None:
                self._audit.append(
                    room_id,
                    user=principal,
                    action=AuditAction.DATASET_VALIDATED,
                    notes=f"validation of node {node_name}: {outcome}",
                    details={"node": node_name, "dataset_id": dataset_id, "outcome": outcome},
                )
        return {
            "room_id": room_id,
            "node": node_name,
            "dataset_id": dataset_id,
            "validation": outcome,
        }

    def remove_dataset(self, principal: str, room_id: str, node_name: str) -> None:
        self._authorize(principal, room_id, Action.REMOVE_DATASET, node=node_name)
        with self._audit.locked(room_id) as facts:
            if node_name not in facts.datasets:
                raise NotFoundError(f"no dataset is published to node {node_name!r}")
            self._host.delete_publication(room_id, node_name)
            self._tables.forget(room_id, node_name)
            self._audit.append(
                room_id,
                user=principal,
                action=AuditAction.DATASET_REMOVED,
                notes=f"removed the dataset of node {node_name}",
                details={"node": node_name},
            )

    def validation_report(self, principal: str, room_id: str, node_name: str) -> bytes:
        self._authorize(principal, room_id, Action.RETRIEVE_VALIDATION_REPORT, node=node_name)
        publication = self._copies.publication(room_id, node_name)
        if publication is None or publication.validation_report is None:
            raise NotFoundError(f"no dataset is published to node {node_name!r}")
        try:
            report = open_at_rest(
                self._report_key(room_id, node_name),
                publication.validation_report,
                aad=_REPORT_AAD + publication.dataset_id.encode(),
            )
        except DecryptionError:
            raise ConflictError(
                f"the stored validation report of node {node_name!r} was altered",
                code="report_corrupt",
            ) from None
        self._audit.append(
            room_id,
            user=principal,
            action=AuditAction.VALIDATION_REPORT_RETRIEVED,
            notes=f"retrieved the validation report of node {node_name}",
            details={"node": node_name, "dataset_id": publication.dataset_id},
        )
        return report

    def published_datasets(self, principal: str, room_id: str) -> list[dict[str, Any]]:
        """The room's datasets as its audit log records them (the host's rows are checked)."""
        self._authorize(principal, room_id, Action.LIST_PUBLISHED_DATASETS)
        return [
            {
                "node": node,
                "dataset_id": p.dataset_id,
                "publisher": p.publisher,
                "published_at_ms": p.published_at_ms,
                "validation": p.validation,
            }
            for node, p in sorted(self._copies.publications(room_id).items())
        ]

    # -- jobs ---------------------------------------------------------------------------
    def submit_job(
        self,
        principal: str,
        room_id: str,
        node_name: str,
        parameters: Mapping[str, str] | None,
        recipient_public_key: bytes,
    ) -> JobRecord:
        """Queue a run of the room's node; its result will be released to
        ``recipient_public_key`` (the analyst's X25519 key) and to no other key."""
        _, definition = self._authorize(principal, room_id, Action.RUN_COMPUTATION, node=node_name)
        return self._queue(
            principal,
            room_id,
            definition,
            node_name,
            parameters,
            recipient_public_key,
            spec=None,
            action=AuditAction.JOB_SUBMITTED,
            notes=f"ran computation {node_name}",
        )

    def submit_development_job(
        self,
        principal: str,
        room_id: str,
        node_data: object,
        parameters: Mapping[str, str] | None,
        recipient_public_key: bytes,
    ) -> JobRecord:
        """Run an ad-hoc computation over what ``principal`` may read, without adding it."""
        _, definition = self._authorize(principal, room_id, Action.RUN_DEVELOPMENT)
        try:
            applied, node = development_definition(definition, principal, node_data)
            check_computations(applied, [node])
        except PermissionDeniedError as exc:
            self._audit_denial(principal, room_id, Action.RUN_DEVELOPMENT, None, str(exc))
            raise
        spec = {
            "kind": "development",
            "node": node.model_dump(mode="json"),
            "sql": isinstance(applied.result_source(node.name), SqlNode),
        }
        return self._queue(
            principal,
            room_id,
            applied,
            node.name,
            parameters,
            recipient_public_key,
            spec=spec,
            action=AuditAction.DEVELOPMENT_JOB_SUBMITTED,
            notes=f"ran development computation {node.name} ({node.kind}, reading "
            f"{', '.join(node.dependencies) or 'nothing'})",
            counted=definition,
        )

    def _queue(
        self,
        principal: str,
        room_id: str,
        definition: RoomDefinition,
        target: str,
        parameters: Mapping[str, str] | None,
        recipient_public_key: bytes,
        *,
        spec: dict[str, Any] | None,
        action: AuditAction,
        notes: str,
        counted: RoomDefinition | None = None,
    ) -> JobRecord:
        """Check the parameters and rate limits of a job running ``target`` of ``definition``,
        queue it, audit it. Rate limits count only nodes of ``counted`` (the room's definition:
        a development or requested node is not the room's yet).

        The core seals what the job runs and to whom its result goes in a ticket the host
        stores but can neither read nor change (:mod:`.job_ticket`). The room's rate limits are
        checked against its audit log and counted by the submission's entry, atomically."""
        recipient = _recipient_key(recipient_public_key)
        plan = definition.execution_plan(target)
        declared = list(dict.fromkeys(name for node in plan for name in node.parameters))
        values = check_parameter_values(declared, parameters or {})
        room_nodes = counted or definition
        limits = [
            (node.name, node.rate_limit)
            for node in plan
            if node.rate_limit is not None and room_nodes.node(node.name) is not None
        ]
        job_id = secrets.token_hex(16)
        details: dict[str, DetailValue] = {
            "node": target,
            "job_id": job_id,
            "recipient_key": recipient.hex(),
            **rate_limited_details([name for name, _ in limits]),
        }
        notes = f"{notes} (job {job_id})"
        if values:
            details["parameters"] = _audited_parameters(values)
            notes += f" with parameters {details['parameters']}"
        with self._submitting, self._audit.locked(room_id) as facts:
            unfinished = self._host.count_unfinished_jobs(principal)
            most = self._settings.max_unfinished_jobs_per_user
            if unfinished >= most:
                raise TooManyRequestsError(
                    f"you have {unfinished} computations queued or running, the most one user "
                    f"may have ({most}); wait for some to finish"
                )
            submitted_at = now_ms()
            try:
                self._meters.check_rate_limits(facts, limits, submitted_at)
            except RateLimitedError as exc:
                self._audit_denial(principal, room_id, Action.RUN_COMPUTATION, target, exc.reason)
                raise TooManyRequestsError(exc.reason) from None
            ticket = JobTicket(
                job_id, room_id, target, principal, spec, values, recipient.to_bytes(), submitted_at
            )
            job = ticket.record(ticket.seal(self._identity.storage_key))
            self._host.insert_job(job)
            event = self._audit.append(
                room_id, user=principal, action=action, notes=notes, details=details
            )
            self._host.add_node_executions(
                room_id, [name for name, _ in limits], event.timestamp_ms
            )
        self._on_job_submitted()
        return job

    def job_status(self, principal: str, job_id: str) -> JobRecord:
        job = self._host.get_job(job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found")
        ticket = open_ticket(self._identity.storage_key, job)
        try:
            _, definition = self._load_room(ticket.room_id)
        except NotFoundError:
            raise NotFoundError(f"job {job_id} not found") from None
        if ticket.spec is not None:
            # Development and preview jobs are their submitter's alone.
            allowed = ticket.submitted_by.lower() == principal.lower()
        else:
            # Anyone who may run the node or fetch its results may see its jobs.
            allowed = any(
                decide(definition, principal, action, node=ticket.node).allowed
                for action in (Action.RETRIEVE_RESULT, Action.RUN_COMPUTATION)
            )
        if not allowed:
            raise NotFoundError(f"job {job_id} not found")
        self._unaltered(ticket, job)
        return job

    def _unaltered(self, ticket: JobTicket, job: JobRecord) -> None:
        """ConflictError (and a tampering report) if the host's columns of ``job`` disagree
        with its ticket: the core runs and releases a job only as it was submitted."""
        altered = ticket.altered_columns(job)
        if altered:
            self._alarm(
                ticket.room_id, f"job {job.id}", f"its {', '.join(altered)} differ from its ticket"
            )
            raise ConflictError(
                f"the host altered job {job.id} ({', '.join(altered)}); the core runs and "
                "releases a job only as it was submitted",
                code="job_tampered",
            )

    def _job_definition(
        self, ticket: JobTicket
    ) -> tuple[RoomRecord, RoomDefinition, RoomDefinition]:
        """(record, what the job runs in, the room's own definition), re-checked now: the room
        may have stopped since the job was queued."""
        record, history = self._history(ticket.room_id)
        definition = history.current
        spec = dict(ticket.spec) if ticket.spec else {"kind": "room"}
        action = {
            "room": Action.RUN_COMPUTATION,
            "development": Action.RUN_DEVELOPMENT,
            "request_preview": Action.REVIEW_REQUEST,
        }[spec["kind"]]
        node = ticket.node if action is Action.RUN_COMPUTATION else None
        stopped = self._copies.stopped(record)
        decision = decide(definition, ticket.submitted_by, action, node=node, stopped=stopped)
        if not decision.allowed:
            raise ConflictError(f"job can no longer run: {decision.reason}", code="job_refused")
        if spec["kind"] == "development":
            definition, _ = development_definition(definition, ticket.submitted_by, spec["node"])
        elif spec["kind"] == "request_preview":
            definition, _ = self._requests.preview_target(
                ticket.submitted_by, history, spec["request_id"]
            )
        return record, definition, history.current

    def execute_job(self, job: JobRecord) -> None:
        """Run a claimed job to completion (called by a worker; never raises).

        A preview node's run is charged to the analyst's quota whether it succeeds (the result's
        bytes) or fails (the failure message's bytes): which failure, and at which line of a
        script, can depend on the data as a result does. Past the quota only the quota's
        message is told, which carries nothing the run chose.
        """
        with self._compute_slots:
            self._execute_job(job)

    def _execute_job(self, job: JobRecord) -> None:
        try:
            ticket = open_ticket(self._identity.storage_key, job)
            self._unaltered(ticket, job)
            with self._audit.locked(ticket.room_id) as facts:
                finished = job.id in facts.finished_jobs
            if finished:
                self._alarm(ticket.room_id, f"job {job.id}", "the host queued it again")
                raise ConflictError(
                    f"job {job.id} already finished; the host queued it again",
                    code="job_tampered",
                )
        except ConflictError as exc:
            self._host.finish_job(
                job.id, succeeded=False, error_code=exc.code, error_message=exc.message
            )
            return
        run = Run(job.id, ticket.room_id, ticket.node, ticket.submitted_by)
        try:
            _, definition, room = self._job_definition(ticket)
            self._charge_privacy_budget(run, definition, room)
            self._audit_datasets_used(run, definition)
            node = definition.node(run.node)
            published = PublishedData(
                run.room_id,
                lambda name: self._copies.publication(run.room_id, name),
                self._tables,
                self._reader,
            )
            try:
                result = self._runner.run(
                    definition, run.node, published, parameters=dict(ticket.parameters)
                )
            except Exception as exc:  # worded once here; the job ends in the handler below
                if not isinstance(node, PreviewNode):
                    raise
                code, message = self._runner.describe_failure(exc)
                self._meters.charge_airlock(run, node, len(message.encode()), failure=True)
                raise JobFailedError(code, message) from None
            if isinstance(node, PreviewNode):
                self._meters.charge_airlock(run, node, len(result.data), failure=False)
        except Exception as exc:  # noqa: BLE001 - every failure must end the job, safely worded
            code, message = self._runner.describe_failure(exc)
            self._host.finish_job(job.id, succeeded=False, error_code=code, error_message=message)
            self._audit_job(run, AuditAction.JOB_FAILED, f"job {job.id} failed: {code}", code)
            return
        sealed = seal_at_rest(self._result_key(job.id), result.data, aad=_RESULT_AAD)
        blob = self._host.put_job_result(job.id, sealed)
        self._host.finish_job(job.id, succeeded=True, result_blob=blob)
        self._audit_job(run, AuditAction.JOB_COMPLETED, f"job {job.id} succeeded", "succeeded")

    def _charge_privacy_budget(
        self, run: Run, definition: RoomDefinition, room: RoomDefinition
    ) -> None:
        """Spend the epsilon and delta of every DP node of the room the job runs (DP SQL and
        synthetic data nodes), before it runs (a failed run spends too: its failure may depend
        on the data); JobFailedError past the budget. A development or requested node is not
        the room's: it reads only data its runner owns or results already released, so its own
        noise is not the room's to pay (and a participant cannot drain the shared budget with
        it)."""
        charges: list[tuple[float, float]] = []
        for node in definition.execution_plan(run.node):
            if room.node(node.name) is None:
                continue
            if isinstance(node, SqlNode) and node.dp_epsilon is not None:
                charges.append((node.dp_epsilon, node.dp_delta))
            elif isinstance(node, SyntheticNode):
                charges.append((node.epsilon, node.delta))
        if charges:
            epsilon = sum(node_epsilon for node_epsilon, _ in charges)
            delta = sum(node_delta for _, node_delta in charges)
            self._meters.charge_privacy_budget(run, epsilon, delta, definition.privacy)

    def privacy_budget(self, principal: str, room_id: str) -> dict[str, float | None]:
        """The room's differential-privacy budget and what its runs have spent."""
        _, definition = self._authorize(principal, room_id, Action.RETRIEVE_STATUS)
        spent_epsilon, spent_delta = self._meters.spent(room_id)
        return {
            "epsilon_budget": definition.privacy.dp_epsilon_budget,
            "epsilon_spent": spent_epsilon,
            "delta_budget": definition.privacy.dp_delta_budget,
            "delta_spent": spent_delta,
        }

    def airlock_quotas(self, principal: str, room_id: str) -> dict[str, tuple[int, int]]:
        """``{preview node: (limit, used)}`` for the preview nodes ``principal`` may run."""
        _, definition = self._authorize(principal, room_id, Action.RETRIEVE_STATUS)
        used = self._meters.airlock_usage(room_id, principal)
        return {
            node.name: (node.quota_bytes, used.get(node.name, 0))
            for node in definition.nodes
            if isinstance(node, PreviewNode)
            and decide(definition, principal, Action.RUN_COMPUTATION, node=node.name).allowed
        }

    # -- requests (interactive rooms) -------------------------------------------------------
    def submit_request(self, principal: str, room_id: str, commit_data: object) -> dict[str, Any]:
        """Propose a commit: new computations and analysts, approved by the owners it affects."""
        _, history = self._authorize_history(principal, room_id, Action.SUBMIT_REQUEST)
        request_id = self._requests.submit(principal, history, commit_data)
        return self._requests.view(history, request_id)

    def list_requests(self, principal: str, room_id: str) -> list[dict[str, Any]]:
        _, history = self._authorize_history(principal, room_id, Action.LIST_REQUESTS)
        return self._requests.list_all(history)

    def get_request(self, principal: str, room_id: str, request_id: str) -> dict[str, Any]:
        _, history = self._authorize_history(principal, room_id, Action.LIST_REQUESTS)
        return self._requests.view(history, request_id)

    def approve_request(self, principal: str, room_id: str, request_id: str) -> dict[str, Any]:
        """Sign ``principal``'s approval (they must own a data node the request affects)."""
        _, history = self._authorize_history(principal, room_id, Action.REVIEW_REQUEST)
        self._guarded(
            principal,
            room_id,
            Action.REVIEW_REQUEST,
            self._requests.approve,
            principal,
            history,
            request_id,
        )
        return self._requests.view(history, request_id)

    def reject_request(
        self, principal: str, room_id: str, request_id: str, reason: str
    ) -> dict[str, Any]:
        """Reject (an affected data owner) or withdraw (the requester) a pending request."""
        _, history = self._authorize_history(principal, room_id, Action.REVIEW_REQUEST)
        self._guarded(
            principal,
            room_id,
            Action.REVIEW_REQUEST,
            self._requests.reject,
            principal,
            history,
            request_id,
            reason,
        )
        return self._requests.view(history, request_id)

    def integrate_request(self, principal: str, room_id: str, request_id: str) -> dict[str, Any]:
        """Apply an approved request: the room's definition changes, for everybody."""
        _, history = self._authorize_history(principal, room_id, Action.INTEGRATE_REQUEST)
        record, commit = self._requests.integrate(principal, history, request_id)
        updated = RoomHistory(
            room_id,
            history.base,
            (*history.commits, commit),
            (*history.records, record),
            (*history.pins, record.history_pin),
        )
        with self._guard:
            self._histories[room_id] = updated
        return self._requests.view(updated, request_id)

    def commits(self, principal: str, room_id: str) -> list[dict[str, Any]]:
        _, history = self._authorize_history(principal, room_id, Action.RETRIEVE_DEFINITION)
        return self._requests.commits(history)

    def preview_request(
        self,
        principal: str,
        room_id: str,
        request_id: str,
        parameters: Mapping[str, str] | None,
        recipient_public_key: bytes,
    ) -> JobRecord:
        """Run the requested computation for its only affected data owner, before approving."""
        _, history = self._authorize_history(principal, room_id, Action.REVIEW_REQUEST)
        applied, commit = self._guarded(
            principal,
            room_id,
            Action.REVIEW_REQUEST,
            self._requests.preview_target,
            principal,
            history,
            request_id,
        )
        target = commit.nodes[-1].name
        spec = {
            "kind": "request_preview",
            "request_id": request_id,
            "sql": isinstance(applied.result_source(target), SqlNode),
        }
        return self._queue(
            principal,
            room_id,
            applied,
            target,
            parameters,
            recipient_public_key,
            spec=spec,
            action=AuditAction.REQUEST_PREVIEW_SUBMITTED,
            notes=f"previewed computation {target} of request {request_id}",
            counted=history.current,
        )

    def _guarded(
        self, principal: str, room_id: str, action: Action, step: Callable[..., _T], *args: Any
    ) -> _T:
        """Run ``step``; a permission refusal is audited like any other denial."""
        try:
            return step(*args)
        except PermissionDeniedError as exc:
            self._audit_denial(principal, room_id, action, None, str(exc))
            raise

    # -- testing drafts ---------------------------------------------------------------------
    def test_computations(
        self,
        principal: str,
        definition_data: object,
        test_datasets: Mapping[str, tuple[str, bytes]],
        parameters: Mapping[str, Mapping[str, str]] | None,
        test_run: str,
    ) -> list[dict[str, Any]]:
        """Run every computation of a draft over empty tables or the caller's test datasets.

        Nothing is stored and no room is touched: a draft has no publications, and test
        datasets are the caller's own uploads, with keys sealed to this core for this test run
        of this draft (:class:`~sealroom.enclave.inputs.KeyUse`). A draft whose id is a
        published room's is refused (its test run would otherwise look like the room's), and so
        is a ``test_run`` id seen before (a host replaying a sealed test key).
        """
        definition = parse_definition(definition_data)
        check_computations(definition, definition.nodes)
        if self._host.get_room(definition.room_id) is not None:
            raise ConflictError(
                f"this draft is the definition of published room {definition.room_id}; test a "
                "draft before you publish it (a test run never reads a room's data)",
                code="draft_is_published",
            )
        with self._guard:
            if test_run in self._test_runs_seen:
                raise ConflictError(
                    f"test run {test_run} was already run; every test run needs a fresh id",
                    code="test_run_replayed",
                )
            self._test_runs_seen[test_run] = None
            while len(self._test_runs_seen) > _TEST_RUNS_REMEMBERED:
                self._test_runs_seen.popitem(last=False)
        datasets: dict[str, TestDataset] = {}
        for node_name, (dataset_id, sealed_key) in test_datasets.items():
            if not isinstance(definition.node(node_name), TableNode | RawNode):
                raise BadRequestError(f"test dataset for {node_name!r}, which is not a data node")
            dataset = self._host.get_dataset(dataset_id)
            if dataset is None or dataset.owner_email.lower() != principal.lower():
                raise NotFoundError(f"dataset {dataset_id} not found among your datasets")
            datasets[node_name] = TestDataset(dataset_id, sealed_key)
        source = TestData(
            definition.room_id, test_run, datasets, self._reader, self._settings.validation
        )
        if not self._compute_slots.acquire(timeout=self._settings.test_run_wait_seconds):
            raise TooManyRequestsError(
                "the server is running as many computations as it has workers; try the test "
                "run again in a moment"
            )
        try:
            return test_all(self._runner, definition, source, parameters or {})
        finally:
            self._compute_slots.release()

    def _audit_datasets_used(self, run: Run, definition: RoomDefinition) -> None:
        """One entry per published dataset whose key the job makes the core use: a data owner
        can see which computation read their data, and when."""
        for node in definition.data_inputs(run.node):
            with self._audit.locked(run.room_id) as facts:
                published = facts.datasets.get(node.name)
            if published is None:
                continue
            self._audit.append(
                run.room_id,
                user=run.submitted_by,
                action=AuditAction.DATASET_KEY_USED,
                notes=f"job {run.job_id} ({run.node}) uses dataset {published.dataset_id} of "
                f"node {node.name}",
                details={
                    "job_id": run.job_id,
                    "node": node.name,
                    "dataset_id": published.dataset_id,
                },
            )

    def _audit_denial(
        self, principal: str, room_id: str, action: Action, node: str | None, reason: str
    ) -> None:
        self._audit.append(
            room_id,
            user=principal,
            action=AuditAction.ACCESS_DENIED,
            notes=f"denied {action.value}" + (f" on {node}" if node else "") + f": {reason}",
            details={"action": action.value, "node": node, "reason": reason[:500]},
        )

    def _audit_job(self, run: Run, action: AuditAction, notes: str, outcome: str) -> None:
        self._audit.append(
            run.room_id,
            user=run.submitted_by,
            action=action,
            notes=notes,
            details={"node": run.node, "job_id": run.job_id, "outcome": outcome},
        )

    def retrieve_result(
        self, principal: str, job_id: str, recipient_public_key: bytes, result_format: str | None
    ) -> tuple[bytes, bytes, str]:
        """``(sealed result, signature of its release, its format)``.

        The result is HPKE-sealed to the recipient key named when the job was submitted, and to
        no other: ``recipient_public_key`` must be that key (the SDK says which key it expects,
        so a mismatch is refused here rather than found later). The signature covers room, node,
        job, parameters, recipient key, format and the sealed bytes
        (:mod:`sealroom.model.result_release`): the host can neither forge nor re-seal a result.
        """
        job = self._host.get_job(job_id)
        if job is None:
            raise NotFoundError(f"job {job_id} not found")
        ticket = open_ticket(self._identity.storage_key, job)
        room_id, node = ticket.room_id, ticket.node
        try:
            if ticket.spec is None:
                _, definition = self._authorize(
                    principal, room_id, Action.RETRIEVE_RESULT, node=node
                )
                is_sql = isinstance(definition.result_source(node), SqlNode)
            else:
                # A development or preview result goes to whoever ran it, and nobody else.
                self._authorize(principal, room_id, Action.RETRIEVE_DEFINITION)
                if ticket.submitted_by.lower() != principal.lower():
                    raise NotFoundError(f"job {job_id} not found")
                is_sql = bool(ticket.spec.get("sql"))
        except NotFoundError:
            # A stranger probing a job id must not learn the room it belongs to.
            raise NotFoundError(f"job {job_id} not found") from None
        self._unaltered(ticket, job)
        formats = SQL_RESULT_FORMATS if is_sql else SCRIPT_RESULT_FORMATS
        result_format = result_format or ("csv" if is_sql else "zip")
        if result_format not in formats:
            raise BadRequestError(
                f"node {node!r} returns {' or '.join(sorted(formats))}, not {result_format!r}"
            )
        if job.status == JobStatus.FAILED:
            raise ConflictError(
                f"job {job_id} failed: {job.error_message}", code=job.error_code or "job_failed"
            )
        if job.status != JobStatus.SUCCEEDED or job.result_blob is None:
            raise ConflictError(f"job {job_id} is still {job.status}", code="job_not_finished")
        # The key named at submission, from the ticket: the host can swap neither.
        recipient = _recipient_key(ticket.recipient_key)
        if _recipient_key(recipient_public_key) != recipient:
            raise PermissionDeniedError(
                f"the result of job {job_id} is released only to the key named when the job was "
                "submitted; fetch it from the session that submitted it"
            )
        try:
            stored = open_at_rest(
                self._result_key(job_id), self._host.job_result(job.result_blob), aad=_RESULT_AAD
            )
        except DecryptionError:
            raise ConflictError(
                f"the stored result of job {job_id} was altered", code="result_corrupt"
            ) from None
        payload = table_to_csv(table_from_ipc(stored)) if result_format == "csv" else stored
        sealed = seal(recipient, payload, context=result_context(room_id, job_id, result_format))
        release = ResultRelease.of(
            room_id=room_id,
            node=node,
            job_id=job_id,
            parameters=parameters_of(ticket.cached_parameters()),
            recipient_public_key=recipient.hex(),
            result_format=result_format,
            sealed=sealed,
        )
        signature = sign_result_release(release, self._identity.signing_key)
        self._audit.append(
            room_id,
            user=principal,
            action=AuditAction.RESULT_RETRIEVED,
            notes=f"retrieved the result of job {job_id} ({node})",
            details={
                "node": node,
                "job_id": job_id,
                "format": result_format,
                "recipient_key": recipient.hex(),
            },
        )
        return sealed, signature, result_format

    # -- helpers ------------------------------------------------------------------------
    def _report_key(self, room_id: str, node: str) -> bytes:
        return derive_key(self._identity.storage_key, purpose=f"report/{room_id}/{node}")

    def _result_key(self, job_id: str) -> bytes:
        return derive_key(self._identity.storage_key, purpose=f"result/{job_id}")

    def _load_room(self, room_id: str) -> tuple[RoomRecord, RoomDefinition]:
        """The room's record and its *current* definition (published + integrated commits)."""
        record, history = self._history(room_id)
        return record, history.current

    def _history(self, room_id: str) -> tuple[RoomRecord, RoomHistory]:
        record = self._host.get_room(room_id)
        if record is None:
            raise NotFoundError(f"room {room_id} not found")
        with self._guard:
            history = self._histories.get(room_id)
        if history is None:
            # The host stores the definition: check it is the one this core signed.
            if sha256_hex(record.definition) != room_id:
                raise VerificationError(f"the stored definition of room {room_id} was altered")
            self._identity.signing_key.verify_key.verify(
                room_signature_message(room_id, record.definition), record.signature
            )
            base = parse_definition(json.loads(record.definition))
            with self._audit.locked(room_id) as facts:
                audited = list(facts.commit_ids)
            history = load_history(
                room_id,
                base,
                self._requests.records(room_id),
                audited,
                self._identity.signing_key,
            )
            with self._guard:
                self._histories[room_id] = history
        return record, history

    def _authorize(
        self, principal: str, room_id: str, action: Action, *, node: str | None = None
    ) -> tuple[RoomRecord, RoomDefinition]:
        record, history = self._authorize_history(principal, room_id, action, node=node)
        return record, history.current

    def _authorize_history(
        self, principal: str, room_id: str, action: Action, *, node: str | None = None
    ) -> tuple[RoomRecord, RoomHistory]:
        """Decide ``action`` on the room's current definition; the room and its history if
        allowed, else audit the denial and raise (not found, conflict or permission denied)."""
        record, history = self._history(room_id)
        stopped = self._copies.stopped(record)
        decision = decide(history.current, principal, action, node=node, stopped=stopped)
        if decision.allowed:
            return record, history
        self._audit_denial(principal, room_id, action, node, decision.reason)
        if not decision.visible:
            raise NotFoundError(f"room {room_id} not found")
        if decision.conflict:
            raise ConflictError(decision.reason, code=decision.code)
        raise PermissionDeniedError(decision.reason)


def _recipient_key(raw: bytes) -> KemPublicKey:
    try:
        return KemPublicKey.from_bytes(raw)
    except ValueError as exc:
        # The reason (wrong length, low-order point) is the client's own input: safe to echo.
        raise BadRequestError(f"recipient_public_key is not usable: {exc}") from None


def _audited_parameters(values: Mapping[str, str]) -> str:
    """The parameters of a run as the audit log shows them: JSON, or its hash when too long
    (an analyst's parameters are what data owners most want to see of a run)."""
    # ASCII-escaped, so no control or separator character reaches the one-line log format.
    text = json.dumps(dict(values), sort_keys=True).replace("\x7f", "\\u007f")
    return text if len(text) <= MAX_DETAIL_VALUE_CHARS else "sha256:" + sha256_hex(text.encode())
