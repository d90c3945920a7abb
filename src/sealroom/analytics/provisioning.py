"""Provisioning a table from a CSV file as people have them, checked before any byte leaves.

A table node's uploads are the seed's format: UTF-8 CSV, comma-delimited, no header row, the
node's columns in order. Files come from spreadsheets and databases with a header row, columns in
another order, semicolons or tabs, Windows-1252, decimal commas and thousands separators.
:func:`prepare_table` turns such a file into the upload, on the owner's machine:

1. **Encoding**: the one given, else detected: a byte-order mark, else UTF-8 when the file is
   valid UTF-8, else Windows-1252 (what Excel writes on Windows; said in the notes). Converted to
   UTF-8.
2. **Delimiter**: the one given, else the first of ``,`` ``;`` tab ``|`` that splits the file's
   first records into the same number (more than one) of fields.
3. **Header**: given (``header=True``/``False``), else detected: the first record is a header
   when at least half its fields are column names of the node (case, spaces, ``_`` and ``-``
   aside). A header's columns are **mapped by name**: reordered columns are put in the node's
   order; a missing, extra, repeated or misspelled column is refused, with the closest name.
   Without a header, columns are positional, as in the seed.
4. **Numbers**: with ``thousands_separator`` the separator is removed from the node's INTEGER,
   FLOAT and DECIMAL columns, then with ``decimal_comma`` their ``,`` becomes ``.``.
5. **Validation**: the upload is validated with :func:`sealroom.validation.validate_table`, the
   function the core runs when the dataset is published; a FAILED report (or more rows dropped
   than ``max_dropped_share`` allows) stops here, with the report. With ``outcome_only`` (the
   DataLab's provisioning) only the checks that decide the outcome run: for a table that drops
   invalid rows, the file, encoding and record checks, not the cells and keys, which would
   only drop rows; the core's own report counts those.

Sending takes two steps, so that a caller with several files can upload the next while the core
validates the previous: :func:`upload_table` encrypts and uploads (nothing is published), and
:func:`publish_table` publishes to the node (the core decrypts and validates then);
:func:`provision` is the two in a row.

Invariants: :func:`prepare_table` sends nothing; nothing is sent for a file that failed the local
checks; the upload is byte for byte the file when the file already is in the seed's format (then
no copy is made but the read); rows in reports are counted from 1 after the ``header_rows`` the
file had (:class:`PreparedTable`). Memory: the file, its converted copy when it needed
converting, and validation's working set.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sealroom.errors import DatasetRejectedError
from sealroom.model.columns import NUMERIC_FORMATS, TableSchema

if TYPE_CHECKING:
    import pyarrow as pa

    from sealroom.client import Client, Session
    from sealroom.crypto import Key

__all__ = [
    "CsvFormat",
    "PreparedTable",
    "ProvisionedTable",
    "UploadedTable",
    "prepare_table",
    "provision",
    "publish_table",
    "upload_table",
]

_DELIMITERS: Final = (",", ";", "\t", "|")
_THOUSANDS_SEPARATORS: Final = (",", ".", " ", "'", "_", "\u00a0", "\u202f")
# Bytes read to detect the delimiter and the header.
_SAMPLE_BYTES: Final = 64 * 1024
_SAMPLE_RECORDS: Final = 50
# Failing rows whose cells are shown to the owner (never sent anywhere).
_SAMPLE_ROWS: Final = 5


@dataclass(frozen=True)
class CsvFormat:
    """How a file is written; ``None`` means detect (module docstring)."""

    header: bool | None = None
    delimiter: str | None = None
    encoding: str | None = None
    decimal_comma: bool = False
    thousands_separator: str | None = None

    def __post_init__(self) -> None:
        if self.delimiter is not None and (len(self.delimiter) != 1 or self.delimiter in '"\r\n'):
            raise DatasetRejectedError(
                f"the delimiter must be one character other than a quote or a line break, not "
                f"{self.delimiter!r}",
                stage="local",
            )
        if self.thousands_separator is not None:
            if self.thousands_separator not in _THOUSANDS_SEPARATORS:
                raise DatasetRejectedError(
                    f"a thousands separator is one of "
                    f"{', '.join(repr(s) for s in _THOUSANDS_SEPARATORS)}, not "
                    f"{self.thousands_separator!r}",
                    stage="local",
                )
            if self.thousands_separator == "," and self.decimal_comma:
                raise DatasetRejectedError(
                    "',' cannot be both the decimal comma and the thousands separator",
                    stage="local",
                )
        if self.encoding is not None:
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise DatasetRejectedError(
                    f"unknown encoding {self.encoding!r}; e.g. utf-8, cp1252 (Windows), "
                    "latin-1, utf-16",
                    stage="local",
                ) from None


@dataclass(frozen=True)
class PreparedTable:
    """A file made ready to upload to one table node, and what was found on the way."""

    #: The upload: UTF-8 CSV, no header, the node's columns in order.
    data: pa.Buffer
    encoding: str
    delimiter: str
    #: 1 when the file's first record was a header (rows in reports count after it).
    header_rows: int
    #: The file's column of each node column (None without a header: positional).
    mapping: tuple[str, ...] | None
    #: What was detected or converted, for the owner to read.
    notes: tuple[str, ...]
    #: The local validation report (the core's own format).
    report: dict[str, Any]
    #: Why it must not be uploaded (validation failed, too many rows dropped), or None.
    problem: str | None = None
    #: A few failing rows, by their number in the file: the owner's own cells, shown locally.
    samples: dict[int, dict[str, str | None]] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return int(self.report["report"]["numRowsTotal"])

    def check(self) -> None:
        """Raise :class:`DatasetRejectedError` (``stage`` "local") if it must not be uploaded."""
        if self.problem is not None:
            raise DatasetRejectedError(
                f"the file was not uploaded: {self.problem}",
                stage="local",
                report=self.report,
                header_rows=self.header_rows,
            )


@dataclass(frozen=True)
class UploadedTable:
    """A table encrypted and uploaded, not yet published: the dataset's id on the server."""

    dataset_id: str
    prepared: PreparedTable


