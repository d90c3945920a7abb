"""The SQL privacy filter, run for real: DuckDB executes the rewritten queries.

Three parts: the table of query shapes (decision and rewritten SQL, kept as a snapshot file:
``SEALROOM_UPDATE_SNAPSHOTS=1`` rewrites it, and the diff is reviewed like code), the attack
suite (what an analyst would try to single somebody out), and the semantics of allowed queries
(same answer as the plain query where every group is large enough).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sealroom.compute.sql import (
    SUPPRESSED_GROUPS_KEY,
    PrivacyFilter,
    SqlLimits,
    run_sql,
)
from sealroom.compute.sql.privacy import (
    plan_filtered_query,
    source_view_sql,
)
from sealroom.errors import PrivacyFilterError, SqlExecutionError

K = 5
SNAPSHOT = Path(__file__).parent.parent / "vectors" / "privacy_filter_shapes.json"
VICTIM = "victim@example.com"

# 40 people in 4 cities (10 each) + the victim alone in "Tiny"; "Solo" is one person with 6 rows.
_PEOPLE = [
    (i, f"p{i}@example.com", ["Bern", "Genf", "Basel", "Chur"][i % 4], 20 + i, 1000 * (i + 1), i)
    for i in range(40)
]
_PEOPLE += [(40, VICTIM, "Tiny", 33, 123_456, 40)]
_PEOPLE += [(41 + j, "solo@example.com", "Solo", 50, 10, 99) for j in range(6)]
PEOPLE = pa.table(
    {
        "id": [p[0] for p in _PEOPLE],
        "email": [p[1] for p in _PEOPLE],
        "city": [p[2] for p in _PEOPLE],
        "age": [p[3] for p in _PEOPLE],
        "salary": [p[4] for p in _PEOPLE],
        "user_id": [p[5] for p in _PEOPLE],
    }
)
# The victim has 12 purchases; everybody else one each.
PURCHASES = pa.table(
    {
        "user_id": [40] * 12 + list(range(40)),
        "amount": [7] * 12 + [i + 1 for i in range(40)],
    }
)
TABLES = {"people": PEOPLE, "purchases": PURCHASES}


def run(
    query: str,
    tmp_path: Path,
    *,
    k: int = K,
    unit: str | None = None,
    revealing: bool = False,
    tables: dict[str, pa.Table] | None = None,
) -> pa.Table:
    return run_sql(
        query,
        TABLES if tables is None else tables,
        limits=SqlLimits(timeout_seconds=30),
        scratch_dir=tmp_path,
        privacy=PrivacyFilter(k, unit_column=unit, allow_revealing_aggregates=revealing),
    )


def plain(query: str, tmp_path: Path) -> pa.Table:
    return run_sql(query, TABLES, limits=SqlLimits(timeout_seconds=30), scratch_dir=tmp_path)


def suppressed(table: pa.Table) -> int:
    return int((table.schema.metadata or {})[SUPPRESSED_GROUPS_KEY])


def refused(query: str, tmp_path: Path, *, revealing: bool = False) -> str:
    with pytest.raises(SqlExecutionError) as caught:
        run(query, tmp_path, revealing=revealing)
    assert caught.value.code == "sql_privacy_filter"
    return caught.value.message


# -- the table of query shapes ------------------------------------------------------------

SHAPES: dict[str, str] = {
    "count_by_city": "SELECT city, COUNT(*) AS n FROM people GROUP BY city",
    "global_aggregate": "SELECT COUNT(*), SUM(salary), AVG(age) FROM people",
    "positional_group_and_order": "SELECT city, COUNT(*) FROM people GROUP BY 1 ORDER BY 2 DESC",
    "group_by_all": "SELECT city, COUNT(*) FROM people GROUP BY ALL",
    "from_first": "FROM people SELECT city, SUM(salary) GROUP BY city",
    "expression_key": "SELECT age // 10 AS decade, COUNT(*) FROM people GROUP BY age // 10",
    "cte_filter": (
        "WITH adults AS (SELECT * FROM people WHERE age >= 30) "
        "SELECT city, COUNT(*) FROM adults GROUP BY city"
    ),
    "derived_table": (
        "SELECT c, COUNT(*) FROM (SELECT upper(city) AS c FROM people) AS x GROUP BY c"
    ),
    "join": (
        "SELECT p.city, SUM(u.amount) FROM people p JOIN purchases u "
        "ON p.user_id = u.user_id GROUP BY p.city"
    ),
    "self_join": (
        "SELECT a.city, COUNT(*) FROM people a JOIN people b ON a.city = b.city GROUP BY a.city"
    ),
    "union_all_inside": (
        "SELECT k, COUNT(*) FROM (SELECT city AS k FROM people UNION ALL "
        "SELECT CAST(user_id AS VARCHAR) FROM purchases) AS x GROUP BY k"
    ),
    "union_of_aggregates": (
        "SELECT city, COUNT(*) FROM people GROUP BY city UNION ALL "
        "SELECT 'all', COUNT(*) FROM purchases"
    ),
    "rollup": "SELECT city, COUNT(*) FROM people GROUP BY ROLLUP (city)",
    "having_and_limit": (
        "SELECT city, SUM(salary) AS s FROM people GROUP BY city HAVING COUNT(*) > 1 "
        "ORDER BY s DESC LIMIT 2"
    ),
    "count_distinct_and_cast": (
        "SELECT city, COUNT(DISTINCT email), SUM(CAST(age AS DOUBLE)) FROM people GROUP BY city"
    ),
    "distinct_final": "SELECT DISTINCT city, COUNT(*) FROM people GROUP BY city",
    "unnest_and_values": (
        "SELECT v.x, COUNT(*) FROM people, (VALUES (1), (2)) AS v(x) GROUP BY v.x"
    ),
    # Refused shapes.
    "row_level": "SELECT email, salary FROM people",
    "star": "SELECT * FROM people",
    "inner_group_by": (
        "SELECT COUNT(*) FROM (SELECT city, COUNT(*) AS n FROM people GROUP BY city) AS x"
    ),
    "inner_distinct": "SELECT COUNT(*) FROM (SELECT DISTINCT email FROM people) AS x",
    "inner_union": (
        "SELECT COUNT(*) FROM (SELECT city FROM people UNION SELECT 'x' FROM purchases) AS x"
    ),
    "inner_except": (
        "SELECT COUNT(*) FROM (SELECT city FROM people EXCEPT SELECT 'x' FROM purchases) AS x"
    ),
    "window": "SELECT city, COUNT(*) OVER () FROM people",
    "window_after_aggregate": (
        "SELECT city, COUNT(*), SUM(COUNT(*)) OVER () FROM people GROUP BY city"
    ),
    "qualify": "SELECT city, COUNT(*) FROM people GROUP BY city QUALIFY row_number() OVER () = 1",
    "in_subquery": ("SELECT COUNT(*) FROM people WHERE user_id IN (SELECT user_id FROM purchases)"),
    "scalar_subquery": (
        "SELECT COUNT(*) FROM people WHERE salary > (SELECT AVG(amount) FROM purchases)"
    ),
    "exists": (
        "SELECT COUNT(*) FROM people p WHERE EXISTS "
        "(SELECT 1 FROM purchases u WHERE u.user_id = p.user_id)"
    ),
    "min": "SELECT city, MIN(salary) FROM people GROUP BY city",
    "max": "SELECT MAX(salary) FROM people",
    "median": "SELECT city, median(salary) FROM people GROUP BY city",
    "arg_max": "SELECT arg_max(email, salary) FROM people",
    "any_value": "SELECT city, any_value(email) FROM people GROUP BY city",
    "list": "SELECT city, list(email) FROM people GROUP BY city",
    "string_agg": "SELECT city, string_agg(email, ',') FROM people GROUP BY city",
    "query_function": "SELECT COUNT(*) FROM query('SELECT * FROM people')",
    "query_table_function": "SELECT COUNT(*) FROM query_table('people')",
    "schema_qualified": "SELECT COUNT(*) FROM main.people",
    "reserved_name": "SELECT __sealroom_unit, COUNT(*) FROM people GROUP BY 1",
    "pivot": "PIVOT people ON city IN ('Bern') USING COUNT(*)",
    "columns_star": "SELECT COUNT(COLUMNS(*)) FROM people",
    "lateral": (
        "SELECT COUNT(*) FROM people p, LATERAL (SELECT * FROM purchases u "
        "WHERE u.user_id = p.user_id) AS x"
    ),
    "constant_only": "SELECT COUNT(*) FROM (VALUES (1), (2)) AS v(x)",
}


def _decide(query: str) -> dict[str, str]:
    relations = {
        name: [(field.name, str(field.type)) for field in table.schema]
        for name, table in TABLES.items()
    }
    names = [f"c{i}" for i in range(32)]
    try:
        plan = plan_filtered_query(
            query,
            relations,
            PrivacyFilter(K),
            output_names=names[: _width(query)],
        )
    except PrivacyFilterError as error:
        return {"decision": "refused", "reason": str(error)}
    return {
        "decision": "rewritten",
        "groups": plan.groups_query,
        "sql": plan.query,
        "suppressed": plan.suppressed_query or "",
    }


def _width(query: str) -> int:
    import duckdb

    connection = duckdb.connect()
    for name, table in TABLES.items():
        connection.register(name, table)
    try:
        return len(connection.sql(query).columns)
    except duckdb.Error:
        return 0
    finally:
        connection.close()


def test_query_shapes_match_the_snapshot() -> None:
    decisions = {name: _decide(query) for name, query in SHAPES.items()}
    if os.environ.get("SEALROOM_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(decisions, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert decisions == expected


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_shape_runs_or_is_refused_by_the_filter_in_duckdb(name: str, tmp_path: Path) -> None:
    expected = json.loads(SNAPSHOT.read_text())[name]["decision"]
    if name == "reserved_name":
        # DuckDB's binder refuses it first: the inputs have no such column.
        with pytest.raises(SqlExecutionError, match="__sealroom_unit"):
            run(SHAPES[name], tmp_path)
    elif expected == "refused":
        refused(SHAPES[name], tmp_path)
    else:
        result = run(SHAPES[name], tmp_path)
        assert suppressed(result) >= 0


# -- attacks ------------------------------------------------------------------------------


def test_single_row_selection_is_refused(tmp_path: Path) -> None:
    message = refused(f"SELECT salary FROM people WHERE email = '{VICTIM}'", tmp_path)
    assert "must aggregate" in message
    assert VICTIM not in message


def test_count_with_a_where_on_one_person_is_suppressed(tmp_path: Path) -> None:
    result = run(
        f"SELECT COUNT(*) AS n, SUM(salary) AS s FROM people WHERE email = '{VICTIM}'", tmp_path
    )
    assert result.num_rows == 0
    assert suppressed(result) == 1


def test_grouping_by_a_unique_column_shows_nothing(tmp_path: Path) -> None:
    result = run("SELECT email, SUM(salary) FROM people GROUP BY email", tmp_path)
    # Only the six rows of solo@ form a large enough group of rows; with a unit column, none.
    assert result.column("email").to_pylist() == ["solo@example.com"]
    assert suppressed(result) == 41
    by_person = run(
        "SELECT email, SUM(salary) FROM people GROUP BY email", tmp_path, unit="user_id"
    )
    assert by_person.num_rows == 0
    assert suppressed(by_person) == 42


def test_a_person_with_many_rows_counts_once_with_a_privacy_unit(tmp_path: Path) -> None:
    query = "SELECT city, COUNT(*) AS n FROM people GROUP BY city ORDER BY city"
    by_row = run(query, tmp_path)
    assert "Solo" in by_row.column("city").to_pylist()
    by_person = run(query, tmp_path, unit="user_id")
    assert "Solo" not in by_person.column("city").to_pylist()
    assert by_person.column("city").to_pylist() == ["Basel", "Bern", "Chur", "Genf"]


def test_a_fan_out_join_does_not_inflate_a_group(tmp_path: Path) -> None:
    # 12 purchase rows of the victim join one person row: 12 rows, one person.
    query = (
        "SELECT p.email, COUNT(*) AS n, SUM(u.amount) FROM people p "
        "JOIN purchases u ON p.user_id = u.user_id GROUP BY p.email"
    )
    assert VICTIM in plain(query, tmp_path).column("email").to_pylist()
    result = run(query, tmp_path)
    assert VICTIM not in result.column("email").to_pylist()
    assert result.num_rows == 0


def test_a_self_join_cannot_multiply_one_person(tmp_path: Path) -> None:
    query = (
        "SELECT a.email, COUNT(*) FROM people a JOIN people b ON a.city = b.city GROUP BY a.email"
    )
    result = run(query, tmp_path)
    assert VICTIM not in result.column("email").to_pylist()
    assert all(email == "solo@example.com" for email in result.column("email").to_pylist())


def test_a_group_of_one_purchase_table_row_is_suppressed_even_if_people_are_many(
    tmp_path: Path,
) -> None:
    # Every input instance must contribute k units: 40 people but one purchase row in "Tiny".
    query = (
        "SELECT p.city, COUNT(*) FROM people p LEFT JOIN purchases u ON u.user_id = p.user_id "
        "AND u.amount = 7 GROUP BY p.city"
    )
    cities = run(query, tmp_path).column("city").to_pylist()
    assert cities == []


@pytest.mark.parametrize(
    "condition",
    [
        # A cast that fails only for the victim.
        "CAST(CASE WHEN email = '{v}' AND salary > {t} THEN 'x' ELSE '1' END AS INTEGER) = 1",
        "CASE WHEN email = '{v}' AND salary > {t} THEN 'x' ELSE '1' END::INTEGER = 1",
        # Division (and modulo) by zero only for the victim.
        "1 / (CASE WHEN email = '{v}' AND salary > {t} THEN 0 ELSE 1 END) > 0",
        "1 // (CASE WHEN email = '{v}' AND salary > {t} THEN 0 ELSE 1 END) > 0",
        "1 % (CASE WHEN email = '{v}' AND salary > {t} THEN 0 ELSE 1 END) >= 0",
        # An overflow only for the victim.
        "(CASE WHEN email = '{v}' AND salary > {t} THEN 9223372036854775807 ELSE 0 END) + age > 0",
    ],
)
def test_errors_do_not_tell_a_hidden_value(condition: str, tmp_path: Path) -> None:
    outcomes = []
    for threshold in (1, 10_000_000):  # the victim earns 123,456: true, then false
        where = condition.format(v=VICTIM, t=threshold)
        result = run(f"SELECT city, COUNT(*) FROM people WHERE {where} GROUP BY city", tmp_path)
        outcomes.append(result.num_rows)
    # Both run; only rows of the victim (in a group too small to show) may differ.
    assert outcomes[0] == outcomes[1] == 5


def test_errors_in_aggregate_arguments_do_not_tell_a_hidden_value(tmp_path: Path) -> None:
    # The condition is computed in a CTE (conditions inside aggregates are refused).
    for threshold in (1, 10_000_000):
        run(
            "WITH v AS (SELECT city, CAST(CASE WHEN email = 'victim@example.com' AND salary > "
            f"{threshold} THEN 'x' ELSE '1' END AS INTEGER) AS x FROM people) "
            "SELECT city, SUM(x) FROM v GROUP BY city",
            tmp_path,
        )


def test_the_error_function_is_refused_whatever_the_data(tmp_path: Path) -> None:
    query = (
        "SELECT COUNT(*) FROM people WHERE CASE WHEN email = 'victim@example.com' "
        "THEN error('boom') ELSE true END"
    )
    # Not on the allow-list: refused before any row is read.
    assert "ERROR is not among the SQL the privacy filter allows" in refused(query, tmp_path)


def test_differencing_two_allowed_queries_is_not_stopped_by_the_filter(tmp_path: Path) -> None:
    """The documented limit of any threshold: two large groups that differ by one person.

    The filter lets both through, so their difference is the victim's salary. Differential
    privacy (``dp_epsilon``) is the answer; this test pins the limitation the docs state.
    """
    everyone = run("SELECT SUM(salary) AS s FROM people", tmp_path)
    others = run(f"SELECT SUM(salary) AS s FROM people WHERE email <> '{VICTIM}'", tmp_path)
    assert everyone.column("s")[0].as_py() - others.column("s")[0].as_py() == 123_456


def test_value_revealing_aggregates_need_the_room_to_allow_them(tmp_path: Path) -> None:
    query = "SELECT city, MAX(salary) AS m FROM people GROUP BY city ORDER BY city"
    assert "MAX can reveal one person's value" in refused(query, tmp_path)
    allowed = run(query, tmp_path, revealing=True)
    assert allowed.column("city").to_pylist() == ["Basel", "Bern", "Chur", "Genf", "Solo"]
    for listing in ("list(email)", "string_agg(email, ',')", "array_agg(email)"):
        message = refused(f"SELECT city, {listing} FROM people GROUP BY city", tmp_path)
        assert "returns every value" in message


def test_an_unknown_aggregate_is_refused(tmp_path: Path) -> None:
    for aggregate in ("kurtosis(salary)", "product(age)", "bit_and(age)", "mode(email)"):
        refused(f"SELECT city, {aggregate} FROM people GROUP BY city", tmp_path)


# -- semantics ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "SELECT city, COUNT(*) AS n, SUM(salary) AS s FROM people "
        "WHERE city <> 'Tiny' AND city <> 'Solo' GROUP BY city ORDER BY city",
        "SELECT age // 10 AS decade, COUNT(*) FROM people WHERE user_id < 40 GROUP BY age // 10 "
        "ORDER BY decade",
        "SELECT p.city, SUM(u.amount) AS total FROM people p JOIN purchases u "
        "ON p.user_id = u.user_id WHERE p.user_id < 40 GROUP BY p.city ORDER BY total DESC",
        "WITH x AS (SELECT city, salary FROM people WHERE user_id < 40) "
        "SELECT city, AVG(salary) FROM x GROUP BY city ORDER BY 1",
        "SELECT city, COUNT(*) FROM people WHERE user_id < 40 GROUP BY city "
        "ORDER BY 2 DESC, 1 LIMIT 2",
        "SELECT city, COUNT(*) FROM people WHERE user_id < 40 GROUP BY city "
        "ORDER BY city LIMIT 2 OFFSET 1",
        # Integer division over aggregates (DuckDB's //, not a rounded cast of /).
        "SELECT city, SUM(age) // 3 AS third FROM people WHERE user_id < 40 GROUP BY city "
        "ORDER BY city",
        # Keys without aggregates: the distinct values that stand for at least k units.
        "SELECT city FROM people WHERE user_id < 40 GROUP BY city ORDER BY city",
        # DuckDB names are case-insensitive, quoted or not.
        'SELECT "City", COUNT(*) AS n FROM "People" WHERE "User_Id" < 40 GROUP BY "City" '
        'ORDER BY "City"',
        # Aggregates and row functions sqlglot does not know by name.
        "SELECT city, mean(salary) AS m, fsum(salary) AS f, favg(age) AS a, "
        "kahan_sum(age) AS k, sumkahan(age) AS s FROM people WHERE user_id < 40 "
        "GROUP BY city ORDER BY city",
        "SELECT date_part('year', DATE '2020-01-01') - datepart('year', DATE '2000-01-01') "
        "+ age // 10 AS d, COUNT(*) FROM people WHERE user_id < 40 GROUP BY 1 ORDER BY 1",
        # Every join kind the filter accepts.
        "SELECT p.city, SUM(u.amount) AS total FROM people p INNER JOIN purchases u "
        "ON p.user_id = u.user_id WHERE p.user_id < 40 GROUP BY p.city ORDER BY p.city",
        "SELECT p.city, SUM(u.amount) AS total FROM people p LEFT OUTER JOIN purchases u "
        "ON p.user_id = u.user_id WHERE p.user_id < 40 GROUP BY p.city ORDER BY p.city",
        "SELECT p.city, SUM(u.amount) AS total FROM people p RIGHT JOIN purchases u "
        "ON p.user_id = u.user_id WHERE p.user_id < 40 GROUP BY p.city ORDER BY p.city",
        "SELECT p.city, SUM(u.amount) AS total FROM people p FULL OUTER JOIN purchases u "
        "ON p.user_id = u.user_id WHERE p.user_id < 40 GROUP BY p.city ORDER BY p.city",
        "SELECT p.city, SUM(u.amount) AS total FROM people p CROSS JOIN purchases u "
        "WHERE p.user_id = u.user_id AND p.user_id < 40 GROUP BY p.city ORDER BY p.city",
    ],
)
def test_large_groups_give_the_plain_answer_with_its_column_names(
    query: str, tmp_path: Path
) -> None:
    expected = plain(query, tmp_path)
    result = run(query, tmp_path)
    assert result.column_names == expected.column_names
    assert result.to_pylist() == expected.to_pylist()
    assert suppressed(result) == 0


def test_an_empty_input_gives_an_empty_result(tmp_path: Path) -> None:
    empty = {"people": PEOPLE.slice(0, 0), "purchases": PURCHASES}
    result = run("SELECT COUNT(*) FROM people", tmp_path, tables=empty)
    assert result.num_rows == 0
    assert suppressed(result) == 1


def test_k_is_enforced_exactly(tmp_path: Path) -> None:
    query = "SELECT city, COUNT(*) AS n FROM people WHERE user_id < 40 GROUP BY city"
    assert run(query, tmp_path, k=10).num_rows == 4
    assert run(query, tmp_path, k=11).num_rows == 0


def test_the_threshold_is_at_least_two() -> None:
    for bad in (1, 0, -5, True, False, 2.0, 5.5, "5"):
        with pytest.raises(
            ValueError, match=r"^the privacy filter needs minimum_rows of at least 2$"
        ):
            PrivacyFilter(bad)  # type: ignore[arg-type]
    assert PrivacyFilter(2).minimum_rows == 2


def test_the_smallest_threshold_shows_pairs_and_hides_single_people(tmp_path: Path) -> None:
    pairs = pa.table({"team": ["a", "a", "b", "c", "c", "c"], "x": [1, 2, 3, 4, 5, 6]})
    result = run(
        "SELECT team, SUM(x) AS s FROM t GROUP BY team ORDER BY team",
        tmp_path,
        k=2,
        tables={"t": pairs},
    )
    assert result.to_pylist() == [{"team": "a", "s": 3}, {"team": "c", "s": 15}]
    assert suppressed(result) == 1


@pytest.mark.parametrize(
    ("room_says", "input_has"), [("USER_ID", "user_id"), ("user_id", "User_Id")]
)
def test_the_privacy_unit_column_is_matched_whatever_its_case(
    room_says: str, input_has: str, tmp_path: Path
) -> None:
    """DuckDB names are case-insensitive: "Solo" (one person, six rows) must count once."""
    people = PEOPLE.rename_columns(
        [input_has if c == "user_id" else c for c in PEOPLE.column_names]
    )
    result = run(
        "SELECT city, COUNT(*) AS n FROM people GROUP BY city ORDER BY city",
        tmp_path,
        unit=room_says,
        tables={"people": people},
    )
    assert result.column("city").to_pylist() == ["Basel", "Bern", "Chur", "Genf"]
    assert suppressed(result) == 2


def test_names_with_letters_beyond_ascii_resolve_as_written(tmp_path: Path) -> None:
    """ "ß" upper-cases to "SS": the filter must fold names the way DuckDB and sqlglot do."""
    sizes = pa.table({"größe": ["S"] * K + ["XL"], "straße": list(range(K + 1))})
    result = run(
        "SELECT größe, COUNT(*) AS n, SUM(straße) AS s FROM maße GROUP BY größe",
        tmp_path,
        tables={"maße": sizes},
    )
    assert result.to_pylist() == [{"größe": "S", "n": K, "s": sum(range(K))}]
    assert suppressed(result) == 1


def test_an_input_without_the_unit_column_counts_its_rows(tmp_path: Path) -> None:
    visits = pa.table({"page": ["home"] * K + ["shop"] * (K - 1)})
    result = run(
        "SELECT page, COUNT(*) AS n FROM visits GROUP BY page ORDER BY page",
        tmp_path,
        unit="user_id",
        tables={"people": PEOPLE, "visits": visits},
    )
    assert result.to_pylist() == [{"page": "home", "n": K}]
    assert suppressed(result) == 1


def explain_filtered(tables: dict[str, pa.Table], query: str, output_names: list[str]) -> str:
    """DuckDB's plan (upper case) of the one pass the filter runs for ``query`` (k = 2)."""
    connection = duckdb.connect()
    try:
        relations = {}
        for index, (name, table) in enumerate(tables.items()):
            connection.register(name, table)
            columns = connection.sql(f'SELECT * FROM "{name}" LIMIT 0')
            relations[name] = [
                (c, str(t)) for c, t in zip(columns.columns, columns.types, strict=True)
            ]
            connection.execute(source_view_sql(name, index, table.column_names, None))
        plan = plan_filtered_query(query, relations, PrivacyFilter(2), output_names=output_names)
        return str(connection.sql(f"EXPLAIN {plan.groups_query}").fetchall()[0][1]).upper()
    finally:
        connection.close()


