"""docs/privacy.md says what the filter does: its function tables equal the allow-list.

Each table between ``<!-- allow-list: NAME -->`` markers lists DuckDB spellings. Every spelling
must parse to a node the module puts in that group, and every function of the group must have a
spelling in the page, so neither can change without the other.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from sealroom.compute.sql import privacy_allowlist as allow
from sealroom.compute.sql.privacy import PrivacyFilter, plan_filtered_query
from sealroom.errors import PrivacyFilterError

PAGE = Path(__file__).parents[2] / "docs" / "privacy.md"
GROUPS = {
    "row": (allow.ROW_FUNCTIONS, allow.ANONYMOUS_ROW_FUNCTIONS),
    "counting": (allow.COUNTING_AGGREGATES, allow.ANONYMOUS_COUNTING_AGGREGATES),
    "revealing": (allow.REVEALING_AGGREGATES, allow.ANONYMOUS_REVEALING_AGGREGATES),
}
#: Spelled with syntax of their own (documented with the operators), not as name(...).
SYNTAX = {
    exp.Case,
    exp.Cast,
    exp.TryCast,
    exp.Try,
    exp.Interval,
    exp.DPipe,
    exp.And,
    exp.Or,
    exp.Not,
    exp.IgnoreNulls,
    exp.WithinGroup,
}


def documented(group: str) -> list[str]:
    text = PAGE.read_text()
    match = re.search(rf"<!-- allow-list: {group} -->\n(.*?)<!-- /allow-list -->", text, re.S)
    assert match is not None, f"docs/privacy.md has no {group} table"
    rows = [line.strip("| ") for line in match.group(1).splitlines()[2:] if line.strip()]
    return [name.strip() for row in rows for name in row.split(",")]


def parsed(name: str) -> exp.Expr:
    """The node sqlglot makes of a call to ``name`` (with as many arguments as it takes)."""
    if name == "current_date":
        return sqlglot.parse_one("SELECT current_date", read="duckdb").expressions[0]
    for arguments in ("a", "a, b", "a, b, c", "'day', a"):
        try:
            node = sqlglot.parse_one(f"SELECT {name}({arguments})", read="duckdb").expressions[0]
            # any_value(x) parses as IGNORE NULLS around the aggregate itself.
            return node.this if isinstance(node, exp.IgnoreNulls) else node
        except SqlglotError:
            continue
    raise AssertionError(f"{name} does not parse")


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_documented_function_is_in_its_group(group: str) -> None:
    classes, anonymous = GROUPS[group]
    for name in documented(group):
        node = parsed(name)
        if isinstance(node, exp.Anonymous):
            assert node.name.lower() in anonymous, name
        else:
            assert type(node) in classes, (name, type(node).__name__)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_function_of_a_group_is_documented(group: str) -> None:
    classes, anonymous = GROUPS[group]
    seen = {type(parsed(name)) for name in documented(group)}
    names = set(documented(group))
    functions = {c for c in classes if issubclass(c, exp.Func) and c not in SYNTAX}
    functions -= {c for c in allow.CONDITIONAL if not issubclass(c, exp.Func)}
    assert sorted(c.__name__ for c in functions - seen) == []
    assert sorted(anonymous - names) == []


def test_the_tables_examples_are_decided_as_the_page_says() -> None:
    """A page sentence per row of the SQL table, checked against the filter itself."""
    relations = {"people": [("city", "VARCHAR"), ("salary", "BIGINT"), ("id", "BIGINT")]}

    def decide(query: str) -> bool:
        try:
            plan_filtered_query(query, relations, PrivacyFilter(5), output_names=["a", "b"])
        except PrivacyFilterError:
            return False
        return True

    assert decide("FROM people SELECT city, COUNT(*) GROUP BY ALL")
    assert decide(
        "WITH x AS (SELECT city, salary FROM people WHERE id > 3) "
        "SELECT city, SUM(salary) FROM x GROUP BY city HAVING COUNT(*) > 1 LIMIT 5"
    )
    assert decide("SELECT city, COUNT(*) FROM people WHERE city = $c GROUP BY city")
    assert not decide("SELECT city, COUNT(*) FROM people GROUP BY ROLLUP (city)")
    assert not decide(
        "SELECT city, COUNT(*) FROM people GROUP BY city UNION ALL "
        "SELECT city, COUNT(*) FROM people GROUP BY city"
    )
    assert not decide(
        "SELECT city, COUNT(*) FROM people WHERE id IN (SELECT id FROM people) GROUP BY city"
    )
    assert not decide("SELECT city, COUNT(*) FROM people GROUP BY city HAVING COUNT(*) > $c")
