"""What the client commands share: connection options, id prefixes, times, output, exit codes.

Each client command takes ``--api-url``, ``--email`` and ``--token``, defaulting to
``SEALROOM_API_URL``, ``SEALROOM_EMAIL`` and ``SEALROOM_API_TOKEN``; the CA bundle an
``https://`` server's certificate is verified with is ``sealroom --ca-bundle PEM <command>`` or
``SEALROOM_CA_BUNDLE`` (:data:`CaBundle`: one option for every command, since every client the
process makes reads it from the environment). Data goes to standard output
(``typer.echo``, or one JSON document with ``--json``); progress, notes and errors go to standard
error (:data:`console`).

Invariants:

* Exit status (docs/cli.md): 0 success; 1 a failure (the server refused, a job failed, the
  server could not be reached, something did not verify); 2 a usage error (a bad argument, an
  unknown format, a missing file, missing set-up). :func:`usage_error` is the one way a command
  reports a usage problem: one ``error: …`` line on stderr, status 2.
* A room or job id may be abbreviated to a prefix of at least :data:`MIN_ID_PREFIX_CHARS` hex
  digits, resolved on the client from the caller's own rooms or jobs; an unknown or ambiguous
  prefix is refused (naming the candidates), never guessed. Resolving is a convenience, not a
  security boundary: the host answers the listing, so a full id is what to pass when the host
  may be hostile — and what every command that acts prints.
* Times are printed in ISO 8601, UTC (:func:`iso_time`); JSON output keeps the milliseconds
  since the epoch the API speaks beside them.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, NoReturn

import typer
from dotenv import dotenv_values
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sealroom.client import Client, create_client
from sealroom.errors import BadRequestError, NotFoundError, RequestError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "MIN_ID_PREFIX_CHARS",
    "ApiUrl",
    "AsJson",
    "CaBundle",
    "Email",
    "EnvFile",
    "Token",
    "console",
    "echo_json",
    "escape_untrusted",
    "iso_time",
    "iso_time_ms",
    "open_client",
    "print_table",
    "resolve_job_id",
    "resolve_room_id",
    "usage_error",
    "use_ca_bundle",
    "use_env_file",
]

#: A failure: the server refused, a job failed, the server could not be reached.
EXIT_FAILURE: Final = 1
#: A usage error (Click's status for one): a bad argument, a missing file, missing set-up.
EXIT_USAGE: Final = 2
#: Shortest id prefix accepted (24 bits): enough to tell one's own rooms and jobs apart, and
#: what git users type. Longer prefixes are checked the same way.
MIN_ID_PREFIX_CHARS: Final = 6
#: A room id is the SHA-256 of its definition, in hex.
ROOM_ID_CHARS: Final = 64
#: A job id is 16 random bytes, in hex.
JOB_ID_CHARS: Final = 32
#: Candidates named in an "ambiguous prefix" error; more are counted, not listed.
MAX_CANDIDATES_SHOWN: Final = 5
#: Width of a table written to a pipe or file: such output is read by grep and scripts, which
#: a cell folded over several lines at the default 80 columns would break.
PIPED_TABLE_COLUMNS: Final = 1_000

_HEX: Final = re.compile(r"^[0-9a-f]+$")
# C0/C1 controls (ESC starts terminal sequences), bidirectional overrides and isolates, and
# invisible characters: any of them can make a terminal show something other than the text.
_HIDDEN: Final = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
_UNSAFE_IN_BLOCK: Final = re.compile(f"[{_HIDDEN}]")
_UNSAFE_IN_LINE: Final = re.compile(f"[{_HIDDEN}\t\n]")

console = Console(stderr=True)

ApiUrl = Annotated[str, typer.Option("--api-url", envvar="SEALROOM_API_URL", help="Server URL.")]
Email = Annotated[str, typer.Option("--email", envvar="SEALROOM_EMAIL", help="Your e-mail.")]
Token = Annotated[
    str,
    typer.Option(
        "--token", envvar="SEALROOM_API_TOKEN", help="Your API token.", show_default=False
    ),
]
CaBundle = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        envvar="SEALROOM_CA_BUNDLE",
        help="Verify an https:// server's certificate with the CA certificates of this PEM file "
        "(a private CA or a self-signed certificate) instead of the public CAs.",
        show_default=False,
    ),
]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of text.")
]


EnvFile = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        help="Read settings from this file (NAME=value lines, as deploy/sealroom.env); a "
        "variable already set in the environment wins (docs/configuration.md).",
        show_default=False,
    ),
]


def use_env_file(path: Path | None) -> None:
    """Put the variables of ``path`` in this process's environment, where the environment does
    not set them already: every command's options and settings then read them."""
    if path is None:
        return
    if not path.is_file():
        usage_error(f"--env-file {path} is not a file")
    for name, value in dotenv_values(path).items():
        if value is not None and name not in os.environ:
            os.environ[name] = value


def use_ca_bundle(path: Path | None) -> None:
    """Make ``path`` the CA bundle of every client this process creates (SEALROOM_CA_BUNDLE,
    which :func:`sealroom.create_client` reads); a missing file is a usage error, here."""
    if path is None:
        return
    if not path.is_file():
        usage_error(f"--ca-bundle {path} is not a file")
    os.environ["SEALROOM_CA_BUNDLE"] = str(path)


