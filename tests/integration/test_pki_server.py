"""The platform PKI and the key directory through a real ``sealroom serve`` (issue 16).

The operator's CA certifies a key for the address of the API token that asks, whatever the
request says, and the directory answers with the key each user registered last.
"""

from __future__ import annotations

import base64
import datetime as dt
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from sealroom.crypto import SigningKey, VerifyKey
from sealroom.crypto.certificates import (
    certificate_facts,
    load_root_certificate,
    root_fingerprint,
    verify_participant_certificate,
)
from sealroom.errors import VerificationError
from sealroom.model.identities import key_fingerprint
from tests.integration.conftest import (
    ANALYST,
    BANK,
    INSURER,
    ServerProcess,
    start_server,
    stop_server,
)

pytestmark = pytest.mark.integration

NOBODY = "nobody@nowhere.example"


@dataclass(frozen=True)
class Pki:
    server: ServerProcess
    bank: httpx.Client
    insurer: httpx.Client
    anonymous: httpx.Client


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    server = start_server(tmp_path_factory.mktemp("pki"))
    try:
        tokens = {email: server.add_user(email) for email in (BANK, INSURER, ANALYST)}
        with (
            _api(server, tokens[BANK]) as bank,
            _api(server, tokens[INSURER]) as insurer,
            httpx.Client(base_url=server.url, timeout=30) as anonymous,
        ):
            yield Pki(server, bank, insurer, anonymous)
    finally:
        stop_server(server)


