"""Differential-privacy mode of SQL nodes, run for real: DuckDB aggregates, OpenDP adds the noise.

Statistical tests state their false-failure probability. Tests of exact behaviour (contribution
bound, clamping, ordering) use ``HUGE_EPSILON``: with ε = 1e6 split over at most four
statistics, a count's discrete Laplace noise has scale ≤ 4·L/1e6 and is non-zero with
probability ≈ 2·exp(-1e6 / (4·L)) (0 to double precision for L ≤ 1000), and a sum's noise has
scale ≤ 4·L·B/1e6, so it exceeds ``SUM_TOLERANCE`` = 0.1 with probability ≤ exp(-0.1·1e6 /
(4·L·B)) — below 1e-30 for the L·B ≤ 300 used here.
"""

from __future__ import annotations

import math
import statistics
from fractions import Fraction
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sealroom.compute.sql import PrivacyFilter, SqlLimits, run_sql
from sealroom.compute.sql.dp import (
    DP_DELTA_KEY,
    DP_EPSILON_KEY,
    DpResult,
    DpSpec,
    run_dp_query,
)
from sealroom.compute.sql.dp_noise import select_keys, share_epsilon
from sealroom.errors import SqlExecutionError
from tests.unit.sql_scratch import no_spill_files

HUGE_EPSILON = 1e6
SUM_TOLERANCE = 0.1
LIMITS = SqlLimits(timeout_seconds=30)
SECRET = "victim@example.com"

# 12 people in 3 cities; amounts 10..120; the victim alone in "Tiny" with a large amount.
PEOPLE = pa.table(
    {
        "uid": [*range(12), 99],
        "email": [f"p{i}@example.com" for i in range(12)] + [SECRET],
        "city": ["Bern", "Genf", "Basel"] * 4 + ["Tiny"],
        "amount": pa.array([10.0 * (i + 1) for i in range(12)] + [987_654.0]),
        "qty": pa.array([*range(12), 7], pa.int64()),
        "code": ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "x", "13"],
    }
)


def spec(**overrides: object) -> DpSpec:
    settings: dict[str, object] = {
        "epsilon": HUGE_EPSILON,
        "delta": 1e-6,
        "bounds": {"amount": (0.0, 100.0)},
    }
    settings.update(overrides)
    return DpSpec(**settings)  # type: ignore[arg-type]


def run(
    query: str,
    tmp_path: Path,
    dp: DpSpec | None = None,
    tables: dict[str, pa.Table] | None = None,
    **kwargs: object,
) -> pa.Table:
    result = run_sql(
        query,
        {"t": PEOPLE} if tables is None else tables,
        limits=LIMITS,
        scratch_dir=tmp_path,
        dp=spec() if dp is None else dp,
        **kwargs,  # type: ignore[arg-type]
    )
    assert no_spill_files(tmp_path)
    return result


