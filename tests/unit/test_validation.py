"""End-to-end tests of table validation: report shape, outcomes, malformed files, privacy."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random
import time
import zipfile
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sealroom.errors import ConfigurationError
from sealroom.model.columns import Column, FormatType, NumericRangeRule, TableSchema
from sealroom.validation import (
    ValidationLimits,
    ValidationResult,
    arrow_schema,
    empty_table,
    validate_table,
)

EMAIL = FormatType.EMAIL
INTEGER = FormatType.INTEGER
STRING = FormatType.STRING


def col(name: str, fmt: FormatType = STRING, *, nullable: bool = True, **extra: Any) -> Column:
    return Column(name=name, format_type=fmt, is_nullable=nullable, **extra)


def table_schema(
    *columns: Column, unique: tuple[tuple[int, ...], ...] = (), drop: bool = False
) -> TableSchema:
    return TableSchema(columns=columns, unique_column_combinations=unique, drop_invalid_rows=drop)


THREE = table_schema(col("a"), col("b"), col("c"))
PEOPLE = table_schema(
    col("email", EMAIL, nullable=False),
    col("age", INTEGER, in_range=NumericRangeRule(greater_than_equals=0, less_than=150)),
    col("city"),
    unique=((0,),),
)


def run(
    data: bytes | bytearray | memoryview, schema: TableSchema, **limits: int
) -> ValidationResult:
    result = validate_table(data, schema, limits=ValidationLimits(**limits))
    json.dumps(result.report)  # always JSON-serialisable
    return result


def body(result: ValidationResult) -> dict[str, Any]:
    report = result.report["report"]
    assert isinstance(report, dict)
    return report


def schema_codes(result: ValidationResult) -> list[str]:
    return [e["code"] for e in body(result)["schema"]["recordedErrors"]]


def table_codes(result: ValidationResult) -> list[str]:
    return [e["code"] for e in body(result)["table"]["recordedErrors"]]


# --- happy paths and report shape ---------------------------------------------------------------


def test_valid_file_passes_with_typed_table_and_full_report_shape() -> None:
    result = run(b"a@x.org,31,Berlin\nb@y.com,,\n", PEOPLE)
    assert result.passed
    assert result.report["version"] == "v0"
    report = body(result)
    assert report == {
        "outcome": "PASSED",
        "numRowsTotal": 2,
        "numInvalidRowsTotal": 0,
        "numInvalidRowsByErrorCode": {},
        "columns": [
            {"column": 0, "name": "email", "numErrorsTotal": 0, "recordedErrors": []},
            {"column": 1, "name": "age", "numErrorsTotal": 0, "recordedErrors": []},
            {"column": 2, "name": "city", "numErrorsTotal": 0, "recordedErrors": []},
        ],
        "schema": {"numErrorsTotal": 0, "recordedErrors": []},
        "table": {"numErrorsTotal": 0, "recordedErrors": []},
        "uniqueness": {"numErrorsTotal": 0, "recordedErrors": []},
        "hints": [],
        "warnings": [],
    }
    assert result.table is not None
    assert result.table.schema == arrow_schema(PEOPLE)
    assert result.table.to_pylist() == [
        {"email": "a@x.org", "age": 31, "city": "Berlin"},
        {"email": "b@y.com", "age": None, "city": None},
    ]


def test_arrow_schema_and_empty_table() -> None:
    schema = table_schema(
        col("i", INTEGER, nullable=False),
        col("f", FormatType.FLOAT),
        col("d", FormatType.DATE_ISO8601),
        col("h", EMAIL, hash_with="SHA256_HEX"),
        col("ts", FormatType.TIMESTAMP),
        col("tz", FormatType.TIMESTAMP_TZ),
        Column(name="m", format_type=FormatType.DECIMAL, precision=15, scale=2),
        col("b", FormatType.BOOLEAN, nullable=False),
    )
    expected = pa.schema(
        [
            pa.field("i", pa.int64(), nullable=False),
            pa.field("f", pa.float64()),
            pa.field("d", pa.date32()),
            pa.field("h", pa.string()),
            pa.field("ts", pa.timestamp("us")),
            pa.field("tz", pa.timestamp("us", tz="UTC")),
            pa.field("m", pa.decimal128(15, 2)),
            pa.field("b", pa.bool_(), nullable=False),
        ]
    )
    assert arrow_schema(schema) == expected
    empty = empty_table(schema)
    assert empty.num_rows == 0
    assert empty.schema == expected


def test_failed_report_records_every_kind_of_row_error_with_stable_row_numbers() -> None:
    data = (
        b"a@x.org,1,x\n"  # 0 ok
        b"not-an-email,2,x\n"  # 1 INVALID_EMAIL_FORMAT
        b"a@x.org,3,x\n"  # 2 duplicate of row 0
        b"c@x.org,4\n"  # 3 NOT_ENOUGH_COLUMNS_PROVIDED
        b"\n"  # blank line: not a record
        b",999,x\n"  # 4 EMPTY_CELL and INVALID_NUMERIC_RANGE
        b"d@x.org,5,x,extra\n"  # 5 TOO_MANY_COLUMNS_PROVIDED
        b"e@x.org,1.5,x\n"  # 6 INVALID_INTEGER_FORMAT
    )
    result = run(data, PEOPLE)
    assert not result.passed
    assert result.table is None
    report = body(result)
    assert report["outcome"] == "FAILED"
    assert report["numRowsTotal"] == 7
    assert report["numInvalidRowsTotal"] == 6
    assert report["numInvalidRowsByErrorCode"] == {
        "DUPLICATE_VALUES": 1,
        "EMPTY_CELL": 1,
        "INVALID_EMAIL_FORMAT": 1,
        "INVALID_INTEGER_FORMAT": 1,
        "INVALID_NUMERIC_RANGE": 1,
        "NOT_ENOUGH_COLUMNS_PROVIDED": 1,
        "TOO_MANY_COLUMNS_PROVIDED": 1,
    }
    assert "dropInvalidRows" not in report
    email, age, _ = report["columns"]
    assert [(e["code"], e["location"]) for e in email["recordedErrors"]] == [
        ("INVALID_EMAIL_FORMAT", {"row": 2, "column": 0}),
        ("EMPTY_CELL", {"row": 5, "column": 0}),
    ]
    assert [(e["code"], e["location"]["row"]) for e in age["recordedErrors"]] == [
        ("INVALID_NUMERIC_RANGE", 5),
        ("INVALID_INTEGER_FORMAT", 7),
    ]
    assert age["recordedErrors"][0]["message"] == (
        "value is outside the allowed range (>= 0 and < 150)"
    )
    assert report["schema"] == {
        "numErrorsTotal": 2,
        "recordedErrors": [
            {
                "code": "NOT_ENOUGH_COLUMNS_PROVIDED",
                "message": "expected 3 columns, found 2",
                "row": 4,
            },
            {
                "code": "TOO_MANY_COLUMNS_PROVIDED",
                "message": "expected 3 columns, found 4",
                "row": 6,
            },
        ],
    }
    assert report["uniqueness"]["numErrorsTotal"] == 1
    (duplicate,) = report["uniqueness"]["recordedErrors"]
    assert duplicate["code"] == "DUPLICATE_VALUES"
    assert duplicate["location"] == {"columns": [0], "names": ["email"], "row": 3}
    assert duplicate["message"] == "the values of column 'email' repeat those of row 1"


def test_drop_invalid_rows_passes_and_keeps_only_valid_rows() -> None:
    data = b"a@x.org,1,x\nbad,2,x\na@x.org,3,x\nc@x.org,4\nd@x.org,5,y\n"
    result = run(data, PEOPLE.model_copy(update={"drop_invalid_rows": True}))
    assert result.passed
    report = body(result)
    assert report["dropInvalidRows"] == {"numInvalidRowsDropped": 3, "numRowsRemaining": 2}
    assert report["numInvalidRowsTotal"] == 3
    assert result.table is not None
    assert result.table.to_pylist() == [
        {"email": "a@x.org", "age": 1, "city": "x"},
        {"email": "d@x.org", "age": 5, "city": "y"},
    ]


def test_drop_invalid_rows_may_leave_an_empty_table() -> None:
    schema = table_schema(col("n", INTEGER), drop=True)
    result = run(b"x\ny\n", schema)
    assert result.passed
    assert body(result)["dropInvalidRows"] == {"numInvalidRowsDropped": 2, "numRowsRemaining": 0}
    assert result.table is not None
    assert result.table.num_rows == 0
    assert result.table.schema == arrow_schema(schema)


def test_drop_invalid_rows_does_not_rescue_a_file_level_error() -> None:
    schema = table_schema(col("a"), drop=True)
    result = run(b"\xff\xfe\n", schema)
    assert not result.passed
    assert result.table is None
    assert body(result)["dropInvalidRows"] == {"numInvalidRowsDropped": 0, "numRowsRemaining": 0}


# --- files that are not (good) CSV ---------------------------------------------------------------


def test_wrong_column_count_everywhere_is_counted_not_a_crash() -> None:
    data = b"".join(b"x,y\n" if i % 2 else b"x,y,z,w\n" for i in range(50_000))
    result = run(data, THREE)
    report = body(result)
    assert report["numRowsTotal"] == 50_000
    assert report["numInvalidRowsByErrorCode"] == {
        "NOT_ENOUGH_COLUMNS_PROVIDED": 25_000,
        "TOO_MANY_COLUMNS_PROVIDED": 25_000,
    }
    assert report["schema"]["numErrorsTotal"] == 50_000
    assert len(report["schema"]["recordedErrors"]) == 100
    assert [e["row"] for e in report["schema"]["recordedErrors"][:3]] == [1, 2, 3]


def test_file_where_every_row_is_malformed_and_drop_leaves_nothing() -> None:
    data = b"just-one-field\n" * 200_000
    started = time.perf_counter()
    result = run(data, table_schema(col("a"), col("b"), drop=True))
    assert time.perf_counter() - started < 10  # the per-malformed-row callback is cheap
    assert result.passed
    assert body(result)["dropInvalidRows"] == {
        "numInvalidRowsDropped": 200_000,
        "numRowsRemaining": 0,
    }


@pytest.mark.parametrize("threads", [1, 2])
def test_every_row_malformed_with_typed_columns_gives_an_empty_typed_table(threads: int) -> None:
    schema = PEOPLE.model_copy(update={"drop_invalid_rows": True})
    result = run(b"a@x.org\n" * 1000, schema, threads=threads)
    assert result.passed
    assert result.table is not None
    assert result.table.num_rows == 0
    assert result.table.schema == arrow_schema(schema)
    assert body(result)["numInvalidRowsByErrorCode"] == {"NOT_ENOUGH_COLUMNS_PROVIDED": 1000}


def test_dropped_rows_leave_no_null_in_non_nullable_columns() -> None:
    schema = table_schema(col("n", INTEGER, nullable=False), col("s", nullable=False), drop=True)
    result = run(b"1,a\n,b\n3,\n", schema)
    assert result.table is not None
    result.table.validate(full=True)
    assert result.table.to_pylist() == [{"n": 1, "s": "a"}]
    assert result.table.schema == arrow_schema(schema)


def test_too_many_malformed_rows_stops_with_a_file_level_error() -> None:
    result = run(b"x\n" * 1000, table_schema(col("a"), col("b"), drop=True), max_malformed_rows=10)
    assert not result.passed
    assert schema_codes(result)[0] == "TOO_MANY_MALFORMED_ROWS"


@pytest.mark.parametrize("threads", [1, 2])
def test_malformed_row_after_multiline_quoted_record_keeps_record_numbers(threads: int) -> None:
    data = b'a,"line one\nline two",c\nx,y\n\n"p","q","r"\n'
    result = run(data, THREE, threads=threads)
    report = body(result)
    assert report["numRowsTotal"] == 3
    assert report["schema"]["recordedErrors"][0]["row"] == 2
    drop = run(data, THREE.model_copy(update={"drop_invalid_rows": True}))
    assert drop.table is not None
    assert drop.table.to_pylist() == [
        {"a": "a", "b": "line one\nline two", "c": "c"},
        {"a": "p", "b": "q", "c": "r"},
    ]


def test_cell_error_after_a_malformed_row_has_its_own_record_number() -> None:
    schema = table_schema(col("n", INTEGER), col("s"))
    data = b"1,a\n2\n3,b\nx,c\n"
    result = run(data, schema)
    (error,) = body(result)["columns"][0]["recordedErrors"]
    assert error["location"] == {"row": 4, "column": 0}


def test_invalid_utf8_in_the_middle_is_an_encoding_error_with_its_position() -> None:
    data = b"a,b,c\n" * 1000 + b"d,\xc3\x28,f\n" + b"a,b,c\n" * 10
    result = run(data, THREE)
    assert not result.passed
    assert body(result)["numRowsTotal"] == 0
    (error,) = body(result)["schema"]["recordedErrors"]
    assert error["code"] == "INVALID_FILE_ENCODING"
    assert f"byte offset {6000 + 2}" in error["message"]
    assert "line 1001" in error["message"]
    assert error["row"] is None


def test_utf8_error_offset_across_scan_slices() -> None:
    # A valid 3-byte sequence split over the 8 MiB slice boundary, then a bad byte.
    prefix = b"a" * ((8 << 20) - 1) + "€".encode()
    data = prefix + b"\n\xff\n"
    (error,) = body(run(data, table_schema(col("a"))))["schema"]["recordedErrors"]
    assert error["code"] == "INVALID_FILE_ENCODING"
    assert f"byte offset {len(prefix) + 1} (line 2)" in error["message"]


def test_non_ascii_utf8_is_accepted() -> None:
    result = run("Zürich,São Paulo,東京\n".encode(), THREE)
    assert result.passed
    assert result.table is not None
    assert result.table.to_pylist() == [{"a": "Zürich", "b": "São Paulo", "c": "東京"}]


def test_unterminated_quote_at_the_end() -> None:
    result = run(b'a,b,c\nd,e,"f\ng,h,i\n', THREE)
    assert not result.passed
    assert schema_codes(result) == ["UNTERMINATED_QUOTE"]


def test_hundred_megabyte_single_line_is_refused_quickly() -> None:
    data = b"x" * (100 << 20)
    started = time.perf_counter()
    result = run(data, THREE)
    assert time.perf_counter() - started < 10
    assert not result.passed
    (error,) = body(result)["schema"]["recordedErrors"]
    assert error["code"] == "LINE_TOO_LONG"
    assert str(1 << 20) in error["message"]


def test_line_just_over_the_limit_is_found_with_its_row() -> None:
    # Between the limit and twice pyarrow's block: found from the field lengths.
    data = b"a,b,c\n" + b"x" * 1_500_000 + b",b,c\nd,e,f\n"
    result = run(data, THREE)
    (error,) = body(result)["schema"]["recordedErrors"]
    assert (error["code"], error["row"]) == ("LINE_TOO_LONG", 2)
    assert run(b"a,b,c\n" + b"x" * 50 + b",b,c\n", THREE, max_line_bytes=100).passed
    small = run(b"a,b,c\n" + b"x" * 200 + b",b,c\n", THREE, max_line_bytes=100)
    assert schema_codes(small) == ["LINE_TOO_LONG"]


@pytest.mark.parametrize("data", [b"", b"\n", b"\n\n\n\n", b"\r\n\r\n", b"\xef\xbb\xbf"])
def test_empty_files(data: bytes) -> None:
    result = run(data, THREE)
    assert not result.passed
    assert table_codes(result) == ["EMPTY_FILE"]
    assert body(result)["table"]["numErrorsTotal"] == 1


def test_gzip_bomb_is_refused_by_its_magic_bytes_without_decompressing() -> None:
    bomb = gzip.compress(bytes(32 << 20), compresslevel=1)  # 32 MiB inflated, ~1000:1
    started = time.perf_counter()
    result = run(bomb, THREE)
    assert time.perf_counter() - started < 1
    assert schema_codes(result) == ["INVALID_FILE_TYPE"]
    assert "gzip" in body(result)["schema"]["recordedErrors"][0]["message"]


def test_zip_and_parquet_are_refused() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("data.csv", "a,b,c\n")
    assert schema_codes(run(archive.getvalue(), THREE)) == ["INVALID_FILE_TYPE"]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"a": ["x"], "b": ["y"], "c": ["z"]}), sink)
    parquet = sink.getvalue().to_pybytes()
    result = run(parquet, THREE)
    assert schema_codes(result) == ["INVALID_FILE_TYPE"]
    assert "Parquet" in body(result)["schema"]["recordedErrors"][0]["message"]


def _arrow_ipc_file() -> bytes:
    sink = pa.BufferOutputStream()
    table = pa.table({"a": ["x"]})
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        (bz2.compress(b"a,b,c\n" * 1000), "bzip2"),
        (lzma.compress(b"a,b,c\n" * 1000), "xz"),
        (_arrow_ipc_file(), "Arrow"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    ],
)
def test_other_binary_formats_are_named(payload: bytes, name: str) -> None:
    result = run(payload, THREE)
    assert schema_codes(result) == ["INVALID_FILE_TYPE"]
    assert name in body(result)["schema"]["recordedErrors"][0]["message"]


@pytest.mark.parametrize(
    "data", [b"PAR1,b,c\n", b"BZh,b,c\n", b"ARROW1,b,c\n", b"%PDF-report,b,c\n", b"PK,b,c\n"]
)
def test_csv_rows_that_merely_start_like_a_binary_format_are_fine(data: bytes) -> None:
    assert run(data, THREE).passed


@pytest.mark.parametrize("seed", range(5))
def test_random_binary_is_refused(seed: int) -> None:
    noise = random.Random(seed).randbytes(64 << 10)
    result = run(noise, THREE)
    assert not result.passed
    assert schema_codes(result)[0] in {"INVALID_FILE_TYPE", "INVALID_FILE_ENCODING"}


def test_nul_bytes_make_a_binary_file() -> None:
    result = run(b"a,b,c\nd,\x00,f\n", THREE)
    assert schema_codes(result) == ["INVALID_FILE_TYPE"]
    assert "byte offset 8" in body(result)["schema"]["recordedErrors"][0]["message"]


def test_crlf_line_endings_just_work() -> None:
    result = run(b"a@x.org,1,x\r\nb@x.org,2,y\r\n", PEOPLE)
    assert result.passed
    assert result.table is not None
    assert result.table.column("city").to_pylist() == ["x", "y"]


def test_missing_final_newline_just_works() -> None:
    result = run(b"a,b,c\nd,e,f", THREE)
    assert result.passed
    assert result.table is not None
    assert result.table.num_rows == 2


def test_quoted_fields_with_commas_escaped_quotes_and_empty_values() -> None:
    data = b'"a,1","say ""hi""",""\n"",x,"multi\r\nline"\n'
    result = run(data, THREE)
    assert result.passed
    assert result.table is not None
    assert result.table.to_pylist() == [
        {"a": "a,1", "b": 'say "hi"', "c": None},
        {"a": None, "b": "x", "c": "multi\r\nline"},
    ]


