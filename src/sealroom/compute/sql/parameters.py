"""Named parameters of SQL nodes: ``$name`` in the query, a string value supplied per run.

A SQL node may declare parameter names; the analyst gives each a value when running the node
(``run_computation(parameters={...})``), and the engine hands the values to DuckDB as *bound*
prepared-statement parameters. A value is never spliced into SQL text, so it cannot change the
query's structure: ``"x' OR '1'='1"`` is a string compared with a column, nothing more.

Syntax: DuckDB's named parameters, ``$name`` with ``name`` matching :data:`PARAMETER_NAME`.
Values are strings; SQL converts them where needed (``CAST($min_age AS INTEGER)``).

Invariants of a query accepted by :func:`check_query_parameters` (definition time):

* Parameters are found by sqlglot's DuckDB parser, never by a regular expression over the text,
  so ``'$x'`` in a string literal, ``"$x"`` as an identifier, ``$$...$x...$$`` dollar quoting and
  ``-- $x`` comments are not parameters. (At run time the engine also asks DuckDB's own parser
  which parameters it sees and refuses any difference.)
* Only named parameters: positional ``?`` and ``$1`` are refused (their meaning depends on order).
* The query uses exactly the declared names, spelled as declared. A declared name the query
  does not use is refused: it is almost surely a typo of one it does use.
* Declared names are valid, at most :data:`MAX_PARAMETERS`, and distinct even ignoring case
  (DuckDB matches parameter names case-insensitively: ``$Day`` and ``$day`` are one parameter).
* A parameter is a scalar value only. Refused wherever a run-time value would choose *what* the
  query reads or outputs rather than a value it computes with: table names and table-function
  arguments (``query($sql)``, ``query_table($t)``, ``read_csv($f)``), ``COLUMNS($regex)``,
  ``PIVOT ... IN ($v)`` (values become column names), and where DuckDB cannot bind one
  (``USING SAMPLE``, a bare ``GROUP BY $p`` / ``ORDER BY $p`` item).

The privacy filter (:mod:`.privacy`) and differential privacy (:mod:`.dp`) refuse parameters in
further places at run time, where a run-time value would change what they guarantee.

Values (:func:`check_parameter_values`, run time) are refused with
:class:`~sealroom.errors.BadRequestError` (code ``invalid_parameters``) when a declared name has
no value, a name is unknown, a value is not a ``str``, longer than
:data:`MAX_PARAMETER_VALUE_CHARS`, holds NUL or is not encodable as UTF-8. No message ever
contains a value: values may be as sensitive as data (an email address to look up).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from sealroom.errors import BadRequestError, DefinitionError

from .references import fold_identifier, parse_single_statement

__all__ = [
    "INVALID_PARAMETERS_CODE",
    "MAX_PARAMETERS",
    "MAX_PARAMETER_VALUE_CHARS",
    "PARAMETER_NAME",
    "binding_problem",
    "check_parameter_values",
    "check_query_parameters",
    "checked_values",
    "name_problem",
    "parameter_casts",
    "query_parameters",
    "value_problem",
]

#: A parameter name: an ASCII identifier of at most 64 characters (DuckDB's ``$name`` syntax).
PARAMETER_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

#: Parameters one SQL node may declare. A query needs a handful (a date range, a segment, a
#: threshold); the cap bounds the size of a run request and of its audit entry (with
#: MAX_PARAMETER_VALUE_CHARS: at most 16,000 characters of values per run).
MAX_PARAMETERS: Final = 16

#: Characters (code points) of one value. Parameters are constants: dates, identifiers, emails,
#: category names, a short comma-separated list split in SQL; 1000 holds any of them, while a
#: value long enough to be a dataset is refused before it reaches the core's memory or the log.
MAX_PARAMETER_VALUE_CHARS: Final = 1000

#: Wire code of every refusal of :func:`check_parameter_values`.
INVALID_PARAMETERS_CODE: Final = "invalid_parameters"

# Where a parameter would pick what the query reads or outputs, or where DuckDB cannot bind one.
_REFUSED_CONTEXTS: Final[tuple[tuple[type[exp.Expr], str], ...]] = (
    (
        exp.Table,
        "cannot name a table or be passed to a table function (it would choose at run time "
        "what the query reads)",
    ),
    (exp.Columns, "cannot be used in COLUMNS(...) (it would choose the columns at run time)"),
    (exp.Pivot, "cannot be used in PIVOT (its values would become column names)"),
    (exp.TableSample, "cannot be used in a SAMPLE clause (DuckDB accepts only constants there)"),
)


def query_parameters(query: str) -> frozenset[str]:
    """The names of the ``$name`` parameters ``query`` uses, spelled as in the query.

    Raises :class:`DefinitionError` when the query does not parse as one statement, or uses a
    positional parameter (``?``, ``$1``) or a name that is not a :data:`PARAMETER_NAME`.
    """
    return frozenset(_name(p) for p in _placeholders(parse_single_statement(query)))


def check_query_parameters(query: str, declared: Sequence[str]) -> None:
    """Raise :class:`DefinitionError` unless ``query`` uses exactly the ``declared`` parameters.

    See the module docstring for the rules. Complements
    :func:`.references.check_query_dependencies` (which refuses table functions and the like
    for every query); a room definition needs both checks.
    """
    _check_declared(declared)
    tree = parse_single_statement(query)
    used: list[str] = []
    for placeholder in _placeholders(tree):
        name = _name(placeholder)
        _check_context(placeholder, name)
        used.append(name)
    names = set(used)
    declared_by_fold = {fold_identifier(name): name for name in declared}
    undeclared = sorted(name for name in names if name not in declared)
    if undeclared:
        hints = []
        for name in undeclared:
            spelled = declared_by_fold.get(fold_identifier(name))
            hints.append(f"${name} (declared as {spelled!r})" if spelled else f"${name}")
        raise DefinitionError(
            f"SQL uses undeclared parameter(s) {', '.join(hints)}; declare every parameter "
            "the query uses, spelled as in the query"
        )
    unused = sorted(name for name in declared if name not in names)
    if unused:
        raise DefinitionError(
            f"parameter(s) {', '.join(repr(n) for n in unused)} are declared but the SQL does "
            "not use them (write $name in the query, or remove the declaration)"
        )


def check_parameter_values(declared: Sequence[str], values: Mapping[str, str]) -> dict[str, str]:
    """The values of one run, checked against the node's ``declared`` names; a new plain dict.

    Raises :class:`BadRequestError` (code ``invalid_parameters``) for a declared name without a
    value, a name that is not declared, or a value that is not an acceptable string (see the
    module docstring). Messages name parameters, never values.
    """
    unknown = [name for name in values if name not in declared]
    if unknown:
        shown = [repr(n) for n in unknown if isinstance(n, str) and PARAMETER_NAME.fullmatch(n)]
        others = len(unknown) - len(shown)
        listed = ", ".join([*sorted(shown), *([f"{others} invalid name(s)"] if others else [])])
        known = ", ".join(repr(n) for n in declared) or "none"
        raise BadRequestError(
            f"unknown parameter(s) {listed}; this computation declares: {known}",
            code=INVALID_PARAMETERS_CODE,
        )
    missing = [name for name in declared if name not in values]
    if missing:
        raise BadRequestError(
            f"no value for parameter(s) {', '.join(repr(n) for n in missing)}",
            code=INVALID_PARAMETERS_CODE,
        )
    checked: dict[str, str] = {}
    for name in declared:
        problem = value_problem(values[name])
        if problem is not None:
            raise BadRequestError(f"parameter {name!r}: {problem}", code=INVALID_PARAMETERS_CODE)
        checked[name] = values[name]
    return checked


def value_problem(value: object) -> str | None:
    """Why ``value`` cannot be a parameter value (never quoting it), or ``None`` if it can."""
    if not isinstance(value, str):
        return f"the value must be a string, not {type(value).__name__}"
    if len(value) > MAX_PARAMETER_VALUE_CHARS:
        return f"the value is longer than {MAX_PARAMETER_VALUE_CHARS} characters"
    if "\x00" in value:
        # DuckDB strings carry NUL, but C-string consumers (regex, LIKE patterns) would cut them.
        return "the value contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "the value is not valid Unicode text (lone surrogate)"
    return None


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a parameter name, or ``None`` if it can."""
    if not isinstance(name, str) or not PARAMETER_NAME.fullmatch(name):
        return (
            "a parameter name must be a letter or _ followed by letters, digits or _ "
            "(at most 64 characters)"
        )
    return None


