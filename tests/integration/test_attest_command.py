"""``sealroom attest`` against a real server, and enclave specifications loaded from a file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.attestation import enclave_specifications, measure_installed_package
from tests.integration.conftest import BANK, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]


def test_attest_prints_what_it_verified_and_fails_on_another_spec(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = server_factory()
    result = server.cli("attest", server.url)
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    assert lines["provider"].strip() == "simulated"
    assert lines["measurement"].strip() == measure_installed_package()
    assert lines["specification"].strip() == enclave_specifications.installed().id
    assert lines["version"].strip() == f"{sr.__version__} (as the core states it)"
    client = sr.create_client(BANK, server.add_user(BANK), api_url=server.url)
    assert lines["signing key"].strip() == client.session().attestation.verify_key.hex()
    assert "SIMULATED" in result.stdout

    # A spec file pinning another measurement: refused, exit status 1, naming what the server
    # runs and how to pin it.
    spec = enclave_specifications.installed().to_dict()
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({**spec, "measurement": "0" * 64}))
    refused = server.cli("attest", server.url, "--spec-file", str(spec_file), check=False)
    assert refused.returncode == 1
    assert "NOT VERIFIED" in refused.stderr
    assert f"reports measurement {measure_installed_package()}" in refused.stderr
    assert f"(the core states version {sr.__version__})" in refused.stderr
    assert f"--spec {enclave_specifications.installed().id}" in refused.stderr
    # The same file with the right measurement verifies.
    spec_file.write_text(json.dumps([spec]))
    assert server.cli("attest", server.url, "--spec-file", str(spec_file)).returncode == 0
    # The development specification does not match a sandboxed server.
    dev = server.cli("attest", server.url, "--spec", "sealroom.core:unsafe-no-sandbox", check=False)
    assert dev.returncode == 1


def test_specification_files_are_parsed_strictly(tmp_path: Path) -> None:
    good = enclave_specifications.installed()
    path = tmp_path / "s.json"
    path.write_text(json.dumps(good.to_dict()))
    assert enclave_specifications.from_file(path) == {good.id: good}
    for bad in (
        {**good.to_dict(), "extra": 1},
        {**good.to_dict(), "measurement": "ABC"},
        {**good.to_dict(), "accepted_providers": []},
        [good.to_dict(), good.to_dict()],
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match="specification"):
            enclave_specifications.from_file(path)
    path.write_text("{")
    with pytest.raises(ValueError, match="cannot read"):
        enclave_specifications.from_file(path)


def test_serve_refuses_a_hardware_provider_it_does_not_have(tmp_path: Path) -> None:
    from tests.integration.conftest import run_cli

    env = {"SEALROOM_SEALING_KEY_FILE": str(tmp_path / "k"), "PATH": "/usr/bin:/bin"}
    result = run_cli(
        "serve", "--data-dir", str(tmp_path / "d"), "--attestation", "sev-snp", env=env,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "/dev/sev-guest is missing" in result.stderr
