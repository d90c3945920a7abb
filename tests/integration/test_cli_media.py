"""``sealroom media …`` against a real ``sealroom serve``: a publisher, an advertiser and an agency
who do not write Python run a media clean room end to end — the publisher's DataLab (made with
``sealroom datalab``) becomes the base audience with the keys that command kept, the advertiser
uploads seed audiences, reads the overlap and insights, builds, sizes, shares, exports and deletes
audiences, and previews a lookalike. Every figure printed is checked against the same figure
computed here from the generated files; every refusal is one ``error:`` line with the right exit
status, naming the missing permission and who holds it.

One server for the module; each person has their own SDK state directory (where the CLI keeps
dataset keys), as on their own machines.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import sealroom as sr
from tests.integration.conftest import ServerProcess, run_cli, start_server, stop_server
from tests.integration.media_data import MediaData, generate, released

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

PUBLISHER = "pia@news.example"
ADVERTISER = "adam@shop.example"
AGENCY = "ada@agency.example"
HEX_ID = re.compile(r"^[0-9a-f]{64}$")
GROUPS = [
    "--group",
    f"Publisher:{PUBLISHER}:PROVIDE_BASE_AUDIENCE,VIEW_OVERLAP,VIEW_INSIGHTS",
    "--group",
    f"Advertiser:{ADVERTISER}:provide_seed_audience,VIEW_OVERLAP,VIEW_INSIGHTS,"
    "CREATE_CUSTOM_AUDIENCE,EXPORT_AUDIENCE,MODEL_QUALITY",
    "--group",
    f"Agency:{AGENCY}:VIEW_OVERLAP",
]
Cli = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class World:
    server: ServerProcess
    tokens: dict[str, str]
    states: Path
    files: Path
    data: MediaData

    def as_(self, email: str) -> Cli:
        """The CLI as ``email`` (environment variables), with that person's own SDK state."""
        env = {
            **self.server.env,
            "SEALROOM_API_URL": self.server.url,
            "SEALROOM_EMAIL": email,
            "SEALROOM_API_TOKEN": self.tokens[email],
            "SEALROOM_STATE_DIR": str(self.states / email),
        }
        return lambda *args, check=True: run_cli(*args, env=env, check=check)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = start_server(tmp_path_factory.mktemp("cli-media"))
    try:
        tokens = {e: server.add_user(e) for e in (PUBLISHER, ADVERTISER, AGENCY)}
        files = tmp_path_factory.mktemp("files")
        data = generate(files)
        yield World(server, tokens, tmp_path_factory.mktemp("states"), files, data)
    finally:
        stop_server(server)


def _error(result: subprocess.CompletedProcess[str], status: int, *messages: str) -> None:
    """Exit ``status`` with one ``error: …`` line naming each of ``messages``; no traceback."""
    assert result.returncode == status, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for message in messages:
        assert message in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def _data_lab(world: World, name: str, *provisions: tuple[str, ...]) -> str:
    """A DataLab made and provisioned with ``sealroom datalab`` (one provision per tuple of
    options), validated; its id."""
    publisher = world.as_(PUBLISHER)
    lab = publisher(
        "datalab",
        "create",
        "--name",
        name,
        "--identifier",
        "userId:STRING:activation",
        "--identifier",
        "email:EMAIL:matching",
        "--segments",
        "--demographics",
        "--minimum-group-size",
        "10",
    ).stdout.strip()
    assert HEX_ID.match(lab)
    for options in provisions:
        publisher("datalab", "provision", lab, *options)
    publisher("datalab", "validation", lab)
    return lab


def _all_files(world: World) -> tuple[str, ...]:
    f = world.files
    return (
        "--matching",
        str(f / "ids.csv"),
        "--segments",
        str(f / "segments.csv"),
        "--demographics",
        str(f / "demographics.csv"),
    )


def _create(world: World, *options: str) -> str:
    result = world.as_(PUBLISHER)("media", "create", *options)
    room = result.stdout.strip()
    assert HEX_ID.match(room), result.stdout
    return room


