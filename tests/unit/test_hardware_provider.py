"""Hardware attestation providers are refused rather than faked."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealroom.errors import ConfigurationError
from sealroom.server.hardware import check_provider


def test_simulated_is_accepted() -> None:
    check_provider("simulated")


@pytest.mark.parametrize("provider", ["sev-snp", "nitro"])
def test_without_the_device_the_provider_is_refused(provider: str, tmp_path: Path) -> None:
    devices = {provider: tmp_path / "no-such-device"}
    with pytest.raises(ConfigurationError, match="is missing, so this machine is not"):
        check_provider(provider, devices=devices)


@pytest.mark.parametrize("provider", ["sev-snp", "nitro"])
def test_with_the_device_it_says_evidence_is_not_implemented(provider: str, tmp_path: Path) -> None:
    device = tmp_path / "device"
    device.touch()
    with pytest.raises(ConfigurationError, match="not implemented"):
        check_provider(provider, devices={provider: device})


def test_unknown_provider() -> None:
    with pytest.raises(ConfigurationError, match="choose one of simulated, sev-snp, nitro"):
        check_provider("tdx")
