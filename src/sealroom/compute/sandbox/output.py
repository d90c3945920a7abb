"""Checking what a script left in ``/output``, and removing a script's files, safely.

A script controls the shape of the tree it leaves: it can nest directories thousands deep (past
Python's recursion limit and past ``PATH_MAX``), create names that mean something else elsewhere
(``..\\evil`` on Windows), or link to files outside. Both functions here therefore walk with
directory file descriptors (``openat``-style, never a full path) and an explicit stack, never
recursion, and never follow a symlink.

Invariants:

* :func:`check_output_dir` accepts only directories and regular files with one link, at most
  :data:`MAX_OUTPUT_DEPTH` levels deep, with relative paths of at most
  :data:`MAX_OUTPUT_PATH_CHARS` characters and names that are valid UTF-8 and free of separators
  of any platform (``/``, ``\\``, a drive prefix), control characters (C0, DEL, C1), the
  bidirectional-text controls that make a listing lie about a name, and ``.``/``..``; entries
  (files and directories) and bytes within the limits. It stops at the first violation, so its
  cost is bounded by the limits, not by what the script created.
* Each refusal is one message from a fixed set (:data:`OUTPUT_REFUSALS`, plus the limits' own
  figures): it tells the analyst what to fix, never a name or a byte the script wrote. Which
  refusal a run meets is the script's choice, so the set is part of what a failed run can
  reveal (see :mod:`sealroom.compute.scripts.failure`).
* Names the kernel refuses never reach the check: a single name longer than the file system's
  ``NAME_MAX`` (255 bytes) fails in the script at ``open``. Symbolic links, FIFOs, sockets,
  devices and hard-linked files are refused whatever they point to; they are never followed.
* :func:`remove_tree` removes any tree the script can create, whatever its depth, and raises
  nothing for a missing path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import unicodedata
from pathlib import Path
from typing import Final

from sealroom.errors import SandboxError

from .limits import SandboxLimits

__all__ = [
    "MAX_OUTPUT_DEPTH",
    "MAX_OUTPUT_PATH_CHARS",
    "OUTPUT_REFUSALS",
    "check_output_dir",
    "remove_tree",
]

#: Deepest directory nesting accepted in /output: far more than any result needs, and small
#: enough that every accepted path is short (see MAX_OUTPUT_PATH_CHARS).
MAX_OUTPUT_DEPTH: Final = 32
#: Longest relative path accepted in /output: fits any file system and zip tool.
MAX_OUTPUT_PATH_CHARS: Final = 1024

_DIRECTORY_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


# Bidirectional-text controls (LRE..RLO, LRI..PDI, LRM, RLM, ALM): they make a file listing show
# "report\u202etxt.exe" as "reportexe.txt".
_BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

#: Every message an unacceptable name or file type gets: fixed text, never the name itself.
OUTPUT_REFUSALS: Final = {
    "not_utf8": "an output file name is not valid UTF-8: rename it",
    "control": (
        "an output file name contains a control character (such as a newline or a "
        "bidirectional-text control): rename it"
    ),
    "separator": (
        "an output file name contains a path separator ('\\') or a drive prefix ('C:'), or "
        "is '.' or '..': rename it"
    ),
    "too_long": f"an output path is longer than {MAX_OUTPUT_PATH_CHARS} characters: shorten it",
    "symlink": "output holds a link or special file (a symbolic link): write regular files only",
    "hard_link": (
        "output holds a link or special file (a file with more than one hard link): write "
        "regular files only"
    ),
    "special": (
        "output holds a link or special file (a FIFO, socket or device): write regular files only"
    ),
}


def _name_refusal(name: str) -> str | None:
    """The key in :data:`OUTPUT_REFUSALS` of why ``name`` is refused, None if it is accepted."""
    try:
        # os.scandir decodes undecodable bytes to lone surrogates; zip and JSON need real text.
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "not_utf8"
    if any(unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS for c in name):
        return "control"
    if (
        name in ("", ".", "..")
        or "/" in name
        or "\\" in name
        # "C:x" is a path relative to drive C's current directory for Windows tools.
        or (len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha())
    ):
        return "separator"
    return None


def check_output_dir(output_dir: Path, limits: SandboxLimits) -> list[tuple[str, int]]:
    """(relative path, size) of every file under ``output_dir``, sorted; see the invariants.

    Raises :class:`~sealroom.errors.SandboxError` with code ``unsafe_output``,
    ``too_many_output_files`` or ``output_too_large``; messages never name what the script wrote.
    """
    files: list[tuple[str, int]] = []
    entries = 0
    total = 0
    root_fd = os.open(output_dir, _DIRECTORY_FLAGS)
    # Each item: (open directory fd, its relative path, its depth).
    stack: list[tuple[int, str, int]] = [(root_fd, "", 0)]
    try:
        while stack:
            dir_fd, prefix, depth = stack.pop()
            try:
                with os.scandir(dir_fd) as listing:
                    names = [entry.name for entry in listing]
                for name in names:
                    relative = f"{prefix}{name}"
                    refusal = _name_refusal(name)
                    if refusal is None and len(relative) > MAX_OUTPUT_PATH_CHARS:
                        refusal = "too_long"
                    if refusal is not None:
                        raise SandboxError(OUTPUT_REFUSALS[refusal], code="unsafe_output")
                    entries += 1
                    if entries > limits.max_output_files:
                        raise SandboxError(
                            f"output holds more than {limits.max_output_files} files",
                            code="too_many_output_files",
                        )
                    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    if stat.S_ISDIR(info.st_mode):
                        if depth + 1 >= MAX_OUTPUT_DEPTH:
                            raise SandboxError(
                                f"output is nested deeper than {MAX_OUTPUT_DEPTH} directories",
                                code="unsafe_output",
                            )
                        child = os.open(name, _DIRECTORY_FLAGS, dir_fd=dir_fd)
                        stack.append((child, f"{relative}/", depth + 1))
                        continue
                    if stat.S_ISLNK(info.st_mode):
                        raise SandboxError(OUTPUT_REFUSALS["symlink"], code="unsafe_output")
                    if not stat.S_ISREG(info.st_mode):
                        raise SandboxError(OUTPUT_REFUSALS["special"], code="unsafe_output")
                    if info.st_nlink != 1:
                        raise SandboxError(OUTPUT_REFUSALS["hard_link"], code="unsafe_output")
                    total += info.st_size
                    if total > limits.max_output_bytes:
                        raise SandboxError(
                            f"output is larger than {limits.max_output_bytes} bytes",
                            code="output_too_large",
                        )
                    files.append((relative, info.st_size))
            finally:
                os.close(dir_fd)
    finally:
        for dir_fd, _, _ in stack:
            os.close(dir_fd)
    files.sort()
    return files


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything under it, at any depth, without following symlinks.

    Flattens instead of recursing: each directory below the top is emptied by unlinking its
    files and renaming its subdirectories up to the top level, then removed. Two descriptors are
    open at a time and every entry is touched a bounded number of times, whatever the shape.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        path.unlink(missing_ok=True)
        return
    os.chmod(path, 0o700)  # the script may have taken away permissions (when not run as root)
    top = os.open(path, _DIRECTORY_FLAGS)
    moved = 0
    try:
        while True:
            listing = _entries(top)
            if not listing:
                break
            for name, is_dir in listing:
                if not is_dir:
                    _unlink(name, top)
                    continue
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(name, 0o700, dir_fd=top)
                directory = os.open(name, _DIRECTORY_FLAGS, dir_fd=top)
                try:
                    for child, child_is_dir in _entries(directory):
                        if not child_is_dir:
                            _unlink(child, directory)
                            continue
                        moved = _move_up(child, directory, top, moved)
                finally:
                    os.close(directory)
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(name, dir_fd=top)
    finally:
        os.close(top)
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)


def _move_up(name: str, dir_fd: int, top: int, counter: int) -> int:
    """Rename directory ``name`` from ``dir_fd`` to a free name in ``top``; the new counter."""
    while True:  # the script may have taken some of the names
        counter += 1
        try:
            os.rename(name, f".removing-{counter}", src_dir_fd=dir_fd, dst_dir_fd=top)
            return counter
        except (FileExistsError, IsADirectoryError, NotADirectoryError):
            continue
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise


def _entries(dir_fd: int) -> list[tuple[str, bool]]:
    with os.scandir(dir_fd) as listing:
        return [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing]


def _unlink(name: str, dir_fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)
