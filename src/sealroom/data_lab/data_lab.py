"""``DataLabBuilder`` and ``DataLab``: a publisher's audience data, validated, with statistics.

A DataLab is a Sealroom room (see :mod:`sealroom.data_lab.layout`) that only its publisher can
read: the publisher is its owner, the data owner of its tables and the analyst of its two
computations. Everything goes through the server's ordinary room API: publishing the room,
encrypted upload and publication of each dataset (validated by the core), running the SQL
computations, and reading their sealed results.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    SqlComputeNodeDefinition,
    TableDataNodeDefinition,
)
from sealroom.data_lab.jobs import ComputeJob, arrow_rows
from sealroom.data_lab.layout import (
    DEFAULT_MINIMUM_GROUP_SIZE,
    STATISTICS_NODE,
    STATUS_NODE,
    DataLabConfig,
    statistics_query,
    status_query,
    table_layouts,
)
from sealroom.data_lab.reports import ValidationReports
from sealroom.data_lab.statistics import assemble
from sealroom.data_lab.types import (
    DEFAULT_COLLABORATION_TYPES,
    CollaborationType,
    DataLabDatasetType,
    IdentifiersConfig,
    IdType,
    MatchingId,
)
from sealroom.errors import DefinitionError

if TYPE_CHECKING:
    from sealroom.client import Client
    from sealroom.crypto import Key


#: The seed's statistics limits (``StatisticsConfig``): outside them a DataLab is usable but
#: its statistics and media insights are weak, so the enhanced status warns.
QUALITY_LIMITS = {
    "min_segments": 10,
    "max_segments": 2000,
    "max_age_values": 20,
    "max_gender_values": 5,
}


def quality_warnings(config: DataLabConfig, statistics: dict[str, Any]) -> list[dict[str, str]]:
    """Warnings for a statistics report outside :data:`QUALITY_LIMITS`."""
    out: list[dict[str, str]] = []
    basic = statistics["basic_statistics"]
    if config.has_segments:
        n = int(basic["segments"]["distinct_segments"])
        if n < QUALITY_LIMITS["min_segments"]:
            out.append(
                {
                    "code": "FEW_SEGMENTS",
                    "message": f"{n} distinct segments (fewer than "
                    f"{QUALITY_LIMITS['min_segments']}): insights will say little",
                }
            )
        if n > QUALITY_LIMITS["max_segments"]:
            out.append(
                {
                    "code": "MANY_SEGMENTS",
                    "message": f"{n} distinct segments (more than "
                    f"{QUALITY_LIMITS['max_segments']})",
                }
            )
    if config.has_demographics:
        ages = int(basic["demographics"]["distinct_ages"])
        genders = int(basic["demographics"]["distinct_genders"])
        if ages > QUALITY_LIMITS["max_age_values"]:
            out.append({"code": "MANY_AGE_VALUES", "message": f"{ages} distinct ages: use bands"})
        if genders > QUALITY_LIMITS["max_gender_values"]:
            out.append({"code": "MANY_GENDER_VALUES", "message": f"{genders} distinct genders"})
    return out


class DataLab:
    """A published DataLab. Obtain one from :class:`DataLabBuilder` (``build`` or
    ``from_existing``)."""

    def __init__(self, client: Client, dcr: AnalyticsDcr, config: DataLabConfig) -> None:
        self.client = client
        self.dcr = dcr
        self.config = config
        self._statistics_job: ComputeJob | None = None
        self._status_job: ComputeJob | None = None

    @property
    def id(self) -> str:
        return self.dcr.id

    @property
    def data_lab_id(self) -> str:
        return self.dcr.id

    # -- provisioning -----------------------------------------------------------------------
    def _check_type(self, dataset_type: DataLabDatasetType) -> str:
        if dataset_type not in self.config.datasets:
            raise DefinitionError(f"this DataLab has no {dataset_type.node} dataset")
        return dataset_type.node

    def provision_local_datasets(
        self,
        key: Key,
        matching_data_path: str | Path,
        segments_data_path: str | Path | None = None,
        demographics_data_path: str | Path | None = None,
        embeddings_data_path: str | Path | None = None,
    ) -> None:
        """Check each file on this machine, encrypt it, upload it and publish it to its table;
        the core validates it again (dropping invalid rows unless that was disabled).

        Pipelined: while the core validates and publishes one file, the next is checked,
        encrypted and uploaded here. Files are published one at a time, in the order of the
        arguments, and none after the first failure (here or in the core), which is raised as
        it would be without the pipeline, with a note naming the datasets provisioned before
        it. A file uploaded ahead of a failure is deleted from the server, unpublished.
        """
        paths = {
            DataLabDatasetType.MATCH: matching_data_path,
            DataLabDatasetType.SEGMENTS: segments_data_path,
            DataLabDatasetType.DEMOGRAPHICS: demographics_data_path,
            DataLabDatasetType.EMBEDDINGS: embeddings_data_path,
        }
        # Every dataset is known to the DataLab before any file is read.
        files = [
            (self._check_type(dataset_type), Path(path))
            for dataset_type, path in paths.items()
            if path is not None
        ]
        self._statistics_job = self._status_job = None
        provisioned: list[str] = []
        try:
            self._provision_pipelined(key, files, provisioned)
        except Exception as error:
            left = [node for node, _ in files if node not in provisioned]
            error.add_note(
                f"DataLab {self.id}: provisioned before this error: "
                f"{', '.join(provisioned) or 'none'}; not provisioned: {', '.join(left)}"
            )
            raise

    def _provision_pipelined(
        self, key: Key, files: list[tuple[str, Path]], provisioned: list[str]
    ) -> None:
        """:meth:`provision_local_datasets`: this thread checks and uploads file k+1 while one
        worker publishes file k; ``provisioned`` receives each table once its publication
        passed."""
        from concurrent.futures import Future, ThreadPoolExecutor

        from sealroom.analytics.provisioning import (
            ProvisionedTable,
            prepare_table,
            publish_table,
            upload_table,
        )
        from sealroom.errors import SealroomError
        from sealroom.model.definition import TableNode

        publishing: tuple[str, Future[ProvisionedTable]] | None = None
        ahead: str | None = None  # uploaded, not handed to the publisher yet

        def settle() -> None:
            """Wait for the publication in flight; raise its error (the core's answer)."""
            nonlocal publishing
            if publishing is not None:
                node, future = publishing
                publishing = None
                future.result()
                provisioned.append(node)

        # One worker: one publication at a time, in the order they were handed over.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="datalab-publish") as core:
            try:
                for node, path in files:
                    table = self.dcr.definition.node(node)
                    assert isinstance(table, TableNode)
                    try:
                        # The core's report has every count: here, only what would make
                        # the core refuse the file (the CLI shows the full local report).
                        prepared = prepare_table(path, table.schema_, outcome_only=True)
                        prepared.check()
                    except SealroomError as error:
                        error.add_note(f"table {node!r}, file {path}")
                        raise
                    if publishing is not None and publishing[1].done():
                        settle()  # the core refused the previous file: upload nothing more
                    uploaded = upload_table(
                        self.client, prepared, key, f"{self.config.name} {node}"
                    )
                    ahead = uploaded.dataset_id
                    settle()
                    publishing = (
                        node,
                        core.submit(
                            publish_table,
                            self.dcr.session,
                            self.id,
                            node,
                            uploaded,
                            key,
                            replace=True,
                        ),
                    )
                    ahead = None
                settle()
            except Exception as error:
                if ahead is not None:
                    try:
                        self.client.delete_dataset(ahead)
                    except SealroomError as failure:
                        error.add_note(
                            f"dataset {ahead}, uploaded ahead of the failure and not published, "
                            f"could not be deleted: {failure}"
                        )
                # The file before this one comes first, as without the pipeline: its
                # publication's failure is the one raised (with this error as its context).
                settle()
                raise

    def provision_dataset(
        self, manifest_hash: str, key: Key, dataset_type: DataLabDatasetType
    ) -> None:
        """Publish an already uploaded dataset (its id) to the table of ``dataset_type``."""
        node = self._check_type(dataset_type)
        self.dcr.session.publish_dataset(self.id, manifest_hash, node, key, force=True)
        self._statistics_job = self._status_job = None

    def deprovision_dataset(self, dataset_type: DataLabDatasetType) -> None:
        self.dcr.session.remove_published_dataset(self.id, self._check_type(dataset_type))
        self._statistics_job = self._status_job = None

    # -- jobs ---------------------------------------------------------------------------------
    def _new_statistics_job(self) -> ComputeJob:
        config = self.config

        def parse(data: bytes) -> dict[str, Any]:
            rows = [(str(m), str(i), str(k), float(v)) for m, i, k, v in arrow_rows(data)]
            return assemble(config, rows, self._reports())

        return ComputeJob(self.dcr, STATISTICS_NODE, "statistics.json", parse)

    def _new_status_job(self) -> ComputeJob:
        def parse(data: bytes) -> dict[str, Any]:
            counts = {str(d): int(n) for d, n in arrow_rows(data)}
            reports = self._reports()
            datasets: dict[str, Any] = {}
            ok = True
            for dataset in self.config.datasets:
                outcome = reports[dataset.node].get("report", {}).get("outcome")
                rows = counts.get(dataset.node, 0)
                # Identifiers and segments must not be empty after validation (the seed's rule).
                must_have_rows = dataset in (DataLabDatasetType.MATCH, DataLabDatasetType.SEGMENTS)
                passed = outcome == "PASSED" and (rows > 0 or not must_have_rows)
                ok = ok and passed
                datasets[dataset.node] = {"validation": outcome, "valid_rows": rows}
            return {"status": "SUCCESS" if ok else "FAILED", "datasets": datasets}

        return ComputeJob(self.dcr, STATUS_NODE, "validation-status.json", parse)

    def run(self) -> None:
        """Start the statistics and validation-status computations; does not wait."""
        self._statistics_job = self._new_statistics_job()
        self._statistics_job.run()
        self._status_job = self._new_status_job()
        self._status_job.run()

    def _reports(self) -> dict[str, dict[str, Any]]:
        return {
            dataset.node: self.dcr.session.get_validation_report(self.id, dataset.node)
            for dataset in self.config.datasets
        }

    def get_validation_reports(self) -> ValidationReports:
        reports = self._reports()
        return ValidationReports(
            identifiers=reports["matching"],
            segments=reports.get("segments"),
            demographics=reports.get("demographics"),
            embeddings=reports.get("embeddings"),
        )

    def get_validation_report(self, timeout: float | None = None) -> dict[str, Any]:
        """``{dataset: the core's validation report}`` of every dataset of this DataLab
        (``identifiers``, and ``segments``, ``demographics``, ``embeddings`` as configured).
        The core validates at publication, so nothing is waited for."""
        return self.get_validation_reports().model_dump()

    def is_validation_passed(self, validation_report: dict[str, Any]) -> bool:
        return all(
            report.get("report", {}).get("outcome") == "PASSED"
            for report in validation_report.values()
        )

    def get_validation_status(self, timeout: float | None = None) -> dict[str, Any]:
        """``{"status": SUCCESS|FAILED, "datasets": {node: {validation, valid_rows}}}``:
        success when every report passed and identifiers and segments kept rows."""
        if self._status_job is None:
            self._status_job = self._new_status_job()
            self._status_job.run()
        status: dict[str, Any] = self._status_job.wait_for_completion(timeout).result()
        return status

    def get_enhanced_validation_status(self, timeout: float | None = None) -> dict[str, Any]:
        """:meth:`get_validation_status`, plus each dataset's invalid rows by reason and the
        statistics' data errors and quality warnings (:data:`QUALITY_LIMITS`): what a publisher
        should fix before a media room uses the DataLab. ``status`` is FAILED when validation
        failed or the statistics report data errors; warnings do not fail it."""
        status = self.get_validation_status(timeout)
        statistics = self.get_statistics_report(timeout)
        reports = self._reports()
        for node, entry in status["datasets"].items():
            body = reports[node].get("report", {})
            entry["invalid_rows_by_reason"] = dict(body.get("numInvalidRowsByErrorCode", {}))
        warnings = list(statistics["quality_warnings"]) + quality_warnings(self.config, statistics)
        errors = list(statistics["data_errors"])
        return {
            "status": "SUCCESS" if status["status"] == "SUCCESS" and not errors else "FAILED",
            "datasets": status["datasets"],
            "data_errors": errors,
            "quality_warnings": warnings,
        }

    @staticmethod
    def is_data_lab_validated(client: Client, data_lab_id: str) -> bool:
        """Whether the DataLab ``data_lab_id`` (which ``client`` must be able to open) has every
        dataset published and validated."""
        lab = DataLabBuilder(client).from_existing(data_lab_id).build()
        published = {d["node"] for d in lab.dcr.retrieve_published_datasets()}
        if any(d.node not in published for d in lab.config.datasets):
            return False
        return bool(lab.get_validation_status()["status"] == "SUCCESS")

    def get_statistics_job(self) -> ComputeJob:
        if self._statistics_job is None:
            self._statistics_job = self._new_statistics_job()
            self._statistics_job.run()
        return self._statistics_job

    def get_statistics_report(self, timeout: float | None = None) -> dict[str, Any]:
        """The statistics report (``StatisticsResultV2``'s shape; what it releases is in
        :mod:`sealroom.data_lab.layout`), waiting for the computation run by :meth:`run`, or
        starting one."""
        report: dict[str, Any] = self.get_statistics_job().wait_for_completion(timeout).result()
        return report

    def are_statistics_shared_with_others(self) -> bool:
        """Whether anyone but the publisher can read the statistics: never. The room has one
        participant and every result is sealed to the session that asked for it; no operator
        (the seed's "DQ") receives anything."""
        return False

    def is_statistics_shared_with_dq(self) -> bool:
        """The seed's name for :meth:`are_statistics_shared_with_others`."""
        return self.are_statistics_shared_with_others()

    def get(self) -> dict[str, Any]:
        """The DataLab's definition: id, publisher, configuration, and published datasets."""
        return {
            "id": self.id,
            "publisherEmail": self.dcr.definition.owner,
            **self.config.to_dict(),
            "datasets": self.dcr.retrieve_published_datasets(),
        }

    def __repr__(self) -> str:
        return f"DataLab(id={self.id!r}, name={self.config.name!r})"


class DataLabBuilder:
    """Builds a DataLab (the seed's builder, same method names)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._name = ""
        self._num_identifiers_columns: int | None = None
        self._identifiers: list[IdentifiersConfig] | None = None
        self._matching_id: MatchingId | None = None
        self._segments = False
        self._demographics = False
        self._num_embeddings = 0
        self._collaboration_types: list[CollaborationType] = list(DEFAULT_COLLABORATION_TYPES)
        self._drop_invalid_rows = True
        self._minimum_group_size = DEFAULT_MINIMUM_GROUP_SIZE
        self._existing: str | None = None

    def with_name(self, name: str) -> Self:
        self._name = name
        return self

    def with_num_identifiers_columns(self, num_identifiers_columns: int) -> Self:
        if num_identifiers_columns < 1:
            raise DefinitionError("the identifiers dataset needs at least one column")
        self._num_identifiers_columns = num_identifiers_columns
        return self

    def with_identifiers_config(self, identifiers_config: list[IdentifiersConfig]) -> Self:
        """The identifiers dataset's columns, in order; the first is the user id."""
        self._identifiers = list(identifiers_config)
        return self

    def with_matching_id_format(self, matching_id: MatchingId) -> Self:
        """Deprecated shim: the default two columns (user id, this matching id)."""
        self._matching_id = matching_id
        return self

    def with_segments(self) -> Self:
        self._segments = True
        return self

    def with_demographics(self) -> Self:
        self._demographics = True
        return self

    def with_embeddings(self, num_embeddings: int) -> Self:
        self._num_embeddings = num_embeddings
        return self

    def with_collaboration_types(self, collaboration_types: list[CollaborationType]) -> Self:
        types = list(dict.fromkeys(collaboration_types))
        if CollaborationType.OVERLAP not in types:
            types.append(CollaborationType.OVERLAP)  # always there, as in the seed
        self._collaboration_types = types
        return self

    def with_disable_drop_invalid_rows(self) -> Self:
        """Refuse a file with any invalid row instead of dropping the rows."""
        self._drop_invalid_rows = False
        return self

    def with_minimum_group_size(self, minimum_group_size: int) -> Self:
        """Group counts of the statistics (users per segment, per age and gender …) cover at
        least this many users, or are left out (default 10)."""
        self._minimum_group_size = minimum_group_size
        return self

    def from_existing(self, data_lab_id: str) -> Self:
        self._existing = data_lab_id
        return self

    def _config(self) -> DataLabConfig:
        identifiers = self._identifiers
        if identifiers is None:
            id_type = self._matching_id.id_type if self._matching_id else IdType.STRING
            identifiers = [
                IdentifiersConfig("userId", IdType.STRING, False, True),
                IdentifiersConfig("matchingId", id_type, True, False),
            ]
        config = DataLabConfig(
            name=self._name,
            has_demographics=self._demographics,
            has_embeddings=self._num_embeddings > 0,
            num_embeddings=self._num_embeddings,
            has_segments=self._segments,
            num_identifiers_columns=self._num_identifiers_columns or len(identifiers),
            identifiers_config=tuple(identifiers),
            collaboration_types=tuple(self._collaboration_types),
            drop_invalid_rows=self._drop_invalid_rows,
            minimum_group_size=self._minimum_group_size,
        )
        config.check()
        return config

    def build(self) -> DataLab:
        """Publish the DataLab's room (or, after :meth:`from_existing`, open it, verified)."""
        if self._existing is not None:
            dcr = self.client.retrieve_analytics_dcr(self._existing)
            return DataLab(
                self.client, dcr, DataLabConfig.from_description(dcr.definition.description)
            )
        config = self._config()
        publisher = self.client.user_email
        builder = (
            AnalyticsDcrBuilder(client=self.client)
            .with_name(config.name)
            .with_description(config.description())
            .with_owner(publisher)
        )
        tables = []
        for dataset, (columns, unique) in table_layouts(config).items():
            builder.add_node_definition(
                TableDataNodeDefinition(
                    name=dataset.node,
                    columns=columns,
                    is_required=True,
                    drop_invalid_rows=config.drop_invalid_rows,
                    unique_column_combinations=unique,
                )
            )
            tables.append(dataset.node)
        for name, query in (
            (STATISTICS_NODE, statistics_query(config)),
            (STATUS_NODE, status_query(config)),
        ):
            builder.add_node_definition(
                SqlComputeNodeDefinition(name=name, query=query, dependencies=tables)
            )
        builder.add_participant(
            publisher, data_owner_of=tables, analyst_of=[STATISTICS_NODE, STATUS_NODE]
        )
        dcr = self.client.publish_analytics_dcr(builder.build())
        return DataLab(self.client, dcr, config)
