"""``sealroom gc``: delete expired results, datasets never published, abandoned uploads and blob
files nothing references, from a server's data directory (:mod:`sealroom.storage.gc`).

Runs on the data directory, like ``sealroom user``, while the server runs or not: every step is
safe against a running server (see that module). ``--dry-run`` lists and changes nothing. It
prints ids, owners, dates and sizes only: nothing here is ever decrypted.

Ages: ``--older-than`` (default 7 days) for datasets never published, uploads and files nothing
references; ``--result-retention`` for results (default ``SEALROOM_RESULT_RETENTION_DAYS`` days,
else 30 days; ``--keep-results`` keeps every result).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from sealroom.cli._common import EXIT_FAILURE, AsJson, echo_json, iso_time, print_table, usage_error

if TYPE_CHECKING:
    from sealroom.storage.gc import GcPolicy, GcReport

__all__ = ["gc", "parse_duration_ms"]

#: The variable a server's result retention is configured with (days), read when
#: ``--result-retention`` is not given.
RETENTION_DAYS_VARIABLE: Final = "SEALROOM_RESULT_RETENTION_DAYS"
DEFAULT_RESULT_RETENTION_DAYS: Final = 30
DEFAULT_GRACE: Final = "7d"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
#: The file that makes a directory a Sealroom data directory (as ``sealroom user`` checks).
_METADATA_FILE: Final = "metadata.sqlite3"


def parse_duration_ms(text: str, what: str) -> int:
    """``30s``, ``15m``, ``12h``, ``7d``, ``250ms`` (a bare number is seconds) in milliseconds."""
    match = _DURATION.match(text.strip().lower())
    if match is None:
        usage_error(f"{what}: {text!r} is not a duration (like 30s, 15m, 12h or 7d)")
    return int(float(match.group(1)) * _UNIT_MS[match.group(2) or "s"])


def _result_retention_ms(option: str | None, keep_results: bool) -> int | None:
    if keep_results:
        return None
    if option is not None:
        return parse_duration_ms(option, "--result-retention")
    days = os.environ.get(RETENTION_DAYS_VARIABLE, "").strip()
    if not days:
        return DEFAULT_RESULT_RETENTION_DAYS * _UNIT_MS["d"]
    try:
        value = float(days)
    except ValueError:
        value = -1.0
    if value < 0:
        usage_error(f"{RETENTION_DAYS_VARIABLE}={days!r} is not a number of days")
    return int(value * _UNIT_MS["d"])


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{count} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def gc(
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", envvar="SEALROOM_DATA_DIR", help="The server's data directory."),
    ] = Path(".sealroom-data"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help="Age after which datasets never published, uploads never completed and blob "
            "files nothing references are deleted (30s, 15m, 12h, 7d).",
        ),
    ] = DEFAULT_GRACE,
    result_retention: Annotated[
        str | None,
        typer.Option(
            "--result-retention",
            metavar="DURATION",
            help=f"Results of jobs that finished longer ago are deleted (default: "
            f"{RETENTION_DAYS_VARIABLE} days, else {DEFAULT_RESULT_RETENTION_DAYS}d).",
            show_default=False,
        ),
    ] = None,
    keep_results: Annotated[
        bool, typer.Option("--keep-results", help="Delete no result, whatever its age.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Delete expired results, datasets never published, abandoned uploads and orphan blobs.

    Never anything a room references: published datasets (in any room), their chunks,
    results within the retention, rooms, jobs, requests and audit logs.

    Safe while the server runs. Exits 1 if a step had to be skipped (the reason is printed).
    """
    from sealroom.model.records import now_ms
    from sealroom.server.platform import open_blob_store, open_store
    from sealroom.server.settings import Settings
    from sealroom.storage.gc import GcPolicy, collect_garbage

    policy = GcPolicy(
        now_ms=now_ms(),
        result_retention_ms=_result_retention_ms(result_retention, keep_results),
        grace_ms=parse_duration_ms(older_than, "--older-than"),
    )
    settings = Settings(data_dir=data_dir)
    if not settings.database_url and not (data_dir / _METADATA_FILE).is_file():
        what = "does not exist" if not data_dir.exists() else f"has no {_METADATA_FILE}"
        usage_error(
            f"{data_dir} is not a Sealroom data directory ({what}): pass the directory "
            "`sealroom serve` uses (--data-dir or SEALROOM_DATA_DIR)"
        )
    store = open_store(settings)
    try:
        report = collect_garbage(store.engine, open_blob_store(settings), policy, dry_run=dry_run)
    finally:
        store.engine.dispose()

    if as_json:
        echo_json(_document(report, policy))
    else:
        _print(report)
    for reason in report.skipped:
        typer.echo(f"warning: skipped {reason}", err=True)
    if report.skipped:
        raise typer.Exit(EXIT_FAILURE)


def _document(report: GcReport, policy: GcPolicy) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "result_retention_ms": policy.result_retention_ms,
        "older_than_ms": policy.grace_ms,
        "results": [
            {
                "job_id": r.job_id,
                "room_id": r.room_id,
                "finished_at_ms": r.finished_at_ms,
                "size": r.size,
            }
            for r in report.results
        ],
        "datasets": [
            {"id": d.id, "owner": d.owner_email, "created_at_ms": d.created_at_ms, "size": d.size}
            for d in report.datasets
        ],
        "uploads": [
            {
                "id": u.id,
                "owner": u.owner_email,
                "created_at_ms": u.created_at_ms,
                "chunks": u.chunks,
            }
            for u in report.uploads
        ],
        "upload_receipts": report.upload_receipts,
        "files": [
            {"kind": f.kind, "key": f.key, "size": f.size, "modified_at_ms": f.modified_at_ms}
            for f in report.files
        ],
        "freed_bytes": report.freed_bytes,
        "skipped": list(report.skipped),
    }


def _print(report: GcReport) -> None:
    rows: list[tuple[str, str, str, str, str]] = []
    rows += [
        (
            "result",
            r.job_id,
            f"room {r.room_id}",
            f"finished {iso_time(r.finished_at_ms)}",
            _size(r.size),
        )
        for r in report.results
    ]
    rows += [
        ("dataset", d.id, d.owner_email, f"uploaded {iso_time(d.created_at_ms)}", _size(d.size))
        for d in report.datasets
    ]
    rows += [
        (
            "upload",
            u.id,
            u.owner_email,
            f"started {iso_time(u.created_at_ms)}",
            f"{u.chunks} chunk(s)",
        )
        for u in report.uploads
    ]
    rows += [
        (f.kind, f.key, "-", f"written {iso_time(f.modified_at_ms)}", _size(f.size))
        for f in report.files
    ]
    print_table(("KIND", "ID", "OWNER", "WHEN", "SIZE"), rows, empty="nothing to delete")
    verb = "would free" if report.dry_run else "freed"
    receipts = (
        f" (and {report.upload_receipts} receipt(s) of completed uploads)"
        if report.upload_receipts
        else ""
    )
    typer.echo(
        f"{'Dry run, nothing deleted: ' if report.dry_run else ''}"
        f"{len(report.results)} result(s), {len(report.datasets)} dataset(s), "
        f"{len(report.uploads)} abandoned upload(s){receipts}, {len(report.files)} orphan "
        f"file(s); {verb} {_size(report.freed_bytes)}"
    )