def refusal(query: str, tmp_path: Path, dp: DpSpec | None = None, **kwargs: object) -> str:
    with pytest.raises(SqlExecutionError) as caught:
        run(query, tmp_path, dp, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == "sql_privacy_filter"
    message = caught.value.message
    for value in (SECRET, "987654", "Tiny"):
        assert value not in message
    return message


# --- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "columns"),
    [
        ("SELECT COUNT(*) FROM t", ["count_star()"]),
        ("FROM t SELECT COUNT(*) AS n", ["n"]),
        ("SELECT city, COUNT(*) AS n FROM t GROUP BY city", ["city", "n"]),
        ("SELECT city FROM t GROUP BY city", ["city"]),
        ("SELECT COUNT(*) FROM t GROUP BY city", ["count_star()"]),
        (
            "SELECT city AS c, COUNT(amount), SUM(amount), AVG(amount) FROM t "
            "WHERE amount > 0 GROUP BY c ORDER BY c LIMIT 10",
            ["c", "count(amount)", "sum(amount)", "avg(amount)"],
        ),
        (
            "SELECT upper(city) AS u, COUNT(*) FROM t GROUP BY upper(city) "
            "ORDER BY COUNT(*) DESC, u",
            ["u", "count_star()"],
        ),
        ("SELECT city, COUNT(*) FROM t GROUP BY 1 ORDER BY 2 DESC LIMIT 1 OFFSET 1", None),
        ("SELECT COUNT(*) AS n FROM T AS x WHERE x.amount > 10 AND x.city <> 'Bern'", ["n"]),
        ("SELECT city, qty % 2 AS odd, COUNT(*) FROM t GROUP BY city, qty % 2", None),
        ("SELECT COUNT(*), COUNT(*) AS again FROM t", ["count_star()", "again"]),
    ],
)
def test_accepted_shapes(query: str, columns: list[str] | None, tmp_path: Path) -> None:
    result = run(query, tmp_path)
    if columns is not None:
        assert result.column_names == columns


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("SELECT COUNT(*) FROM t JOIN u ON t.uid = u.uid", "JOINS is refused"),
        ("SELECT COUNT(*) FROM t, u", "JOINS is refused"),
        ("WITH x AS (SELECT * FROM t) SELECT COUNT(*) FROM x", "WITH is refused"),
        ("SELECT COUNT(*) FROM (SELECT * FROM t)", "subqueries are refused"),
        ("SELECT COUNT(*) FROM t WHERE uid IN (SELECT uid FROM u)", "subqueries are refused"),
        ("SELECT COUNT(*) FROM t UNION ALL SELECT COUNT(*) FROM u", "set operations"),
        ("SELECT city, COUNT(*) FROM t GROUP BY city HAVING COUNT(*) > 3", "HAVING is refused"),
        ("SELECT DISTINCT city FROM t", "DISTINCT is refused"),
        ("SELECT city, COUNT(*) OVER () FROM t", "WINDOW is refused"),
        (
            "SELECT city, COUNT(*) FROM t GROUP BY city QUALIFY row_number() OVER () = 1",
            "QUALIFY is refused",
        ),
        ("SELECT MIN(amount) FROM t", "output column 1 must be a GROUP BY key"),
        ("SELECT MEDIAN(amount) FROM t", "output column 1 must be a GROUP BY key"),
        ("SELECT LIST(email) FROM t", "output column 1 must be a GROUP BY key"),
        ("SELECT COUNT(DISTINCT uid) FROM t", "output column 1"),
        ("SELECT COUNT(*) + 1 FROM t", "output column 1"),
        ("SELECT SUM(amount * 2) FROM t", "plain column"),
        ("SELECT SUM(amount) FILTER (WHERE qty > 1) FROM t", "output column 1"),
        ("SELECT SUM(qty) FROM t", "needs clamp bounds for column 'qty'"),
        ("SELECT AVG(qty) FROM t", "needs clamp bounds for column 'qty'"),
        ("SELECT email FROM t", "output column 1"),
        ("SELECT * FROM t", "list the columns"),
        ("SELECT city, COUNT(*) FROM t GROUP BY city ORDER BY SUM(amount)", "ORDER BY"),
        ("SELECT city, COUNT(*) FROM t GROUP BY city ORDER BY random()", "ORDER BY"),
        ("SELECT city, COUNT(*) FROM t GROUP BY city LIMIT 1 + 1", "LIMIT must be a whole"),
        ("SELECT city, COUNT(*) FROM t GROUP BY ROLLUP (city)", "ROLLUP"),
        ("SELECT city, COUNT(*) FROM t GROUP BY ALL", "GROUP BY ALL"),
        ("SELECT COUNT(*) FROM range(10)", "FROM must name exactly one input table"),
        ("SELECT COUNT(*) FROM t TABLESAMPLE 50%", "FROM must name exactly one input table"),
        ("SELECT COUNT(*) AS __sealroom_n FROM t", "reserved"),
        ("SELECT COUNT(*) FROM t, unnest([1, 2])", "JOINS is refused"),
    ],
)
def test_refused_shapes(query: str, fragment: str, tmp_path: Path) -> None:
    other = pa.table({"uid": [1, 2], "score": [3, 4]})
    assert fragment in refusal(query, tmp_path, tables={"t": PEOPLE, "u": other})


def test_group_keys_must_be_selected_as_written(tmp_path: Path) -> None:
    # An output column that is neither an aggregate nor exactly a GROUP BY key is refused.
    message = refusal("SELECT lower(city), COUNT(*) FROM t GROUP BY city", tmp_path)
    assert "output column 1" in message


