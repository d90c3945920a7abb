"""The Python libraries a room's script can import inside the sandbox, and their versions.

Scripts run on the worker's own interpreter with this environment's site-packages bound read-only,
so what a script can import is exactly what is installed here. The set is declared once for
installing and once for reporting, and the two must agree:

* :data:`SCRIPT_LIBRARIES` must list the same distributions as the ``scripts`` optional extra in
  ``pyproject.toml`` (``pip install 'sealroom[scripts]'``); a unit test parses the file and fails
  when they differ.
* :data:`BASE_LIBRARIES` are core dependencies of Sealroom itself, so always installed.

Versions come from the installed distributions' metadata (no import: importing scikit-learn or
matplotlib takes seconds and would make ``sealroom worker info`` slow).
"""

from __future__ import annotations

from importlib import metadata
from typing import Final

__all__ = ["BASE_LIBRARIES", "SCRIPT_LIBRARIES", "library_versions"]

#: Data libraries scripts get from Sealroom's own dependencies (``[project] dependencies``).
BASE_LIBRARIES: Final[tuple[str, ...]] = ("numpy", "pandas", "pyarrow")

#: Distribution names (as on PyPI) of the ``scripts`` extra, sorted. ``xgboost-cpu`` installs the
#: ``xgboost`` module without the several hundred MB of NVIDIA libraries of ``xgboost``.
SCRIPT_LIBRARIES: Final[tuple[str, ...]] = (
    "imbalanced-learn",
    "lifelines",
    "matplotlib",
    "pyreadstat",
    "scikit-learn",
    "scikit-survival",
    "scipy",
    "seaborn",
    "statsmodels",
    "xgboost-cpu",
)


def library_versions() -> dict[str, str | None]:
    """Installed version of each base and script library, None for one not installed.

    Keys are the distribution names in :data:`BASE_LIBRARIES` then :data:`SCRIPT_LIBRARIES` order.
    """
    versions: dict[str, str | None] = {}
    for name in (*BASE_LIBRARIES, *SCRIPT_LIBRARIES):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
