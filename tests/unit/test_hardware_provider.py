"""The server's attestation provider: simulated by default, hardware only on the hardware."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealroom.attestation.document import SimulatedProvider
from sealroom.attestation.providers import evidence_provider
from sealroom.crypto import SigningKey
from sealroom.errors import ConfigurationError


def test_simulated_is_the_self_signing_provider() -> None:
    provider = evidence_provider("simulated", SigningKey.generate())
    assert isinstance(provider, SimulatedProvider)
    assert "SIMULATED" in provider.warning


@pytest.mark.parametrize("provider", ["sev-snp", "nitro"])
def test_without_the_device_the_provider_is_refused(provider: str, tmp_path: Path) -> None:
    devices = {provider: tmp_path / "no-such-device"}
    with pytest.raises(ConfigurationError, match="is missing, so this machine is not"):
        evidence_provider(provider, SigningKey.generate(), devices=devices)


@pytest.mark.parametrize("provider", ["sev-snp", "nitro"])
def test_a_device_that_answers_no_request_stops_the_start(provider: str, tmp_path: Path) -> None:
    # A regular file where the device should be: the real ioctl fails (ENOTTY), and the server
    # refuses to start with the reason instead of serving documents nobody can verify.
    device = tmp_path / "device"
    device.write_bytes(b"")
    with pytest.raises(ConfigurationError, match=f"--attestation {provider}: "):
        evidence_provider(provider, SigningKey.generate(), devices={provider: device})


def test_an_unreadable_endorsement_certificate_is_named(tmp_path: Path) -> None:
    device = tmp_path / "sev-guest"
    device.write_bytes(b"")
    missing = tmp_path / "vcek.der"
    with pytest.raises(ConfigurationError, match="cannot read the SEV-SNP endorsement"):
        evidence_provider(
            "sev-snp",
            SigningKey.generate(),
            snp_endorsement_cert=missing,
            devices={"sev-snp": device},
        )


def test_unknown_provider() -> None:
    with pytest.raises(ConfigurationError, match="choose one of simulated, sev-snp, nitro"):
        evidence_provider("tdx", SigningKey.generate())