def test_an_equality_of_two_columns_keeps_duckdb_s_hash_join() -> None:
    """Equalities of two plain columns of one type run without TRY, so DuckDB can hash-join.

    A column computed in a CTE is typed by sqlglot's DuckDB rules (date_trunc of a timestamp is
    a timestamp); typed any other way the equality would go under TRY, and DuckDB would fall
    back to a nested-loop join, quadratic in the inputs' rows.
    """
    tables = {
        "visits": pa.table({"ts": pa.array([0, 1, 2], pa.timestamp("us")), "n": [1, 2, 3]}),
        "months": pa.table(
            {"month": pa.array([0, 1, 2], pa.timestamp("us")), "label": list("abc")}
        ),
    }
    explained = explain_filtered(
        tables,
        "WITH v AS (SELECT date_trunc('month', ts) AS m FROM visits) "
        "SELECT mo.label, COUNT(*) FROM v JOIN months mo ON v.m = mo.month GROUP BY mo.label",
        ["label", "n"],
    )
    assert "HASH JOIN" in explained
    assert "NL JOIN" not in explained
    assert "NESTED LOOP" not in explained


def test_a_join_key_repeated_in_every_branch_of_an_or_keeps_the_hash_join() -> None:
    """TPC-H Q19's shape: ``(p = l AND ...) OR (p = l AND ...)``. DuckDB pulls the repeated
    equality out of the OR and hash-joins, but only if the equality is not under one TRY with
    the rest (it took 193 s instead of 0.14 s at scale factor 0.1)."""
    tables = {
        "lineitem": pa.table({"l_partkey": [1, 2, 3], "l_quantity": [1.0, 5.0, 30.0]}),
        "part": pa.table({"p_partkey": [1, 2, 3], "p_size": [1, 5, 10]}),
    }
    explained = explain_filtered(
        tables,
        "SELECT SUM(l_quantity) AS q FROM lineitem, part "
        "WHERE (p_partkey = l_partkey AND p_size < 5 AND l_quantity > 0.5) "
        "OR (p_partkey = l_partkey AND p_size >= 5 AND l_quantity < 10)",
        ["q"],
    )
    assert "HASH JOIN" in explained
    assert "NL JOIN" not in explained
    assert "NESTED LOOP" not in explained


def test_an_input_column_with_the_reserved_prefix_is_refused(tmp_path: Path) -> None:
    tables = {"people": PEOPLE.append_column("__sealroom_l0", PEOPLE.column("id"))}
    with pytest.raises(SqlExecutionError) as caught:
        run("SELECT city, COUNT(*) FROM people GROUP BY city", tmp_path, tables=tables)
    assert caught.value.code == "sql_privacy_filter"
    assert caught.value.message == (
        "an input has a column whose name starts with __sealroom, which is reserved; rename it "
        "to use the privacy filter"
    )


@pytest.mark.parametrize(
    "grouping",
    ["ROLLUP (city)", "CUBE (city, user_id % 2)", "GROUPING SETS ((city), (user_id % 2), ())"],
)
def test_overlapping_groupings_are_refused(grouping: str, tmp_path: Path) -> None:
    """A subtotal minus the groups shown is the group suppressed (ROLLUP gave Tiny as 47 - 46)."""
    query = f"SELECT city, COUNT(*) AS n FROM people GROUP BY {grouping}"
    assert "ROLLUP, CUBE and GROUPING SETS are refused" in refused(query, tmp_path)
