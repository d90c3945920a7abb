"""``sealroom keys lookup`` and the offline check of approvals against a real ``sealroom serve``,
as docs/identities.md tells it (its examples marked for this module run here, as written).

Bob's SDK registers his key with the host's directory; Alice looks it up (the host's word, the
command says so) and pins it in an interactive room. Bob's laptop is lost: he rotates his key,
and Alice's request — the page's Python example — makes the room recognise the new one once
the data owners approved it. Bob then approves a request with his new key, and Alice's
``sealroom audit export`` / ``audit verify`` prints who approved what, each signature verified
under the identities the room had at that moment.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputeNodeDefinition,
    TableDataNodeDefinition,
)
from sealroom.model.identities import AuthenticationMethod, format_fingerprint
from tests.integration.conftest import BANK, INSURER, ServerProcess
from tests.unit.test_cli_keys import SERVER, examples, shell_commands

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

#: The fingerprint the page's request example pins (Bob's new key stands in for it here).
PAGE_FINGERPRINT = "9f86 d081 884c 7d65 9a2f eaa0 c55a d015 a3bf 4f1b 2b0b 822c d15d 6c15 b0f0 0a08"
APPROVAL = re.compile(
    r"request ([0-9a-f]{12}) approved by (\S+) \(key ([0-9a-f]{4}(?: [0-9a-f]{4}){3}) …\): "
    r"signature verified"
)


def _example(language: str, word: str) -> str:
    (code,) = [code for lang, code in examples(SERVER) if lang == language and word in code]
    return code


def _sealroom(code: str, env: dict[str, str]) -> list[list[str]]:
    """The arguments of each ``sealroom`` line of a shell example (only those, here)."""
    commands = list(shell_commands(code, env))
    assert all(words[0] == "sealroom" for words in commands)
    return [words[1:] for words in commands]


def _table(name: str) -> TableDataNodeDefinition:
    column = Column(name="id", format_type=FormatType.INTEGER, is_nullable=False)
    return TableDataNodeDefinition(name=name, columns=[column], is_required=True)


def test_lookup_a_replaced_key_and_approvals_checked_offline(
    server_factory: Callable[..., ServerProcess],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = server_factory()
    tokens = {email: server.add_user(email) for email in (BANK, INSURER)}
    states = {BANK: tmp_path / "alice-state", INSURER: tmp_path / "bob-state"}
    work = tmp_path / "work"
    work.mkdir()

    def env(email: str) -> dict[str, str]:
        return {
            **server.env,
            "SEALROOM_API_URL": server.url,
            "SEALROOM_EMAIL": email,
            "SEALROOM_API_TOKEN": tokens[email],
            "SEALROOM_STATE_DIR": str(states[email]),
        }

    def cli(email: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sealroom.cli", *args],
            env=env(email),
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    clients = {
        email: sr.create_client(email, tokens[email], api_url=server.url, state_dir=states[email])
        for email in tokens
    }
    alice, bob = clients[BANK], clients[INSURER]

    # Nobody registered a key for Bob yet: one line, status 1.
    absent = cli(BANK, ["keys", "lookup", INSURER])
    assert absent.returncode == 1, absent.stderr
    assert absent.stderr.strip().splitlines() == [
        "error: no signing key is registered for this address"
    ]

    # Bob's SDK gets a certificate from the platform's CA, which registers his key.
    bob.create_auth_using_platform_pki()
    (lookup,) = _sealroom(_example("shell", "keys lookup"), env(BANK))
    found = cli(BANK, lookup)
    assert found.returncode == 0, found.stderr
    old = bob.key_fingerprint()
    assert found.stdout.splitlines()[:2] == [
        f"e-mail:          {INSURER}",
        f"key fingerprint: {format_fingerprint(old)}",
    ]
    assert "the host's word, not a verified fact" in found.stdout
    assert "Confirm the fingerprint with that person out of band" in found.stdout

    # Alice, having read it back to Bob, pins it in an interactive room.
    builder = (
        AnalyticsDcrBuilder(client=alice)
        .with_name("bank x insurer")
        .with_owner(BANK)
        .with_interactivity()
        .add_node_definition(_table("sales"))
        .add_node_definition(_table("claims"))
        .add_participant(BANK, data_owner_of=["sales"])
        .add_participant(
            INSURER,
            data_owner_of=["claims"],
            authentication=AuthenticationMethod.pinned_key(
                found.stdout.splitlines()[1].removeprefix("key fingerprint: ")
            ),
        )
    )
    dcr = alice.publish_analytics_dcr(builder.build())

    # Bob's laptop is lost: a new key.
    rotated = cli(INSURER, ["keys", "rotate"])
    assert rotated.returncode == 0, rotated.stderr
    new = bob.key_fingerprint()
    assert new != old
    assert f"new key: {format_fingerprint(new)}" in rotated.stdout

    # Alice's request, as the page writes it, with the fingerprint Bob read to her.
    code = _example("python", "change_authentication").replace(
        PAGE_FINGERPRINT, format_fingerprint(new)
    )
    namespace: dict[str, object] = {"dcr": dcr}
    exec(compile(code, "docs/identities.md", "exec"), namespace)
    assert capsys.readouterr().out == f"['{BANK}']\n"  # for the claims only Bob owns: the owner
    rebind = dcr.get_submitted_request(namespace["request"].id).approve()  # type: ignore[attr-defined]
    rebind.integrate()

    # Bob, recognised by his new key, approves a request that reads his claims.
    join = (
        dcr.refresh()
        .build_request()
        .add_computation(
            SqlComputeNodeDefinition("both", "SELECT COUNT(*) AS n FROM sales, claims")
        )
        .add_participant(BANK, analyst_of=["both"])
        .submit()
    )
    assert sorted(join.required_approvers) == sorted([BANK, INSURER])
    bob.retrieve_analytics_dcr(dcr.id).get_submitted_request(join.id).approve()
    dcr.get_submitted_request(join.id).approve()

    # Alice exports the log and checks it offline: who approved what, each signature verified.
    commands = _sealroom(_example("shell", "audit verify"), {**env(BANK), "ROOM_ID": dcr.id})
    results = [cli(BANK, args) for args in commands]
    for result in results:
        assert result.returncode == 0, result.stderr
    verified = results[-1].stdout.splitlines()
    assert verified[0].startswith(f"verified: room {dcr.id}, ")
    assert verified[1].startswith("signed by core key ")
    approvals = [APPROVAL.fullmatch(line) for line in verified[2:]]
    assert all(approvals), verified
    short = {BANK: alice.key_fingerprint(), INSURER: new}
    assert [m.groups() for m in approvals if m] == [
        (rebind.id[:12], BANK, format_fingerprint(short[BANK][:16])),
        (join.id[:12], INSURER, format_fingerprint(new[:16])),
        (join.id[:12], BANK, format_fingerprint(short[BANK][:16])),
    ]
    # The page's sample output has the same shape.
    sample = re.search(r"audit verify audit.json\n```\n\n```text\n(.*?)```", _page(), re.S)
    assert sample is not None
    lines = sample.group(1).splitlines()
    assert lines[0].startswith("verified: room ")
    assert lines[1].startswith("signed by core key ")
    assert APPROVAL.fullmatch(lines[2])


def _page() -> str:
    return (Path(__file__).parents[2] / "docs" / "identities.md").read_text("utf-8")
