"""Enclave specifications: what a client is willing to trust.

A specification names a kind of trusted core (``"sealroom.core"``), a version, the measurement it
must report and the attestation providers accepted for it. The catalogue mirrors the seed SDK's
``enclave_specifications``: ``latest()`` and ``versions(["sealroom.core:v0.2.0"])`` return a dict,
keyed by specification id (``name:version``), ready to pass to a session; a session accepts a core
that matches **any** of the specifications it is given.

What the catalogue holds (computed lazily, on first use — never at import time):

* **The releases** listed in ``releases.json``, shipped inside the package: per released version
  ``sealroom.core:vX.Y.Z``, the measurement of that release's code, computed from its built wheel
  by :mod:`sealroom.attestation.release` (anyone can reproduce it from the tagged sources, see
  ``docs/releases.md``). The file is data, not code, so listing a release does not change any
  measurement.
* **A development build's own code**, ``sealroom.core:dev``, only when the installed version is
  not a listed release: a checkout's server and SDK then trust each other (tests, the demo), and
  such an SDK trusts nothing else that is unlisted. An installed version that *is* listed but whose
  code measures differently is a modified release: the catalogue refuses to load
  (:class:`~sealroom.errors.ConfigurationError` saying what to do) rather than guess.
* ``sealroom.core:unsafe-no-sandbox``, a development specification matching a server of the
  installed code started with ``--unsafe-no-sandbox``; never returned by ``latest()``, it must be
  asked for by id.

Honesty note: every listed release accepts only the ``"simulated"`` provider, which proves nothing
about the code a server runs (see :mod:`~sealroom.attestation.document`). A measurement names the
code a core *claims* to run; until hardware evidence backs it, "trusted" means "the core says it
runs a release I know", and the SDK warns at every session.
"""

from __future__ import annotations

import builtins
import functools
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sealroom._version import __version__
from sealroom.attestation.document import SIMULATED_PROVIDER
from sealroom.attestation.measurement import measure_installed_package, unsandboxed_measurement
from sealroom.errors import ConfigurationError, UnknownEnclaveSpecificationError

__all__ = [
    "CORE_ENCLAVE_NAME",
    "DEVELOPMENT_VERSION",
    "RELEASES_FILE",
    "UNSANDBOXED_VERSION",
    "EnclaveSpecification",
    "EnclaveSpecifications",
    "enclave_specifications",
    "is_release_version",
    "parse_specifications",
    "release_version",
]

