"""The measurement of the trusted core: a hash of the installed ``sealroom`` Python sources.

Format (version 2)::

    files       = sorted [relative posix path, sha256 hex of the file's bytes]
                  for every code file under the package directory, excluding __pycache__:
                  *.py, and the R sources (*.R) and R profile (Rprofile) run in the sandbox
    measurement = sha256_hex(canonical_json({"format": "sealroom/measurement/v2", "files": files}))

What it is worth, honestly:

* On real confidential-computing hardware the measurement is computed by the hardware over the
  whole VM image, and this hash would only be one input of the image. Here it is computed by the
  running process over its own files, so it proves nothing to a remote party by itself — a
  modified server can report any value. It is still useful: it names exactly which code a
  simulated core claims to run, and a hardware provider will bind it into its evidence.
* Both the server (its own measurement) and the SDK (what it trusts, through
  :mod:`~sealroom.attestation.specifications`) compute it from the **locally installed package**:
  a client and server of the same release agree, any source change disagrees. A later issue pins
  release measurements in the SDK instead, so that a client does not trust "whatever I have".
* Only code files count (not data files, not dependencies, not the interpreters).

This module reads files (the only I/O in the attestation package); the result is cached for the
life of the process, so a source file edited while the server runs is not noticed until restart.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from sealroom.crypto import canonical_json, sha256_hex

__all__ = [
    "MEASUREMENT_FORMAT",
    "measure_installed_package",
    "measure_package_directory",
    "unsandboxed_measurement",
]

MEASUREMENT_FORMAT = "sealroom/measurement/v2"
# What counts as code: Python modules, and the R wrapper, helpers and profile the sandbox runs.
_CODE_SUFFIXES = (".py", ".R")
_CODE_NAMES = ("Rprofile",)


@functools.cache
def measure_installed_package() -> str:
    """The measurement of the installed ``sealroom`` package (computed once per process)."""
    # The directory that holds this module's parent package: the ``sealroom`` package directory
    # (the same as ``Path(sealroom.__file__).parent``, without importing the package root).
    return measure_package_directory(Path(__file__).resolve().parent.parent)


def measure_package_directory(directory: Path) -> str:
    """Measure the code files under ``directory`` (see the module docstring)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"not a package directory: {directory}")
    files = []
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if "__pycache__" in relative.parts or not path.is_file():
            continue
        if path.suffix not in _CODE_SUFFIXES and path.name not in _CODE_NAMES:
            continue
        files.append([relative.as_posix(), hashlib.sha256(path.read_bytes()).hexdigest()])
    files.sort()
    return sha256_hex(canonical_json({"format": MEASUREMENT_FORMAT, "files": files}))


_UNSANDBOXED_FORMAT = "sealroom/measurement/unsandboxed/v1"


def unsandboxed_measurement(measurement: str) -> str:
    """What a core running scripts WITHOUT the sandbox (``--unsafe-no-sandbox``) reports instead.

    The sandbox is part of what participants trust, so turning it off changes the measurement,
    as a changed launch configuration would on real hardware. A client pinning the normal
    measurement refuses such a core before sending any key; the development specification
    ``sealroom.core:unsafe-no-sandbox`` accepts it, by explicit choice only.
    """
    return sha256_hex(canonical_json({"format": _UNSANDBOXED_FORMAT, "base": measurement}))
