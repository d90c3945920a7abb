"""Actions on a room's datasets: publish one to a data node, remove it, read its validation.

Publishing is the one moment a data owner hands the core a dataset key, HPKE-sealed to the
core's attested key and bound to (room, node, dataset) (:class:`~.inputs.KeyUse`). The core:

1. opens the sealed key — which proves it was sealed to this core for exactly this room and node
   (a key sealed for another room, node or a test run does not open);
2. checks the manifest's key commitment — the key is the one the dataset was encrypted with,
   checked without decrypting;
3. for a table, decrypts and validates the dataset with that same key (unsealed once, passed on)
   and seals the validation report at rest;
4. stores the publication and appends ``DATASET_PUBLISHED`` (and ``DATASET_VALIDATED``) under
   the room's lock: the log, not the host's row, says which dataset is the node's.

A table that fails validation does not replace one that passed (the log says which passed)
unless the owner's signed action says ``replace_passing``: only ``DATASET_VALIDATED`` (FAILED) is
appended, the node keeps its dataset, and the answer says so (``published`` false).

A signed ``replaces`` makes the publication conditional: it happens only if the node's dataset,
as the log says under the room's lock at step 4, is still that one ("" for none); otherwise it
is refused (``dataset_changed``) and nothing is appended. Read, change and publish again then:
nobody's publication in between is lost.
"""

from __future__ import annotations

import json
from typing import Any

from sealroom.audit import kinds
from sealroom.crypto import DatasetDecryptor, open_at_rest, seal_at_rest
from sealroom.enclave.audit_log import Entry
from sealroom.enclave.context import CoreContext
from sealroom.enclave.inputs import KeyUse
from sealroom.errors import BadRequestError, ConflictError, DecryptionError, NotFoundError
from sealroom.model import signed_actions
from sealroom.model.definition import TableNode
from sealroom.model.policy import Action
from sealroom.model.principal import Principal
from sealroom.model.records import PublicationRecord, now_ms
from sealroom.model.wire import DatasetPublishedOut, PublishedDatasetOut

__all__ = ["publish_dataset", "published_datasets", "remove_dataset", "validation_report"]

#: Binds a sealed validation report to its purpose (and, with the dataset id, to its dataset).
_REPORT_AAD = b"sealroom/validation-report/v1"


def publish_dataset(
    core: CoreContext,
    principal: Principal,
    room_id: str,
    node_name: str,
    dataset_id: str,
    sealed_key: bytes,
    *,
    replace_passing: bool = False,
    replaces: str | None = None,
) -> DatasetPublishedOut:
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.PUBLISH_DATASET,
        node=node_name,
        call=signed_actions.publish_dataset(
            room_id,
            node_name,
            dataset_id,
            sealed_key,
            replace_passing=replace_passing,
            replaces=replaces,
        ),
    )
    dataset = core.host.get_dataset(dataset_id)
    if dataset is None or not principal.is_named(dataset.owner_email):
        raise NotFoundError(f"dataset {dataset_id} not found among your datasets")
    node = allowed.definition.node(node_name)
    # Steps 1 and 2 (module docstring).
    opened = core.reader.open(KeyUse(room_id, node_name, dataset_id), sealed_key)
    try:
        DatasetDecryptor(opened.key, opened.manifest)
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
        publisher_email=principal.email,
        published_at_ms=now_ms(),
        validation_outcome=None,
        validation_report=None,
    )
    outcome: str | None = None
    shown: dict[str, Any] | None = None
    if isinstance(node, TableNode):
        # Step 3: with the key opened above, not unsealed again. Cached by dataset: the node's
        # current table stays cached until this one replaces it.
        validated = core.tables.validate(room_id, node, publication, opened)
        outcome = "PASSED" if validated.passed else "FAILED"
        shown = validated.report
        previous = core.copies.publications(room_id).get(node_name)
        if (
            not validated.passed
            and not replace_passing
            and previous is not None
            and previous.validation == "PASSED"
        ):
            return _kept(
                core,
                principal,
                room_id,
                node_name,
                dataset_id,
                kept=previous.dataset_id,
                report=validated.report,
            )
        report = json.dumps(validated.report, sort_keys=True).encode()
        publication = PublicationRecord(
            **{
                **publication.__dict__,
                "validation_outcome": outcome,
                "validation_report": seal_at_rest(
                    core.report_key(room_id, node_name),
                    report,
                    aad=_REPORT_AAD + dataset_id.encode(),
                ),
            }
        )
    # Step 4: the row and its entries, in one host transaction, under the room's lock.
    entries = [
        Entry(
            principal.email,
            f"published dataset {dataset_id} to node {node_name}",
            kinds.DatasetPublished(node_name, dataset_id),
            allowed.proof,
        )
    ]
    if outcome is not None:
        entries.append(
            Entry(
                principal.email,
                f"validation of node {node_name}: {outcome}",
                kinds.DatasetValidated(node_name, dataset_id, outcome),
            )
        )
    with core.audit.locked(room_id) as facts:
        if replaces is not None:
            current = facts.datasets.get(node_name)
            if (current.dataset_id if current is not None else "") != replaces:
                raise ConflictError(
                    f"the dataset of node {node_name!r} changed since you read it: read it "
                    "again, then publish",
                    code="dataset_changed",
                )
        core.audit.append_all(
            room_id,
            entries,
            write=lambda audit: core.host.put_publication(publication, audit=audit),
        )
    if isinstance(node, TableNode):
        # Only once published: a refused publication leaves the node's table cached. The new
        # table stays cached, as the node's jobs read it next.
        core.tables.forget(room_id, node_name, keep=dataset_id)
    return DatasetPublishedOut(
        room_id=room_id,
        node=node_name,
        dataset_id=dataset_id,
        validation=outcome,
        report=shown,
    )