def test_an_intermediate_sql_node_is_not_an_input(tmp_path: Path) -> None:
    message = refusal(
        "SELECT COUNT(*) FROM mid", tmp_path, intermediate=[("mid", "SELECT * FROM t")]
    )
    assert "FROM must name exactly one input table" in message


def test_the_unit_column_must_exist(tmp_path: Path) -> None:
    message = refusal("SELECT COUNT(*) FROM t", tmp_path, spec(unit_column="person"))
    assert "no privacy unit column 'person'" in message


def test_unit_column_is_matched_case_insensitively(tmp_path: Path) -> None:
    result = run("SELECT COUNT(*) FROM t", tmp_path, spec(unit_column="UID", max_rows_per_unit=2))
    assert result.column("count_star()").to_pylist() == [13]


def test_schema_errors_keep_their_engine_code(tmp_path: Path) -> None:
    with pytest.raises(SqlExecutionError) as caught:
        run("SELECT COUNT(nope) FROM t", tmp_path)
    assert caught.value.code == "sql_error"


def test_privacy_filter_and_dp_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        run("SELECT COUNT(*) FROM t", tmp_path, privacy=PrivacyFilter(5))


@pytest.mark.parametrize(
    "overrides",
    [
        {"epsilon": 0.0},
        {"epsilon": -1.0},
        {"epsilon": math.inf},
        {"epsilon": math.nan},
        {"delta": 0.0},
        {"delta": 1e-3},
        {"delta": math.nan},
        {"max_rows_per_unit": 0},
        {"max_rows_per_unit": True},
        {"max_rows_per_unit": 2},  # no unit column: each row is a unit, L must be 1
        {"unit_column": "uid", "max_rows_per_unit": 2**21},
        {"unit_column": ""},
        {"bounds": {"amount": (1.0, 1.0)}},
        {"bounds": {"amount": (2.0, 1.0)}},
        {"bounds": {"amount": (0.0, math.inf)}},
        {"bounds": {"amount": (0.0, 1e200)}},
        {"bounds": {"Amount": (0.0, 1.0), "amount": (0.0, 2.0)}},
    ],
)
def test_invalid_specs_are_caller_errors(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="DpSpec"):
        spec(**overrides)


def test_bounds_are_kept_lower_case_and_read_only() -> None:
    made = spec(bounds={"Amount": (0, 5)})
    assert dict(made.bounds) == {"amount": (0.0, 5.0)}
    with pytest.raises(TypeError):
        made.bounds["x"] = (0.0, 1.0)  # type: ignore[index]


# --- accounting ------------------------------------------------------------------------------


def test_epsilon_and_delta_are_reported(tmp_path: Path) -> None:
    grouped = run("SELECT city, COUNT(*) FROM t GROUP BY city", tmp_path, spec(epsilon=0.5))
    assert grouped.schema.metadata[DP_EPSILON_KEY] == b"0.5"
    assert grouped.schema.metadata[DP_DELTA_KEY] == b"1e-06"
    # Without GROUP BY the single row is always released: no δ is spent.
    total = run("SELECT COUNT(*) FROM t", tmp_path, spec(epsilon=0.5))
    assert total.schema.metadata[DP_EPSILON_KEY] == b"0.5"
    assert total.schema.metadata[DP_DELTA_KEY] == b"0.0"


def test_run_dp_query_returns_what_it_spent() -> None:
    connection = duckdb.connect()
    try:
        connection.register("t", PEOPLE)
        query = "SELECT city, SUM(amount) FROM t GROUP BY city"
        result = run_dp_query(
            connection,
            query,
            spec(epsilon=2.0, delta=1e-7),
            tables={"t": PEOPLE},
            output_names=connection.sql(query).columns,
            fetch=lambda sql: connection.sql(sql).to_arrow_table(),
        )
    finally:
        connection.close()
    assert isinstance(result, DpResult)
    assert (result.epsilon, result.delta) == (2.0, 1e-7)


@pytest.mark.parametrize(("epsilon", "parts"), [(1.0, 3), (0.3, 3), (0.1, 7), (1e-9, 4)])
def test_epsilon_shares_never_sum_above_epsilon(epsilon: float, parts: int) -> None:
    share = share_epsilon(epsilon, parts)
    assert Fraction(share) * parts <= Fraction(epsilon)
    assert share > epsilon / parts * (1 - 1e-12)


