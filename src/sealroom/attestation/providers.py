"""Which attestation provider the core runs with, and the refusal to pretend.

:func:`sealroom.enclave.open_core` chooses it once, at start, with the core's own signing key
(the host side passes only the provider's name and, for SEV-SNP, a certificate file).

``simulated`` (the default) self-signs its evidence and says so in every document. The hardware
providers produce real evidence when the server runs on such hardware:

* ``sev-snp`` — inside an AMD SEV-SNP guest: reports from ``/dev/sev-guest``
  (:mod:`sealroom.attestation.snp_guest`), endorsed by the VCEK/VLEK the host supplies, or by
  the file ``--snp-endorsement-cert`` names when the host supplies none;
* ``nitro`` — inside an AWS Nitro enclave: attestation documents from the Nitro Secure Module
  at ``/dev/nsm`` (:mod:`sealroom.attestation.nsm`).

Without the device the server is not what the flag says, and it refuses to start. With it, the
provider produces one piece of evidence at start-up, so that a missing certificate or a refused
request stops the server with the reason instead of failing every client later.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Final, Literal

from sealroom.attestation.document import EvidenceProvider, SimulatedProvider
from sealroom.crypto import SigningKey
from sealroom.errors import AttestationError, ConfigurationError

__all__ = ["PROVIDERS", "Provider", "evidence_provider"]

Provider = Literal["simulated", "sev-snp", "nitro"]
PROVIDERS: Final = ("simulated", "sev-snp", "nitro")
_DEVICES: Final = {"sev-snp": Path("/dev/sev-guest"), "nitro": Path("/dev/nsm")}
_NAMES: Final = {"sev-snp": "an AMD SEV-SNP guest", "nitro": "an AWS Nitro enclave"}


def evidence_provider(
    provider: str,
    signing_key: SigningKey,
    *,
    snp_endorsement_cert: Path | None = None,
    devices: dict[str, Path] | None = None,
) -> EvidenceProvider:
    """The core's evidence provider; ConfigurationError saying what to fix when it cannot be."""
    if provider == "simulated":
        return SimulatedProvider(signing_key)
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
    chosen: EvidenceProvider
    if provider == "sev-snp":
        from sealroom.attestation.snp_guest import LinuxSevGuestDevice, SevSnpGuestProvider

        endorsement = None
        if snp_endorsement_cert is not None:
            try:
                endorsement = snp_endorsement_cert.read_bytes()
            except OSError as error:
                raise ConfigurationError(
                    f"cannot read the SEV-SNP endorsement certificate {snp_endorsement_cert}: "
                    f"{error.strerror}"
                ) from None
        chosen = SevSnpGuestProvider(
            device=LinuxSevGuestDevice(device), endorsement_cert=endorsement
        )
    else:
        from sealroom.attestation.nsm import LinuxNsmDevice, NitroNsmProvider

        chosen = NitroNsmProvider(device=LinuxNsmDevice(device))
    try:
        chosen.produce(secrets.token_bytes(32))
    except AttestationError as error:
        raise ConfigurationError(f"--attestation {provider}: {error}") from None
    return chosen