def _kept(
    core: CoreContext,
    principal: Principal,
    room_id: str,
    node_name: str,
    dataset_id: str,
    *,
    kept: str,
    report: dict[str, Any],
) -> DatasetPublishedOut:
    """A failed dataset refused in favour of the passing one: logged, not published."""
    with core.audit.locked(room_id):
        core.audit.append(
            room_id,
            user=principal.email,
            notes=f"validation of node {node_name}: FAILED; dataset {kept}, which passed, stays "
            "published",
            event=kinds.DatasetValidated(node_name, dataset_id, "FAILED"),
        )
    return DatasetPublishedOut(
        room_id=room_id,
        node=node_name,
        dataset_id=dataset_id,
        validation="FAILED",
        published=False,
        kept_dataset_id=kept,
        report=report,
    )


def remove_dataset(core: CoreContext, principal: Principal, room_id: str, node_name: str) -> None:
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.REMOVE_DATASET,
        node=node_name,
        call=signed_actions.remove_dataset(room_id, node_name),
    )
    with core.audit.locked(room_id) as facts:
        if node_name not in facts.datasets:
            raise NotFoundError(f"no dataset is published to node {node_name!r}")
        core.host.delete_publication(room_id, node_name)
        core.tables.forget(room_id, node_name)
        core.audit.append(
            room_id,
            user=principal.email,
            notes=f"removed the dataset of node {node_name}",
            event=kinds.DatasetRemoved(node_name),
            proof=allowed.proof,
        )


def validation_report(
    core: CoreContext, principal: Principal, room_id: str, node_name: str
) -> bytes:
    """The node's validation report (JSON), opened from where the core sealed it at rest."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.RETRIEVE_VALIDATION_REPORT,
        node=node_name,
        call=signed_actions.retrieve_validation_report(room_id, node_name),
    )
    publication = core.copies.publication(room_id, node_name)
    if publication is None or publication.validation_report is None:
        raise NotFoundError(f"no dataset is published to node {node_name!r}")
    try:
        report = open_at_rest(
            core.report_key(room_id, node_name),
            publication.validation_report,
            aad=_REPORT_AAD + publication.dataset_id.encode(),
        )
    except DecryptionError:
        raise ConflictError(
            f"the stored validation report of node {node_name!r} was altered",
            code="report_corrupt",
        ) from None
    core.audit.append(
        room_id,
        user=principal.email,
        notes=f"retrieved the validation report of node {node_name}",
        event=kinds.ValidationReportRetrieved(node_name, publication.dataset_id),
        proof=allowed.proof,
    )
    return report


def published_datasets(
    core: CoreContext, principal: Principal, room_id: str
) -> list[PublishedDatasetOut]:
    """The room's datasets as its audit log records them (the host's rows are checked)."""
    core.authority.authorize(principal, room_id, Action.LIST_PUBLISHED_DATASETS)
    return [
        PublishedDatasetOut(
            node=node,
            dataset_id=published.dataset_id,
            publisher=published.publisher,
            published_at_ms=published.published_at_ms,
            validation=published.validation,
        )
        for node, published in sorted(core.copies.publications(room_id).items())
    ]
