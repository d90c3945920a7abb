"""Remote attestation of the trusted core: measurement, documents, specifications, verification.

* :mod:`~sealroom.attestation.measurement` — the hash of the ``sealroom`` code files (installed,
  in a directory, or in a built wheel).
* :mod:`~sealroom.attestation.document` — :class:`AttestationDocument`, the provider protocols
  and the **simulated** provider (self-signed; no hardware behind it, and it says so).
* :mod:`~sealroom.attestation.specifications` — what a client trusts (``enclave_specifications``):
  the releases listed in ``releases.json`` and, in a development build, its own code.
* :mod:`~sealroom.attestation.release` — ``python -m sealroom.attestation.release``: builds the
  wheel and computes a release's specification (``docs/releases.md``).
* :mod:`~sealroom.attestation.verify` — :func:`verify_attestation` → :class:`VerifiedAttestation`.

Pure except that measuring reads the installed package's code files and the catalogue reads the
shipped ``releases.json`` (once per process), and the release tool builds wheels.
"""

from __future__ import annotations

from sealroom.attestation.document import (
    MAX_NONCE_BYTES,
    MIN_NONCE_BYTES,
    SIMULATED_PROVIDER,
    SIMULATED_WARNING,
    AttestationDocument,
    EvidenceProvider,
    EvidenceVerifier,
    SimulatedEvidenceVerifier,
    SimulatedProvider,
    compute_report_data,
    produce_attestation,
)
from sealroom.attestation.measurement import (
    MEASUREMENT_FORMAT,
    measure_installed_package,
    measure_package_directory,
    measure_wheel,
    unsandboxed_measurement,
)
from sealroom.attestation.specifications import (
    CORE_ENCLAVE_NAME,
    DEVELOPMENT_VERSION,
    UNSANDBOXED_VERSION,
    EnclaveSpecification,
    EnclaveSpecifications,
    enclave_specifications,
)
from sealroom.attestation.verify import (
    DEFAULT_MAX_AGE_MS,
    EVIDENCE_VERIFIERS,
    MAX_CLOCK_SKEW_MS,
    VerifiedAttestation,
    verify_attestation,
)

__all__ = [
    "CORE_ENCLAVE_NAME",
    "DEFAULT_MAX_AGE_MS",
    "DEVELOPMENT_VERSION",
    "EVIDENCE_VERIFIERS",
    "MAX_CLOCK_SKEW_MS",
    "MAX_NONCE_BYTES",
    "MEASUREMENT_FORMAT",
    "MIN_NONCE_BYTES",
    "SIMULATED_PROVIDER",
    "SIMULATED_WARNING",
    "UNSANDBOXED_VERSION",
    "AttestationDocument",
    "EnclaveSpecification",
    "EnclaveSpecifications",
    "EvidenceProvider",
    "EvidenceVerifier",
    "SimulatedEvidenceVerifier",
    "SimulatedProvider",
    "VerifiedAttestation",
    "compute_report_data",
    "enclave_specifications",
    "measure_installed_package",
    "measure_package_directory",
    "measure_wheel",
    "produce_attestation",
    "unsandboxed_measurement",
    "verify_attestation",
]
