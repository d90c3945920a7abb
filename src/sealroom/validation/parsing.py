"""From a plaintext buffer to a table of strings: file checks and CSV parsing, all in memory.

The input is one CSV file **without header row**: UTF-8, comma-delimited, RFC 4180 double-quote
quoting (``""`` inside a quoted field is one quote), LF or CRLF line endings, optional final
newline.

Steps, in order (each one stops the file with a :class:`FileError` that names the rule, never data):

1. A UTF-8 byte-order mark is skipped (Excel writes one); nothing else is stripped.
2. Magic bytes of compressed, archive and columnar formats → ``INVALID_FILE_TYPE``. Nothing is ever
   decompressed: a gzip bomb is rejected by its first two bytes.
3. NUL bytes → ``INVALID_FILE_TYPE`` (no text file has them; random binary almost always does).
4. Not UTF-8 → ``INVALID_FILE_ENCODING``, with the byte offset and line of the first bad sequence.
5. An odd number of double quotes → ``UNTERMINATED_QUOTE``: a quoted field is never closed (it
   would silently swallow the rest of the file) or a quote stands inside an unquoted field.
6. Parse with pyarrow's multi-threaded reader. If a record has the wrong number of columns, parse
   again single-threaded, where pyarrow numbers the records it hands to our callback; the callback
   runs once per *malformed* record only and is capped by ``max_malformed_rows``.
7. A record longer than ``max_line_bytes`` → ``LINE_TOO_LONG`` (pyarrow refuses records longer
   than about twice its block size; shorter ones over the limit are found from the field lengths).

Invariants:

* Zero copies of the input and no disk: the buffer is viewed through ``pyarrow.py_buffer`` and the
  byte scans are Arrow kernels over that view. The parsed table owns its memory (pyarrow copies the
  values), so the caller may wipe its plaintext buffer afterwards.
* No Python code runs per row, except the capped per-malformed-record callback.
* pyarrow's exception texts can quote the file; they are never passed on, only mapped to codes.
"""

from __future__ import annotations

import codecs
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sealroom.errors import LimitExceededError
from sealroom.model.columns import TableSchema
from sealroom.validation.report import (
    ErrorCode,
    FileError,
    MalformedRow,
    Section,
)

UTF8_BOM = b"\xef\xbb\xbf"

# Signatures of formats people upload by mistake (or to attack a parser), matched at the start
# of the file. Signatures that are printable text are made long enough (or, for Parquet, checked
# at both ends) that no CSV a person writes starts with them.
_BINARY_SIGNATURES: tuple[tuple[re.Pattern[bytes], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), name)
    for pattern, name in (
        (rb"\x1f\x8b", "a gzip archive"),
        (rb"PK\x03\x04", "a zip archive (or an Office document)"),
        (rb"PK\x05\x06", "an empty zip archive"),
        (rb"PK\x07\x08", "a spanned zip archive"),
        (rb"BZh[1-9]1AY&SY", "a bzip2 archive"),
        (rb"\xfd7zXZ\x00", "an xz archive"),
        (rb"\x28\xb5\x2f\xfd", "a zstd archive"),
        (rb"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (rb"\x04\x22\x4d\x18", "an LZ4 frame"),
        (rb"PAR1.*PAR1\Z", "a Parquet file"),
        (rb"ARROW1\x00\x00", "an Arrow IPC file"),
        (rb"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office document"),
        (rb"%PDF-[12]\.", "a PDF document"),
    )
)
# Enough of the head for every signature above (Parquet's trailer is added separately).
_SIGNATURE_HEAD_BYTES = 16

# pyarrow parses in blocks; a record may span at most two blocks, so the block is the unit of
# memory the parser needs per record. Measured on 10M rows x 4 string columns (2 cores, warm
# allocator): 1 MiB blocks (pyarrow's default) 0.85 s, 4 MiB 0.65 s, 16 MiB 1.0 s. Records
# between max_line_bytes and the block size parse, and are then caught by step 7's length check.
MIN_BLOCK_BYTES = 4 << 20

