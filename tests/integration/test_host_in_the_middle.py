"""The operator of the host, between the SDK and a real ``sealroom serve``: it sees every request
and may rewrite any request or response. Each test is one of its attacks (issue 13, items 1-4).

Since participants sign what they ask of the core (issue 16), a request the host rewrites —
another recipient key, other parameters, another sealed key — no longer verifies: the core
refuses it before it acts.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcr,
    AnalyticsDcrBuilder,
    AnalyticsDcrDefinition,
    Column,
    FormatType,
    SqlComputeNodeDefinition,
    TableDataNodeDefinition,
)
from sealroom.attestation import SimulatedProvider, produce_attestation
from sealroom.crypto import (
    KemPrivateKey,
    KemPublicKey,
    SigningKey,
    dataset_key_context,
    open_sealed,
    result_context,
    seal,
)
from sealroom.errors import (
    BadRequestError,
    ConfigurationError,
    ParticipantSignatureError,
    VerificationError,
)
from sealroom.model import signed_actions
from sealroom.model.result_release import RESULT_FORMAT_HEADER
from sealroom.model.signed_actions import PROOF_HEADER
from tests.integration.conftest import ANALYST, BANK, INSURER, ServerProcess
from tests.integration.test_interactive_rooms import _overlap_request, _three_parties

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::sealroom.errors.SimulatedAttestationWarning"),
]

RequestHook = Callable[[httpx.Request], httpx.Request | None]
ResponseHook = Callable[[httpx.Request, httpx.Response], httpx.Response | None]


class Host(httpx.BaseTransport):
    """A host in the middle: hooks may replace any request before the server sees it, and any
    response before the SDK does; ``requests`` keeps what passed (as the host would)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.request_hooks: list[RequestHook] = []
        self.response_hooks: list[ResponseHook] = []
        self.requests: list[tuple[str, str, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        for hook in self.request_hooks:
            request = hook(request) or request
        self.requests.append((request.method, request.url.path, request.content))
        response = self.inner.handle_request(request)
        response.read()
        for response_hook in self.response_hooks:
            response = response_hook(request, response) or response
        return response

    def sent(self, method: str, suffix: str) -> list[dict[str, object]]:
        """The JSON bodies of the requests sent so far to a path ending with ``suffix``."""
        return [
            json.loads(body)
            for m, path, body in self.requests
            if m == method and path.endswith(suffix) and body
        ]


def with_json(request: httpx.Request, body: object) -> httpx.Request:
    """``request`` with another JSON body (what a host rewriting it in flight would send)."""
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return httpx.Request(request.method, request.url, headers=headers, json=body)


def with_content(response: httpx.Response, content: bytes) -> httpx.Response:
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return httpx.Response(response.status_code, headers=headers, content=content)


def client_for(
    server: ServerProcess, email: str, token: str, host: Host, state: Path, url: str = ""
) -> sr.Client:
    return sr.create_client(
        email, token, api_url=url or server.url, transport=host, state_dir=state
    )


def sales_room(client: sr.Client) -> AnalyticsDcrDefinition:
    """BANK's room: table ``sales`` (amount), SQL ``total`` = its sum (18), BANK its analyst."""
    builder = AnalyticsDcrBuilder(client=client).with_name("sales").with_owner(BANK)
    builder.add_node_definition(
        TableDataNodeDefinition(
            name="sales",
            columns=[Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    builder.add_node_definition(
        SqlComputeNodeDefinition("total", "SELECT SUM(amount) AS n FROM sales")
    )
    builder.add_participant(BANK, data_owner_of=["sales"], analyst_of=["total"])
    return builder.build()


def published_sales_room(client: sr.Client) -> AnalyticsDcr:
    dcr = client.publish_analytics_dcr(sales_room(client))
    node = dcr.get_node("sales")
    node.upload_and_publish_dataset(io.BytesIO(b"10\n3\n5\n"), sr.Key(), "sales")  # type: ignore[union-attr]
    return dcr


@pytest.fixture
def bank(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> tuple[ServerProcess, str, Host, sr.Client]:
    server = server_factory()
    token = server.add_user(BANK)
    host = Host()
    return server, token, host, client_for(server, BANK, token, host, tmp_path / "bank-state")


# -- 1. results are the core's, released to the key named at submission -----------------------
def test_a_result_the_host_sealed_itself_is_refused(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    _, _, host, client = bank
    dcr = published_sales_room(client)
    session = client.session()
    job = session.run_computation(dcr.id, "total")
    recipient = KemPublicKey.from_hex(str(host.sent("POST", "/jobs")[-1]["recipient_public_key"]))

    def forge(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if not request.url.path.endswith("/result"):
            return None
        # The host keeps the core's genuine signature and headers, and seals its own answer.
        forged = seal(recipient, b"n\n999999\n", context=result_context(dcr.id, job.id, "csv"))
        return with_content(response, forged)

    host.response_hooks.append(forge)
    with pytest.raises(VerificationError, match="not the core's release"):
        session.get_computation_result(job, timeout=120)
    host.response_hooks.clear()
    assert session.get_computation_result(job, timeout=120) == b"n\n18\n"


def test_a_result_replayed_from_another_job_is_refused(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    _, _, host, client = bank
    dcr = published_sales_room(client)
    session = client.session()
    first = session.run_computation(dcr.id, "total")
    assert session.get_computation_result(first, timeout=120) == b"n\n18\n"
    first_release = [r for r in host.requests if r[1].endswith("/result")]
    assert first_release
    # The host answers the second job's fetch with the first job's genuine response.
    captured: dict[str, httpx.Response] = {}

    def keep(request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path.endswith(f"/{first.id}/result"):
            captured["first"] = response

    host.response_hooks.append(keep)
    session.get_computation_result(first, timeout=120)
    second = session.run_computation(dcr.id, "total")

    def replay(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        return captured["first"] if request.url.path.endswith(f"/{second.id}/result") else None

    host.response_hooks.append(replay)
    with pytest.raises(VerificationError, match="not the core's release"):
        session.get_computation_result(second, timeout=120)


def test_a_host_swapping_the_recipient_key_is_caught_and_audited(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    _, _, host, client = bank
    dcr = published_sales_room(client)
    session = client.session()
    own: dict[str, str] = {}
    attacker = KemPrivateKey.generate()

    def swap_key(request: httpx.Request) -> httpx.Request | None:
        if request.method != "POST" or not request.url.path.endswith(("/jobs", "/result")):
            return None
        body = json.loads(request.content)
        own["key"] = body["recipient_public_key"]
        return with_json(request, {**body, "recipient_public_key": attacker.public_key.hex()})

    read: dict[str, bytes] = {}

    def reseal(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if not request.url.path.endswith("/result") or response.status_code != 200:
            return None
        context = result_context(dcr.id, request.url.path.split("/")[-2], "csv")
        read["plaintext"] = open_sealed(attacker, response.content, context=context)
        analyst = KemPublicKey.from_hex(own["key"])
        return with_content(response, seal(analyst, read["plaintext"], context=context))

    host.request_hooks.append(swap_key)
    host.response_hooks.append(reseal)
    # The analyst signed the key it named; the core refuses the swapped one before it queues.
    with pytest.raises(ParticipantSignatureError, match="does not verify for run_computation"):
        session.run_computation(dcr.id, "total")
    host.request_hooks.clear()
    host.response_hooks.clear()
    assert read == {}
    events = session.verify_audit_log(dcr.id).events
    assert not [e for e in events if e.details.get("recipient_key") == attacker.public_key.hex()]
    denied = [e for e in events if str(e.action) == "ACCESS_DENIED"]
    assert "does not verify" in str(denied[-1].details["reason"])
    # The same request, unaltered, runs and is released to the analyst's own key only.
    job = session.run_computation(dcr.id, "total")
    assert session.get_computation_result(job, timeout=120) == b"n\n18\n"


def test_a_result_is_released_only_to_the_key_named_at_submission(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    server, token, _, client = bank
    dcr = published_sales_room(client)
    session = client.session()
    job = session.run_computation(dcr.id, "total")
    session.wait_until_computation_has_finished(job, timeout=120)
    # The host (holding the analyst's token) asks for the result to a key of its own: without
    # the analyst's signature it gets nothing.
    other = KemPrivateKey.generate().public_key.to_bytes()
    response = httpx.post(
        f"{server.url}/v1/jobs/{job.id}/result",
        json={"recipient_public_key": other.hex()},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "participant_signature"
    # Even the analyst's own signature names only the key named at submission.
    signer = session._signer(signed_actions.retrieve_result(dcr.id, job.id, other, None))
    response = httpx.post(
        f"{server.url}/v1/jobs/{job.id}/result",
        json={"recipient_public_key": other.hex()},
        headers={"Authorization": f"Bearer {token}", PROOF_HEADER: signer()},
    )
    assert response.status_code == 403
    assert "only to the key named when the job was submitted" in response.json()["detail"]
    # A JobId without its key (built by hand, or in another process) says what to do.
    bare = sr.JobId(job.id, job.compute_node_id, job.data_room_id)
    with pytest.raises(ConfigurationError, match="session that submitted it"):
        session.get_computation_result(bare)
    assert session.get_computation_result(job) == b"n\n18\n"


def test_parameters_rewritten_in_flight_are_caught(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    _, _, host, client = bank
    builder = AnalyticsDcrBuilder(client=client).with_name("p").with_owner(BANK)
    builder.add_node_definition(
        TableDataNodeDefinition(
            name="sales",
            columns=[Column(name="amount", format_type=FormatType.INTEGER, is_nullable=False)],
            is_required=True,
        )
    )
    builder.add_node_definition(
        SqlComputeNodeDefinition(
            "above",
            "SELECT COUNT(*) AS n FROM sales WHERE amount > CAST($floor AS INTEGER)",
            parameters=["floor"],
        )
    )
    builder.add_participant(BANK, data_owner_of=["sales"], analyst_of=["above"])
    dcr = client.publish_analytics_dcr(builder.build())
    dcr.get_node("sales").upload_and_publish_dataset(  # type: ignore[union-attr]
        io.BytesIO(b"10\n3\n5\n"), sr.Key(), "sales"
    )

    def other_floor(request: httpx.Request) -> httpx.Request | None:
        if request.method == "POST" and request.url.path.endswith("/jobs"):
            body = json.loads(request.content)
            return with_json(request, {**body, "parameters": {"floor": "0"}})
        return None

    host.request_hooks.append(other_floor)
    session = client.session()
    with pytest.raises(ParticipantSignatureError, match="does not verify for run_computation"):
        session.run_computation(dcr.id, "above", parameters={"floor": "4"})
    host.request_hooks.clear()
    job = session.run_computation(dcr.id, "above", parameters={"floor": "4"})
    assert session.get_computation_result(job, timeout=120) == b"n\n2\n"


def test_the_format_the_core_chose_cannot_be_relabelled(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    _, _, host, client = bank
    dcr = published_sales_room(client)
    session = client.session()
    job = session.run_computation(dcr.id, "total")

    def relabel(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if request.url.path.endswith("/result"):
            response.headers[RESULT_FORMAT_HEADER] = "zip"
        return None

    host.response_hooks.append(relabel)
    with pytest.raises(VerificationError):
        session.get_computation_result(job, timeout=120)


# -- 2. the core's keys are pinned per server and per room -------------------------------------
def _impersonate(host: Host, signing: SigningKey, kem: KemPrivateKey) -> None:
    """The host answers attestation itself: simulated evidence for its own keys."""

    def attest(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        if request.url.path != "/v1/enclave/attestation":
            return None
        genuine = json.loads(response.content)
        document = produce_attestation(
            SimulatedProvider(signing),
            genuine["measurement"],
            kem.public_key,
            signing.verify_key,
            bytes.fromhex(request.url.params["nonce"]),
        )
        return httpx.Response(200, json=document.model_dump(mode="json"))

    host.response_hooks.append(attest)


def test_a_host_posing_as_the_core_is_refused_before_any_key_is_sealed(
    bank: tuple[ServerProcess, str, Host, sr.Client], tmp_path: Path
) -> None:
    server, token, host, client = bank
    dcr = client.publish_analytics_dcr(sales_room(client))
    client.close()
    _impersonate(host, SigningKey.generate(), KemPrivateKey.generate())
    # The same user's next session (its state directory pinned the server's core).
    again = client_for(server, BANK, token, host, tmp_path / "bank-state")
    with pytest.raises(VerificationError, match="other keys than the ones you pinned"):
        again.session()
    # Reaching the same server under another name (no server pin), the room's pin holds.
    other_name = server.url.replace("127.0.0.1", "localhost")
    renamed = client_for(server, BANK, token, host, tmp_path / "bank-state", url=other_name)
    session = renamed.session()
    with pytest.raises(VerificationError, match=f"room {dcr.id}.*pinned"):
        session.publish_dataset(dcr.id, "0" * 64, "sales", sr.Key())
    assert not [path for method, path, _ in host.requests if method == "PUT" and "/nodes/" in path]


def test_a_fresh_client_trusts_the_first_core_it_sees(
    bank: tuple[ServerProcess, str, Host, sr.Client], tmp_path: Path
) -> None:
    """The limit of simulated mode, stated in docs/security.md: on first contact there is nothing to
    compare with, so a host that impersonates the core from the start is believed."""
    server, token, host, _ = bank
    _impersonate(host, SigningKey.generate(), KemPrivateKey.generate())
    fresh = client_for(server, BANK, token, host, tmp_path / "fresh-state")
    assert fresh.session().attestation.is_simulated


# -- 3. test runs and publications are separate key purposes -----------------------------------
def test_a_published_key_does_not_open_in_a_test_run(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    server, token, host, client = bank
    dcr = published_sales_room(client)
    published = host.sent("PUT", "/nodes/sales/dataset")[-1]
    definition = client.session().retrieve_data_room(dcr.id)
    body = {
        "test_run": secrets.token_hex(16),
        "definition": definition.model_dump(mode="json"),
        "test_datasets": {"sales": published},
    }
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(f"{server.url}/v1/test-runs", json=body, headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "draft_is_published"
    # A draft of another id cannot open the room's key either: every computation fails.
    draft = definition.model_dump(mode="json")
    draft["name"] = "another draft"
    body["definition"] = draft
    response = httpx.post(f"{server.url}/v1/test-runs", json=body, headers=headers)
    results = response.json()["results"]
    assert [r["error_code"] for r in results] == ["invalid_sealed_key"]
    assert "n\n18" not in response.text


def test_a_test_key_is_not_a_publication_nor_replayable(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    server, token, host, client = bank
    draft = sales_room(client)
    key = sr.Key()
    manifest_hash = client.upload_dataset(io.BytesIO(b"10\n3\n5\n"), key, "test sales")
    results = client.session().test_computations(
        draft.definition, test_datasets={"sales": (manifest_hash, key)}
    )
    assert results
    sent = host.sent("POST", "/v1/test-runs")[-1]
    headers = {"Authorization": f"Bearer {token}"}
    # Replayed as it was: the core has seen that test run.
    replay = httpx.post(f"{server.url}/v1/test-runs", json=sent, headers=headers)
    assert replay.status_code == 409
    assert replay.json()["code"] == "test_run_replayed"
    # Published as the room's dataset once the draft is a room: the test key does not open.
    dcr = client.publish_analytics_dcr(draft)
    lent = sent["test_datasets"]["sales"]  # type: ignore[index]
    sealed = base64.b64decode(lent["sealed_key"])
    call = signed_actions.publish_dataset(
        dcr.id, "sales", lent["dataset_id"], sealed, replace_passing=False
    )
    signer = client.session()._signer(call)  # the owner's own signature: still refused
    response = httpx.put(
        f"{server.url}/v1/rooms/{dcr.id}/nodes/sales/dataset",
        json=lent,
        headers={**headers, PROOF_HEADER: signer()},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_sealed_key"
    assert base64.b64decode(lent["sealed_key"])  # a real sealed key was tried


# -- 6. a dataset id names one key ---------------------------------------------------------------
def test_a_key_the_host_sealed_is_refused_at_publication(
    bank: tuple[ServerProcess, str, Host, sr.Client],
) -> None:
    """Anyone can seal a key to the core's public key; the manifest's key commitment tells the
    core that it is not the dataset's key, before anything is decrypted or published."""
    _, _, host, client = bank
    dcr = client.publish_analytics_dcr(sales_room(client))
    core_key = client.session().attestation.kem_public_key

    def other_key(request: httpx.Request) -> httpx.Request | None:
        if request.method != "PUT" or not request.url.path.endswith("/dataset"):
            return None
        body = json.loads(request.content)
        context = dataset_key_context(dcr.id, "sales", body["dataset_id"])
        forged = seal(core_key, sr.Key().material, context=context)
        return with_json(request, {**body, "sealed_key": base64.b64encode(forged).decode()})

    host.request_hooks.append(other_key)
    node = dcr.get_node("sales")
    # The owner signed the key they sealed: the host's is refused before it is opened.
    with pytest.raises(ParticipantSignatureError, match="does not verify for publish_dataset"):
        node.upload_and_publish_dataset(io.BytesIO(b"10\n"), sr.Key(), "sales")  # type: ignore[union-attr]
    host.request_hooks.clear()
    assert client.session().retrieve_room_state(dcr.id).datasets == {}
    # And the core's own check stands behind it: a key the owner signs, sealed for the dataset
    # but not the one it was encrypted with, is refused by the manifest's key commitment.
    key = sr.Key()
    manifest_hash = client.upload_dataset(io.BytesIO(b"10\n"), key, "sales")
    context = dataset_key_context(dcr.id, "sales", manifest_hash)
    wrong = seal(core_key, sr.Key().material, context=context)
    signer = client.session()._signer(
        signed_actions.publish_dataset(dcr.id, "sales", manifest_hash, wrong, replace_passing=False)
    )
    with pytest.raises(BadRequestError, match="not the key it was encrypted with"):
        client._api.request(
            "PUT",
            f"/v1/rooms/{dcr.id}/nodes/sales/dataset",
            json={"dataset_id": manifest_hash, "sealed_key": base64.b64encode(wrong).decode()},
            proof=signer,
        )


# -- 4. a rolled-back interactive room ----------------------------------------------------------
def test_a_host_dropping_the_last_commit_is_refused(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    tokens = {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}
    hosts = {email: Host() for email in tokens}
    clients = {
        email: client_for(server, email, tokens[email], hosts[email], tmp_path / email)
        for email in tokens
    }
    dcrs = _three_parties(lambda email: clients[email])
    room_id = dcrs[BANK].id
    request = _overlap_request(dcrs[ANALYST])
    for email in (BANK, INSURER):
        dcrs[email].get_submitted_request(request.id).approve()  # type: ignore[attr-defined]
    bank = clients[BANK].session()
    before: dict[str, httpx.Response] = {}

    def keep_state(request: httpx.Request, response: httpx.Response) -> None:
        if request.url.path == f"/v1/rooms/{room_id}/state":
            before.setdefault("state", response)

    hosts[BANK].response_hooks.append(keep_state)
    bank.retrieve_room_state(room_id)
    hosts[BANK].response_hooks.clear()
    request.integrate()  # type: ignore[attr-defined]
    assert bank.retrieve_data_room(room_id).node("overlap") is not None

    def drop_last_commit(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.method == "GET" and request.url.path == f"/v1/rooms/{room_id}":
            body = json.loads(response.content)
            body["commits"] = body["commits"][:-1]
            return httpx.Response(200, json=body)
        return response

    # Every commit left is genuinely signed: the core's signed state shows one is missing.
    hosts[BANK].response_hooks.append(drop_last_commit)
    with pytest.raises(VerificationError, match="rolled back"):
        bank.retrieve_data_room(room_id)

    # The host serves the state signed before the commit, too: the SDK remembers more.
    def old_state(request: httpx.Request, response: httpx.Response) -> httpx.Response | None:
        return before["state"] if request.url.path == f"/v1/rooms/{room_id}/state" else None

    hosts[BANK].response_hooks.append(old_state)
    with pytest.raises(VerificationError, match="rolled back"):
        bank.retrieve_data_room(room_id)
    hosts[BANK].response_hooks.clear()
    assert bank.retrieve_data_room(room_id).node("overlap") is not None
