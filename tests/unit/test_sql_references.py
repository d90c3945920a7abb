"""The definition-time reference checker: which tables a query reads, and what it refuses."""

from __future__ import annotations

import pytest

from sealroom.compute.sql import check_query_dependencies, fold_identifier, referenced_tables
from sealroom.errors import DefinitionError


@pytest.mark.parametrize(
    ("query", "tables"),
    [
        ("SELECT * FROM a", {"a"}),
        ("SELECT * FROM a JOIN b ON a.id = b.id LEFT JOIN c USING (id)", {"a", "b", "c"}),
        ("SELECT * FROM a, b", {"a", "b"}),
        ("FROM a SELECT x", {"a"}),
        ("TABLE a", {"a"}),
        ("(SELECT * FROM a)", {"a"}),
        # CTEs are not tables; their bodies' tables are.
        ("WITH x AS (SELECT * FROM a) SELECT * FROM x JOIN b ON true", {"a", "b"}),
        ("WITH x AS (SELECT * FROM a), y AS (SELECT * FROM x) SELECT * FROM y", {"a"}),
        ("WITH x AS MATERIALIZED (SELECT * FROM a) SELECT * FROM x", {"a"}),
        # A CTE body cannot see its own name (not recursive): the inner "a" is the base table.
        ("WITH a AS (SELECT * FROM a) SELECT * FROM a", {"a"}),
        (
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
            "SELECT * FROM r JOIN a ON true",
            {"a"},
        ),
        # A CTE inside a subquery is not visible outside it.
        ("(WITH x AS (SELECT 1) SELECT * FROM x) UNION (SELECT * FROM x)", {"x"}),
        ("SELECT * FROM (WITH z AS (SELECT * FROM a) SELECT * FROM z) q, z", {"a", "z"}),
        # Subqueries everywhere.
        ("SELECT * FROM a WHERE id IN (SELECT id FROM b)", {"a", "b"}),
        ("SELECT * FROM a WHERE EXISTS (SELECT 1 FROM b WHERE b.id = a.id)", {"a", "b"}),
        ("SELECT (SELECT max(v) FROM b) AS m FROM a", {"a", "b"}),
        ("SELECT * FROM a, LATERAL (SELECT * FROM b WHERE b.k = a.k)", {"a", "b"}),
        ("SELECT * FROM (SELECT * FROM (SELECT * FROM a) s) t", {"a"}),
        # Set operations.
        ("SELECT x FROM a UNION SELECT x FROM b", {"a", "b"}),
        ("SELECT x FROM a INTERSECT SELECT x FROM b EXCEPT SELECT x FROM c", {"a", "b", "c"}),
        ("WITH x AS (SELECT * FROM a) SELECT * FROM x UNION ALL SELECT * FROM b", {"a", "b"}),
        # No tables at all.
        ("VALUES (1, 2), (3, 4)", set()),
        ("SELECT 1 + 1", set()),
        ("SELECT * FROM unnest([1, 2, 3])", set()),
        ("SELECT 1;", set()),
        # Case-insensitivity and names needing quotes.
        ('SELECT * FROM Orders JOIN "ORDERS" USING (id)', {"orders"}),
        (
            'SELECT * FROM "insurer customers" JOIN "Bank-Customers" USING (email)',
            {"insurer customers", "bank-customers"},
        ),
        ('SELECT * FROM "we""ird"', {'we"ird'}),
        # A static PIVOT is a read-only query.
        ("PIVOT a ON k IN ('x', 'y') USING sum(v)", {"a"}),
        ("SELECT * FROM a PIVOT (sum(v) FOR k IN ('x', 'y'))", {"a"}),
        ("UNPIVOT a ON v1, v2 INTO NAME n VALUE w", {"a"}),
    ],
)
def test_referenced_tables(query: str, tables: set[str]) -> None:
    assert referenced_tables(query) == frozenset(tables)


def test_the_tutorial_query() -> None:
    query = "WITH x AS (SELECT * FROM a) SELECT * FROM x JOIN b ON x.id = b.id"
    assert referenced_tables(query) == {"a", "b"}


def test_deep_nesting_is_handled() -> None:
    # sqlglot's recursive parser manages about 90 levels under Python's default recursion limit.
    depth = 60
    query = "SELECT * FROM " + "(SELECT * FROM " * depth + "a" + ") s" * depth
    assert referenced_tables(query) == {"a"}