# Reading the input in slices when locating a UTF-8 error bounds the decoded text held at once.
_UTF8_SCAN_SLICE_BYTES = 8 << 20

_NEWLINE = pa.scalar(ord("\n"), pa.uint8())
_QUOTE = pa.scalar(ord('"'), pa.uint8())


@dataclass(frozen=True)
class Inspection:
    """What the byte scans found out about a buffer that passed them."""

    body: pa.Buffer  # the CSV bytes, byte-order mark removed
    has_quotes: bool


@dataclass(frozen=True)
class ParsedCsv:
    """The records with the right number of columns, as strings, plus what was skipped."""

    table: pa.Table  # one string column per schema column, named by Column.name
    num_records: int  # all records, malformed ones included
    num_too_few: int
    num_too_many: int
    recorded_malformed: tuple[MalformedRow, ...]
    # Record number of each table row, or None when no record was skipped (row i is record i).
    record_numbers: npt.NDArray[np.int64] | None

    @property
    def num_malformed(self) -> int:
        return self.num_too_few + self.num_too_many


def as_buffer(data: bytes | bytearray | memoryview) -> pa.Buffer:
    """A zero-copy Arrow view of the caller's bytes (which must be C-contiguous)."""
    return pa.py_buffer(memoryview(data).cast("B"))


def _byte_view(buffer: pa.Buffer) -> pa.Array:
    return pa.Array.from_buffers(pa.uint8(), buffer.size, [None, buffer])


def _count_byte(view: pa.Array, byte: pa.Scalar) -> int:
    return int(pc.sum(pc.equal(view, byte)).as_py() or 0)


def inspect_buffer(buffer: pa.Buffer) -> Inspection | FileError:
    """Steps 1-5 of the module docstring."""
    body = buffer
    # 1. Skip a UTF-8 byte-order mark.
    if body.size >= len(UTF8_BOM) and body[: len(UTF8_BOM)].to_pybytes() == UTF8_BOM:
        body = body.slice(len(UTF8_BOM))
    if body.size == 0:
        return FileError(Section.TABLE, ErrorCode.EMPTY_FILE, "the file is empty")
    # 2. Magic bytes, on the head and tail only (a Parquet file also ends in PAR1).
    head = body[:_SIGNATURE_HEAD_BYTES].to_pybytes() + body[max(0, body.size - 4) :].to_pybytes()
    for signature, name in _BINARY_SIGNATURES:
        if signature.match(head):
            return FileError(
                Section.SCHEMA,
                ErrorCode.INVALID_FILE_TYPE,
                f"the file is {name}, not a CSV text file; upload the uncompressed CSV",
            )
    view = _byte_view(body)
    # 3 and 4 share one pass: min finds NUL bytes, max < 0x80 proves plain ASCII (valid UTF-8).
    smallest, largest = (int(v.as_py()) for v in pc.min_max(view).values())
    if smallest == 0:
        offset = int(pc.index(view, pa.scalar(0, pa.uint8())).as_py())
        return FileError(
            Section.SCHEMA,
            ErrorCode.INVALID_FILE_TYPE,
            f"the file contains NUL bytes (the first at byte offset {offset}); "
            "it is a binary file, not CSV text",
        )
    if largest >= 0x80 and not is_utf8(body):
        offset = _first_invalid_utf8_offset(body)
        line = _count_byte(_byte_view(body.slice(0, offset)), _NEWLINE) + 1
        return FileError(
            Section.SCHEMA,
            ErrorCode.INVALID_FILE_ENCODING,
            f"the file is not valid UTF-8: the first invalid byte sequence is at byte offset "
            f"{offset} (line {line})",
        )
    # 5. Quote balance. Every well-formed quoted field holds an even number of quote characters.
    num_quotes = _count_byte(view, _QUOTE)
    if num_quotes % 2:
        return FileError(
            Section.SCHEMA,
            ErrorCode.UNTERMINATED_QUOTE,
            "the file has an odd number of double quotes: a quoted field is never closed, or a "
            "double quote stands inside an unquoted field",
        )
    return Inspection(body=body, has_quotes=num_quotes > 0)


