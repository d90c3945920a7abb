"""Runs a room's Python script inside the sandbox and reports only where it failed.

The exception message and the traceback go to stderr, which the core withholds from the analyst
unless the room enabled logs for the node (they can contain data values). The last line of
stderr is a marker with the exception type and the script's line number, which the core turns
into a safe message.
"""

from __future__ import annotations

import os
import runpy
import sys
import traceback

CODE = "/input/code"
SCRIPT = "/input/code/main.py"

if os.environ.get("SEALROOM_UNSANDBOXED_ROOT"):
    # Development mode without the sandbox: the same paths, redirected (see that module).
    import unsandboxed_paths  # type: ignore[import-not-found]  # beside this file at run time

    unsandboxed_paths.install()
    CODE, SCRIPT = unsandboxed_paths.translate(CODE), unsandboxed_paths.translate(SCRIPT)


def main() -> None:
    sys.path.insert(0, CODE)
    try:
        runpy.run_path(SCRIPT, run_name="__main__")
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the script's own failure, whatever it is
        frames = traceback.extract_tb(exc.__traceback__)
        lines = [frame.lineno for frame in frames if frame.filename == SCRIPT]
        traceback.print_exc()
        line = lines[-1] if lines else 0
        sys.stderr.write(f"\n__SEALROOM_SCRIPT_ERROR__ {type(exc).__name__} {line}\n")
        sys.stderr.flush()
        sys.exit(1)


main()
