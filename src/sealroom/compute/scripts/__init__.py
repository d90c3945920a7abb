"""Script computations (Python, later R): how inputs are laid out, how outputs come back.

The layout follows the seed product: a raw node's file at ``/input/<node>``; a table, SQL result
or script-written table at ``/input/<node>/dataset.csv`` (no header) with ``types.json`` beside
it; another script's files at ``/input/<node>/<files>``; the script and its additional files
under ``/input/code/``; ``/output`` is returned as a zip. ``runtime/`` holds the code that runs
*inside* the sandbox (the wrapper and ``sealroom_util``); it is public and mounted read-only.
"""

from __future__ import annotations

from sealroom.compute.scripts.layout import (
    RUNTIME_DIR,
    column_type,
    read_table_dir,
    write_table_dir,
    zip_directory,
)

__all__ = ["RUNTIME_DIR", "column_type", "read_table_dir", "write_table_dir", "zip_directory"]
