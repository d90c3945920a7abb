"""A published analytics room and its nodes, as the seed SDK exposes them.

``AnalyticsDcr.get_node(name)`` returns the same node object every time, so a job started with
``run_computation()`` can be fetched later from ``get_node(name).get_results_as_*()``.

Layering: :class:`sealroom.client.Client` creates these objects (``publish_analytics_dcr``) and
hands them itself and a session, so this package never imports :mod:`sealroom.client` at run
time, only its types for annotations. pyarrow (and pandas, which pyarrow's ``to_pandas`` loads)
are imported when the first typed result is read, not with the SDK.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from sealroom.analytics._definitions import NodeDefinition, SqlComputeNodeDefinition
from sealroom.analytics._requests import Commit, RequestBuilder, SubmittedRequest
from sealroom.analytics._verified import retrieve_verified_commits
from sealroom.errors import ConflictError, DefinitionError
from sealroom.model import commits as model_commits
from sealroom.model.commits import apply_commit, apply_commits
from sealroom.model.definition import (
    PythonNode,
    RawNode,
    RNode,
    RoomDefinition,
    SqlNode,
    SyntheticNode,
    TableNode,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from sealroom.client import AirlockQuotaInfo, Client, JobId, PrivacyBudget, Session
    from sealroom.client._upload import ProgressCallback
    from sealroom.crypto import Key


class _DataNode:
    def __init__(self, dcr: AnalyticsDcr, name: str, is_required: bool) -> None:
        self._dcr = dcr
        self.name = self.id = name
        self.is_required = is_required

    def upload_and_publish_dataset(
        self,
        data: BinaryIO,
        key: Key,
        name: str,
        description: str = "",
        *,
        progress: ProgressCallback | None = None,
        replace: bool = False,
    ) -> str:
        """Encrypt and upload ``data``, then publish it here; returns the dataset id.

        A table's file is checked first, on this machine (:meth:`TableDataNode.
        upload_and_publish_dataset`); a raw file is uploaded as it is.
        """
        dataset_id = self._dcr.client.upload_dataset(
            data, key, name, description=description, progress=progress
        )
        self._dcr.session.publish_dataset(self._dcr.id, dataset_id, self.name, key, force=replace)
        return dataset_id

    def publish_dataset(
        self, manifest_hash: str, key: Key, *, force: bool = False, replaces: str | None = None
    ) -> dict[str, Any]:
        """Publish an uploaded dataset; the key travels sealed to the attested core. A table that
        fails validation does not replace one that passed unless ``force``. With ``replaces``
        (a dataset id, "" for none) only if the node's dataset is still that one (docs/
        provisioning.md, "Publishing on condition")."""
        return self._dcr.session.publish_dataset(
            self._dcr.id, manifest_hash, self.name, key, force=force, replaces=replaces
        )

    def remove_published_dataset(self) -> None:
        self._dcr.session.remove_published_dataset(self._dcr.id, self.name)


class TableDataNode(_DataNode):
    def upload_and_publish_dataset(
        self,
        data: BinaryIO,
        key: Key,
        name: str,
        description: str = "",
        *,
        progress: ProgressCallback | None = None,
        replace: bool = False,
        header: bool | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        decimal_comma: bool = False,
        thousands_separator: str | None = None,
        max_dropped_share: float | None = None,
    ) -> str:
        """Check ``data`` (a CSV file) on this machine, then encrypt, upload and publish it here;
        returns the dataset id.

        The file may have a header row (its columns are mapped by name, in any order), another
        delimiter or encoding, decimal commas or thousands separators
        (:mod:`sealroom.analytics.provisioning`). It is validated locally with the core's own rules
        before any byte is sent, and the core validates it again when it is published. Raises
        :class:`~sealroom.errors.DatasetRejectedError` (with the report) when either validation
        fails, or when more than ``max_dropped_share`` of the rows would be dropped; a failed
        dataset does not replace one that passed unless ``replace``.
        """
        from sealroom.analytics.provisioning import CsvFormat, prepare_table, provision

        node = self._dcr.definition.node(self.name)
        assert isinstance(node, TableNode)
        fmt = CsvFormat(
            header=header,
            delimiter=delimiter,
            encoding=encoding,
            decimal_comma=decimal_comma,
            thousands_separator=thousands_separator,
        )
        prepared = prepare_table(
            data.read(), node.schema_, fmt, max_dropped_share=max_dropped_share
        )
        provisioned = provision(
            self._dcr.client,
            self._dcr.session,
            self._dcr.id,
            self.name,
            prepared,
            key,
            name,
            description=description,
            replace=replace,
            progress=progress,
        )
        return provisioned.dataset_id

    def get_validation_report_as_dict(self) -> dict[str, Any]:
        return self._dcr.session.get_validation_report(self._dcr.id, self.name)

    def get_statistics(self) -> dict[str, Any]:
        """The summary statistics of the dataset published here (the seed's "Datasets" page):
        rows, and per column its empty cells, distinct values, low and high values or frequent
        values — none held by fewer rows than the room's minimum group size. Computed by the
        core, sealed to this session; for the table's owner, or for anyone once the owner shares
        them (:meth:`share_statistics`)."""
        from sealroom.analytics._statistics import get_dataset_statistics

        return get_dataset_statistics(self._dcr.session, self._dcr.id, self.name)

    def share_statistics(self, shared: bool = True) -> None:
        """Share the statistics of the dataset published here with the room's participants (or,
        with ``shared=False``, stop). A new dataset is not shared until this is called again."""
        from sealroom.analytics._statistics import share_dataset_statistics

        published = {
            entry["node"]: entry["dataset_id"]
            for entry in self._dcr.session.retrieve_published_datasets(self._dcr.id)
        }
        if self.name not in published:
            raise ConflictError(
                f"no dataset is published to node {self.name!r}", code="dataset_not_published"
            )
        share_dataset_statistics(
            self._dcr.session, self._dcr.id, self.name, published[self.name], shared
        )


class RawDataNode(_DataNode):
    pass


class _ComputationNode:
    """What every computation shares: running it, and fetching its result as bytes."""

    #: The result format asked of the core (see the subclasses).
    _result_format: str

    def __init__(self, dcr: AnalyticsDcr, name: str) -> None:
        self._dcr = dcr
        self.name = self.id = name
        self.job_id: JobId | None = None

    def run_computation(self, parameters: Mapping[str, str] | None = None) -> JobId:
        """Start the computation; ``parameters`` gives the values of its declared parameters."""
        self.job_id = self._dcr.session.run_computation(
            self._dcr.id, self.name, parameters=parameters
        )
        return self.job_id

    def _result(self, result_format: str, interval: float, timeout: float | None) -> bytes:
        if self.job_id is None:
            raise ConflictError(
                f"computation {self.name!r} has not been run yet: call run_computation() first",
                code="job_not_started",
            )
        return self._dcr.session.get_computation_result(
            self.job_id, interval=interval, timeout=timeout, result_format=result_format
        )

    def get_results_as_bytes(self, interval: float = 5, timeout: float | None = None) -> bytes:
        return self._result(self._result_format, interval, timeout)

    def run_computation_and_get_results_as_bytes(
        self, interval: float = 5, timeout: float | None = None
    ) -> bytes:
        self.run_computation()
        return self.get_results_as_bytes(interval, timeout)


class SqlComputationNode(_ComputationNode):
    """A SQL computation; results come back as CSV (with a header), Arrow or pandas."""

    _result_format = "csv"

    def get_results_as_string(self, interval: float = 5, timeout: float | None = None) -> str:
        return self.get_results_as_bytes(interval, timeout).decode("utf-8")

    def get_results_as_arrow(self, interval: float = 5, timeout: float | None = None) -> pa.Table:
        from sealroom.compute.sql.ipc import table_from_ipc  # loads pyarrow: on first use only

        return table_from_ipc(self._result("arrow", interval, timeout))

    def get_suppressed_groups_count(
        self, interval: float = 5, timeout: float | None = None
    ) -> int | None:
        """How many result groups the privacy filter removed (``None``: no filter on this node).

        Read from the sealed result, so the host cannot change it.
        """
        from sealroom.compute.sql.ipc import SUPPRESSED_GROUPS_KEY

        metadata = self.get_results_as_arrow(interval, timeout).schema.metadata or {}
        value = metadata.get(SUPPRESSED_GROUPS_KEY)
        return None if value is None else int(value)

    def get_results_as_dataframe(
        self, interval: float = 5, timeout: float | None = None
    ) -> pd.DataFrame:
        frame: pd.DataFrame = self.get_results_as_arrow(interval, timeout).to_pandas()
        return frame

    def run_computation_and_get_results_as_string(
        self, interval: float = 5, timeout: float | None = None
    ) -> str:
        self.run_computation()
        return self.get_results_as_string(interval, timeout)

    def run_computation_and_get_results_as_arrow(
        self, interval: float = 5, timeout: float | None = None
    ) -> pa.Table:
        self.run_computation()
        return self.get_results_as_arrow(interval, timeout)

    def run_computation_and_get_results_as_dataframe(
        self, interval: float = 5, timeout: float | None = None
    ) -> pd.DataFrame:
        self.run_computation()
        return self.get_results_as_dataframe(interval, timeout)


class ContainerComputationNode(_ComputationNode):
    """A Python or R computation; its result is the zip of the script's /output."""

    _result_format = "zip"

    def get_results_as_zip(
        self, interval: float = 5, timeout: float | None = None
    ) -> zipfile.ZipFile:
        return zipfile.ZipFile(io.BytesIO(self.get_results_as_bytes(interval, timeout)))

    def run_computation_and_get_results_as_zip(
        self, interval: float = 5, timeout: float | None = None
    ) -> zipfile.ZipFile:
        self.run_computation()
        return self.get_results_as_zip(interval, timeout)


Node = TableDataNode | RawDataNode | SqlComputationNode | ContainerComputationNode


def _computation(
    dcr: AnalyticsDcr, definition: RoomDefinition, name: str
) -> SqlComputationNode | ContainerComputationNode:
    # A preview returns what it previews: a table, or a zip.
    if isinstance(definition.result_source(name), SqlNode):
        return SqlComputationNode(dcr, name)
    return ContainerComputationNode(dcr, name)


class AnalyticsDcr:
    """A published room, verified: its definition hashes to its id and the core signed it."""

    def __init__(
        self,
        client: Client,
        session: Session,
        dcr_id: str,
        definition: RoomDefinition,
        history_pin: str,
    ) -> None:
        self.client = client
        self.session = session
        self.id = dcr_id
        self.definition = definition
        #: The pin of the history ``definition`` is the current definition of.
        self.history_pin = history_pin
        self._nodes: dict[str, Node] = {}
        self._add_nodes(definition)

    def _add_nodes(self, definition: RoomDefinition) -> None:
        for node in definition.nodes:
            if node.name in self._nodes:
                continue
            if isinstance(node, TableNode):
                self._nodes[node.name] = TableDataNode(self, node.name, node.is_required)
            elif isinstance(node, RawNode):
                self._nodes[node.name] = RawDataNode(self, node.name, node.is_required)
            else:
                self._nodes[node.name] = _computation(self, definition, node.name)

    def refresh(self) -> AnalyticsDcr:
        """Re-read the verified current definition (an interactive room gains nodes)."""
        return self.use_history(*self.session.retrieve_room_history(self.id))

    def use_history(
        self,
        published: RoomDefinition,
        commits: Sequence[model_commits.Commit],
        pins: Sequence[str],
    ) -> AnalyticsDcr:
        """Take the room's verified history (:meth:`Session.retrieve_room_history
        <sealroom.client.Session.retrieve_room_history>`) as its current state, for a caller
        that needs the history too and read it once."""
        self.definition, self.history_pin = apply_commits(published, commits), pins[-1]
        self._add_nodes(self.definition)
        return self

    @property
    def name(self) -> str:
        return self.definition.name

    def get_node(self, name: str) -> Node | None:
        if name not in self._nodes and self.definition.interactive:
            self.refresh()  # another participant may have integrated it since
        return self._nodes.get(name)

    # -- interactivity ----------------------------------------------------------------------
    def build_request(self) -> RequestBuilder:
        """Propose new computations and analysts (interactive rooms)."""
        return RequestBuilder(self)

    def get_submitted_requests(self) -> list[SubmittedRequest]:
        return [SubmittedRequest(self, data) for data in self.session.retrieve_requests(self.id)]

    def get_submitted_request(self, request_id: str) -> SubmittedRequest:
        return SubmittedRequest(self, self.session.retrieve_request(self.id, request_id))

    def get_commits(self) -> list[Commit]:
        """The integrated commits, in order, verified: each is the core's signed record of the
        room's commit at that place, and the last ends the history the core's signed room state
        names (none altered, reordered or dropped). ``integrated_by`` and ``integrated_at_ms``
        are the host's word (the audit log records both); see
        :func:`~sealroom.analytics._verified.retrieve_verified_commits`."""
        return [
            Commit(
                id=verified.commit.commit_id,
                name=verified.commit.note,
                nodes=tuple(node.name for node in verified.commit.nodes),
                seq=verified.seq,
                requester=verified.commit.requester,
                integrated_by=verified.integrated_by,
                integrated_at_ms=verified.integrated_at_ms,
            )
            for verified in retrieve_verified_commits(self.session, self.id)
        ]

    def run_development_computation(
        self, definition: NodeDefinition, parameters: Mapping[str, str] | None = None
    ) -> SqlComputationNode | ContainerComputationNode:
        """Run an ad-hoc computation over data you own and results you may retrieve, without
        adding it to the room; fetch its result from the returned node."""
        names = [node.name for node in self.definition.nodes] + [definition.name]
        node = (
            definition.resolve(names)
            if isinstance(definition, SqlComputeNodeDefinition)
            else definition.node
        )
        if not isinstance(node, SqlNode | PythonNode | RNode | SyntheticNode):
            raise DefinitionError(
                f"a development computation is SQL, Python, R or synthetic data, not {node.kind}"
            )
        runner = (SqlComputationNode if isinstance(node, SqlNode) else ContainerComputationNode)(
            self, node.name
        )
        runner.job_id = self.session.run_development_computation(
            self.id, node, parameters=parameters
        )
        return runner

    def preview_node(
        self, request: SubmittedRequest
    ) -> SqlComputationNode | ContainerComputationNode:
        """A node object for the last computation a request adds (to fetch its preview)."""
        commit = request._verified.commit
        if not commit.nodes:
            raise DefinitionError("the request adds no computation to preview")
        applied = apply_commit(self.definition, commit)
        return _computation(self, applied, commit.nodes[-1].name)

    def participants(self) -> list[str]:
        return self.definition.participant_emails()

    def retrieve_audit_log(self) -> str:
        """The room's audit log, verified against the core's key: one line per event."""
        return self.session.retrieve_audit_log(self.id).log.decode("utf-8")

    def retrieve_published_datasets(self) -> list[dict[str, Any]]:
        return self.session.retrieve_published_datasets(self.id)

    def get_status(self) -> str:
        return self.session.retrieve_data_room_status(self.id)

    def retrieve_privacy_budget(self) -> PrivacyBudget:
        """The room's differential-privacy budget: total, spent and remaining epsilon."""
        return self.session.retrieve_privacy_budget(self.id)

    def retrieve_used_airlock_quotas(self) -> dict[str, AirlockQuotaInfo]:
        """``{preview node: AirlockQuotaInfo(limit, used)}`` for the preview nodes you may run."""
        return self.session.retrieve_used_airlock_quotas(self.id)

    def stop(self) -> None:
        self.session.stop_data_room(self.id)

    def __repr__(self) -> str:
        return f"AnalyticsDcr(id={self.id!r}, name={self.name!r})"
