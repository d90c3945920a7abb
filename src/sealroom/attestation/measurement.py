"""The measurement of the trusted core: a hash of the ``sealroom`` package's code files.

Format (version 2)::

    files       = sorted [relative posix path, sha256 hex of the file's bytes]
                  for every code file of the package, excluding __pycache__:
                  *.py, and the R sources (*.R) and R profile (Rprofile) run in the sandbox
    measurement = sha256_hex(canonical_json({"format": "sealroom/measurement/v2", "files": files}))

The same function measures three things, and they agree for one source tree:

* the **installed** package (:func:`measure_installed_package`): what a server reports and what a
  development build of the SDK trusts;
* a package **directory** (:func:`measure_package_directory`), e.g. ``src/sealroom`` of a checkout;
* a **built wheel** (:func:`measure_wheel`), read from the zip and never unpacked: how a release's
  measurement is computed and reproduced (:mod:`sealroom.attestation.release`).

What it is worth, honestly:

* On real confidential-computing hardware the measurement is computed by the hardware over the
  whole VM image, and this hash would only be one input of the image. Here it is computed by the
  running process over its own files, so it proves nothing to a remote party by itself — a
  modified server can report any value. It is still useful: it names exactly which code a
  simulated core claims to run, and a hardware provider will bind it into its evidence.
* A client trusts the measurements of the releases its SDK lists
  (:mod:`~sealroom.attestation.specifications`, ``releases.json``), each reproducible from the
  release's sources, and — only in a development build — the measurement of its own code.
* Only code files count (not data files such as ``releases.json``, not dependencies, not the
  interpreters).

Measuring the installed package reads files (with :func:`measure_package_directory`, the only file
I/O in the attestation package); its result is cached for the life of the process, so a source
file edited while the server runs is not noticed until restart.
"""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from sealroom.crypto import canonical_json, sha256_hex

__all__ = [
    "MEASUREMENT_FORMAT",
    "measure_code_files",
    "measure_installed_package",
    "measure_package_directory",
    "measure_wheel",
    "unsandboxed_measurement",
]

MEASUREMENT_FORMAT = "sealroom/measurement/v2"
# What counts as code: Python modules, and the R wrapper, helpers and profile the sandbox runs.
_CODE_SUFFIXES = (".py", ".R")
_CODE_NAMES = ("Rprofile",)
#: The package's directory inside a wheel (``sealroom/...``; metadata is ``sealroom-X.dist-info``).
_WHEEL_PACKAGE = "sealroom"
#: A wheel is read into memory whole; ours is well under a megabyte, so this is only a bound
#: against a hostile file (zip bombs count their uncompressed size here).
MAX_WHEEL_CODE_BYTES = 64 << 20


def _is_code_file(relative: PurePosixPath) -> bool:
    if "__pycache__" in relative.parts:
        return False
    return relative.suffix in _CODE_SUFFIXES or relative.name in _CODE_NAMES


def measure_code_files(files: Iterable[tuple[str, bytes]]) -> str:
    """Measure ``(relative posix path, bytes)`` pairs, keeping only the code files.

    The one definition of the format: every other ``measure_*`` function reads files and calls
    this. Two files with one path are refused (which of them would the package run?).
    """
    entries: dict[str, str] = {}
    for name, content in files:
        relative = PurePosixPath(name)
        if not _is_code_file(relative):
            continue
        if name in entries:
            raise ValueError(f"two files named {name!r}")
        entries[name] = hashlib.sha256(content).hexdigest()
    listing = sorted([name, digest] for name, digest in entries.items())
    return sha256_hex(canonical_json({"format": MEASUREMENT_FORMAT, "files": listing}))


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
    return measure_code_files(
        (path.relative_to(directory).as_posix(), path.read_bytes())
        for path in directory.rglob("*")
        if path.is_file() and _is_code_file(PurePosixPath(path.relative_to(directory).as_posix()))
    )


def measure_wheel(wheel: bytes) -> str:
    """Measure the ``sealroom`` code files inside a wheel's bytes, without unpacking it.

    Equals :func:`measure_package_directory` of the tree the wheel was built from, when the build
    packages every code file (a test keeps it so). Raises :class:`ValueError` for a file that is
    not a zip, a wheel without the package, or one past :data:`MAX_WHEEL_CODE_BYTES`.
    """
    prefix = f"{_WHEEL_PACKAGE}/"
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and info.filename.startswith(prefix)
                and _is_code_file(PurePosixPath(info.filename))
            ]
            if sum(info.file_size for info in members) > MAX_WHEEL_CODE_BYTES:
                raise ValueError(f"the wheel's code is over {MAX_WHEEL_CODE_BYTES} bytes")
            files = [(info.filename.removeprefix(prefix), archive.read(info)) for info in members]
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a wheel (zip): {exc}") from None
    if not files:
        raise ValueError(f"the wheel holds no code of the {_WHEEL_PACKAGE!r} package")
    return measure_code_files(files)


_UNSANDBOXED_FORMAT = "sealroom/measurement/unsandboxed/v1"


def unsandboxed_measurement(measurement: str) -> str:
    """What a core running scripts WITHOUT the sandbox (``--unsafe-no-sandbox``) reports instead.

    The sandbox is part of what participants trust, so turning it off changes the measurement,
    as a changed launch configuration would on real hardware. A client pinning the normal
    measurement refuses such a core before sending any key; the development specification
    ``sealroom.core:unsafe-no-sandbox`` accepts it, by explicit choice only.
    """
    return sha256_hex(canonical_json({"format": _UNSANDBOXED_FORMAT, "base": measurement}))
