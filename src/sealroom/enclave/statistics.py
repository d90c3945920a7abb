"""A dataset's summary statistics: computed in the core, released sealed and signed.

The seed's "Datasets" page shows, for each provisioned dataset, statistics computed at upload,
which its owner may share with the other participants of a room. Here:

* :func:`compute` runs the first time they are asked for a dataset, over its validated table:
  :func:`sealroom.compute.statistics.table_statistics` with the room's threshold
  (:func:`room_threshold`), so no value is shown that fewer rows hold than the room's largest
  minimum group size. They are kept with the validated table. Not at publish: computed there,
  even in the background, they took the cores from the next validation and the first queries
  (the 10-million-row overlap went from 12.1 to 16.3 s); asked for, they take about 0.6 s for
  6 million rows.
* :func:`retrieve` releases them HPKE-sealed to the asker's key with the core's signature (the
  host can neither read nor forge them) — to the table's owner always, to another participant
  only while the owner shares this very dataset's statistics (the log says so).
* :func:`share` records the owner's signed choice in the room's log. A room that answers with
  differential privacy refuses it: exact statistics would spend privacy outside its budget.
"""

from __future__ import annotations

import json
from typing import Any

from sealroom.audit import kinds
from sealroom.compute.statistics import table_statistics
from sealroom.crypto import seal
from sealroom.crypto.sealing import statistics_context
from sealroom.enclave.context import CoreContext
from sealroom.enclave.inputs import ValidatedTable
from sealroom.enclave.jobs import recipient_key
from sealroom.errors import ConflictError, NotFoundError
from sealroom.model import signed_actions
from sealroom.model.definition import RoomDefinition, SqlNode, TableNode
from sealroom.model.policy import Action, decide
from sealroom.model.principal import Principal
from sealroom.model.statistics_release import StatisticsRelease, sign_statistics_release

__all__ = ["compute", "retrieve", "room_threshold", "share"]


def room_threshold(definition: RoomDefinition) -> int:
    """The largest minimum group size among the room's SQL nodes (1 when none sets one)."""
    sizes = [
        node.minimum_rows_count
        for node in definition.nodes
        if isinstance(node, SqlNode) and node.minimum_rows_count is not None
    ]
    return max(sizes, default=1)


def compute(validated: ValidatedTable, threshold: int) -> dict[str, Any] | None:
    """The statistics of a table that passed validation (None otherwise), computed once."""
    if not validated.passed or validated.table is None:
        return None
    with validated.statistics_lock:
        cached = validated.statistics.get(threshold)
        if cached is None:
            cached = table_statistics(validated.table, threshold=threshold)
            validated.statistics[threshold] = cached
    return cached


def retrieve(
    core: CoreContext,
    principal: Principal,
    room_id: str,
    node_name: str,
    recipient_public_key: bytes,
) -> tuple[str, bytes, bytes]:
    """``(dataset id, sealed statistics, signature of their release)``."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.RETRIEVE_DATASET_STATISTICS,
        node=node_name,
        call=signed_actions.retrieve_dataset_statistics(room_id, node_name, recipient_public_key),
    )
    definition = allowed.definition
    node = definition.node(node_name)
    if not isinstance(node, TableNode):
        raise NotFoundError(f"the room has no table node {node_name!r}")
    recipient = recipient_key(recipient_public_key)
    published = core.copies.publications(room_id).get(node_name)
    if published is None:
        raise NotFoundError(f"no dataset is published to node {node_name!r}")
    owner = decide(definition, principal, Action.SHARE_DATASET_STATISTICS, node=node_name)
    if not owner.allowed and not published.statistics_shared:
        raise ConflictError(
            f"the owner of node {node_name!r} does not share its dataset's statistics with the "
            "room",
            code="statistics_not_shared",
        )
    publication = core.copies.publication(room_id, node_name)
    assert publication is not None
    statistics = compute(
        core.tables.validate(room_id, node, publication), room_threshold(definition)
    )
    if statistics is None:
        raise ConflictError(
            f"the dataset of node {node_name!r} failed validation: it has no statistics",
            code="input_invalid",
        )
    payload = json.dumps(statistics, sort_keys=True).encode()
    context = statistics_context(room_id, node_name, published.dataset_id)
    sealed = seal(recipient, payload, context=context)
    release = StatisticsRelease.of(
        room_id=room_id,
        node=node_name,
        dataset_id=published.dataset_id,
        recipient_public_key=recipient.to_bytes().hex(),
        sealed=sealed,
    )
    signature = sign_statistics_release(release, core.identity.signing_key)
    core.audit.append(
        room_id,
        user=principal.email,
        notes=f"retrieved the statistics of node {node_name}",
        event=kinds.DatasetStatisticsRetrieved(
            node_name, published.dataset_id, recipient.to_bytes().hex()
        ),
        proof=allowed.proof,
    )
    return published.dataset_id, sealed, signature


def share(
    core: CoreContext,
    principal: Principal,
    room_id: str,
    node_name: str,
    dataset_id: str,
    shared: bool,
) -> None:
    """Record the owner's choice for ``dataset_id``, which must be the node's dataset now."""
    allowed = core.authority.authorize(
        principal,
        room_id,
        Action.SHARE_DATASET_STATISTICS,
        node=node_name,
        call=signed_actions.share_dataset_statistics(room_id, node_name, dataset_id, shared),
    )
    if shared and any(
        isinstance(node, SqlNode) and node.dp_epsilon is not None
        for node in allowed.definition.nodes
    ):
        raise ConflictError(
            "this room answers with differential privacy; exact statistics would reveal more "
            "than its privacy budget allows, so they cannot be shared",
            code="statistics_not_shared",
        )
    with core.audit.locked(room_id) as facts:
        published = facts.datasets.get(node_name)
        if published is None or published.dataset_id != dataset_id:
            raise ConflictError(
                f"dataset {dataset_id} is not the one published to node {node_name!r}",
                code="dataset_not_published",
            )
        core.audit.append(
            room_id,
            user=principal.email,
            notes=f"{'shared' if shared else 'stopped sharing'} the statistics of node "
            f"{node_name} with the room",
            event=kinds.DatasetStatisticsShared(
                node_name, dataset_id, "true" if shared else "false"
            ),
            proof=allowed.proof,
        )