@dataclass(frozen=True)
class ProvisionedTable:
    """A table provisioned: its dataset, and the core's answer (with its report)."""

    dataset_id: str
    answer: dict[str, Any]
    prepared: PreparedTable

    @property
    def report(self) -> dict[str, Any] | None:
        report = self.answer.get("report")
        return report if isinstance(report, dict) else None


def prepare_table(
    source: Path | bytes,
    schema: TableSchema,
    fmt: CsvFormat | None = None,
    *,
    max_dropped_share: float | None = None,
    outcome_only: bool = False,
) -> PreparedTable:
    """Read, map, convert and validate ``source`` for a table of ``schema`` (module docstring).

    ``outcome_only=True`` checks only what decides whether the core will refuse the file (see
    :func:`~sealroom.validation.validate_table`): for a schema that drops invalid rows, that
    skips the cell and uniqueness checks, whose full counts the core's report gives anyway (the
    local report's invalid-row counts then cover malformed records only). It is ignored with
    ``max_dropped_share``, which needs those counts.

    Raises :class:`DatasetRejectedError` (``stage`` "local") when the columns do not match. A
    file that fails validation is returned with its ``problem`` and ``samples`` set:
    :meth:`PreparedTable.check` raises then.
    """
    import pyarrow as pa

    from sealroom.validation import ValidationLimits, validate_table

    fmt = fmt or CsvFormat()
    raw = source.read_bytes() if isinstance(source, Path) else bytes(source)
    encoding, text_bytes, notes = _as_utf8(raw, fmt.encoding)
    sample = _sample_text(text_bytes)
    delimiter = fmt.delimiter or _detect_delimiter(sample, len(schema.columns))
    if fmt.delimiter is None and delimiter != ",":
        notes.append(f"delimiter detected: {_shown(delimiter)}")
    first = _first_record(sample, delimiter)
    names = [column.name for column in schema.columns]
    header = fmt.header if fmt.header is not None else _looks_like_header(first, names)
    mapping: tuple[str, ...] | None = None
    order: list[int] | None = None
    if header:
        order = _map_columns(first, names)
        mapping = tuple(first[i].strip() for i in order)
        if order != list(range(len(first))):
            notes.append("columns mapped by name from the header: " + ", ".join(mapping))
        else:
            notes.append("header row found; its columns are the table's, in order")
    numeric = [
        i for i, column in enumerate(schema.columns) if column.effective_format in NUMERIC_FORMATS
    ]
    converts = bool(numeric) and (fmt.decimal_comma or fmt.thousands_separator is not None)
    canonical = (
        encoding == "utf-8"
        and delimiter == ","
        and not converts
        and (order is None or order == list(range(len(names))))
    )
    if canonical:
        start = _end_of_first_record(text_bytes) if header else 0
        data = pa.py_buffer(text_bytes)[start:]
    else:
        data = _rewrite(text_bytes, delimiter, int(header), order, len(first), numeric, fmt, notes)
    threads = max(1, min(os.cpu_count() or 1, 8))
    outcome_only = outcome_only and max_dropped_share is None
    result = validate_table(
        data,
        schema,
        limits=ValidationLimits(threads=threads),
        keep_table=False,
        outcome_only=outcome_only,
    )
    prepared = PreparedTable(
        data=data,
        encoding=encoding,
        delimiter=delimiter,
        header_rows=int(header),
        mapping=mapping,
        notes=tuple(notes),
        report=result.report,
    )
    body = result.report["report"]
    if not header and fmt.header is None and body["outcome"] == "FAILED":
        near = _near_names(first, names)
        if near:
            body["hints"].append(
                "the first row looks like a header whose names are not the table's ("
                + ", ".join(f"{a!r} ~ {b!r}" for a, b in near)
                + "): rename its columns, or pass --header (header=True in the SDK) to map them"
            )
    dropped = body.get("dropInvalidRows", {}).get("numInvalidRowsDropped", 0)
    too_many = (
        max_dropped_share is not None
        and body["outcome"] == "PASSED"
        and dropped > max_dropped_share * max(body["numRowsTotal"], 1)
    )
    if body["outcome"] == "FAILED" or too_many:
        problem = (
            f"{dropped:,} of {body['numRowsTotal']:,} rows would be dropped, more than the "
            f"{max_dropped_share or 0:.1%} allowed"
            if too_many
            else f"it failed validation ({body['numInvalidRowsTotal']:,} of "
            f"{body['numRowsTotal']:,} rows invalid)"
        )
        samples = _samples(data, body, names, prepared.header_rows)
        prepared = PreparedTable(**{**prepared.__dict__, "problem": problem, "samples": samples})
    return prepared


