"""Release specifications: build a release's wheel, measure the code inside it, list it.

::

    python -m sealroom.attestation.release                 # git archive HEAD of this checkout
    python -m sealroom.attestation.release --ref v0.2.0    # ... of a tag (reproduce a release)
    python -m sealroom.attestation.release --source DIR    # a source tree (copied first)
    python -m sealroom.attestation.release --wheel FILE    # a wheel built elsewhere
        [--releases FILE]                                  # compare with this list, not the SDK's
        [--add-to src/sealroom/attestation/releases.json]  # list it (never changes a listing)
        [--no-build-isolation]                             # build with this venv's setuptools

``./dev release-spec [args]`` runs it. It prints the release's specification, the JSON object
``releases.json`` lists (``sealroom.core:v<version>``, the measurement, ``"simulated"``), and says
on stderr whether the release list agrees. Exit status 1 when it does not.

Why a wheel: the measurement of a release is the measurement of what users install. The wheel is
built from a clean copy of the sources (``git archive`` by default, so untracked and modified
files never count) with ``pip wheel --no-deps``, and measured from the zip
(:func:`~sealroom.attestation.measurement.measure_wheel`), never from an installed tree. Only file
paths and contents count, not zip timestamps, so anyone rebuilding the tagged sources gets the
same value (``docs/releases.md`` shows how).

The build needs the build backend of ``pyproject.toml`` (setuptools >= 77): pip fetches it into an
isolated environment (PyPI, or pip's cache), or, with ``--no-build-isolation``, uses the one
installed in this environment.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from sealroom.attestation.document import SIMULATED_PROVIDER
from sealroom.attestation.measurement import measure_wheel
from sealroom.attestation.specifications import (
    CORE_ENCLAVE_NAME,
    RELEASES_FILE,
    EnclaveSpecification,
    is_release_version,
    parse_specifications,
    release_version,
)

__all__ = [
    "add_release",
    "build_wheel",
    "export_git_tree",
    "main",
    "release_specification",
]

#: Generous bounds for a build and a ``git archive`` of this project (seconds).
_BUILD_TIMEOUT_S = 600
_GIT_TIMEOUT_S = 120
#: Not copied with ``--source``: VCS data, environments, caches and earlier build outputs (a
#: stale ``build/lib`` would otherwise end up in the wheel).
_NOT_SOURCES = (".git", ".venv", "build", "dist", "mutants", ".mypy_cache", ".ruff_cache")
_VERSION_LINE = re.compile(r'^__version__ = "([^"]+)"$', re.MULTILINE)


def release_specification(wheel: bytes) -> EnclaveSpecification:
    """The specification of the release a ``sealroom`` wheel holds: its version and measurement.

    Refuses (``ValueError``) a wheel whose metadata version differs from the version its code
    states (``sealroom/_version.py``), since a core states the latter in its attestation.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            names = archive.namelist()
            metadata = [n for n in names if re.fullmatch(r"sealroom-[^/]+\.dist-info/METADATA", n)]
            if len(metadata) != 1 or "sealroom/_version.py" not in names:
                raise ValueError("not a sealroom wheel (no single METADATA and _version.py)")
            meta_text = archive.read(metadata[0]).decode("utf-8")
            code_text = archive.read("sealroom/_version.py").decode("utf-8")
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a wheel (zip): {exc}") from None
    wheel_version = re.search(r"^Version: (\S+)$", meta_text, re.MULTILINE)
    code_version = _VERSION_LINE.search(code_text)
    if wheel_version is None or code_version is None:
        raise ValueError("the wheel states no version (METADATA or sealroom/_version.py)")
    if wheel_version.group(1) != code_version.group(1):
        raise ValueError(
            f"the wheel is version {wheel_version.group(1)} but its code states "
            f"{code_version.group(1)} (pyproject.toml and src/sealroom/_version.py must agree)"
        )
    return EnclaveSpecification(
        name=CORE_ENCLAVE_NAME,
        version=release_version(code_version.group(1)),
        measurement=measure_wheel(wheel),
        accepted_providers=frozenset({SIMULATED_PROVIDER}),
    )


def add_release(
    releases: Sequence[EnclaveSpecification], release: EnclaveSpecification
) -> list[EnclaveSpecification]:
    """``releases`` with ``release`` listed, oldest first. A listed release never changes:
    listing it again with another measurement is refused (``ValueError``)."""
    if not is_release_version(release.version):
        raise ValueError(
            f"{release.id} is not a release version (vX.Y.Z); a development build is not listed"
        )
    for listed in releases:
        if listed.id == release.id:
            if listed != release:
                raise ValueError(
                    f"{release.id} is listed with measurement {listed.measurement}; this build "
                    f"measures {release.measurement}. A release's listing never changes: build "
                    "the tagged sources, or release a new version"
                )
            return list(releases)
    return sorted([*releases, release], key=lambda spec: _release_key(spec.version))