def open_client(api_url: str, email: str, token: str) -> Client:
    return create_client(email, token, api_url=api_url)


def usage_error(message: str) -> NoReturn:
    """Report a usage problem as one ``error: …`` line on stderr and exit with status 2.

    typer.echo, not the rich console: paths and ids must not be read as markup or wrapped.
    """
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


# -- id prefixes ------------------------------------------------------------------------------
def _prefix(text: str, what: str, full_length: int) -> str:
    prefix = text.strip().lower()
    if not MIN_ID_PREFIX_CHARS <= len(prefix) <= full_length or not _HEX.match(prefix):
        usage_error(
            f"{text!r} is not a {what} id: give the id, or at least its first "
            f"{MIN_ID_PREFIX_CHARS} hex digits"
        )
    return prefix


def _unique(prefix: str, candidates: Iterable[str], what: str, listing: str) -> str:
    """The one candidate starting with ``prefix``; otherwise an error naming the candidates."""
    matches = sorted({c for c in candidates if c.startswith(prefix)})
    if not matches:
        raise NotFoundError(
            f"no {what} of yours has an id starting with {prefix} (see `{listing}`)"
        )
    if len(matches) > 1:
        shown = ", ".join(matches[:MAX_CANDIDATES_SHOWN])
        more = len(matches) - MAX_CANDIDATES_SHOWN
        raise BadRequestError(
            f"{prefix} is ambiguous: {len(matches)} {what}s match ({shown}"
            + (f" and {more} more" if more > 0 else "")
            + "); give more of the id",
            code=f"ambiguous_{what}_id",
        )
    return matches[0]


def resolve_room_id(client: Client, text: str) -> str:
    """The full id of the caller's room whose id is ``text`` or starts with it.

    A full id is returned as given (the server then says whether it exists for the caller); a
    prefix of at least :data:`MIN_ID_PREFIX_CHARS` hex digits is matched against the rooms the
    caller takes part in (``sealroom room list``). Raises :class:`NotFoundError` for no match
    and :class:`BadRequestError` for several (both: exit 1, one line naming the candidates);
    text that cannot be an id is a usage error (exit 2).
    """
    prefix = _prefix(text, "room", ROOM_ID_CHARS)
    if len(prefix) == ROOM_ID_CHARS:
        return prefix
    rooms = client.get_data_room_descriptions()
    return _unique(prefix, (str(room["id"]) for room in rooms), "room", "sealroom room list")


def resolve_job_id(client: Client, text: str, room_id: str | None = None) -> str:
    """The full id of the caller's job whose id is ``text`` or starts with it.

    Like :func:`resolve_room_id`, over the caller's own jobs (``sealroom job list``): those of
    ``room_id``, or else of every room the caller takes part in.
    """
    prefix = _prefix(text, "job", JOB_ID_CHARS)
    if len(prefix) == JOB_ID_CHARS:
        return prefix
    room_ids = [room_id] if room_id else [str(r["id"]) for r in client.get_data_room_descriptions()]
    job_ids: list[str] = []
    for room in room_ids:
        try:
            job_ids.extend(str(job["job_id"]) for job in client.get_jobs(room))
        except RequestError:
            if room_id:
                raise
            # A room the caller no longer takes part in: none of its jobs are listed.
    return _unique(prefix, job_ids, "job", "sealroom job list ROOM_ID")


# -- output -----------------------------------------------------------------------------------
def escape_untrusted(text: str, *, block: bool = False) -> str:
    """``text`` with every character that could hide or reorder what is shown made visible
    as ``\\uXXXX`` (Trojan Source, CVE-2021-42574); a ``block`` (query, script) keeps its
    newlines and tabs. For anything other participants or the host wrote: names, notes, e-mails.
    """
    pattern = _UNSAFE_IN_BLOCK if block else _UNSAFE_IN_LINE
    return pattern.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def iso_time(ms: int | None) -> str:
    """Milliseconds since the epoch as ISO 8601 UTC to the second (``2025-01-31T09:00:00Z``);
    ``-`` for none."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_time_ms(ms: int) -> str:
    """Like :func:`iso_time`, to the millisecond (``2025-01-31T09:00:00.250Z``): for audit
    entries, which several may share a second."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def echo_json(document: Any) -> None:
    """``document`` as one JSON document on stdout (ASCII only: no character of it can act on a
    terminal)."""
    typer.echo(json.dumps(document, indent=2, ensure_ascii=True))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str) -> None:
    """A table on stdout (rich, without borders), or ``empty`` on stderr when there is no row.

    Cells are shown as text, never as markup, with :func:`escape_untrusted`; on a pipe the table
    is as wide as it needs to be, so that each row stays one line for grep.
    """
    table = Table(box=None, pad_edge=False)
    for header in headers:
        table.add_column(header, overflow="fold")
    count = 0
    for row in rows:
        table.add_row(*(Text(escape_untrusted(cell)) for cell in row))
        count += 1
    if not count:
        typer.echo(empty, err=True)
        return
    width = None if sys.stdout.isatty() else PIPED_TABLE_COLUMNS
    rendered = Console(file=io.StringIO(), width=width, highlight=False, markup=False, emoji=False)
    rendered.print(table)
    # Without the padding rich adds to the last column: lines end where their text does.
    for line in rendered.file.getvalue().splitlines():  # type: ignore[attr-defined]
        typer.echo(line.rstrip())