# --- noise -----------------------------------------------------------------------------------


def test_noise_is_present(tmp_path: Path) -> None:
    # ε = 0.1 over two statistics: count noise is discrete Laplace of scale 20, whose most
    # likely value has probability < 0.025, so five equal counts have probability < 4e-7;
    # sums get continuous-looking Laplace noise and never repeat.
    query = "SELECT COUNT(*) AS n, SUM(amount) AS s FROM t"
    rows = [run(query, tmp_path, spec(epsilon=0.1)).to_pylist()[0] for _ in range(5)]
    assert len({row["n"] for row in rows}) > 1
    assert len({row["s"] for row in rows}) == 5


def test_noisy_counts_are_unbiased_with_the_calibrated_spread(tmp_path: Path) -> None:
    # 1000 groups of 100 rows (rows are units), ε = 1 on COUNT(*) alone: each count gets
    # discrete Laplace noise of scale 1/ε = 1, variance 2e/(e-1)^2 ≈ 1.84. Every group is far
    # above the release threshold (≈ 14 at δ = 1e-6; missing one has probability < 1e-30).
    # The mean error of 1000 counts has standard deviation 0.043: |mean| < 0.5 is 11.6 sigma
    # (false failure < 1e-12 by a Bernstein bound). The sample variance of 1000 draws has a
    # relative sd of about 0.075: ±45% is 6 sd (false failure < 1e-8, normal approximation),
    # while a scale off by a factor of 2 either way moves the variance by a factor of 4.
    groups = 1000
    table = pa.table({"g": [i % groups for i in range(100 * groups)]})
    result = run(
        "SELECT g, COUNT(*) AS n FROM t GROUP BY g", tmp_path, spec(epsilon=1.0), {"t": table}
    )
    errors = [n - 100 for n in result.column("n").to_pylist()]
    assert len(errors) == groups
    assert abs(statistics.fmean(errors)) < 0.5
    variance = 2 * math.e / (math.e - 1) ** 2
    assert 0.55 * variance < statistics.pvariance(errors) < 1.45 * variance


# --- contribution bound and clamping ---------------------------------------------------------


def test_one_unit_moves_a_count_by_at_most_the_bound(tmp_path: Path) -> None:
    # A whale with 1000 rows and ten people with one row each; L = 3. Before noise the count
    # is 10 + min(1000, 3) = 13 and the sum 13 * 50 (each row clamps to 50 <= 100): the whale
    # moves them by at most L rows, L * 100 in the sum. Noise: see the module docstring.
    table = pa.table(
        {"uid": [0] * 1000 + list(range(1, 11)), "amount": [50.0] * 1010, "city": ["a"] * 1010}
    )
    bounded = spec(unit_column="uid", max_rows_per_unit=3)
    query = "SELECT COUNT(*) AS n, SUM(amount) AS s, AVG(amount) AS m FROM t"
    row = run(query, tmp_path, bounded, {"t": table}).to_pylist()[0]
    assert row["n"] == 13
    assert abs(row["s"] - 650.0) < SUM_TOLERANCE
    assert abs(row["m"] - 50.0) < SUM_TOLERANCE
    grouped = run(
        "SELECT city, COUNT(*) AS n FROM t GROUP BY city", tmp_path, bounded, {"t": table}
    )
    assert grouped.to_pylist() == [{"city": "a", "n": 13}]


def test_rows_without_a_unit_are_bounded_together(tmp_path: Path) -> None:
    # 100 rows whose unit is NULL count as one unit (L = 2 of them kept), plus 3 people.
    table = pa.table({"uid": pa.array([None] * 100 + [1, 2, 3], pa.int64())})
    bounded = spec(unit_column="uid", max_rows_per_unit=2)
    result = run("SELECT COUNT(*) AS n FROM t", tmp_path, bounded, {"t": table})
    assert result.column("n").to_pylist() == [5]


def test_rows_kept_per_unit_are_chosen_at_random(tmp_path: Path) -> None:
    # One unit with 1000 rows valued 0..999, L = 2: the kept pair's sum (noise < 0.5 except
    # with probability < 1e-100) repeats between two runs with probability < 1e-3, so five
    # runs all alike have probability < 1e-12.
    table = pa.table({"uid": [1] * 1000, "amount": [float(i) for i in range(1000)]})
    bounded = spec(unit_column="uid", max_rows_per_unit=2, bounds={"amount": (0.0, 1000.0)})
    sums = {
        round(
            run("SELECT SUM(amount) AS s FROM t", tmp_path, bounded, {"t": table})["s"][0].as_py()
        )
        for _ in range(5)
    }
    assert len(sums) > 1


