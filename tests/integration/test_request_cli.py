"""``sealroom request …`` against a real ``sealroom serve``: a request of an interactive room is
submitted, reviewed, approved by both affected data owners, integrated and run, all through the
CLI (each user by the environment variables); refusals are one ``error:`` line with status 1.

The room is published and provisioned with the SDK (BANK owns customers, INSURER policies,
ANALYST owns nothing), as in ``test_interactive_rooms.py``.
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

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.cli.request_commands import verified_commit
from sealroom.errors import VerificationError
from sealroom.model.commits import Commit
from sealroom.model.definition import SqlNode
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    ServerProcess,
    run_cli,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

OVERLAP = "SELECT COUNT(*) AS n FROM customers c JOIN policies p ON c.id = p.id"
CUSTOMERS = b"1,north\n2,north\n3,south\n4,south\n5,south\n"
POLICIES = b"2,x\n3,y\n4,z\n9,w\n"

Cli = Callable[..., subprocess.CompletedProcess[str]]


def _table(name: str) -> TableDataNodeDefinition:
    return TableDataNodeDefinition(
        name=name,
        columns=[
            Column(name="id", format_type=FormatType.INTEGER, is_nullable=False),
            Column(name="region", format_type=FormatType.STRING, is_nullable=False),
        ],
        is_required=True,
    )


def _upload(dcr: AnalyticsDcr, node: str, csv: bytes) -> None:
    data = dcr.get_node(node)
    assert isinstance(data, TableDataNode)
    data.upload_and_publish_dataset(io.BytesIO(csv), sr.Key(), node)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (each test publishes its own room): starting one and adding
    its users takes seconds, which the module's time budget does not have twice."""
    started = start_server(tmp_path_factory.mktemp("request-cli"))
    yield started
    stop_server(started)


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str]:
    return {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}


def _room(
    server: ServerProcess, tokens: dict[str, str]
) -> tuple[str, dict[str, Cli], dict[str, sr.Client]]:
    """A new interactive room with both tables provisioned; a CLI runner and an SDK client
    per user."""
    clients = {e: sr.create_client(e, t, api_url=server.url) for e, t in tokens.items()}
    builder = (
        AnalyticsDcrBuilder(client=clients[BANK])
        .with_name("bank x insurer")
        .with_owner(BANK)
        .with_interactivity(True)
        .add_node_definition(_table("customers"))
        .add_node_definition(_table("policies"))
        .add_participant(BANK, data_owner_of=["customers"])
        .add_participant(INSURER, data_owner_of=["policies"])
        .add_participant(ANALYST)
    )
    dcr = clients[BANK].publish_analytics_dcr(builder.build())
    _upload(dcr, "customers", CUSTOMERS)
    _upload(clients[INSURER].retrieve_analytics_dcr(dcr.id), "policies", POLICIES)

    def as_user(email: str) -> Cli:
        env = {
            **server.env,
            "SEALROOM_API_URL": server.url,
            "SEALROOM_EMAIL": email,
            "SEALROOM_API_TOKEN": tokens[email],
        }
        return lambda *args, check=True: run_cli(*args, env=env, check=check)

    return dcr.id, {email: as_user(email) for email in tokens}, clients


def _refused(result: subprocess.CompletedProcess[str], message: str, status: int = 1) -> None:
    """Exit ``status`` (1: refused; 2: a usage error), nothing on stdout, and the reason as the
    one last line of stderr."""
    assert result.returncode == status, result.stderr
    assert result.stdout == ""
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    assert message in last, result.stderr
    assert "Traceback" not in result.stderr


