"""What the commands that provision a file share: ``dataset provision``, ``datalab provision``
and ``media upload-seed-audiences`` read the same CSV options, keep dataset keys the same way
and show the same upload progress.

Invariants:

* The CSV options mean the same in every command: ``--header/--no-header``, ``--delimiter`` and
  ``--encoding`` default to what the file's first bytes show (:class:`CsvFormat` detects them);
  ``--max-dropped`` is a share of the file's rows, 0 to 1 (``5%`` or ``0.05``). A value that
  cannot be one is a usage error (exit 2) before any file is read.
* A dataset key file holds the key in hex, is created with mode 0600 and never overwritten
  (``O_EXCL``): a key once written is the one its datasets were encrypted with.
* Without ``--key-file``, a key is kept under the SDK's state directory as
  ``dataset-keys/<dataset id>.key`` (0600, in a 0700 directory), and the command says where:
  it is needed to publish the dataset again, and no other copy exists.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from sealroom.cli._common import console, usage_error
from sealroom.crypto import Key

if TYPE_CHECKING:
    from sealroom.analytics.provisioning import CsvFormat

__all__ = [
    "Delimiter",
    "Encoding",
    "Header",
    "MaxDropped",
    "NewKeyFile",
    "csv_format",
    "keep_key",
    "key_for",
    "max_dropped_share",
    "read_key_file",
    "upload_progress",
    "write_key_file",
]

Header = Annotated[
    bool | None,
    typer.Option(
        "--header/--no-header",
        help="Whether the first row names the columns (default: detected).",
        show_default=False,
    ),
]
Delimiter = Annotated[str | None, typer.Option(help="',' ';' 'tab' '|' ... (default: detected).")]
Encoding = Annotated[
    str | None, typer.Option(help="utf-8, cp1252, latin-1, utf-16 ... (default: detected).")
]
MaxDropped = Annotated[
    str | None,
    typer.Option(
        help="When invalid rows are dropped: refuse a file if more of its rows than this would "
        "be dropped (5% or 0.05)."
    ),
]
NewKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file", help="Dataset key file (hex, 0600); default: a new key, kept for you."
    ),
]

#: Names a shell user types for delimiters that are awkward to quote.
DELIMITER_NAMES: Final = {"tab": "\t", "\\t": "\t", "space": " ", "semicolon": ";", "comma": ","}


# -- CSV options ------------------------------------------------------------------------------
def csv_format(
    header: bool | None,
    delimiter: str | None,
    encoding: str | None,
    *,
    decimal_comma: bool = False,
    thousands_separator: str | None = None,
) -> CsvFormat:
    """The :class:`CsvFormat` the options name; a usage error for one it refuses."""
    from sealroom.analytics.provisioning import CsvFormat
    from sealroom.errors import DatasetRejectedError

    if delimiter is not None:
        delimiter = DELIMITER_NAMES.get(delimiter.lower(), delimiter)
    try:
        return CsvFormat(
            header=header,
            delimiter=delimiter,
            encoding=encoding,
            decimal_comma=decimal_comma,
            thousands_separator=thousands_separator,
        )
    except DatasetRejectedError as error:
        usage_error(str(error))


def max_dropped_share(text: str | None) -> float | None:
    """``--max-dropped`` as a share from 0 to 1 (``5%`` or ``0.05``); ``None`` when not given."""
    if text is None:
        return None
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        usage_error(f"--max-dropped takes a share such as 5% or 0.05, not {text!r}")
    if not 0 <= value <= 1:
        usage_error(f"--max-dropped must be between 0% and 100%, not {text!r}")
    return value


# -- dataset keys -----------------------------------------------------------------------------
def write_key_file(path: Path, key: Key) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.material.hex() + "\n")


def read_key_file(path: Path) -> Key:
    try:
        return Key(material=bytes.fromhex(path.read_text().strip()))
    except ValueError:
        raise typer.BadParameter(f"{path} does not hold a 64-hex-digit key") from None


def key_for(key_file: Path | None) -> Key:
    """The key in ``key_file`` when it exists, else a new one (:func:`keep_key` keeps it once
    the dataset has an id); a usage error when ``key_file`` names a directory or the like."""
    if key_file is None or not key_file.exists():
        return Key()
    if not key_file.is_file():
        usage_error(f"--key-file {key_file} is not a file")
    return read_key_file(key_file)


def keep_key(key: Key, key_file: Path | None, dataset_id: str) -> Path:
    """Where the key is: the given file (written now if new) or the state directory's."""
    from sealroom.client._state import default_state_dir

    if key_file is not None:
        if not key_file.exists():
            write_key_file(key_file, key)
            console.print(f"new dataset key written to {key_file} (keep it safe)")
        return key_file
    directory = default_state_dir() / "dataset-keys"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{dataset_id}.key"
    if not path.exists():
        write_key_file(path, key)
    console.print(
        f"dataset key kept in {path} (needed to publish this dataset again)", soft_wrap=True
    )
    return path


# -- progress ---------------------------------------------------------------------------------
def upload_progress(rows: int = 0) -> Progress:
    """Bytes of the file sent (and, when known, about how many of its rows), on stderr."""
    columns: list[str | ProgressColumn] = [
        "[progress.description]{task.description}",
        BarColumn(bar_width=10),
        DownloadColumn(),
    ]
    columns += [_RowsColumn(rows)] if rows else [TransferSpeedColumn()]
    columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, transient=False)


class _RowsColumn(ProgressColumn):
    """Rows sent, in proportion of the bytes sent (rows are about the same size)."""

    def __init__(self, rows: int) -> None:
        super().__init__()
        self._rows = rows

    def render(self, task: Task) -> Text:
        total = task.total or 1
        done = self._rows if task.finished else int(self._rows * task.completed / total)
        return Text(f"{done:,}/{self._rows:,} rows", style="progress.download")
