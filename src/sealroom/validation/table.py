"""Table validation: a plaintext CSV buffer in, a report and a typed table out.

Public interface: :func:`validate_table`, :class:`ValidationLimits`, :class:`ValidationResult`,
:func:`arrow_schema`, :func:`empty_table`. The report's shape and codes are described in
:mod:`.report`; what each format accepts in :mod:`.rules`; parsing and the file checks in
:mod:`.parsing`; uniqueness in :mod:`.uniqueness`. The trusted core runs it on each published
dataset; the SDK runs it on the owner's machine before uploading.

The checklist :func:`validate_table` follows:

1. File checks on the raw bytes (type, NUL, UTF-8, quote balance) — file-level errors.
2. Parse in memory; records with the wrong column count are skipped and reported (row-level).
3. Table checks: at least one record, at most ``max_rows`` — file-level errors.
4. Cell checks per column, in row slices on ``threads`` threads (Arrow kernels drop the GIL).
5. Uniqueness among rows without cell errors (DuckDB hash + exact check of repeats).
6. Outcome: FAILED on any file-level error. Otherwise, with ``drop_invalid_rows`` the rows with
   row-level errors (column count, cells, duplicates) are dropped and the outcome is PASSED — even
   if no row is left (``dropInvalidRows.numRowsRemaining`` is 0 then; whether an empty table is
   acceptable is the caller's decision, as in the reference product's status check). Without it,
   any error is FAILED.

Invariants:

* Plaintext never touches disk and never leaves this function except inside the returned table.
  The report holds codes, counts, row numbers and schema facts only — never a value.
* No Python code runs per row: Arrow compute, DuckDB and numpy do the work. Python loops run per
  column, per chunk or per *recorded* error (capped by the limits).
* Row numbers are 0-based record numbers: blank lines are not records; a quoted field spanning
  lines keeps one record; a record with the wrong number of columns keeps its number, so later
  rows are never shifted.
* Memory is bounded by the input: the parsed strings (about the file's size), one boolean per
  cell per check; for uniqueness 16 bytes per row, a copy of the key columns when some key
  hash repeats, and DuckDB's ``memory_limit_bytes``.
* Malformed input yields a FAILED report, never an exception. Exceptions are reserved for wrong
  arguments (:class:`ConfigurationError` for bad limits) and exhausted resources
  (:class:`LimitExceededError` when DuckDB exceeds ``memory_limit_bytes`` or Arrow runs out of
  memory while parsing).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sealroom.compute.arrow_types import arrow_type, compact
from sealroom.errors import ConfigurationError
from sealroom.model.columns import Column, TableSchema
from sealroom.validation.parsing import ParsedCsv, as_buffer, inspect_buffer, parse_records
from sealroom.validation.report import (
    CellError,
    ColumnHint,
    ColumnSummary,
    DuplicateError,
    ErrorCode,
    FileError,
    ReportDraft,
    Section,
    cell_message,
)
from sealroom.validation.rules import (
    FORMAT_CODES,
    ColumnCheck,
    check_column,
    codes_of,
    hint_counts,
)
from sealroom.validation.uniqueness import find_duplicates, open_duckdb

__all__ = [
    "ErrorCode",
    "ValidationLimits",
    "ValidationResult",
    "arrow_schema",
    "empty_table",
    "validate_table",
]

MiB = 1 << 20
GiB = 1 << 30
# A record longer than this is refused: it bounds the parser's block (memory per record) and no
# table of a clean room has 1 MiB rows.
DEFAULT_MAX_LINE_BYTES = 1 * MiB
# Record lengths are summed in int32 and pyarrow blocks are at most twice this: keep it far below.
MAX_LINE_BYTES_CEILING = 256 * MiB
# The malformed-record callback is the one piece of Python that can run per row; past this many
# the file is clearly not in the agreed format and validation stops (~1 s of callbacks).
DEFAULT_MAX_MALFORMED_ROWS = 1_000_000
# DuckDB only holds key columns and their hashes (~10^8 rows of e-mail keys fit in 4 GiB).
DEFAULT_MEMORY_LIMIT_BYTES = 4 * GiB
# Below this many rows, splitting columns into slices for threads costs more than it saves.
_PARALLEL_MIN_ROWS = 200_000


def _default_threads() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 16))


@dataclass(frozen=True)
class ValidationLimits:
    """Every bound validation enforces. Units are in the names; all must be positive."""

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES  # one CSV record; longer → LINE_TOO_LONG
    max_recorded_errors_per_column: int = 100
    max_recorded_schema_errors: int = 100
    max_recorded_uniqueness_errors: int = 100  # per unique column combination
    max_rows: int = 2_000_000_000  # records in the file; more → INVALID_NUMBER_OF_ROWS
    max_malformed_rows: int = DEFAULT_MAX_MALFORMED_ROWS  # more → TOO_MANY_MALFORMED_ROWS
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES  # for the DuckDB connection
    # DuckDB and the cell checks use exactly this many; pyarrow's CSV reader uses its process-wide
    # CPU pool when threads > 1 (sized by pyarrow.set_cpu_count, which is not ours to change).
    threads: int = field(default_factory=_default_threads)

    def __post_init__(self) -> None:
        for name in (
            "max_line_bytes",
            "max_recorded_errors_per_column",
            "max_recorded_schema_errors",
            "max_recorded_uniqueness_errors",
            "max_rows",
            "max_malformed_rows",
            "memory_limit_bytes",
            "threads",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"validation limit {name} must be a positive integer")
        if self.max_line_bytes > MAX_LINE_BYTES_CEILING:
            raise ConfigurationError(
                f"validation limit max_line_bytes must be at most {MAX_LINE_BYTES_CEILING}"
            )


@dataclass(frozen=True)
class ValidationResult:
    """The report (JSON-ready) and, unless the outcome is FAILED (or the table was not wanted),
    the validated typed table, in the core's compact form
    (:func:`~sealroom.compute.arrow_types.compact`: the types of :func:`arrow_schema` in SQL,
    stored as DuckDB stores them)."""

    report: dict[str, Any]
    table: pa.Table | None

    @property
    def passed(self) -> bool:
        return bool(self.report["report"]["outcome"] == "PASSED")


def arrow_schema(schema: TableSchema) -> pa.Schema:
    """Each column's :func:`~sealroom.compute.arrow_types.arrow_type` (text is utf8 with 32-bit
    offsets; the table is chunked, so no chunk nears the 2 GiB offset limit). Field nullability
    follows the column: a non-nullable column never holds a null in a validated table."""
    return pa.schema(
        [pa.field(c.name, arrow_type(c), nullable=c.is_nullable) for c in schema.columns]
    )


def empty_table(schema: TableSchema) -> pa.Table:
    """The typed table with no rows, for an optional table node without a dataset."""
    return arrow_schema(schema).empty_table()


def validate_table(
    data: bytes | bytearray | memoryview,
    schema: TableSchema,
    *,
    limits: ValidationLimits | None = None,
    keep_table: bool = True,
    outcome_only: bool = False,
) -> ValidationResult:
    """Validate one decrypted CSV file (no header row) against a table schema. See the module
    docstring for the checklist; ``data`` is read in place (zero-copy) and never modified.

    ``keep_table=False`` when only the report is wanted (the SDK's check before an upload): the
    result's table is then None and the typed table is never built (its compaction is a good
    part of the time on large files).

    ``outcome_only=True`` when only the outcome is wanted (implies ``keep_table=False``): for a
    schema that drops invalid rows, steps 4 and 5 are skipped, since a bad cell or a duplicate
    there only drops its row and never changes the outcome; the report's invalid-row counts
    then cover malformed records only. A schema that keeps invalid rows is checked in full (its
    cells and keys decide the outcome). The outcome is the full validation's, always."""
    limits = limits or ValidationLimits()
    draft = ReportDraft(
        columns=[ColumnSummary(i, c.name) for i, c in enumerate(schema.columns)],
        drop_invalid_rows=schema.drop_invalid_rows,
    )
    # 1. File checks on the raw bytes.
    inspection = inspect_buffer(as_buffer(data))
    if isinstance(inspection, FileError):
        return _failed(draft, inspection)
    # 2. Parse.
    parsed = parse_records(
        inspection,
        schema,
        max_line_bytes=limits.max_line_bytes,
        max_malformed_rows=limits.max_malformed_rows,
        max_recorded_schema_errors=limits.max_recorded_schema_errors,
        use_threads=limits.threads > 1,
    )
    if isinstance(parsed, FileError):
        return _failed(draft, parsed)
    # 3. Table checks.
    draft.num_rows_total = parsed.num_records
    if parsed.num_records == 0:
        return _failed(
            draft, FileError(Section.TABLE, ErrorCode.EMPTY_FILE, "the file has no rows")
        )
    if parsed.num_records > limits.max_rows:
        return _failed(
            draft,
            FileError(
                Section.TABLE,
                ErrorCode.INVALID_NUMBER_OF_ROWS,
                f"the file has more rows than the limit of {limits.max_rows}",
            ),
        )
    draft.num_malformed_rows = parsed.num_malformed
    draft.malformed_recorded = list(parsed.recorded_malformed)
    draft.count_invalid_rows(ErrorCode.NOT_ENOUGH_COLUMNS_PROVIDED, parsed.num_too_few)
    draft.count_invalid_rows(ErrorCode.TOO_MANY_COLUMNS_PROVIDED, parsed.num_too_many)
    if outcome_only and schema.drop_invalid_rows:
        draft.num_invalid_rows = parsed.num_malformed
        draft.num_rows_remaining = parsed.table.num_rows
        return ValidationResult(draft.render(), None)
    # 4. Cells.
    checks = _check_columns(parsed.table, schema, limits.threads)
    invalid = _record_cell_errors(draft, schema, checks, parsed, limits)
    # 5. Uniqueness.
    if schema.unique_column_combinations:
        invalid = _record_duplicates(draft, schema, checks, invalid, parsed, limits)
    # 6. Outcome.
    num_invalid = int(np.count_nonzero(invalid))
    draft.num_invalid_rows = parsed.num_malformed + num_invalid
    draft.num_rows_remaining = parsed.table.num_rows - num_invalid
    if not draft.passed or not keep_table or outcome_only:
        return ValidationResult(draft.render(), None)
    table = pa.Table.from_arrays([check.values for check in checks], schema=arrow_schema(schema))
    if num_invalid:
        table = table.filter(pa.array(~invalid))
    return ValidationResult(draft.render(), compact(table, threads=limits.threads))


