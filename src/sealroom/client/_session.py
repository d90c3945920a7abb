"""An attested session with the trusted core.

Opening a session fetches the core's attestation document with a fresh nonce and verifies it
against the enclave specifications the SDK trusts *before* anything secret is sent. Everything
secret afterwards is bound to the attested keys: dataset keys are HPKE-sealed to the attested
X25519 key, and room definitions and audit logs are checked against the attested Ed25519 key.

The method names are the seed SDK's (``publish_data_room``, ``run_computation``,
``get_computation_result``, ``retrieve_audit_log`` …) so that scripts port with few changes.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from sealroom.attestation import EnclaveSpecification, VerifiedAttestation, verify_attestation
from sealroom.audit import (
    VerifiedAuditLog,
    build_export,
    events_from_wire,
    format_lines,
    verify_log,
)
from sealroom.client._pins import CorePins
from sealroom.client._state import AuditStateStore
from sealroom.crypto import (
    KemPrivateKey,
    Key,
    dataset_key_context,
    dataset_test_key_context,
    open_sealed,
    result_context,
    seal,
    sha256_hex,
)
from sealroom.crypto.certificates import root_fingerprint
from sealroom.errors import (
    ComputationError,
    ConfigurationError,
    JobTimeoutError,
    RequestError,
    ServerError,
    VerificationError,
)
from sealroom.model import signed_actions
from sealroom.model.commits import Commit, apply_commits, verify_history
from sealroom.model.definition import (
    Node,
    RoomDefinition,
    parse_definition,
    room_signature_message,
)
from sealroom.model.identities import format_fingerprint
from sealroom.model.result_release import (
    RESULT_FORMAT_HEADER,
    RESULT_SIGNATURE_HEADER,
    ResultRelease,
    verify_result_release,
)
from sealroom.model.room_state import RoomState, verify_room_state
from sealroom.model.signed_actions import ActionCall, sign_action
from sealroom.model.wire import (
    AirlockQuotas,
    AuditLogOut,
    CommitOut,
    DatasetPublishedOut,
    JobOut,
    PrivacyBudgetOut,
    PublishedDatasetOut,
    RequestOut,
    RoomOut,
    RoomPublishedOut,
    RoomStateOut,
    TestRunOut,
)

if TYPE_CHECKING:
    import httpx

    from sealroom.client._client import Client
    from sealroom.legacy import DataRoom

#: The formats the core picks when a result is fetched without naming one.
_DEFAULT_FORMATS = frozenset({"csv", "zip"})

#: Longest single long-poll request while waiting for a job (well within the five minutes a
#: signed fetch that waits stays fresh for).
_LONG_POLL_SECONDS = 20.0
#: Codes of a fetch that waited but found no result: the job is still running or failed
#: (``job_not_ready``, ``job_not_finished``), or the server does not wait on fetches (older).
_NO_RESULT_YET = frozenset({"job_not_ready", "job_not_finished", "unknown_query_parameter"})

_Shape = TypeVar("_Shape")
#: Validators of the wire shapes, built once each.
_ADAPTERS: dict[object, Any] = {}


def _parse(
    shape: type[_Shape], body: object, what: str, *, error: type[Exception] = ServerError
) -> _Shape:
    """``body`` (relayed by the untrusted host) as its wire shape (:mod:`sealroom.model.wire`),
    or ``error`` naming ``what`` was malformed (never quoting it)."""
    adapter: TypeAdapter[_Shape] | None = _ADAPTERS.get(shape)
    if adapter is None:
        adapter = _ADAPTERS.setdefault(shape, TypeAdapter(shape))
    try:
        return adapter.validate_python(body)
    except ValidationError:
        raise error(f"the server sent a malformed {what}") from None


def _plain(shapes: BaseModel | list[Any]) -> Any:
    """The JSON form of parsed shapes, for the methods that return plain dicts."""
    if isinstance(shapes, list):
        return [_plain(shape) for shape in shapes]
    return shapes.model_dump(mode="json")


@dataclass(frozen=True)
class JobId:
    """A submitted computation (seed SDK: ``JobId(id, compute_node_id)``).

    It also holds what the result is checked against: the private half of the fresh key the
    result is sealed to (named when the job was submitted, never sent) and the parameters the
    job was run with. Only the session that submitted a job can therefore open its result.
    """

    id: str
    compute_node_id: str
    data_room_id: str
    recipient_key: KemPrivateKey | None = field(default=None, repr=False, compare=False)
    parameters: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class AirlockQuotaInfo:
    """Seed SDK shape: a preview node's quota and what you have used of it, in bytes."""

    limit: int
    used: int


