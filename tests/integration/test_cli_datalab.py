"""``sealroom datalab …`` against a real ``sealroom serve``: a publisher who does not write Python
creates a DataLab, provisions its files (one with a header in its own order), reads the core's
validation and statistics, deprovisions and provisions again; the statistics are checked against
the same statistics computed here from the files. Wrong identifier specs and options are refused
before anything is published, a file that fails the local checks is never uploaded, and another
account sees nothing.

One server for the module (each test makes its own DataLabs); every test has its own SDK state
directory, so the dataset keys the CLI keeps can be looked at.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    TableDataNodeDefinition,
)
from tests.integration.conftest import (
    BANK,
    INSURER,
    ServerProcess,
    run_cli,
    start_server,
    stop_server,
)
from tests.integration.test_data_lab import generate, rounded

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

Cli = Callable[..., subprocess.CompletedProcess[str]]
K = 10
HEX_ID = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    started = start_server(tmp_path_factory.mktemp("cli-datalab"))
    yield started
    stop_server(started)


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str]:
    return {email: server.add_user(email) for email in (BANK, INSURER)}


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


@pytest.fixture
def publisher(server: ServerProcess, tokens: dict[str, str], tmp_path: Path) -> Cli:
    return _as(server, tokens, BANK, tmp_path / "state")


def _create(cli: Cli, *options: str) -> str:
    result = cli("datalab", "create", *options)
    data_lab_id = result.stdout.strip()
    assert HEX_ID.match(data_lab_id), result.stdout
    return data_lab_id


def _error(result: subprocess.CompletedProcess[str], status: int, message: str) -> None:
    """Exit ``status``, an ``error: …`` last line naming ``message``, never a traceback."""
    assert result.returncode == status, (result.stdout, result.stderr)
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    assert message in last, result.stderr
    assert "Traceback" not in result.stderr


def _uploaded(cli: Cli, name: str = "strict") -> set[str]:
    """The ids of the caller's uploaded datasets of the DataLab named ``name``."""
    datasets = json.loads(cli("dataset", "list", "--json").stdout)
    return {d["id"] for d in datasets if d["name"].startswith(f"{name} ")}


