"""What the browser verifies, in real Chromium against a real ``sealroom serve``, agrees with the
SDK (web/src/{attestation,audit,signed,results}.ts through ``/static/js/selftest.js``):

* every known answer of ``tests/vectors/web/verify.json`` (the vectors Python is checked against
  in tests/unit/test_web_verify_vectors.py), good ones accepted, tampered ones refused;
* the live core's attestation, with a fresh nonce, is verified and reported simulated, with the
  keys the SDK verified; a changed core key is refused once this browser pinned one;
* a room the SDK made: its definition hashes to its id and verifies with its signed state; its
  audit log verifies, then after more actions verifies again as an extension of the checkpoint
  this browser saved; the export the browser builds passes ``sealroom audit verify``;
* the attacker's tests: a checkpoint saved in this browser that the server's log does not extend
  (a forked or a longer history, signed with the core's key as an operator holding it could) is
  reported, and so is a saved checkpoint edited by hand;
* a job whose result is sealed to a key made in the browser: the browser fetches it, checks the
  core's release and opens it to what the SDK gets; a release for another node is refused.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Page

import sealroom as sr
import sealroom.sql as srsql
from sealroom.audit import Checkpoint, room_origin, sign_checkpoint
from sealroom.client import JobId
from sealroom.enclave.keystore import load_or_create_identity, load_sealing_key
from sealroom.model import signed_actions
from tests.integration.browser import chromium  # noqa: F401 (the fixture)
from tests.integration.conftest import BANK, ServerProcess, run_cli, start_server, stop_server

pytestmark = [pytest.mark.integration]

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "web" / "verify.json").read_text())
SALARIES = "name,salary\nAlice,10.0\nBob,12.0\nJack,7.0\n"
SUM_NODE = "salary_sum"


@dataclass
class World:
    """A server, a user of it, and a room of that user with a published table and a query."""

    server: ServerProcess
    token: str
    session: Any
    room_id: str
    specs: list[dict[str, object]]

    def proof(self, call: signed_actions.ActionCall) -> str:
        """The user's signature of ``call``, as the SDK makes it (fresh each time)."""
        return str(self.session._signer(call)())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("web-verify")
    server = start_server(root)
    try:
        token = server.add_user(BANK)
        client = sr.create_client(BANK, token, api_url=server.url, state_dir=root / "sdk-state")
        specs = sr.enclave_specifications.latest()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # simulated attestation: said loudly, known here
            auth, _ = client.create_auth_using_platform_pki(specs)
            session = client.create_session(auth, specs)
        builder = sr.DataRoomBuilder("Web verify", enclave_specs=specs)
        table = srsql.TabularDataNodeBuilder(
            "salary_data",
            schema=[
                ("name", srsql.PrimitiveType.STRING, False),
                ("salary", srsql.PrimitiveType.FLOAT64, False),
            ],
        )
        table.add_to_builder(
            builder, authentication=client.platform_pki_authentication, users=[BANK]
        )
        query = builder.add_compute_node(
            srsql.SqlCompute(
                name=SUM_NODE,
                sql_statement="SELECT SUM(salary) AS total FROM salary_data",
                dependencies=[("salary_data", table.output_node_id)],
            )
        )
        builder.add_user_permission(
            email=BANK,
            authentication_method=client.platform_pki_authentication,
            permissions=[
                sr.Permissions.execute_compute(query),
                sr.Permissions.retrieve_compute_result(query),
            ],
        )
        room_id = session.publish_data_room(builder.build())
        srsql.upload_and_publish_tabular_dataset(
            srsql.read_input_csv_string(SALARIES, has_header=True, delimiter=","),
            sr.Key(),
            room_id,
            table="salary_data",
            session=session,
        )
        yield World(server, token, session, room_id, [s.to_dict() for s in specs.values()])
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def context(chromium: Browser) -> Iterator[BrowserContext]:  # noqa: F811
    """One browser profile for the module: its localStorage is what it verified before."""
    opened = chromium.new_context()
    try:
        yield opened
    finally:
        opened.close()


def open_page(context: BrowserContext, world: World) -> Page:
    page = context.new_page()
    response = page.goto(f"{world.server.url}/health")
    assert response is not None
    assert response.status == 200
    return page


def selftest(page: Page, function: str, *args: Any) -> Any:
    """Call ``function`` of the served selftest bundle in ``page`` with JSON arguments."""
    return page.evaluate(
        """async ([name, args]) => {
            const selftest = await import("/static/js/selftest.js");
            return await selftest[name](...args);
        }""",
        [function, list(args)],
    )


def local_storage(page: Page, key: str, value: str | None = None) -> Any:
    if value is None:
        return page.evaluate("(key) => localStorage.getItem(key)", key)
    return page.evaluate("([key, value]) => localStorage.setItem(key, value)", [key, value])


