"""Preparing CSV input: tables are uploaded without a header row, comma-delimited.

``read_input_csv_file`` streams: with the default comma delimiter it returns the open file
positioned after the header record, so a multi-GB file is never loaded into memory. Other
delimiters are rewritten to commas in memory (pyarrow, imported only then: the SDK does not load
it at import), which suits files that fit in memory.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO


def _skip_header_record(handle: BinaryIO) -> None:
    """Advance past the first CSV record (a quoted header field may span lines)."""
    quotes = 0
    while True:
        line = handle.readline()
        if not line:
            return
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            return


def _rewrite_to_commas(data: bytes, delimiter: str, has_header: bool) -> io.BytesIO:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True, skip_rows=int(has_header)),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(
            column_types={}, strings_can_be_null=False, auto_dict_encode=False
        ),
    )
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) for f in table.schema]))
    out = io.BytesIO()
    pacsv.write_csv(
        table, out, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed")
    )
    out.seek(0)
    return out


def read_input_csv_string(
    content: str, /, *, has_header: bool = True, delimiter: str = ",", encoding: str = "utf-8"
) -> io.BytesIO:
    """CSV text → bytes ready to upload to a table node (header removed, commas)."""
    data = content.encode(encoding if encoding.lower() in ("utf-8", "utf8") else "utf-8")
    if delimiter != ",":
        return _rewrite_to_commas(data, delimiter, has_header)
    buffer = io.BytesIO(data)
    if has_header:
        _skip_header_record(buffer)
        buffer = io.BytesIO(buffer.read())
    return buffer


def read_input_csv_file(
    path: str | Path,
    /,
    *,
    has_header: bool = True,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> BinaryIO:
    """A CSV file → a stream ready to upload to a table node (header removed, commas)."""
    if encoding.lower() not in ("utf-8", "utf8"):
        text = Path(path).read_text(encoding=encoding)
        return read_input_csv_string(text, has_header=has_header, delimiter=delimiter)
    if delimiter != ",":
        return _rewrite_to_commas(Path(path).read_bytes(), delimiter, has_header)
    handle = open(path, "rb")  # noqa: SIM115 - handed to the caller, who uploads from it
    if has_header:
        _skip_header_record(handle)
    return handle
