"""Sandbox for participant-written scripts: bubblewrap + seccomp + rlimits.

* :mod:`.runner` — :func:`run_sandboxed`, :func:`sandbox_available`, output checks; the
  invariants of the sandbox are listed there.
* :mod:`.interpreters` — what Python (:func:`python_runtime`) and R (:func:`r_runtime`) need
  from the host inside the sandbox.
* :mod:`.output` — :func:`check_output_dir` and :func:`remove_tree`, safe on any tree a script
  can make.
* :mod:`.limits` — :class:`SandboxLimits` and what each limit does and does not bound.
* :mod:`.seccomp` — the system-call filter.
* :mod:`.unsandboxed` — :func:`run_unsandboxed`, for ``--unsafe-no-sandbox`` (development only).
"""

from __future__ import annotations

from .interpreters import (
    SITE_PACKAGES_PATH,
    RRuntime,
    python_env,
    python_libraries,
    python_runtime,
    r_runtime,
)
from .limits import DEFAULT_LIMITS, SandboxLimits
from .output import MAX_OUTPUT_DEPTH, check_output_dir, remove_tree
from .runner import (
    MAX_CAPTURED_BYTES,
    Mount,
    SandboxError,
    SandboxResult,
    run_sandboxed,
    sandbox_available,
)
from .unsandboxed import run_unsandboxed

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_CAPTURED_BYTES",
    "MAX_OUTPUT_DEPTH",
    "SITE_PACKAGES_PATH",
    "Mount",
    "RRuntime",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "check_output_dir",
    "python_env",
    "python_libraries",
    "python_runtime",
    "r_runtime",
    "remove_tree",
    "run_sandboxed",
    "run_unsandboxed",
    "sandbox_available",
]