def test_absurd_nesting_is_refused_not_crashed() -> None:
    query = "SELECT * FROM (" * 3000 + "SELECT 1" + ")" * 3000
    with pytest.raises(DefinitionError, match="nested too deeply"):
        referenced_tables(query)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT 1; SELECT 2", "exactly one statement, found 2"),
        ("SELECT * FROM a; DROP TABLE a", "exactly one statement"),
        ("", "SQL is empty"),
        ("-- only a comment", "SQL is empty"),
        ("SELEC 1", "does not parse"),
        ("SELECT 'unterminated", "does not parse"),
        ("DROP TABLE a", "DROP statements are not allowed"),
        ("INSERT INTO a VALUES (1)", "INSERT statements are not allowed"),
        ("UPDATE a SET x = 1", "UPDATE statements are not allowed"),
        ("DELETE FROM a", "DELETE statements are not allowed"),
        ("CREATE TABLE x AS SELECT * FROM a", "CREATE statements are not allowed"),
        ("CREATE VIEW v AS SELECT * FROM a", "CREATE statements are not allowed"),
        ("COPY a TO '/tmp/x.csv'", "COPY statements are not allowed"),
        ("ATTACH 'other.db'", "ATTACH statements are not allowed"),
        ("INSTALL httpfs", "INSTALL statements are not allowed"),
        ("LOAD httpfs", "LOAD statements are not allowed"),
        ("SET memory_limit = '1GB'", "SET statements are not allowed"),
        ("RESET memory_limit", "RESET statements are not allowed"),
        ("PRAGMA version", "PRAGMA statements are not allowed"),
        ("CALL pragma_version()", "CALL statements are not allowed"),
        ("EXPLAIN SELECT 1", "EXPLAIN statements are not allowed"),
        ("DESCRIBE a", "DESCRIBE statements are not allowed"),
        ("CHECKPOINT", "CHECKPOINT statements are not allowed"),
        (
            "WITH x AS (INSERT INTO a VALUES (1) RETURNING *) SELECT * FROM x",
            "INSERT is not allowed",
        ),
        # Table functions, files and qualified names: name what was refused.
        ("SELECT * FROM read_csv('/etc/passwd')", "table function READ_CSV('/etc/passwd')"),
        ("SELECT * FROM range(10)", "table function RANGE"),
        ("SELECT * FROM glob('*')", "table function GLOB('*')"),
        ("SELECT * FROM read_text('/etc/passwd')", "table function READ_TEXT"),
        ("SELECT * FROM query('SELECT 1')", "table function QUERY"),
        ("SELECT * FROM a WHERE x IN (SELECT * FROM read_parquet('x.parquet'))", "READ_PARQUET"),
        ("WITH x AS (SELECT * FROM read_json('x')) SELECT * FROM x", "READ_JSON"),
        ("SELECT * FROM 'file.csv'", "file reference 'file.csv'"),
        ("SELECT * FROM a JOIN '/etc/passwd' ON true", "file reference '/etc/passwd'"),
        ("SELECT * FROM main.a", "qualified table name main.a"),
        ("SELECT * FROM x.y.z", "qualified table name x.y.z"),
        ('SELECT * FROM "bank customers"."t"', "qualified table name"),
        # A PIVOT over values read from the data.
        ("PIVOT a ON k USING sum(v)", "PIVOT on k must list its values"),
        ("SELECT * FROM (PIVOT a ON k USING sum(v))", "must list its values"),
        ("SELECT * FROM a PIVOT (sum(v) FOR k IN ANY)", "must list its values"),
        ("SELECT * FROM a PIVOT (sum(v) FOR k IN (SELECT k FROM b))", "must list its values"),
    ],
)
def test_refusals(query: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        referenced_tables(query)
    assert message in str(caught.value)


def test_every_refusal_is_named() -> None:
    with pytest.raises(DefinitionError) as caught:
        referenced_tables(
            "SELECT * FROM main.a JOIN read_csv('x.csv') ON true JOIN 'y.csv' ON true"
        )
    message = str(caught.value)
    assert message.index("main.a") < message.index("READ_CSV") < message.index("'y.csv'")


def test_double_quoted_path_like_name_is_a_table_name() -> None:
    # Only single quotes make DuckDB read a file; a double-quoted name is an identifier.
    assert referenced_tables('SELECT * FROM "data.csv"') == {"data.csv"}


def test_check_query_dependencies_accepts_declared_tables() -> None:
    check_query_dependencies(
        'WITH x AS (SELECT * FROM "Bank Customers") SELECT * FROM x JOIN orders USING (id)',
        ["bank customers", "ORDERS", "unused"],
    )


def test_check_query_dependencies_names_every_missing_table() -> None:
    with pytest.raises(DefinitionError) as caught:
        check_query_dependencies("SELECT * FROM a JOIN b USING (id) JOIN c USING (id)", ["a"])
    message = str(caught.value)
    assert 'tables "b", "c"' in message
    assert 'not among its dependencies ("a")' in message


def test_check_query_dependencies_with_no_dependencies() -> None:
    with pytest.raises(DefinitionError, match=r'table "a", not among its dependencies \(none\)'):
        check_query_dependencies("SELECT * FROM a", [])


def test_check_query_dependencies_passes_refusals_through() -> None:
    with pytest.raises(DefinitionError, match="table function"):
        check_query_dependencies("SELECT * FROM read_csv('x')", ["a"])


def test_fold_identifier_is_ascii_only_like_duckdb() -> None:
    assert fold_identifier("Bank Customers") == "bank customers"
    assert fold_identifier("ÜBER") == "Über"  # non-ASCII letters keep their case
    assert referenced_tables('SELECT * FROM "ÜBER"') == {"Über"}
