"""How long a user's ``import sealroom, sealroom.analytics`` takes (issue 15, item 7).

Runs the import in ``--runs`` fresh interpreters (so nothing is cached in ``sys.modules``; the
``.pyc`` files are warm after the first run, as on a user's machine) and prints the median wall
time of the import alone, measured inside the child, and the median of the whole child process
(interpreter start-up included). Also prints the heaviest top-level packages the import pulled in,
so a regression names its cause. Not a test: wall-clock time depends on the machine; the test
that keeps the SDK light (tests/unit/test_sdk_import_weight.py) checks which modules load instead.

Usage::

    .venv/bin/python bench/sdk_import.py [--runs 15] [--statement "import sealroom.client"]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

DEFAULT_STATEMENT = "import sealroom, sealroom.analytics"

# The child times only the statement, then reports which top-level packages it loaded.
CHILD = """
import sys, time
start = time.perf_counter()
exec({statement!r})
elapsed = time.perf_counter() - start
tops = sorted({{name.partition(".")[0] for name in sys.modules}})
print(elapsed)
print(len(sys.modules))
print(" ".join(tops))
"""

WATCHED = ("duckdb", "opendp", "pandas", "pyarrow", "numpy", "sqlglot", "httpx", "cryptography")


def run_once(statement: str) -> tuple[float, float, int, list[str]]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", CHILD.format(statement=statement)],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    elapsed, count, tops = completed.stdout.strip().splitlines()
    return float(elapsed), wall, int(count), tops.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--statement", default=DEFAULT_STATEMENT)
    arguments = parser.parse_args()

    run_once(arguments.statement)  # warm the .pyc files
    imports: list[float] = []
    processes: list[float] = []
    count = 0
    tops: list[str] = []
    for _ in range(arguments.runs):
        elapsed, wall, count, tops = run_once(arguments.statement)
        imports.append(elapsed)
        processes.append(wall)

    print(f"statement: {arguments.statement}")
    print(f"runs: {arguments.runs}, modules loaded: {count}")
    print(f"heavy packages loaded: {', '.join(n for n in WATCHED if n in tops) or 'none'}")
    print(f"whole process (median): {statistics.median(processes) * 1000:.0f} ms")
    print(f"import (median): {statistics.median(imports) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
