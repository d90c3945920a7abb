"""The SDK verifies the core's attestation before it sends any key, and refuses on mismatch."""

from __future__ import annotations

import dataclasses
import io
import json

import httpx
import pytest

import sealroom as sr
from sealroom.attestation import enclave_specifications
from sealroom.crypto import KemPrivateKey
from tests.integration.conftest import BANK, InProcessPlatform


class TamperingTransport(httpx.BaseTransport):
    """A malicious host: swaps the core's key in the attestation document for its own."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.attacker_key = KemPrivateKey.generate()
        self.saw_key_upload = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/dataset") and request.method == "PUT":
            self.saw_key_upload = True
        response = self.inner.handle_request(request)
        if request.url.path == "/v1/enclave/attestation":
            response.read()
            document = json.loads(response.content)
            document["kem_public_key"] = self.attacker_key.public_key.to_bytes().hex()
            return httpx.Response(200, json=document)
        return response


def test_the_sdk_accepts_the_simulated_core_and_says_it_is_simulated(
    app_platform: InProcessPlatform,
) -> None:
    client = app_platform.client(BANK)
    with pytest.warns(sr.SimulatedAttestationWarning, match="SIMULATED"):
        session = client.create_session()
    assert session.attestation.is_simulated
    assert session.attestation.measurement == enclave_specifications.installed().measurement
    assert session.attestation.specification in enclave_specifications.latest().values()


def test_the_sdk_refuses_a_core_with_another_measurement(app_platform: InProcessPlatform) -> None:
    installed = enclave_specifications.installed()
    other = dataclasses.replace(installed, measurement="0" * 64)
    client = sr.create_client(
        BANK,
        app_platform.token(BANK),
        api_url="http://testserver",
        transport=app_platform.transport,
        enclave_specs={other.id: other},
    )
    with pytest.raises(sr.AttestationError, match="measurement"):
        client.session()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_host_swapping_the_core_key_is_caught_before_any_key_is_sent(
    app_platform: InProcessPlatform,
) -> None:
    tampering = TamperingTransport(app_platform.transport)
    client = sr.create_client(
        BANK, app_platform.token(BANK), api_url="http://testserver", transport=tampering
    )
    dataset_id = client.upload_dataset(io.BytesIO(b"1\n"), sr.Key(), "t.csv")
    assert dataset_id
    with pytest.raises(sr.AttestationError):
        client.session()
    assert not tampering.saw_key_upload
