"""The script-library list is kept once in code and must match the ``scripts`` extra."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from sealroom.cli.worker import (
    R_INSTALL_HINT,
    SANDBOX_INSTALL_HINT,
    SCRIPTS_INSTALL_HINT,
    WorkerReport,
    _render,
)
from sealroom.compute.scripts.libraries import BASE_LIBRARIES, SCRIPT_LIBRARIES, library_versions

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
CONSTRAINTS = Path(__file__).parents[2] / "constraints.txt"


def _names(requirements: list[str]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", Requirement(r).name).lower() for r in requirements}


def test_the_constant_lists_the_same_distributions_as_the_scripts_extra() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    assert _names(project["optional-dependencies"]["scripts"]) == set(SCRIPT_LIBRARIES)
    assert len(set(SCRIPT_LIBRARIES)) == len(SCRIPT_LIBRARIES)
    # The base libraries are core dependencies, installed with Sealroom itself.
    assert set(BASE_LIBRARIES) <= _names(project["dependencies"])


def test_every_library_is_pinned_and_no_gpu_stack_is() -> None:
    lines = CONSTRAINTS.read_text().splitlines()
    pinned = _names([line.split("==")[0] for line in lines if line and not line.startswith("#")])
    assert set(BASE_LIBRARIES) | set(SCRIPT_LIBRARIES) <= pinned
    # xgboost's Linux wheel pulls NVIDIA NCCL (hundreds of MB); nothing may bring a GPU stack.
    assert "xgboost" not in pinned
    assert not [name for name in pinned if name.startswith(("nvidia-", "torch"))]


def test_library_versions_covers_every_library_in_order() -> None:
    assert list(library_versions()) == [*BASE_LIBRARIES, *SCRIPT_LIBRARIES]


def test_the_text_report_says_how_to_install_what_is_missing() -> None:
    report: WorkerReport = {
        "python": {"version": "3.11.7", "interpreter": "/usr/bin/python3.11"},
        "sandbox": {"available": False, "bwrap": None, "bwrap_version": None, "libseccomp": True},
        "r": {"path": None, "version": None},
        "libraries": {"numpy": "2.4.6", "scikit-survival": None},
    }
    lines = _render(report)
    assert f"Sandbox  UNAVAILABLE: scripts cannot run ({SANDBOX_INSTALL_HINT})" in lines
    assert f"R        not installed — {R_INSTALL_HINT}" in lines
    assert "  numpy            2.4.6" in lines
    assert f"  scikit-survival  not installed — {SCRIPTS_INSTALL_HINT}" in lines
