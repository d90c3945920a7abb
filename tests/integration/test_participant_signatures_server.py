"""A real ``sealroom serve`` whose host lies about who is calling (issue 16).

The host authenticates API tokens; the core believes only participants' own signatures. Here the
operator edits the host's database while the server runs — an API token re-pointed at another
person's account — and relays a signed request a second time. In a room that pins its
participants' keys, the core refuses to run, fetch, publish or approve in somebody else's name,
and refuses a replay, before and after a restart. A room that trusts the platform's CA trusts
the operator to certify the right person: the same lie succeeds there, as documented.
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    Column,
    FormatType,
    SqlComputationNode,
    SqlComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.client._identity import ParticipantKeys
from sealroom.crypto import KemPrivateKey
from sealroom.errors import ParticipantSignatureError
from sealroom.model import signed_actions
from sealroom.model.identities import AuthenticationMethod
from sealroom.model.signed_actions import PROOF_HEADER, sign_action
from tests.integration.conftest import ANALYST, BANK, ServerProcess, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

MALLORY = "mallory@elsewhere.example"


def _room(bank: sr.Client, analyst_fingerprint: str | None) -> AnalyticsDcr:
    """A room of the bank's table and the analyst's count; keys pinned unless None (then the
    platform's CA recognises everybody)."""
    pinned = analyst_fingerprint is not None
    method = AuthenticationMethod.pinned_key(bank.key_fingerprint()) if pinned else None
    b = AnalyticsDcrBuilder(client=bank).with_name("signed").with_owner(BANK, authentication=method)
    column = Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)
    b.add_node_definition(TableDataNodeDefinition(name="t", columns=[column], is_required=True))
    b.add_node_definition(SqlComputeNodeDefinition("q", "SELECT COUNT(*) AS n FROM t"))
    b.add_participant(BANK, data_owner_of=["t"], authentication=method)
    b.add_participant(
        ANALYST,
        analyst_of=["q"],
        authentication=AuthenticationMethod.pinned_key(analyst_fingerprint) if pinned else None,
    )
    dcr = bank.publish_analytics_dcr(b.build())
    table = dcr.get_node("t")
    assert isinstance(table, TableDataNode)
    table.upload_and_publish_dataset(io.BytesIO(b"1\n2\n3\n"), sr.Key(), "t.csv")
    return dcr


def _point_token_at(server: ServerProcess, token: str, email: str) -> None:
    """The operator re-points the API token ``token`` at ``email``'s account."""
    from sealroom.server.accounts import token_sha256

    with sqlite3.connect(server.data_dir / "metadata.sqlite3") as db:
        (user_id,) = db.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
        changed = db.execute(
            "UPDATE api_tokens SET user_id = ? WHERE token_sha256 = ?",
            (user_id, token_sha256(token)),
        ).rowcount
    db.close()
    assert changed == 1


def _count(dcr: AnalyticsDcr) -> str:
    node = dcr.get_node("q")
    assert isinstance(node, SqlComputationNode)
    return node.run_computation_and_get_results_as_string(timeout=60)


def test_a_token_pointed_at_another_account_gets_nothing_from_the_core(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path)
    tokens = {email: server.add_user(email) for email in (BANK, ANALYST, MALLORY)}
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=server.url)
    dcr = _room(bank, analyst.key_fingerprint())
    assert _count(analyst.retrieve_analytics_dcr(dcr.id)).splitlines() == ["n", "3"]

    # Mallory's token now says "analyst"; her SDK (its own state, its own key) believes it.
    _point_token_at(server, tokens[MALLORY], ANALYST)
    mallory = sr.create_client(
        ANALYST, tokens[MALLORY], api_url=server.url, state_dir=tmp_path / "mallory"
    )
    as_analyst = mallory.retrieve_analytics_dcr(dcr.id)  # reading the room needs no signature
    with pytest.raises(ParticipantSignatureError, match="pins another key for you"):
        _count(as_analyst)
    # The same for the data owner's actions, and the owner's.
    _point_token_at(server, tokens[MALLORY], BANK)
    as_bank = sr.create_client(
        BANK, tokens[MALLORY], api_url=server.url, state_dir=tmp_path / "mallory"
    )
    table = as_bank.retrieve_analytics_dcr(dcr.id).get_node("t")
    assert isinstance(table, TableDataNode)
    with pytest.raises(ParticipantSignatureError, match="pins another key for you"):
        table.upload_and_publish_dataset(io.BytesIO(b"9\n"), sr.Key(), "t.csv")
    with pytest.raises(ParticipantSignatureError):
        as_bank.retrieve_analytics_dcr(dcr.id).stop()
    # Nothing happened: the room is active, the data is the bank's, and the log says who tried.
    assert bank.retrieve_analytics_dcr(dcr.id).get_status() == "Active"
    assert _count(analyst.retrieve_analytics_dcr(dcr.id)).splitlines() == ["n", "3"]
    denied = [
        entry
        for entry in bank.retrieve_analytics_dcr(dcr.id).retrieve_audit_log().splitlines()
        if "pins another key" in entry
    ]
    assert len(denied) == 3


