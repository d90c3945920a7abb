"""Runs a synthetic-data node inside the sandbox: ``run_synthetic.py INPUT_DIR``.

* ``INPUT_DIR`` (the one argument) is the dependency's table directory, ``/input/<dependency>``
  (``dataset.csv`` without header + ``types.json``). An argument rather than a configuration
  field, so that ``config.json`` holds only what the room agreed to and the core alone decides
  where inputs are mounted.
* ``/input/code/config.json`` is the node's configuration (format: ``sealroom_synth``).
* ``/output`` receives ``dataset.csv`` + ``types.json`` (the layout a downstream node reads) and,
  only when the configuration asks for a quality report, ``quality_report.json`` (computed from
  the synthetic table and the DP-measured marginals only: no statistic of the input).
* stdout gets one line ``__SEALROOM_PRIVACY_SPENT__ {"epsilon", "delta", "parts": {name:
  [epsilon, delta]}}`` (JSON, no data; the parts are those of ``sealroom_synth``'s accounting,
  "count" always, "categories", "bounds" and "model" when spent).
* On failure the last line of stderr is the marker ``run_python.py`` writes,
  ``__SEALROOM_SCRIPT_ERROR__ <ExceptionType> 0`` (line 0: there is no script). A refusal of
  our own (``SynthesisError``) is preceded by ``__SEALROOM_SAFE_MESSAGE__ <message>``: those
  messages never hold data values, so the core may show them even with logs off. Anything else
  prints a traceback, which the core withholds unless the room enabled logs (it could quote a
  value).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
import traceback

# The sandbox bounds memory by address space (RLIMIT_AS), so reservations count as much as use.
# Two defaults reserve ~1 GiB each and must be changed before numpy, pandas, OpenDP or JAX load:
# * pyarrow (behind pandas' string columns) reserves 1 GiB for its mimalloc pool: use malloc.
# * glibc gives each allocating thread a 64 MiB arena, up to 8 per core; XLA starts ~20
#   threads. mallopt(M_ARENA_MAX, 2) caps them.
_M_ARENA_MAX = -8
_MALLOC_ARENAS = 2


def _limit_reserved_memory() -> None:
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to limit
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, _MALLOC_ARENAS)


_limit_reserved_memory()

import sealroom_synth  # type: ignore[import-not-found]  # noqa: E402 - after the limits
import sealroom_util  # type: ignore[import-not-found]  # noqa: E402 - beside this file at run time

CONFIG = "/input/code/config.json"
OUTPUT = "/output"
REPORT_FILE = "quality_report.json"
ERROR_MARKER = "__SEALROOM_SCRIPT_ERROR__"
SAFE_MESSAGE_MARKER = "__SEALROOM_SAFE_MESSAGE__"
PRIVACY_MARKER = "__SEALROOM_PRIVACY_SPENT__"


if os.environ.get("SEALROOM_UNSANDBOXED_ROOT"):
    # Development mode without the sandbox: the same paths, redirected by the patched file
    # functions (see that module), which everything below opens through; no path is translated
    # here as well (a root under /tmp would be translated twice).
    import unsandboxed_paths  # type: ignore[import-not-found]  # beside this file at run time

    unsandboxed_paths.install()


def _read_config() -> object:
    try:
        with open(CONFIG, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise sealroom_synth.ConfigError("config.json is missing or not valid JSON") from None


def _read_input(directory: str) -> object:
    try:
        return sealroom_util.read_tabular_data(directory)
    except (OSError, KeyError, json.JSONDecodeError):
        message = "the input table (dataset.csv + types.json) is missing or unreadable"
        raise sealroom_synth.InputError(message) from None
    except (ValueError, TypeError):
        # A cell that does not parse as its declared type; the parser's message quotes it.
        message = "the input table does not match its declared column types"
        raise sealroom_synth.InputError(message) from None


def run(argv: list[str]) -> None:
    if len(argv) != 2:
        raise sealroom_synth.SynthesisError("expects one argument: the input table's directory")
    config = sealroom_synth.parse_config(_read_config())
    data = _read_input(argv[1])
    result = sealroom_synth.synthesize(config, data)
    sealroom_util.write_tabular_data(result.table, OUTPUT)
    if result.quality_report is not None:
        with open(os.path.join(OUTPUT, REPORT_FILE), "w", encoding="utf-8") as handle:
            json.dump(result.quality_report, handle, indent=1, allow_nan=False)
    # One machine-readable line (no data): what this run spent, for the core's records.
    spent = {
        "epsilon": result.privacy.epsilon,
        "delta": result.privacy.delta,
        "parts": {name: list(part) for name, part in result.privacy.parts.items()},
    }
    print(f"{PRIVACY_MARKER} {json.dumps(spent)}")


def main() -> None:
    try:
        run(sys.argv)
    except SystemExit:
        raise
    except sealroom_synth.SynthesisError as exc:
        sys.stderr.write(f"{SAFE_MESSAGE_MARKER} {exc}\n{ERROR_MARKER} {type(exc).__name__} 0\n")
        sys.stderr.flush()
        sys.exit(1)
    except BaseException as exc:  # noqa: BLE001 - any other failure, reduced to its type
        traceback.print_exc()
        sys.stderr.write(f"\n{ERROR_MARKER} {type(exc).__name__} 0\n")
        sys.stderr.flush()
        sys.exit(1)


if __name__ == "__main__":
    main()
