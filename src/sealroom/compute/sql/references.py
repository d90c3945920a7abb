"""Which tables a room's SQL reads, checked when the room is built.

:func:`referenced_tables` parses a query with sqlglot (DuckDB dialect) and returns the base
tables it reads; :func:`check_query_dependencies` checks them against a node's declared
dependencies. Both raise :class:`~sealroom.errors.DefinitionError` with a message meant to help
the author fix the query.

Invariants of an accepted query:

* exactly one statement, and it is a read-only query: SELECT (also ``FROM t`` and ``TABLE t``),
  WITH … SELECT, UNION / INTERSECT / EXCEPT, VALUES, or a DuckDB PIVOT / UNPIVOT statement;
* no DML or DDL anywhere inside it;
* every table it reads is named by a bare identifier: no table functions (``read_csv(...)``,
  ``range(...)``, ``glob(...)``), no file paths (``'file.csv'``) and no schema or catalog
  qualifiers (``main.t``, ``x.y.z``);
* every PIVOT lists its values (``ON col IN ('a', 'b')``): a PIVOT over values read from the data
  would turn data values into column names, i.e. into error messages and the result schema.

Names of common table expressions are scoped like DuckDB does: a CTE is visible in the main query
and in the CTEs after it (in its own body too under ``WITH RECURSIVE``), so in
``WITH a AS (SELECT * FROM a) SELECT * FROM a`` the inner ``a`` is the base table.

This is the definition-time policy gate; the engine (:mod:`.engine`) is the run-time sandbox and
does not rely on it.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from sealroom.errors import DefinitionError

__all__ = [
    "check_query_dependencies",
    "fold_identifier",
    "parse_single_statement",
    "quote_identifier",
    "referenced_tables",
]

_DIALECT = "duckdb"

# Longest piece of query text quoted back in a message; enough to recognise the spot.
_MAX_QUOTED_CHARS = 80

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

# Statement kinds that only read. sqlglot parses "FROM t" and "TABLE t" as Select.
_READ_ONLY_STATEMENTS = (exp.Select, exp.SetOperation, exp.Values, exp.Pivot)

# Nodes that change state; refused anywhere in the tree, e.g. inside a CTE.
_WRITING_NODES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Copy,
    exp.Command,
    exp.Set,
    exp.Pragma,
    exp.Attach,
    exp.Detach,
    exp.Use,
)


def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (any text, quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def fold_identifier(name: str) -> str:
    """The case-folded form DuckDB compares identifiers in: ASCII letters lower-cased, nothing else.

    DuckDB identifiers are case-insensitive even when quoted, but only for ASCII letters
    (``"über"`` and ``"ÜBER"`` are different tables), so ``str.lower`` would be wrong.
    """
    return name.translate(_ASCII_LOWER)


def referenced_tables(query: str) -> frozenset[str]:
    """The base tables ``query`` reads, folded with :func:`fold_identifier`; CTE names excluded.

    Raises :class:`DefinitionError` if the query does not parse, is not exactly one read-only
    query, or reads anything but bare table names (see the module docstring).
    """
    statement = parse_single_statement(query)
    unwrapped = statement
    while isinstance(unwrapped, exp.Subquery):  # "(SELECT ...)" is a query too
        unwrapped = unwrapped.this
    if not isinstance(unwrapped, _READ_ONLY_STATEMENTS):
        raise DefinitionError(
            f"SQL must be a read-only query (SELECT, WITH ... SELECT, UNION/INTERSECT/EXCEPT or "
            f"VALUES); {_statement_kind(unwrapped)} statements are not allowed"
        )
    tables: set[str] = set()
    refusals: list[str] = []
    _collect(statement, query, tables, refusals)
    if refusals:
        unique = list(dict.fromkeys(refusals))
        raise DefinitionError("SQL refused: " + "; ".join(unique))
    return frozenset(tables)


def check_query_dependencies(query: str, dependencies: Iterable[str]) -> None:
    """Raise :class:`DefinitionError` naming every table ``query`` reads that is not a dependency.

    Comparison is case-insensitive the way DuckDB's is (:func:`fold_identifier`).
    """
    declared = {fold_identifier(name) for name in dependencies}
    missing = sorted(referenced_tables(query) - declared)
    if missing:
        listed = ", ".join(f'"{name}"' for name in missing)
        known = ", ".join(f'"{name}"' for name in sorted(declared)) or "none"
        noun = "table" if len(missing) == 1 else "tables"
        raise DefinitionError(
            f"SQL reads {noun} {listed}, not among its dependencies ({known}); "
            f"add the {noun} to the node's dependencies or correct the name"
        )


def parse_single_statement(query: str) -> exp.Expr:
    """``query`` parsed by sqlglot (DuckDB dialect) as exactly one statement.

    Raises :class:`DefinitionError` with a message meant for the query's author.
    """
    try:
        parsed = sqlglot.parse(query, dialect=_DIALECT)
    except ParseError as error:
        raise DefinitionError(f"SQL does not parse: {_describe_parse_error(error)}") from None
    except SqlglotError as error:
        # Tokenizer errors (e.g. an unterminated string) carry a short message of their own.
        raise DefinitionError(f"SQL does not parse: {_shorten(str(error))}") from None
    except RecursionError:
        # sqlglot's parser is recursive; DuckDB would refuse such depth as well.
        raise DefinitionError("SQL is nested too deeply to check") from None
    # An empty statement (a trailing ";" or a comment) parses as None.
    statements = [statement for statement in parsed if statement is not None]
    if not statements:
        raise DefinitionError("SQL is empty: write one SELECT query")
    if len(statements) > 1:
        raise DefinitionError(
            f"SQL must be exactly one statement, found {len(statements)} separated by ';'"
        )
    return statements[0]


def _describe_parse_error(error: ParseError) -> str:
    details = error.errors[0] if error.errors else None
    if details is None:
        return _shorten(str(error).splitlines()[0] if str(error) else "syntax error")
    near = (details.get("highlight") or "").strip()
    where = f"line {details.get('line')}, column {details.get('col')}"
    text = f"{details.get('description', 'syntax error')} at {where}"
    return f"{text} (near {_shorten(near)!r})" if near else text


def _statement_kind(statement: exp.Expr) -> str:
    """The statement's keyword: DROP, INSERT, LOAD, ..."""
    if isinstance(statement, exp.Command):
        # sqlglot keeps statements it does not model (LOAD, CALL, EXPLAIN, ...) as commands.
        return str(statement.this).upper()
    if isinstance(statement, (exp.Column, exp.Identifier)):
        # A lone keyword sqlglot does not know (CHECKPOINT, VACUUM) parses as a column name.
        return statement.name.upper()
    return statement.key.upper()


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_QUOTED_CHARS else text[: _MAX_QUOTED_CHARS - 3] + "..."


