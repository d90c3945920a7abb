"""Overhead of the script sandbox: an empty Python script through run_sandboxed vs plain python.

Run: ``PYTHONPATH=src .venv/bin/python bench/sandbox.py [N]``. Prints the median of N runs of each
(same process, interleaved) and, as the last line, the overhead in milliseconds.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sealroom.compute.sandbox import (
    SandboxLimits,
    python_env,
    python_runtime,
    run_sandboxed,
    sandbox_available,
)


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not sandbox_available():
        raise SystemExit("sandbox unavailable (bwrap or libseccomp missing)")
    interpreter, runtime = python_runtime()
    plain: list[float] = []
    boxed: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for i in range(repetitions):
            started = time.perf_counter()
            subprocess.run([str(interpreter), "-c", "pass"], check=True)
            plain.append(time.perf_counter() - started)

            out, work = base / f"out{i}", base / f"work{i}"
            out.mkdir()
            work.mkdir()
            started = time.perf_counter()
            result = run_sandboxed(
                [str(interpreter), "-c", "pass"],
                mounts=(),
                output_dir=out,
                work_dir=work,
                limits=SandboxLimits(timeout_seconds=30.0),
                runtime=runtime,
                env=python_env(),
            )
            boxed.append(time.perf_counter() - started)
            assert result.exit_code == 0, result.stderr
    plain_ms = statistics.median(plain) * 1000
    boxed_ms = statistics.median(boxed) * 1000
    print(f"repetitions: {repetitions}")
    print(f"plain python -c pass: median {plain_ms:.1f} ms")
    print(f"sandboxed python -c pass: median {boxed_ms:.1f} ms")
    print(f"overhead: {boxed_ms - plain_ms:.1f} ms")


if __name__ == "__main__":
    main()
