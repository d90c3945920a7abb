"""Running a Python script WITHOUT the sandbox — ``sealroom serve --unsafe-no-sandbox`` only.

This exists so that a developer on a machine without bubblewrap (macOS, a container without user
namespaces) can try room scripts. It is not a security boundary of any kind: the script runs as
the server's user, with its network, its files and its environment minus secrets.

Invariants (what is still true without the sandbox):

* The script sees the same paths as in the sandbox: ``/input/...`` and ``/output`` are translated
  to a private per-run directory by the Python wrapper (``runtime/unsandboxed_paths.py``) for
  Python's own file functions (``open``, ``os``, ``pathlib``, ``shutil``, pandas). Native code that
  opens files itself (pyarrow's readers, R) would see host paths, so R is refused in this mode.
* The rlimits of :mod:`.limits`, the wall-clock timeout (SIGKILL to the process group), the output
  checks and the captured-stream caps are the same as in the sandbox.
* The environment is rebuilt from the caller's allow list, as in the sandbox: no server setting
  or secret is inherited.
"""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from .limits import SandboxLimits, apply_rlimits
from .output import check_output_dir
from .runner import Mount, SandboxResult, read_capped, wait_watching_output

__all__ = ["UNSANDBOXED_ROOT_VARIABLE", "run_unsandboxed"]

#: The variable that tells the Python wrapper where ``/input`` and ``/output`` really are.
UNSANDBOXED_ROOT_VARIABLE: Final = "SEALROOM_UNSANDBOXED_ROOT"


def _lay_out(root: Path, mounts: Sequence[Mount], output_dir: Path) -> None:
    """``root/input/...`` links to each mount's host path; ``root/output`` to ``output_dir``."""
    for mount in mounts:
        link = root / mount.sandbox_path.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(mount.host_path.resolve())
    (root / "input").mkdir(exist_ok=True)
    (root / "output").symlink_to(output_dir.resolve())
    (root / "tmp").mkdir()


def run_unsandboxed(
    argv: Sequence[str],
    *,
    mounts: Sequence[Mount],
    output_dir: Path,
    work_dir: Path,
    limits: SandboxLimits,
    env: Mapping[str, str] | None = None,
) -> SandboxResult:
    """Run ``argv`` as a plain child process with the sandbox's paths translated (see above)."""
    root = work_dir / "root"
    _lay_out(root, mounts, output_dir)
    full_env = {
        "HOME": str(root / "tmp"),
        "TMPDIR": str(root / "tmp"),
        "LANG": "C.UTF-8",
        **(env or {}),
        UNSANDBOXED_ROOT_VARIABLE: str(root.resolve()),
    }
    stdout_path = work_dir / "stdout"
    stderr_path = work_dir / "stderr"
    started = time.monotonic()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(  # noqa: S603 - argv from the core, no shell
            list(argv),
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=root / "tmp",
            stdout=out,
            stderr=err,
            start_new_session=True,
            close_fds=True,
            preexec_fn=functools.partial(apply_rlimits, limits),
        )
    exit_code, timed_out = wait_watching_output(process, output_dir, limits)
    duration = time.monotonic() - started
    return SandboxResult(
        exit_code=exit_code,
        timed_out=timed_out,
        stdout=read_capped(stdout_path),
        stderr=read_capped(stderr_path),
        output_files=check_output_dir(output_dir, limits),
        duration_seconds=duration,
    )
