"""``sealroom worker run``: a process that runs jobs only, beside ``serve`` replicas sharing
PostgreSQL and S3 (:mod:`sealroom.server.worker_process`); ``sealroom worker info``: what this
machine offers room scripts (Python, R, sandbox, libraries).

``info`` only inspects the local installation; it talks to no server and reads no room data. The
library list comes from :mod:`sealroom.compute.scripts.libraries` (the one place it is kept).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Final, TypedDict

import typer

from sealroom.cli._common import EXIT_FAILURE, usage_error
from sealroom.errors import ConfigurationError

__all__ = ["WorkerReport", "worker_app", "worker_report"]

worker_app = typer.Typer(
    help="Run jobs beside serve replicas, or show what this machine offers room scripts.",
    no_args_is_help=True,
)

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


@worker_app.command("run")
def run(
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir",
            envvar="SEALROOM_DATA_DIR",
            help="This worker's own directory (its lock; the data lives in the shared database "
            "and blob store).",
        ),
    ] = Path(".sealroom-worker"),
    workers: Annotated[
        int, typer.Option(envvar="SEALROOM_WORKERS", help="Job worker threads.")
    ] = 2,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[
        str, typer.Option(envvar="SEALROOM_LOG_FORMAT", help="text, or json (one object a line).")
    ] = "text",
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            envvar="SEALROOM_SHUTDOWN_TIMEOUT",
            help="On SIGTERM: seconds running jobs may take to finish before the worker exits.",
        ),
    ] = 30.0,
) -> None:
    """Run jobs only (no HTTP), beside `sealroom serve` replicas on a shared PostgreSQL
    database and blob store. The database, blob store and sealing key come from the same
    settings as serve's (SEALROOM_DATABASE_URL, SEALROOM_BLOB_STORE, SEALROOM_SEALING_KEY_FILE).
    """
    from sealroom.server.observability import LOG_FORMATS, configure_logging
    from sealroom.server.settings import Settings
    from sealroom.server.worker_process import open_worker, run_worker

    if log_format not in LOG_FORMATS:
        usage_error(f"--log-format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    configure_logging(log_level, "json" if log_format == "json" else "text")
    settings = Settings(data_dir=data_dir, workers=workers, shutdown_timeout=shutdown_timeout)
    try:
        opened = open_worker(settings)
    except ConfigurationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    typer.echo(
        f"Sealroom worker: {workers} job thread(s) (data: {data_dir}; core measurement "
        f"{opened.core.measurement})",
        err=True,
    )
    run_worker(opened)


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
