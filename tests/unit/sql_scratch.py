"""What the SQL engine may leave in its scratch directory after a call."""

from __future__ import annotations

from pathlib import Path


def no_spill_files(scratch: Path) -> bool:
    """Only the empty spill directories of idle databases remain: a file there would be rows."""
    return all(entry.is_dir() and not any(entry.iterdir()) for entry in scratch.iterdir())