def _kept_keys(state: Path) -> dict[str, str]:
    """``{dataset id: key hex}`` of the keys the CLI kept in the state directory (0600)."""
    kept = {}
    for path in sorted((state / "dataset-keys").glob("*.key")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        kept[path.stem] = path.read_text().strip()
    return kept


def test_a_publisher_runs_the_whole_datalab_flow_from_the_command_line(
    publisher: Cli,
    server: ServerProcess,
    tokens: dict[str, str],
    tmp_path: Path,
) -> None:
    data = generate(tmp_path, users=600)
    ids, segments, demographics = data["ids"], data["segments"], data["demographics"]
    assert isinstance(ids, list)
    assert isinstance(segments, list)
    assert isinstance(demographics, list)
    # The identifiers as a spreadsheet exports them: a header row, the columns in its own order.
    export = tmp_path / "ids-export.csv"
    export.write_text("Email,userId\n" + "".join(f"{e},{u}\n" for u, e in ids))
    state = tmp_path / "state"

    created = publisher(
        "datalab",
        "create",
        "--name",
        "news audience",
        "--identifier",
        "userId:STRING:activation",
        "--identifier",
        "email:email:MATCHING",  # type and flag in any case
        "--segments",
        "--demographics",
        "--collaboration-type",
        "INSIGHTS",
        "--minimum-group-size",
        str(K),
        "--json",
    )
    described = json.loads(created.stdout)
    lab = described["id"]
    assert HEX_ID.match(lab)
    assert described["identifiersConfig"] == [
        {"idName": "userId", "idType": "STRING", "isMatchingId": False, "isActivationId": True},
        {"idName": "email", "idType": "EMAIL", "isMatchingId": True, "isActivationId": False},
    ]
    assert described["collaborationTypes"] == ["INSIGHTS", "OVERLAP"]  # OVERLAP always added
    assert described["requireSegments"]
    assert described["requireDemographics"]
    assert not described["requireEmbeddings"]
    assert described["minimumGroupSize"] == K
    assert described["dropInvalidRows"]
    assert f"sealroom datalab provision {lab} --matching" in created.stderr

    # An ordinary room of the same publisher is not a DataLab: not listed, refused by id.
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    builder = AnalyticsDcrBuilder(client=bank).with_name("plain room").with_owner(BANK)
    builder.add_node_definition(
        TableDataNodeDefinition(
            name="t", columns=[Column(name="a", format_type=FormatType.STRING)], is_required=True
        )
    )
    builder.add_participant(BANK, data_owner_of=["t"])
    plain = bank.publish_analytics_dcr(builder.build()).id
    listed = json.loads(publisher("datalab", "list", "--json").stdout)
    assert [(entry["id"], entry["name"], entry["datasets"]) for entry in listed] == [
        (lab, "news audience", ["matching", "segments", "demographics"])
    ]
    assert lab in publisher("datalab", "list").stdout
    _error(publisher("datalab", "show", plain, check=False), 2, "is not a DataLab")

    # Before provisioning: validation says what is missing and how to provision it.
    before = publisher("datalab", "validation", lab[:10], check=False)
    assert before.returncode == 1
    assert re.search(r"^matching\s+not provisioned", before.stdout, re.M)
    assert "status: FAILED" in before.stdout
    assert "--matching FILE --segments FILE --demographics FILE" in before.stderr
    _error(publisher("datalab", "statistics", lab, check=False), 1, "not provisioned: matching")

    provisioned = publisher(
        "datalab",
        "provision",
        lab[:10],
        "--matching",
        str(export),
        "--segments",
        str(tmp_path / "segments.csv"),
        "--demographics",
        str(tmp_path / "demographics.csv"),
    )
    published = dict(line.split() for line in provisioned.stdout.splitlines())
    assert set(published) == {"matching", "segments", "demographics"}
    assert "columns mapped by name from the header: userId, Email" in provisioned.stderr
    # One new key for the three files, kept per dataset in the state directory (0600).
    kept = _kept_keys(state)
    assert set(kept) == set(published.values())
    assert len(set(kept.values())) == 1
    assert re.fullmatch(r"[0-9a-f]{64}", next(iter(kept.values())))

    validation = publisher("datalab", "validation", lab)
    assert "status: SUCCESS" in validation.stdout
    assert re.search(
        rf"^matching\s+PASSED\s+{len(ids):,}\s+0\s+0\s+{len(ids):,}", validation.stdout, re.M
    )
    report = json.loads(publisher("datalab", "validation", lab, "--json").stdout)
    assert report["status"] == "SUCCESS"
    assert report["missing"] == []
    assert report["datasets"]["segments"] == {"validation": "PASSED", "valid_rows": len(segments)}
    assert set(report["reports"]) == {"identifiers", "segments", "demographics"}
    # The enhanced status also runs the statistics: 5 segments are below the seed's 10.
    enhanced = publisher("datalab", "validation", lab, "--enhanced")
    assert "quality warning: FEW_SEGMENTS: 5 distinct segments" in enhanced.stdout
    assert enhanced.stdout.rstrip().endswith("status: SUCCESS")

    # The statistics, against the same statistics computed here from the files.
    stats = json.loads(publisher("datalab", "statistics", lab, "--json", "--timeout", "120").stdout)
    users = {u for u, _ in ids}
    assert stats["status"] == "SUCCESS"
    assert stats["basic_statistics"]["identifiers"]["distinct_user_ids"] == len(users)
    assert stats["basic_statistics"]["identifiers"]["valid_rows"] == len(ids)
    assert stats["identifiers_overview"]["email"]["distinct_ids"] == len({e for _, e in ids})
    seg_users: dict[str, set[str]] = defaultdict(set)
    for u, s in segments:
        seg_users[s].add(u)
    expected_segments = {s: rounded(len(us)) for s, us in seg_users.items() if len(us) >= K}
    counts = stats["segment_statistics"]["segment_user_counts"]["email"]
    assert {s: v["all_users"]["absolute"] for s, v in counts.items()} == expected_segments
    assert "rare" not in counts  # 5 users: below the minimum group size
    groups = Counter((a, g) for _, a, g in demographics)
    expected_groups = {k: rounded(n) for k, n in groups.items() if n >= K}
    released = stats["demographic_statistics"]["all_users"]
    assert {tuple(k.split("||")): v["absolute"] for k, v in released.items()} == expected_groups

    summary = publisher("datalab", "statistics", lab).stdout
    assert f"{len(ids):,} rows, {len(ids):,} valid, 0 invalid; {len(users):,} distinct users" in (
        summary
    )
    for segment, count in expected_segments.items():
        assert re.search(rf"^{segment}\s+{count:,}\s+[\d.]+%\s+{count:,}$", summary, re.M), summary
    for (age, gender), count in expected_groups.items():
        assert re.search(rf"^{age}\s+{gender}\s+{count:,}\s", summary, re.M), summary
    assert not re.search(r"^rare\s", summary, re.M)
    assert summary.rstrip().endswith("status: SUCCESS")

    shown = publisher("datalab", "show", lab).stdout
    assert "identifiers: userId:STRING:activation, email:EMAIL:matching" in shown
    assert published["segments"] in shown
    assert {
        d["node"]
        for d in json.loads(publisher("datalab", "show", lab, "--json").stdout)["datasets"]
    } == {"matching", "segments", "demographics"}

    # Deprovision the segments: validation and statistics say so; provision them again with a
    # key file of one's own, written 0600 since it is new.
    publisher("datalab", "deprovision", lab, "--dataset", "segments")
    after = publisher("datalab", "validation", lab, check=False)
    assert after.returncode == 1
    assert re.search(r"^segments\s+not provisioned", after.stdout, re.M)
    assert f"sealroom datalab provision {lab} --segments FILE" in after.stderr
    _error(publisher("datalab", "statistics", lab, check=False), 1, "not provisioned: segments")
    _error(
        publisher("datalab", "deprovision", lab, "--dataset", "segments", check=False),
        1,
        "no dataset is provisioned to segments",
    )
    key_file = tmp_path / "segments.key"
    again = publisher(
        "datalab",
        "provision",
        lab,
        "--segments",
        str(tmp_path / "segments.csv"),
        "--key-file",
        str(key_file),
    )
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert again.stdout.split()[0] == "segments"
    assert "status: SUCCESS" in publisher("datalab", "validation", lab).stdout

    # Another account sees no DataLab and cannot open this one.
    other = _as(server, tokens, INSURER, tmp_path / "other")
    assert json.loads(other("datalab", "list", "--json").stdout) == []
    _error(other("datalab", "show", lab, check=False), 1, "not found")
    _error(other("datalab", "statistics", lab, check=False), 1, "not found")


@pytest.mark.parametrize(
    ("identifiers", "options", "message"),
    [
        (["userId:STRING:activation", "email:EMIAL:matching"], [], "HASHED_EMAIL, PHONE_NUMBER"),
        (["userId:STRING", "email:EMAIL:matchin"], [], "'matchin' is not a flag"),
        (["userId", "email:EMAIL:matching"], [], "write NAME:ID_TYPE[:matching][:activation]"),
        (["9lives:STRING", "email:EMAIL:matching"], [], "the name '9lives' must be a letter"),
        (["userId:STRING", "email:EMAIL:matching:matching"], [], "a flag is given twice"),
        (["userId:STRING:activation"], [], "at least one other identifier"),
        (["userId:STRING", "email:EMAIL"], [], "no identifier after the user id"),
        (["id:STRING", "ID:EMAIL:matching"], [], "its own name"),
        (["u:STRING", "e:EMAIL:matching"], ["--collaboration-type", "INSIGHTS,FOO"], "'FOO'"),
        (["u:STRING", "e:EMAIL:matching"], ["--embeddings", "1001"], "1 to 1000"),
        (["u:STRING", "e:EMAIL:matching"], ["--minimum-group-size", "0"], "1 or more"),
    ],
)
def test_wrong_specs_and_options_are_refused_before_anything_is_published(
    publisher: Cli, identifiers: list[str], options: list[str], message: str
) -> None:
    specs = [word for spec in identifiers for word in ("--identifier", spec)]
    result = publisher("datalab", "create", "--name", "n", *specs, *options, check=False)
    _error(result, 2, message)
    assert result.stdout == ""
    assert all(
        room["name"] != "n" for room in json.loads(publisher("room", "list", "--json").stdout)
    )


def test_files_are_checked_before_they_are_uploaded(publisher: Cli, tmp_path: Path) -> None:
    state = tmp_path / "state"
    ids = tmp_path / "ids.csv"
    ids.write_text("".join(f"u{i},p{i}@mail.example\n" for i in range(40)) + "u40,not-an-email\n")
    strict = _create(
        publisher,
        "--name",
        "strict",
        "--identifier",
        "userId:STRING:activation",
        "--identifier",
        "email:EMAIL:matching",
        "--refuse-invalid-rows",
    )
    refused = publisher("datalab", "provision", strict, "--matching", str(ids), check=False)
    _error(refused, 1, "was not uploaded")
    assert "INVALID_EMAIL_FORMAT" in refused.stderr
    assert _uploaded(publisher) == set()  # nothing sent
    assert not (state / "dataset-keys").exists()  # and no key kept for nothing

    # Usage errors, before any upload: a missing file, a dataset the DataLab does not have,
    # no file at all.
    _error(
        publisher(
            "datalab", "provision", strict, "--matching", str(tmp_path / "no.csv"), check=False
        ),
        2,
        "is not a file",
    )
    _error(
        publisher("datalab", "provision", strict, "--segments", str(ids), check=False),
        2,
        "has no segments dataset; its datasets: matching",
    )
    _error(publisher("datalab", "provision", strict, check=False), 2, "give at least one file")
    _error(
        publisher("datalab", "deprovision", strict, "--dataset", "clicks", check=False),
        2,
        "matching, segments, demographics, embeddings",
    )
    assert _uploaded(publisher) == set()

    # By default invalid rows are dropped, counted in the reports, never shown by the core.
    embeddings = tmp_path / "embeddings.csv"
    embeddings.write_text("".join(f"u{i},news,0.{i},-1.5\n" for i in range(40)) + "u0,news,x,1\n")
    lenient = _create(
        publisher,
        "--name",
        "lenient",
        "--identifier",
        "userId:STRING:activation",
        "--identifier",
        "email:EMAIL:matching",
        "--embeddings",
        "2",
    )
    publisher(
        "datalab", "provision", lenient, "--matching", str(ids), "--embeddings", str(embeddings)
    )
    validation = publisher("datalab", "validation", lenient)
    assert re.search(
        r"^matching\s+PASSED\s+41\s+1\s+1\s+40\s+INVALID_EMAIL_FORMAT 1$", validation.stdout, re.M
    ), validation.stdout
    assert re.search(r"^embeddings\s+PASSED\s+41\s+1\s+1\s+40\s", validation.stdout, re.M)
    report = publisher("datalab", "validation", lenient, "--json").stdout
    assert "not-an-email" not in report
    summary = publisher("datalab", "statistics", lenient).stdout
    assert "identifiers: 41 rows, 40 valid, 1 invalid (INVALID_EMAIL_FORMAT 1); 40 distinct" in (
        summary
    )
    assert "embeddings: 41 rows, 40 valid, 1 invalid" in summary
    assert "1 scopes, 40 users with embeddings" in summary
    assert "reach by email: 40 distinct userId" in summary