def test_values_are_clamped_to_their_bounds(tmp_path: Path) -> None:
    # Bounds [0, 10]: -5 -> 0, 5, 50 -> 10, NULL skipped, NaN -> 10, -inf -> 0, +inf -> 10.
    table = pa.table(
        {"x": pa.array([-5.0, 5.0, 50.0, None, math.nan, -math.inf, math.inf], pa.float64())}
    )
    clamped = spec(bounds={"x": (0.0, 10.0)})
    query = "SELECT COUNT(*) AS rows, COUNT(x) AS n, SUM(x) AS s, AVG(x) AS m FROM t"
    row = run(query, tmp_path, clamped, {"t": table}).to_pylist()[0]
    assert (row["rows"], row["n"]) == (7, 6)
    assert abs(row["s"] - 35.0) < SUM_TOLERANCE
    assert abs(row["m"] - 35.0 / 6) < SUM_TOLERANCE


def test_integer_and_decimal_columns_are_summed_exactly(tmp_path: Path) -> None:
    table = pa.table(
        {
            "n": pa.array([3, -7, 2**40], pa.int64()),
            "d": pa.array([1, 2, 3], pa.decimal128(10, 2)),
        }
    )
    bounds = spec(bounds={"n": (-10, 10), "d": (-1.5, 2.5)})
    row = run("SELECT SUM(n) AS n, SUM(d) AS d FROM t", tmp_path, bounds, {"t": table}).to_pylist()
    assert abs(row[0]["n"] - 6.0) < SUM_TOLERANCE
    assert abs(row[0]["d"] - 5.5) < SUM_TOLERANCE


# --- key release -----------------------------------------------------------------------------


def test_small_groups_are_not_released_and_large_ones_are(tmp_path: Path) -> None:
    # ε = 1, δ = 1e-9, rows are units. OpenDP sets the threshold so that a key held by one unit
    # is released with probability < δ: 20 one-row groups all stay hidden except with
    # probability < 2e-8. Five groups of 10,000 rows sit ~10,000 noise scales above the
    # threshold: each is released except with probability < exp(-9000).
    cities = [f"big{i}" for i in range(5) for _ in range(10_000)] + [f"small{i}" for i in range(20)]
    table = pa.table({"city": cities})
    released = run(
        "SELECT city, COUNT(*) AS n FROM t GROUP BY city",
        tmp_path,
        spec(epsilon=1.0, delta=1e-9),
        {"t": table},
    )
    assert released.column("city").to_pylist() == [f"big{i}" for i in range(5)]
    assert all(abs(n - 10_000) < 100 for n in released.column("n").to_pylist())


def test_a_key_of_one_unit_is_almost_never_released(tmp_path: Path) -> None:
    # 200 people each own a secret key with 1000 rows: unbounded, each key would count 1000.
    # L = 5 caps each at 5 rows before noise, and OpenDP's threshold at ε = 1, δ = 1e-9
    # (d_in = (5, 5, 5)) releases such a key with probability < 1e-9: a false failure has
    # probability < 200 * 1e-9 = 2e-7. The shared key of 2000 people is released.
    uids = [u for u in range(200) for _ in range(1000)] + list(range(1000, 3000))
    keys = [f"secret{u}" for u in range(200) for _ in range(1000)] + ["shared"] * 2000
    table = pa.table({"uid": uids, "k": keys})
    bounded = spec(epsilon=1.0, delta=1e-9, unit_column="uid", max_rows_per_unit=5)
    released = run("SELECT k FROM t GROUP BY k", tmp_path, bounded, {"t": table})
    assert released.column("k").to_pylist() == ["shared"]