def is_utf8(buffer: pa.Buffer) -> bool:
    """Whether ``buffer`` is valid UTF-8 (also used by the SDK to detect an encoding)."""
    # Arrow validates UTF-8 with SIMD when casting binary to string; wrapping the buffer as one
    # large_binary value makes that a zero-copy check of the whole file.
    offsets = pa.py_buffer(np.array([0, buffer.size], dtype=np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buffer])
    try:
        whole.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _first_invalid_utf8_offset(buffer: pa.Buffer) -> int:
    """Byte offset of the first invalid sequence (only called once the file is known bad)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    raw = memoryview(buffer)
    for start in range(0, len(raw), _UTF8_SCAN_SLICE_BYTES):
        piece = raw[start : start + _UTF8_SCAN_SLICE_BYTES]
        pending = len(decoder.getstate()[0])  # bytes of a sequence split across slices
        try:
            decoder.decode(piece, final=start + len(piece) >= len(raw))
        except UnicodeDecodeError as error:
            return start - pending + error.start
    return len(raw)  # unreachable for a buffer that failed validation


class _MalformedRecords:
    """The invalid-row callback's state. Called only for malformed records, capped."""

    def __init__(self, expected: int, record_cap: int, limit: int) -> None:
        self.expected = expected
        self.record_cap = record_cap
        self.limit = limit
        self.too_few = 0
        self.too_many = 0
        self.numbers = array("q")  # 8 bytes per malformed record, at most `limit` of them
        self.recorded: list[MalformedRow] = []
        self.over_limit = False

    def __call__(self, row: pacsv.InvalidRow) -> str:
        if row.number is None:  # pyarrow numbers records when parsing single-threaded
            return "error"
        if len(self.numbers) >= self.limit:
            self.over_limit = True
            return "error"
        record = int(row.number) - 1  # pyarrow counts non-empty records from 1
        self.numbers.append(record)
        if row.actual_columns < self.expected:
            self.too_few += 1
        else:
            self.too_many += 1
        if len(self.recorded) < self.record_cap:
            self.recorded.append(MalformedRow(record, self.expected, int(row.actual_columns)))
        return "skip"