def export_git_tree(repo: Path, ref: str, destination: Path) -> None:
    """The files of ``ref`` in ``repo`` (``git archive``), unpacked into ``destination``."""
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git is not installed; use --source DIR or --wheel FILE")
    archive = subprocess.run(  # noqa: S603 - fixed program and arguments, no shell
        [git, "-C", str(repo), "archive", "--format=tar", ref],
        capture_output=True,
        timeout=_GIT_TIMEOUT_S,
        check=False,
    )
    if archive.returncode != 0:
        message = archive.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"git archive {ref} in {repo} failed: {message}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")


def build_wheel(source: Path, out_dir: Path, *, isolation: bool = True) -> Path:
    """Build the wheel of the source tree ``source`` into ``out_dir`` with ``pip wheel``.

    Builds in ``source`` (setuptools writes ``build/`` there): pass a scratch copy.
    """
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
    command += ["--disable-pip-version-check", "--wheel-dir", str(out_dir)]
    if not isolation:
        command.append("--no-build-isolation")
    result = subprocess.run(  # noqa: S603 - this interpreter's pip, fixed arguments, no shell
        [*command, str(source)],
        capture_output=True,
        text=True,
        timeout=_BUILD_TIMEOUT_S,
        check=False,
    )
    wheels = sorted(out_dir.glob("sealroom-*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        raise RuntimeError(f"pip wheel failed:\n{result.stdout}{result.stderr}".rstrip())
    return wheels[0]


def _copy_sources(source: Path, destination: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        if Path(directory) == source:
            skipped |= {n for n in names if n in _NOT_SOURCES}
        return skipped

    shutil.copytree(source, destination, ignore=ignore)


def _release_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.removeprefix("v").split("."))


def _read_releases(path: Path) -> list[EnclaveSpecification]:
    return parse_specifications(json.loads(path.read_text("utf-8")))


def _shipped_releases_path() -> Path:
    return Path(__file__).with_name(RELEASES_FILE)


def _built_release(args: argparse.Namespace) -> EnclaveSpecification:
    if args.wheel is not None:
        return release_specification(args.wheel.read_bytes())
    with tempfile.TemporaryDirectory(prefix="sealroom-release-") as scratch:
        tree, out = Path(scratch) / "src", Path(scratch) / "wheel"
        out.mkdir()
        if args.source is not None:
            _copy_sources(args.source.resolve(), tree)
        else:
            tree.mkdir()
            export_git_tree(args.repo, args.ref, tree)
        wheel = build_wheel(tree, out, isolation=not args.no_build_isolation)
        return release_specification(wheel.read_bytes())


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (module docstring). Exit status 0, or 1 when the list disagrees."""
    parser = argparse.ArgumentParser(
        prog="python -m sealroom.attestation.release",
        description="Build sealroom's wheel and print its release specification.",
    )
    origin = parser.add_mutually_exclusive_group()
    origin.add_argument("--ref", default="HEAD", help="git ref to build (default: HEAD)")
    origin.add_argument("--source", type=Path, help="build this source tree instead of git")
    origin.add_argument("--wheel", type=Path, help="measure this wheel instead of building")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the git checkout")
    parser.add_argument(
        "--releases", type=Path, help="compare with this release list (default: this SDK's)"
    )
    parser.add_argument("--add-to", type=Path, help="add the release to this release list")
    parser.add_argument(
        "--no-build-isolation", action="store_true", help="build with this venv's setuptools"
    )
    args = parser.parse_args(argv)
    try:
        release = _built_release(args)
        listing = args.add_to or args.releases or _shipped_releases_path()
        releases = _read_releases(listing) if listing.exists() else []
        print(json.dumps(release.to_dict(), indent=2))
        if args.add_to is not None:
            updated = add_release(releases, release)
            text = json.dumps([spec.to_dict() for spec in updated], indent=2) + "\n"
            args.add_to.write_text(text, "utf-8")
            print(f"{release.id} is listed in {args.add_to}", file=sys.stderr)
            return 0
    except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    listed = next((spec for spec in releases if spec.id == release.id), None)
    if listed is None:
        print(f"{release.id} is not listed in {listing}", file=sys.stderr)
        return 0
    if listed != release:
        print(
            f"{release.id} is listed in {listing} with measurement {listed.measurement}, "
            f"not {release.measurement}: NOT REPRODUCED",
            file=sys.stderr,
        )
        return 1
    print(f"{release.id} reproduces the listing in {listing}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