def test_order_by_and_limit_apply_to_the_noisy_rows(tmp_path: Path) -> None:
    table = pa.table({"city": ["a"] * 1000 + ["b"] * 2000 + ["c"] * 3000 + [None] * 1500})
    query = "SELECT city, COUNT(*) AS n FROM t GROUP BY city ORDER BY n DESC LIMIT 2"
    top = run(query, tmp_path, tables={"t": table})
    assert top.to_pylist() == [{"city": "c", "n": 3000}, {"city": "b", "n": 2000}]
    # Without ORDER BY, rows come sorted by key (NULL last), never in hash-table order.
    everything = run(
        "SELECT city, COUNT(*) AS n FROM t GROUP BY city", tmp_path, tables={"t": table}
    )
    assert everything.column("city").to_pylist() == ["a", "b", "c", None]


def test_negative_zero_keys_are_one_group_shown_as_zero(tmp_path: Path) -> None:
    # DuckDB shows a zero group with the sign of the first zero it meets; the release must not.
    for first, second in ((-0.0, 0.0), (0.0, -0.0)):
        table = pa.table({"x": pa.array([first] * 500 + [second] * 500, pa.float64())})
        result = run("SELECT x, COUNT(*) AS n FROM t GROUP BY x", tmp_path, tables={"t": table})
        assert result.to_pylist() == [{"x": 0.0, "n": 1000}]
        assert math.copysign(1.0, result.column("x")[0].as_py()) == 1.0


# --- results ---------------------------------------------------------------------------------


def test_output_types(tmp_path: Path) -> None:
    table = pa.table(
        {
            "day": pa.array([1, 2] * 500, pa.int32()).cast(pa.date32()),
            "amount": [1.0] * 1000,
        }
    )
    query = "SELECT day, COUNT(*), COUNT(amount), SUM(amount), AVG(amount) FROM t GROUP BY day"
    result = run(query, tmp_path, tables={"t": table})
    assert result.schema.types == [pa.date32(), pa.int64(), pa.int64(), pa.float64(), pa.float64()]
    assert result.column_names == [
        "day",
        "count_star()",
        "count(amount)",
        "sum(amount)",
        "avg(amount)",
    ]


def test_row_level_errors_do_not_leak(tmp_path: Path) -> None:
    # The plain query fails on the one row whose code is not a number ("x"), telling that such
    # a row exists; under DP the error becomes NULL (the row is filtered out).
    query = "SELECT COUNT(*) AS n FROM t WHERE CAST(code AS INTEGER) > 0 AND 1 / (qty - 7) < 99"
    with pytest.raises(SqlExecutionError):
        run_sql(query, {"t": PEOPLE}, limits=LIMITS, scratch_dir=tmp_path)
    assert run(query, tmp_path).column("n").to_pylist() == [10]


def test_empty_input(tmp_path: Path) -> None:
    empty = PEOPLE.slice(0, 0)
    total = run("SELECT COUNT(*) AS n, AVG(amount) AS m FROM t", tmp_path, tables={"t": empty})
    assert total.column("n").to_pylist() == [0]
    assert total.column("m").to_pylist() == [None]  # noisy count below 1: no average
    grouped = run("SELECT city, COUNT(*) FROM t GROUP BY city", tmp_path, tables={"t": empty})
    assert grouped.num_rows == 0
    assert grouped.column_names == ["city", "count_star()"]


def test_key_selection_releases_a_one_unit_key_with_probability_at_most_delta() -> None:
    # 20,000 keys of count 1 (one unit each), L = 1, ε = 1, δ = 0.01: at most δ of them may be
    # released. The calibrated threshold releases a key with probability e^-5 / (1 + e^-1)
    # ≈ 0.0049 (≈ 98 keys, sd ≈ 10); more than 200 (δ·n) has probability < 1e-20. Without the
    # opendp/opendp#2922 correction (releasing at the threshold OpenDP accounted for) the rate
    # would be e times higher, ≈ 268 keys.
    keys = 20_000
    released = select_keys(dict.fromkeys(range(keys), 1), 1.0, 1, 0.01)
    assert len(released) <= 0.01 * keys
    assert all(count >= 6 for count in released.values())


# --- keys: one row's value never changes the outcome (issue 12, item 11) ---------------------

VICTIM = f"email = '{SECRET}'"
WITHOUT_VICTIM = PEOPLE.filter(pa.compute.not_equal(PEOPLE.column("email"), SECRET))