def _failed(draft: ReportDraft, error: FileError) -> ValidationResult:
    draft.file_errors.append(error)
    return ValidationResult(draft.render(), None)


def _row_slices(num_rows: int, parts: int) -> list[tuple[int, int]]:
    if num_rows < _PARALLEL_MIN_ROWS or parts == 1:
        return [(0, num_rows)]
    step = -(-num_rows // parts)
    return [(start, min(step, num_rows - start)) for start in range(0, num_rows, step)]


def _check_columns(table: pa.Table, schema: TableSchema, threads: int) -> list[ColumnCheck]:
    """Step 4: every column checked in row slices, concurrently; slices are then re-joined."""
    slices = _row_slices(table.num_rows, threads)
    tasks = [
        (index, column, offset, length)
        for index, column in enumerate(schema.columns)
        for offset, length in slices
    ]

    def run(task: tuple[int, Column, int, int]) -> ColumnCheck:
        index, column, offset, length = task
        return check_column(table.column(index).slice(offset, length), column)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        parts = list(pool.map(run, tasks))
    checks: list[ColumnCheck] = []
    for index, column in enumerate(schema.columns):
        own = parts[index * len(slices) : (index + 1) * len(slices)]
        values = pa.chunked_array(
            [chunk for part in own for chunk in part.values.chunks],
            type=arrow_type(column),
        )
        masks = {
            code: pa.chunked_array(
                [chunk for part in own for chunk in part.masks[code].chunks], type=pa.bool_()
            )
            for code in codes_of(column)
        }
        checks.append(ColumnCheck(values=values, masks=masks))
    return checks


def _record_numbers(parsed: ParsedCsv, positions: npt.NDArray[np.int64]) -> list[int]:
    """Table positions → record numbers (they differ only after a skipped malformed record)."""
    if parsed.record_numbers is None:
        return [int(p) for p in positions]
    return [int(r) for r in parsed.record_numbers[positions]]


def _first_true(mask: pa.ChunkedArray, limit: int) -> npt.NDArray[np.int64]:
    """Positions of the first ``limit`` true values; loops over chunks, not rows."""
    found: list[npt.NDArray[np.int64]] = []
    wanted = limit
    offset = 0
    for chunk in mask.chunks:
        if wanted and pc.any(chunk).as_py():
            hits = pc.indices_nonzero(chunk).to_numpy()[:wanted].astype(np.int64) + offset
            found.append(hits)
            wanted -= len(hits)
        offset += len(chunk)
        if not wanted:
            break
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _or_all(masks: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    combined = masks[0]
    for mask in masks[1:]:
        combined = pc.or_(combined, mask)
    return combined


def _as_numpy(mask: pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    if mask.num_chunks == 0:
        return np.zeros(0, dtype=np.bool_)
    return np.asarray(mask.to_numpy(), dtype=np.bool_)


def _record_cell_errors(
    draft: ReportDraft,
    schema: TableSchema,
    checks: list[ColumnCheck],
    parsed: ParsedCsv,
    limits: ValidationLimits,
) -> npt.NDArray[np.bool_]:
    """Fill the "columns" section; return which table rows have at least one cell error."""
    by_code: dict[ErrorCode, list[pa.ChunkedArray]] = {}
    row_masks: list[pa.ChunkedArray] = []
    for index, (column, check) in enumerate(zip(schema.columns, checks, strict=True)):
        counts = {code: int(pc.sum(mask).as_py() or 0) for code, mask in check.masks.items()}
        summary = draft.columns[index]
        summary.num_errors = sum(counts.values())
        if not summary.num_errors:
            continue
        failing = [check.masks[code] for code, count in counts.items() if count]
        for code, count in counts.items():
            if count:
                by_code.setdefault(code, []).append(check.masks[code])
        format_code = FORMAT_CODES.get(column.effective_format)
        if format_code is not None and counts.get(format_code):
            raw = parsed.table.column(index)
            for hint, count in hint_counts(raw, check.masks[format_code], column).items():
                draft.column_hints.append(ColumnHint(column.name, hint.value, count))
        column_mask = _or_all(failing)
        row_masks.append(column_mask)
        positions = _first_true(column_mask, limits.max_recorded_errors_per_column)
        flags = {
            code: pc.take(check.masks[code], pa.array(positions)).to_pylist()
            for code, count in counts.items()
            if count
        }
        for k, row in enumerate(_record_numbers(parsed, positions)):
            code = next(code for code, hits in flags.items() if hits[k])
            message = cell_message(code, column)
            summary.recorded.append(CellError(code, row, index, message))
    for code, masks in by_code.items():
        draft.count_invalid_rows(code, int(pc.sum(_or_all(masks)).as_py() or 0))
    if not row_masks:
        return np.zeros(parsed.table.num_rows, dtype=np.bool_)
    return _as_numpy(_or_all(row_masks))


def _record_duplicates(
    draft: ReportDraft,
    schema: TableSchema,
    checks: list[ColumnCheck],
    invalid: npt.NDArray[np.bool_],
    parsed: ParsedCsv,
    limits: ValidationLimits,
) -> npt.NDArray[np.bool_]:
    """Fill the "uniqueness" section; return ``invalid`` with duplicate rows added."""
    duplicate = np.zeros_like(invalid)
    connection = open_duckdb(threads=limits.threads, memory_limit_bytes=limits.memory_limit_bytes)
    try:
        for combination in schema.unique_column_combinations:
            keys = [checks[i].values for i in combination]
            eligible = ~invalid
            for key in keys:
                eligible &= _as_numpy(pc.is_valid(key))
            found = find_duplicates(connection, keys, eligible)
            draft.num_duplicate_errors += len(found.rows)
            duplicate[found.rows] = True
            cap = limits.max_recorded_uniqueness_errors
            rows = _record_numbers(parsed, found.rows[:cap])
            firsts = _record_numbers(parsed, found.first_rows[:cap])
            draft.duplicates_recorded += [
                DuplicateError(tuple(combination), row, first)
                for row, first in zip(rows, firsts, strict=True)
            ]
    finally:
        connection.close()
    draft.count_invalid_rows(ErrorCode.DUPLICATE_VALUES, int(np.count_nonzero(duplicate)))
    return invalid | duplicate
