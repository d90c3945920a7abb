"""A release's measurement is reproducible: built twice from the committed sources, the wheel
measures the same, and the same as the source tree it was built from.

Builds real wheels with ``pip wheel`` (a few seconds each; pip fetches the build backend of
pyproject.toml into an isolated environment, from PyPI or its cache).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sealroom.attestation import measure_package_directory, measure_wheel
from sealroom.attestation.release import build_wheel, export_git_tree, release_specification

REPO = Path(__file__).resolve().parents[2]


def _is_git_checkout() -> bool:
    result = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", "HEAD"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


pytestmark = pytest.mark.skipif(not _is_git_checkout(), reason="needs the sources' git checkout")


def test_two_builds_of_head_measure_the_same_as_its_source_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    export_git_tree(REPO, "HEAD", tree)
    expected = measure_package_directory(tree / "src" / "sealroom")

    measurements = []
    for attempt in ("first", "second"):
        source, out = tmp_path / attempt, tmp_path / f"{attempt}-wheel"
        source.mkdir()
        out.mkdir()
        export_git_tree(REPO, "HEAD", source)
        wheel = build_wheel(source, out).read_bytes()
        measurements.append(measure_wheel(wheel))
        assert release_specification(wheel).measurement == measurements[-1]
    assert measurements == [expected, expected]


def test_the_command_prints_the_release_of_head(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sealroom.attestation.release", "--repo", str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    tree = tmp_path / "tree"
    tree.mkdir()
    export_git_tree(REPO, "HEAD", tree)
    assert f'"measurement": "{measure_package_directory(tree / "src" / "sealroom")}"' in (
        result.stdout
    )