@pytest.mark.parametrize(
    "victim_key",
    [
        "DATE '9999-12-31' + INTERVAL 1 DAY",  # a TIMESTAMP after year 9999
        "CAST(DATE '9999-12-31' + INTERVAL 1 DAY AS DATE)",
        "CAST('infinity' AS DATE)",
        "CAST('infinity' AS TIMESTAMP)",
        "TIMESTAMP '290000-01-01 00:00:00'",
        "CAST('infinity' AS TIMESTAMP_NS)",
    ],
)
def test_a_key_python_cannot_represent_changes_nothing(victim_key: str, tmp_path: Path) -> None:
    # Before the fix the key was converted to Python before the threshold: the run crashed
    # (OverflowError) exactly when the victim's row was there, a bit read before any noise.
    query = (
        f"SELECT CASE WHEN {VICTIM} THEN {victim_key} ELSE TIMESTAMP '2000-01-01' END AS k, "
        "COUNT(*) AS n FROM t GROUP BY k"
    )
    with_victim = run(query, tmp_path)
    without_victim = run(query, tmp_path, tables={"t": WITHOUT_VICTIM})
    assert with_victim.to_pylist() == without_victim.to_pylist()
    assert with_victim.column("n").to_pylist() == [12]  # the victim's key: not released


@pytest.mark.parametrize(
    ("victim_key", "other_key"),
    [
        ("CAST('nan' AS DOUBLE)", "CAST(1 AS DOUBLE)"),
        ("-CAST('nan' AS DOUBLE)", "CAST(1 AS DOUBLE)"),
        ("-CAST(0 AS DOUBLE)", "CAST(1 AS DOUBLE)"),
        ("repeat('x', 1000000)", "'a'"),
        ("CAST(1e38 AS HUGEINT) * 1.7", "CAST(1 AS HUGEINT)"),
    ],
)
def test_odd_key_values_of_one_row_change_nothing(
    victim_key: str, other_key: str, tmp_path: Path
) -> None:
    query = (
        f"SELECT CASE WHEN {VICTIM} THEN {victim_key} ELSE {other_key} END AS k, "
        "COUNT(*) AS n FROM t GROUP BY k"
    )
    with_victim = run(query, tmp_path)
    without_victim = run(query, tmp_path, tables={"t": WITHOUT_VICTIM})
    assert with_victim.to_pylist() == without_victim.to_pylist()
    assert with_victim.column("n").to_pylist() == [12]


def test_one_long_string_key_cannot_reach_the_result_size_limit(tmp_path: Path) -> None:
    # 1 MB of key for the victim alone; the limit is 256 KiB. Before the fix the exact
    # (pre-noise) table carried every key, so the run failed with sql_result_too_large only
    # when the victim's row was there.
    small = SqlLimits(timeout_seconds=30, max_result_bytes=256 * 1024)
    query = (
        f"SELECT CASE WHEN {VICTIM} THEN repeat('x', 1000000) ELSE city END AS k, "
        "COUNT(*) AS n FROM t GROUP BY k"
    )
    results = [
        run_sql(query, {"t": table}, limits=small, scratch_dir=tmp_path, dp=spec())
        for table in (PEOPLE, WITHOUT_VICTIM)
    ]
    assert results[0].to_pylist() == results[1].to_pylist()
    assert results[0].column("k").to_pylist() == ["Basel", "Bern", "Genf"]


def _fetched_sizes(table: pa.Table, query: str) -> list[int]:
    """The Arrow size of every table DuckDB hands to Python while answering ``query``."""
    sizes: list[int] = []
    connection = duckdb.connect()
    try:
        connection.register("t", table)

        def fetch(sql: str) -> pa.Table:
            fetched = connection.sql(sql).to_arrow_table()
            sizes.append(fetched.nbytes)
            return fetched

        run_dp_query(
            connection,
            query,
            spec(),
            tables={"t": table},
            output_names=connection.sql(query).columns,
            fetch=fetch,
        )
    finally:
        connection.close()
    return sizes


def test_what_is_fetched_before_the_threshold_has_a_size_fixed_by_the_group_count() -> None:
    # The victim's key is one character or 5000: every table fetched before the threshold has
    # the same size (the last fetch, the released rows, does not contain the victim's key).
    query = (
        f"SELECT CASE WHEN {VICTIM} THEN repeat('y', uid * 50 + 50) ELSE city END AS k, "
        "COUNT(*) AS n FROM t GROUP BY k"
    )
    short = PEOPLE.set_column(0, "uid", pa.array([*range(12), 0]))
    assert _fetched_sizes(PEOPLE, query) == _fetched_sizes(short, query)


