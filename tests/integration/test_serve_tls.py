"""HTTPS with a certificate the SDK must verify, and the warning for plain HTTP (issue 21, 1).

A real ``sealroom serve --tls-cert/--tls-key`` with a self-signed certificate made here: the SDK
and the CLI refuse it as they would any unknown certificate, and work once given the
certificate as their CA bundle (``ca_bundle=``, ``SEALROOM_CA_BUNDLE``, ``--ca-bundle``). A
server listening beyond loopback without TLS says at start that tokens travel in clear text.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import sealroom as sr
from sealroom.errors import ServerError
from sealroom.server.embedded import free_port
from tests.integration.conftest import BANK, ServerProcess, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

PLAIN_HTTP_WARNING = "WARNING: plain HTTP on"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by its own key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealroom test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str], Path]]:
    """(its https URL, its certificate, the environment, its log) of a real TLS server."""
    cert, key = _self_signed(tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "SEALROOM_SEALING_KEY_FILE": str(tmp_path / "sealing.key"),
        "SEALROOM_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("SEALROOM_CA_BUNDLE", None)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "sealroom.cli", "serve", "--port", str(port)),
                *("--tls-cert", str(cert), "--tls-key", str(key)),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"https://127.0.0.1:{port}"
    trusting = ssl.create_default_context(cafile=str(cert))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the TLS server did not answer /health"
            try:
                if httpx.get(f"{url}/health", verify=trusting, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, cert, env, log_path
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_the_sdk_and_cli_verify_the_servers_certificate(
    https_server: tuple[str, Path, dict[str, str], Path],
) -> None:
    url, cert, env, log_path = https_server
    token = run_cli("user", "add", BANK, env=env).stdout.strip().splitlines()[-1]
    assert PLAIN_HTTP_WARNING not in log_path.read_text()

    # Unknown certificate: refused at once (not retried), saying what to pass.
    refused = sr.create_client(BANK, token, api_url=url)
    started = time.monotonic()
    with pytest.raises(ServerError, match="does not verify") as caught:
        refused.get_available_datasets()
    assert "ca_bundle" in str(caught.value)
    assert time.monotonic() - started < 5
    # The token did not leak into the error.
    assert token not in str(caught.value)

    trusting = sr.create_client(BANK, token, api_url=url, ca_bundle=cert)
    assert trusting.get_available_datasets() == []

    # The CLI: refused without the bundle, fine with --ca-bundle or SEALROOM_CA_BUNDLE.
    connection = ("--api-url", url, "--email", BANK, "--token", token)
    without = run_cli("room", "list", *connection, env=env, check=False)
    assert without.returncode == 1
    assert "does not verify" in without.stderr
    run_cli("--ca-bundle", str(cert), "room", "list", *connection, env=env)
    run_cli("room", "list", *connection, env={**env, "SEALROOM_CA_BUNDLE": str(cert)})
    nowhere = str(cert.with_name("nope.pem"))
    missing = run_cli("--ca-bundle", nowhere, "room", "list", *connection, env=env, check=False)
    assert missing.returncode == 2

    # `sealroom attest` too: not verified without the bundle, verified with it.
    unverified = run_cli("attest", url, env=env, check=False)
    assert unverified.returncode != 0
    assert "NOT VERIFIED" in unverified.stdout + unverified.stderr
    attested = run_cli("--ca-bundle", str(cert), "attest", url, env=env)
    assert "signing key:" in attested.stdout


def test_plain_http_beyond_loopback_is_warned_about(
    server_factory: Callable[..., ServerProcess],
) -> None:
    loopback = server_factory(args=("--host", "127.0.0.1"))
    assert PLAIN_HTTP_WARNING not in loopback.log_path.read_text()
    exposed_root = loopback.data_dir.parent / "exposed"
    exposed_root.mkdir()
    exposed = server_factory(exposed_root, args=("--host", "0.0.0.0"))
    log = exposed.log_path.read_text()
    assert f"{PLAIN_HTTP_WARNING} 0.0.0.0" in log
    assert "--tls-cert" in log
