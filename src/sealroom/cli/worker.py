"""``sealroom worker info``: what this machine offers room scripts (Python, R, sandbox, libraries).

It only inspects the local installation; it talks to no server and reads no room data. The
library list comes from :mod:`sealroom.compute.scripts.libraries` (the one place it is kept).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from typing import Annotated, Final, TypedDict

import typer

__all__ = ["WorkerReport", "worker_app", "worker_report"]

worker_app = typer.Typer(help="What this machine offers room scripts.", no_args_is_help=True)

# `bwrap --version` and `R --version` answer at once; the bound only keeps a broken install from
# hanging the command.
_VERSION_TIMEOUT_SECONDS: Final = 20.0
SCRIPTS_INSTALL_HINT: Final = "pip install 'sealroom[scripts]'"
R_INSTALL_HINT: Final = "apt-get install r-base-core"
SANDBOX_INSTALL_HINT: Final = "apt-get install bubblewrap libseccomp2"


class PythonInfo(TypedDict):
    version: str
    interpreter: str


class SandboxInfo(TypedDict):
    available: bool
    bwrap: str | None
    bwrap_version: str | None
    libseccomp: bool


class RInfo(TypedDict):
    path: str | None
    version: str | None


class WorkerReport(TypedDict):
    """What ``sealroom worker info --json`` prints; None stands for "not installed"."""

    python: PythonInfo
    sandbox: SandboxInfo
    r: RInfo
    libraries: dict[str, str | None]


def _first_line(argv: list[str]) -> str | None:
    """First line of a ``--version`` command's output, None when it cannot run or says nothing."""
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv of an installed tool, no shell
            argv,
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0].strip() if result.returncode == 0 and lines else None


def worker_report() -> WorkerReport:
    """The facts ``sealroom worker info`` prints (JSON-ready)."""
    from sealroom.compute.sandbox import python_runtime, sandbox_available
    from sealroom.compute.sandbox.seccomp import seccomp_available
    from sealroom.compute.scripts.libraries import library_versions

    interpreter, _ = python_runtime()
    bwrap = shutil.which("bwrap")
    r_path = shutil.which("R")
    return {
        "python": {"version": platform.python_version(), "interpreter": str(interpreter)},
        "sandbox": {
            "available": sandbox_available(),
            "bwrap": bwrap,
            "bwrap_version": _first_line([bwrap, "--version"]) if bwrap else None,
            "libseccomp": seccomp_available(),
        },
        "r": {
            "path": r_path,
            "version": _first_line([r_path, "--version"]) if r_path else None,
        },
        "libraries": library_versions(),
    }


def _r_text(r: RInfo) -> str:
    if r["path"] is None:
        return f"not installed — {R_INSTALL_HINT}"
    return r["version"] or f"{r['path']} (its version could not be read)"


def _render(report: WorkerReport) -> list[str]:
    python, sandbox, libraries = report["python"], report["sandbox"], report["libraries"]
    if sandbox["available"]:
        status = "works"
    else:
        status = f"UNAVAILABLE: scripts cannot run ({SANDBOX_INSTALL_HINT})"
    lines = [
        f"Python   {python['version']} ({python['interpreter']})",
        f"Sandbox  {status}",
        f"  bubblewrap  {sandbox['bwrap'] or 'not installed'}"
        + (f" ({sandbox['bwrap_version']})" if sandbox["bwrap_version"] else ""),
        f"  libseccomp  {'available' if sandbox['libseccomp'] else 'not available'}",
        f"R        {_r_text(report['r'])}",
        "",
        "Python libraries for scripts:",
    ]
    width = max((len(name) for name in libraries), default=0)
    for name, version in libraries.items():
        shown = version if version is not None else f"not installed — {SCRIPTS_INSTALL_HINT}"
        lines.append(f"  {name.ljust(width)}  {shown}")
    return lines


@worker_app.command("info")
def info(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the Python and R that run scripts, the sandbox's state and the script libraries."""
    report = worker_report()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    for line in _render(report):
        typer.echo(line)
