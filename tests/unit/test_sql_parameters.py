"""Bound ``$name`` parameters of SQL nodes: detection, refusals, and runs on a real DuckDB.

The secret-looking values below must never appear in any error message: a value may be as
sensitive as data (an email address to look up).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from sealroom.compute.sql import PrivacyFilter, SqlLimits, run_sql
from sealroom.compute.sql.dp import DpSpec
from sealroom.compute.sql.parameters import (
    INVALID_PARAMETERS_CODE,
    MAX_PARAMETER_VALUE_CHARS,
    MAX_PARAMETERS,
    binding_problem,
    check_parameter_values,
    check_query_parameters,
    parameter_casts,
    query_parameters,
)
from sealroom.compute.sql.privacy import plan_filtered_query
from sealroom.errors import BadRequestError, DefinitionError, SqlExecutionError
from tests.unit.sql_scratch import no_spill_files

LIMITS = SqlLimits(timeout_seconds=30)
SECRET = "SECRET-VALUE-7f3a"
INJECTION = "x' OR '1'='1"
K = 3

# 12 people in 3 cities (4 each) and one person alone in "Tiny".
PEOPLE = pa.table(
    {
        "name": [f"p{i}" for i in range(12)] + ["o'brien"],
        "city": ["Bern", "Genf", "Basel"] * 4 + ["Tiny"],
        "age": pa.array([20 + 3 * i for i in range(12)] + [77], pa.int64()),
        "info": [{"k": i} for i in range(13)],
    }
)
TABLES = {"people": PEOPLE}


def run(query: str, scratch: Path, **kwargs: object) -> pa.Table:
    result = run_sql(query, TABLES, limits=LIMITS, scratch_dir=scratch, **kwargs)  # type: ignore[arg-type]
    assert no_spill_files(scratch)
    return result


def failure(query: str, scratch: Path, **kwargs: object) -> SqlExecutionError:
    with pytest.raises(SqlExecutionError) as caught:
        run(query, scratch, **kwargs)
    assert no_spill_files(scratch)
    assert SECRET not in caught.value.message
    return caught.value


def definition_error(query: str, declared: list[str]) -> str:
    with pytest.raises(DefinitionError) as caught:
        check_query_parameters(query, declared)
    return str(caught.value)


def request_error(declared: list[str], values: dict[str, object]) -> str:
    with pytest.raises(BadRequestError) as caught:
        check_parameter_values(declared, values)  # type: ignore[arg-type]
    assert caught.value.code == INVALID_PARAMETERS_CODE
    assert caught.value.status == 400
    assert SECRET not in caught.value.message
    return caught.value.message


# --- detection -------------------------------------------------------------------------------


def test_names_are_found_by_the_parser_not_in_literals_identifiers_or_comments() -> None:
    query = (
        "SELECT '$in_string' AS a, \"$in_identifier\" AS b, $$ $in_dollars $$ AS c, "
        "$tag$ $in_tagged $tag$ AS d, E'\\' $in_escaped' AS e -- $in_line_comment\n"
        "FROM people /* $in_block_comment */ WHERE city = $city AND age > CAST($Min_Age AS INT)"
    )
    assert query_parameters(query) == frozenset({"city", "Min_Age"})


def test_names_are_reported_as_written_and_once() -> None:
    assert query_parameters("SELECT $a, $a, upper($_b1) FROM people") == frozenset({"a", "_b1"})
    assert query_parameters("SELECT 1") == frozenset()


@pytest.mark.parametrize("query", ["SELECT ?", "SELECT $1", "SELECT $1, $2"])
def test_positional_parameters_are_refused(query: str) -> None:
    with pytest.raises(DefinitionError, match="positional parameters"):
        query_parameters(query)
    assert "positional" in definition_error(query, [])


def test_non_ascii_parameter_name_is_refused() -> None:
    with pytest.raises(DefinitionError, match="invalid parameter name"):
        query_parameters("SELECT $é")


def test_unparseable_query_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="does not parse"):
        query_parameters("SELECT FROM WHERE $x (")


# --- definition-time checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SELECT name FROM people WHERE city = $city",
        "SELECT city || $city AS k, COUNT(*) FROM people GROUP BY city || $city",
        "SELECT name FROM people WHERE city IN (SELECT unnest(string_split($city, ',')))",
        "WITH x AS (SELECT * FROM people WHERE city = $city) SELECT name FROM x",
        "SELECT x FROM unnest(string_split($city, ',')) AS u(x)",
        "SELECT p.name FROM people p JOIN (VALUES ($city)) AS v(c) ON p.city = v.c",
        "SELECT name FROM people ORDER BY age + CAST($city AS INT) LIMIT CAST($city AS INT)",
    ],
)
def test_scalar_uses_are_accepted(query: str) -> None:
    check_query_parameters(query, ["city"])


def test_undeclared_parameter_is_refused() -> None:
    message = definition_error("SELECT $a, $b", ["a"])
    assert "undeclared" in message
    assert "$b" in message


def test_misspelled_case_is_refused_with_the_declared_spelling() -> None:
    message = definition_error("SELECT $Day", ["day"])
    assert "$Day (declared as 'day')" in message


def test_declared_but_unused_is_refused() -> None:
    message = definition_error("SELECT $a", ["a", "typo"])
    assert "'typo'" in message
    assert "does not use" in message


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [
        (["a", "a"], "declared twice"),
        (["a", "A"], "names must differ ignoring case"),
        (["1a"], "invalid parameter name"),
        (["a-b"], "invalid parameter name"),
        ([""], "invalid parameter name"),
        (["a" * 65], "invalid parameter name"),
        ([f"p{i}" for i in range(MAX_PARAMETERS + 1)], f"at most {MAX_PARAMETERS}"),
    ],
)
def test_bad_declarations_are_refused(declared: list[str], fragment: str) -> None:
    assert fragment in definition_error("SELECT 1", declared)


def test_declarations_must_be_a_list_not_a_string() -> None:
    with pytest.raises(DefinitionError, match="list of names"):
        check_query_parameters("SELECT $a", "a")


def test_longest_valid_name_and_most_parameters_are_accepted() -> None:
    name = "a" * 64
    check_query_parameters(f"SELECT ${name}", [name])
    names = [f"p{i}" for i in range(MAX_PARAMETERS)]
    check_query_parameters("SELECT " + ", ".join(f"${n}" for n in names), names)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("SELECT * FROM query($p)", "table function"),
        ("SELECT * FROM query_table($p)", "table function"),
        ("SELECT * FROM read_csv($p)", "table function"),
        ("SELECT * FROM $p", "cannot name a table"),
        ("SELECT COLUMNS($p) FROM people", "COLUMNS"),
        ("PIVOT people ON city IN ($p) USING COUNT(*)", "PIVOT"),
        ("SELECT * FROM people USING SAMPLE $p", "SAMPLE"),
        ("SELECT COUNT(*) FROM people GROUP BY $p", "GROUP BY or ORDER BY item"),
        ("SELECT name FROM people ORDER BY ($p) DESC", "GROUP BY or ORDER BY item"),
    ],
)
def test_structural_uses_are_refused(query: str, fragment: str) -> None:
    assert fragment in definition_error(query, ["p"])


# --- run-time values -------------------------------------------------------------------------


def test_values_are_checked_and_copied() -> None:
    values = {"b": "2", "a": ""}
    checked = check_parameter_values(["a", "b"], values)
    assert checked == {"a": "", "b": "2"}
    assert checked is not values


def test_missing_value_is_refused() -> None:
    assert "no value for parameter(s) 'b'" in request_error(["a", "b"], {"a": SECRET})


def test_unknown_name_is_refused_and_invalid_names_are_not_echoed() -> None:
    message = request_error(["a"], {"a": "1", "zz": SECRET, "<script>": SECRET})
    assert "'zz'" in message
    assert "<script>" not in message
    assert "1 invalid name(s)" in message
    assert "declares: 'a'" in message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (7, "must be a string, not int"),
        (None, "must be a string, not NoneType"),
        ([SECRET], "must be a string, not list"),
        (SECRET + "x" * MAX_PARAMETER_VALUE_CHARS, f"longer than {MAX_PARAMETER_VALUE_CHARS}"),
        (SECRET + "\x00", "NUL"),
        (SECRET + "\ud800", "lone surrogate"),
    ],
)
def test_bad_values_are_refused_without_echoing_them(value: object, fragment: str) -> None:
    message = request_error(["a"], {"a": value})
    assert fragment in message
    assert message.startswith("parameter 'a': ")


def test_longest_value_is_accepted() -> None:
    value = "é" * MAX_PARAMETER_VALUE_CHARS  # characters, not bytes
    assert check_parameter_values(["a"], {"a": value}) == {"a": value}


# --- known answers of the helpers the engine uses ---------------------------------------------


def test_parameter_casts_known_answer() -> None:
    query = (
        "SELECT CAST($a AS INTEGER), $b::DATE, TRY_CAST($c AS INT), CAST($a AS INTEGER), "
        "CAST(age AS DOUBLE), CAST($d AS DECIMAL(10, 2)) FROM people"
    )
    assert parameter_casts(query) == (
        ("a", "INT", "SELECT CAST($a AS INT)"),
        ("b", "DATE", "SELECT CAST($b AS DATE)"),
        ("d", "DECIMAL(10, 2)", "SELECT CAST($d AS DECIMAL(10, 2))"),
    )
    assert parameter_casts("SELECT (((") == ()


@pytest.mark.parametrize(
    ("seen", "values", "expected"),
    [
        ({"a"}, {"a": "1"}, None),
        ({"A"}, {"a": "1"}, None),
        (set(), {}, None),
        ({"1"}, {}, "positional parameters (? or $1) are not supported; use $name"),
        ({"a", "b"}, {"a": "1"}, "no value for parameter(s) $b"),
        (
            {"a"},
            {"a": "1", "c": "2"},
            "values were given for parameter(s) the SQL does not use: 'c'",
        ),
    ],
)
def test_binding_problem_known_answers(
    seen: set[str], values: dict[str, str], expected: str | None
) -> None:
    assert binding_problem(seen, values) == expected


# --- plain runs on DuckDB --------------------------------------------------------------------


def test_values_are_bound(tmp_path: Path) -> None:
    result = run(
        "SELECT name FROM people WHERE city = $city AND age > CAST($min_age AS INTEGER) "
        "ORDER BY name",
        tmp_path,
        parameters={"city": "Bern", "min_age": "25"},
    )
    assert result.column("name").to_pylist() == ["p3", "p6", "p9"]


def test_names_match_ignoring_case_like_duckdb(tmp_path: Path) -> None:
    result = run("SELECT $City AS c", tmp_path, parameters={"city": "Bern"})
    assert result.to_pylist() == [{"c": "Bern"}]


def test_injection_attempt_is_just_a_string(tmp_path: Path) -> None:
    query = "SELECT name FROM people WHERE name = $who"
    assert run(query, tmp_path, parameters={"who": INJECTION}).num_rows == 0
    # The same query still does what it says: the quote in a value is matched literally.
    assert run(query, tmp_path, parameters={"who": "o'brien"}).to_pylist() == [{"name": "o'brien"}]
    second_statement = "x'; SELECT * FROM people; --"
    assert run(query, tmp_path, parameters={"who": second_statement}).num_rows == 0


def test_column_names_never_hold_a_value(tmp_path: Path) -> None:
    result = run(
        "SELECT $p, upper($p), CAST($n AS INTEGER) FROM people LIMIT 1",
        tmp_path,
        parameters={"p": SECRET, "n": "5"},
    )
    assert result.column_names == ["$p", "upper($p)", "CAST($n AS INTEGER)"]
    assert result.to_pylist() == [
        {"$p": SECRET, "upper($p)": SECRET.upper(), "CAST($n AS INTEGER)": 5}
    ]


def test_bad_explicit_cast_names_the_parameter_not_the_value(tmp_path: Path) -> None:
    error = failure(
        "SELECT name FROM people WHERE age > CAST($min_age AS INTEGER)",
        tmp_path,
        parameters={"min_age": SECRET},
    )
    assert error.code == "sql_error"
    assert error.message == "the value of parameter 'min_age' cannot be converted to INT"


@pytest.mark.parametrize(
    "query",
    [
        # DuckDB's own conversion message quotes the string.
        "SELECT name FROM people WHERE age > $p",
        # DuckDB's binder quotes the value: Could not find key "..." in struct.
        "SELECT struct_extract(info, $p) FROM people",
        "SELECT info[$p] FROM people",
        "SELECT date_part($p, DATE '2020-01-01')",
        "SELECT regexp_matches(name, $p) FROM people",
    ],
)
def test_value_dependent_errors_are_reduced(query: str, tmp_path: Path) -> None:
    error = failure(query, tmp_path, parameters={"p": SECRET + "(["})
    assert error.code == "sql_error"
    assert "details withheld" in error.message


def test_schema_errors_are_still_shown(tmp_path: Path) -> None:
    error = failure("SELECT nope FROM people WHERE city = $p", tmp_path, parameters={"p": SECRET})
    assert 'column "nope" not found' in error.message


@pytest.mark.parametrize(
    ("query", "values", "fragment"),
    [
        ("SELECT name FROM people WHERE city = $p", {}, "no value for parameter(s) $p"),
        ("SELECT name FROM people", {"p": SECRET}, "the SQL does not use: 'p'"),
        ("SELECT name FROM people WHERE city = ?", {}, "positional parameters"),
        ("SELECT name FROM people WHERE city = $1", {}, "positional parameters"),
    ],
)
def test_parameters_duckdb_sees_must_match_the_values(
    query: str, values: dict[str, str], fragment: str, tmp_path: Path
) -> None:
    assert fragment in failure(query, tmp_path, parameters=values).message


@pytest.mark.parametrize(
    "values",
    [
        {"p": 7},
        {"p": SECRET * 100},
        {"p": SECRET + "\x00"},
        {"bad name": SECRET},
        {"p": SECRET, "P": SECRET},
    ],
)
def test_malformed_values_are_a_caller_error(values: dict[str, object], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="parameter values") as caught:
        run_sql("SELECT $p", TABLES, limits=LIMITS, scratch_dir=tmp_path, parameters=values)  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)
    assert no_spill_files(tmp_path)


# --- intermediate SQL nodes ------------------------------------------------------------------


def test_intermediate_with_parameters_is_materialised_with_its_own_values(tmp_path: Path) -> None:
    intermediate = [
        ("in_city", "SELECT name, age FROM people WHERE city = $city"),
        ("older", "SELECT name FROM in_city WHERE age > 30"),  # a view over the table
    ]
    result = run(
        "SELECT name FROM older WHERE name <> $city ORDER BY name",
        tmp_path,
        intermediate=intermediate,
        intermediate_parameters={"in_city": {"city": "Genf"}},
        parameters={"city": "p7"},  # same name, another node, another value
    )
    assert result.column("name").to_pylist() == ["p10", "p4"]


def test_intermediate_without_its_values_names_the_node(tmp_path: Path) -> None:
    error = failure(
        "SELECT * FROM v",
        tmp_path,
        intermediate=[("v", "SELECT name FROM people WHERE city = $city")],
    )
    assert error.message == "SQL node 'v': no value for parameter(s) $city"


def test_intermediate_errors_with_values_are_reduced(tmp_path: Path) -> None:
    error = failure(
        "SELECT * FROM v",
        tmp_path,
        intermediate=[("v", "SELECT name FROM people WHERE age > $a")],
        intermediate_parameters={"v": {"a": SECRET}},
    )
    assert error.message.startswith("SQL node 'v': the query failed with ConversionException")
    schema = failure(
        "SELECT * FROM v",
        tmp_path,
        intermediate=[("v", "SELECT nope FROM people WHERE age > $a")],
        intermediate_parameters={"v": {"a": SECRET}},
    )
    assert schema.message.startswith("SQL node 'v': Binder Error")


def test_intermediate_parameters_for_an_unknown_node_is_a_caller_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an intermediate"):
        run_sql(
            "SELECT 1",
            TABLES,
            limits=LIMITS,
            scratch_dir=tmp_path,
            intermediate_parameters={"ghost": {"a": "1"}},
        )


# --- under the privacy filter ----------------------------------------------------------------


def filtered(query: str, scratch: Path, values: dict[str, str]) -> pa.Table:
    return run(query, scratch, privacy=PrivacyFilter(K), parameters=values)


def test_privacy_filter_with_a_parameter_in_where(tmp_path: Path) -> None:
    query = (
        "SELECT city, COUNT(*) AS n FROM people WHERE age >= CAST($min_age AS INTEGER) "
        "AND name <> $who GROUP BY city ORDER BY city"
    )
    result = filtered(query, tmp_path, {"min_age": "26", "who": INJECTION})
    # Ages 20 + 3i. From 26 on: Bern p3 p6 p9, Genf p4 p7 p10, Basel p2 p5 p8 p11; Tiny's one
    # person is suppressed.
    assert result.to_pylist() == [
        {"city": "Basel", "n": 4},
        {"city": "Bern", "n": 3},
        {"city": "Genf", "n": 3},
    ]
    # With parameters the count of suppressed groups is withheld: it could be steered.
    assert b"sealroom.suppressed_groups" not in (result.schema.metadata or {})
    small = filtered(query, tmp_path, {"min_age": "50", "who": ""})
    assert small.num_rows == 0
    assert b"sealroom.suppressed_groups" not in (small.schema.metadata or {})


def test_privacy_rewrite_keeps_the_parameters() -> None:
    plan = plan_filtered_query(
        "SELECT city, COUNT(*) FROM people WHERE age > CAST($min_age AS INTEGER) "
        "AND city <> $Skip GROUP BY city",
        {"people": [("name", "VARCHAR"), ("city", "VARCHAR"), ("age", "BIGINT")]},
        PrivacyFilter(K),
        output_names=["city", "count_star()"],
    )
    # Only the query that reads the inputs holds them; the rest read its table.
    assert "TRY_CAST($min_age AS INT)" in plan.groups_query
    assert "$Skip" in plan.groups_query
    assert "$" not in plan.query
    assert plan.suppressed_query is None  # withheld: a parameter could steer it


def test_privacy_filter_bad_cast_is_reported_before_the_rewrite_hides_it(tmp_path: Path) -> None:
    # The rewrite turns CAST into TRY_CAST (NULL, no error): the value is checked on its own.
    error = failure(
        "SELECT city, COUNT(*) FROM people WHERE age > CAST($a AS INTEGER) GROUP BY city",
        tmp_path,
        privacy=PrivacyFilter(K),
        parameters={"a": SECRET},
    )
    assert error.message == "the value of parameter 'a' cannot be converted to INT"


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        (
            "SELECT city, COUNT(*) FROM people GROUP BY city HAVING COUNT(*) > CAST($k AS INTEGER)",
            "$k is refused here",
        ),
        (
            "SELECT city, SUM(CASE WHEN name = $k THEN age END) FROM people GROUP BY city",
            "conditions inside an aggregate",
        ),
        (
            "SELECT city, COUNT(*) FILTER (WHERE name = $k) FROM people GROUP BY city",
            "FILTER (WHERE ...) inside an aggregate is refused",
        ),
        (
            "SELECT city, fsum(age * CAST($k AS INTEGER)) FROM people GROUP BY city",
            "$k inside an aggregate is refused",
        ),
    ],
)
def test_privacy_filter_refuses_parameters_that_could_single_out(
    query: str, fragment: str, tmp_path: Path
) -> None:
    error = failure(query, tmp_path, privacy=PrivacyFilter(K), parameters={"k": "1"})
    assert error.code == "sql_privacy_filter"
    assert fragment in error.message


# --- under differential privacy --------------------------------------------------------------

# ε = 1e6 over at most two statistics: the count noise is zero to double precision.
HUGE = DpSpec(epsilon=1e6, delta=1e-6)


def test_dp_with_a_parameter_in_where_and_in_a_key(tmp_path: Path) -> None:
    result = run(
        "SELECT city || $suffix AS c, COUNT(*) AS n FROM people "
        "WHERE age >= CAST($min_age AS INTEGER) AND name <> $who "
        "GROUP BY city || $suffix ORDER BY c",
        tmp_path,
        dp=HUGE,
        parameters={"suffix": "!", "min_age": "26", "who": INJECTION},
    )
    # Key selection needs a noisy count above its threshold (a few rows at δ = 1e-6):
    # whatever is released is exact at this ε, and Tiny's one person never is.
    rows = result.to_pylist()
    assert rows, "groups of three or four rows are released at ε = 1e6"
    expected = {"Basel!": 4, "Bern!": 3, "Genf!": 3}
    assert all(expected[row["c"]] == row["n"] for row in rows)
    assert result.column_names == ["c", "n"]


def test_dp_global_count_with_a_parameter(tmp_path: Path) -> None:
    result = run(
        "SELECT COUNT(*) AS n FROM people WHERE city = $city",
        tmp_path,
        dp=HUGE,
        parameters={"city": "Bern"},
    )
    assert result.to_pylist() == [{"n": 4}]


@pytest.mark.parametrize("clause", ["LIMIT CAST($n AS INTEGER)", "LIMIT 5 OFFSET $n"])
def test_dp_refuses_parameters_in_limit_and_offset(clause: str, tmp_path: Path) -> None:
    error = failure(
        f"SELECT city, COUNT(*) FROM people GROUP BY city {clause}",
        tmp_path,
        dp=HUGE,
        parameters={"n": "1"},
    )
    assert error.code == "sql_privacy_filter"
    assert "parameter in" in error.message


def test_package_exports_the_parameter_checks() -> None:
    import sealroom.compute.sql as package
    from sealroom.compute.sql import parameters

    for name in ("check_parameter_values", "check_query_parameters", "query_parameters"):
        assert name in package.__all__
        assert getattr(package, name) is getattr(parameters, name)
