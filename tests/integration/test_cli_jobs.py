"""The command line the way data people use it, against a real ``sealroom serve`` (issue 18,
items 4 and 5): ``run --param/--format/--timeout``, ``job list|result``, id prefixes, ``--json``,
ISO times, one exit-code convention, one warning line, a token of another account refused,
``--version`` and the data-directory check of ``user``.

One server for the module (each test publishes its own room); every CLI run has its own SDK
state directory under the module's temporary directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    AnalyticsDcrDefinition,
    Column,
    FormatType,
    PythonComputeNodeDefinition,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.errors import AuthenticationError
from tests.integration.conftest import (
    BANK,
    INSURER,
    OUTSIDER,
    ServerProcess,
    run_cli,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

Cli = Callable[..., subprocess.CompletedProcess[str]]

ISO_SECOND = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
QUERY = (
    "SELECT region, SUM(amount) AS total FROM sales "
    "WHERE amount >= CAST($min AS INTEGER) GROUP BY region ORDER BY region"
)
SALES = b"north,10\nsouth,3\nnorth,5\n"
#: Long enough for `run --timeout 1` to give up first, short enough for a test.
SLOW_SCRIPT = "import time\ntime.sleep(6)\nopen('/output/done.txt', 'w').write('done')\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("cli-jobs"))
    yield started
    stop_server(started)


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str]:
    return {email: server.add_user(email) for email in (BANK, INSURER, OUTSIDER)}


def _as(server: ServerProcess, tokens: dict[str, str], email: str, state: Path) -> Cli:
    """The CLI as ``email`` (by the environment variables), with its own SDK state."""
    env = {
        **server.env,
        "SEALROOM_API_URL": server.url,
        "SEALROOM_EMAIL": email,
        "SEALROOM_API_TOKEN": tokens[email],
        "SEALROOM_STATE_DIR": str(state),
    }
    return lambda *args, check=True: run_cli(*args, env=env, check=check)


def _definition(client: sr.Client, name: str) -> AnalyticsDcrDefinition:
    builder = AnalyticsDcrBuilder(client=client).with_name(name).with_owner(BANK)
    builder.add_node_definition(
        TableDataNodeDefinition(
            name="sales",
            columns=[
                Column(name="region", format_type=FormatType.STRING, is_nullable=False),
                Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False),
            ],
            is_required=True,
        )
    )
    builder.add_node_definition(
        SqlComputeNodeDefinition(
            name="totals", query=QUERY, dependencies=["sales"], parameters=["min"]
        )
    )
    builder.add_node_definition(
        PythonComputeNodeDefinition(name="slow", script=SLOW_SCRIPT, dependencies=["sales"])
    )
    builder.add_participant(BANK, data_owner_of=["sales"], analyst_of=["totals", "slow"])
    builder.add_participant(INSURER)
    return builder.build()


def _publish(client: sr.Client, definition: AnalyticsDcrDefinition) -> str:
    dcr = client.publish_analytics_dcr(definition)
    sales = dcr.get_node("sales")
    assert isinstance(sales, TableDataNode)
    sales.upload_and_publish_dataset(io.BytesIO(SALES), sr.Key(), "sales.csv")
    return dcr.id


def _room(server: ServerProcess, tokens: dict[str, str], name: str) -> str:
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    return _publish(bank, _definition(bank, name))


def _one_error(
    result: subprocess.CompletedProcess[str], status: int, message: str, *, notes: bool = False
) -> None:
    """``status``, nothing on stdout, and ``error: …message…`` as the last line of stderr,
    after at most the one warning line (or, with ``notes``, other notes); never a traceback."""
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    lines = result.stderr.rstrip("\n").splitlines()
    assert lines[-1].startswith("error: "), result.stderr
    assert message in lines[-1], result.stderr
    assert notes or all(line.startswith("warning: ") for line in lines[:-1]), result.stderr
    assert "Traceback" not in result.stderr


# -- run: parameters and formats ----------------------------------------------------------------
def test_run_passes_parameters_and_writes_every_format(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    room = _room(server, tokens, "formats")
    cli = _as(server, tokens, BANK, tmp_path / "state")

    csv = cli("run", room, "totals", "--param", "min=4")
    assert csv.stdout == "region,total\nnorth,15\n"
    # The simulated-attestation warning: one clean line, once, without Python's source line.
    warnings = [line for line in csv.stderr.splitlines() if "SIMULATED" in line]
    assert len(warnings) == 1, csv.stderr
    assert warnings[0].startswith("warning: The Sealroom core uses a SIMULATED attestation")
    assert "warn_explicit" not in csv.stderr
    assert "verify.py" not in csv.stderr

    # Without --format the suffix decides; the values are the same in every format.
    cli("run", room, "totals", "-p", "min=0", "--output", str(tmp_path / "t.parquet"))
    assert pq.read_table(tmp_path / "t.parquet").to_pylist() == [
        {"region": "north", "total": 15},
        {"region": "south", "total": 3},
    ]
    cli("run", room, "totals", "-p", "min=0", "-o", str(tmp_path / "t.arrow"))
    with pa.ipc.open_file(tmp_path / "t.arrow") as reader:
        assert reader.read_all().column("total").to_pylist() == [15, 3]
    as_json = cli("run", room, "totals", "-p", "min=4", "--format", "json")
    assert json.loads(as_json.stdout) == [{"region": "north", "total": 15}]
    cli("run", room, "totals", "-p", "min=4", "--format", "json", "-o", str(tmp_path / "t.txt"))
    assert json.loads((tmp_path / "t.txt").read_text()) == [{"region": "north", "total": 15}]

    # --json prints the run's metadata, one document.
    meta = json.loads(
        cli("run", room, "totals", "-p", "min=4", "-o", str(tmp_path / "m.csv"), "--json").stdout
    )
    assert (tmp_path / "m.csv").read_text() == "region,total\nnorth,15\n"
    assert meta["room_id"] == room
    assert meta["node"] == "totals"
    assert meta["parameters"] == {"min": "4"}
    assert meta["status"] == "succeeded"
    assert meta["format"] == "csv"
    assert re.fullmatch(r"[0-9a-f]{32}", meta["job_id"])

    # A missing parameter is the core's refusal: status 1.
    _one_error(cli("run", room, "totals", check=False), 1, "min")


def test_usage_errors_exit_2_before_anything_is_submitted(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    room = _room(server, tokens, "usage")
    cli = _as(server, tokens, BANK, tmp_path / "state")
    out = str(tmp_path / "x.parquet")
    _one_error(cli("run", room, "totals", "--format", "xml", check=False), 2, "unknown format")
    _one_error(
        cli("run", room, "totals", "--format", "csv", "-o", out, check=False),
        2,
        f"--output {out} names a parquet file, but --format is csv",
    )
    _one_error(cli("run", room, "totals", "--param", "min", check=False), 2, "NAME=VALUE")
    _one_error(cli("run", room, "totals", "-p", "min=1", "-p", "min=2", check=False), 2, "twice")
    _one_error(cli("run", room, "totals", "-p", "min=1", "--json", check=False), 2, "--output")
    _one_error(cli("run", "not-hex!", "totals", check=False), 2, "is not a room id")
    # Nothing of the above reached the core.
    assert json.loads(cli("job", "list", room, "--json").stdout) == []

    # A missing file is one line with status 2 (main's handler; dataset upload is one case).
    missing = cli(
        "dataset", "upload", str(tmp_path / "nofile.csv"), "--key-file",
        str(tmp_path / "k.key"), check=False,
    )  # fmt: skip
    _one_error(missing, 2, "nofile.csv", notes=True)
    _one_error(
        cli("audit", "verify", str(tmp_path / "nothing.json"), check=False), 2, "nothing.json"
    )


# -- run --timeout, job list, job result ----------------------------------------------------------
def test_a_run_that_times_out_is_fetched_later_with_job_result(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    room = _room(server, tokens, "later")
    cli = _as(server, tokens, BANK, tmp_path / "state")

    waited = cli("run", room[:8], "slow", "--timeout", "1", check=False)
    assert waited.returncode == 1, waited.stderr
    job_id = re.search(r"job ([0-9a-f]{32}) submitted", waited.stderr).group(1)  # type: ignore[union-attr]
    last = waited.stderr.splitlines()[-1]
    assert last.startswith(f"error: job {job_id} did not finish within 1 s")
    assert f"`sealroom job result {job_id}` fetches its result later" in last

    listed = json.loads(cli("job", "list", room[:7], "--json").stdout)
    assert [(job["job_id"], job["node"]) for job in listed] == [(job_id, "slow")]
    assert re.fullmatch(ISO_SECOND, listed[0]["created_at"])
    assert listed[0]["status"] in ("queued", "running", "succeeded")

    # A prefix of the job id will do; the result is the zip of the script's /output.
    fetched = cli("job", "result", job_id[:6], "--output", str(tmp_path / "slow.zip"))
    assert "result written to" in fetched.stderr
    with zipfile.ZipFile(tmp_path / "slow.zip") as archive:
        assert archive.read("done.txt") == b"done"

    table = cli("job", "list", room).stdout.splitlines()
    assert table[0].split() == ["JOB", "ID", "NODE", "STATUS", "SUBMITTED", "FINISHED", "ERROR"]
    row = table[1].split()
    assert row[:3] == [job_id, "slow", "succeeded"]
    assert re.fullmatch(ISO_SECOND, row[3])
    assert re.fullmatch(ISO_SECOND, row[4])

    # Another machine (another state directory) holds no key for the job: a usage error.
    elsewhere = _as(server, tokens, BANK, tmp_path / "other-state")
    _one_error(
        elsewhere("job", "result", job_id, check=False), 2, "was not submitted from this machine"
    )
    # Another participant of the room does not see the job, and a stranger not the room.
    assert json.loads(_as(server, tokens, INSURER, tmp_path / "i")("job", "list", room, "--json")
                      .stdout) == []  # fmt: skip
    stranger = _as(server, tokens, OUTSIDER, tmp_path / "o")
    _one_error(stranger("job", "list", room, check=False), 1, f"room {room} not found")
    _one_error(
        cli("job", "result", "0123456789", check=False), 1, "no job of yours has an id starting"
    )


# -- prefixes ------------------------------------------------------------------------------------
def test_room_id_prefixes_unique_unknown_and_ambiguous(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    first, second = _two_definitions_sharing_a_prefix(bank)
    prefix = first.id[:6]
    for definition in (first, second):
        _publish(bank, definition)
    cli = _as(server, tokens, BANK, tmp_path / "state")

    ambiguous = cli("room", "show", prefix, check=False)
    _one_error(ambiguous, 1, f"{prefix} is ambiguous: 2 rooms match")
    assert first.id in ambiguous.stderr
    assert second.id in ambiguous.stderr
    # One more digit tells them apart (they differ somewhere in the next ones).
    distinct = next(n for n in range(7, 65) if first.id[:n] != second.id[:n])
    shown = json.loads(cli("room", "show", first.id[:distinct]).stdout)
    assert shown["salt"] == first.definition.salt
    unknown = "f" * 6 if not first.id.startswith("ffffff") else "e" * 6
    _one_error(
        cli("room", "audit", unknown, check=False), 1, "no room of yours has an id starting with"
    )
    _one_error(cli("room", "show", "abc", check=False), 2, "at least its first 6 hex digits")


def _two_definitions_sharing_a_prefix(
    client: sr.Client,
) -> tuple[AnalyticsDcrDefinition, AnalyticsDcrDefinition]:
    """Two rooms (differing in their salts only) whose ids share their first 6 hex digits.

    A room id is the SHA-256 of the canonical definition, so trying salts finds such a pair
    within about 2^12 hashes (birthday bound on 24 bits). The definition is completed with the
    platform's authentication first, as publishing would, so that it publishes unchanged.
    """
    base = client.default_authentication(_definition(client, "twins").definition)
    template = base.canonical_bytes()
    assert base.salt.encode() in template
    seen: dict[str, str] = {}
    for counter in range(1 << 20):
        salt = f"{counter:032x}"
        prefix = hashlib.sha256(template.replace(base.salt.encode(), salt.encode())).hexdigest()
        if prefix[:6] in seen:
            break
        seen[prefix[:6]] = salt
    else:  # pragma: no cover - odds below 1e-300
        pytest.fail("no collision of 24-bit prefixes")
    twins = []
    for chosen in (seen[prefix[:6]], salt):
        definition = AnalyticsDcrDefinition(base.model_copy(update={"salt": chosen}))
        assert definition.id.startswith(prefix[:6])
        twins.append(definition)
    return twins[0], twins[1]


# -- accounts, --json, --version, data directories -----------------------------------------------
def test_a_token_of_another_account_is_refused(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    # Through the SDK: on the first request, naming both addresses.
    client = sr.create_client(INSURER, tokens[BANK], api_url=server.url)
    with pytest.raises(AuthenticationError) as raised:
        client.get_data_room_descriptions()
    assert f"belongs to {BANK}, not to {INSURER}" in str(raised.value)
    # Addresses are compared normalised; the right token works.
    assert sr.create_client(BANK.upper(), tokens[BANK], api_url=server.url).account_email() == BANK

    # Through the CLI: SEALROOM_EMAIL=bob… with Alice's token does not act as Alice.
    env = {
        **server.env,
        "SEALROOM_API_URL": server.url,
        "SEALROOM_EMAIL": INSURER,
        "SEALROOM_API_TOKEN": tokens[BANK],
        "SEALROOM_STATE_DIR": str(tmp_path / "state"),
    }
    _one_error(run_cli("room", "list", env=env, check=False), 1, f"belongs to {BANK}, not to")


def test_json_outputs_iso_times_and_version(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    room = _room(server, tokens, "json")
    cli = _as(server, tokens, BANK, tmp_path / "state")
    cli("run", room, "totals", "-p", "min=0")

    rooms = json.loads(cli("room", "list", "--json").stdout)
    mine = next(r for r in rooms if r["id"] == room)
    assert mine["name"] == "json"
    assert re.fullmatch(ISO_SECOND, mine["created_at"])
    listing = cli("room", "list").stdout.splitlines()
    assert listing[0].split() == ["ROOM", "ID", "STATUS", "CREATED", "OWNER", "NAME"]
    assert any(line.startswith(room) and re.search(ISO_SECOND, line) for line in listing)

    events = json.loads(cli("room", "audit", room, "--json").stdout)
    assert events[0]["action"] == "ROOM_PUBLISHED"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", events[0]["time"])
    lines = cli("room", "audit", room[:10]).stdout.splitlines()
    assert len(lines) == len(events)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,", lines[0])
    assert lines[0].endswith(",ROOM_PUBLISHED")

    keys = json.loads(cli("keys", "show", "--json").stdout)
    assert keys["email"] == BANK
    assert re.fullmatch(r"[0-9a-f]{64}", keys["key_fingerprint"])
    users = json.loads(cli("user", "list", "--data-dir", str(server.data_dir), "--json").stdout)
    assert {BANK, INSURER, OUTSIDER} <= {user["email"] for user in users}
    assert all(re.fullmatch(ISO_SECOND, user["created_at"]) for user in users)
    attested = json.loads(cli("attest", server.url, "--json").stdout)
    assert attested["provider"] == "simulated"
    assert attested["simulated"] is True

    version = cli("--version")
    assert re.fullmatch(r"sealroom \d+\.\d+\.\d+\S*\n", version.stdout)
    detail = json.loads(cli("version", "--json").stdout)
    assert version.stdout == f"sealroom {detail['version']}\n"
    assert re.fullmatch(r"[0-9a-f]{64}", detail["core_measurement"])


def test_exit_status_1_for_what_fails_and_unreachable_servers(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    room = _room(server, tokens, "failures")
    cli = _as(server, tokens, BANK, tmp_path / "state")
    _one_error(
        cli("room", "list", "--api-url", "http://127.0.0.1:1", check=False), 1, "cannot reach"
    )
    # Refused by the core: the insurer is no analyst of totals.
    insurer = _as(server, tokens, INSURER, tmp_path / "insurer")
    _one_error(insurer("run", room, "totals", "-p", "min=1", check=False), 1, "totals")
    # Missing set-up is a usage error.
    env = {**server.env, "SEALROOM_API_URL": server.url, "SEALROOM_STATE_DIR": str(tmp_path)}
    env.pop("SEALROOM_API_TOKEN", None)
    env.pop("SEALROOM_EMAIL", None)
    _one_error(run_cli("room", "list", "--email", BANK, env=env, check=False), 2, "no API token")


def test_user_commands_refuse_a_directory_that_is_not_a_data_dir(
    server: ServerProcess, tmp_path: Path
) -> None:
    typo = tmp_path / "typo"
    for args in (("user", "add", BANK), ("user", "list"), ("user", "revoke-token", BANK)):
        refused = server.cli(*args, "--data-dir", str(typo), check=False)
        _one_error(refused, 2, f"{typo} is not a Sealroom data directory")
        assert "--init" in refused.stderr
        assert not typo.exists()
    # An existing directory without the database is refused as well.
    typo.mkdir()
    _one_error(server.cli("user", "list", "--data-dir", str(typo), check=False), 2, "has no")
    created = server.cli("user", "add", BANK, "--data-dir", str(typo), "--init")
    assert created.stdout.strip().splitlines()[-1].startswith("sr_")
    assert (typo / "metadata.sqlite3").is_file()
    listed = server.cli("user", "list", "--data-dir", str(typo)).stdout.splitlines()
    assert listed[0].split() == ["E-MAIL", "CREATED", "ACTIVE", "TOKENS"]
    assert listed[1].split()[0] == BANK
    assert listed[1].split()[2] == "1"
