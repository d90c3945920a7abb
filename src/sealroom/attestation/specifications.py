"""Enclave specifications: what a client is willing to trust.

A specification names a kind of trusted core (``"sealroom.core"``), a version, the measurement it
must report and the attestation providers accepted for it. The catalogue mirrors the seed SDK's
``enclave_specifications``: ``latest()`` and ``versions(["sealroom.core:v1"])`` return a dict keyed
by the core's name, ready to pass to a session.

Honesty note: there is one release version, ``v1``, whose measurement is that of the **locally
installed** package (computed lazily, on first use — never at import time), and it accepts only the
``"simulated"`` provider. A development specification, ``sealroom.core:unsafe-no-sandbox``,
matches a server started with ``--unsafe-no-sandbox`` (scripts run without the sandbox); it is
never returned by ``latest()`` and must be asked for by id. A later issue pins the measurements
of published releases here and adds hardware providers; until then "trusted" means "the same
code as the SDK I have installed".
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sealroom.attestation.document import SIMULATED_PROVIDER
from sealroom.attestation.measurement import measure_installed_package, unsandboxed_measurement
from sealroom.errors import UnknownEnclaveSpecificationError

__all__ = [
    "CORE_ENCLAVE_NAME",
    "UNSANDBOXED_VERSION",
    "EnclaveSpecification",
    "EnclaveSpecifications",
    "enclave_specifications",
]

CORE_ENCLAVE_NAME = "sealroom.core"
_CURRENT_VERSION = "v1"
#: The development specification: scripts run without the sandbox. Not a release (no ``v``).
UNSANDBOXED_VERSION = "unsafe-no-sandbox"
_SPEC_FIELDS = frozenset({"name", "version", "measurement", "accepted_providers"})
_MEASUREMENT = re.compile(r"^[0-9a-f]{64}$")
_HEX96 = re.compile(r"^[0-9a-f]{96}$")
_HARDWARE = frozenset({"snp_launch_measurements", "nitro_pcrs", "snp_min_tcb", "snp_vmpl"})
_MAX_VMPL = 3
_TCB_PARTS = ("bootloader", "tee", "snp", "microcode")


@dataclass(frozen=True)
class EnclaveSpecification:
    """One trusted core: its name, version, expected measurement and accepted providers."""

    name: str
    version: str
    measurement: str
    accepted_providers: frozenset[str]
    #: For the "sev-snp" provider: the launch measurements (96 hex digits each) of the VM images
    #: that run this core (the digest depends on firmware, vCPU count and CPU type).
    snp_launch_measurements: frozenset[str] = frozenset()
    #: For the "aws-nitro" provider: PCR index -> value (96 hex digits); PCR0 is required.
    nitro_pcrs: tuple[tuple[int, str], ...] = ()
    #: For "sev-snp": the lowest acceptable TCB, (bootloader, tee, snp, microcode) SVNs; a report
    #: whose TCB is below it in any component (an unpatched platform) is refused.
    snp_min_tcb: tuple[int, int, int, int] | None = None
    #: For "sev-snp": the VMPL the report must come from (0, the most privileged, by default).
    snp_vmpl: int = 0

    @property
    def id(self) -> str:
        """``name:version``, as accepted by :meth:`EnclaveSpecifications.versions`."""
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, object]:
        """The JSON form read by :meth:`EnclaveSpecifications.from_file`."""
        body: dict[str, object] = {
            "name": self.name,
            "version": self.version,
            "measurement": self.measurement,
            "accepted_providers": sorted(self.accepted_providers),
        }
        if self.snp_launch_measurements:
            body["snp_launch_measurements"] = sorted(self.snp_launch_measurements)
        if self.nitro_pcrs:
            body["nitro_pcrs"] = {str(index): value for index, value in self.nitro_pcrs}
        if self.snp_min_tcb is not None:
            body["snp_min_tcb"] = dict(zip(_TCB_PARTS, self.snp_min_tcb, strict=True))
        if self.snp_vmpl:
            body["snp_vmpl"] = self.snp_vmpl
        return body

    @classmethod
    def from_dict(cls, obj: object) -> EnclaveSpecification:
        """Parse the JSON form strictly: exactly these fields, a 64-hex measurement."""
        if not isinstance(obj, dict) or not _SPEC_FIELDS <= set(obj) <= _SPEC_FIELDS | _HARDWARE:
            raise ValueError(
                f"an enclave specification has exactly the fields {sorted(_SPEC_FIELDS)}"
            )
        name, version, measurement = obj["name"], obj["version"], obj["measurement"]
        providers = obj["accepted_providers"]
        if not all(isinstance(v, str) and v for v in (name, version)):
            raise ValueError("enclave specification: name and version must be non-empty strings")
        if not isinstance(measurement, str) or not _MEASUREMENT.match(measurement):
            raise ValueError("enclave specification: measurement must be 64 lower-case hex digits")
        if (
            not isinstance(providers, list)
            or not providers
            or not all(isinstance(p, str) and p for p in providers)
        ):
            raise ValueError("enclave specification: accepted_providers must be a non-empty list")
        launch = obj.get("snp_launch_measurements", [])
        if not isinstance(launch, list) or not all(
            isinstance(m, str) and _HEX96.match(m) for m in launch
        ):
            raise ValueError("enclave specification: snp_launch_measurements are 96 hex digits")
        pcrs = obj.get("nitro_pcrs", {})
        if not isinstance(pcrs, dict) or not all(
            isinstance(k, str) and k.isdigit() and isinstance(v, str) and _HEX96.match(v)
            for k, v in pcrs.items()
        ):
            raise ValueError("enclave specification: nitro_pcrs maps indexes to 96 hex digits")
        tcb = obj.get("snp_min_tcb")
        min_tcb: tuple[int, int, int, int] | None = None
        if tcb is not None:
            if (
                not isinstance(tcb, dict)
                or set(tcb) != set(_TCB_PARTS)
                or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255
                    for v in tcb.values()
                )
            ):
                raise ValueError(
                    "enclave specification: snp_min_tcb has bootloader, tee, snp and microcode "
                    "SVNs (0-255)"
                )
            min_tcb = (tcb["bootloader"], tcb["tee"], tcb["snp"], tcb["microcode"])
        vmpl = obj.get("snp_vmpl", 0)
        if not isinstance(vmpl, int) or isinstance(vmpl, bool) or not 0 <= vmpl <= _MAX_VMPL:
            raise ValueError(f"enclave specification: snp_vmpl is 0 to {_MAX_VMPL}")
        return cls(
            name,
            version,
            measurement,
            frozenset(providers),
            frozenset(launch),
            tuple(sorted((int(k), v) for k, v in pcrs.items())),
            min_tcb,
            vmpl,
        )


class EnclaveSpecifications:
    """The catalogue of specifications this SDK knows (see the module docstring)."""

    def list(self) -> builtins.list[str]:
        """All ``name:version`` ids, sorted."""
        return sorted(self._catalogue())

    def all(self) -> builtins.list[EnclaveSpecification]:
        return [self._catalogue()[spec_id] for spec_id in self.list()]

    def latest(self) -> dict[str, EnclaveSpecification]:
        """The newest release specification of each core, keyed by core name."""
        newest: dict[str, EnclaveSpecification] = {}
        for spec in self._catalogue().values():
            if not _is_release(spec.version):
                continue
            current = newest.get(spec.name)
            if current is None or _version_number(spec.version) > _version_number(current.version):
                newest[spec.name] = spec
        return newest

    def versions(self, names: Iterable[str]) -> dict[str, EnclaveSpecification]:
        """Specifications by ``name:version`` id, keyed by core name.

        Raises :class:`~sealroom.errors.UnknownEnclaveSpecificationError` naming an unknown id
        and :class:`ValueError` if two versions of one core are requested.
        """
        if isinstance(names, str):
            raise TypeError("versions() takes a list of ids, e.g. ['sealroom.core:v1']")
        catalogue = self._catalogue()
        selected: dict[str, EnclaveSpecification] = {}
        for spec_id in names:
            spec = catalogue.get(spec_id)
            if spec is None:
                raise UnknownEnclaveSpecificationError(
                    f"unknown enclave specification {spec_id!r}; known: {', '.join(self.list())}"
                )
            if spec.name in selected and selected[spec.name] != spec:
                raise ValueError(f"two versions of {spec.name!r} requested")
            selected[spec.name] = spec
        return selected

    def from_file(self, path: str | os.PathLike[str]) -> dict[str, EnclaveSpecification]:
        """Specifications from a JSON file (one object or a list), keyed by core name.

        For pinning what you trust independently of the installed SDK, e.g. the measurement of
        a release published by the room's operator. Raises ``ValueError`` naming the problem.
        """
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read enclave specifications from {path}: {exc}") from None
        items = data if isinstance(data, list) else [data]
        selected: dict[str, EnclaveSpecification] = {}
        for item in items:
            spec = EnclaveSpecification.from_dict(item)
            if spec.name in selected:
                raise ValueError(f"{path}: two specifications of {spec.name!r}")
            selected[spec.name] = spec
        return selected

    def _catalogue(self) -> dict[str, EnclaveSpecification]:
        return _builtin_catalogue()


@functools.cache
def _builtin_catalogue() -> dict[str, EnclaveSpecification]:
    spec = EnclaveSpecification(
        name=CORE_ENCLAVE_NAME,
        version=_CURRENT_VERSION,
        measurement=measure_installed_package(),
        accepted_providers=frozenset({SIMULATED_PROVIDER}),
    )
    unsandboxed = EnclaveSpecification(
        name=CORE_ENCLAVE_NAME,
        version=UNSANDBOXED_VERSION,
        measurement=unsandboxed_measurement(spec.measurement),
        accepted_providers=frozenset({SIMULATED_PROVIDER}),
    )
    return {spec.id: spec, unsandboxed.id: unsandboxed}


def _is_release(version: str) -> bool:
    return version.startswith("v") and version[1:].isdigit()


def _version_number(version: str) -> int:
    return int(version.removeprefix("v"))


enclave_specifications = EnclaveSpecifications()
"""The SDK's catalogue (no measurement is computed until it is first used)."""