CORE_ENCLAVE_NAME = "sealroom.core"
#: The installed code of a development build (its version is not a listed release).
DEVELOPMENT_VERSION = "dev"
#: The development specification: scripts run without the sandbox. Not a release (no ``v``).
UNSANDBOXED_VERSION = "unsafe-no-sandbox"
#: The release list shipped in this package (``sealroom/attestation/releases.json``).
RELEASES_FILE = "releases.json"
_SPEC_FIELDS = frozenset({"name", "version", "measurement", "accepted_providers"})
_MEASUREMENT = re.compile(r"^[0-9a-f]{64}$")
_HEX96 = re.compile(r"^[0-9a-f]{96}$")
_HARDWARE = frozenset({"snp_launch_measurements", "nitro_pcrs", "snp_min_tcb", "snp_vmpl"})
_MAX_VMPL = 3
_TCB_PARTS = ("bootloader", "tee", "snp", "microcode")
#: A release's version: ``v`` and a final release number (``v0.2.0``); a pre-release or
#: development version (``0.3.0.dev0``, ``1.0rc1``) is never listed.
_RELEASE = re.compile(r"v(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def release_version(package_version: str) -> str:
    """The specification version of a package version: ``"0.2.0"`` -> ``"v0.2.0"``."""
    return f"v{package_version}"


def is_release_version(version: str) -> bool:
    """Whether a specification version names a final release (``v0.2.0``, not ``v0.3.0.dev0``)."""
    return _RELEASE.fullmatch(version) is not None


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
    """The catalogue of specifications this SDK knows (see the module docstring).

    The SDK's own is :data:`enclave_specifications`, read from the shipped ``releases.json`` and
    the installed code; :meth:`from_releases` builds one from given parts (tests, tools).
    """

    def __init__(self) -> None:
        self._fixed: _Catalogue | None = None

    @classmethod
    def from_releases(
        cls,
        releases: Sequence[EnclaveSpecification],
        *,
        installed_version: str,
        installed_measurement: str,
    ) -> EnclaveSpecifications:
        """A catalogue of ``releases`` and the installed code (its package version and
        measurement given). Raises like the SDK's own: ``ValueError`` for a bad release list,
        :class:`~sealroom.errors.ConfigurationError` for a modified release."""
        catalogue = cls()
        catalogue._fixed = _build_catalogue(releases, installed_version, installed_measurement)
        return catalogue

    def list(self) -> builtins.list[str]:
        """All ``name:version`` ids, sorted."""
        return sorted(self._catalogue().specs)

    def all(self) -> builtins.list[EnclaveSpecification]:
        specs = self._catalogue().specs
        return [specs[spec_id] for spec_id in self.list()]

    def latest(self) -> dict[str, EnclaveSpecification]:
        """What a client trusts by default, keyed by id, oldest release first: every listed
        release, and a development build's own code (``sealroom.core:dev``); never
        ``unsafe-no-sandbox``.

        Named after the seed SDK's call; here it means "the releases this SDK knows": a server of
        any of them is accepted, so parties need not upgrade in lockstep.
        """
        chosen = [s for s in self._catalogue().specs.values() if s.version != UNSANDBOXED_VERSION]
        chosen.sort(key=lambda spec: _order(spec.version))
        return {spec.id: spec for spec in chosen}

    def installed(self) -> EnclaveSpecification:
        """The specification of the code installed here: its release's when the installed
        version is a listed release, else ``sealroom.core:dev``."""
        return self._catalogue().installed

    def versions(self, names: Iterable[str]) -> dict[str, EnclaveSpecification]:
        """Specifications by ``name:version`` id, keyed by id. Several versions of one core may
        be named: a session accepts a core matching any of them.

        Raises :class:`~sealroom.errors.UnknownEnclaveSpecificationError` naming an unknown id.
        """
        if isinstance(names, str):
            raise TypeError("versions() takes a list of ids, e.g. ['sealroom.core:v0.2.0']")
        specs = self._catalogue().specs
        selected: dict[str, EnclaveSpecification] = {}
        for spec_id in names:
            spec = specs.get(spec_id)
            if spec is None:
                raise UnknownEnclaveSpecificationError(
                    f"unknown enclave specification {spec_id!r}; known: {', '.join(self.list())}."
                    " To trust a release this SDK does not list, pin its specification with "
                    "from_file(path) (docs/releases.md)"
                )
            selected[spec.id] = spec
        return selected

    def with_measurement(self, measurement: str) -> builtins.list[EnclaveSpecification]:
        """The catalogue's specifications of ``measurement``: names what a server runs."""
        return [spec for spec in self.all() if spec.measurement == measurement]

    def from_file(self, path: str | os.PathLike[str]) -> dict[str, EnclaveSpecification]:
        """Specifications from a JSON file (one object or a list), keyed by id.

        For pinning what you trust independently of the installed SDK, e.g. a release this SDK
        does not list (a newer SDK's ``releases.json`` has this format). Several versions of one
        core may be listed; one id twice is refused. Raises ``ValueError`` naming the problem.
        """
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read enclave specifications from {path}: {exc}") from None
        try:
            specs = parse_specifications(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        return {spec.id: spec for spec in specs}

    def _catalogue(self) -> _Catalogue:
        return self._fixed if self._fixed is not None else _builtin_catalogue()


def parse_specifications(data: object) -> builtins.list[EnclaveSpecification]:
    """Specifications from parsed JSON: one object or a list of them, no id twice."""
    items = data if isinstance(data, list) else [data]
    specs: builtins.list[EnclaveSpecification] = []
    for item in items:
        spec = EnclaveSpecification.from_dict(item)
        if any(spec.id == seen.id for seen in specs):
            raise ValueError(f"two specifications {spec.id!r}")
        specs.append(spec)
    return specs


@dataclass(frozen=True)
class _Catalogue:
    specs: dict[str, EnclaveSpecification]
    installed: EnclaveSpecification


def _build_catalogue(
    releases: Sequence[EnclaveSpecification], installed_version: str, installed_measurement: str
) -> _Catalogue:
    """The releases, the installed code (as its release, or as ``dev``) and its unsandboxed twin."""
    specs: dict[str, EnclaveSpecification] = {}
    for release in releases:
        if release.name != CORE_ENCLAVE_NAME or not is_release_version(release.version):
            raise ValueError(
                f"release list: {release.id!r} is not a release of {CORE_ENCLAVE_NAME!r} "
                "(name:vX.Y.Z)"
            )
        if release.id in specs:
            raise ValueError(f"release list: {release.id!r} is listed twice")
        specs[release.id] = release
    listed = specs.get(f"{CORE_ENCLAVE_NAME}:{release_version(installed_version)}")
    if listed is None:
        installed = EnclaveSpecification(
            name=CORE_ENCLAVE_NAME,
            version=DEVELOPMENT_VERSION,
            measurement=installed_measurement,
            accepted_providers=frozenset({SIMULATED_PROVIDER}),
        )
        specs[installed.id] = installed
    elif listed.measurement != installed_measurement:
        # A modified release: trusting its own code would trust anything labelled with a
        # release's version, and trusting only the release would refuse its own server. Say so.
        raise ConfigurationError(
            f"this SDK is sealroom {installed_version}, a listed release ({listed.id}, "
            f"measurement {listed.measurement}), but its installed code measures "
            f"{installed_measurement}: the package was modified after its release. Reinstall the "
            "release, or give a modified build a version that is not a release (e.g. "
            f"{installed_version}.dev0 in src/sealroom/_version.py and pyproject.toml); see "
            "docs/releases.md"
        )
    else:
        installed = listed
    unsandboxed = EnclaveSpecification(
        name=CORE_ENCLAVE_NAME,
        version=UNSANDBOXED_VERSION,
        measurement=unsandboxed_measurement(installed_measurement),
        accepted_providers=frozenset({SIMULATED_PROVIDER}),
    )
    specs[unsandboxed.id] = unsandboxed
    return _Catalogue(specs, installed)


def _load_shipped_releases() -> builtins.list[EnclaveSpecification]:
    try:
        text = resources.files("sealroom.attestation").joinpath(RELEASES_FILE).read_text("utf-8")
        return parse_specifications(json.loads(text))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"the SDK's release list ({RELEASES_FILE}) cannot be read: {exc}; reinstall sealroom"
        ) from None


@functools.cache
def _builtin_catalogue() -> _Catalogue:
    try:
        return _build_catalogue(_load_shipped_releases(), __version__, measure_installed_package())
    except ValueError as exc:
        raise ConfigurationError(f"the SDK's {RELEASES_FILE}: {exc}; reinstall sealroom") from None


def _order(version: str) -> tuple[int, tuple[int, ...], str]:
    """Releases by number, then anything else (``dev``) by name."""
    if is_release_version(version):
        return (0, tuple(int(part) for part in version[1:].split(".")), "")
    return (1, (), version)


enclave_specifications = EnclaveSpecifications()
"""The SDK's catalogue (no measurement is computed until it is first used)."""