# -- known answers ------------------------------------------------------------------------
def test_the_browser_agrees_with_every_known_answer(context: BrowserContext, world: World) -> None:
    page = open_page(context, world)
    try:
        assert selftest(page, "verifyKnownAnswers", VECTORS) == []
        # And it notices a vector that lies: a refused attestation case marked valid.
        lying = json.loads(json.dumps(VECTORS))
        stale = next(c for c in lying["attestation"]["cases"] if c["desc"] == "stale")
        stale["valid"] = True
        mismatches = selftest(page, "verifyKnownAnswers", lying)
        assert len(mismatches) == 1
        assert "older than" in mismatches[0]
    finally:
        page.close()


# -- attestation ----------------------------------------------------------------------------
def test_the_browser_attests_the_live_core_as_simulated(
    context: BrowserContext, world: World
) -> None:
    page = open_page(context, world)
    try:
        first = selftest(page, "attestLive", world.specs)
        second = selftest(page, "attestLive", world.specs)
        attested = world.session.attestation
        assert first["simulated"] is True
        assert first["provider"] == "simulated"
        assert "SIMULATED" in first["warning"]
        assert first["verifyKey"] == attested.verify_key.hex()
        assert first["kemPublicKey"] == attested.kem_public_key.hex()
        assert first["measurement"] == attested.measurement
        assert first["nonce"] != second["nonce"]  # a fresh nonce every time
        assert len(first["nonce"]) == 64
        chosen = "5a" * 32
        assert selftest(page, "attestLive", world.specs, chosen)["nonce"] == chosen
        # The server's keys are pinned in this browser now: another key is refused.
        pin = json.loads(local_storage(page, "sealroom/core-keys/server"))
        assert pin["core_public_key"] == attested.verify_key.hex()
        local_storage(
            page, "sealroom/core-keys/server", json.dumps({**pin, "core_public_key": "00" * 32})
        )
        with pytest.raises(Error, match="other keys than the ones this browser pinned"):
            selftest(page, "attestLive", world.specs)
        local_storage(page, "sealroom/core-keys/server", json.dumps(pin))
        # A core whose code no trusted specification names is refused.
        untrusted = [{**spec, "measurement": "ab" * 32} for spec in world.specs]
        with pytest.raises(Error, match="code you do not trust"):
            selftest(page, "attestLive", untrusted)
    finally:
        page.close()


# -- the room and its audit log -------------------------------------------------------------
def test_the_room_verifies_in_the_browser(context: BrowserContext, world: World) -> None:
    page = open_page(context, world)
    try:
        room = selftest(page, "verifyRoomLive", world.room_id, world.token, world.specs)
        state = world.session.retrieve_room_state(world.room_id)
        assert room["roomId"] == world.room_id
        assert room["definitionSha256"] == world.room_id
        assert room["name"] == "Web verify"
        assert room["status"] == "active"
        assert room["commits"] == 0
        assert room["version"] >= 3  # published, dataset published, validated
        assert room["version"] <= state.version
        assert room["datasets"] == state.datasets
        assert room["historyPin"] == state.history_pin
    finally:
        page.close()


def run_job(world: World) -> str:
    result = world.session.run_computation_and_get_results(world.room_id, SUM_NODE, timeout=120)
    return str(result.decode())


def test_the_audit_log_verifies_then_extends_and_exports(
    context: BrowserContext, world: World, tmp_path: Path
) -> None:
    page = open_page(context, world)
    try:
        first = selftest(page, "verifyAuditLive", world.room_id, world.token, world.specs)
        assert first["actions"][0] == "ROOM_PUBLISHED"
        assert "DATASET_PUBLISHED" in first["actions"]
        assert first["entries"][0]["label"] == "Room published"
        assert BANK in first["entries"][0]["user"]
        saved = json.loads(local_storage(page, f"sealroom/audit-checkpoints/{world.room_id}"))
        assert saved["core_public_key"] == world.session.attestation.verify_key.hex()

        run_job(world)  # more entries: submitted, key used, completed, retrieved
        second = selftest(page, "verifyAuditLive", world.room_id, world.token, world.specs)
        assert second["previousSize"] == first["size"]
        assert second["size"] > first["size"]
        assert "JOB_COMPLETED" in second["actions"]
        assert second["actions"][: first["size"]] == first["actions"]

        sdk = world.session.verify_audit_log(world.room_id)
        assert sdk.size == second["size"]  # nothing happened in between
        assert sdk.checkpoint.root_hash.hex() == second["rootHash"]
        from sealroom.audit import format_lines

        assert second["lines"] == format_lines(sdk.events)

        exported = selftest(page, "exportAuditLive", world.room_id, world.token, world.specs)
        path = tmp_path / "audit.json"
        path.write_text(exported, encoding="utf-8")
        key = world.session.attestation.verify_key.hex()
        verified = run_cli("audit", "verify", str(path), "--key", key, env=world.server.env)
        assert f"verified: room {world.room_id}" in verified.stdout
        # Altered by one byte, the export no longer verifies.
        path.write_text(exported.replace("DATASET_PUBLISHED", "DATASET_PUBLISHEE", 1), "utf-8")
        refused = run_cli(
            "audit", "verify", str(path), "--key", key, env=world.server.env, check=False
        )
        assert refused.returncode == 1
        assert "NOT VERIFIED" in refused.stdout + refused.stderr
    finally:
        page.close()


