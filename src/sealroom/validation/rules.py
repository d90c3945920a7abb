"""Per-column checks: formats, emptiness, numeric ranges, typed conversion. Vectorised, no loops.

Each check takes a column of strings (null = empty cell) and returns boolean masks, one per error
code, plus the typed values. The masks of one column are *disjoint*: a cell has at most one error,
the first of EMPTY_CELL → format → range. Masks never hold nulls.

What each format accepts (values are never trimmed; a leading or trailing space is an error):

* ``INTEGER``: ``^[+-]?[0-9]+$`` whose value fits int64 (leading zeros allowed).
* ``FLOAT``: decimal or exponent notation,
  ``^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?$``, and finite once parsed:
  ``nan``, ``inf`` and overflowing values such as ``1e999`` are rejected (``1e-999`` is 0).
* ``EMAIL``: pragmatic ``local@domain.tld``: exactly one ``@``, no whitespace or control
  characters, a domain of dot-separated non-empty labels whose last label has at least two
  characters, at most 254 bytes in all (RFC 5321).
* ``DATE`` (and ``DATE_ISO8601``, the seed's name for it): ``YYYY-MM-DD`` naming a real calendar
  day (leap years included). A date with a time is refused: that is a ``TIMESTAMP``.
* ``TIMESTAMP``: a date, optionally followed by ``T`` (or a space, RFC 3339) and
  ``hh:mm[:ss[.fraction]]``; hours 00-23, minutes and seconds 00-59, 1-6 fraction digits
  (microseconds, what SQL stores). No zone: the value is kept as written (a date alone is
  midnight).
* ``TIMESTAMP_TZ``: a date, ``T`` or a space, ``hh:mm[:ss[.fraction]]`` as above, and a zone:
  ``Z`` or ``±hh[:mm]`` (or ``±hhmm``). Stored as the UTC instant it names.
* ``DECIMAL(p, s)``: ``^[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)$`` with at most ``p - s`` digits
  before the point and at most ``s`` after it, leading zeros before and trailing zeros after
  not counted. Never rounded: a value with more decimal places than the scale is refused.
* ``BOOLEAN``: ``true``, ``false``, ``1`` or ``0``, in any case.
* ``PHONE_NUMBER_E164``: ``^\\+[1-9][0-9]{1,14}$``.
* ``HASH_SHA256_HEX``: 64 hexadecimal characters, either case (no case folding is done).
* ``MAID``: a mobile advertising id (IDFA, GAID): a UUID, ``8-4-4-4-12`` hexadecimal digits,
  either case.
* ``IPV4_ADDRESS``: four dot-separated decimal numbers 0-255 without leading zeros
  (``192.168.0.1``; not ``192.168.000.1``, which some parsers read as octal).
* ``STRING``: anything, including whitespace.

Invariants:

* Every function here is elementwise, so a column may be checked in row slices in parallel and
  the results concatenated (see :mod:`.table`).
* Integer range bounds are applied in the integer domain (``> 2.5`` means ``>= 3``), so no value
  is compared through a lossy float conversion.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from sealroom.compute.arrow_types import arrow_type
from sealroom.model.columns import Column, FormatType, NumericRangeRule, PrimitiveType
from sealroom.validation.report import ErrorCode

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_EMAIL_BYTES = 254  # RFC 5321 §4.5.3.1.3 path limit, less the angle brackets

# RE2 syntax (Arrow's regex engine). RE2 has no backtracking, so every pattern runs in linear time
# whatever the input; `$` is the end of the text (a value with a trailing line break fails).
_EMAIL_LOCAL = r"[^@\s\p{Z}\p{Cc}]"
_EMAIL_LABEL = r"[^@.\s\p{Z}\p{Cc}]"
_DATE = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
_ZONE = r"(?:Z|[+-](?:[01][0-9]|2[0-3])(?::?[0-5][0-9])?)"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_DECIMAL = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$"
# The significant digits of a well-formed decimal: before the point without leading zeros, after
# it without trailing zeros (RE2: the lazy group leaves the trailing zeros to `0*`).
_DECIMAL_DIGITS = r"^[+-]?0*(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*?)0*)?$"
FORMAT_PATTERNS: dict[FormatType, str] = {
    FormatType.INTEGER: r"^[+-]?[0-9]+$",
    FormatType.FLOAT: r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$",
    FormatType.EMAIL: (
        rf"^{_EMAIL_LOCAL}+@{_EMAIL_LABEL}+(?:\.{_EMAIL_LABEL}+)*\.{_EMAIL_LABEL}{{2,}}$"
    ),
    FormatType.DATE_ISO8601: f"^{_DATE}$",
    FormatType.DATE: f"^{_DATE}$",
    FormatType.TIMESTAMP: f"^{_DATE}(?:{_TIME})?$",
    FormatType.TIMESTAMP_TZ: f"^{_DATE}{_TIME}{_ZONE}$",
    FormatType.DECIMAL: _DECIMAL,
    FormatType.BOOLEAN: r"^(?i:true|false|1|0)$",
    FormatType.PHONE_NUMBER_E164: r"^\+[1-9][0-9]{1,14}$",
    FormatType.HASH_SHA256_HEX: r"^[0-9a-fA-F]{64}$",
    FormatType.MAID: r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$",
    FormatType.IPV4_ADDRESS: rf"^{_OCTET}(?:\.{_OCTET}){{3}}$",
}

FORMAT_CODES: dict[FormatType, ErrorCode] = {
    FormatType.INTEGER: ErrorCode.INVALID_INTEGER_FORMAT,
    FormatType.FLOAT: ErrorCode.INVALID_FLOAT_FORMAT,
    FormatType.EMAIL: ErrorCode.INVALID_EMAIL_FORMAT,
    FormatType.DATE_ISO8601: ErrorCode.INVALID_ISO_DATE_FORMAT,
    FormatType.DATE: ErrorCode.INVALID_ISO_DATE_FORMAT,
    FormatType.TIMESTAMP: ErrorCode.INVALID_TIMESTAMP_FORMAT,
    FormatType.TIMESTAMP_TZ: ErrorCode.INVALID_TIMESTAMP_FORMAT,
    FormatType.DECIMAL: ErrorCode.INVALID_DECIMAL_FORMAT,
    FormatType.BOOLEAN: ErrorCode.INVALID_BOOLEAN_FORMAT,
    FormatType.PHONE_NUMBER_E164: ErrorCode.INVALID_PHONE_E164_NUMBER,
    FormatType.HASH_SHA256_HEX: ErrorCode.INVALID_SHA256_HEX_FORMAT,
    FormatType.MAID: ErrorCode.INVALID_MAID_FORMAT,
    FormatType.IPV4_ADDRESS: ErrorCode.INVALID_IPV4_ADDRESS,
}

_NULL_STRING = pa.scalar(None, pa.string())


@dataclass(frozen=True)
class ColumnCheck:
    """The outcome of checking one column (or one row slice of it)."""

    values: pa.ChunkedArray  # typed per arrow_type(column); null where empty or invalid
    masks: dict[ErrorCode, pa.ChunkedArray]  # one per code the column can produce, disjoint


def codes_of(column: Column) -> tuple[ErrorCode, ...]:
    """The codes a column can produce, in the order they are checked."""
    codes: list[ErrorCode] = []
    if not column.is_nullable:
        codes.append(ErrorCode.EMPTY_CELL)
    if column.effective_format in FORMAT_CODES:
        codes.append(FORMAT_CODES[column.effective_format])
    if column.in_range is not None:
        codes.append(ErrorCode.INVALID_NUMERIC_RANGE)
    return tuple(codes)


def check_column(raw: pa.ChunkedArray, column: Column) -> ColumnCheck:
    """Check a column of strings against its declared format, nullability and range."""
    masks: dict[ErrorCode, pa.ChunkedArray] = {}
    if not column.is_nullable:
        masks[ErrorCode.EMPTY_CELL] = pc.is_null(raw)
    fmt = column.effective_format
    values = raw
    if fmt in FORMAT_PATTERNS:
        well_formed = _well_formed(raw, column)
        values, bad_value = _typed(raw, well_formed, column)
        # A null cell is not a format error (it is EMPTY_CELL or allowed).
        bad = pc.fill_null(pc.invert(well_formed), False)
        if bad_value is not None:
            bad = pc.or_(bad, bad_value)
        masks[FORMAT_CODES[fmt]] = bad
    if column.in_range is not None:
        masks[ErrorCode.INVALID_NUMERIC_RANGE] = _out_of_range(values, column.in_range, column)
    return ColumnCheck(values=values, masks=masks)


def _well_formed(raw: pa.ChunkedArray, column: Column) -> pa.ChunkedArray:
    """Boolean per cell, null for null cells."""
    fmt = column.effective_format
    if fmt is FormatType.INTEGER:
        # Fast path: unsigned ASCII digits (a subset of the pattern) need no regex engine, which
        # is ~8x slower; only a column with some other value pays for the full pattern.
        digits = pc.ascii_is_decimal(raw)
        if pc.all(pc.fill_null(digits, True)).as_py():
            return digits
    matches = pc.match_substring_regex(raw, FORMAT_PATTERNS[fmt])
    if fmt is FormatType.EMAIL:
        matches = pc.and_(matches, pc.less_equal(pc.binary_length(raw), MAX_EMAIL_BYTES))
    # Whether a date exists and whether a decimal's digits fit are checked by the typed
    # conversion (_typed), which costs a fraction of checking them here.
    return matches


def _fits_decimal(decimals: pa.ChunkedArray, column: Column) -> pa.ChunkedArray:
    """For well-formed decimal strings: at most ``p - s`` significant digits before the point
    and ``s`` after it (null for null cells)."""
    precision, scale = column.decimal_digits
    digits = pc.extract_regex(decimals, _DECIMAL_DIGITS)
    whole = pc.binary_length(pc.struct_field(digits, "whole"))
    fraction = pc.binary_length(pc.struct_field(digits, "fraction"))
    return pc.and_(
        pc.less_equal(whole, precision - scale),
        pc.less_equal(fraction, scale),
    )


def _is_real_day(dates: pa.ChunkedArray) -> pa.ChunkedArray:
    """For strings already shaped ``YYYY-MM-DD...``: does the day exist in that month?

    strptime rolls 2023-02-30 over to 2023-03-02, so the parsed day-of-month differs from the
    written one exactly when the date does not exist.
    """
    parsed = pc.strptime(
        pc.utf8_slice_codeunits(dates, 0, 10), format="%Y-%m-%d", unit="s", error_is_null=True
    )
    written_day = pc.cast(pc.utf8_slice_codeunits(dates, 8, 10), pa.int64())
    same = pc.equal(pc.day(parsed), written_day)
    # A well-shaped date strptime could not parse at all is not a real day either.
    return pc.if_else(pc.and_(pc.is_valid(dates), pc.is_null(same)), False, same)


def _typed(
    raw: pa.ChunkedArray, well_formed: pa.ChunkedArray, column: Column
) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None]:
    """Typed values (null where invalid) and a mask of values well formed but not representable."""
    primitive = column.primitive
    if primitive is PrimitiveType.STRING:
        return raw, None
    candidates = raw
    if not pc.all(pc.fill_null(well_formed, True)).as_py():
        candidates = pc.if_else(well_formed, raw, _NULL_STRING)
    if primitive is PrimitiveType.INTEGER:
        return _to_int64(candidates)
    if primitive is PrimitiveType.FLOAT:
        return _to_float64(candidates)
    if primitive is PrimitiveType.BOOLEAN:
        return pc.cast(pc.utf8_lower(candidates), pa.bool_()), None
    return _checked_cast(candidates, column)


def _checked_cast(
    candidates: pa.ChunkedArray, column: Column
) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None]:
    """Dates, timestamps and decimals that matched their pattern, cast to their type.

    Arrow's parsers refuse exactly what the patterns let through but the type cannot hold: a
    day that does not exist, a decimal with more digits than its precision or scale (never
    rounded). So a cast that succeeds proves every value fits; only when one does not are the
    offending cells found (vectorised) and the others cast.
    """
    target = arrow_type(column)
    try:
        return pc.cast(candidates, target), None
    except pa.ArrowInvalid:
        pass
    if column.primitive is PrimitiveType.DECIMAL:
        fits = _fits_decimal(candidates, column)
    else:
        fits = _is_real_day(candidates)
    unfit = pc.fill_null(pc.invert(fits), False)
    return pc.cast(pc.if_else(unfit, _NULL_STRING, candidates), target), unfit


def _to_int64(candidates: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None]:
    # Arrow's integer parser refuses an explicit plus sign; the pattern allows at most one.
    if pc.any(pc.starts_with(candidates, "+")).as_py():
        candidates = pc.utf8_ltrim(candidates, "+")
    try:
        return pc.cast(candidates, pa.int64()), None
    except pa.ArrowInvalid:
        pass  # some well-formed value overflows int64: find which, vectorised
    negative = pc.starts_with(candidates, "-")
    digits = pc.utf8_ltrim(pc.utf8_ltrim(candidates, "-"), "0")
    length = pc.binary_length(digits)
    # Same-length strings of digits compare like the numbers they spell.
    limit = pc.if_else(negative, str(-INT64_MIN), str(INT64_MAX))
    fits = pc.or_(
        pc.less(length, 19),
        pc.and_(pc.equal(length, 19), pc.less_equal(digits, limit)),
    )
    overflow = pc.fill_null(pc.invert(fits), False)
    values = pc.cast(pc.if_else(fits, candidates, _NULL_STRING), pa.int64())
    return values, overflow


def _to_float64(candidates: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray | None]:
    values = pc.cast(candidates, pa.float64())
    infinite = pc.fill_null(pc.invert(pc.is_finite(values)), False)
    if pc.any(infinite).as_py():
        values = pc.if_else(infinite, pa.scalar(None, pa.float64()), values)
        return values, infinite
    return values, None


def integer_bounds(rule: NumericRangeRule) -> tuple[int | None, int | None]:
    """The inclusive integer interval [low, high] a range rule allows (None = unbounded)."""
    lows: list[int] = []
    highs: list[int] = []
    if rule.greater_than is not None:
        lows.append(math.floor(rule.greater_than) + 1)
    if rule.greater_than_equals is not None:
        lows.append(math.ceil(rule.greater_than_equals))
    if rule.less_than is not None:
        highs.append(math.ceil(rule.less_than) - 1)
    if rule.less_than_equals is not None:
        highs.append(math.floor(rule.less_than_equals))
    return (max(lows) if lows else None, min(highs) if highs else None)


def _decimal_bound(bound: float | None) -> pa.Scalar | None:
    """A bound as the decimal it was written as (the float's shortest repr), so that a DECIMAL
    column is compared exactly: ``>= 0.1`` holds for ``0.10``."""
    return None if bound is None else pa.scalar(Decimal(repr(bound)))


def _out_of_range(
    values: pa.ChunkedArray, rule: NumericRangeRule, column: Column
) -> pa.ChunkedArray:
    outside: list[pa.ChunkedArray] = []
    primitive = column.primitive
    if primitive is PrimitiveType.DECIMAL:
        rule_bounds = (
            (pc.less_equal, _decimal_bound(rule.greater_than)),
            (pc.less, _decimal_bound(rule.greater_than_equals)),
            (pc.greater_equal, _decimal_bound(rule.less_than)),
            (pc.greater, _decimal_bound(rule.less_than_equals)),
        )
        outside = [compare(values, bound) for compare, bound in rule_bounds if bound is not None]
    elif primitive is PrimitiveType.INTEGER:
        low, high = integer_bounds(rule)
        if (low is not None and low > INT64_MAX) or (high is not None and high < INT64_MIN):
            return pc.is_valid(values)  # no int64 satisfies the rule
        if low is not None and low > INT64_MIN:
            outside.append(pc.less(values, pa.scalar(low, pa.int64())))
        if high is not None and high < INT64_MAX:
            outside.append(pc.greater(values, pa.scalar(high, pa.int64())))
    else:
        if rule.greater_than is not None:
            outside.append(pc.less_equal(values, rule.greater_than))
        if rule.greater_than_equals is not None:
            outside.append(pc.less(values, rule.greater_than_equals))
        if rule.less_than is not None:
            outside.append(pc.greater_equal(values, rule.less_than))
        if rule.less_than_equals is not None:
            outside.append(pc.greater(values, rule.less_than_equals))
    if not outside:
        return pc.fill_null(pc.and_(pc.is_valid(values), False), False)
    combined = outside[0]
    for mask in outside[1:]:
        combined = pc.or_(combined, mask)
    return pc.fill_null(combined, False)


class Hint(enum.StrEnum):
    """A common way a badly formatted cell is written, recognised for the report's hints."""

    THOUSANDS_COMMA = "thousands_comma"  # 1,234,567.89
    THOUSANDS_DOT = "thousands_dot"  # 1.234.567,89 (with a decimal comma)
    DECIMAL_COMMA = "decimal_comma"  # 12,5
    SPACES = "spaces"  # " 12" or "12 "
    CURRENCY = "currency"  # $12.50, 12 €
    DAY_MONTH_YEAR = "day_month_year"  # 31/01/2024, 01.31.2024
    YES_NO = "yes_no"  # yes, no, y, n


_NUMERIC_HINTS: dict[Hint, str] = {
    Hint.THOUSANDS_COMMA: r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?$",
    Hint.THOUSANDS_DOT: r"^[+-]?[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]*)?$",
    Hint.DECIMAL_COMMA: r"^[+-]?[0-9]*,[0-9]+$",
    Hint.SPACES: r"^\s|\s$",
    Hint.CURRENCY: r"[$€£¥]|^[A-Z]{3}\s?[0-9]|[0-9]\s?[A-Z]{3}$",
}
_HINTS_BY_FORMAT: dict[FormatType, dict[Hint, str]] = {
    FormatType.INTEGER: _NUMERIC_HINTS,
    FormatType.FLOAT: _NUMERIC_HINTS,
    FormatType.DECIMAL: _NUMERIC_HINTS,
    FormatType.DATE: {
        Hint.DAY_MONTH_YEAR: r"^[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}$",
        Hint.SPACES: r"^\s|\s$",
    },
    FormatType.DATE_ISO8601: {
        Hint.DAY_MONTH_YEAR: r"^[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}$",
        Hint.SPACES: r"^\s|\s$",
    },
    FormatType.BOOLEAN: {Hint.YES_NO: r"(?i)^(?:yes|no|y|n)$", Hint.SPACES: r"^\s|\s$"},
    FormatType.EMAIL: {Hint.SPACES: r"^\s|\s$"},
}


def hint_counts(raw: pa.ChunkedArray, bad: pa.ChunkedArray, column: Column) -> dict[Hint, int]:
    """How many of the badly formatted cells of ``column`` (``bad``) look like each
    :class:`Hint` — counts only, for the report; run only over the bad cells."""
    patterns = _HINTS_BY_FORMAT.get(column.effective_format)
    if not patterns:
        return {}
    cells = pc.filter(raw, bad)
    if len(cells) == 0:
        return {}
    counts = {
        hint: int(pc.sum(pc.match_substring_regex(cells, pattern)).as_py() or 0)
        for hint, pattern in patterns.items()
    }
    return {hint: count for hint, count in counts.items() if count}
