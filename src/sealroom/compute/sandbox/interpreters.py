"""What each script interpreter needs from the host to run inside the sandbox.

Invariants:

* An interpreter is described by host directories to bind read-only (``runtime``, at their own
  paths; anything under ``/usr`` is already visible) and an environment; never a home directory
  (the server's sealing key lives under ``~/.local/state``) and never ``/etc`` as a whole.
* Python is the worker's own interpreter (``sys.base_prefix``) with this environment's
  site-packages bound at :data:`SITE_PACKAGES_PATH`.
* R is Debian's ``r-base-core``: the real binary ``R_HOME/bin/exec/R`` is started directly, not
  the ``/usr/bin/R`` shell script, because the sandbox cannot start a shell (seccomp refuses new
  processes). Its configuration directory (``/etc/R`` on Debian) is the only part of ``/etc``
  bound. BLAS and LAPACK are found through ``LD_LIBRARY_PATH`` at the directories Debian's
  alternatives point to, so ``/etc/alternatives`` stays invisible.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "SITE_PACKAGES_PATH",
    "RRuntime",
    "python_env",
    "python_libraries",
    "python_runtime",
    "r_runtime",
]

#: Where :func:`python_libraries` appear inside the sandbox (fixed, whatever the host path: a
#: checkout under /tmp must not collide with the sandbox's private /tmp).
SITE_PACKAGES_PATH: Final = "/opt/sealroom/site-packages"

# Where R installations live: Debian's package, then a build from source with the default prefix.
_R_HOMES: Final = (Path("/usr/lib/R"), Path("/usr/lib64/R"), Path("/usr/local/lib/R"))
# Debian moves R's architecture-independent parts under /usr/share/R.
_DEBIAN_R_SHARE: Final = Path("/usr/share/R")
_USR: Final = Path("/usr")
# Options that keep R from reading or writing anything but what the script asks for.
# Threads BLAS and OpenMP may start in a script (see python_env).
_MAX_LIBRARY_THREADS: Final = 8
_R_OPTIONS: Final = ("--no-echo", "--no-restore", "--no-save", "--no-environ", "--no-init-file")


def python_runtime() -> tuple[Path, list[Path]]:
    """The interpreter to run inside the sandbox and the host directories it needs.

    Only the real installation (``sys.base_prefix``) and this environment's site-packages are
    bound, never a home directory.
    """
    base = Path(sys.base_prefix).resolve()
    interpreter = base / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return interpreter, [base]


def python_libraries() -> list[tuple[Path, str]]:
    """This environment's site-packages, bound read-only at :data:`SITE_PACKAGES_PATH`."""
    return [(Path(sysconfig.get_paths()["purelib"]).resolve(), SITE_PACKAGES_PATH)]


def python_env() -> dict[str, str]:
    """Environment for :func:`python_runtime`'s interpreter: this venv's packages, no user site."""
    threads = str(min(os.cpu_count() or 1, _MAX_LIBRARY_THREADS))
    return {
        "PYTHONPATH": SITE_PACKAGES_PATH,
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # The sandbox refuses new processes: joblib (scikit-learn's n_jobs) then runs its work
        # in sequence instead of failing with PermissionError.
        "JOBLIB_MULTIPROCESSING": "0",
        # BLAS/OpenMP start a thread per core, each with its own buffers, all counted against
        # the address-space limit: on a large machine that alone could exhaust it.
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        # OpenMP threads that spin while waiting take the cores from each other and from the
        # other jobs: measured 3-20x slower XGBoost training on a busy 2-core machine.
        "OMP_WAIT_POLICY": "PASSIVE",
        # Address space again: pyarrow's default pool (jemalloc/mimalloc) reserves 1 GiB up
        # front, and glibc gives each thread a 64 MiB arena; together they exhaust RLIMIT_AS
        # in scripts that start many threads (JAX, in the synthetic-data worker).
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "MALLOC_ARENA_MAX": "2",
    }


@dataclass(frozen=True)
class RRuntime:
    """An R installation as the sandbox sees it.

    ``command`` runs an R file given as the next argument (``-f FILE``); ``env`` must be completed
    with ``R_PROFILE`` pointing at a profile that makes R start without running programs.
    """

    command: tuple[str, ...]
    runtime: tuple[Path, ...]
    env: dict[str, str]


def _library_dir(name: str) -> Path | None:
    """The directory holding the library ``name`` that the dynamic loader would pick, if in /usr."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for directory in (_USR / "lib" / multiarch, _USR / "lib64", _USR / "lib"):
        candidate = directory / name
        if candidate.exists():
            resolved = candidate.resolve()
            return resolved.parent if _USR in resolved.parents else None
    return None


@functools.cache
def r_runtime() -> RRuntime | None:
    """The installed R (cached); None when it is not (``apt-get install r-base-core``)."""
    home = next((h for h in _R_HOMES if (h / "bin" / "exec" / "R").is_file()), None)
    if home is None:
        return None
    share = _DEBIAN_R_SHARE if (_DEBIAN_R_SHARE / "share").is_dir() else home
    runtime: list[Path] = []
    # Debian's R_HOME/etc holds symlinks into /etc/R: bind that directory, nothing else of /etc.
    config = (home / "etc" / "Renviron").resolve()
    if _USR not in config.parents:
        runtime.append(config.parent)
    library_path = [str(home / "lib")]
    for name in ("libblas.so.3", "liblapack.so.3"):
        directory = _library_dir(name)
        if directory is not None:
            library_path.append(str(directory))
    env = {
        "R_HOME": str(home),
        "R_SHARE_DIR": str(share / "share"),
        "R_INCLUDE_DIR": str(share / "include"),
        "R_DOC_DIR": str(share / "doc"),
        "LD_LIBRARY_PATH": ":".join(library_path),
        "TMPDIR": "/tmp",  # noqa: S108 - the sandbox's private tmpfs
        # No /etc/localtime in the sandbox: say which zone rather than let R guess and warn.
        "TZ": "UTC",
        "PATH": "/usr/bin",
    }
    return RRuntime(
        command=(str(home / "bin" / "exec" / "R"), *_R_OPTIONS, "-f"),
        runtime=tuple(runtime),
        env=env,
    )