def core_signing_key(world: World) -> Any:
    """The core's signing key, as the operator of a simulated server can read it."""
    data_dir = world.server.data_dir
    sealing_key = load_sealing_key(data_dir.parent / "sealing.key")
    return load_or_create_identity(
        data_dir / "enclave" / "identity.sealed", sealing_key
    ).signing_key


def test_a_saved_checkpoint_the_log_does_not_extend_is_reported(
    chromium: Browser,  # noqa: F811 (the fixture)
    world: World,
) -> None:
    fresh = chromium.new_context()  # nothing saved yet in this profile
    try:
        page = open_page(fresh, world)
        log = selftest(page, "verifyAuditLive", world.room_id, world.token, world.specs)
        key = f"sealroom/audit-checkpoints/{world.room_id}"
        genuine = local_storage(page, key)
        core_key = world.session.attestation.verify_key.hex()
        signer = core_signing_key(world)
        assert signer.verify_key.hex() == core_key
        origin = room_origin(world.room_id)
        forks = {
            # A history of the same length whose entries differ from the server's.
            "audit log forked": Checkpoint(origin, log["size"] - 1, bytes(32)),
            # A longer history than the server now shows: entries were dropped.
            "audit log truncated": Checkpoint(origin, log["size"] + 5, bytes(32)),
        }
        for reason, forged in forks.items():
            note = sign_checkpoint(forged, signer)
            local_storage(page, key, json.dumps({"checkpoint": note, "core_public_key": core_key}))
            with pytest.raises(Error, match=reason):
                selftest(page, "verifyAuditLive", world.room_id, world.token, world.specs)
            # The refused log did not replace what was saved.
            assert json.loads(local_storage(page, key))["checkpoint"] == note
        # A saved checkpoint edited by hand (not signed by the core) is refused, not trusted.
        edited = json.loads(genuine)
        edited["checkpoint"] = edited["checkpoint"].replace(f"\n{log['size']}\n", "\n1\n")
        local_storage(page, key, json.dumps(edited))
        with pytest.raises(Error, match="does not verify"):
            selftest(page, "verifyAuditLive", world.room_id, world.token, world.specs)
        # Saved by another core: refused as a change of core.
        local_storage(page, key, json.dumps({**json.loads(genuine), "core_public_key": "11" * 32}))
        with pytest.raises(Error, match="signing key changed"):
            selftest(page, "verifyAuditLive", world.room_id, world.token, world.specs)
        # Put back, the genuine checkpoint verifies again.
        local_storage(page, key, genuine)
        again = selftest(page, "verifyAuditLive", world.room_id, world.token, world.specs)
        assert again["previousSize"] == log["size"]
    finally:
        fresh.close()


# -- results ------------------------------------------------------------------------------
def test_a_result_sealed_to_the_browser_opens_there_as_the_sdk_reads_it(
    context: BrowserContext, world: World
) -> None:
    page = open_page(context, world)
    try:
        recipient = selftest(page, "newRecipientLive")
        recipient_key = bytes.fromhex(recipient["publicKey"])
        # The job is submitted, signed by the user, naming the browser's key (never its private
        # half: that stays non-extractable in the page).
        call = signed_actions.run_computation(world.room_id, SUM_NODE, None, recipient_key)
        submitted = httpx.post(
            f"{world.server.url}/v1/rooms/{world.room_id}/nodes/{SUM_NODE}/jobs",
            json={"parameters": {}, "recipient_public_key": recipient["publicKey"]},
            headers={"Authorization": f"Bearer {world.token}", "Sealroom-Proof": world.proof(call)},
            timeout=30,
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]
        world.session.wait_until_computation_has_finished(
            JobId(job_id, SUM_NODE, world.room_id), timeout=120
        )

        def open_in_browser(node: str) -> Any:
            proof = world.proof(
                signed_actions.retrieve_result(world.room_id, job_id, recipient_key, "csv")
            )
            return selftest(
                page,
                "openResultLive",
                {
                    "token": world.token,
                    "specs": world.specs,
                    "handle": recipient["handle"],
                    "roomId": world.room_id,
                    "node": node,
                    "jobId": job_id,
                    "format": "csv",
                    "proof": proof,
                },
            )

        opened = open_in_browser(SUM_NODE)
        expected = run_job(world)  # the same query, run and opened by the SDK
        assert opened["text"] == expected
        assert opened["columns"] == ["total"]
        assert opened["rows"] == [["29.0"]]
        # The core released this result for SUM_NODE: claimed for another node, it is refused.
        with pytest.raises(Error, match="not the core's release"):
            open_in_browser("other_node")
    finally:
        page.close()
