"""What the core believes about a room: the facts folded from its verified audit log.

The room's audit log is the core's record of everything it decided (:mod:`.audit_log` checks the
stored log against the last checkpoint the core signed when it loads it). Every fact the core
enforces is folded from it, event by event, into one :class:`RoomFacts` per room:

=====================  ==============================================================
fact                   audit entries it is folded from
=====================  ==============================================================
stopped                ROOM_STOPPED
published datasets     DATASET_PUBLISHED / DATASET_REMOVED (dataset id, publisher),
                       DATASET_VALIDATED (outcome of that dataset)
ε and δ spent          PRIVACY_BUDGET_CHARGED (``epsilon``, ``delta``)
airlock usage          AIRLOCK_QUOTA_CHARGED (``bytes``, per node and user)
rate-limit windows     JOB_SUBMITTED and the other submissions (``rate_limited``: the
                       rate-limited nodes the run counts, at the entry's time)
commits                COMMIT_INTEGRATED (commit id, history pin after it)
requests               REQUEST_APPROVED (approvers); REQUEST_REJECTED / _SUPERSEDED,
                       COMMIT_INTEGRATED (closed requests)
finished jobs          JOB_COMPLETED / JOB_FAILED
recent nonces          any entry of a signed action (``nonce``), for the last
                       :data:`NONCE_MEMORY_MS`: a participant's signature is used once
=====================  ==============================================================

Each entry's details are read through the dataclass of its kind (:mod:`sealroom.audit.kinds`),
the one the core wrote it with.

Invariants:

* Folding is incremental: the keeper folds a room's log once when it loads it, then each entry
  as it is appended (O(new entries), never O(log) per request). The result is a function of the
  log alone, so a restarted core believes exactly what the last one did.
* The host's tables that repeat these facts are caches; the core compares them with the facts
  and believes the facts (:mod:`.tampering` reports a disagreement).
* ``RoomFacts`` is mutable and owned by the :class:`~.audit_log.AuditLogKeeper`: read and fold it
  only under the room's lock (``keeper.locked(room_id)``), so that check-then-append is atomic.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Final

from sealroom.audit import AuditAction, AuditEvent, kinds
from sealroom.model.definition import MAX_RATE_LIMIT_EXECUTIONS, MAX_RATE_LIMIT_WINDOW_SECONDS
from sealroom.model.principal import normalise_email
from sealroom.model.room_state import RoomState
from sealroom.model.signed_actions import MAX_CLOCK_SKEW_MS

__all__ = ["NONCE_MEMORY_MS", "PublishedDataset", "RoomFacts"]

#: How long a signed action's nonce is remembered: a signature older than the clock skew is
#: refused for its time, so remembering twice that covers a proof dated in the future too.
NONCE_MEMORY_MS: Final = 2 * MAX_CLOCK_SKEW_MS

#: Submissions of a run: each names the rate-limited nodes it counts (``rate_limited``).
SUBMISSIONS: Final = frozenset(
    {
        AuditAction.JOB_SUBMITTED,
        AuditAction.DEVELOPMENT_JOB_SUBMITTED,
        AuditAction.REQUEST_PREVIEW_SUBMITTED,
    }
)
#: Entries that change a fact: the keeper checkpoints the log after each, so that a host
#: editing or dropping one is caught by the next core that loads the log.
FACT_ACTIONS: Final = SUBMISSIONS | {
    AuditAction.ROOM_STOPPED,
    AuditAction.DATASET_PUBLISHED,
    AuditAction.DATASET_REMOVED,
    AuditAction.DATASET_VALIDATED,
    AuditAction.DATASET_STATISTICS_SHARED,
    AuditAction.PRIVACY_BUDGET_CHARGED,
    AuditAction.AIRLOCK_QUOTA_CHARGED,
    AuditAction.COMMIT_INTEGRATED,
    AuditAction.REQUEST_APPROVED,
    AuditAction.REQUEST_REJECTED,
    AuditAction.REQUEST_SUPERSEDED,
    AuditAction.JOB_COMPLETED,
    AuditAction.JOB_FAILED,
    AuditAction.TAMPERING_DETECTED,
}
#: Entries :meth:`RoomFacts.fold` reads.
_FOLDED: Final = FACT_ACTIONS - {AuditAction.TAMPERING_DETECTED}
_MAX_WINDOW_MS: Final = MAX_RATE_LIMIT_WINDOW_SECONDS * 1000


@dataclass(frozen=True)
class PublishedDataset:
    dataset_id: str
    publisher: str
    published_at_ms: int
    #: "PASSED" / "FAILED" for a table once validated; None for a raw file.
    validation: str | None = None
    #: Whether its owner shares this dataset's summary statistics with the room.
    statistics_shared: bool = False


@dataclass
class RoomFacts:
    """The facts of one room after ``size`` entries of its log (see the module docstring)."""

    room_id: str
    size: int = 0
    stopped_at_ms: int | None = None
    datasets: dict[str, PublishedDataset] = field(default_factory=dict)
    epsilon_spent: float = 0.0
    delta_spent: float = 0.0
    #: Bytes charged, by (preview node, user e-mail in lower case).
    airlock_used: dict[tuple[str, str], int] = field(default_factory=dict)
    #: When each rate-limited node's runs were counted (the latest, within the longest window).
    executions: dict[str, deque[int]] = field(default_factory=dict)
    #: A submission written before submissions named their rate-limited nodes: the host's
    #: older rows of ``node_executions`` are then not evidence of tampering.
    legacy_submissions: bool = False
    commit_ids: list[str] = field(default_factory=list)
    history_pin: str = ""
    #: Requests that can no longer change: id → "integrated", "rejected" or "superseded".
    closed_requests: dict[str, str] = field(default_factory=dict)
    #: Who approved each request (lower case), and when.
    approvers: dict[str, dict[str, int]] = field(default_factory=dict)
    finished_jobs: set[str] = field(default_factory=set)
    #: Nonces of the participants' signatures in the last :data:`NONCE_MEMORY_MS` of the log,
    #: oldest first, with the time of their entry.
    recent_nonces: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def remember_nonce(self, nonce: str, at_ms: int) -> None:
        """Remember ``nonce`` (used at ``at_ms``) and forget those older than the memory."""
        self.recent_nonces[nonce] = at_ms
        self.recent_nonces.move_to_end(nonce)
        while self.recent_nonces:
            oldest, used_at = next(iter(self.recent_nonces.items()))
            if used_at >= at_ms - NONCE_MEMORY_MS:
                break
            del self.recent_nonces[oldest]

    @property
    def stopped(self) -> bool:
        return self.stopped_at_ms is not None

    def fold(self, event: AuditEvent) -> None:
        """Apply one entry (the next one: ``event.seq == size``)."""
        self.size += 1
        nonce = event.details.get("nonce")
        if isinstance(nonce, str):
            self.remember_nonce(nonce, event.timestamp_ms)
        if event.action not in _FOLDED:
            return  # most entries (results fetched, keys used, denials) change no fact
        # The entry's details as its kind's dataclass, the one the writer used (None: an entry
        # missing a detail, which changes no fact).
        kind = kinds.kind_of(event)
        if isinstance(kind, kinds.RoomStopped):
            if self.stopped_at_ms is None:
                self.stopped_at_ms = event.timestamp_ms
        elif isinstance(kind, kinds.DatasetPublished):
            self.datasets[kind.node] = PublishedDataset(
                kind.dataset_id, event.user, event.timestamp_ms
            )
        elif isinstance(kind, kinds.DatasetValidated):
            current = self.datasets.get(kind.node)
            if current is not None and current.dataset_id == kind.dataset_id:
                self.datasets[kind.node] = replace(current, validation=kind.outcome)
        elif isinstance(kind, kinds.DatasetStatisticsShared):
            current = self.datasets.get(kind.node)
            if current is not None and current.dataset_id == kind.dataset_id:
                shared = kind.shared == "true"
                self.datasets[kind.node] = replace(current, statistics_shared=shared)
        elif isinstance(kind, kinds.DatasetRemoved):
            self.datasets.pop(kind.node, None)
        elif isinstance(kind, kinds.PrivacyBudgetCharged):
            self.epsilon_spent += float(kind.epsilon)
            self.delta_spent += float(kind.delta)
        elif isinstance(kind, kinds.AirlockQuotaCharged):
            key = (kind.node, normalise_email(event.user))
            self.airlock_used[key] = self.airlock_used.get(key, 0) + kind.charged_bytes
        elif isinstance(kind, kinds.Submission):
            if kind.rate_limited is None:
                self.legacy_submissions = True
            for name in kind.rate_limited or ():
                runs = self.executions.setdefault(name, deque(maxlen=MAX_RATE_LIMIT_EXECUTIONS))
                runs.append(event.timestamp_ms)
        elif isinstance(kind, kinds.CommitIntegrated):
            self.commit_ids.append(kind.commit_id)
            self.history_pin = kind.history_pin
            self._close(kind.request_id, "integrated")
        elif isinstance(kind, kinds.RequestApproved):
            approvers = self.approvers.setdefault(kind.request_id, {})
            approvers[normalise_email(event.user)] = event.timestamp_ms
        elif isinstance(kind, kinds.RequestRejected):
            self._close(kind.request_id, "rejected")
        elif isinstance(kind, kinds.RequestSuperseded):
            self._close(kind.request_id, "superseded")
        elif isinstance(kind, kinds.JobCompleted | kinds.JobFailed):
            self.finished_jobs.add(kind.job_id)

    def _close(self, request_id: str, status: str) -> None:
        self.closed_requests.setdefault(request_id, status)

    # -- questions the core asks -------------------------------------------------------------
    def runs_since(self, node: str, since_ms: int) -> list[int]:
        """When ``node``'s counted runs after ``since_ms`` were submitted, oldest first."""
        runs = self.executions.get(node)
        if runs is None:
            return []
        # No window is longer than the longest one a definition may declare: forget older runs.
        while runs and runs[0] <= since_ms - _MAX_WINDOW_MS:
            runs.popleft()
        return [at for at in runs if at > since_ms]

    def airlock(self, user: str) -> dict[str, int]:
        """Bytes charged to ``user``, by preview node."""
        user = normalise_email(user)
        return {node: used for (node, who), used in self.airlock_used.items() if who == user}

    def room_state(self) -> RoomState:
        """The signed room state's content (:mod:`sealroom.model.room_state`), at ``size``."""
        return RoomState(
            self.room_id,
            self.size,
            "stopped" if self.stopped else "active",
            {node: published.dataset_id for node, published in self.datasets.items()},
            self.history_pin,
        )
