"""Run a participant's script under bubblewrap + seccomp + rlimits: read /input, write /output.

Invariants (each has an escape test in ``tests/unit/test_sandbox_escape.py``):

* The sandbox's root is an empty tmpfs. Visible inside: ``/usr`` (+ Debian usr-merge symlinks),
  the ``runtime`` directories at their host paths, each :class:`Mount` read-only under ``/input``,
  ``output_dir`` read-write at ``/output``, a private size-capped ``/tmp``, a fresh ``/proc`` of
  the new pid namespace and a minimal ``/dev``. No ``/sys``, no ``/etc``, no home directory.
* All namespaces are new (``--unshare-all``: no network but a down loopback), capabilities are
  dropped, the uid/gid inside is 65534, the environment is cleared and rebuilt from an allow list.
  bwrap starts with an empty environment and installs no reaper: the script is pid 1 and the
  only process of its pid namespace, so no process without the seccomp filter is reachable.
* The seccomp filter of :mod:`.seccomp` is loaded just before exec; rlimits of :mod:`.limits` are
  set before bwrap starts. Without bwrap or libseccomp the runner refuses (``sandbox_unavailable``).
* On timeout bwrap's process group gets SIGKILL; ``--die-with-parent`` and the pid namespace take
  every process of the script with it.
* ``/output`` is accepted only if it passes :func:`.output.check_output_dir` (regular,
  singly-linked files and directories, safe names, bounded depth, entries and bytes), checked
  every :data:`OUTPUT_CHECK_SECONDS` while the script runs (the script is killed at the first
  violation) and once after. Captured stdout and stderr are cut to :data:`MAX_CAPTURED_BYTES`.
* Error messages name limits and codes, never file contents or file names written by the script.
* A run's outcome is what the runner observes from outside: the exit status, whether it was
  stopped at the time limit, and whether ``/output`` passed the check. The core tells the analyst
  only *that* the status was non-zero, never its value (8 bits the script chooses); see
  :mod:`sealroom.compute.scripts.failure` for everything a failure may reveal.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final

from sealroom.errors import SandboxError

from .limits import SandboxLimits, apply_rlimits
from .output import check_output_dir, remove_tree
from .seccomp import seccomp_available, write_filter_fd

__all__ = [
    "MAX_CAPTURED_BYTES",
    "Mount",
    "SandboxError",
    "SandboxResult",
    "run_sandboxed",
    "sandbox_available",
]

# Each of stdout and stderr is kept up to 1 MiB: enough for tracebacks and progress messages,
# small enough to store with a job. The files themselves are bounded by RLIMIT_FSIZE.
MAX_CAPTURED_BYTES: Final = 1024 * 1024
#: How often a running script's /output is checked against the limits (seconds): a trade-off
#: between how far past the limit a fast writer gets and the cost of walking the tree.
OUTPUT_CHECK_SECONDS: Final = 0.1
# Time allowed for bwrap to die after SIGKILL before we give up waiting (it always should).
_REAP_SECONDS: Final = 10.0
_SANDBOX_UID: Final = 65534  # "nobody"
_INPUT_ROOT: Final = PurePosixPath("/input")
#: Library directories (host paths of any name) are bound below this sandbox path.
_LIBRARY_ROOT: Final = PurePosixPath("/opt/sealroom")
# Sandbox paths the runtime directories must not shadow.
_RESERVED_ROOTS: Final = tuple(
    Path(p)
    for p in ("/input", "/output", "/tmp", "/proc", "/dev")  # noqa: S108
)
# Already bound read-only as a whole; runtime directories under it (R's /usr/lib/R) need no bind.
_USR: Final = Path("/usr")


@dataclass(frozen=True)
class Mount:
    """A read-only bind of ``host_path`` at ``sandbox_path`` (which must lie under ``/input/``)."""

    host_path: Path
    sandbox_path: str

    def __post_init__(self) -> None:
        target = PurePosixPath(self.sandbox_path)
        # Refuse '..' and '.' anywhere, relative paths, and /input itself.
        if (
            not target.is_absolute()
            or any(part in ("..", ".") for part in self.sandbox_path.split("/"))
            or target.parent == target
            or _INPUT_ROOT not in target.parents
        ):
            raise SandboxError("mount target must be a path under /input/", code="invalid_mount")


@dataclass(frozen=True)
class SandboxResult:
    """What a run produced. ``exit_code`` is None when the run was killed on timeout."""

    exit_code: int | None
    timed_out: bool
    stdout: bytes
    stderr: bytes
    output_files: list[tuple[str, int]]
    duration_seconds: float


@functools.cache
def _bwrap_path() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def sandbox_available() -> bool:
    """True when bwrap and libseccomp are present and an empty sandbox actually starts (cached)."""
    if _bwrap_path() is None or not seccomp_available():
        return False
    probe_dir = Path(tempfile.mkdtemp(prefix="sealroom-sandbox-probe-"))
    try:
        out = probe_dir / "out"
        out.mkdir()
        result = run_sandboxed(
            ["/usr/bin/true"],
            mounts=(),
            output_dir=out,
            work_dir=probe_dir,
            limits=SandboxLimits(timeout_seconds=10.0),
            _probe=True,
        )
        return result.exit_code == 0
    except (OSError, RuntimeError, SandboxError):
        return False
    finally:
        remove_tree(probe_dir)


def _check_runtime_dir(path: Path) -> Path | None:
    """The directory to bind for ``path``, None if already visible; refuses broad directories."""
    resolved = path.resolve()
    if resolved == _USR or _USR in resolved.parents:
        return None
    home = Path.home().resolve()
    if (
        not resolved.is_dir()
        or resolved == Path("/")
        or resolved == home
        or resolved in home.parents
        or any(resolved == root or root in resolved.parents for root in _RESERVED_ROOTS)
    ):
        raise SandboxError("runtime directory is not acceptable", code="invalid_runtime")
    return resolved


def _check_library(host_path: Path, sandbox_path: str) -> Path:
    """A library directory may be any readable directory but home itself; it lands under /opt."""
    resolved = host_path.resolve()
    target = PurePosixPath(sandbox_path)
    home = Path.home().resolve()
    if (
        not resolved.is_dir()
        or resolved == Path("/")
        or resolved == home
        or resolved in home.parents
        or _LIBRARY_ROOT not in target.parents
        or ".." in target.parts
    ):
        raise SandboxError("library directory is not acceptable", code="invalid_runtime")
    return resolved


def _bwrap_argv(
    *,
    argv: Sequence[str],
    mounts: Sequence[Mount],
    output_dir: Path,
    runtime: Sequence[Path],
    libraries: Sequence[tuple[Path, str]],
    env: Mapping[str, str],
    limits: SandboxLimits,
    seccomp_fd: int,
) -> list[str]:
    bwrap = _bwrap_path()
    if bwrap is None:
        raise SandboxError("sandbox is not available", code="sandbox_unavailable")
    args = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",  # no controlling terminal: TIOCSTI-style injection impossible
        # The script is pid 1 itself: otherwise bwrap's reaper is pid 1, outside the seccomp
        # filter, and its /proc/1/mem is open for writing to the script (same uid) - a way to
        # run code without the filter.
        "--as-pid-1",
        "--uid", str(_SANDBOX_UID),
        "--gid", str(_SANDBOX_UID),
        # As root, without this the script keeps capabilities in its namespace and could remount.
        "--cap-drop", "ALL",
        "--tmpfs", "/",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/sbin", "/sbin",
        "--proc", "/proc",
        "--dev", "/dev",
        # Read-only below (with /): a writable /dev would be an uncapped tmpfs, memory outside
        # every limit.
        # /tmp is host memory: capped like the address space.
        "--size", str(limits.memory_bytes), "--tmpfs", "/tmp",  # noqa: S108
    ]  # fmt: skip
    for directory in runtime:
        resolved = _check_runtime_dir(directory)
        if resolved is not None:
            args += ["--ro-bind", str(resolved), str(resolved)]
    for host_path, sandbox_path in libraries:
        args += ["--ro-bind", str(_check_library(host_path, sandbox_path)), sandbox_path]
    args += ["--dir", str(_INPUT_ROOT)]
    for mount in mounts:
        if not mount.host_path.exists():
            raise SandboxError("an input of the script is missing", code="invalid_mount")
        args += ["--ro-bind", str(mount.host_path.resolve()), mount.sandbox_path]
    args += ["--bind", str(output_dir.resolve()), "/output"]
    # Remount the whole tree read-only except the binds we made writable (/output, /tmp).
    args += ["--remount-ro", "/", "--remount-ro", "/dev"]
    args += ["--chdir", "/tmp", "--clearenv"]  # noqa: S108
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--seccomp", str(seccomp_fd), "--", *argv]
    return args


def read_capped(path: Path) -> bytes:
    """The first :data:`MAX_CAPTURED_BYTES` of a captured stream."""
    with path.open("rb") as handle:
        return handle.read(MAX_CAPTURED_BYTES)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``process``'s process group and reap it."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=_REAP_SECONDS)


def wait_watching_output(
    process: subprocess.Popen[bytes], output_dir: Path, limits: SandboxLimits
) -> tuple[int | None, bool]:
    """Wait for ``process`` (exit code, timed out), checking ``output_dir`` as it runs.

    The output is checked every :data:`OUTPUT_CHECK_SECONDS`; once it passes a limit the process
    group is killed and the :class:`SandboxError` raised, so what lands on the host is bounded by
    the limit plus what the script writes in one interval (each file also by RLIMIT_FSIZE). On
    timeout the group is killed and ``(None, True)`` returned.
    """
    deadline = time.monotonic() + limits.timeout_seconds
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kill_group(process)
                return None, True
            try:
                return process.wait(timeout=min(OUTPUT_CHECK_SECONDS, remaining)), False
            except subprocess.TimeoutExpired:
                check_output_dir(output_dir, limits)
    finally:
        if process.returncode is None:
            kill_group(process)


def run_sandboxed(
    argv: Sequence[str],
    *,
    mounts: Sequence[Mount],
    output_dir: Path,
    work_dir: Path,
    limits: SandboxLimits,
    runtime: Sequence[Path] = (),
    libraries: Sequence[tuple[Path, str]] = (),
    env: Mapping[str, str] | None = None,
    _probe: bool = False,
) -> SandboxResult:
    """Run ``argv`` in the sandbox; ``work_dir`` (host, private) receives the captured streams.

    ``env`` is the whole environment inside besides ``HOME=/tmp`` and ``LANG=C.UTF-8``; nothing of
    the host's environment is passed. Raises :class:`SandboxError`; a script's own failure is a
    non-zero ``exit_code``, a timeout is ``timed_out=True``.
    """
    if not _probe and not sandbox_available():
        raise SandboxError("sandbox is not available", code="sandbox_unavailable")
    if not argv:
        raise ValueError("argv must not be empty")
    full_env = {"HOME": "/tmp", "LANG": "C.UTF-8", **(env or {})}  # noqa: S108
    stdout_path = work_dir / "stdout"
    stderr_path = work_dir / "stderr"
    seccomp_fd = write_filter_fd()
    try:
        args = _bwrap_argv(
            argv=argv,
            mounts=mounts,
            output_dir=output_dir,
            runtime=runtime,
            libraries=libraries,
            env=full_env,
            limits=limits,
            seccomp_fd=seccomp_fd,
        )
        started = time.monotonic()
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(  # noqa: S603 - argv built above, no shell
                args,
                stdin=subprocess.DEVNULL,
                # bwrap itself needs no environment; nothing of the host's should reach even its
                # own memory (defence in depth: its processes stay outside the pid namespace).
                env={},
                stdout=out,
                stderr=err,
                pass_fds=(seccomp_fd,),
                start_new_session=True,  # its own process group, killed as one on timeout
                close_fds=True,
                preexec_fn=functools.partial(apply_rlimits, limits),
            )
        exit_code, timed_out = wait_watching_output(process, output_dir, limits)
        duration = time.monotonic() - started
    finally:
        os.close(seccomp_fd)
    output_files = check_output_dir(output_dir, limits)
    return SandboxResult(
        exit_code=exit_code,
        timed_out=timed_out,
        stdout=read_capped(stdout_path),
        stderr=read_capped(stderr_path),
        output_files=output_files,
        duration_seconds=duration,
    )