def _collect(root: exp.Expr, query: str, tables: set[str], refusals: list[str]) -> None:
    """Walk the tree (iteratively: deeply nested SQL must not hit Python's recursion limit)."""
    pending: list[tuple[exp.Expr, frozenset[str]]] = [(root, frozenset())]
    while pending:
        node, ctes = pending.pop()
        if isinstance(node, _WRITING_NODES):
            refusals.append(f"{_statement_kind(node)} is not allowed inside a query")
            continue
        if isinstance(node, exp.Pivot):
            _check_pivot(node, refusals)
        if isinstance(node, exp.Table):
            _check_table(node, ctes, query, tables, refusals)
        children, ctes = _cte_bodies(node, ctes)
        for key, value in node.args.items():
            if key in ("with", "with_"):
                continue  # the CTE bodies, already listed with the right scope each
            values = value if isinstance(value, list) else [value]
            children.extend((child, ctes) for child in values if isinstance(child, exp.Expr))
        # Reversed, so that the stack pops (and refusals are listed) in the order of the text.
        pending.extend(reversed(children))


def _cte_bodies(
    node: exp.Expr, ctes: frozenset[str]
) -> tuple[list[tuple[exp.Expr, frozenset[str]]], frozenset[str]]:
    """The CTE bodies of ``node``, each with its scope, and the scope of the rest of ``node``."""
    with_ = node.args.get("with_") or node.args.get("with")
    if not isinstance(with_, exp.With):
        return [], ctes
    recursive = bool(with_.args.get("recursive"))
    bodies: list[tuple[exp.Expr, frozenset[str]]] = []
    for cte in with_.expressions:
        name = fold_identifier(cte.alias)
        bodies.append((cte.this, ctes | {name} if recursive else ctes))
        ctes = ctes | {name}
    return bodies, ctes


def _check_table(
    table: exp.Table,
    ctes: frozenset[str],
    query: str,
    tables: set[str],
    refusals: list[str],
) -> None:
    identifier = table.this
    if not isinstance(identifier, exp.Identifier):
        # read_csv(...), range(...), glob(...), query(...), a macro: anything but a bare name.
        refusals.append(
            f"table function {_shorten(identifier.sql(dialect=_DIALECT))} is not allowed: "
            f"a query may only read the room's tables, by name"
        )
        return
    if table.args.get("db") or table.args.get("catalog"):
        refusals.append(
            f"qualified table name {_shorten(table.sql(dialect=_DIALECT))} is not allowed: "
            f'refer to tables by their node name only, e.g. "{identifier.name}"'
        )
        return
    if _is_single_quoted(identifier, query):
        # DuckDB reads FROM 'file.csv' as a file (sqlglot parses it as a quoted identifier).
        refusals.append(
            f"file reference '{_shorten(identifier.name)}' is not allowed: "
            f'a query may only read the room\'s tables, by name (double-quoted: "name")'
        )
        return
    name = fold_identifier(identifier.name)
    if name not in ctes:
        tables.add(name)


def _is_single_quoted(identifier: exp.Identifier, query: str) -> bool:
    start = identifier.meta.get("start")
    return isinstance(start, int) and 0 <= start < len(query) and query[start] == "'"


def _check_pivot(pivot: exp.Pivot, refusals: list[str]) -> None:
    if pivot.args.get("unpivot"):
        return  # UNPIVOT turns column names into values, never values into names
    # DuckDB "PIVOT t ON k IN (...)" keeps the ON list in "expressions"; the standard
    # "t PIVOT (agg FOR k IN (...))" keeps it in "fields".
    key = "fields" if pivot.args.get("fields") else "expressions"
    for field in pivot.args.get(key) or []:
        # Refused: no IN list, IN ANY (a "field"), IN (SELECT ...): all read the values from data.
        listed = (
            isinstance(field, exp.In)
            and not field.args.get("query")
            and not field.args.get("field")
            and bool(field.expressions)
            and not any(value.find(exp.Query) for value in field.expressions)
        )
        if not listed:
            column = field.this if isinstance(field, exp.In) else field
            refusals.append(
                f"PIVOT on {_shorten(column.sql(dialect=_DIALECT))} must list its values "
                f"(ON col IN ('a', 'b')): pivoting on values read from the data would turn "
                f"data values into column names"
            )