@dataclass(frozen=True)
class PrivacyBudget:
    """A room's differential-privacy budget (``None``: the room has none) and what is spent."""

    epsilon_budget: float | None
    epsilon_spent: float
    delta_budget: float
    delta_spent: float

    @property
    def epsilon_remaining(self) -> float | None:
        if self.epsilon_budget is None:
            return None
        return max(self.epsilon_budget - self.epsilon_spent, 0.0)


@dataclass(frozen=True)
class RetrieveAuditLogResponse:
    """Seed SDK shape: the verified audit log as bytes, one line per event."""

    log: bytes


class Session:
    """Requests to the trusted core, over keys verified by remote attestation."""

    def __init__(self, client: Client, enclave_specs: Mapping[str, EnclaveSpecification]) -> None:
        self.client = client
        self._api = client._api
        nonce = secrets.token_bytes(32)
        document = self._api.get_json("/v1/enclave/attestation", params={"nonce": nonce.hex()})
        self.attestation: VerifiedAttestation = verify_attestation(
            document, enclave_specs, nonce=nonce
        )
        # Trust on first use, then only these keys (simulated evidence alone could be forged).
        self._pins = CorePins(client.state_dir)
        self._pins.check_server(self._api.api_url, self.attestation)
        #: The user's own signing key and certificates (made on first use, never sent).
        self._keys = client.participant_keys
        #: Verified current definitions, by room: how each room recognises this user.
        self._definitions: dict[str, RoomDefinition] = {}

    # -- the participant's signatures -----------------------------------------------------
    def _signer(
        self, call: ActionCall, definition: RoomDefinition | None = None
    ) -> Callable[[], str]:
        """What makes this user's signature of ``call`` (freshly, for every attempt)."""
        email = self.client.user_email
        key = self._keys.signing_key(email)
        certificate = self._certificate(call.room_id, definition)

        def proof() -> str:
            now = int(time.time() * 1000)
            return sign_action(key, call, now_ms=now, certificate=certificate).to_header()

        return proof

    def _certificate(self, room_id: str, definition: RoomDefinition | None) -> bytes | None:
        """The certificate the room needs with this user's signature, or None (a pinned key)."""
        email = self.client.user_email
        if definition is None:
            definition = self._definitions.get(room_id)
            if definition is None or definition.identity(email) is None:
                definition = self.retrieve_current_data_room_configuration(room_id)[0]
                self._definitions[room_id] = definition
        identity = definition.identity(email)
        if identity is None or identity.root is None:
            return None  # the core will say how (or that) the room recognises this user
        root = definition.trust_root(identity.root)
        if root is None:
            return None
        fingerprint = root_fingerprint(root.certificate)
        certificate = self._keys.certificate(email, fingerprint)
        if certificate is None and root.operator:
            certificate = self.client.platform_certificate(fingerprint)
        if certificate is None:
            raise ConfigurationError(
                f"room {room_id} recognises you by certificates from its trust root "
                f"{root.name!r} (fingerprint {format_fingerprint(fingerprint[:16])} …), and you "
                "have none for your current key: ask that CA for one and add it with "
                "`sealroom keys import-certificate`"
            )
        return certificate

    # -- rooms --------------------------------------------------------------------------
    def publish_data_room(self, data_room: RoomDefinition | DataRoom, /) -> str:
        """Publish a room definition; returns its id (checked to be the definition's hash).

        A legacy :class:`~sealroom.legacy.DataRoom` gets the publishing user as its owner.
        """
        if not isinstance(data_room, RoomDefinition):
            data_room = data_room.definition_for(self.client.user_email)
        data_room = self.client.default_authentication(data_room)
        body = {"definition": data_room.model_dump(mode="json")}
        signer = self._signer(signed_actions.publish_room(data_room.room_id), data_room)
        published = self._api.post_json("/v1/rooms", body, proof=signer)
        room_id = _parse(RoomPublishedOut, published, "room").room_id
        if room_id != data_room.room_id:
            raise VerificationError(
                f"the server published room {room_id}, but the definition hashes to "
                f"{data_room.room_id}"
            )
        self._pins.check_room(room_id, self.attestation)
        return room_id

    def retrieve_data_room(self, data_room_id: str, /) -> RoomDefinition:
        """The verified *current* definition: the published one and its integrated commits."""
        return self.retrieve_current_data_room_configuration(data_room_id)[0]

    def retrieve_current_data_room_configuration(
        self, data_room_id: str, /
    ) -> tuple[RoomDefinition, str]:
        """``(definition, history pin)``, verified: the published definition hashes to the id,
        the attested core signed it and each commit, in this order, on this history — and the
        history is the whole of it, not an older prefix (see :meth:`_verified_history`)."""
        published, commits, pins = self.retrieve_room_history(data_room_id)
        return apply_commits(published, commits), pins[-1]

    def retrieve_room_history(
        self, data_room_id: str, /
    ) -> tuple[RoomDefinition, list[Commit], list[str]]:
        """``(published definition, integrated commits, history pins)``, verified as
        :meth:`retrieve_current_data_room_configuration` verifies them (pins: before any commit,
        then after each)."""
        for attempt in range(2):
            definition, commits, pins = self._verified_history(data_room_id)
            state = self.retrieve_room_state(data_room_id)
            if state.history_pin == pins[-1]:
                break
            # A commit may have been integrated between the two requests: look once more.
            if attempt == 1 or state.history_pin in pins:
                raise VerificationError(
                    f"room {data_room_id}: the server sent {len(commits)} commit(s), but the "
                    "core's signed state names another history (commits were dropped: rolled "
                    "back)"
                )
        store = AuditStateStore(self.client.state_dir)
        key = self.attestation.verify_key
        seen = store.room_commits(data_room_id, key)
        if len(commits) < seen:
            raise VerificationError(
                f"room {data_room_id}: the server sent {len(commits)} commit(s), fewer than the "
                f"{seen} you saw before (rolled back)"
            )
        store.save_room_version(data_room_id, key, state.version, commits=len(commits))
        return definition, commits, pins

    def _verified_history(
        self, data_room_id: str
    ) -> tuple[RoomDefinition, list[Commit], list[str]]:
        """The published definition and its commits, each checked against the attested core.

        A prefix of the history verifies on its own (every commit is signed); it is the caller's
        comparison with the signed room state and with the most commits seen before that
        catches a host dropping the last commits.
        """
        self._pins.check_room(data_room_id, self.attestation)
        body = _parse(
            RoomOut,
            self._api.get_json(f"/v1/rooms/{data_room_id}"),
            f"definition of room {data_room_id}",
            error=VerificationError,
        )
        canonical = body.definition.encode()
        # 1. The id is the hash of the definition: the room is the one everybody agreed to.
        if sha256_hex(canonical) != data_room_id:
            raise VerificationError(
                f"the definition served for room {data_room_id} does not match its id"
            )
        # 2. The attested core published it (not a definition the host made up).
        verify_key = self.attestation.verify_key
        verify_key.verify(
            room_signature_message(data_room_id, canonical),
            _hex(body.signature, f"room {data_room_id}"),
        )
        definition = parse_definition(json.loads(canonical))
        # 3. It is in canonical form (no second encoding of the same id).
        if definition.canonical_bytes() != canonical:
            raise VerificationError(f"the definition of room {data_room_id} is not canonical")
        # 4. Each commit was integrated by the core, in this order, on the history before it.
        commits, pins = verify_history(
            data_room_id,
            [entry.commit.encode() for entry in body.commits],
            [_hex(entry.signature, f"room {data_room_id}") for entry in body.commits],
            verify_key,
        )
        return definition, commits, pins

    def retrieve_data_room_status(self, data_room_id: str, /) -> str:
        """``"Active"`` or ``"Stopped"``, from the signed state (:meth:`retrieve_room_state`)."""
        state = self.retrieve_room_state(data_room_id)
        return "Stopped" if state.status == "stopped" else "Active"

    def retrieve_used_airlock_quotas(self, data_room_id: str, /) -> dict[str, AirlockQuotaInfo]:
        """``{preview node: AirlockQuotaInfo(limit, used)}`` for the preview nodes you may run.

        Informational (the host relays it unsigned); the core enforces the quota itself and
        every charge is in the audit log.
        """
        body = self._api.get_json(f"/v1/rooms/{data_room_id}/airlock-quotas")
        quotas = _parse(AirlockQuotas, body, "list of airlock quotas").quotas
        return {node: AirlockQuotaInfo(limit=q.limit, used=q.used) for node, q in quotas.items()}

    def retrieve_privacy_budget(self, data_room_id: str, /) -> PrivacyBudget:
        """The room's differential-privacy budget and what its runs have spent.

        Informational (relayed unsigned by the host); every charge is in the audit log.
        """
        body = self._api.get_json(f"/v1/rooms/{data_room_id}/privacy-budget")
        budget = _parse(PrivacyBudgetOut, body, "privacy budget")
        return PrivacyBudget(
            epsilon_budget=budget.epsilon_budget,
            epsilon_spent=budget.epsilon_spent,
            delta_budget=budget.delta_budget,
            delta_spent=budget.delta_spent,
        )

    def retrieve_room_state(self, data_room_id: str, /) -> RoomState:
        """The room's status and published datasets, signed by the attested core.

        Its version (the size of the room's audit log) never goes back for this client: a host
        serving an older state raises :class:`~sealroom.errors.VerificationError`.
        """
        self._pins.check_room(data_room_id, self.attestation)
        body = _parse(
            RoomStateOut,
            self._api.get_json(f"/v1/rooms/{data_room_id}/state"),
            f"state of room {data_room_id}",
            error=VerificationError,
        )
        key = self.attestation.verify_key
        store = AuditStateStore(self.client.state_dir)
        try:
            state = verify_room_state(
                data_room_id,
                body.state.encode(),
                bytes.fromhex(body.signature),
                key,
                min_version=store.room_version(data_room_id, key),
            )
        except ValueError:
            raise VerificationError(f"room {data_room_id}: malformed state response") from None
        store.save_room_version(data_room_id, key, state.version)
        return state

    def stop_data_room(self, data_room_id: str, /) -> None:
        self._api.request(
            "POST",
            f"/v1/rooms/{data_room_id}/stop",
            idempotent=True,
            proof=self._signer(signed_actions.stop_room(data_room_id)),
        )

    def retrieve_audit_log(self, data_room_id: str, /) -> RetrieveAuditLogResponse:
        """The room's log, verified (see :meth:`verify_audit_log`), one line per event."""
        verified = self.verify_audit_log(data_room_id)
        return RetrieveAuditLogResponse(log=format_lines(verified.events).encode())

    def verify_audit_log(self, data_room_id: str, /) -> VerifiedAuditLog:
        """Fetch the log and its signed checkpoint and verify them.

        1. The checkpoint is signed by the attested core for this room's log.
        2. The entries hash to its Merkle root (none edited, added, removed or reordered).
        3. It extends the checkpoint saved from your last verification of this room (in the
           state directory): no truncation, no fork. The new checkpoint is then saved.
        Raises :class:`~sealroom.errors.VerificationError` naming the failed check.
        """
        self._pins.check_room(data_room_id, self.attestation)
        body = _parse(
            AuditLogOut,
            self._api.get_json(f"/v1/rooms/{data_room_id}/audit-log"),
            "audit log (entries and signed checkpoint)",
            error=VerificationError,
        )
        events = events_from_wire([entry.model_dump() for entry in body.entries])
        note = body.checkpoint
        key = self.attestation.verify_key
        state = AuditStateStore(self.client.state_dir)
        previous = state.load(data_room_id, key)
        verified = verify_log(data_room_id, events, note, key, previous=previous)
        state.save(data_room_id, key, note, verified.checkpoint)
        return verified

    def export_audit_log(self, data_room_id: str, /) -> bytes:
        """A verified export of the log, checkable offline with ``sealroom audit verify``, with
        the room's published definition and commits (verified against its id and the core's
        signatures), so that whoever checks it can verify each approval's signature against
        the identities the room had then."""
        verified = self.verify_audit_log(data_room_id)
        published, commits, _ = self._verified_history(data_room_id)  # read after the log
        return build_export(
            data_room_id,
            verified.events,
            verified.note,
            self.attestation.verify_key,
            definition=published.canonical_bytes().decode(),
            commits=[commit.canonical_bytes().decode() for commit in commits],
        )

    # -- datasets -----------------------------------------------------------------------
    def publish_dataset(
        self,
        data_room_id: str,
        manifest_hash: str,
        leaf_id: str,
        key: Key,
        *,
        force: bool = False,
        replaces: str | None = None,
    ) -> dict[str, Any]:
        """Send ``key`` sealed to the attested core, bound to this room, node and dataset.

        A table that fails validation does not replace the node's dataset if that one passed,
        unless ``force``: the answer's ``published`` is false then, with ``kept_dataset_id``. The
        answer holds the validation report (``report``) of a table. With ``replaces`` (a dataset
        id, or "" for none) the core publishes only if the node's dataset is still that one,
        else raises :class:`ConflictError` (code ``dataset_changed``).
        """
        body, sealed = self._sealed_dataset_key(data_room_id, leaf_id, manifest_hash, key)
        call = signed_actions.publish_dataset(
            data_room_id, leaf_id, manifest_hash, sealed, replace_passing=force, replaces=replaces
        )
        condition = {} if replaces is None else {"replaces": replaces}
        response = self._api.request(
            "PUT",
            f"/v1/rooms/{data_room_id}/nodes/{leaf_id}/dataset",
            json={**body, "replace_passing": force, **condition},
            proof=self._signer(call),
        )
        published: dict[str, Any] = _plain(
            _parse(DatasetPublishedOut, response.json(), "publication")
        )
        return published

    def _sealed_dataset_key(
        self, room_id: str, node: str, manifest_hash: str, key: Key
    ) -> tuple[dict[str, str], bytes]:
        """``({dataset_id, sealed_key}, sealed key)``: the key HPKE-sealed to the attested core,
        bound to (room, node, dataset), as the core opens it — and only to the core pinned for
        the room."""
        self._pins.check_room(room_id, self.attestation)
        sealed = seal(
            self.attestation.kem_public_key,
            key.material,
            context=dataset_key_context(room_id, node, manifest_hash),
        )
        body = {"dataset_id": manifest_hash, "sealed_key": base64.b64encode(sealed).decode()}
        return body, sealed

    def remove_published_dataset(self, data_room_id: str, leaf_id: str, /) -> None:
        self._api.request(
            "DELETE",
            f"/v1/rooms/{data_room_id}/nodes/{leaf_id}/dataset",
            proof=self._signer(signed_actions.remove_dataset(data_room_id, leaf_id)),
        )

    def retrieve_published_datasets(self, data_room_id: str, /) -> list[dict[str, Any]]:
        body = self._api.get_json(f"/v1/rooms/{data_room_id}/datasets")
        published: list[dict[str, Any]] = _plain(
            _parse(list[PublishedDatasetOut], body, "list of published datasets")
        )
        return published

    def get_validation_report(self, data_room_id: str, leaf_id: str, /) -> dict[str, Any]:
        call = signed_actions.retrieve_validation_report(data_room_id, leaf_id)
        report: dict[str, Any] = self._api.get_json(
            f"/v1/rooms/{data_room_id}/nodes/{leaf_id}/validation-report",
            proof=self._signer(call),
        )
        return report

    # -- computations -------------------------------------------------------------------
    def run_computation(
        self,
        data_room_id: str,
        compute_node_id: str,
        /,
        *,
        parameters: Mapping[str, str] | None = None,
    ) -> JobId:
        return self._submit(
            f"/v1/rooms/{data_room_id}/nodes/{compute_node_id}/jobs",
            {},
            data_room_id,
            compute_node_id,
            parameters,
            lambda recipient: signed_actions.run_computation(
                data_room_id, compute_node_id, parameters, recipient
            ),
        )

    def _submit(
        self,
        path: str,
        body: dict[str, Any],
        room_id: str,
        node: str,
        parameters: Mapping[str, str] | None,
        call: Callable[[bytes], ActionCall],
    ) -> JobId:
        """Submit a job whose result the core will seal to a fresh key of ours, and only to it;
        ``call`` is the action signed, given that key."""
        recipient = KemPrivateKey.generate()
        values = dict(parameters or {})
        submitted = self._api.post_json(
            path,
            {
                **body,
                "parameters": values,
                "recipient_public_key": recipient.public_key.to_bytes().hex(),
            },
            proof=self._signer(call(recipient.public_key.to_bytes())),
        )
        return JobId(
            id=_parse(JobOut, submitted, "submitted job").job_id,
            compute_node_id=node,
            data_room_id=room_id,
            recipient_key=recipient,
            parameters=values,
        )

    def run_development_computation(
        self,
        data_room_id: str,
        node: Node,
        /,
        *,
        parameters: Mapping[str, str] | None = None,
    ) -> JobId:
        """Run ``node`` over what you may read in the room, without adding it to the room."""
        node_data = node.model_dump(mode="json")
        return self._submit(
            f"/v1/rooms/{data_room_id}/development-jobs",
            {"node": node_data},
            data_room_id,
            node.name,
            parameters,
            lambda recipient: signed_actions.run_development(
                data_room_id, node_data, parameters, recipient
            ),
        )

    def test_computations(
        self,
        definition: RoomDefinition,
        /,
        *,
        test_datasets: Mapping[str, tuple[str, Key]] | None = None,
        parameters: Mapping[str, Mapping[str, str]] | None = None,
    ) -> list[dict[str, Any]]:
        """Run every computation of a draft over empty tables, or over test datasets
        ``{node: (manifest hash, key)}`` whose keys are sealed to the core for this one test
        run of this draft: they never open as a publication, nor in another test run."""
        test_run = secrets.token_hex(16)
        datasets = {}
        for node, (manifest_hash, key) in (test_datasets or {}).items():
            sealed = seal(
                self.attestation.kem_public_key,
                key.material,
                context=dataset_test_key_context(definition.room_id, node, manifest_hash, test_run),
            )
            datasets[node] = {
                "dataset_id": manifest_hash,
                "sealed_key": base64.b64encode(sealed).decode(),
            }
        body = {
            "test_run": test_run,
            "definition": definition.model_dump(mode="json"),
            "test_datasets": datasets,
            "parameters": {k: dict(v) for k, v in (parameters or {}).items()},
        }
        run = _parse(TestRunOut, self._api.post_json("/v1/test-runs", body), "test run")
        return [report.model_dump(mode="json", exclude_none=True) for report in run.results]

    # -- requests (interactive rooms) -------------------------------------------------------
    def publish_request(self, data_room_id: str, commit: Commit, /) -> dict[str, Any]:
        commit_data = commit.model_dump(mode="json")
        body = self._api.post_json(
            f"/v1/rooms/{data_room_id}/requests",
            {"commit": commit_data},
            proof=self._signer(signed_actions.submit_request(data_room_id, commit_data)),
        )
        request = _parse(RequestOut, body, "request")
        if request.id != commit.commit_id:
            raise VerificationError("the server stored another request than the one submitted")
        plain: dict[str, Any] = _plain(request)
        return plain

    def retrieve_requests(self, data_room_id: str, /) -> list[dict[str, Any]]:
        body = self._api.get_json(f"/v1/rooms/{data_room_id}/requests")
        requests: list[dict[str, Any]] = _plain(_parse(list[RequestOut], body, "list of requests"))
        return requests

    def retrieve_request(self, data_room_id: str, request_id: str, /) -> dict[str, Any]:
        body = self._api.get_json(f"/v1/rooms/{data_room_id}/requests/{request_id}")
        request: dict[str, Any] = _plain(_parse(RequestOut, body, "request"))
        return request

    def act_on_request(
        self, data_room_id: str, request_id: str, action: str, /, **body: Any
    ) -> dict[str, Any]:
        """``approve``, ``reject`` (with ``reason``) or ``integrate`` a request."""
        if action == "approve":
            call = signed_actions.approve_request(data_room_id, request_id)
        elif action == "reject":
            call = signed_actions.reject_request(data_room_id, request_id, body.get("reason", ""))
        elif action == "integrate":
            call = signed_actions.integrate_request(data_room_id, request_id)
        else:
            raise ValueError(f"a request is approved, rejected or integrated, not {action!r}")
        answer = self._api.post_json(
            f"/v1/rooms/{data_room_id}/requests/{request_id}/{action}",
            body,
            proof=self._signer(call),
        )
        request: dict[str, Any] = _plain(_parse(RequestOut, answer, "request"))
        return request

    def preview_request(
        self,
        data_room_id: str,
        request_id: str,
        node_name: str,
        /,
        *,
        parameters: Mapping[str, str] | None = None,
    ) -> JobId:
        return self._submit(
            f"/v1/rooms/{data_room_id}/requests/{request_id}/preview",
            {},
            data_room_id,
            node_name,
            parameters,
            lambda recipient: signed_actions.preview_request(
                data_room_id, request_id, parameters, recipient
            ),
        )

    def retrieve_commits(self, data_room_id: str, /) -> list[dict[str, Any]]:
        body = self._api.get_json(f"/v1/rooms/{data_room_id}/commits")
        commits: list[dict[str, Any]] = _plain(_parse(list[CommitOut], body, "list of commits"))
        return commits

    def get_computation_status(self, job_id: JobId, /) -> dict[str, Any]:
        body = self._api.get_json(f"/v1/jobs/{job_id.id}")
        status: dict[str, Any] = _plain(_parse(JobOut, body, f"status of job {job_id.id}"))
        return status

    def wait_until_computation_has_finished(
        self, job_id: JobId, /, *, interval: float = 5, timeout: float | None = None
    ) -> dict[str, Any]:
        """Block until the job ends; raises :class:`ComputationError` if it failed.

        The server long-polls, so results arrive as soon as they exist; ``interval`` is kept
        for compatibility and only bounds the pause between polls when long-polling is off.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _LONG_POLL_SECONDS
            if deadline is not None:
                wait = max(0.0, min(wait, deadline - time.monotonic()))
            asked = time.monotonic()
            body = self._api.get_json(f"/v1/jobs/{job_id.id}", params={"wait": wait})
            status: dict[str, Any] = _plain(_parse(JobOut, body, f"status of job {job_id.id}"))
            if status["status"] == "succeeded":
                return status
            if status["status"] == "failed":
                raise ComputationError(
                    f"computation {job_id.compute_node_id!r} failed: {status['error_message']}",
                    job_id=job_id.id,
                    code=status.get("error_code") or "computation_failed",
                )
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeoutError(
                    f"job {job_id.id} did not finish within {timeout} s", job_id=job_id.id
                )
            # The server answers at once when it will not hold a long-poll (the user holds too
            # many, or long-polling is off): pause instead of asking again straight away.
            if time.monotonic() - asked < wait / 2 or wait == 0:
                pause = min(interval, 1.0)
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline - time.monotonic()))
                time.sleep(pause)

    def get_computation_result(
        self,
        job_id: JobId,
        /,
        *,
        interval: float = 5,
        timeout: float | None = None,
        result_format: str | None = None,
    ) -> bytes:
        """Wait for the job, then fetch its result and check that the core released it.

        The result is sealed to the key this session named when it submitted the job, and comes
        with the core's signature over room, node, job, parameters, that key, the format and the
        sealed bytes; anything else raises :class:`~sealroom.errors.VerificationError`.
        """
        recipient = job_id.recipient_key
        if recipient is None:
            raise ConfigurationError(
                f"job {job_id.id}: its result is sealed to a key held by the session that "
                "submitted it; pass the JobId that run_computation returned, or run the "
                "computation again"
            )
        # The fetch waits for the job itself (one request instead of a status long-poll and
        # a fetch); without a result by then, the status says why, then the fetch again.
        deadline = None if timeout is None else time.monotonic() + timeout
        wait = _LONG_POLL_SECONDS if timeout is None else max(0.0, min(_LONG_POLL_SECONDS, timeout))
        try:
            response = self._fetch_result(job_id, recipient, result_format, wait=wait)
        except RequestError as exc:
            if exc.code not in _NO_RESULT_YET:
                raise
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            self.wait_until_computation_has_finished(job_id, interval=interval, timeout=remaining)
            response = self._fetch_result(job_id, recipient, result_format, wait=0.0)
        sealed = response.content
        try:
            signature = bytes.fromhex(response.headers.get(RESULT_SIGNATURE_HEADER, ""))
        except ValueError:
            signature = b""
        # Asked for no format, the core chose the node's default: csv for SQL, zip for scripts
        # (each kind's only default, so the server cannot pass one kind's result as the other's).
        released_format = response.headers.get(RESULT_FORMAT_HEADER, "")
        if result_format is None and released_format in _DEFAULT_FORMATS:
            result_format = released_format
        if result_format is None:
            raise VerificationError(f"job {job_id.id}: the server did not say the result's format")
        release = ResultRelease.of(
            room_id=job_id.data_room_id,
            node=job_id.compute_node_id,
            job_id=job_id.id,
            parameters=job_id.parameters,
            recipient_public_key=recipient.public_key.hex(),
            result_format=result_format,
            sealed=sealed,
        )
        verify_result_release(release, signature, self.attestation.verify_key)
        return open_sealed(
            recipient,
            sealed,
            context=result_context(job_id.data_room_id, job_id.id, result_format),
        )

    def _fetch_result(
        self, job_id: JobId, recipient: KemPrivateKey, result_format: str | None, *, wait: float
    ) -> httpx.Response:
        """The sealed result, signed for; the server waits up to ``wait`` s for the job first."""
        call = signed_actions.retrieve_result(
            job_id.data_room_id, job_id.id, recipient.public_key.to_bytes(), result_format
        )
        return self._api.request(
            "POST",
            f"/v1/jobs/{job_id.id}/result",
            json={
                "recipient_public_key": recipient.public_key.to_bytes().hex(),
                "format": result_format,
            },
            params={"wait": wait} if wait > 0 else None,
            idempotent=True,
            proof=self._signer(call),
        )

    def run_computation_and_get_results(
        self,
        data_room_id: str,
        compute_node_id: str,
        /,
        *,
        interval: float = 5,
        timeout: float | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> bytes:
        job = self.run_computation(data_room_id, compute_node_id, parameters=parameters)
        return self.get_computation_result(job, interval=interval, timeout=timeout)


def _hex(text: str, where: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise VerificationError(f"{where}: a signature is not hex") from None
