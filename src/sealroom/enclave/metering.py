"""The room's meters: rate-limit windows, the privacy budget and airlock quotas.

Each meter is a fact of the room's audit log (:mod:`.verified_state`): what a run may spend is
checked against the log and charged by appending to it, under the room's lock, so two runs
finishing together cannot both slip under a limit. The host keeps a copy of each meter
(``node_executions``, ``privacy_budget``, ``airlock_usage``) for its own listings; the core
writes it after each charge and compares it whenever it reads a meter. A copy that disagrees
is reported (:mod:`.tampering`) and rewritten from the log: the host cannot give a room a fresh
budget, quota or window by editing or deleting rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sealroom.audit import kinds
from sealroom.enclave.audit_log import AuditLogKeeper
from sealroom.enclave.host import FactCaches
from sealroom.enclave.tampering import TamperingAlarm
from sealroom.enclave.verified_state import RoomFacts
from sealroom.errors import JobFailedError, RateLimitedError
from sealroom.model.definition import PreviewNode, RateLimit, RoomPrivacy

__all__ = ["Meters", "Run"]


@dataclass(frozen=True)
class Run:
    """Whose run is charged: the job, its room, node and submitter (from its sealed ticket)."""

    job_id: str
    room_id: str
    node: str
    submitted_by: str


class Meters:
    def __init__(self, audit: AuditLogKeeper, host: FactCaches, alarm: TamperingAlarm) -> None:
        self._audit = audit
        self._host = host
        self._alarm = alarm

    # -- rate limits --------------------------------------------------------------------------
    def check_rate_limits(
        self, facts: RoomFacts, limits: Sequence[tuple[str, RateLimit]], now: int
    ) -> None:
        """Raise :class:`RateLimitedError` naming the first node whose window is used up. The caller
        holds the room's lock and appends the submission (which counts the run) before
        releasing it."""
        for node, limit in limits:
            since = now - limit.window_seconds * 1000
            runs = self._window(facts, node, since)
            if len(runs) >= limit.max_executions:
                retry_after = max(runs[-limit.max_executions] - since, 0)
                raise RateLimitedError(
                    f"computation {node!r} ran {limit.max_executions} time(s) in the last "
                    f"{limit.window_seconds} s, its rate limit; try again in "
                    f"{math.ceil(retry_after / 1000)} s"
                )

    def _window(self, facts: RoomFacts, node: str, since: int) -> list[int]:
        """The node's runs after ``since``, as the log counts them, the host's copy checked."""
        logged = facts.runs_since(node, since)
        stored = self._host.node_executions(facts.room_id, node, since)
        if stored == logged:
            return logged
        if facts.legacy_submissions and len(stored) > len(logged):
            # Runs submitted before the log named rate-limited nodes are only in the host's
            # rows: count those too (the host can only hold a computation back with them).
            return stored
        self._alarm(
            facts.room_id,
            f"the rate-limit window of computation {node}",
            f"the host counts {len(stored)} runs, the log {len(logged)}",
        )
        self._host.set_node_executions(facts.room_id, node, facts.runs_since(node, 0))
        return logged

    # -- privacy budget -----------------------------------------------------------------------
    def spent(self, room_id: str) -> tuple[float, float]:
        """(ε, δ) the room's runs spent, as the log records them."""
        with self._audit.locked(room_id) as facts:
            return self._checked_budget(facts)

    def _checked_budget(self, facts: RoomFacts) -> tuple[float, float]:
        logged = (facts.epsilon_spent, facts.delta_spent)
        stored = self._host.privacy_budget_spent(facts.room_id)
        if not all(
            math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)
            for a, b in zip(stored, logged, strict=True)
        ):
            self._alarm(
                facts.room_id,
                "the privacy budget spent",
                f"the host says epsilon {stored[0]:g}, delta {stored[1]:g}; the log epsilon "
                f"{logged[0]:g}, delta {logged[1]:g}",
            )
            self._host.set_privacy_budget_spent(facts.room_id, *logged)
        return logged

    def charge_privacy_budget(
        self, run: Run, epsilon: float, delta: float, privacy: RoomPrivacy
    ) -> None:
        """Spend (ε, δ) of the room's budget for ``run``; JobFailedError past the budget."""
        assert privacy.dp_epsilon_budget is not None  # check_definition
        with self._audit.locked(run.room_id) as facts:
            spent_epsilon, spent_delta = self._checked_budget(facts)
            if (
                spent_epsilon + epsilon > privacy.dp_epsilon_budget
                or spent_delta + delta > privacy.dp_delta_budget
            ):
                raise JobFailedError(
                    "privacy_budget_exhausted",
                    f"the room's privacy budget cannot pay for this run (epsilon {epsilon:g}, "
                    f"delta {delta:g}): spent epsilon {spent_epsilon:g} of "
                    f"{privacy.dp_epsilon_budget:g}, delta {spent_delta:g} of "
                    f"{privacy.dp_delta_budget:g}",
                )
            self._audit.append(
                run.room_id,
                user=run.submitted_by,
                notes=f"job {run.job_id} ({run.node}) spent epsilon {epsilon:g}, delta {delta:g}",
                event=kinds.PrivacyBudgetCharged.of(
                    run.job_id, run.node, epsilon, delta, (facts.epsilon_spent, facts.delta_spent)
                ),
            )
            self._host.set_privacy_budget_spent(run.room_id, facts.epsilon_spent, facts.delta_spent)

    # -- airlock quotas -----------------------------------------------------------------------
    def airlock_usage(self, room_id: str, user: str) -> dict[str, int]:
        """Bytes charged to ``user``, by preview node, as the log records them."""
        with self._audit.locked(room_id) as facts:
            return self._checked_usage(facts, user)

    def _checked_usage(self, facts: RoomFacts, user: str) -> dict[str, int]:
        logged = facts.airlock(user)
        stored = self._host.airlock_usage(facts.room_id, user)
        for node in sorted(set(logged) | set(stored)):
            if stored.get(node, 0) != logged.get(node, 0):
                self._alarm(
                    facts.room_id,
                    f"the airlock usage of {user} on {node}",
                    f"the host says {stored.get(node, 0)} bytes, the log {logged.get(node, 0)}",
                )
                self._host.set_airlock_usage(facts.room_id, node, user, logged.get(node, 0))
        return logged

    def charge_airlock(self, run: Run, node: PreviewNode, size: int, *, failure: bool) -> None:
        """Charge ``size`` bytes (of the result, or of the ``failure`` message) to the
        submitter's quota of ``node``; JobFailedError past it.

        A refusal costs one byte (while any is left): it tells the analyst one bit, that the
        result was larger than what was left, so a quota of Q bytes bounds what its refusals
        can tell too.
        """
        quota = node.quota_bytes
        with self._audit.locked(run.room_id) as facts:
            used = self._checked_usage(facts, run.submitted_by).get(node.name, 0)
            if used + size <= quota:
                what = "its failure message" if failure else "its result"
                self._charge(run, node, size, used + size, f"{size} bytes for {what}")
                return
            refusal_cost = 1 if used < quota else 0
            if refusal_cost:
                used += 1
                self._charge(run, node, 1, used, "1 byte for a refusal")
        left = max(quota - used + refusal_cost, 0)
        # Neither the exact size nor whether the run failed is told: only that what it would
        # release is more than what is left. That is one bit, so it costs one byte.
        cost = " (telling you so cost 1 byte)" if refusal_cost else ""
        raise JobFailedError(
            "airlock_quota_exceeded",
            f"preview node {node.name!r}: this result (or failure message) is larger than "
            f"the {left} bytes left of your quota{cost}; used {used} of {quota} bytes",
        )

    def _charge(self, run: Run, node: PreviewNode, size: int, used: int, what: str) -> None:
        self._audit.append(
            run.room_id,
            user=run.submitted_by,
            notes=f"job {run.job_id} ({node.name}) charged {what}: {used} of "
            f"{node.quota_bytes} used",
            event=kinds.AirlockQuotaCharged(node.name, run.job_id, size, used),
        )
        self._host.set_airlock_usage(run.room_id, node.name, run.submitted_by, used)