def test_byte_order_mark_is_skipped() -> None:
    result = run(b"\xef\xbb\xbfa,b,c\n", THREE)
    assert result.table is not None
    assert result.table.column("a").to_pylist() == ["a"]


def test_na_like_strings_are_values_not_nulls() -> None:
    result = run(b"NULL,NaN,N/A\n", table_schema(col("a", nullable=False), col("b"), col("c")))
    assert result.passed
    assert result.table is not None
    assert result.table.to_pylist() == [{"a": "NULL", "b": "NaN", "c": "N/A"}]


def test_memoryview_and_bytearray_inputs_and_the_table_survives_wiping_the_buffer() -> None:
    plaintext = bytearray(b"a@x.org,1,x\nb@x.org,2,y\n")
    result = run(memoryview(plaintext), PEOPLE)
    assert result.passed
    plaintext[:] = b"\x00" * len(plaintext)  # the core wipes its plaintext after validation
    assert result.table is not None
    assert result.table.column("email").to_pylist() == ["a@x.org", "b@x.org"]
    assert run(bytearray(b"a,b,c\n"), THREE).passed


# --- limits ---------------------------------------------------------------------------------------


def test_more_rows_than_allowed() -> None:
    result = run(b"a,b,c\n" * 11, THREE, max_rows=10)
    assert table_codes(result) == ["INVALID_NUMBER_OF_ROWS"]
    assert body(result)["numRowsTotal"] == 11
    assert run(b"a,b,c\n" * 10, THREE, max_rows=10).passed


