"""Fuzzing the CSV validator (issue 21, item 10): hostile bytes never raise, never leak a value.

:func:`sealroom.validation.validate_table` documents that malformed input yields a FAILED report,
never an exception (exceptions are for wrong arguments and exhausted resources, neither of which
a few kilobytes can cause). Hypothesis feeds it arbitrary bytes and CSV-like text made of the
characters parsers trip on (quotes, separators, CR/LF, NUL, BOM, invalid UTF-8, long cells),
against random schemas of every column format, with nullability, ranges, uniqueness and
drop_invalid_rows. Every run must give a JSON-serialisable report whose outcome agrees with its
own counts, and no cell value may reach the report: each generated cell carries a marker that
the report must not contain.

Bounded: a fixed seed (``derandomize``), no example database, tens of examples per property;
the module takes a few seconds.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sealroom.model.columns import Column, FormatType, NumericRangeRule, TableSchema
from sealroom.validation import ValidationLimits, validate_table
from tests.unit.fuzz_strategies import FUZZ

#: Small limits, so that the limit paths (rows, line length, malformed rows) are reached too.
LIMITS = ValidationLimits(
    max_rows=40, max_line_bytes=512, max_malformed_rows=20, max_recorded_schema_errors=3, threads=1
)
#: Inside every generated cell: were any value echoed in a report, this would be found there.
MARKER = "zqxj"

NUMERIC = {FormatType.INTEGER, FormatType.FLOAT, FormatType.DECIMAL}


@st.composite
def columns(draw: st.DrawFn, index: int) -> Column:
    fmt = draw(st.sampled_from(list(FormatType)))
    extra: dict[str, object] = {}
    if fmt is FormatType.DECIMAL:
        extra["precision"] = draw(st.integers(1, 20))
        extra["scale"] = draw(st.integers(0, extra["precision"]))  # type: ignore[call-overload]
    if fmt in NUMERIC and draw(st.booleans()):
        extra["in_range"] = NumericRangeRule(
            greater_than_equals=draw(st.integers(-1000, 0)),
            less_than=draw(st.integers(1, 1000)),
        )
    return Column(name=f"c{index}", format_type=fmt, is_nullable=draw(st.booleans()), **extra)


@st.composite
def schemas(draw: st.DrawFn) -> TableSchema:
    width = draw(st.integers(1, 5))
    cols = tuple(draw(columns(i)) for i in range(width))
    combos = draw(
        st.lists(
            st.lists(st.integers(0, width - 1), min_size=1, max_size=width, unique=True).map(tuple),
            max_size=2,
        )
    )
    return TableSchema(
        columns=cols,
        unique_column_combinations=tuple(combos),
        drop_invalid_rows=draw(st.booleans()),
    )


#: Cells that look like each format (so that rows get past the parser to the cell checks).
_PLAUSIBLE = st.sampled_from(
    [
        "", "0", "-7", "3.25", "1e308", "NaN", "true", "FALSE", "2024-02-29", "2023-02-29",
        "2024-01-01T12:00:00", "2024-01-01T12:00:00+02:00", "+4915112345678", "a@b.example",
        "00000000-0000-0000-0000-000000000000", "255.255.255.255", "256.1.1.1", "e" * 64,
        "12345678901234567890.5", "1,000", "01/02/2024", " 5 ",
    ]
)  # fmt: skip
#: Fragments that break CSV or the cell checks, marked: a report must never contain the marker.
_HOSTILE = st.one_of(
    st.sampled_from(
        ['"quoted, with comma"', '""', '"unbalanced', 'x"y', "\r", "\n", "\r\n", "\ufeff",
         "\u2028", "日本", ",", " ", "\t"]
    ),
    st.text(max_size=12),
).map(lambda text: MARKER + text)  # fmt: skip
_LONG_CELL = MARKER * 200  # past max_line_bytes


@st.composite
def csv_bytes(draw: st.DrawFn, width: int) -> bytes:
    """Mostly rows of ``width`` plausible cells, with hostile cells, rows of the wrong width, a
    long line and a byte that is not UTF-8 mixed in now and then."""
    hostile = draw(st.sampled_from([0.0, 0.05, 0.3]))
    cell = st.one_of(_PLAUSIBLE, _HOSTILE) if hostile else _PLAUSIBLE
    row = st.lists(
        cell if hostile < 0.3 else st.one_of(cell, cell, st.just(_LONG_CELL)),
        min_size=width,
        max_size=width,
    )
    ragged = st.lists(cell, max_size=width + 2)
    rows = draw(
        st.lists(st.one_of(row, row, row, ragged) if hostile else row, min_size=1, max_size=60)
    )
    line_end = draw(st.sampled_from(["\n", "\r\n"]))
    text = line_end.join(",".join(r) for r in rows) + draw(st.sampled_from(["", line_end]))
    data = text.encode("utf-8", errors="surrogatepass")
    if data and hostile and draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[at:]
    return data


@st.composite
def tables(draw: st.DrawFn) -> tuple[bytes, TableSchema]:
    schema = draw(schemas())
    return draw(csv_bytes(len(schema.columns))), schema


def _check(data: bytes, schema: TableSchema) -> None:
    result = validate_table(data, schema, limits=LIMITS)
    report = result.report
    text = json.dumps(report)  # always JSON-serialisable
    assert MARKER not in text, "a cell value reached the validation report"
    assert report["version"] == "v0"
    outcome = report["report"]["outcome"]
    assert outcome in {"PASSED", "FAILED"}
    assert (result.table is not None) == (outcome == "PASSED")
    if result.table is not None:
        assert result.table.num_columns == len(schema.columns)
        assert result.table.num_rows <= LIMITS.max_rows


@FUZZ
@given(data=st.binary(max_size=4096), schema=schemas())
def test_arbitrary_bytes_give_a_report_never_an_exception(data: bytes, schema: TableSchema) -> None:
    _check(data, schema)


@FUZZ
@given(table=tables())
def test_hostile_csv_gives_a_report_without_values(table: tuple[bytes, TableSchema]) -> None:
    _check(*table)
