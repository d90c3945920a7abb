"""Sandbox for participant-written scripts: bubblewrap + seccomp + rlimits.

* :mod:`.runner` — :func:`run_sandboxed`, :func:`sandbox_available`, :func:`python_runtime`,
  output checks; the invariants of the sandbox are listed there.
* :mod:`.limits` — :class:`SandboxLimits` and what each limit does and does not bound.
* :mod:`.seccomp` — the system-call filter.
"""

from __future__ import annotations

from .limits import DEFAULT_LIMITS, SandboxLimits
from .runner import (
    MAX_CAPTURED_BYTES,
    SITE_PACKAGES_PATH,
    Mount,
    SandboxError,
    SandboxResult,
    check_output_dir,
    python_env,
    python_libraries,
    python_runtime,
    run_sandboxed,
    sandbox_available,
)

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_CAPTURED_BYTES",
    "SITE_PACKAGES_PATH",
    "Mount",
    "SandboxError",
    "SandboxLimits",
    "SandboxResult",
    "check_output_dir",
    "python_env",
    "python_libraries",
    "python_runtime",
    "run_sandboxed",
    "sandbox_available",
]