def test_submit_review_approve_integrate_and_run(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    room, cli, _ = _room(server, tokens)
    query = tmp_path / "overlap.sql"
    query.write_text(OVERLAP + "\n")

    submitted = cli[ANALYST](
        "request", "submit", room, "--sql", f"overlap={query}",
        "--analyst", f"{ANALYST}:overlap", "--note", "overlap of customers",
    )  # fmt: skip
    request_id = submitted.stdout.strip()
    assert re.fullmatch("[0-9a-f]{64}", request_id)
    assert submitted.stderr.endswith(
        "request submitted (overlap): pending; waiting for an owner of customers "
        "(alice@bank.example); an owner of policies (bob@insurer.example)\n"
    )

    # Anybody in the room lists it, with what it still waits for; ids are abbreviated.
    listed = cli[BANK]("request", "list", room).stdout
    row = next(line for line in listed.splitlines() if line.startswith(request_id[:12]))
    assert request_id not in listed
    for cell in ("pending", ANALYST, "overlap", "customers, policies", "overlap of customers"):
        assert cell in row
    assert request_id in cli[BANK]("request", "list", room, "--full").stdout
    assert [r["id"] for r in json.loads(cli[BANK]("request", "list", room, "--json").stdout)] == [
        request_id
    ]

    # The approver reviews what it approves: the query itself, the dependencies inferred from it.
    shown = cli[BANK]("request", "show", room, request_id[:8]).stdout
    for line in (
        f"request    {request_id}",
        "status     pending",
        f"requester  {ANALYST}",
        "note       overlap of customers",
        "  customers: waiting (owners: alice@bank.example)",
        "  policies: waiting (owners: bob@insurer.example)",
        f"analyst    {ANALYST} of overlap",
        "computation 1: overlap (sql)",
        "  reads: customers, policies",
        f"  {OVERLAP}",
    ):
        assert line in shown.splitlines(), shown
    assert f"  --- query ---\n  {OVERLAP}\n  --- end of query ---\n" in shown
    raw = json.loads(cli[INSURER]("request", "show", room, request_id, "--json").stdout)
    assert raw["id"] == request_id
    assert raw["commit"]["nodes"][0]["query"] == OVERLAP + "\n"
    # What `show` checks before printing: the commit hashes to the id the core approves, so
    # a host cannot show one query and have another approved.
    assert verified_commit(room, raw).commit_id == request_id
    node = {**raw["commit"]["nodes"][0], "query": "SELECT * FROM customers"}
    swapped = {**raw, "commit": {**raw["commit"], "nodes": [node]}}
    with pytest.raises(VerificationError, match="not that request's: do not approve it"):
        verified_commit(room, swapped)

    # A participant who owns no affected data cannot approve; nothing integrates unapproved.
    _refused(
        cli[ANALYST]("request", "approve", room, request_id[:10], check=False),
        f"{ANALYST} owns no data node this request affects",
    )
    _refused(
        cli[ANALYST]("request", "integrate", room, request_id, check=False),
        "needs the approval of an owner of customers, policies",
    )

    approved = cli[BANK]("request", "approve", room, request_id[:8]).stdout
    assert approved == (
        f"approved request {request_id}: pending; waiting for an owner of policies "
        "(bob@insurer.example)\n"
    )
    approved = cli[INSURER]("request", "approve", room, request_id[:8]).stdout
    assert approved == f"approved request {request_id}: ready_to_integrate\n"
    assert "customers: approved by alice@bank.example at " in (
        cli[ANALYST]("request", "show", room, request_id[:8]).stdout
    )

    integrated = cli[ANALYST]("request", "integrate", room, request_id[:8]).stdout
    assert integrated == f"integrated request {request_id}: the room now has overlap\n"

    commits = cli[INSURER]("request", "commits", room).stdout.splitlines()
    assert commits[0].split()[:4] == ["SEQ", "ID", "NOTE", "NODES"]
    assert commits[1].split()[:7] == [
        "1", request_id[:12], "overlap", "of", "customers", "overlap", ANALYST,
    ]  # fmt: skip
    entries = json.loads(cli[BANK]("request", "commits", room, "--json").stdout)
    assert [(e["seq"], e["id"], e["nodes"]) for e in entries] == [(1, request_id, ["overlap"])]

    assert cli[ANALYST]("run", room, "overlap", "--timeout", "60").stdout == "n\n3\n"


def test_reject_preview_scripts_and_refusals(
    server: ServerProcess, tokens: dict[str, str], tmp_path: Path
) -> None:
    room, cli, clients = _room(server, tokens)
    south = tmp_path / "south.sql"
    south.write_text("SELECT COUNT(*) AS n FROM customers WHERE region = 'south'")
    script = tmp_path / "count.py"
    script.write_text("import pathlib\nif True:\n\tpathlib.Path('/output/n.txt').write_text('5')\n")

    # A note with a terminal escape and a right-to-left override is shown, escaped.
    note = "clear\x1b[2J screen \u202eevil"
    first = cli[ANALYST](
        "request", "submit", room, "--sql", f"overlap={tmp_path / 'overlap.sql'}", check=False
    )
    _refused(first, f"cannot use {tmp_path / 'overlap.sql'}: No such file or directory", 2)
    _refused(cli[ANALYST]("request", "submit", room, "--sql", "overlap", check=False),
             "--sql takes NAME=FILE, not 'overlap'", 2)  # fmt: skip
    _refused(
        cli[ANALYST]("request", "submit", room, "--python", f"count={script}",
                     "--depends", "other:customers", check=False),
        "--depends names other, which this request does not add",
        2,
    )  # fmt: skip
    request_id = cli[ANALYST](
        "request", "submit", room, "--sql", f"south={south}",
        "--python", f"count={script}", "--depends", "count: customers",
        "--analyst", f"{ANALYST}:south,count", "--note", note,
    ).stdout.strip()  # fmt: skip

    shown = cli[BANK]("request", "show", room, request_id[:8]).stdout
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert "note       clear\\u001b[2J screen \\u202eevil" in shown
    assert "computation 2: count (python)\n  reads: customers\n  --- script ---\n" in shown
    assert "  \tpathlib.Path('/output/n.txt').write_text('5')\n" in shown
    assert "\x1b" not in cli[BANK]("request", "list", room).stdout

    # Only BANK's data is read: BANK alone may preview it before approving. The preview runs
    # the last computation the request adds, here the script (its result is a zip).
    preview = tmp_path / "preview.zip"
    previewed = cli[BANK]("request", "preview", room, request_id[:8], "-o", str(preview))
    assert f"result written to {preview}" in previewed.stderr
    with zipfile.ZipFile(preview) as archive:
        assert archive.read("n.txt") == b"5"
    listed = cli[BANK]("request", "preview", room, request_id[:8], "--timeout", "60")
    assert listed.stdout == f"{1:>12}  n.txt\n"
    _refused(
        cli[ANALYST]("request", "preview", room, request_id[:8], check=False),
        "only the one data owner a request affects may preview its result",
    )

    # INSURER's data is not read, so it may not reject; BANK rejects, with a reason all see.
    _refused(
        cli[INSURER]("request", "reject", room, request_id[:8], check=False),
        f"{INSURER} may not reject request {request_id}",
    )
    rejected = cli[BANK]("request", "reject", room, request_id[:8], "--reason", "not south")
    assert rejected.stdout == f"rejected request {request_id}\n"
    shown = cli[ANALYST]("request", "show", room, request_id[:8]).stdout
    assert "status     rejected" in shown
    assert "rejected   by alice@bank.example: not south" in shown
    _refused(
        cli[BANK]("request", "approve", room, request_id[:8], check=False),
        "no longer pending",
    )

    # Ids: too short, unknown, and a prefix two requests share.
    _refused(cli[BANK]("request", "show", room, "abc", check=False), "8 to 64 hex digits", 2)
    unknown = "0123abcd" if not request_id.startswith("0123abcd") else "fedc9876"
    _refused(
        cli[BANK]("request", "show", room, unknown, check=False),
        f"no request of room {room} has an id starting with {unknown}",
    )
    prefix = _submit_two_requests_sharing_a_prefix(room, clients[ANALYST])
    _refused(
        cli[BANK]("request", "show", room, prefix, check=False),
        f"2 requests of room {room} have ids starting with {prefix}: give more of the id",
    )


def _submit_two_requests_sharing_a_prefix(room: str, analyst: sr.Client) -> str:
    """Submit (with the SDK) two requests whose ids share their first 8 hex digits; return
    that prefix. An id is the SHA-256 of the canonical commit, so varying an 8-digit counter
    in the note finds such a pair within about 2^16 hashes (birthday bound on 32 bits)."""
    session = analyst.session()
    _, pin = session.retrieve_current_data_room_configuration(room)
    node = SqlNode(
        name="twin", query="SELECT COUNT(*) AS n FROM customers", dependencies=("customers",)
    )

    def commit(note: str) -> Commit:
        return Commit(room_id=room, history_pin=pin, requester=ANALYST, note=note, nodes=(node,))

    template = commit("n00000000").canonical_bytes()
    seen: dict[str, str] = {}
    for counter in range(1 << 22):
        note = f"n{counter:08d}"
        prefix = hashlib.sha256(template.replace(b"n00000000", note.encode())).hexdigest()[:8]
        if prefix in seen:
            break
        seen[prefix] = note
    else:  # pragma: no cover - odds below 1e-300
        pytest.fail("no collision of 32-bit prefixes")
    for chosen in (seen[prefix], note):
        twin = commit(chosen)
        assert twin.commit_id.startswith(prefix)
        session.publish_request(room, twin)
    return prefix
