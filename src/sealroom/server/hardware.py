"""Which attestation provider the server runs with, and the refusal to pretend.

``simulated`` (the default) is the only provider that produces evidence in this version. The
hardware providers are selectable so that a deployment states what it expects, and refused at
start with the reason: on a machine without the device (``/dev/sev-guest`` for AMD SEV-SNP,
``/dev/nsm`` for AWS Nitro Enclaves) the server is not what the flag says; with the device,
evidence production is not implemented yet (clients can already verify such evidence:
:mod:`sealroom.attestation.sevsnp`, :mod:`sealroom.attestation.nitro`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

from sealroom.errors import ConfigurationError

__all__ = ["PROVIDERS", "Provider", "check_provider"]

Provider = Literal["simulated", "sev-snp", "nitro"]
PROVIDERS: Final = ("simulated", "sev-snp", "nitro")
_DEVICES: Final = {"sev-snp": Path("/dev/sev-guest"), "nitro": Path("/dev/nsm")}
_NAMES: Final = {"sev-snp": "an AMD SEV-SNP guest", "nitro": "an AWS Nitro enclave"}


def check_provider(provider: str, *, devices: dict[str, Path] | None = None) -> None:
    """Return if the server can attest with ``provider``; else ConfigurationError saying why."""
    if provider == "simulated":
        return
    device = (devices or _DEVICES).get(provider)
    if device is None:
        raise ConfigurationError(
            f"unknown attestation provider {provider!r}; choose one of {', '.join(PROVIDERS)}"
        )
    if not device.exists():
        raise ConfigurationError(
            f"--attestation {provider}: {device} is missing, so this machine is not "
            f"{_NAMES[provider]}. Run on such hardware, or use --attestation simulated"
        )
    raise ConfigurationError(
        f"--attestation {provider}: {device} is present, but producing {provider} evidence is "
        "not implemented in this version (clients can verify it already); use --attestation "
        "simulated"
    )
