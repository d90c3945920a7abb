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
=====================  ==============================================================

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

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from sealroom.audit import AuditAction, AuditEvent
from sealroom.audit.events import MAX_DETAIL_VALUE_CHARS, MAX_DETAILS, DetailValue
from sealroom.errors import BadRequestError
from sealroom.model.definition import MAX_RATE_LIMIT_EXECUTIONS, MAX_RATE_LIMIT_WINDOW_SECONDS
from sealroom.model.room_state import RoomState

__all__ = ["PublishedDataset", "RoomFacts", "rate_limited_details"]

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
_RATE_LIMITED: Final = "rate_limited"
_MAX_WINDOW_MS: Final = MAX_RATE_LIMIT_WINDOW_SECONDS * 1000


@dataclass(frozen=True)
class PublishedDataset:
    dataset_id: str
    publisher: str
    published_at_ms: int
    #: "PASSED" / "FAILED" for a table once validated; None for a raw file.
    validation: str | None = None


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

    @property
    def stopped(self) -> bool:
        return self.stopped_at_ms is not None

    def fold(self, event: AuditEvent) -> None:
        """Apply one entry (the next one: ``event.seq == size``)."""
        self.size += 1
        action, details = event.action, event.details
        if action not in _FOLDED:
            return  # most entries (results fetched, keys used, denials) change no fact
        node = _text(details, "node")
        if action is AuditAction.ROOM_STOPPED:
            if self.stopped_at_ms is None:
                self.stopped_at_ms = event.timestamp_ms
        elif action is AuditAction.DATASET_PUBLISHED:
            dataset_id = _text(details, "dataset_id")
            if node is not None and dataset_id is not None:
                self.datasets[node] = PublishedDataset(dataset_id, event.user, event.timestamp_ms)
        elif action is AuditAction.DATASET_VALIDATED and node is not None:
            current = self.datasets.get(node)
            if current is not None and current.dataset_id == _text(details, "dataset_id"):
                self.datasets[node] = replace(current, validation=_text(details, "outcome"))
        elif action is AuditAction.DATASET_REMOVED and node is not None:
            self.datasets.pop(node, None)
        elif action is AuditAction.PRIVACY_BUDGET_CHARGED:
            self.epsilon_spent += _number(details, "epsilon")
            self.delta_spent += _number(details, "delta")
        elif action is AuditAction.AIRLOCK_QUOTA_CHARGED and node is not None:
            charged = details.get("bytes")
            if isinstance(charged, int) and not isinstance(charged, bool):
                key = (node, event.user.lower())
                self.airlock_used[key] = self.airlock_used.get(key, 0) + charged
        elif action in SUBMISSIONS:
            limited = rate_limited_nodes(details)
            if limited is None:
                self.legacy_submissions = True
            for name in limited or ():
                runs = self.executions.setdefault(name, deque(maxlen=MAX_RATE_LIMIT_EXECUTIONS))
                runs.append(event.timestamp_ms)
        elif action is AuditAction.COMMIT_INTEGRATED:
            commit_id, pin = _text(details, "commit_id"), _text(details, "history_pin")
            if commit_id is not None:
                self.commit_ids.append(commit_id)
            if pin is not None:
                self.history_pin = pin
            self._close(_text(details, "request_id"), "integrated")
        elif action is AuditAction.REQUEST_APPROVED:
            request_id = _text(details, "request_id")
            if request_id is not None:
                approvers = self.approvers.setdefault(request_id, {})
                approvers[event.user.lower()] = event.timestamp_ms
        elif action is AuditAction.REQUEST_REJECTED:
            self._close(_text(details, "request_id"), "rejected")
        elif action is AuditAction.REQUEST_SUPERSEDED:
            self._close(_text(details, "request_id"), "superseded")
        elif action in (AuditAction.JOB_COMPLETED, AuditAction.JOB_FAILED):
            job_id = _text(details, "job_id")
            if job_id is not None:
                self.finished_jobs.add(job_id)

    def _close(self, request_id: str | None, status: str) -> None:
        if request_id is not None:
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
        user = user.lower()
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


def rate_limited_details(nodes: Sequence[str]) -> dict[str, DetailValue]:
    """The details a submission names its rate-limited nodes with: ``rate_limited`` (comma-
    separated; node names have no comma), continued in ``rate_limited_2``… when long."""
    chunks: list[str] = []
    for name in nodes:
        if chunks and len(chunks[-1]) + 1 + len(name) <= MAX_DETAIL_VALUE_CHARS:
            chunks[-1] += "," + name
        else:
            chunks.append(name)
    # A submission's own details (node, job id, recipient key, parameters) take at most 4.
    if len(chunks) > MAX_DETAILS - 4:
        raise BadRequestError("this run counts too many rate-limited computations to record")
    details: dict[str, DetailValue] = {_RATE_LIMITED: chunks[0] if chunks else ""}
    for index, chunk in enumerate(chunks[1:], start=2):
        details[f"{_RATE_LIMITED}_{index}"] = chunk
    return details


def rate_limited_nodes(details: Mapping[str, DetailValue]) -> list[str] | None:
    """The nodes :func:`rate_limited_details` recorded; None for an entry written before."""
    first = details.get(_RATE_LIMITED)
    if not isinstance(first, str):
        return None
    names = [name for name in first.split(",") if name]
    index = 2
    while isinstance(more := details.get(f"{_RATE_LIMITED}_{index}"), str):
        names.extend(name for name in more.split(",") if name)
        index += 1
    return names


def _text(details: Mapping[str, DetailValue], key: str) -> str | None:
    value = details.get(key)
    return value if isinstance(value, str) else None


def _number(details: Mapping[str, DetailValue], key: str) -> float:
    """A float the core wrote with ``repr`` (the log holds no floats: their text is exact)."""
    value = details.get(key)
    return float(value) if isinstance(value, str) else 0.0