def upload_table(
    client: Client,
    prepared: PreparedTable,
    key: Key,
    name: str,
    *,
    description: str = "",
    progress: Callable[[int], None] | None = None,
) -> UploadedTable:
    """Encrypt and upload ``prepared``; nothing is published yet (:func:`publish_table`).
    Nothing is sent for a file that failed the local checks (:meth:`PreparedTable.check`)."""
    import pyarrow as pa

    prepared.check()
    dataset_id = client.upload_dataset(
        pa.BufferReader(prepared.data),
        key,
        name,
        description=description,
        progress=progress,
    )
    return UploadedTable(dataset_id=dataset_id, prepared=prepared)


def publish_table(
    session: Session,
    room_id: str,
    node: str,
    uploaded: UploadedTable,
    key: Key,
    *,
    replace: bool = False,
) -> ProvisionedTable:
    """Publish ``uploaded`` to ``node`` (the core decrypts and validates it now); raise
    :class:`DatasetRejectedError` (``stage`` "core") unless the core's validation passed."""
    answer = session.publish_dataset(room_id, uploaded.dataset_id, node, key, force=replace)
    if answer.get("validation") == "FAILED":
        kept = answer.get("kept_dataset_id")
        raise DatasetRejectedError(
            f"the core's validation of table {node!r} failed"
            + (f"; dataset {kept}, which passed, stays published" if kept else ""),
            stage="core",
            report=answer.get("report"),
            header_rows=uploaded.prepared.header_rows,
            dataset_id=uploaded.dataset_id,
            kept_dataset_id=kept,
        )
    return ProvisionedTable(
        dataset_id=uploaded.dataset_id, answer=answer, prepared=uploaded.prepared
    )