def test_recorded_errors_are_capped_but_totals_exact() -> None:
    schema = table_schema(col("n", INTEGER, nullable=False), unique=((0,),))
    data = b"x\n" * 500 + b"7\n" * 300
    result = run(data, schema, max_recorded_errors_per_column=5, max_recorded_uniqueness_errors=3)
    report = body(result)
    assert report["columns"][0]["numErrorsTotal"] == 500
    assert len(report["columns"][0]["recordedErrors"]) == 5
    assert report["uniqueness"]["numErrorsTotal"] == 299
    assert [e["location"]["row"] for e in report["uniqueness"]["recordedErrors"]] == [502, 503, 504]
    assert report["numInvalidRowsTotal"] == 799


@pytest.mark.parametrize(
    "field",
    [
        "max_line_bytes",
        "max_recorded_errors_per_column",
        "max_recorded_schema_errors",
        "max_rows",
        "max_malformed_rows",
        "memory_limit_bytes",
        "threads",
    ],
)
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        ValidationLimits(**{field: 0})


def test_line_limit_has_a_ceiling() -> None:
    with pytest.raises(ConfigurationError):
        ValidationLimits(max_line_bytes=1 << 30)


def test_row_slices_in_parallel_keep_row_numbers() -> None:
    rows = [b"%d,v\n" % i for i in range(200_000)]
    rows[99_999] = b"oops,v\n"  # the last row of the first slice
    rows[100_000] = b"-1,v\n"  # the first row of the second
    rows[199_999] = b",v\n"
    schema = table_schema(
        col("n", INTEGER, nullable=False, in_range=NumericRangeRule(greater_than_equals=0)),
        col("s"),
    )
    for threads in (1, 2):
        report = body(run(b"".join(rows), schema, threads=threads))
        errors = report["columns"][0]["recordedErrors"]
        assert [(e["code"], e["location"]["row"]) for e in errors] == [
            ("INVALID_INTEGER_FORMAT", 100_000),
            ("INVALID_NUMERIC_RANGE", 100_001),
            ("EMPTY_CELL", 200_000),
        ]