class _StopAtFirstMalformed:
    """Fast-path callback: any malformed record sends us to the numbered single-threaded parse."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, row: pacsv.InvalidRow) -> str:
        self.seen = True  # pyarrow calls back holding the GIL: a plain store is enough
        return "error"


def parse_records(
    inspection: Inspection,
    schema: TableSchema,
    *,
    max_line_bytes: int,
    max_malformed_rows: int,
    max_recorded_schema_errors: int,
    use_threads: bool,
) -> ParsedCsv | FileError:
    """Steps 6 and 7 of the module docstring."""
    names = [column.name for column in schema.columns]
    block_size = max(max_line_bytes, MIN_BLOCK_BYTES)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        # Only an empty field is missing; pyarrow's default list ("NULL", "NaN", "N/A", ...)
        # would turn real values into nulls.
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        check_utf8=False,  # the whole buffer was validated in one pass by inspect_buffer
    )

    def read(threaded: bool, handler: Callable[[pacsv.InvalidRow], str]) -> pa.Table:
        parse = pacsv.ParseOptions(
            delimiter=",",
            quote_char='"',
            double_quote=True,
            escape_char=False,
            # The chunker must track quotes when a quoted field may hold a line break; that costs
            # speed, so only files that contain quotes pay for it.
            newlines_in_values=inspection.has_quotes,
            ignore_empty_lines=True,
            invalid_row_handler=handler,
        )
        options = pacsv.ReadOptions(column_names=names, use_threads=threaded, block_size=block_size)
        try:
            return pacsv.read_csv(
                pa.BufferReader(inspection.body),
                read_options=options,
                parse_options=parse,
                convert_options=convert,
            )
        except pa.ArrowMemoryError:
            raise LimitExceededError("the parsed file does not fit in memory") from None

    if use_threads:
        fast = _StopAtFirstMalformed()
        try:
            table = read(True, fast)
        except pa.ArrowException as error:
            if not fast.seen:
                return _parse_failure(error, max_line_bytes)
            # A malformed record: fall through to the numbered parse.
        else:
            parsed = ParsedCsv(table, table.num_rows, 0, 0, (), None)
            return _checked_lengths(parsed, max_line_bytes, len(names))

    malformed = _MalformedRecords(len(names), max_recorded_schema_errors, max_malformed_rows)
    try:
        table = read(False, malformed)
    except pa.ArrowException as error:
        if malformed.over_limit:
            return FileError(
                Section.SCHEMA,
                ErrorCode.TOO_MANY_MALFORMED_ROWS,
                f"more than {max_malformed_rows} rows have the wrong number of columns "
                f"(expected {len(names)}); validation stopped",
            )
        return _parse_failure(error, max_line_bytes)
    num_records = table.num_rows + len(malformed.numbers)
    # Records reach the callback in file order, so the rows that survived are exactly the other
    # record numbers, in order.
    keep = np.ones(num_records, dtype=np.bool_)
    keep[np.frombuffer(malformed.numbers, dtype=np.int64)] = False
    parsed = ParsedCsv(
        table=table,
        num_records=num_records,
        num_too_few=malformed.too_few,
        num_too_many=malformed.too_many,
        recorded_malformed=tuple(malformed.recorded),
        record_numbers=np.flatnonzero(keep).astype(np.int64, copy=False),
    )
    return _checked_lengths(parsed, max_line_bytes, len(names))


def _parse_failure(error: pa.ArrowException, max_line_bytes: int) -> FileError:
    # The text is inspected only to choose a code; it is never copied into the report. (An
    # unnumbered malformed record, which pyarrow never produces single-threaded, lands here too.)
    if "straddling" in str(error):
        return _line_too_long(max_line_bytes, None)
    return FileError(
        Section.SCHEMA,
        ErrorCode.CSV_PARSE_ERROR,
        "the file could not be parsed as CSV (comma-delimited, double-quoted, no header row)",
    )


def _line_too_long(max_line_bytes: int, row: int | None) -> FileError:
    return FileError(
        Section.SCHEMA,
        ErrorCode.LINE_TOO_LONG,
        f"a row is longer than the limit of {max_line_bytes} bytes",
        row,
    )


def _checked_lengths(
    parsed: ParsedCsv, max_line_bytes: int, num_columns: int
) -> ParsedCsv | FileError:
    """Step 7: the record length is the field lengths plus the delimiters (quotes not counted)."""
    table = parsed.table
    # An upper bound first, from each column's longest value (read off the string offsets: no
    # per-value array is built); only when it could be over are the records summed.
    bound = sum(_longest(column) for column in table.columns) + num_columns - 1
    if bound <= max_line_bytes:  # the common case: no record can be over, no per-row sum needed
        return parsed
    lengths = [pc.binary_length(column) for column in table.columns]
    filled = [pc.fill_null(length, 0) for length in lengths]
    total = filled[0]
    for length in filled[1:]:
        total = pc.add(total, length)
    over = pc.greater(total, max_line_bytes - (num_columns - 1))
    positions = pc.indices_nonzero(over)
    if len(positions) == 0:
        return parsed
    first = int(positions[0].as_py())
    if parsed.record_numbers is not None:
        first = int(parsed.record_numbers[first])
    return _line_too_long(max_line_bytes, first)


def _longest(column: pa.ChunkedArray) -> int:
    """At least the byte length of the longest value of a string column (the span of the
    longest value slot; a null slot normally spans none)."""
    longest = 0
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        # A null's offsets span no bytes; the offsets of a chunk start at its slice offset.
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
        window = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
        longest = max(longest, int(np.diff(window).max()))
    return longest