def provision(
    client: Client,
    session: Session,
    room_id: str,
    node: str,
    prepared: PreparedTable,
    key: Key,
    name: str,
    *,
    description: str = "",
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ProvisionedTable:
    """:func:`upload_table` then :func:`publish_table`: one file, start to end."""
    uploaded = upload_table(client, prepared, key, name, description=description, progress=progress)
    return publish_table(session, room_id, node, uploaded, key, replace=replace)


# -- encoding, delimiter, header ----------------------------------------------------------------


def _as_utf8(raw: bytes, requested: str | None) -> tuple[str, bytes, list[str]]:
    """``(encoding, the file as UTF-8 without a byte-order mark, notes)``."""
    import pyarrow as pa

    from sealroom.validation.parsing import is_utf8

    notes: list[str] = []
    if requested is None:
        for mark, name in (
            (codecs.BOM_UTF8, "utf-8"),
            (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16"),
        ):
            if raw.startswith(mark):
                requested = name
                break
    if requested is None:
        if is_utf8(pa.py_buffer(raw)):
            return "utf-8", raw, notes
        requested = "cp1252"
        notes.append(
            "the file is not UTF-8: read as Windows-1252 (cp1252), as Excel writes it on Windows; "
            "pass --encoding to choose another"
        )
    name = codecs.lookup(requested).name
    if name == "utf-8":
        return (
            "utf-8",
            raw[len(codecs.BOM_UTF8) :] if raw.startswith(codecs.BOM_UTF8) else raw,
            notes,
        )
    try:
        text = raw.decode(name)
    except UnicodeDecodeError as error:
        raise DatasetRejectedError(
            f"the file is not valid {name} (the first bad byte is at offset {error.start}); "
            "pass the file's encoding with --encoding",
            stage="local",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not any(note.startswith("the file is not UTF-8") for note in notes):
        notes.append(f"converted from {name} to UTF-8")
    return name, text.encode("utf-8"), notes


def _sample_text(data: bytes) -> str:
    sample = data[:_SAMPLE_BYTES]
    if len(data) > _SAMPLE_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]
    return sample.decode("utf-8", errors="replace")


def _records(sample: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(sample), delimiter=delimiter, quotechar='"', doublequote=True)
    records: list[list[str]] = []
    try:
        for record in reader:
            if record:
                records.append(record)
            if len(records) >= _SAMPLE_RECORDS:
                break
    except csv.Error:
        pass
    return records


def _detect_delimiter(sample: str, num_columns: int) -> str:
    """The first delimiter that splits the sample's records evenly into more than one field
    (the node's number of fields first)."""
    consistent: list[tuple[str, int]] = []
    for delimiter in _DELIMITERS:
        counts = [len(record) for record in _records(sample, delimiter)]
        if not counts:
            continue
        count = max(set(counts), key=counts.count)
        # Most records (a few malformed ones aside) have the same number of fields.
        if count > 1 and counts.count(count) * 3 >= len(counts) * 2:
            consistent.append((delimiter, count))
    for delimiter, count in consistent:
        if count == num_columns:
            return delimiter
    return consistent[0][0] if consistent else ","


def _first_record(sample: str, delimiter: str) -> list[str]:
    records = _records(sample, delimiter)
    return records[0] if records else []


def _normal(name: str) -> str:
    """A name as compared: case, spaces, ``_`` and ``-`` aside (``E-mail`` is ``email``)."""
    return re.sub(r"[\s_\-]+", "", name.strip().casefold())


def _looks_like_header(first: Sequence[str], names: Sequence[str]) -> bool:
    known = {_normal(name) for name in names}
    matches = sum(1 for field_ in first if _normal(field_) in known)
    return matches > 0 and matches * 2 >= len(first)


def _near_names(first: Sequence[str], names: Sequence[str]) -> list[tuple[str, str]]:
    """Fields of the first row that are close to column names (a header with typos)."""
    known = [_normal(name) for name in names]
    near = []
    for field_ in first:
        match = difflib.get_close_matches(_normal(field_), known, n=1, cutoff=0.75)
        if match and not re.fullmatch(r"[\d\s.,:+\-/]*", field_):
            near.append((field_, names[known.index(match[0])]))
    return near if len(near) * 2 >= max(len(first), 1) else []


def _map_columns(header: Sequence[str], names: Sequence[str]) -> list[int]:
    """The header's index of each node column; refuses missing, extra and repeated columns."""
    fields = [_normal(field_) for field_ in header]
    wanted = [_normal(name) for name in names]
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, field_ in enumerate(fields):
        if field_ in seen:
            problems.append(f"column {header[index].strip()!r} appears twice in the header")
        seen.setdefault(field_, index)
    missing = [names[i] for i, name in enumerate(wanted) if name not in seen]
    extra = [header[i].strip() for i, field_ in enumerate(fields) if field_ not in set(wanted)]
    for name in missing:
        near = _closest(name, extra)
        if near is None:
            problems.append(f"the file has no column {name!r}")
        else:
            extra.remove(near)
            problems.append(
                f"the file has no column {name!r}: is its column {near!r} it? (rename it in "
                "the header)"
            )
    for name in extra:
        problems.append(f"the file's column {name!r} is not a column of the table")
    if problems:
        raise DatasetRejectedError(
            "the file's header does not match the table's columns:\n  - "
            + "\n  - ".join(problems)
            + "\n  the table's columns: "
            + ", ".join(names),
            stage="local",
        )
    return [seen[name] for name in wanted]


def _closest(name: str, candidates: Sequence[str]) -> str | None:
    by_normal = {_normal(candidate): candidate for candidate in candidates}
    match = difflib.get_close_matches(_normal(name), list(by_normal), n=1, cutoff=0.5)
    return by_normal[match[0]] if match else None


def _shown(delimiter: str) -> str:
    return {"\t": "tab", " ": "space"}.get(delimiter, repr(delimiter))


def _end_of_first_record(data: bytes) -> int:
    """The offset after the first record (a quoted field may span lines)."""
    quotes = 0
    position = 0
    while True:
        newline = data.find(b"\n", position)
        if newline < 0:
            return len(data)
        quotes += data.count(b'"', position, newline)
        position = newline + 1
        if quotes % 2 == 0:
            return position


# -- conversion ---------------------------------------------------------------------------------


def _rewrite(
    data: bytes,
    delimiter: str,
    header_rows: int,
    order: list[int] | None,
    num_fields: int,
    numeric: list[int],
    fmt: CsvFormat,
    notes: list[str],
) -> pa.Buffer:
    """The file as the seed's CSV: commas, no header, the node's order, numbers converted."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(max(num_fields, 1))]
    malformed: list[int] = []

    def skip(row: Any) -> str:
        malformed.append(int(row.number) if row.number is not None else -1)
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=pacsv.ReadOptions(
            column_names=names, skip_rows=header_rows, use_threads=False, block_size=1 << 24
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=delimiter,
            quote_char='"',
            double_quote=True,
            newlines_in_values=True,
            invalid_row_handler=skip,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if malformed:
        rows = ", ".join(str(row) for row in malformed[:5])
        raise DatasetRejectedError(
            f"{len(malformed):,} rows of the file do not have the header's {num_fields} fields "
            f"(rows {rows}{', …' if len(malformed) > 5 else ''}, counting the header as row 1)"
            if header_rows
            else f"{len(malformed):,} rows of the file do not have the first row's {num_fields} "
            f"fields (rows {rows}{', …' if len(malformed) > 5 else ''})",
            stage="local",
        )
    if order is not None:
        table = table.select([names[i] for i in order])
    columns = list(table.columns)
    for index in numeric:
        if index >= len(columns):
            continue
        column = columns[index]
        if fmt.thousands_separator is not None:
            column = pc.replace_substring(column, fmt.thousands_separator, "")
        if fmt.decimal_comma:
            column = pc.replace_substring(column, ",", ".")
        columns[index] = column
    if numeric and fmt.thousands_separator is not None:
        notes.append(
            f"thousands separator {_shown(fmt.thousands_separator)} removed from the number columns"
        )
    if numeric and fmt.decimal_comma:
        notes.append("decimal commas turned into points in the number columns")
    table = pa.Table.from_arrays(columns, names=[f"c{i}" for i in range(len(columns))])
    sink = pa.BufferOutputStream()
    pacsv.write_csv(
        table,
        sink,
        write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return sink.getvalue()


def _samples(
    data: pa.Buffer, body: dict[str, Any], names: list[str], header_rows: int
) -> dict[int, dict[str, str | None]]:
    """The cells of the first few failing rows, keyed by their row in the file."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rows = sorted(
        {
            error["location"]["row"]
            for column in body["columns"]
            for error in column["recordedErrors"]
        }
        | {error["location"]["row"] for error in body["uniqueness"]["recordedErrors"]}
    )[:_SAMPLE_ROWS]
    if not rows:
        return {}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=lambda _: "skip"
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
            ),
        )
    except pa.ArrowException:
        return {}
    found: dict[int, dict[str, str | None]] = {}
    for row in rows:
        if 0 < row <= table.num_rows:
            found[row + header_rows] = table.slice(row - 1, 1).to_pylist()[0]
    return found
