"""One dataclass per kind of audit event: writer and reader share it, so details cannot drift.

Known answers pin the detail keys of each kind (they are part of the log format: logs written
before these classes existed must read the same), and every kind round-trips through its details.
"""

from __future__ import annotations

from dataclasses import fields

import pytest

from sealroom.audit import AuditAction, AuditEvent, kinds
from sealroom.audit.events import MAX_DETAIL_VALUE_CHARS
from sealroom.errors import BadRequestError

#: One instance of every kind, with the detail keys the log has always used for it.
EXAMPLES: list[tuple[kinds.EventKind, set[str]]] = [
    (kinds.RoomPublished("r" * 64), {"room_id"}),
    (kinds.RoomStopped(), set()),
    (kinds.AccessDenied("run_computation", None, "no"), {"action", "node", "reason"}),
    (kinds.TamperingDetected("the room's status"), {"fact"}),
    (kinds.DatasetPublished("sales", "d" * 64), {"node", "dataset_id"}),
    (kinds.DatasetValidated("sales", "d" * 64, "PASSED"), {"node", "dataset_id", "outcome"}),
    (kinds.DatasetRemoved("sales"), {"node"}),
    (kinds.ValidationReportRetrieved("sales", "d" * 64), {"node", "dataset_id"}),
    (
        kinds.DatasetStatisticsShared("sales", "d" * 64, "true"),
        {"node", "dataset_id", "shared"},
    ),
    (
        kinds.DatasetStatisticsRetrieved("sales", "d" * 64, "k"),
        {"node", "dataset_id", "recipient_key"},
    ),
    (kinds.DatasetKeyUsed("j", "sales", "d" * 64), {"job_id", "node", "dataset_id"}),
    (
        kinds.JobSubmitted("n", "j", "k", ("n",), '{"a": "1"}'),
        {"node", "job_id", "recipient_key", "rate_limited", "parameters"},
    ),
    (
        kinds.DevelopmentJobSubmitted("n", "j", "k", ()),
        {"node", "job_id", "recipient_key", "rate_limited"},
    ),
    (
        kinds.RequestPreviewSubmitted("n", "j", "k", ()),
        {"node", "job_id", "recipient_key", "rate_limited"},
    ),
    (kinds.JobCompleted("n", "j", "succeeded"), {"node", "job_id", "outcome"}),
    (kinds.JobFailed("n", "j", "timeout"), {"node", "job_id", "outcome"}),
    (
        kinds.ResultRetrieved("n", "j", "csv", "k"),
        {"node", "job_id", "format", "recipient_key"},
    ),
    (
        kinds.PrivacyBudgetCharged.of("j", "n", 0.5, 1e-6, (0.0, 0.0)),
        {"job_id", "node", "epsilon", "delta", "spent_epsilon", "spent_delta"},
    ),
    (kinds.AirlockQuotaCharged("peek", "j", 10, 20), {"node", "job_id", "bytes", "used"}),
    (kinds.RequestSubmitted("q", "a,b", "sales"), {"request_id", "nodes", "affected_nodes"}),
    (kinds.RequestApproved("q", "sales", "c2lnbmVk"), {"request_id", "nodes", "proof"}),
    (kinds.RequestRejected("q", "no"), {"request_id", "reason"}),
    (kinds.RequestSuperseded("q"), {"request_id"}),
    (
        kinds.CommitIntegrated("q", "c", 1, "p", "a"),
        {"request_id", "commit_id", "seq", "history_pin", "nodes"},
    ),
]


def _event(kind: kinds.EventKind) -> AuditEvent:
    return AuditEvent("r" * 64, 0, 1, "alice@bank.example", kind.ACTION, "", kind.to_details())


def test_every_action_has_one_kind() -> None:
    assert sorted(kind.ACTION for kind, _ in EXAMPLES) == sorted(AuditAction)


@pytest.mark.parametrize(("kind", "keys"), EXAMPLES, ids=lambda v: type(v).__name__)
def test_each_kind_writes_its_keys_and_reads_back_what_it_wrote(
    kind: kinds.EventKind, keys: set[str]
) -> None:
    assert set(kind.to_details()) == keys
    assert kinds.kind_of(_event(kind)) == kind


@pytest.mark.parametrize(
    "kind", [kind for kind, _ in EXAMPLES if fields(kind)], ids=lambda v: type(v).__name__
)
def test_a_missing_or_mistyped_detail_reads_as_nothing(kind: kinds.EventKind) -> None:
    details = kind.to_details()
    required = next(key for key, value in details.items() if value is not None)
    event = _event(kind)
    for broken in (
        {k: v for k, v in details.items() if k != required},
        {**details, required: True},
    ):
        assert kinds.kind_of(AuditEvent(event.room_id, 0, 1, "", event.action, "", broken)) is None


def test_a_submission_names_many_rate_limited_nodes_across_details() -> None:
    names = tuple(f"node number {i:03d} " + "x" * 80 for i in range(20))
    details = kinds.JobSubmitted("n", "j", "k", names).to_details()
    assert len([key for key in details if key.startswith("rate_limited")]) > 1
    assert all(len(str(v)) <= MAX_DETAIL_VALUE_CHARS for v in details.values())
    read = kinds.JobSubmitted.from_details(details)
    assert read is not None
    assert read.rate_limited == names
    empty = kinds.JobSubmitted.from_details(kinds.JobSubmitted("n", "j", "k", ()).to_details())
    assert empty is not None
    assert empty.rate_limited == ()


def test_a_submission_written_before_rate_limits_were_named_is_legacy() -> None:
    read = kinds.JobSubmitted.from_details({"node": "n", "job_id": "j", "recipient_key": "k"})
    assert read is not None
    assert read.rate_limited is None


def test_too_many_rate_limited_nodes_to_record_are_refused() -> None:
    names = tuple(f"{i:03d}" + "x" * 500 for i in range(40))
    with pytest.raises(BadRequestError, match="too many rate-limited"):
        kinds.JobSubmitted("n", "j", "k", names).to_details()