def _rows(text: str) -> dict[str, list[str]]:
    """A printed table's rows by first cell (cells are separated by two spaces or more)."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]
    return {row[0]: row[1:] for row in rows}


def test_a_media_room_end_to_end_from_the_command_line(world: World, tmp_path: Path) -> None:
    data = world.data
    publisher, advertiser, agency = (world.as_(e) for e in (PUBLISHER, ADVERTISER, AGENCY))
    lab = _data_lab(world, "news audience", _all_files(world))
    room = _create(
        world,
        "--name",
        "news x shop",
        *GROUPS,
        "--collaboration-type",
        "INSIGHTS,REMARKETING",
        "--collaboration-type",
        "rule_based",
        "--collaboration-type",
        "LOOKALIKE",
        "--data-lab",
        lab[:10],
        "--show-match-rate",
        "--minimum-group-size",
        "10",
    )

    # Everyone sees the verified configuration; nothing is provisioned yet.
    shown = agency("media", "show", room).stdout
    assert "matching on: EMAIL (the base audience's email column)" in shown
    assert "collaboration types: INSIGHTS, REMARKETING, RULE_BASED, LOOKALIKE, OVERLAP" in shown
    assert "your commands: audiences, overlap, show" in shown
    groups = _rows(shown)
    assert groups["Agency"] == [AGENCY, "VIEW_OVERLAP"]
    assert groups["matching"][1] == "not provisioned"
    listed = json.loads(agency("media", "list", "--json").stdout)
    assert [(r["id"], r["your_group"]) for r in listed] == [(room, "Agency")]

    # The base audience: only the publisher's group, with the keys `datalab provision` kept.
    refused = advertiser("media", "provision-base-audience", room, "--data-lab", lab, check=False)
    _error(refused, 1, "lacks PROVIDE_BASE_AUDIENCE", "groups with it: Publisher")
    provisioned = publisher("media", "provision-base-audience", room[:8], "--data-lab", lab[:8])
    lines = [line.split() for line in provisioned.stdout.splitlines()]
    assert [(line[0], line[2]) for line in lines] == [
        ("matching", "PASSED"),
        ("segments", "PASSED"),
        ("demographics", "PASSED"),
    ]
    again = publisher("media", "provision-base-audience", room, "--data-lab", lab, check=False)
    _error(again, 1, "has a base audience already: --force replaces it")

    # Seed audiences: only the advertiser's group; a header row in the file is mapped.
    _error(
        publisher(
            "media", "upload-seed-audiences", room, str(world.files / "seed.csv"), check=False
        ),
        1,
        "lacks PROVIDE_SEED_AUDIENCE",
        "groups with it: Advertiser",
    )
    with_header = tmp_path / "seed with header.csv"
    with_header.write_text("Matching ID,Audience Type\n" + (world.files / "seed.csv").read_text())
    uploaded = advertiser("media", "upload-seed-audiences", room, str(with_header))
    dataset_id = uploaded.stdout.strip()
    kept = world.states / ADVERTISER / "dataset-keys" / f"{dataset_id}.key"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    described = json.loads(advertiser("media", "show", room, "--json").stdout)
    assert described["base_audience_provisioned"]
    assert described["seed_audiences_provisioned"]

    # The overlap, as the SDK releases it, for the advertiser and the agency alike.
    overlap = json.loads(advertiser("media", "overlap", room, "--json").stdout)
    assert json.loads(agency("media", "overlap", room, "--json").stdout) == overlap
    for entry in overlap["overlap_statistics"]:
        audience_type = entry["audience_type"]
        seed_n = len({e for e, t in data.seed if t == audience_type})
        assert entry["advertiser_size"] == released(seed_n)
        assert entry["overlap_size"] == released(len(data.overlap(audience_type)))
    table = _rows(advertiser("media", "overlap", room).stdout)
    assert table["seed:buyers"] == ["600", "500", "83.3%", "500"]
    assert table["seed:tiny"][1:] == ["too small", "-", "too small"]

    # Insights: the agency lacks VIEW_INSIGHTS; 300 of the 500 buyers like sports, 600 of 2000.
    _error(agency("media", "insights", room, check=False), 1, "lacks VIEW_INSIGHTS")
    insights = advertiser(
        "media", "insights", room, "--audience-type", "buyers", "--aggregation", "segment"
    ).stdout
    assert insights.splitlines()[0] == "seed:buyers by segment"
    segments = _rows(insights)
    assert segments["sports"] == ["300", "600", "60.0%", "30.0%", "+30.0 pts", "2.00"]
    assert "rare" not in segments  # 5 users: below the minimum group size
    full = json.loads(advertiser("media", "insights", room, "--json").stdout)
    assert {a["audience_type"] for a in full["audiences"]} == {"buyers", "browsers"}
    attributes = _rows(publisher("media", "attributes", room).stdout)
    assert attributes["segment"] == ["cars, news, sports, travel"]
    assert attributes["gender"] == ["f, m"]

    # Custom audiences.
    created = advertiser(
        "media",
        "create-audience",
        room,
        "--name",
        "buyers on news",
        "--kind",
        "remarketing",
        "--seed-type",
        "buyers",
        "--share-with",
        "publisher",
    )
    assert re.fullmatch(r"[0-9a-f]{16}\n", created.stdout)
    advertiser(
        "media",
        "create-audience",
        room,
        "--name",
        "car fans",
        "--kind",
        "rule-based",
        "--filter",
        "segment:any-of:cars",
        "--combine",
        "diff:seed:buyers",
    )
    advertiser(
        "media",
        "create-audience",
        room,
        "--name",
        "like buyers",
        "--kind",
        "lookalike",
        "--source",
        "buyers on news",
        "--reach",
        "10",
        "--exclude-seed",
    )
    _error(
        advertiser(
            "media",
            "create-audience",
            room,
            "--name",
            "x",
            "--kind",
            "remarketing",
            "--seed-type",
            "nobody",
            check=False,
        ),
        2,
        "no seed audience 'nobody'; the seed audiences: seed:browsers, seed:buyers, seed:tiny",
    )
    mine = json.loads(advertiser("media", "audiences", room, "--json").stdout)
    assert [a["name"] for a in mine["custom"]] == ["buyers on news", "car fans", "like buyers"]
    assert mine["custom"][2]["definition"]["sourceRef"] == {
        "kind": "CUSTOM",
        "id": mine["custom"][0]["id"],
    }
    listing = _rows(publisher("media", "audiences", room).stdout)
    assert listing["buyers on news"][:4] == [
        "REMARKETING",
        "seed:buyers in the base audience",
        "Advertiser",
        "Publisher",
    ]
    assert "car fans" not in listing  # not shared with the publisher's group

    # Sizes, computed by the audience engine in the core.
    cars = {u for u, s in data.segments if s == "cars"} - data.overlap("buyers")
    assert advertiser("media", "size", room, "buyers on news").stdout == (
        "buyers on news: 500 users (rounded to 100)\n"
    )
    car_fans = json.loads(advertiser("media", "size", room, "car fans", "--json").stdout)
    assert car_fans == {"name": "car fans", "size": released(len(cars))}
    assert "BASE: 2,000 users" in advertiser("media", "size", room, "base").stdout
    tiny = advertiser("media", "size", room, "seed:tiny").stdout
    assert tiny.startswith("tiny: too small (fewer than 100 users)")
    _error(
        agency("media", "size", room, "base", check=False),
        1,
        "lacks CREATE_CUSTOM_AUDIENCE or EXPORT_AUDIENCE",
    )
    _error(
        advertiser("media", "size", room, "no such audience", check=False),
        2,
        "no custom audience 'no such audience' for your group; yours: 'buyers on news', "
        "'car fans', 'like buyers'",
    )

    # Export: the activation ids, in a file only its owner reads; small audiences are refused.
    exported = tmp_path / "buyers.txt"
    advertiser("media", "export", room, "buyers on news", "-o", str(exported))
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    ids = exported.read_text().splitlines()
    assert sorted(ids) == sorted(data.overlap("buyers"))
    small = advertiser("media", "export", room, "seed:tiny", check=False)
    _error(small, 1, "fewer users than the room's minimum audience size")
    _error(agency("media", "export", room, "base", check=False), 1, "lacks EXPORT_AUDIENCE")

    # The lookalike model's quality and sizes by reach; a preview for a seed audience.
    statistics = json.loads(advertiser("media", "lookalike", room, "like buyers", "--json").stdout)
    assert statistics["seed_audience_size"] == 500
    assert 0.5 < statistics["quality"]["roc_curve"]["auc"] <= 1
    reaches = statistics["activation_ids"]["userId"]["filtered_audiences"]
    assert [r["reach"] for r in reaches] == list(range(1, 31))
    shown_lookalike = advertiser("media", "lookalike", room, "seed:buyers", "--exclude-seed").stdout
    assert f"ROC AUC {statistics['quality']['roc_curve']['auc']:.3f}" in shown_lookalike
    # The same users (seed:buyers is what 'buyers on news' remarkets): the same model.
    size = reaches[9]["size"]
    assert _rows(shown_lookalike)["10%"][0] == ("too small" if size is None else f"{size:,}")

    # Sharing, then deleting (an audience others are built on goes only with them).
    advertiser("media", "share-audience", room, "car fans", "--share-with", "Agency")
    seen = json.loads(agency("media", "audiences", room, "--json").stdout)
    assert [a["name"] for a in seen["custom"]] == ["car fans"]
    _error(
        publisher("media", "delete-audience", room, "buyers on news", check=False),
        1,
        "lacks CREATE_CUSTOM_AUDIENCE",
    )
    _error(
        advertiser("media", "delete-audience", room, "buyers on news", check=False),
        1,
        "is the source of 'like buyers': --with-dependents deletes them too",
    )
    advertiser("media", "delete-audience", room, "buyers on news", "--with-dependents")
    left = json.loads(advertiser("media", "audiences", room, "--json").stdout)
    assert [a["name"] for a in left["custom"]] == ["car fans"]

    # A room's configuration round-trips: `show --json` is what `create --config` reads.
    configuration = json.loads(publisher("media", "show", room, "--json").stdout)["configuration"]
    copy_file = tmp_path / "copy.json"
    copy_file.write_text(json.dumps({**configuration, "name": "news x shop, again"}))
    copy = world.as_(ADVERTISER)("media", "create", "--config", str(copy_file)).stdout.strip()
    copied = json.loads(publisher("media", "show", copy, "--json").stdout)["configuration"]
    assert copied == {**configuration, "name": "news x shop, again"}
    publisher("media", "provision-base-audience", copy, "--data-lab", lab)


def test_create_refuses_what_cannot_work_and_says_what_would(world: World, tmp_path: Path) -> None:
    publisher = world.as_(PUBLISHER)
    base = ["media", "create", "--name", "r", "--matching-id", "EMAIL"]
    cases = [
        (
            [*base, "--group", f"P:{PUBLISHER}:PROVIDE_BASE"],
            "'PROVIDE_BASE' is not a permission; the permissions are VIEW_OVERLAP, VIEW_INSIGHTS",
        ),
        ([*base, "--group", f"{PUBLISHER}:VIEW_OVERLAP"], "write ROLE:E-MAILS:PERMISSIONS"),
        ([*base, "--group", "P:pia:VIEW_OVERLAP"], "'pia' is not an e-mail"),
        ([*base, *GROUPS, "--collaboration-type", "INSIGHT"], "use INSIGHTS, LOOKALIKE"),
        ([*base, *GROUPS, "--epsilon-budget", "1"], "go with --differential-privacy"),
        (
            [*base, *GROUPS, "--differential-privacy", "--epsilon-budget", "1"],
            "--differential-privacy needs --epsilon-budget B and --epsilon-per-run E",
        ),
        (
            [
                *base,
                *GROUPS,
                "--differential-privacy",
                "--epsilon-budget",
                "1",
                "--epsilon-per-run",
                "2",
            ],
            "0 < E <= B <= 1000",
        ),
        (["media", "create", "--name", "r", *GROUPS], "--matching-id ID_TYPE is required"),
        (
            [
                *base[:4],
                *GROUPS,
                "--matching-id",
                "HASHED_EMAIL",
                "--identifier",
                "uid:STRING:activation",
                "--identifier",
                "email:EMAIL:matching",
            ],
            "the base audience's matching identifiers are EMAIL",
        ),
        (
            [
                *base,
                "--group",
                f"P:{PUBLISHER}:PROVIDE_BASE_AUDIENCE",
                "--group",
                f"A:{PUBLISHER}:PROVIDE_SEED_AUDIENCE",
            ],
            f"{PUBLISHER} is in two participant groups",
        ),
        (
            [*base, "--group", f"P:{PUBLISHER}:PROVIDE_BASE_AUDIENCE"],
            "at least one participant group provides seed audiences",
        ),
    ]
    for args, message in cases:
        _error(publisher(*args, check=False), 2, message)
    config = tmp_path / "room.json"
    config.write_text(json.dumps({"name": "r", "participantGroups": [], "colour": 1}))
    _error(
        publisher("media", "create", "--config", str(config), check=False),
        2,
        "unknown field(s) colour",
    )
    _error(
        publisher("media", "create", "--config", str(config), "--name", "s", check=False),
        2,
        "--config FILE holds the whole room: drop --name",
    )
    # A DataLab that does not allow a collaboration type cannot be the base of a room with it.
    lab = _data_lab(world, "no exclusions", _all_files(world))
    _error(
        publisher(
            *base[:4],
            *GROUPS,
            "--data-lab",
            lab,
            "--collaboration-type",
            "EXCLUSION_TARGETING",
            check=False,
        ),
        2,
        f"DataLab {lab} does not allow EXCLUSION_TARGETING",
    )
    # Nothing above was published.
    names = [r["name"] for r in json.loads(publisher("media", "list", "--json").stdout)]
    assert "r" not in names


def test_differential_privacy_and_key_files(world: World) -> None:
    publisher, advertiser = world.as_(PUBLISHER), world.as_(ADVERTISER)
    key_file = world.states / "publisher.key"
    f = world.files
    # Provisioned in two steps with one --key-file: one key for every dataset.
    lab = _data_lab(
        world,
        "dp audience",
        ("--matching", str(f / "ids.csv"), "--key-file", str(key_file)),
        (
            "--segments",
            str(f / "segments.csv"),
            "--demographics",
            str(f / "demographics.csv"),
            "--key-file",
            str(key_file),
        ),
    )
    room = _create(
        world,
        "--name",
        "dp room",
        *GROUPS,
        "--collaboration-type",
        "LOOKALIKE",
        "--data-lab",
        lab,
        "--differential-privacy",
        "--epsilon-budget",
        "1",
        "--epsilon-per-run",
        "0.5",
    )
    publisher(
        "media", "provision-base-audience", room, "--data-lab", lab, "--key-file", str(key_file)
    )
    advertiser("media", "upload-seed-audiences", room, str(f / "seed.csv"))
    _error(
        advertiser("media", "overlap", room, check=False),
        2,
        "uses differential privacy: it releases no overlap table",
        "sealroom media size ID seed:TYPE",
    )
    sized = advertiser("media", "size", room, "seed:buyers")
    assert re.fullmatch(r"buyers: \d[\d,]* users \(a noisy count, rounded to 100\)\n", sized.stdout)
    assert "charged epsilon 0.5" in sized.stderr
    assert "(spent 0.5, remaining 0.5)" in advertiser("media", "show", room).stdout
    audiences = _rows(advertiser("media", "audiences", room).stdout)
    assert audiences["seed:buyers"] == ["not released"]
    quality = advertiser("media", "lookalike", room, "seed:buyers").stdout
    assert "model quality: not released" in quality
    _error(advertiser("media", "size", room, "base", check=False), 1, "privacy budget")


def test_provisioning_needs_the_data_labs_keys(world: World) -> None:
    publisher = world.as_(PUBLISHER)
    f = world.files
    # Without --key-file, each `datalab provision` keeps a new key: two here.
    lab = _data_lab(
        world,
        "two keys",
        ("--matching", str(f / "ids.csv")),
        ("--segments", str(f / "segments.csv"), "--demographics", str(f / "demographics.csv")),
    )
    room = _create(world, "--name", "two keys room", *GROUPS, "--data-lab", lab)
    # Nobody but the publisher's group may provision it.
    other = world.as_(ADVERTISER)
    refused = other("media", "provision-base-audience", room, "--data-lab", lab, check=False)
    _error(refused, 1, "lacks PROVIDE_BASE_AUDIENCE")
    assert not json.loads(publisher("media", "show", room, "--json").stdout)[
        "base_audience_provisioned"
    ]
    # The publisher's kept keys, one per dataset, publish each dataset with its own.
    publisher("media", "provision-base-audience", room, "--data-lab", lab)
    assert json.loads(publisher("media", "show", room, "--json").stdout)[
        "base_audience_provisioned"
    ]
    # A key file that is not the datasets' key: the core cannot open them.
    wrong = world.files / "wrong.key"
    wrong.write_text(sr.Key().material.hex())
    wrong.chmod(0o600)
    refused = publisher(
        "media",
        "provision-base-audience",
        room,
        "--data-lab",
        lab,
        "--key-file",
        str(wrong),
        "--force",
        check=False,
    )
    assert refused.returncode != 0
