"""A real server running another version of the core than the client's SDK: refused by default,
with its version and how to pin it; accepted once its release specification is pinned."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import sealroom as sr
from sealroom.attestation import (
    EnclaveSpecification,
    enclave_specifications,
    measure_package_directory,
)
from tests.integration.conftest import BANK, ServerProcess, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore::UserWarning")]

OTHER_VERSION = "9.9.9"


def _other_release(root: Path) -> Path:
    """A copy of this package stating another version: what a newer release's server runs.
    Returns the directory to put on the server's PYTHONPATH."""
    package = root / "sealroom"
    shutil.copytree(Path(sr.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "_version.py").write_text(f'__version__ = "{OTHER_VERSION}"\n')
    return root


def _spec(version: str, measurement: str) -> EnclaveSpecification:
    return EnclaveSpecification("sealroom.core", version, measurement, frozenset({"simulated"}))


def test_a_spec_file_pins_a_release_the_sdk_does_not_list(
    server_factory: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    other = _other_release(tmp_path / "other-release")
    measurement = measure_package_directory(other / "sealroom")
    assert measurement not in {spec.measurement for spec in enclave_specifications.all()}
    server = server_factory(PYTHONPATH=str(other))
    client_env = dict(os.environ)  # the CLI of this SDK, not of the server's copy

    # By default the SDK trusts what it lists: refused, naming the version and --spec-file.
    refused = run_cli("attest", server.url, env=client_env, check=False)
    assert refused.returncode == 1
    assert f"reports measurement {measurement}" in refused.stderr
    assert f"The core states version {OTHER_VERSION} (its own claim" in refused.stderr
    assert "`sealroom attest URL --spec-file FILE`" in refused.stderr

    # A spec file listing the release (and an older one): verified, as that release.
    release = _spec(f"v{OTHER_VERSION}", measurement)
    spec_file = tmp_path / "releases.json"
    spec_file.write_text(json.dumps([_spec("v9.9.8", "98" * 32).to_dict(), release.to_dict()]))
    verified = run_cli("attest", server.url, "--spec-file", str(spec_file), env=client_env)
    lines = dict(line.split(":", 1) for line in verified.stdout.splitlines() if ":" in line)
    assert lines["measurement"].strip() == measurement
    assert lines["specification"].strip() == f"sealroom.core:v{OTHER_VERSION}"
    assert lines["version"].strip() == f"{OTHER_VERSION} (as the core states it)"

    # The SDK: the same refusal by default, and a session once the file is pinned.
    token = server.add_user(BANK)
    client = sr.create_client(BANK, token, api_url=server.url)
    with pytest.raises(sr.AttestationError, match=r"from_file\(FILE\)") as caught:
        client.session()
    assert f"states version {OTHER_VERSION}" in str(caught.value)
    pinned = sr.create_client(
        BANK, token, api_url=server.url, enclave_specs=enclave_specifications.from_file(spec_file)
    )
    attestation = pinned.session().attestation
    assert attestation.specification == release
    assert attestation.core_version == OTHER_VERSION
