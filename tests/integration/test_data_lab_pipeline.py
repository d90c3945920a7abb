"""Provisioning in two steps (upload, then publish) and the DataLab's pipelined provisioning,
against the real app and its core, in-process.

The SDK talks to the app through a transport that records the requests and can hold the first
publication until the next file's upload is complete: were the files sent one after the other,
that upload would never come (the test then fails on its timeout instead of hanging). Where the
core must refuse a file the SDK accepted, the core is configured with a stricter row limit than
the SDK's own check (the real core's validation, with its own limits).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

import sealroom as sr
from sealroom.analytics.provisioning import prepare_table, publish_table, upload_table
from sealroom.data_lab import DataLab, DataLabBuilder, IdentifiersConfig, IdType
from sealroom.errors import BadRequestError, DatasetRejectedError, DefinitionError
from sealroom.model.definition import TableNode
from sealroom.server import platform as server_platform
from sealroom.server.app import create_app
from sealroom.validation import ValidationLimits
from tests.integration.conftest import BANK, InProcessPlatform, make_settings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: The strict core's row limit: the identifiers file has more rows, the others fewer.
CORE_MAX_ROWS = 30
HELD_SECONDS = 30.0


class Recorder(httpx.BaseTransport):
    """The app's transport; records publications and completed uploads, and holds the
    publication of ``hold`` until the next upload is complete (or ``HELD_SECONDS``)."""

    def __init__(self, inner: httpx.BaseTransport, hold: str | None = None) -> None:
        self.inner = inner
        self.hold = hold
        self.events: list[str] = []
        self.next_upload_done = threading.Event()
        self._lock = threading.Lock()
        self._uploads = 0

    def _event(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        publication = request.method == "PUT" and path.endswith("/dataset")
        node = path.split("/")[-2] if publication else ""
        if publication:
            self._event(f"publish {node}")
            if node == self.hold:
                held = self.next_upload_done.wait(HELD_SECONDS)
                self._event(f"released {node}" if held else f"timed out {node}")
        response = self.inner.handle_request(request)
        if request.method == "POST" and path.endswith("/complete"):
            with self._lock:
                self._uploads += 1
                self.events.append(f"upload {self._uploads} complete")
                if self.hold is not None and self._uploads == 2:
                    self.next_upload_done.set()
        if publication:
            self._event(f"published {node}")
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def strict_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InProcessPlatform]:
    """The real app whose core refuses a table of more than ``CORE_MAX_ROWS`` rows."""
    configure = server_platform.core_config

    def stricter(*args: object, **kwargs: object) -> object:
        config = configure(*args, **kwargs)  # type: ignore[arg-type]
        limits = ValidationLimits(max_rows=CORE_MAX_ROWS)
        return dataclasses.replace(
            config, settings=dataclasses.replace(config.settings, validation=limits)
        )

    monkeypatch.setattr(server_platform, "core_config", stricter)
    with TestClient(create_app(make_settings(tmp_path))) as test_client:
        yield InProcessPlatform(make_settings(tmp_path), test_client)


#: A user id that is the activation id, and an e-mail that matches.
IDENTIFIERS = [
    IdentifiersConfig("userId", IdType.STRING, False, True),
    IdentifiersConfig("email", IdType.EMAIL, True, False),
]


def client_for(platform: InProcessPlatform, recorder: Recorder) -> sr.Client:
    return sr.create_client(
        BANK, platform.token(BANK), api_url="http://testserver", transport=recorder
    )


def build_lab(client: sr.Client) -> DataLab:
    return (
        DataLabBuilder(client)
        .with_name("pipeline")
        .with_identifiers_config(IDENTIFIERS)
        .with_segments()
        .with_demographics()
        .build()
    )


def write_files(root: Path, *, id_rows: int = 20, segments_header: str = "") -> dict[str, Path]:
    """Identifiers (``id_rows`` rows), segments and demographics (20 rows each), all valid
    unless ``segments_header`` is a header the table's columns do not match."""
    files = {
        "matching": "".join(f"u{u},user{u}@mail.example\n" for u in range(id_rows)),
        "segments": segments_header + "".join(f"u{u},s{u % 3}\n" for u in range(20)),
        "demographics": "".join(f"u{u},25-34,{'fm'[u % 2]}\n" for u in range(20)),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = root / f"{name}.csv"
        paths[name].write_text(text)
    return paths


def provision(lab: DataLab, paths: dict[str, Path]) -> None:
    lab.provision_local_datasets(
        sr.Key(),
        paths["matching"],
        segments_data_path=paths["segments"],
        demographics_data_path=paths["demographics"],
    )


def published(lab: DataLab) -> dict[str, str]:
    """``{node: dataset id}`` of what the room has published."""
    return {d["node"]: d["dataset_id"] for d in lab.dcr.retrieve_published_datasets()}


def outcome(lab: DataLab, node: str) -> str:
    report = lab.dcr.session.get_validation_report(lab.id, node)
    return str(report["report"]["outcome"])


def notes(error: BaseException) -> str:
    return "\n".join(getattr(error, "__notes__", []))


# -- the two steps ------------------------------------------------------------------------------


def test_an_uploaded_table_is_published_only_by_the_second_step(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    recorder = Recorder(app_platform.transport)
    client = client_for(app_platform, recorder)
    lab = build_lab(client)
    paths = write_files(tmp_path)
    table = lab.dcr.definition.node("matching")
    assert isinstance(table, TableNode)
    prepared = prepare_table(paths["matching"], table.schema_)

    uploaded = upload_table(client, prepared, sr.Key(), "ids")
    assert [d["id"] for d in client.get_available_datasets()] == [uploaded.dataset_id]
    assert published(lab) == {}
    assert not any(event.startswith("publish") for event in recorder.events)

    # Publishing needs the key the file was encrypted with: another one is refused.
    with pytest.raises(BadRequestError, match="not the key it was encrypted with"):
        publish_table(lab.dcr.session, lab.id, "matching", uploaded, sr.Key())
    assert published(lab) == {}


def test_upload_then_publish_provisions_the_table(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    client = client_for(app_platform, Recorder(app_platform.transport))
    lab = build_lab(client)
    paths = write_files(tmp_path)
    table = lab.dcr.definition.node("matching")
    assert isinstance(table, TableNode)
    key = sr.Key()
    uploaded = upload_table(client, prepare_table(paths["matching"], table.schema_), key, "ids")
    provisioned = publish_table(lab.dcr.session, lab.id, "matching", uploaded, key)
    assert provisioned.dataset_id == uploaded.dataset_id
    assert provisioned.report is not None
    assert provisioned.report["report"]["outcome"] == "PASSED"
    assert published(lab) == {"matching": uploaded.dataset_id}


def test_a_file_refused_locally_is_not_uploaded(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    client = client_for(app_platform, Recorder(app_platform.transport))
    lab = build_lab(client)
    table = lab.dcr.definition.node("matching")
    assert isinstance(table, TableNode)
    bad = tmp_path / "bad.csv"
    bad.write_text("u1,ann@mail.example\nu2,not an e-mail\n")
    prepared = prepare_table(bad, table.schema_, max_dropped_share=0.0)
    with pytest.raises(DatasetRejectedError) as refused:
        upload_table(client, prepared, sr.Key(), "bad")
    assert refused.value.stage == "local"
    assert client.get_available_datasets() == []


def test_publish_raises_the_cores_refusal_with_its_report(
    strict_core: InProcessPlatform, tmp_path: Path
) -> None:
    client = client_for(strict_core, Recorder(strict_core.transport))
    lab = build_lab(client)
    paths = write_files(tmp_path, id_rows=CORE_MAX_ROWS + 10)
    table = lab.dcr.definition.node("matching")
    assert isinstance(table, TableNode)
    key = sr.Key()
    prepared = prepare_table(paths["matching"], table.schema_)
    assert prepared.problem is None  # the SDK's own check accepts it
    uploaded = upload_table(client, prepared, key, "ids")
    with pytest.raises(DatasetRejectedError) as refused:
        publish_table(lab.dcr.session, lab.id, "matching", uploaded, key)
    error = refused.value
    assert error.stage == "core"
    assert "'matching'" in str(error)
    assert error.dataset_id == uploaded.dataset_id
    assert error.report is not None
    assert error.report["report"]["outcome"] == "FAILED"


# -- the pipeline -------------------------------------------------------------------------------


def test_the_next_file_is_uploaded_while_the_core_validates_the_previous(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    recorder = Recorder(app_platform.transport, hold="matching")
    lab = build_lab(client_for(app_platform, recorder))
    provision(lab, write_files(tmp_path))

    # The segments file's upload completed while the identifiers' publication was held.
    assert recorder.events.index("upload 2 complete") < recorder.events.index("released matching")
    assert "timed out matching" not in recorder.events
    # Published one at a time, in the order of the arguments.
    publications = [e for e in recorder.events if e.startswith(("publish ", "published "))]
    assert publications == [
        "publish matching",
        "published matching",
        "publish segments",
        "published segments",
        "publish demographics",
        "published demographics",
    ]
    assert set(published(lab)) == {"matching", "segments", "demographics"}
    assert {node: outcome(lab, node) for node in published(lab)} == dict.fromkeys(
        ("matching", "segments", "demographics"), "PASSED"
    )
    assert lab.get_validation_status()["status"] == "SUCCESS"


def test_a_local_failure_of_the_second_file_leaves_the_first_published(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    recorder = Recorder(app_platform.transport)
    client = client_for(app_platform, recorder)
    lab = build_lab(client)
    paths = write_files(tmp_path, segments_header="user_id,sgement\n")
    with pytest.raises(DatasetRejectedError) as refused:
        provision(lab, paths)
    error = refused.value
    assert error.stage == "local"
    assert "'sgement'" in str(error)
    assert f"table 'segments', file {paths['segments']}" in notes(error)
    # The identifiers' publication, in flight when the check failed, was waited for.
    assert "provisioned before this error: matching; not provisioned: segments, demographics" in (
        notes(error)
    )
    assert set(published(lab)) == {"matching"}
    assert outcome(lab, "matching") == "PASSED"
    # Nothing of the segments or demographics files was sent.
    assert len(client.get_available_datasets()) == 1
    assert sum(e.endswith("complete") for e in recorder.events) == 1


def test_a_core_failure_of_the_first_file_stops_the_rest(
    strict_core: InProcessPlatform, tmp_path: Path
) -> None:
    # The identifiers' publication is held until the segments file is uploaded: it is then
    # uploaded ahead of the failure, and must be deleted, never published.
    recorder = Recorder(strict_core.transport, hold="matching")
    client = client_for(strict_core, recorder)
    lab = build_lab(client)
    with pytest.raises(DatasetRejectedError) as refused:
        provision(lab, write_files(tmp_path, id_rows=CORE_MAX_ROWS + 10))
    error = refused.value
    assert error.stage == "core"
    assert "'matching'" in str(error)
    assert error.report is not None
    assert error.report["report"]["outcome"] == "FAILED"
    assert "provisioned before this error: none" in notes(error)
    assert "released matching" in recorder.events
    assert not any(e in recorder.events for e in ("publish segments", "publish demographics"))
    # The failed identifiers are published (replace=True publishes a failing table, as before),
    # nothing after them is; the segments' upload is gone; the demographics were never sent.
    assert set(published(lab)) == {"matching"}
    assert [d["id"] for d in client.get_available_datasets()] == [error.dataset_id]
    assert sum(e.endswith("complete") for e in recorder.events) == 2


def test_the_first_files_core_failure_comes_before_the_next_files_local_failure(
    strict_core: InProcessPlatform, tmp_path: Path
) -> None:
    client = client_for(strict_core, Recorder(strict_core.transport))
    lab = build_lab(client)
    paths = write_files(tmp_path, id_rows=CORE_MAX_ROWS + 10, segments_header="user_id,x\n")
    with pytest.raises(DatasetRejectedError) as refused:
        provision(lab, paths)
    # As without the pipeline: the identifiers' refusal, then (its context) the segments'.
    assert refused.value.stage == "core"
    assert "'matching'" in str(refused.value)
    context = refused.value.__context__
    assert isinstance(context, DatasetRejectedError)
    assert context.stage == "local"
    assert set(published(lab)) == {"matching"}


def test_an_unknown_dataset_is_refused_before_any_file_is_read(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    recorder = Recorder(app_platform.transport)
    client = client_for(app_platform, recorder)
    lab = (
        DataLabBuilder(client)
        .with_name("identifiers only")
        .with_identifiers_config(IDENTIFIERS)
        .build()
    )
    paths = write_files(tmp_path)
    with pytest.raises(DefinitionError, match="no segments dataset"):
        lab.provision_local_datasets(
            sr.Key(), paths["matching"], segments_data_path=paths["segments"]
        )
    assert client.get_available_datasets() == []


# -- what the DataLab checks locally ------------------------------------------------------------


def test_rows_that_would_only_be_dropped_are_left_to_the_core(
    app_platform: InProcessPlatform, tmp_path: Path
) -> None:
    lab = build_lab(client_for(app_platform, Recorder(app_platform.transport)))
    paths = write_files(tmp_path)
    # A bad e-mail, a repeated key and a short record: all dropped by the core, none refused.
    with paths["matching"].open("a") as file:
        file.write("u90,not an e-mail\nu0,user0@mail.example\nu91\n")
    provision(lab, paths)
    report = lab.dcr.session.get_validation_report(lab.id, "matching")["report"]
    assert report["outcome"] == "PASSED"
    assert report["numInvalidRowsByErrorCode"] == {
        "INVALID_EMAIL_FORMAT": 1,
        "DUPLICATE_VALUES": 1,
        "NOT_ENOUGH_COLUMNS_PROVIDED": 1,
    }
    assert report["dropInvalidRows"] == {"numInvalidRowsDropped": 3, "numRowsRemaining": 20}


@pytest.mark.parametrize("drop", [True, False])
def test_a_file_the_core_would_refuse_is_refused_before_upload(
    app_platform: InProcessPlatform, tmp_path: Path, drop: bool
) -> None:
    recorder = Recorder(app_platform.transport)
    client = client_for(app_platform, recorder)
    builder = DataLabBuilder(client).with_name("local check").with_identifiers_config(IDENTIFIERS)
    lab = (builder if drop else builder.with_disable_drop_invalid_rows()).build()
    ids = tmp_path / "ids.csv"
    # With rows dropped, only a file-level error (here an unterminated quote) fails the file;
    # with rows kept, a bad cell does.
    ids.write_text('u1,"ann@mail.example\n' if drop else "u1,ann@mail.example\nu2,not an e-mail\n")
    with pytest.raises(DatasetRejectedError) as refused:
        lab.provision_local_datasets(sr.Key(), ids)
    assert refused.value.stage == "local"
    assert client.get_available_datasets() == []
    assert not any(e.endswith("complete") for e in recorder.events)