# --- privacy --------------------------------------------------------------------------------------


def _random_token(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("bcdfghjkmnpqrstvwxz") for _ in range(length))


def test_report_of_invalid_emails_contains_no_part_of_the_input() -> None:
    rng = random.Random(7)
    forms = ["{a} at {b}.com", "{a}@@{b}.org", "{a}@{b}", "{a}@{b}.c", "{a} @{b}.net", "@{a}{b}.de"]
    values = [
        forms[i % len(forms)].format(a=_random_token(rng, 10), b=_random_token(rng, 8))
        for i in range(300)
    ]
    data = "".join(f"{v}\n" for v in values).encode()
    schema = table_schema(col("email", EMAIL), unique=((0,),))
    text = json.dumps(run(data, schema, max_recorded_errors_per_column=1000).report)
    assert body(run(data, schema))["columns"][0]["numErrorsTotal"] == 300
    for value in values:
        for start in range(len(value) - 5):
            assert value[start : start + 6] not in text


@pytest.mark.parametrize(
    "data",
    [
        b"qzxjvk1,qzxjvk2\n",  # malformed row: pyarrow's own error quotes it
        b'qzxjvk1,"qzxjvk2\n',  # unterminated quote
        b"qzxjvk1,\xffqzxjvk2,x\n",  # encoding
        b"qzxjvk" * 400_000,  # too long: pyarrow's error would not quote, ours must not either
        b"\x1f\x8bqzxjvk",
        b"qzxjvk,1,x\n",
        b"qzxjvk@qzxjvk.qzxjvk,qzxjvk,x\n",
    ],
)
def test_no_report_quotes_the_file(data: bytes) -> None:
    for schema in (THREE, PEOPLE, PEOPLE.model_copy(update={"drop_invalid_rows": True})):
        assert "qzxjvk" not in json.dumps(run(data, schema).report)