def checked_values(values: Mapping[str, str]) -> dict[str, str]:
    """A plain copy of run-time ``values``; ``ValueError`` if one is malformed (a caller bug).

    For the engine, which expects values already checked by :func:`check_parameter_values`.
    """
    checked: dict[str, str] = {}
    folded: set[str] = set()
    for name, value in values.items():
        problem = name_problem(name) or value_problem(value)
        if problem is not None:
            raise ValueError(f"parameter values: {problem}")
        if fold_identifier(name) in folded:
            raise ValueError("parameter values: two names differ only in case")
        folded.add(fold_identifier(name))
        checked[name] = value
    return checked


def binding_problem(seen: Collection[str], values: Mapping[str, str]) -> str | None:
    """Why ``values`` cannot be bound to a statement in which DuckDB sees parameters ``seen``.

    DuckDB reports ``?`` and ``$1`` as the names ``"1"``, ``"2"``, ...; names match ignoring
    case, as DuckDB matches them. ``None`` when every parameter seen has exactly one value and
    every value is used.
    """
    seen_by_fold = {fold_identifier(name): name for name in seen}
    if any(name.isdigit() for name in seen_by_fold):
        return "positional parameters (? or $1) are not supported; use $name"
    given = {fold_identifier(name) for name in values}
    missing = sorted(seen_by_fold[name] for name in seen_by_fold.keys() - given)
    if missing:
        return f"no value for parameter(s) {', '.join('$' + name for name in missing)}"
    unused = sorted(name for name in values if fold_identifier(name) not in seen_by_fold)
    if unused:
        listed = ", ".join(repr(name) for name in unused)
        return f"values were given for parameter(s) the SQL does not use: {listed}"
    return None