def _api(server: ServerProcess, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    return body


def _certify(api: httpx.Client, key: VerifyKey) -> dict[str, object]:
    response = api.post("/v1/pki/certificates", json={"public_key": key.hex()})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    assert set(body) == {"certificate", "not_after_ms", "fingerprint"}
    return body


def _root(api: httpx.Client) -> str:
    response = api.get("/v1/pki/root")
    assert response.status_code == 200, response.text
    pem: str = response.json()["certificate"]
    return pem


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_the_root_is_the_operators_ca(pki: Pki) -> None:
    response = pki.bank.get("/v1/pki/root")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"certificate", "fingerprint"}
    assert body["certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert body["fingerprint"] == root_fingerprint(body["certificate"])
    root = load_root_certificate(body["certificate"])
    assert root.subject.rfc4514_string().startswith("CN=Sealroom platform CA (")
    # The root kept in the data directory, next to its key (0600, in a 0700 directory).
    directory = pki.server.data_dir / "pki"
    assert (directory / "ca.pem").read_text() == body["certificate"]
    assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    # Every user sees the same root.
    assert pki.insurer.get("/v1/pki/root").json() == body


def test_a_certificate_is_issued_for_the_tokens_user(pki: Pki) -> None:
    key = SigningKey.generate().verify_key
    body = _certify(pki.bank, key)
    der = base64.b64decode(str(body["certificate"]), validate=True)
    assert body["fingerprint"] == key_fingerprint(key.to_bytes())
    facts = certificate_facts(der)
    assert facts.emails == frozenset({BANK})
    assert facts.public_key == key.to_bytes()
    assert body["not_after_ms"] == facts.not_after_ms
    expected = (_now() + dt.timedelta(days=90)).timestamp() * 1000
    assert abs(int(str(body["not_after_ms"])) - expected) < 60_000
    root = _root(pki.bank)
    verify_participant_certificate(root, der, BANK, key, _now())
    with pytest.raises(VerificationError, match="another e-mail address"):
        verify_participant_certificate(root, der, INSURER, key, _now())


def test_a_key_someone_else_sends_is_certified_for_the_sender_only(pki: Pki) -> None:
    """The insurer sends the bank's key: the certificate names the insurer, never the bank."""
    banks_key = SigningKey.generate().verify_key
    body = _certify(pki.insurer, banks_key)
    der = base64.b64decode(str(body["certificate"]))
    assert certificate_facts(der).emails == frozenset({INSURER})
    root = _root(pki.insurer)
    with pytest.raises(VerificationError, match="another e-mail address"):
        verify_participant_certificate(root, der, BANK, banks_key, _now())
    # Nor can the body name an address: unknown fields are refused.
    response = pki.insurer.post(
        "/v1/pki/certificates", json={"public_key": banks_key.hex(), "email": BANK}
    )
    assert "email" in str(_problem(response, 400)["detail"])


def test_the_directory_answers_with_the_latest_registered_key(pki: Pki) -> None:
    first, second = SigningKey.generate().verify_key, SigningKey.generate().verify_key
    _certify(pki.bank, first)
    entry = pki.insurer.get(f"/v1/directory/{BANK}")
    assert entry.status_code == 200, entry.text
    body = entry.json()
    assert body["public_key"] == first.hex()
    _certify(pki.bank, second)
    body = pki.insurer.get("/v1/directory/Alice@Bank.Example").json()
    assert set(body) == {"email", "public_key", "fingerprint", "registered_at_ms"}
    assert body["email"] == BANK
    assert body["public_key"] == second.hex()
    assert body["fingerprint"] == key_fingerprint(second.to_bytes())
    assert abs(body["registered_at_ms"] - _now().timestamp() * 1000) < 60_000


def test_an_address_without_a_key_is_not_found_alike(pki: Pki) -> None:
    """An account that never registered a key and an address nobody has answer the same."""
    details = set()
    for address in (ANALYST, NOBODY, "not-an-address"):
        problem = _problem(pki.bank.get(f"/v1/directory/{address}"), 404)
        assert problem["code"] == "not_found"
        details.add(problem["detail"])
    assert details == {"no signing key is registered for this address"}


BAD_KEYS = {
    "not hex": "zz" * 32,
    "too short": "ab" * 31,
    "too long": "ab" * 33,
    "upper case": "AB" * 32,
    "a number": 7,
}
NOT_KEYS = {
    "the identity (low order)": "01" + "00" * 31,
    "all zeros (low order)": "00" * 32,
    "an order-8 point": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "no curve point": "02" + "00" * 31,
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_malformed_public_key_is_refused(pki: Pki, key: object) -> None:
    response = pki.bank.post("/v1/pki/certificates", json={"public_key": key})
    problem = _problem(response, 400)
    assert problem["code"] == "bad_request"
    assert "public_key" in str(problem["detail"])


@pytest.mark.parametrize("key", NOT_KEYS.values(), ids=NOT_KEYS.keys())
def test_a_point_no_key_can_be_is_refused(pki: Pki, key: str) -> None:
    before = pki.bank.get(f"/v1/directory/{BANK}")
    response = pki.bank.post("/v1/pki/certificates", json={"public_key": key})
    problem = _problem(response, 400)
    assert problem["code"] == "bad_request"
    assert str(problem["detail"]).startswith("public_key: not an Ed25519 public key")
    # Nothing was registered.
    assert pki.bank.get(f"/v1/directory/{BANK}").text == before.text


def test_a_missing_body_is_refused(pki: Pki) -> None:
    _problem(pki.bank.post("/v1/pki/certificates"), 400)
    _problem(pki.bank.post("/v1/pki/certificates", json={}), 400)


def test_every_operation_needs_a_token(pki: Pki) -> None:
    key = SigningKey.generate().verify_key.hex()
    requests = [
        ("GET", "/v1/pki/root", None),
        ("POST", "/v1/pki/certificates", {"public_key": key}),
        ("GET", f"/v1/directory/{BANK}", None),
    ]
    for method, path, body in requests:
        problem = _problem(pki.anonymous.request(method, path, json=body), 401)
        assert problem["code"] == "unauthenticated"
        revoked = {"Authorization": "Bearer sr_not-a-token"}
        response = pki.anonymous.request(method, path, json=body, headers=revoked)
        assert _problem(response, 401)["code"] == "unauthenticated"


def test_the_ca_and_the_directory_survive_a_restart(
    server_factory: Callable[..., ServerProcess],
) -> None:
    server = server_factory()
    token = server.add_user(BANK)
    key = SigningKey.generate().verify_key
    with _api(server, token) as api:
        root = _root(api)
        _certify(api, key)
    stop_server(server)
    again = server_factory()
    with _api(again, token) as api:
        assert _root(api) == root
        assert api.get(f"/v1/directory/{BANK}").json()["public_key"] == key.hex()
        der = base64.b64decode(str(_certify(api, key)["certificate"]))
        verify_participant_certificate(root, der, BANK, key, _now())
