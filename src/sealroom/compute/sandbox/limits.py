"""Resource limits of one sandboxed script run, and how they are applied.

Invariants:

* Every limit is finite; :class:`SandboxLimits` refuses zero or negative values at construction.
* The ``RLIMIT_*`` values are set in the spawned child before ``exec`` of bwrap, so bwrap and
  everything it starts inherit them; the script cannot raise a hard limit (it has no capabilities).

What each limit bounds, and what it does not:

* ``timeout_seconds`` — wall clock, enforced by the runner: SIGKILL to bwrap's process group; bwrap
  runs with ``--die-with-parent`` and is the parent of the pid namespace's init, so the whole
  namespace dies with it.
* ``memory_bytes`` — ``RLIMIT_AS`` per process (address space, not resident memory). The private
  ``/tmp`` tmpfs is capped at the same size, since tmpfs pages are host memory.
* ``cpu_seconds`` — ``RLIMIT_CPU`` per process.
* ``max_file_bytes`` — ``RLIMIT_FSIZE``: no single file (outputs, captured stdout/stderr) grows past
  it; the writer gets SIGXFSZ.
* ``max_processes`` — ``RLIMIT_NPROC``. CAVEAT: run as root, bwrap maps the sandbox uid 65534 to
  host uid 0, and the kernel never enforces ``RLIMIT_NPROC`` for host uid 0. The effective bound on
  processes is the seccomp filter, which refuses to create any new process (threads only); the
  rlimit is still set for hosts where bwrap runs unprivileged (then it counts every process of
  host uid 65534, not only this sandbox's).
* ``max_output_bytes`` / ``max_output_files`` — checked on ``/output`` every 0.1 s while the
  script runs (it is killed at the first violation) and once after; entries count files and
  directories. Between two checks a fast writer can get past the byte limit by what it writes in
  one interval (each file is also bounded by ``max_file_bytes``); only a size-capped file system
  per job would make the bound exact.
* Memory outside the address space: ``/tmp`` is a tmpfs capped at ``memory_bytes`` (so a script
  can hold up to twice its memory limit); ``/dev`` is read-only; memfds and SysV shared memory are
  refused by the seccomp filter. No cgroup bounds the total.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_LIMITS", "SandboxLimits", "apply_rlimits"]

_GIB: Final = 1024**3


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one run. Units are in the names; defaults suit one analysis over a room's data."""

    timeout_seconds: float = 300.0
    memory_bytes: int = 2 * _GIB
    cpu_seconds: int = 600
    max_file_bytes: int = 1 * _GIB
    max_processes: int = 64
    max_output_bytes: int = 1 * _GIB
    max_output_files: int = 10_000

    def __post_init__(self) -> None:
        for name in (
            "timeout_seconds",
            "memory_bytes",
            "cpu_seconds",
            "max_file_bytes",
            "max_processes",
            "max_output_bytes",
            "max_output_files",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"sandbox limit {name} must be positive")


DEFAULT_LIMITS: Final = SandboxLimits()


def apply_rlimits(limits: SandboxLimits) -> None:
    """Set soft and hard rlimits in the current process (called in the child before exec).

    Hard limits equal soft limits, so the script can never raise them again.
    """
    for which, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.max_file_bytes),
        (resource.RLIMIT_NPROC, limits.max_processes),
        # No core dumps: a dump would write the script's memory (decrypted data) to disk.
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(which, (value, value))