def test_in_a_platform_pki_room_the_operator_is_trusted_to_certify_people(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    """What the platform PKI means, shown: the operator's CA certifies whoever the host says."""
    server = server_factory(tmp_path)
    tokens = {email: server.add_user(email) for email in (BANK, ANALYST, MALLORY)}
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    dcr = _room(bank, None)
    _point_token_at(server, tokens[MALLORY], ANALYST)
    mallory = sr.create_client(
        ANALYST, tokens[MALLORY], api_url=server.url, state_dir=tmp_path / "mallory"
    )
    assert _count(mallory.retrieve_analytics_dcr(dcr.id)).splitlines() == ["n", "3"]


def test_a_replayed_signed_request_is_refused_before_and_after_a_restart(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path)
    tokens = {email: server.add_user(email) for email in (BANK, ANALYST)}
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=server.url)
    dcr = _room(bank, analyst.key_fingerprint())
    recipient = KemPrivateKey.generate().public_key.to_bytes()
    call = signed_actions.run_computation(dcr.id, "q", {}, recipient)
    key = ParticipantKeys().signing_key(ANALYST)
    header = sign_action(key, call, now_ms=int(time.time() * 1000)).to_header()

    def send(url: str) -> httpx.Response:
        return httpx.post(
            f"{url}/v1/rooms/{dcr.id}/nodes/q/jobs",
            json={"parameters": {}, "recipient_public_key": recipient.hex()},
            headers={"Authorization": f"Bearer {tokens[ANALYST]}", PROOF_HEADER: header},
            timeout=30,
        )

    assert send(server.url).status_code == 202
    replayed = send(server.url)
    assert replayed.status_code == 403
    assert replayed.json()["code"] == "participant_signature"
    assert "used before" in replayed.json()["detail"]
    stop_server(server)
    restarted = server_factory(tmp_path)
    again = send(restarted.url)
    assert again.status_code == 403
    assert "used before" in again.json()["detail"]
    # A request without any signature gets nothing either.
    unsigned = httpx.post(
        f"{restarted.url}/v1/rooms/{dcr.id}/nodes/q/jobs",
        json={"parameters": {}, "recipient_public_key": recipient.hex()},
        headers={"Authorization": f"Bearer {tokens[ANALYST]}"},
        timeout=30,
    )
    assert unsigned.status_code == 403
    assert unsigned.json()["code"] == "participant_signature"


def test_a_lost_key_is_replaced_by_a_request_the_data_owners_approve(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path)
    tokens = {email: server.add_user(email) for email in (BANK, ANALYST, MALLORY)}
    bank = sr.create_client(BANK, tokens[BANK], api_url=server.url)
    analyst = sr.create_client(ANALYST, tokens[ANALYST], api_url=server.url)
    pinned = AuthenticationMethod.pinned_key(bank.key_fingerprint())
    b = (
        AnalyticsDcrBuilder(client=bank)
        .with_name("rotating")
        .with_owner(BANK, authentication=pinned)
        .with_interactivity()
    )
    column = Column(name="x", format_type=FormatType.INTEGER, is_nullable=False)
    b.add_node_definition(TableDataNodeDefinition(name="t", columns=[column], is_required=True))
    b.add_node_definition(SqlComputeNodeDefinition("q", "SELECT COUNT(*) AS n FROM t"))
    b.add_participant(BANK, data_owner_of=["t"], authentication=pinned)
    old = analyst.key_fingerprint()
    b.add_participant(
        ANALYST, analyst_of=["q"], authentication=AuthenticationMethod.pinned_key(old)
    )
    dcr = bank.publish_analytics_dcr(b.build())
    table = dcr.get_node("t")
    assert isinstance(table, TableDataNode)
    table.upload_and_publish_dataset(io.BytesIO(b"1\n2\n3\n"), sr.Key(), "t.csv")
    job = analyst.retrieve_analytics_dcr(dcr.id).get_node("q")
    assert isinstance(job, SqlComputationNode)
    earlier = job.run_computation()

    # The analyst's laptop is lost: a new key, which the room does not know yet.
    old_key = ParticipantKeys().signing_key(ANALYST)
    ParticipantKeys().rotate(ANALYST)
    new = analyst.key_fingerprint()
    assert new != old
    with pytest.raises(ParticipantSignatureError, match="pins another key for you"):
        _count(analyst.retrieve_analytics_dcr(dcr.id))

    # Somebody who holds the earlier job's result key cannot fetch it in the analyst's name.
    _point_token_at(server, tokens[MALLORY], ANALYST)
    mallory = sr.create_client(
        ANALYST, tokens[MALLORY], api_url=server.url, state_dir=tmp_path / "mallory"
    )
    with pytest.raises(ParticipantSignatureError):
        mallory.session().get_computation_result(earlier, timeout=60)

    # The bank asks the room to recognise the new key; the data owners (the bank) approve.
    request = (
        dcr.refresh()
        .build_request()
        .change_authentication(ANALYST, AuthenticationMethod.pinned_key(new))
        .with_note("carol's laptop was stolen; her new key, read to me on the phone")
        .submit()
    )
    assert request.required_approvers == [BANK]
    # A host relaying an approval "by the bank" signed with another key gets nowhere.
    _point_token_at(server, tokens[MALLORY], BANK)
    as_bank = sr.create_client(
        BANK, tokens[MALLORY], api_url=server.url, state_dir=tmp_path / "mallory"
    )
    with pytest.raises(ParticipantSignatureError):
        as_bank.retrieve_analytics_dcr(dcr.id).get_submitted_request(request.id).approve()
    request = dcr.get_submitted_request(request.id).approve()
    request.integrate()

    assert _count(analyst.retrieve_analytics_dcr(dcr.id)).splitlines() == ["n", "3"]
    # The old key is refused from now on.
    recipient = KemPrivateKey.generate().public_key.to_bytes()
    call = signed_actions.run_computation(dcr.id, "q", {}, recipient)
    stale = httpx.post(
        f"{server.url}/v1/rooms/{dcr.id}/nodes/q/jobs",
        json={"parameters": {}, "recipient_public_key": recipient.hex()},
        headers={
            "Authorization": f"Bearer {tokens[ANALYST]}",
            PROOF_HEADER: sign_action(old_key, call, now_ms=int(time.time() * 1000)).to_header(),
        },
        timeout=30,
    )
    assert stale.status_code == 403
    assert "pins another key" in stale.json()["detail"]
