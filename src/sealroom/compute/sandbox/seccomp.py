"""The seccomp filter applied to the script (bwrap loads it with ``--seccomp FD`` just before exec).

Invariants:

* Default allow, with an explicit deny list: the script is an ordinary Python/R process and needs
  the ordinary system calls; the deny list removes network access beyond ``AF_UNIX``, new
  processes, namespaces, mounts, tracing, kernel keyrings, BPF, module loading and the other
  admin or escape-prone calls.
* Denied calls return an errno (``EPERM``; ``EAFNOSUPPORT`` for sockets; ``ENOSYS`` for
  ``clone3``) instead of killing, so a script fails with a clean Python exception.
* Only the native architecture is in the filter; libseccomp's bad-arch action (kill) covers
  32-bit ``int 0x80`` calls and the x32 ABI, which would otherwise bypass a native-only deny list.
* If libseccomp or ``pyseccomp`` is unavailable, :func:`seccomp_available` is False and the runner
  refuses to run (fails closed).
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any, Final

__all__ = ["DENIED_SYSCALLS", "seccomp_available", "write_filter_fd"]

try:
    import pyseccomp as _seccomp  # type: ignore[import-untyped]
except (ImportError, OSError):  # OSError: libseccomp.so missing
    _seccomp = None

# Syscalls refused outright with EPERM, grouped by the attack they stop.
DENIED_SYSCALLS: Final[tuple[str, ...]] = (
    # Tracing other processes / reading their memory.
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    # Changing the file system view.
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr",
    # New namespaces (a fresh user namespace regains capabilities).
    "unshare", "setns",
    # New processes: RLIMIT_NPROC is not enforced for host uid 0 (see limits.py), so the only
    # bound on a fork bomb is refusing fork itself. Threads use clone with CLONE_THREAD (below).
    "fork", "vfork",
    # Kernel attack surface not needed by data analysis.
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "open_by_handle_at", "name_to_handle_at", "personality",
    "acct", "quotactl", "syslog", "uselib", "lookup_dcookie", "vhangup", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "nfsservctl", "_sysctl", "fanotify_init", "mbind", "migrate_pages", "move_pages",
    # Memory outside the address-space limit: a memfd's or a detached SysV segment's pages are
    # not counted by RLIMIT_AS once unmapped, so a script could hold any amount of RAM.
    "memfd_create", "memfd_secret", "shmget", "shmat", "shmctl", "shmdt",
)  # fmt: skip

_CLONE_THREAD: Final = 0x00010000
_TIOCSTI: Final = 0x5412  # push characters into a terminal's input queue


def seccomp_available() -> bool:
    """True when libseccomp can be driven from Python here."""
    return _seccomp is not None


def _build_filter() -> Any:
    assert _seccomp is not None
    sc = _seccomp
    filt = sc.SyscallFilter(sc.ALLOW)
    filt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    eperm = sc.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        if sc.resolve_syscall(sc.Arch.NATIVE, name) < 0:
            continue  # not a syscall on this architecture (e.g. _sysctl on newer kernels)
        filt.add_rule(eperm, name)
    # Sockets: only AF_UNIX (local IPC some libraries use); the network namespace is empty anyway.
    filt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
    # clone without CLONE_THREAD creates a process: refused (see "fork" above).
    filt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
    # clone3 takes its flags in a struct seccomp cannot read; ENOSYS makes glibc fall back to clone.
    filt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    filt.add_rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, _TIOCSTI))
    return filt


def write_filter_fd() -> int:
    """Compile the filter to classic BPF in a sealed-off memfd; return its fd, positioned at 0.

    The caller passes the fd to bwrap (``--seccomp FD``) and closes it afterwards.
    """
    if _seccomp is None:
        raise RuntimeError("libseccomp is not available")
    fd = os.memfd_create("sealroom-seccomp", os.MFD_CLOEXEC)
    try:
        with os.fdopen(os.dup(fd), "wb", closefd=True) as sink:
            _build_filter().export_bpf(sink)
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