@pytest.mark.parametrize("drop", [False, True])
def test_the_report_alone_is_the_same_report(drop: bool) -> None:
    schema = PEOPLE.model_copy(update={"drop_invalid_rows": drop})
    data = b"a@x.com,30,Bern\nnot-an-email,20,Genf\na@x.com,40,Basel\nb@x.com,,Chur\n"
    full = validate_table(data, schema)
    alone = validate_table(data, schema, keep_table=False)
    assert alone.report == full.report
    assert alone.table is None
    assert (full.table is not None) == drop


OUTCOME_FILES = [
    b"a@x.com,30,Bern\nb@x.com,40,Basel\n",  # valid
    b"a@x.com,30,Bern\nnot-an-email,20,Genf\n",  # a bad cell
    b"a@x.com,30,Bern\na@x.com,40,Basel\n",  # a duplicate key
    b"a@x.com,30,Bern\nb@x.com,40\nc@x.com,-1,Chur\n",  # too few columns, a cell out of range
    b"a@x.com,30,Bern\nb@x.com,4\x000,Basel\n",  # a NUL byte
    b'a@x.com,30,"Bern\nb@x.com,40,Basel\n',  # an unterminated quote
    b"a@x.com,30,Bern\n\xff\xfe,40,Basel\n",  # not UTF-8
    b"\n\n",  # no records
]


