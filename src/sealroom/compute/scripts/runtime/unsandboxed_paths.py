"""Path translation for scripts run WITHOUT the sandbox (``sealroom serve --unsafe-no-sandbox``).

Development only, and not a boundary: ``/input``, ``/output`` and ``/tmp`` are redirected to the
private directory named by ``SEALROOM_UNSANDBOXED_ROOT`` for Python's own file functions, so that
a script written for the sandbox runs unchanged. Native code that opens files itself does not
go through these functions and sees the host's paths.
"""

from __future__ import annotations

import builtins
import functools
import io
import os
import sys
from collections.abc import Callable
from typing import Any

_ROOT = os.environ.get("SEALROOM_UNSANDBOXED_ROOT", "")
_PREFIXES = ("/input", "/output", "/tmp")  # noqa: S108 - the sandbox's paths, redirected
# Functions whose first argument is a path, and those whose first two arguments are.
_ONE_PATH = (
    "open", "stat", "lstat", "listdir", "scandir", "mkdir", "makedirs", "remove", "unlink",
    "rmdir", "access", "chmod", "utime", "truncate", "readlink", "chdir",
)  # fmt: skip
_TWO_PATHS = ("rename", "replace", "link", "symlink")
# The interpreter, its packages and this runtime stay where they are on the host, even when they
# live under /tmp (a checkout in /tmp): translating them would hide them from the script.
_HOST_DIRS = (
    sys.prefix,
    sys.base_prefix,
    os.path.dirname(os.path.abspath(__file__)),
    *os.environ.get("PYTHONPATH", "").split(os.pathsep),
)
_HOST_PATHS = tuple(
    sorted({form.rstrip("/") for p in _HOST_DIRS if p for form in (p, os.path.realpath(p))})
)


def translate(path: Any) -> Any:
    """``path`` under the private root if it names /input, /output or /tmp; else unchanged."""
    if isinstance(path, int) or not _ROOT:
        return path
    try:
        text = os.fspath(path)
    except TypeError:
        return path
    if isinstance(text, bytes):
        decoded = os.fsdecode(text)
        translated = translate(decoded)
        return os.fsencode(translated) if translated is not decoded else path
    if any(text == host or text.startswith(host + "/") for host in (_ROOT, *_HOST_PATHS)):
        # Already translated (the root itself may live under /tmp: translating it again would
        # nest the root in itself without end), or the host's interpreter and packages.
        return path
    for prefix in _PREFIXES:
        if text == prefix or text.startswith(prefix + "/"):
            return _ROOT + text
    return path


def _translating(func: Callable[..., Any], count: int) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        translated = tuple(translate(a) for a in args[:count]) + args[count:]
        return func(*translated, **kwargs)

    return wrapper


def install() -> None:
    """Redirect ``open`` and the ``os`` file functions (which os.path and pathlib call)."""
    builtins.open = io.open = _translating(io.open, 1)
    for name in _ONE_PATH:
        setattr(os, name, _translating(getattr(os, name), 1))
    for name in _TWO_PATHS:
        setattr(os, name, _translating(getattr(os, name), 2))
