"""Runs a room's Python script inside the sandbox and reports only where it failed.

The exception message and the traceback go to stderr, which the core withholds from the analyst
unless the room enabled logs for the node (they can contain data values). When the script raised,
the last line of stderr is a marker with the script's line number and nothing else: no exception
type, whose name the script chooses. The script runs in this process and can forge the marker;
the core accepts the line only within the script's own length (see
``sealroom.compute.scripts.failure``), and never tells the exit status.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback

CODE = "/input/code"
SCRIPT = "/input/code/main.py"
MARKER = "__SEALROOM_SCRIPT_ERROR__"

if os.environ.get("SEALROOM_UNSANDBOXED_ROOT"):
    # Development mode without the sandbox: the same paths, redirected (see that module).
    import unsandboxed_paths  # type: ignore[import-not-found]  # beside this file at run time

    unsandboxed_paths.install()
    CODE, SCRIPT = unsandboxed_paths.translate(CODE), unsandboxed_paths.translate(SCRIPT)


def script_line(exc: BaseException) -> int:
    """The innermost line of the script in ``exc``'s traceback (its own syntax error's line)."""
    if isinstance(exc, SyntaxError) and exc.filename == SCRIPT and exc.lineno:
        return exc.lineno
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == SCRIPT]
    return (lines[-1] or 0) if lines else 0


def main() -> None:
    sys.path.insert(0, CODE)
    try:
        runpy.run_path(SCRIPT, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the script's own failure, whatever it is
        traceback.print_exc()
        line = script_line(exc)
        if line > 0:
            sys.stderr.write(f"\n{MARKER} {line}\n")
        sys.stderr.flush()
        sys.exit(1)


main()