@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize("data", OUTCOME_FILES)
def test_outcome_only_gives_the_full_validations_outcome(data: bytes, drop: bool) -> None:
    schema = PEOPLE.model_copy(update={"drop_invalid_rows": drop})
    full = validate_table(data, schema)
    quick = validate_table(data, schema, outcome_only=True)
    assert quick.passed == full.passed
    assert quick.table is None
    if not drop or not full.passed:
        # Kept invalid rows decide the outcome, and a failed file fails before the row checks:
        # the same report as the full validation's.
        assert quick.report == full.report
    else:
        # Dropped rows never change the outcome: only malformed records were looked for.
        report, whole = body(quick), body(full)
        malformed = {"NOT_ENOUGH_COLUMNS_PROVIDED", "TOO_MANY_COLUMNS_PROVIDED"}
        assert report["numInvalidRowsByErrorCode"] == {
            code: count
            for code, count in whole["numInvalidRowsByErrorCode"].items()
            if code in malformed
        }
        assert report["schema"] == whole["schema"]
        assert [c["numErrorsTotal"] for c in report["columns"]] == [0, 0, 0]
        assert report["uniqueness"]["numErrorsTotal"] == 0


def test_outcome_only_skips_the_row_checks_only_where_they_drop_rows() -> None:
    data = b"a@x.com,30,Bern\nnot-an-email,20,Genf\na@x.com,40,Basel\nb@x.com,40\n"
    dropping = PEOPLE.model_copy(update={"drop_invalid_rows": True})
    quick = body(validate_table(data, dropping, outcome_only=True))
    full = body(validate_table(data, dropping))
    # The full validation counts the bad cell, the duplicate and the short record; the quick one
    # only the short record, the one thing it parsed for.
    assert full["numInvalidRowsTotal"] == 3
    assert quick["numInvalidRowsTotal"] == 1
    assert quick["outcome"] == full["outcome"] == "PASSED"