def parameter_casts(query: str) -> tuple[tuple[str, str, str], ...]:
    """``(name, type, sql)`` of each explicit ``CAST($name AS type)`` (or ``$name::type``).

    ``sql`` is ``SELECT CAST($name AS type)``: run with the value bound, it tells whether the
    value converts, which depends on the value alone, never on data (the engine uses it to say
    *which* parameter is wrong). ``TRY_CAST`` is left out: it does not fail. Empty when sqlglot
    cannot parse the query (the check is a courtesy; DuckDB still converts and fails safely).
    """
    try:
        statements = sqlglot.parse(query, read="duckdb")
    except (SqlglotError, RecursionError):
        return ()
    found: dict[tuple[str, str, str], None] = {}
    for statement in statements:
        if statement is None:
            continue
        for cast in statement.find_all(exp.Cast):
            inner = cast.this
            if isinstance(cast, exp.TryCast) or not isinstance(inner, exp.Placeholder):
                continue
            if not isinstance(inner.this, str) or not PARAMETER_NAME.fullmatch(inner.this):
                continue
            to = cast.args["to"]
            check = exp.select(exp.Cast(this=inner.copy(), to=to.copy()))
            found[(inner.this, to.sql(dialect="duckdb"), check.sql(dialect="duckdb"))] = None
    return tuple(found)


def _check_declared(declared: Sequence[str]) -> None:
    if isinstance(declared, str):
        raise DefinitionError("parameters must be a list of names, not one string")
    if len(declared) > MAX_PARAMETERS:
        raise DefinitionError(
            f"a computation may declare at most {MAX_PARAMETERS} parameters, not {len(declared)}"
        )
    seen: dict[str, str] = {}
    for name in declared:
        problem = name_problem(name)
        if problem is not None:
            shown = repr(name[:70]) if isinstance(name, str) else type(name).__name__
            raise DefinitionError(f"invalid parameter name {shown}: {problem}")
        folded = fold_identifier(name)
        if folded in seen:
            # DuckDB matches $names case-insensitively: two such names would be one parameter.
            same = "twice" if seen[folded] == name else f"twice ({seen[folded]!r} and {name!r})"
            raise DefinitionError(
                f"parameter {name!r} is declared {same}; names must differ ignoring case"
            )
        seen[folded] = name


def _placeholders(tree: exp.Expr) -> Iterator[exp.Placeholder]:
    for node in tree.find_all(exp.Placeholder, exp.Parameter):
        if not isinstance(node, exp.Placeholder):
            raise DefinitionError(
                f"unsupported parameter syntax {node.sql(dialect='duckdb')[:40]!r}: use $name"
            )
        yield node


def _name(placeholder: exp.Placeholder) -> str:
    name = placeholder.this
    if not isinstance(name, str) or not name or name.isdigit():
        raise DefinitionError(
            "positional parameters (? or $1) are not supported: name each parameter ($name) "
            "and declare it"
        )
    if not PARAMETER_NAME.fullmatch(name):
        raise DefinitionError(f"invalid parameter name ${name[:70]}: {name_problem(name)}")
    return name


def _check_context(placeholder: exp.Placeholder, name: str) -> None:
    for context, reason in _REFUSED_CONTEXTS:
        if placeholder.find_ancestor(context) is not None:
            raise DefinitionError(f"parameter ${name} {reason}")
    item: exp.Expr = placeholder
    while isinstance(item.parent, exp.Paren):
        item = item.parent
    if isinstance(item.parent, exp.Group | exp.Ordered) and item.arg_key in ("expressions", "this"):
        raise DefinitionError(
            f"parameter ${name} cannot be a GROUP BY or ORDER BY item on its own (DuckDB does "
            "not bind it there; a constant key groups or orders nothing)"
        )
