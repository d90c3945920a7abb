"""The CLI's local pieces: result formats and their conversion, id prefixes, ISO times, the SDK
state directory (platformdirs, the earlier default kept) and the store of submitted jobs."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import stat
from pathlib import Path

import platformdirs
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer

from sealroom.cli._common import _unique, iso_time, iso_time_ms
from sealroom.cli.job_commands import choose_format, convert_arrow
from sealroom.client._state import SubmittedJob, SubmittedJobStore, default_state_dir
from sealroom.compute.sql.ipc import table_to_ipc
from sealroom.crypto import KemPrivateKey
from sealroom.errors import BadRequestError, ConfigurationError, NotFoundError


# -- formats ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("requested", "output", "chosen"),
    [
        (None, None, None),
        (None, "r.parquet", "parquet"),
        (None, "R.PQ", "parquet"),
        (None, "r.json", "json"),
        (None, "r.arrow", "arrow"),
        (None, "r.zip", "zip"),
        (None, "r.txt", None),
        ("JSON", None, "json"),
        ("csv", "r.txt", "csv"),
        ("parquet", "r.parquet", "parquet"),
    ],
)
def test_the_format_follows_format_then_the_suffix(
    requested: str | None, output: str | None, chosen: str | None
) -> None:
    assert choose_format(requested, None if output is None else Path(output)) == chosen


@pytest.mark.parametrize(("requested", "output"), [("xml", None), ("csv", "r.parquet")])
def test_an_unknown_or_contradicted_format_is_a_usage_error(
    requested: str, output: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as exited:
        choose_format(requested, None if output is None else Path(output))
    assert exited.value.exit_code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert err.count("\n") == 1


def typed_table() -> pa.Table:
    return pa.table(
        {
            "region": pa.array(["north", None]),
            "amount": pa.array(
                [decimal.Decimal("12.30"), decimal.Decimal("0.01")], pa.decimal128(10, 2)
            ),
            "ratio": pa.array([float("nan"), 0.5]),
            "day": pa.array([dt.date(2025, 1, 31), None]),
        }
    ).replace_schema_metadata({b"sealroom.note": b"kept"})


def test_parquet_and_arrow_keep_types_values_and_metadata() -> None:
    table = typed_table()
    parquet = pq.read_table(io.BytesIO(convert_arrow(table_to_ipc(table), "parquet")))
    assert parquet.schema.field("amount").type == pa.decimal128(10, 2)
    assert parquet.column("amount").to_pylist() == table.column("amount").to_pylist()
    assert parquet.schema.metadata[b"sealroom.note"] == b"kept"
    with pa.ipc.open_file(pa.BufferReader(convert_arrow(table_to_ipc(table), "arrow"))) as reader:
        arrow = reader.read_all()
    assert arrow.schema.equals(table.schema, check_metadata=True)
    # NaN is not equal to itself: compared as text.
    assert str(arrow.to_pylist()) == str(table.to_pylist())


def test_json_is_one_array_of_rows_with_exact_decimals_iso_dates_and_no_nan() -> None:
    rows = json.loads(convert_arrow(table_to_ipc(typed_table()), "json"))
    assert rows == [
        {"region": "north", "amount": "12.30", "ratio": None, "day": "2025-01-31"},
        {"region": None, "amount": "0.01", "ratio": 0.5, "day": None},
    ]


# -- prefixes and times --------------------------------------------------------------------------
def test_a_prefix_matches_one_id_or_is_refused_naming_the_candidates() -> None:
    ids = ["abcdef01", "abcdef02", "123456ff"]
    assert _unique("123456", ids, "room", "sealroom room list") == "123456ff"
    with pytest.raises(BadRequestError) as ambiguous:
        _unique("abcdef", ids, "room", "sealroom room list")
    assert str(ambiguous.value) == (
        "abcdef is ambiguous: 2 rooms match (abcdef01, abcdef02); give more of the id"
    )
    assert ambiguous.value.code == "ambiguous_room_id"
    with pytest.raises(NotFoundError, match="sealroom room list"):
        _unique("ffffff", ids, "room", "sealroom room list")
    many = [f"abcdef{n:02d}" for n in range(8)]
    with pytest.raises(
        BadRequestError, match=r"8 jobs match \(abcdef00, .*, abcdef04 and 3 more\)"
    ):
        _unique("abcdef", many, "job", "x")


def test_times_are_iso_8601_utc() -> None:
    assert iso_time(0) == "1970-01-01T00:00:00Z"
    assert iso_time(1_738_314_000_250) == "2025-01-31T09:00:00Z"
    assert iso_time(None) == "-"
    assert iso_time_ms(1_738_314_000_007) == "2025-01-31T09:00:00.007Z"


# -- the state directory ---------------------------------------------------------------------------
def test_the_state_directory_sealroom_state_dir_then_the_earlier_default_then_platformdirs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("SEALROOM_STATE_DIR", str(tmp_path / "chosen"))
    assert default_state_dir() == tmp_path / "chosen"
    monkeypatch.delenv("SEALROOM_STATE_DIR")
    assert default_state_dir() == Path(platformdirs.user_data_dir("sealroom", appauthor=False))
    (tmp_path / "data" / "sealroom").mkdir(parents=True)  # a state directory made earlier
    assert default_state_dir() == tmp_path / "data" / "sealroom"


def test_submitted_jobs_are_kept_private_and_read_back(tmp_path: Path) -> None:
    store = SubmittedJobStore(tmp_path / "state")
    key = KemPrivateKey.generate()
    job = SubmittedJob(
        job_id="0123456789abcdef0123456789abcdef",
        room_id="ab" * 32,
        node="totals",
        api_url="http://127.0.0.1:8765",
        email="alice@bank.example",
        submitted_at_ms=1,
        recipient_key=key,
        parameters={"min": "4"},
    )
    path = store.save(job)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = store.load(job.job_id)
    assert loaded is not None
    assert loaded.recipient_key.to_bytes() == key.to_bytes()
    assert (loaded.room_id, loaded.node, dict(loaded.parameters)) == (
        job.room_id,
        "totals",
        {"min": "4"},
    )
    assert store.load("f" * 32) is None
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="unreadable"):
        store.load(job.job_id)
    with pytest.raises(ValueError, match="32 lower-case hex"):
        store.load("../../etc/passwd")


def test_a_state_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ConfigurationError, match="can be written by other users"):
        SubmittedJobStore(shared)
