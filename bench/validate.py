"""Benchmark of table validation in the trusted core (``sealroom.validation``).

Generates, in memory only (pyarrow, no file), a CSV without header of N rows x 4 columns:
``email`` (unique, EMAIL, not nullable), ``age`` (INTEGER in [0, 120]), ``city`` and ``product``
(STRING), with a uniqueness constraint on ``email``; then times

* parse: the byte checks and the CSV parse (``inspect_buffer`` + ``parse_records``),
* total: the whole ``validate_table`` call (parse included),
* validation: total - parse (cell checks, uniqueness, report, typed table).

Usage::

    PYTHONPATH=src .venv/bin/python bench/validate.py [--rows 10000000] [--repeat 3]
        [--invalid-every N]   # make every N-th e-mail invalid and duplicate every N-th+1 row
        [--drop]              # drop_invalid_rows=True
        [--quote-strings]     # write every string quoted (as pyarrow and many exporters do)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sealroom.model.columns import Column, FormatType, NumericRangeRule, TableSchema
from sealroom.validation import ValidationLimits, validate_table
from sealroom.validation.parsing import as_buffer, inspect_buffer, parse_records
from sealroom.validation.report import FileError

CITIES = ["Berlin", "Zürich", "New York", "São Paulo", "Tokyo", "Lagos", "Chennai"]


def make_csv(rows: int, invalid_every: int, *, quote_strings: bool = False) -> bytes:
    ids = pa.array(np.arange(rows, dtype=np.int64))
    id_text = pc.cast(ids, pa.string())
    domain = pc.cast(pa.array(np.arange(rows, dtype=np.int64) % 97), pa.string())
    email = pc.binary_join_element_wise("user", id_text, "@example", domain, ".com", "")
    if invalid_every:
        positions = np.arange(0, rows, invalid_every)
        bad = np.zeros(rows, dtype=np.bool_)
        bad[positions] = True
        email = pc.if_else(pa.array(bad), pa.scalar("not-an-email"), email)
        dup = np.zeros(rows, dtype=np.bool_)
        dup[positions[positions + 2 < rows] + 2] = True
        email = pc.if_else(pa.array(dup), pa.scalar("dup@example.com"), email)
    age = pa.array(18 + np.arange(rows, dtype=np.int64) % 70)
    city = pa.DictionaryArray.from_arrays(
        pa.array(np.arange(rows, dtype=np.int32) % len(CITIES)), pa.array(CITIES)
    ).cast(pa.string())
    product = pc.binary_join_element_wise(
        "product-", pc.cast(pa.array(np.arange(rows, dtype=np.int64) % 1000), pa.string()), ""
    )
    table = pa.table({"email": email, "age": age, "city": city, "product": product})
    sink = pa.BufferOutputStream()
    quoting = "needed" if quote_strings else "none"  # pyarrow's "needed" quotes every string
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style=quoting))
    return bytes(sink.getvalue().to_pybytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--invalid-every", type=int, default=0)
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--quote-strings", action="store_true")
    args = parser.parse_args()

    schema = TableSchema(
        columns=(
            Column(name="email", format_type=FormatType.EMAIL, is_nullable=False),
            Column(
                name="age",
                format_type=FormatType.INTEGER,
                in_range=NumericRangeRule(greater_than_equals=0, less_than_equals=120),
            ),
            Column(name="city", format_type=FormatType.STRING),
            Column(name="product", format_type=FormatType.STRING),
        ),
        unique_column_combinations=((0,),),
        drop_invalid_rows=args.drop,
    )
    limits = ValidationLimits()
    started = time.perf_counter()
    data = make_csv(args.rows, args.invalid_every, quote_strings=args.quote_strings)
    print(
        f"generated {args.rows:,} rows, {len(data) / 2**20:,.0f} MiB in "
        f"{time.perf_counter() - started:.1f} s; threads={limits.threads}"
    )

    parse_times: list[float] = []
    totals: list[float] = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        inspection = inspect_buffer(as_buffer(data))
        if isinstance(inspection, FileError):
            raise SystemExit(f"the generated file was refused: {inspection.message}")
        parsed = parse_records(
            inspection,
            schema,
            max_line_bytes=limits.max_line_bytes,
            max_malformed_rows=limits.max_malformed_rows,
            max_recorded_schema_errors=limits.max_recorded_schema_errors,
            use_threads=limits.threads > 1,
        )
        parse_times.append(time.perf_counter() - started)
        del parsed, inspection

        started = time.perf_counter()
        result = validate_table(data, schema, limits=limits)
        totals.append(time.perf_counter() - started)
        report = result.report["report"]
        rows_out = result.table.num_rows if result.table is not None else None
        del result

    parse = statistics.median(parse_times)
    total = statistics.median(totals)
    print(
        f"outcome={report['outcome']} invalid={report['numInvalidRowsTotal']:,} rows_out={rows_out}"
    )
    print(f"parse      {parse:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in parse_times)})")
    print(f"validation {total - parse:6.2f} s")
    print(f"total      {total:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in totals)})")
    print(f"throughput {args.rows / total:,.0f} rows/s, {len(data) / 2**20 / total:,.0f} MiB/s")


if __name__ == "__main__":
    main()
