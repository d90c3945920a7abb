"""Sandbox for participant-written scripts: bubblewrap + seccomp + rlimits.

* :mod:`.runner` — :func:`run_sandboxed`, :func:`sandbox_available`, output checks; the
  invariants of the sandbox are listed there.
* :mod:`.interpreters` — what Python (:func:`python_runtime`) and R (:func:`r_runtime`) need
  from the host inside the sandbox.
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
from .runner import (
    MAX_CAPTURED_BYTES,
    Mount,
    SandboxError,
    SandboxResult,
    check_output_dir,
    run_sandboxed,
    sandbox_available,
)
from .unsandboxed import run_unsandboxed

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_CAPTURED_BYTES",
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
    "run_sandboxed",
    "run_unsandboxed",
    "sandbox_available",
]