def test_a_released_string_key_is_cut_to_a_bounded_length(tmp_path: Path) -> None:
    table = pa.table({"k": ["é" * 300] * 1000 + ["b"] * 1000})
    result = run("SELECT k, COUNT(*) AS n FROM t GROUP BY k", tmp_path, tables={"t": table})
    assert result.to_pylist() == [{"k": "b", "n": 1000}, {"k": "é" * 64, "n": 1000}]


def test_a_released_key_python_cannot_hold_is_released_as_arrow(tmp_path: Path) -> None:
    # Once released, a key is DP output: it is handed on in Arrow, never converted by us.
    table = pa.table({"x": list(range(1000))})
    query = "SELECT DATE '9999-12-31' + INTERVAL 1 DAY AS k, COUNT(*) AS n FROM t GROUP BY k"
    result = run(query, tmp_path, tables={"t": table})
    assert result.column("k").type == pa.timestamp("us")
    assert result.column("k").cast(pa.int64()).to_pylist() == [253_402_300_800 * 10**6]


def test_nan_keys_are_one_group_shown_as_positive_nan(tmp_path: Path) -> None:
    # Half the rows give a NaN with the sign bit set: one group, shown without the sign.
    table = pa.table({"x": pa.array([1.0, 0.0] * 500, pa.float64())})
    query = (
        "SELECT CASE WHEN x > 0 THEN -CAST('nan' AS DOUBLE) "
        "ELSE CAST('nan' AS DOUBLE) END AS k, COUNT(*) AS n FROM t GROUP BY k"
    )
    rows = run(query, tmp_path, tables={"t": table}).to_pylist()
    assert len(rows) == 1
    assert math.isnan(rows[0]["k"])
    assert math.copysign(1.0, rows[0]["k"]) == 1.0
    assert rows[0]["n"] == 1000


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("[uid]", "BIGINT[]"),
        ("{'a': uid}", "STRUCT"),
        ("map([uid], [uid])", "MAP"),
        ("encode(city)", "BLOB"),
        ("INTERVAL 1 DAY * uid", "INTERVAL"),
        ("CAST(uid AS UHUGEINT)", "UHUGEINT"),
        ("CAST('12:00:00+05' AS TIMETZ)", "TIME WITH TIME ZONE"),
        ("CAST(uid AS BIT)", "BIT"),
    ],
)
def test_keys_of_unbounded_or_lossy_types_are_refused(
    key: str, fragment: str, tmp_path: Path
) -> None:
    message = refusal(f"SELECT {key} AS k, COUNT(*) FROM t GROUP BY k", tmp_path)
    assert "GROUP BY key 1" in message
    assert fragment in message


def test_collated_keys_are_refused(tmp_path: Path) -> None:
    # A collation groups spellings together and would show one row's spelling.
    message = refusal("SELECT city COLLATE NOCASE AS c, COUNT(*) FROM t GROUP BY c", tmp_path)
    assert "COLLATE" in message


def test_enum_and_uuid_keys_are_released_as_strings(tmp_path: Path) -> None:
    query = (
        "SELECT CAST(city AS ENUM('Bern', 'Genf', 'Basel', 'Tiny')) AS c, "
        "CAST('00000000-0000-0000-0000-000000000001' AS UUID) AS u, COUNT(*) AS n "
        "FROM t GROUP BY c, u ORDER BY c"
    )
    result = run(query, tmp_path)
    assert result.column("c").to_pylist() == ["Basel", "Bern", "Genf"]
    assert set(result.column("u").to_pylist()) == {"00000000-0000-0000-0000-000000000001"}


def test_null_keys_stay_null(tmp_path: Path) -> None:
    table = pa.table({"k": ["a"] * 1000 + [None] * 1000, "d": [None] * 2000})
    query = "SELECT k, CAST(d AS DOUBLE) AS x, COUNT(*) AS n FROM t GROUP BY k, x"
    result = run(query, tmp_path, tables={"t": table})
    assert result.to_pylist() == [
        {"k": "a", "x": None, "n": 1000},
        {"k": None, "x": None, "n": 1000},
    ]
