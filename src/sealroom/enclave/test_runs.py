"""Test runs of drafts: every computation of a definition not yet published, over empty tables
or the caller's own test datasets (:mod:`.dry_run`).

Nothing is stored and no room is touched: a draft has no publications, and test datasets are the
caller's own uploads, with keys sealed to this core for this test run of this draft
(:class:`~sealroom.enclave.inputs.KeyUse`). Refused:

* a draft whose id is a published room's (its test run would otherwise look like the room's);
* a ``test_run`` id seen before (a host replaying a sealed test key);
* a test dataset for a node that is not a data node, or that is not the caller's upload.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Final

from sealroom.enclave.context import CoreContext
from sealroom.enclave.dry_run import test_all
from sealroom.enclave.history import check_computations
from sealroom.enclave.sources import TestData, TestDataset
from sealroom.errors import BadRequestError, ConflictError, NotFoundError, TooManyRequestsError
from sealroom.model.definition import RawNode, TableNode, parse_definition
from sealroom.model.principal import Principal
from sealroom.model.wire import TestReportOut

__all__ = ["TestRuns"]

#: Test run ids remembered to refuse replays (the oldest are forgotten first).
TEST_RUNS_REMEMBERED: Final = 100_000


class TestRuns:
    __test__ = False  # not a pytest class

    def __init__(self, core: CoreContext) -> None:
        self._core = core
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._guard = threading.Lock()

    def run(
        self,
        principal: Principal,
        definition_data: object,
        test_datasets: Mapping[str, tuple[str, bytes]],
        parameters: Mapping[str, Mapping[str, str]] | None,
        test_run: str,
    ) -> list[TestReportOut]:
        """One report per computation of the draft (see :func:`~.dry_run.test_all`)."""
        core = self._core
        definition = parse_definition(definition_data)
        check_computations(definition, definition.nodes)
        if core.host.get_room(definition.room_id) is not None:
            raise ConflictError(
                f"this draft is the definition of published room {definition.room_id}; test a "
                "draft before you publish it (a test run never reads a room's data)",
                code="draft_is_published",
            )
        self._first_use(test_run)
        datasets: dict[str, TestDataset] = {}
        for node_name, (dataset_id, sealed_key) in test_datasets.items():
            if not isinstance(definition.node(node_name), TableNode | RawNode):
                raise BadRequestError(f"test dataset for {node_name!r}, which is not a data node")
            dataset = core.host.get_dataset(dataset_id)
            if dataset is None or not principal.is_named(dataset.owner_email):
                raise NotFoundError(f"dataset {dataset_id} not found among your datasets")
            datasets[node_name] = TestDataset(dataset_id, sealed_key)
        source = TestData(
            definition.room_id, test_run, datasets, core.reader, core.settings.validation
        )
        if not core.compute_slots.acquire(timeout=core.settings.test_run_wait_seconds):
            raise TooManyRequestsError(
                "the server is running as many computations as it has workers; try the test "
                "run again in a moment"
            )
        try:
            reports = test_all(core.runner, definition, source, parameters or {})
        finally:
            core.compute_slots.release()
        return [TestReportOut.model_validate(report) for report in reports]

    def _first_use(self, test_run: str) -> None:
        """Refuse a test run id seen before (prevents a host replaying a sealed test key)."""
        with self._guard:
            if test_run in self._seen:
                raise ConflictError(
                    f"test run {test_run} was already run; every test run needs a fresh id",
                    code="test_run_replayed",
                )
            self._seen[test_run] = None
            while len(self._seen) > TEST_RUNS_REMEMBERED:
                self._seen.popitem(last=False)
