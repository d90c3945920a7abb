"""A validation report as people read it: counts per kind of error, the first errors by row of
the file and column name, what to do (hints), and — for the data owner, on their own machine —
the failing rows' cells.

Rows are shown as in the file: the report counts records from 1 after the header row the file
had (``header_rows``), so a header makes every row one more.
"""

from __future__ import annotations

from typing import Any, Final

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["print_report"]

# Recorded errors shown, in all and of one kind in one column; the report holds more, and exact
# totals.
_SHOWN_ERRORS: Final = 15
_SHOWN_PER_KIND: Final = 3


def print_report(
    console: Console,
    report: dict[str, Any],
    *,
    where: str,
    header_rows: int = 0,
    samples: dict[int, dict[str, str | None]] | None = None,
) -> None:
    """Print ``report`` (the core's JSON, ``{"version", "report"}``) to ``console``. Lines of
    text are not wrapped (they are meant to be read, and searched, whole)."""
    console.print(
        render_report(report, where=where, header_rows=header_rows, samples=samples),
        soft_wrap=True,
    )


def render_report(
    report: dict[str, Any],
    *,
    where: str,
    header_rows: int = 0,
    samples: dict[int, dict[str, str | None]] | None = None,
) -> RenderableType:
    body = report["report"]
    parts: list[RenderableType] = [_summary(body, where)]
    by_code = body.get("numInvalidRowsByErrorCode", {})
    if by_code:
        kinds = Table(title="invalid rows by kind of error", title_justify="left")
        kinds.add_column("error")
        kinds.add_column("rows", justify="right")
        kinds.add_column("columns")
        for code, count in sorted(by_code.items(), key=lambda item: -item[1]):
            kinds.add_row(code, f"{count:,}", ", ".join(_columns_with(body, code)))
        parts.append(kinds)
    errors = _first_errors(body, header_rows)
    if errors:
        first = Table(title="first errors (rows as in the file)", title_justify="left")
        for name in ("row", "column", "error", "message"):
            first.add_column(name, overflow="fold")
        shown: dict[tuple[str, str], int] = {}
        for row, column, code, message in errors:
            kind = (column, code)
            shown[kind] = shown.get(kind, 0) + 1
            if shown[kind] > _SHOWN_PER_KIND or first.row_count >= _SHOWN_ERRORS:
                continue
            first.add_row("" if row is None else f"{row:,}", column, code, escape(message))
        parts.append(first)
    for error in body.get("table", {}).get("recordedErrors", []):
        parts.append(Text(f"{error['code']}: {error['message']}", style="red"))
    if samples:
        rows = Table(
            title="those rows in your file (shown here only, never sent)", title_justify="left"
        )
        columns = list(next(iter(samples.values())))
        rows.add_column("row", justify="right")
        for name in columns:
            rows.add_column(name, overflow="fold")
        for number, cells in sorted(samples.items()):
            rows.add_row(
                f"{number:,}", *("" if cells[c] is None else escape(str(cells[c])) for c in columns)
            )
        parts.append(rows)
    for hint in body.get("hints", []):
        parts.append(Text(f"hint: {hint}", style="cyan"))
    for warning in body.get("warnings", []):
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


def _summary(body: dict[str, Any], where: str) -> Text:
    outcome = body["outcome"]
    total = body.get("numRowsTotal", 0)
    invalid = body.get("numInvalidRowsTotal", 0)
    text = Text(f"{where} validation: ")
    text.append(outcome, style="bold green" if outcome == "PASSED" else "bold red")
    text.append(f" — {total:,} rows, {invalid:,} invalid")
    dropped = body.get("dropInvalidRows")
    if dropped:
        text.append(
            f", {dropped['numInvalidRowsDropped']:,} dropped, "
            f"{dropped['numRowsRemaining']:,} remain"
        )
    return text


def _columns_with(body: dict[str, Any], code: str) -> list[str]:
    names = [
        str(column["name"])
        for column in body.get("columns", [])
        if any(error["code"] == code for error in column["recordedErrors"])
    ]
    for error in body.get("uniqueness", {}).get("recordedErrors", []):
        if error["code"] == code:
            names += [n for n in error["location"].get("names", []) if n not in names]
    return names


def _first_errors(body: dict[str, Any], header_rows: int) -> list[tuple[int | None, str, str, str]]:
    """``(row in the file, column, code, message)`` of the recorded errors, by row."""

    def shown(row: int | None) -> int | None:
        return None if row is None else row + header_rows

    errors: list[tuple[int | None, str, str, str]] = []
    for column in body.get("columns", []):
        for error in column["recordedErrors"]:
            errors.append(
                (
                    shown(error["location"]["row"]),
                    str(column["name"]),
                    error["code"],
                    error["message"],
                )
            )
    for error in body.get("schema", {}).get("recordedErrors", []):
        errors.append((shown(error.get("row")), "", error["code"], error["message"]))
    for error in body.get("uniqueness", {}).get("recordedErrors", []):
        names = ", ".join(error["location"].get("names", []))
        errors.append(
            (shown(error["location"]["row"]), names, error["code"], _shifted(error, header_rows))
        )
    errors.sort(key=lambda error: (error[0] is None, error[0] or 0))
    return errors


def _shifted(error: dict[str, Any], header_rows: int) -> str:
    """A duplicate's message names the earlier row: shown as in the file too."""
    message = str(error["message"])
    if not header_rows:
        return message
    head, _, number = message.rpartition(" row ")
    return f"{head} row {int(number) + header_rows}" if number.isdigit() else message
