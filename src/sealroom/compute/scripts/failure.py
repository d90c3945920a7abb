"""What a failed Python or R script may tell the analyst: one outcome of a fixed set.

A script reads the room's data and decides how it ends, so the way it fails is an output like its
result. With logs on, the room agreed that the node's stderr goes to the analyst; with logs off
(the default) the failure must say no more than this module allows.

Invariant (logs off): the message of a failed script is a function of only

1. what the room definition fixes: the node's kind and name, the script's file name, the
   sandbox's limits;
2. the outcome the runner observes from *outside* the sandbox: the script ended with a non-zero
   status (:func:`script_failure_message`), was stopped at the time limit, or left an output
   that :func:`~sealroom.compute.sandbox.check_output_dir` refuses (a fixed message per reason);
3. at most a line number in ``1..L``, ``L`` being :func:`script_line_count` of the node's main
   script, which the room definition fixes.

Nothing else reaches the message: not the exit status (8 bits the script chooses), not an
exception's class name or text, not a byte of stdout or stderr. A memory or CPU limit reached is
"script failed" like any other error: inside the sandbox it is an ordinary exception (``RLIMIT_AS``
makes allocations fail) or a signal the script could also send itself, so only the runner's own
observations are told apart.

Why the line number is bounded rather than trusted: the wrapper that reports it
(``runtime/run_python.py``, ``runtime/run_r.R``) runs in the script's own interpreter. The script
can print the wrapper's marker, replace the wrapper's functions, or raise from code compiled
under its own file name at any line (``exec(compile("\\n" * n + "raise E", "/input/code/main.py",
"exec"))``). The host therefore treats the reported line as chosen by the script and accepts it
only when the last line of stderr is exactly the marker and its number lies in ``1..L``;
otherwise the message has no line. A script that means to can pick any line in that range
anyway, by raising there.

What one run can reveal, with logs off: for each script node of the job's plan, one of at most
``L + 15`` outcomes - success; "script failed" without a line or at one of ``L`` lines; the time
limit; ten output refusals (three limits, seven
:data:`~sealroom.compute.sandbox.output.OUTPUT_REFUSALS`); for a node read as a table, "wrote no
table" or an unreadable table (an internal error) - that is ``log2(L + 15)`` bits, 10 bits for a
1000-line script. This channel is inherent to running code over the data (a script
that sleeps past the limit when a value's bit is set reveals that bit through the time limit);
it is bounded, not closed. A preview node charges every failure's message to the analyst's
quota like a result (see ``EnclaveCore.execute_job``). Not covered here: how long the job took,
which the job's timestamps show.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["ERROR_MARKER", "reported_line", "script_failure_message", "script_line_count"]

#: The wrappers end stderr with this word and the script's line when the script raised.
ERROR_MARKER: Final = "__SEALROOM_SCRIPT_ERROR__"
# The whole last line of stderr; nine digits at most, so parsing is cheap whatever is written.
_MARKER_LINE: Final = re.compile(rb"__SEALROOM_SCRIPT_ERROR__ ([1-9][0-9]{0,8})")


def script_line_count(script: str) -> int:
    """``L``: the number of lines of ``script`` (``str.splitlines``, at least Python's count)."""
    return len(script.splitlines())


def reported_line(stderr: bytes, script: str) -> int | None:
    """The line the wrapper reported, if stderr ends with the marker and it lies in ``1..L``.

    Anything else - no marker, a marker before other text, a malformed or out-of-range number -
    gives None: the line is the script's choice (see the module's invariant), only its range is
    not.
    """
    last = stderr.rstrip().rpartition(b"\n")[2].strip()
    match = _MARKER_LINE.fullmatch(last)
    if match is None:
        return None
    line = int(match.group(1))
    return line if line <= script_line_count(script) else None


def script_failure_message(
    *,
    kind: str,
    node_name: str,
    file_name: str,
    script: str,
    exit_code: int | None,
    stderr: bytes,
    log_tail_bytes: int | None,
) -> str:
    """The analyst's message for a script that ended with a non-zero status.

    ``log_tail_bytes`` is None when logs are off for the node: then the message is one of the
    fixed forms of the module's invariant. With logs on it also carries the exit status and the
    last ``log_tail_bytes`` of stderr, which the room agreed to show.
    """
    line = reported_line(stderr, script)
    where = f" at line {line} of {file_name}" if line is not None else ""
    message = f"{kind} node {node_name!r}: script failed{where}"
    if log_tail_bytes is None:
        return (
            f"{message}; its error message, exit status and output are withheld (logs are off "
            "for this node)"
        )
    tail = stderr[-log_tail_bytes:].decode("utf-8", "replace")
    return (
        f"{message} (exit status {exit_code})\n--- stderr (logs enabled for this node) ---\n{tail}"
    )
