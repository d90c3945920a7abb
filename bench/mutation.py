"""Mutation testing of the security modules (issue 14): do their own tests notice a small change?

For each configured module, mutmut makes every small change it knows (a comparison flipped, a
constant moved by one, a call's argument dropped...) and runs that module's own unit tests against
each mutant. A mutant the tests still pass on (it *survived*) is a behaviour no test pins.

mutmut only mutates code inside functions, and in these modules the module-level tables decide
as much (which permission grants which action, which SQL nodes the privacy filter refuses, a
size limit). So a second pass, *table mutants*, changes them one at a time: every module-level
set, frozenset, dict, list or tuple literal (also nested, or combined with ``|`` and ``-``) loses
each member or entry in turn; a set of ``Class.MEMBER`` gains each member of that class it lacks
(a stopped room allowing one more action); each name, enum member or string that a dict value
(or a field of a tuple in a table) holds is swapped for the next other value the same field holds
in that table; every number, a module-level limit or one in a table, moves by plus and minus one.
Each is an edit of the copy's source at the positions ``ast`` gives; the module's tests run
against it (``pytest -x -q``, forked from a warm runner, with a time limit) and the source is
written back. Table mutants are scored on their own line per module, under the same
``--min-score``.

Invariants:

* The checkout is never written to. The tool copies ``src/``, ``tests/`` and ``pyproject.toml``
  once into a temporary directory (one snapshot for every module of the run, however the files
  change meanwhile) and runs mutmut there; the directory is removed at the end. The copy is what
  the tests import: mutmut puts its mutated ``src`` first on ``sys.path``, ahead of the editable
  install's finder (a meta-path finder, consulted after the path). Were the checkout imported
  instead, mutmut would stop: its stats phase finds which tests reach which function through the
  mutated copy's trampolines (none would), and its forced-fail check (every mutated function
  raises) needs the tests to fail. The tool checks as well that the module imports from the copy.
  Table mutants are written into further copies of the snapshot's ``src`` (one per job), and
  the original is written back after each run.
* The score of a module is killed / (mutants - equivalent mutants). Killed includes mutants that
  time out or crash the test process; mutants no selected test reaches ("no tests") count as
  survivors, since no test would notice them either.
* Equivalent mutants (no test can tell them from the original) are listed in
  ``bench/mutation_equivalents.toml``, each by the function, the mutated source text and its
  replacement, never by mutmut's running number, which shifts as soon as the function changes.
  A table mutant's entry names the table (``function = "_REQUIRED"``) and the changed lines (a
  mutant that only deletes lines shows the line before on both sides). An entry that matches no
  mutant any more is *stale*, and one that matches a killed mutant is wrong (a test tells it
  apart): both fail the run.

Usage::

    ./dev mutation                       # all modules, all mutants
    ./dev mutation --module merkle --module policy
    ./dev mutation --sample 100          # a deterministic sample of 100 mutants per module
    ./dev mutation --min-score 90 --jobs 2
    ./dev mutation --tables-only         # only the table mutants (--no-tables: only mutmut's)

The first six modules, all of their 2,103 mutants, take about 29 minutes on a 2-core machine (most
of it compute/sql/privacy.py: 784 mutants, 9 s of tests for each survivor); ``--sample`` is there
for quicker looks. Their 146 table mutants take about 15 minutes more (measured with ``--jobs 1``
on the same machine while it ran other work: policy's 75 in 2.5-3.5 minutes, privacy's 49 in about
2 now that tests kill them all; the other four modules under 30 s each), and ``--sample`` draws
from them too. ``enclave/audit_log.py``'s 213 mutants take about a minute (all killed). mutmut
3.8.1 is pinned exactly: the results are read from its files (``mutants/**/*.py.meta`` for each
mutant's exit code, ``*.py.spans`` for where each mutant's code is in the mutated file).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import hashlib
import io
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tokenize
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS_FILE = ROOT / "bench" / "mutation_equivalents.toml"
PACKAGE = "sealroom"

# Module (path under src/sealroom) -> its own tests (glob patterns from the repository root).
# Adding a module is one line here.
MODULES: dict[str, tuple[str, ...]] = {
    "model/policy.py": ("tests/unit/test_model_policy.py",),
    "audit/merkle.py": ("tests/unit/test_audit_merkle.py",),
    "audit/checkpoint.py": ("tests/unit/test_audit_checkpoint.py",),
    "crypto/streaming.py": (
        "tests/unit/test_crypto_streaming.py",
        "tests/unit/test_crypto_decrypt_into.py",
        "tests/unit/test_crypto_dataset_ids.py",
    ),
    "compute/sql/privacy.py": (
        "tests/unit/test_sql_privacy_filter.py",
        "tests/unit/test_privacy_filter_attacks.py",
    ),
    "attestation/verify.py": ("tests/unit/test_attestation_verify.py",),
    # The core's authorisation and verified state (issue 15): the hostile-host suite is theirs.
    "enclave/authorize.py": (
        "tests/unit/test_core_tamper.py",
        "tests/unit/test_core_verified_facts.py",
    ),
    "enclave/verified_state.py": (
        "tests/unit/test_core_tamper.py",
        "tests/unit/test_core_verified_facts.py",
    ),
    # The rooms' logs: appends atomic with their rows, one log across cores sharing a host.
    "enclave/audit_log.py": (
        "tests/unit/test_audit_log.py",
        "tests/unit/test_core_tamper.py",
        "tests/unit/test_core_crash_atomic.py",
        "tests/unit/test_core_shared.py",
    ),
}

# mutmut's exit codes (mutmut/stats.py) that mean a test noticed the mutant: a failing test (1),
# a pytest internal error (3), a timeout or CPU limit (36, +-24, 152, 255), the hard kill after the
# CPU limit (-9), a crash (-11). Anything else is a survivor of some kind.
_KILLED_EXIT_CODES = frozenset({1, 3, 36, -24, 24, 152, 255, -9, -11})
_STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    35: "suspicious",
    None: "not checked",
    **{code: "killed" for code in (1, 3)},
    **{code: "timeout" for code in (36, -24, 24, 152, 255, -9)},
    -11: "segfault",
}

_CLASS_SEPARATOR = "ǁ"  # mutmut's mangled names: x_function, xǁClassǁmethod


class ConfigError(Exception):
    """The configuration or the equivalents file is wrong; the message says where."""


# --- configuration --------------------------------------------------------------------------


def select_modules(names: Sequence[str], modules: Mapping[str, object] = MODULES) -> list[str]:
    """The configured modules that ``--module`` names, in configuration order (all if none).

    A name may be the configured path (``audit/merkle.py``), without ``.py``, dotted
    (``audit.merkle``) or the file's stem alone (``merkle``) when only one module has it.
    """
    if not names:
        return list(modules)
    chosen: set[str] = set()
    for name in names:
        wanted = name.removesuffix(".py").replace(".", "/").strip("/")
        wanted = wanted.removeprefix(f"src/{PACKAGE}/").removeprefix(f"{PACKAGE}/")
        matches = [
            module
            for module in modules
            if module.removesuffix(".py") == wanted
            or module.removesuffix(".py").rsplit("/", 1)[-1] == wanted
        ]
        if len(matches) != 1:
            problem = "matches several modules" if matches else "is not a configured module"
            raise ConfigError(f"--module {name!r} {problem}; configured: {', '.join(modules)}")
        chosen.add(matches[0])
    return [module for module in modules if module in chosen]


def resolve_tests(root: Path, patterns: Iterable[str]) -> list[str]:
    """The test files (relative to ``root``, sorted) that ``patterns`` match.

    Raises :class:`ConfigError` if a pattern matches no file: a renamed test file must not
    silently leave a module with fewer tests (and a score that only looks worse).
    """
    files: set[str] = set()
    for pattern in patterns:
        found = [path.relative_to(root).as_posix() for path in root.glob(pattern)]
        if not found:
            raise ConfigError(f"test pattern {pattern!r} matches no file under {root}")
        files.update(found)
    return sorted(files)


@dataclass(frozen=True)
class Equivalent:
    """One mutant excluded as equivalent, identified by what it changes, not by its number."""

    module: str
    function: str  # "function" or "Class.method"
    original: str  # the mutated source line(s), stripped, joined by newlines
    mutant: str  # what the mutant has instead, likewise
    reason: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.original, self.mutant)


_EQUIVALENT_FIELDS = ("module", "function", "original", "mutant", "reason")


def parse_equivalents(text: str, modules: Iterable[str] = MODULES) -> list[Equivalent]:
    """The ``[[equivalent]]`` entries of an equivalents file, validated.

    Each entry has exactly the fields of :class:`Equivalent`, all non-empty strings, names a
    configured module, and appears once. ``original`` and ``mutant`` are compared line by line
    with surrounding whitespace stripped, so re-indenting the code does not make an entry stale.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"equivalents file: {error}") from error
    unknown_tables = set(data) - {"equivalent"}
    if unknown_tables:
        raise ConfigError(f"equivalents file: unknown keys {sorted(unknown_tables)}")
    entries = data.get("equivalent", [])
    if not isinstance(entries, list):
        raise ConfigError("equivalents file: 'equivalent' must be an array of tables")
    known_modules = set(modules)
    result: list[Equivalent] = []
    seen: set[tuple[str, str, str, str]] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"equivalents file, entry {number}"
        if not isinstance(entry, dict) or set(entry) != set(_EQUIVALENT_FIELDS):
            fields = sorted(entry) if isinstance(entry, dict) else entry
            raise ConfigError(f"{where}: needs exactly {_EQUIVALENT_FIELDS}, has {fields}")
        if not all(isinstance(entry[name], str) and entry[name].strip() for name in entry):
            raise ConfigError(f"{where}: every field must be a non-empty string")
        equivalent = Equivalent(
            module=entry["module"],
            function=entry["function"],
            original=_normalise(entry["original"].splitlines()),
            mutant=_normalise(entry["mutant"].splitlines()),
            reason=entry["reason"].strip(),
        )
        if equivalent.module not in known_modules:
            raise ConfigError(f"{where}: {equivalent.module!r} is not a configured module")
        if equivalent.key in seen:
            raise ConfigError(f"{where}: duplicate of an earlier entry")
        seen.add(equivalent.key)
        result.append(equivalent)
    return result


def _normalise(lines: Iterable[str]) -> str:
    return "\n".join(line.strip() for line in lines)


# --- reading mutmut's results ---------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """One mutant of a module: where it is, what it changes and what the tests made of it."""

    name: str  # mutmut's name, e.g. sealroom.audit.merkle.x__check_proof__mutmut_1
    module: str
    function: str
    exit_code: int | None
    line: int  # first changed line of the source file
    original: str
    mutant: str
    diff: str  # a small unified diff with the source file's line numbers

    @property
    def status(self) -> str:
        return _STATUS_BY_EXIT_CODE.get(self.exit_code, "suspicious")

    @property
    def checked(self) -> bool:
        return self.exit_code is not None

    @property
    def killed(self) -> bool:
        return self.exit_code in _KILLED_EXIT_CODES

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.original, self.mutant)


def function_name(mangled: str) -> str:
    """``x_verify`` -> ``verify``; ``xǁMerkleTreeǁroot`` -> ``MerkleTree.root``."""
    if mangled.startswith("x" + _CLASS_SEPARATOR):
        _, class_name, method = mangled.split(_CLASS_SEPARATOR)
        return f"{class_name}.{method}"
    if not mangled.startswith("x_"):
        raise ValueError(f"not a mutmut function name: {mangled!r}")
    return mangled[2:]


def definition_lines(source: str) -> dict[str, int]:
    """Line of the ``def`` of every top-level function and method, by ``Class.method`` name."""
    lines: dict[str, int] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines[node.name] = node.lineno
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines[f"{node.name}.{item.name}"] = item.lineno
    return lines


def describe_mutant(
    *,
    name: str,
    module: str,
    exit_code: int | None,
    spans: Mapping[str, Sequence[int]],
    mutated_lines: Sequence[str],
    def_lines: Mapping[str, int],
) -> Mutant:
    """Diff a mutant's function against the original one, both read out of the mutated file.

    mutmut writes, next to the trampoline, an unmutated copy ``<mangled>__mutmut_orig`` and each
    mutant ``<mangled>__mutmut_N`` of every function; ``spans`` gives their (inclusive, 1-based)
    lines. The copy is the source text unchanged, so a line's offset from the ``def`` is its
    offset in the source file.
    """
    generated = name.rpartition(".")[2]
    mangled = generated.partition("__mutmut_")[0]
    function = function_name(mangled)
    plain_name = function.rpartition(".")[2]
    original_name = f"{mangled}__mutmut_orig"

    def body(generated_name: str) -> tuple[list[str], int]:
        start, end = spans[generated_name]
        lines = list(mutated_lines[start - 1 : end])
        # a span may take in the blank lines around the function, not always the same ones
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        marker = f"def {generated_name}("
        index = next(i for i, line in enumerate(lines) if marker in line)
        lines[index] = lines[index].replace(marker, f"def {plain_name}(", 1)
        return lines, index

    before, before_def = body(original_name)
    after, after_def = body(generated)
    first_line = def_lines[function] - before_def  # source line of before[0]
    after_first_line = def_lines[function] - after_def

    changed_at, removed, added, diff = _line_diff(
        before, after, first_line, after_first_line, label=function, module=module
    )
    return Mutant(
        name=name,
        module=module,
        function=function,
        exit_code=exit_code,
        line=changed_at if changed_at is not None else def_lines[function],
        original=_normalise(removed),
        mutant=_normalise(added),
        diff=diff,
    )


def _line_diff(
    before: Sequence[str],
    after: Sequence[str],
    first_line: int,
    after_first_line: int,
    *,
    label: str,
    module: str,
) -> tuple[int | None, list[str], list[str], str]:
    """A small unified diff of ``before`` and ``after`` (lines that start at ``first_line`` and
    ``after_first_line`` of the source file), with the first changed line and the lines removed
    and added."""
    removed: list[str] = []
    added: list[str] = []
    hunks: list[str] = []
    changed_at: int | None = None
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for group in matcher.get_grouped_opcodes(1):
        a_start, a_end = group[0][1], group[-1][2]
        b_start, b_end = group[0][3], group[-1][4]
        hunks.append(
            f"@@ -{first_line + a_start},{a_end - a_start}"
            f" +{after_first_line + b_start},{b_end - b_start} @@ {label}"
        )
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                hunks.extend(" " + line for line in before[i1:i2])
                continue
            if changed_at is None:
                changed_at = first_line + i1
            hunks.extend("-" + line for line in before[i1:i2])
            hunks.extend("+" + line for line in after[j1:j2])
            removed.extend(before[i1:i2])
            added.extend(after[j1:j2])
    path = f"src/{PACKAGE}/{module}"
    return changed_at, removed, added, "\n".join([f"--- a/{path}", f"+++ b/{path}", *hunks])


def read_mutants(work: Path, module: str) -> list[Mutant]:
    """Every mutant mutmut generated for ``module`` in ``work``, with its result (if run)."""
    mutated = work / "mutants" / "src" / PACKAGE / module
    meta = json.loads(mutated.with_name(mutated.name + ".meta").read_text("utf-8"))
    spans = json.loads(mutated.with_name(mutated.name + ".spans").read_text("utf-8"))["spans"]
    mutated_lines = mutated.read_text("utf-8").splitlines()
    def_lines = definition_lines((work / "src" / PACKAGE / module).read_text("utf-8"))
    exit_codes: dict[str, int | None] = meta["exit_code_by_key"]
    return [
        describe_mutant(
            name=name,
            module=module,
            exit_code=exit_code,
            spans=spans,
            mutated_lines=mutated_lines,
            def_lines=def_lines,
        )
        for name, exit_code in exit_codes.items()
    ]


# --- table mutants --------------------------------------------------------------------------
#
# mutmut mutates code inside functions only. In these modules the module-level tables are
# decisions too (which permission grants an action, which SQL nodes are refused, a size limit),
# so a second pass changes them one at a time, as edits of the source text at the positions ast
# gives, and runs the module's tests against each.

_CONTAINER_CALLS = frozenset({"frozenset", "set", "tuple", "list", "dict", "MappingProxyType"})
_SET_OPERATORS = (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor, ast.Add)
_EMPTY = {ast.Set: "set()", ast.List: "[]", ast.Tuple: "()", ast.Dict: "{}"}
_LAYOUT_TOKENS = frozenset(
    {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
)


@dataclass(frozen=True)
class TableMutant:
    """One change to a module-level table or numeric constant: an edit of the source text."""

    table: str  # the assigned name, e.g. _REQUIRED
    number: int  # 1-based, in generation order within the table
    start: int  # character offsets into the module's source
    end: int
    replacement: str

    @property
    def name(self) -> str:
        return f"{self.table}__table_{self.number}"

    def apply(self, source: str) -> str:
        return source[: self.start] + self.replacement + source[self.end :]


_Edit = tuple[int, int, str]  # start, end, replacement


class _SourceText:
    """Character offsets of ast nodes (whose columns count UTF-8 bytes) and of the tokens."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._line_starts = [0]
        for line in source.split("\n")[:-1]:
            self._line_starts.append(self._line_starts[-1] + len(line) + 1)
        self._tokens: list[tuple[str, int, int]] = []  # text, start, end; layout left out
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in _LAYOUT_TOKENS or token.type == tokenize.ENDMARKER:
                continue
            start = self._line_starts[token.start[0] - 1] + token.start[1]
            end = self._line_starts[token.end[0] - 1] + token.end[1]
            self._tokens.append((token.string, start, end))
        self._starting_at = {start: index for index, (_, start, _) in enumerate(self._tokens)}
        self._ending_at = {end: index for index, (_, _, end) in enumerate(self._tokens)}

    def _offset(self, line: int, byte_column: int) -> int:
        start = self._line_starts[line - 1]
        line_bytes = self.source[start : start + byte_column].encode("utf-8")
        return start + len(line_bytes[:byte_column].decode("utf-8"))

    def span(self, node: ast.expr) -> tuple[int, int]:
        assert node.end_lineno is not None
        assert node.end_col_offset is not None
        return (
            self._offset(node.lineno, node.col_offset),
            self._offset(node.end_lineno, node.end_col_offset),
        )

    def text(self, node: ast.expr) -> str:
        start, end = self.span(node)
        return self.source[start:end]

    def outer_span(self, node: ast.expr) -> tuple[int, int]:
        """The node's span with the parentheses around it (``k: ("a" "b")``), which ast leaves
        out."""
        start, end = self.span(node)
        first, last = self._starting_at.get(start), self._ending_at.get(end)
        if first is None or last is None:
            return start, end
        while (
            first > 0
            and last + 1 < len(self._tokens)
            and self._tokens[first - 1][0] == "("
            and self._tokens[last + 1][0] == ")"
        ):
            first, last = first - 1, last + 1
        return self._tokens[first][1], self._tokens[last][2]

    def token_before(self, offset: int) -> tuple[str, int]:
        """The text and start of the token before the one that starts at ``offset``."""
        text, start, _ = self._tokens[self._starting_at[offset] - 1]
        return text, start

    def token_after(self, offset: int) -> tuple[str, int] | None:
        """The text and end of the token after the one that ends at ``offset``."""
        index = self._ending_at[offset] + 1
        if index >= len(self._tokens):
            return None
        text, _, end = self._tokens[index]
        return text, end

    def removal(self, start: int, end: int) -> _Edit:
        """The edit that deletes ``[start, end)``, with its line if nothing else is on it (the
        line's comment too), so that dropping an item leaves the layout as it was."""
        source = self.source
        line_start = source.rfind("\n", 0, start) + 1
        after = end
        while after < len(source) and source[after] in " \t":
            after += 1
        line_end = after
        if line_end < len(source) and source[line_end] == "#":
            line_end = source.find("\n", line_end)
            line_end = len(source) if line_end < 0 else line_end
        if not source[line_start:start].strip() and source[line_end : line_end + 1] == "\n":
            return line_start, line_end + 1, ""
        return start, after, ""


def _module_tables(tree: ast.Module) -> Iterator[tuple[str, ast.expr]]:
    """Module-level ``NAME = value`` and ``NAME: type = value`` whose value is a table or a
    number (dunder names such as ``__all__`` are left out: they decide nothing)."""
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            name, value = statement.targets[0].id, statement.value
        elif (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.value is not None
        ):
            name, value = statement.target.id, statement.value
        else:
            continue
        if name.startswith("__") and name.endswith("__"):
            continue
        if _number(value) is not None or _collections(value):
            yield name, value


def table_names(source: str) -> set[str]:
    """The module-level tables and constants of ``source`` that table mutants change."""
    return {name for name, _ in _module_tables(ast.parse(source))}


def _number(node: ast.expr) -> int | float | None:
    """The value of a numeric constant expression (``8 * 1024 * 1024``, ``-1``), else None."""
    if isinstance(node, ast.Constant):
        value = node.value
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _number(node.operand)
        if operand is None:
            return None
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _number(node.left), _number(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Pow) and 0 <= right <= 128:
            return left**right
    return None


def _collections(node: ast.expr) -> list[ast.Set | ast.List | ast.Tuple | ast.Dict]:
    """The collection literals a table value is made of: the literal itself, the one argument
    of ``frozenset(...)`` and the like, or both sides of ``A | B`` and ``A - {x}``."""
    if isinstance(node, ast.Set | ast.List | ast.Tuple | ast.Dict):
        return [node]
    if (
        isinstance(node, ast.Call)
        and len(node.args) == 1
        and not node.keywords
        and (
            (isinstance(node.func, ast.Name) and node.func.id in _CONTAINER_CALLS)
            or (isinstance(node.func, ast.Attribute) and node.func.attr in _CONTAINER_CALLS)
        )
    ):
        return _collections(node.args[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, _SET_OPERATORS):
        return _collections(node.left) + _collections(node.right)
    return []


def _is_leaf(node: ast.expr) -> bool:
    """A value a table entry can swap for another one: a name, ``Enum.MEMBER``, a string,
    bytes, None or a bool (numbers are moved by one instead)."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _is_leaf(node.value)
    return isinstance(node, ast.Constant) and (
        node.value is None or isinstance(node.value, str | bytes | bool)
    )


def _enum_prefix(node: ast.expr) -> str | None:
    """``Action`` for ``Action.STOP_ROOM``: a member of a class (its name is capitalised)."""
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id[:1].isupper()
    ):
        return node.value.id
    return None


def _enum_members(tree: ast.Module, values: Iterable[ast.expr]) -> dict[str, list[str]]:
    """For each class, the ``Class.MEMBER`` a set may gain: the members the module defines (an
    enum in this file), then those its tables name, in order of appearance."""
    members: dict[str, list[str]] = {}
    for statement in tree.body:
        if isinstance(statement, ast.ClassDef):
            for item in statement.body:
                if (
                    isinstance(item, ast.Assign)
                    and len(item.targets) == 1
                    and isinstance(item.targets[0], ast.Name)
                    and not item.targets[0].id.startswith("_")
                ):
                    members.setdefault(statement.name, []).append(
                        f"{statement.name}.{item.targets[0].id}"
                    )
    for value in values:
        for node in ast.walk(value):
            prefix = _enum_prefix(node) if isinstance(node, ast.expr) else None
            if prefix is not None and isinstance(node, ast.Attribute):
                known = members.setdefault(prefix, [])
                if f"{prefix}.{node.attr}" not in known:
                    known.append(f"{prefix}.{node.attr}")
    return members


def _number_edits(node: ast.expr, text: _SourceText) -> list[_Edit]:
    """The constant plus one and minus one."""
    value = _number(node)
    assert value is not None
    start, end = text.span(node)
    original = text.source[start:end]
    plain = isinstance(node, ast.Constant) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant)
    )
    edits: list[_Edit] = []
    for delta in (1, -1):
        if plain:
            moved = value + delta
            spelled = f"{moved:_}" if "_" in original and isinstance(moved, int) else repr(moved)
        else:
            spelled = f"({original}) {'+' if delta > 0 else '-'} 1"
        edits.append((start, end, spelled))
    return edits


def _drop_edits(
    items: Sequence[tuple[int, int]], container: ast.expr, text: _SourceText
) -> list[_Edit]:
    """Each item left out in turn, with the comma after it (or, for a last item that has none,
    the comma before it); the only item leaves an empty collection of the same type."""
    if len(items) == 1:
        start, end = text.span(container)
        return [(start, end, _EMPTY[type(container)])]
    edits: list[_Edit] = []
    for index, (start, end) in enumerate(items):
        comma = text.token_after(end)
        if comma is not None and comma[0] == ",":
            edits.append(text.removal(start, comma[1]))
        else:
            edits.append((items[index - 1][1], end, ""))
    return edits


def _swap_edits(
    rows: Sequence[tuple[tuple[object, ...], ast.expr]], text: _SourceText
) -> list[_Edit]:
    """Each leaf of a table's rows replaced by the next other value that the same field holds
    elsewhere in the table (in order of first appearance, wrapping around): deterministic, and
    it walks every value of the field through another one."""
    by_field: dict[tuple[object, ...], list[str]] = {}
    for field_key, node in rows:
        spellings = by_field.setdefault(field_key, [])
        if text.text(node) not in spellings:
            spellings.append(text.text(node))
    edits: list[_Edit] = []
    for field_key, node in rows:
        spellings = by_field[field_key]
        if len(spellings) < 2:
            continue
        original = text.text(node)
        other = spellings[(spellings.index(original) + 1) % len(spellings)]
        edits.append((*text.span(node), other))
    return edits


def _value_edits(
    node: ast.expr,
    text: _SourceText,
    members: Mapping[str, Sequence[str]],
) -> list[_Edit]:
    """The mutants of one table value: a number moved by one, each collection it is made of
    mutated in turn."""
    if _number(node) is not None:
        return _number_edits(node, text)
    edits: list[_Edit] = []
    for collection in _collections(node):
        edits.extend(_collection_edits(collection, text, members))
    return edits


def _record_fields(
    record: ast.expr, path: tuple[object, ...]
) -> Iterator[tuple[tuple[object, ...], ast.expr]]:
    """The leaves of one row: the value itself, or each field of a tuple (a record)."""
    if _is_leaf(record):
        yield path, record
    elif isinstance(record, ast.Tuple):
        for index, field_node in enumerate(record.elts):
            if _is_leaf(field_node):
                yield (*path, index), field_node


def _record_edits(
    record: ast.expr, text: _SourceText, members: Mapping[str, Sequence[str]]
) -> list[_Edit]:
    """Within one row: numbers moved by one and nested collections mutated. A tuple in a table
    is a record (its fields are swapped, never dropped: a shorter record only fails to unpack)."""
    fields = record.elts if isinstance(record, ast.Tuple) else [record]
    edits: list[_Edit] = []
    for field_node in fields:
        if _number(field_node) is not None or _collections(field_node):
            edits.extend(_value_edits(field_node, text, members))
    return edits


def _collection_edits(
    node: ast.Set | ast.List | ast.Tuple | ast.Dict,
    text: _SourceText,
    members: Mapping[str, Sequence[str]],
) -> list[_Edit]:
    edits: list[_Edit] = []
    if isinstance(node, ast.Dict):
        items: list[tuple[int, int]] = []
        for key, value in zip(node.keys, node.values, strict=True):
            value_start, value_end = text.outer_span(value)
            if key is None:  # **spread
                _, key_start = text.token_before(value_start)
            else:
                key_start = text.outer_span(key)[0]
            items.append((key_start, value_end))
        if items:
            edits.extend(_drop_edits(items, node, text))
        rows = [leaf for value in node.values for leaf in _record_fields(value, ("value",))]
        edits.extend(_swap_edits(rows, text))
        for value in node.values:
            edits.extend(_record_edits(value, text, members))
        return edits

    elements = node.elts
    if elements:
        edits.extend(_drop_edits([text.outer_span(element) for element in elements], node, text))
        prefixes = {_enum_prefix(element) for element in elements}
        prefix = prefixes.pop() if len(prefixes) == 1 else None
        if prefix is not None:
            present = {text.text(element) for element in elements}
            end = text.outer_span(elements[-1])[1]
            edits.extend(
                (end, end, f", {member}") for member in members[prefix] if member not in present
            )
    rows = [
        leaf
        for element in elements
        if isinstance(element, ast.Tuple)
        for leaf in _record_fields(element, ("row",))
    ]
    edits.extend(_swap_edits(rows, text))
    for element in elements:
        if isinstance(element, ast.Tuple):
            edits.extend(_record_edits(element, text, members))
        elif _number(element) is not None or _collections(element):
            edits.extend(_value_edits(element, text, members))
    return edits


def table_mutants(source: str) -> list[TableMutant]:
    """Every table mutant of a module's source, in source order of the tables.

    For each module-level table (a set, frozenset, dict, list or tuple literal, also nested) and
    each numeric constant: every member or entry dropped; a set of ``Class.MEMBER`` given each
    member of that class it lacks (the module's own enum's members, and those its tables name);
    each name, enum member or string a dict value (or a field of a tuple in a table) holds
    swapped for the next other value the same field holds in that table; every number plus and
    minus one. Mutants that make the same source are made once. Raises ``ValueError`` if a
    mutant would not parse (a bug here, not in the module).
    """
    text = _SourceText(source)
    tree = ast.parse(source)
    tables = list(_module_tables(tree))
    members = _enum_members(tree, (value for _, value in tables))
    seen = {source}
    mutants: list[TableMutant] = []
    for name, value in tables:
        number = 0
        for start, end, replacement in _value_edits(value, text, members):
            mutant = TableMutant(name, number + 1, start, end, replacement)
            mutated = mutant.apply(source)
            if mutated in seen:
                continue
            try:
                ast.parse(mutated)
            except SyntaxError as error:
                raise ValueError(f"table mutant {mutant.name} does not parse: {error}") from error
            seen.add(mutated)
            number += 1
            mutants.append(mutant)
    return mutants


def describe_table_mutant(
    *, source: str, module: str, mutant: TableMutant, exit_code: int | None
) -> Mutant:
    """A table mutant as a :class:`Mutant`, its table standing where a function would.

    Its ``original`` and ``mutant`` are the changed lines; a mutant that only removes lines (or
    only adds them) takes the line before in on both sides (the line after, at the top of the
    file), so that an equivalents entry has text on both.
    """
    before = source.splitlines()
    after = mutant.apply(source).splitlines()
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (
        suffix < min(len(before), len(after)) - prefix and before[-1 - suffix] == after[-1 - suffix]
    ):
        suffix += 1
    line = prefix + 1
    if prefix == len(before) - suffix or prefix == len(after) - suffix:
        if prefix > 0:
            prefix -= 1
        else:
            suffix -= 1
    _, _, _, diff = _line_diff(before, after, 1, 1, label=mutant.table, module=module)
    dotted = f"{PACKAGE}.{module.removesuffix('.py').replace('/', '.')}"
    return Mutant(
        name=f"{dotted}.{mutant.name}",
        module=module,
        function=mutant.table,
        exit_code=exit_code,
        line=line,
        original=_normalise(before[prefix : len(before) - suffix]),
        mutant=_normalise(after[prefix : len(after) - suffix]),
        diff=diff,
    )


# --- scoring --------------------------------------------------------------------------------


@dataclass
class ModuleResult:
    """The outcome of one module: its score and everything the report lists."""

    module: str
    total: int  # mutants run (the sample, or all)
    generated: int  # mutants mutmut made
    killed: int
    equivalent: int
    survivors: list[Mutant]
    stale: list[Equivalent] = field(default_factory=list)
    wrongly_equivalent: list[tuple[Equivalent, Mutant]] = field(default_factory=list)
    seconds: float = 0.0
    kind: str = "mutmut"  # or "tables": the table mutants, scored on their own

    @property
    def score(self) -> float:
        """Killed / non-equivalent mutants, in percent (100 when nothing is left to kill)."""
        counted = self.total - self.equivalent
        return 100.0 if counted == 0 else 100.0 * self.killed / counted


def score_module(
    module: str,
    mutants: Sequence[Mutant],
    equivalents: Iterable[Equivalent],
    *,
    kind: str = "mutmut",
) -> ModuleResult:
    """Score ``module``'s checked mutants, leaving out those ``equivalents`` lists.

    Staleness is judged against every generated mutant, checked or not, so that running a
    sample does not call an entry stale whose mutant was simply not drawn. ``equivalents`` are
    those of this kind of mutant (see :func:`split_equivalents`).
    """
    entries = [entry for entry in equivalents if entry.module == module]
    by_key = {entry.key: entry for entry in entries}
    matched: set[tuple[str, str, str, str]] = set()
    result = ModuleResult(
        module=module,
        total=0,
        generated=len(mutants),
        killed=0,
        equivalent=0,
        survivors=[],
        kind=kind,
    )
    for mutant in mutants:
        entry = by_key.get(mutant.key)
        if entry is not None:
            matched.add(entry.key)
        if not mutant.checked:
            continue
        result.total += 1
        if entry is not None:
            if mutant.killed:
                result.wrongly_equivalent.append((entry, mutant))
            result.equivalent += 1
        elif mutant.killed:
            result.killed += 1
        else:
            result.survivors.append(mutant)
    result.stale = [entry for entry in entries if entry.key not in matched]
    result.survivors.sort(key=lambda mutant: (mutant.line, mutant.name))
    return result


def split_equivalents(
    equivalents: Iterable[Equivalent], module: str, tables: Iterable[str]
) -> tuple[list[Equivalent], list[Equivalent]]:
    """``module``'s entries for mutmut's mutants, and those for its table mutants: an entry whose
    ``function`` is the name of one of the module's ``tables``."""
    names = set(tables)
    entries = [entry for entry in equivalents if entry.module == module]
    return (
        [entry for entry in entries if entry.function not in names],
        [entry for entry in entries if entry.function in names],
    )


def sample_names(names: Iterable[str], size: int) -> list[str]:
    """A deterministic sample: the ``size`` names with the smallest SHA-256 (same code, same
    sample, on every machine)."""
    return sorted(names, key=lambda name: hashlib.sha256(name.encode()).digest())[:size]


# --- running --------------------------------------------------------------------------------


def snapshot(work: Path) -> None:
    """Copy what the tests need into ``work`` (never the caches: they belong to the checkout)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT / "src", work / "src", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", work / "pyproject.toml")


def mutmut_config(module: str, tests: Sequence[str]) -> str:
    """The ``[tool.mutmut]`` table for one module (appended to the snapshot's pyproject.toml)."""
    return "\n".join(
        [
            "",
            "[tool.mutmut]",
            f'source_paths = ["src/{PACKAGE}"]',
            f"only_mutate = [{json.dumps(f'src/{PACKAGE}/{module}')}]",
            f"pytest_add_cli_args_test_selection = {json.dumps(list(tests))}",
            # the snapshot is no git repository; change detection only serves incremental reruns
            "use_git_change_detection = false",
            "",
        ]
    )


def check_import_from_copy(work: Path, module: str, env: Mapping[str, str], copy: Path) -> None:
    """With ``env``, the module must import from ``copy`` (a ``src`` directory in ``work``), not
    from the checkout that the editable install names."""
    dotted = f"{PACKAGE}.{module.removesuffix('.py').replace('/', '.')}"
    found = subprocess.run(
        [sys.executable, "-c", f"import {dotted} as m; print(m.__file__)"],
        cwd=work,
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    expected = copy / PACKAGE / module
    if Path(found).resolve() != expected.resolve():
        raise RuntimeError(f"{dotted} imports from {found}, not from the copy {expected}")


def run_module(
    work: Path, module: str, tests: Sequence[str], *, jobs: int, sample: int | None
) -> list[Mutant]:
    """Run mutmut for one module in ``work`` (a snapshot) and read back every mutant."""
    shutil.rmtree(work / "mutants", ignore_errors=True)
    pyproject = (ROOT / "pyproject.toml").read_text("utf-8")
    if "tool" in tomllib.loads(pyproject) and "mutmut" in tomllib.loads(pyproject)["tool"]:
        raise ConfigError("pyproject.toml has a [tool.mutmut] table; this tool writes its own")
    (work / "pyproject.toml").write_text(pyproject + mutmut_config(module, tests), "utf-8")

    names: list[str] = []
    if sample is not None:
        from mutmut.mutation.file_mutation import mutate_file_contents

        source_path = work / "src" / PACKAGE / module
        generated = mutate_file_contents(str(source_path), source_path.read_text("utf-8"))
        dotted = f"{PACKAGE}.{module.removesuffix('.py').replace('/', '.')}"
        names = sample_names((f"{dotted}.{name}" for name in generated.mutant_names), sample)

    env = dict(os.environ)
    # The copy's src shadows the editable install from the start; mutmut then puts mutants/src
    # ahead of it. Not mutants/src here: it does not exist yet when Python starts, and the path
    # finder would cache it as missing and never look there (the checkout would be tested).
    env["PYTHONPATH"] = str(work / "src")
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no bytecode next to any source
    log_path = work / f"mutmut-{module.replace('/', '-')}.log"
    with log_path.open("w", encoding="utf-8") as log:
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *names]
        returncode = subprocess.run(
            command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        ).returncode
    if returncode != 0:
        raise RuntimeError(f"mutmut failed (exit {returncode}):\n{_log_tail(log_path)}")
    mutated = work / "mutants" / "src"
    check_import_from_copy(work, module, {**env, "PYTHONPATH": str(mutated)}, mutated)
    return read_mutants(work, module)


# pytest's exit codes for a table mutant's run, as the mutmut exit codes the score reads: a failed
# collection (2: the mutant broke an import) is a kill like a failed test; a run over the time
# limit is mutmut's timeout (36), also a kill.
_PYTEST_USAGE_ERROR = 4
_TIMEOUT_EXIT_CODE = 36


def _table_exit_code(pytest_exit_code: int) -> int:
    if pytest_exit_code == _PYTEST_USAGE_ERROR:
        raise RuntimeError("pytest refused its command line (exit 4)")
    return 1 if pytest_exit_code == 2 else pytest_exit_code


def _pytest_arguments(tests: Sequence[str]) -> list[str]:
    return ["-x", "-q", "-p", "no:cacheprovider", *tests]


def _test_environment(src: Path) -> dict[str, str]:
    # no bytecode: a mutant is written over the same file within the same second, and a cached
    # .pyc with the original's size and time would be loaded instead of it
    return {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1"}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:  # not yet a group leader, or gone
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class ProcessTestRuns:
    """Each run a new ``python -m pytest`` process: simple, and a few seconds slower per run
    than :class:`ForkedTestRuns` (pytest and its plugins start every time)."""

    def __init__(self, work: Path, src: Path, tests: Sequence[str], log: Path) -> None:
        self._work, self._src, self._tests, self.log = work, src, list(tests), log

    def run(self, timeout: float | None) -> int:
        """The tests' exit code, or the timeout code after killing the run (and whatever it
        started) at ``timeout`` seconds."""
        command = [sys.executable, "-m", "pytest", *_pytest_arguments(self._tests)]
        with self.log.open("w", encoding="utf-8") as output:
            process = subprocess.Popen(
                command,
                cwd=self._work,
                env=_test_environment(self._src),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a timeout kills all of it
            )
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process.pid)
                process.wait()
                return _TIMEOUT_EXIT_CODE
            except BaseException:
                _kill_group(process.pid)
                process.wait()
                raise

    def close(self) -> None:
        pass


_RUNNER_BOOTSTRAP = """\
import importlib.util, sys
spec = importlib.util.spec_from_file_location("sealroom_mutation_runner", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
module.serve_test_runs(sys.argv[2], sys.argv[3:])
"""


class ForkedTestRuns:
    """Runs through a warm process: it starts pytest once, imports everything the tests import
    (by collecting them), forgets the project's own modules (``sealroom`` and the tests), then
    forks once per run; the child imports the project afresh, mutant included, and runs pytest
    in-process. A run costs the tests' time, not pytest's start-up (about 3 s here)."""

    def __init__(self, work: Path, src: Path, tests: Sequence[str], log: Path) -> None:
        self.log = log
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _RUNNER_BOOTSTRAP,
                str(Path(__file__).resolve()),
                str(log),
                *tests,
            ],
            cwd=work,
            env=_test_environment(src),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        if self._reply() != "ready":
            self.close()
            raise RuntimeError(f"the forking test runner did not start:\n{_log_tail(log)}")

    def _reply(self) -> str:
        assert self._process.stdout is not None
        return self._process.stdout.readline().strip()

    def run(self, timeout: float | None) -> int:
        assert self._process.stdin is not None
        self._process.stdin.write(f"{timeout or 0}\n")
        self._process.stdin.flush()
        reply = self._reply()
        if not reply.lstrip("-").isdigit():
            raise RuntimeError(f"the forking test runner stopped:\n{_log_tail(self.log)}")
        return int(reply)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(self._process.pid)
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def serve_test_runs(log: str, tests: Sequence[str]) -> None:
    """The forking runner's loop (in its own process, cwd the snapshot): each line on stdin is
    one run's time limit in seconds (0: none); the reply on stdout is the run's exit code."""
    import pytest

    replies = os.fdopen(os.dup(1), "w", buffering=1)
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(output, 1)
    os.dup2(output, 2)
    pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *tests])
    work = os.path.realpath(os.getcwd()) + os.sep
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if (
            name == PACKAGE
            or name.startswith(f"{PACKAGE}.")
            or (isinstance(file, str) and os.path.realpath(file).startswith(work))
        ):
            del sys.modules[name]
    replies.write("ready\n")
    for line in sys.stdin:
        timeout = float(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the run: exits, never returns
            code = 3
            try:
                os.setpgid(0, 0)  # its own process group: a timeout kills what it started too
                code = int(pytest.main(_pytest_arguments(tests)))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
                break
            if deadline is not None and time.monotonic() > deadline:
                _kill_group(pid)
                os.waitpid(pid, 0)
                replies.write(f"{_TIMEOUT_EXIT_CODE}\n")
                break
            time.sleep(0.02)


def run_table_mutants(
    work: Path, module: str, tests: Sequence[str], *, jobs: int, sample: int | None
) -> list[Mutant]:
    """Run ``module``'s tests against each of its table mutants in ``work`` (a snapshot).

    Each of ``jobs`` workers has its own copy of ``src``, in which it writes one mutant at a
    time, runs the tests (``pytest -x -q``, through a :class:`ForkedTestRuns`) and writes the
    original back. The tests must pass on the unmutated copy first (if they pass only in a new
    process, every run gets one: :class:`ProcessTestRuns`); a run that takes ten times as long
    as that one (30 s at least) is stopped and counts as killed.
    """
    source = (work / "src" / PACKAGE / module).read_text("utf-8")
    generated = table_mutants(source)
    chosen = generated
    if sample is not None:
        drawn = set(sample_names((mutant.name for mutant in generated), sample))
        chosen = [mutant for mutant in generated if mutant.name in drawn]
    exit_codes: dict[str, int] = {}
    runners: list[ForkedTestRuns | ProcessTestRuns] = []
    try:
        if chosen:
            timeout = _start_runners(work, module, tests, min(jobs, len(chosen)), runners)
            idle: queue.Queue[tuple[Path, ForkedTestRuns | ProcessTestRuns]] = queue.Queue()
            for index, runner in enumerate(runners):
                idle.put((work / "tables" / f"worker-{index}" / "src", runner))

            def run(mutant: TableMutant) -> int:
                src, runner = idle.get()
                target = src / PACKAGE / module
                try:
                    target.write_text(mutant.apply(source), "utf-8")
                    return runner.run(timeout)
                finally:
                    target.write_text(source, "utf-8")
                    idle.put((src, runner))

            with ThreadPoolExecutor(max_workers=len(runners)) as pool:
                for mutant, code in zip(chosen, pool.map(run, chosen), strict=True):
                    exit_codes[mutant.name] = _table_exit_code(code)
    finally:
        for runner in runners:
            runner.close()
    return [
        describe_table_mutant(
            source=source, module=module, mutant=mutant, exit_code=exit_codes.get(mutant.name)
        )
        for mutant in generated
    ]


def _start_runners(
    work: Path,
    module: str,
    tests: Sequence[str],
    count: int,
    runners: list[ForkedTestRuns | ProcessTestRuns],
) -> float:
    """Give each of ``count`` workers its copy of ``src`` and its runner (appended to
    ``runners``, which the caller closes); check the unmutated tests pass. The time limit of a
    run."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    copies: list[Path] = []
    for index in range(max(1, count)):
        copy = work / "tables" / f"worker-{index}" / "src"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(work / "src", copy, ignore=ignore)
        copies.append(copy)
    check_import_from_copy(work, module, _test_environment(copies[0]), copies[0])
    logs = [work / f"tables-{module.replace('/', '-')}-{index}.log" for index in range(count)]
    runner_type: type[ForkedTestRuns | ProcessTestRuns] = ForkedTestRuns
    runners.append(ForkedTestRuns(work, copies[0], tests, logs[0]))
    started = time.monotonic()
    clean = runners[0].run(None)
    if clean != 0:
        runners.pop().close()
        runners.append(ProcessTestRuns(work, copies[0], tests, logs[0]))
        started = time.monotonic()
        clean = runners[0].run(None)
        if clean != 0:
            raise RuntimeError(
                f"{module}'s tests fail on the unmutated copy (pytest exit {clean}):\n"
                + _log_tail(logs[0])
            )
        print(f"   ({module}'s tests fail when forked: one new process per run)", flush=True)
        runner_type = ProcessTestRuns
    timeout = max(30.0, 10 * (time.monotonic() - started))
    runners.extend(
        runner_type(work, copy, tests, log) for copy, log in zip(copies[1:], logs[1:], strict=True)
    )
    return timeout


def _log_tail(path: Path, lines: int = 40) -> str:
    """The end of a mutmut log, without the spinner frames it draws over one line."""
    text = path.read_text("utf-8", errors="replace").replace("\r", "\n")
    kept = [line for line in text.splitlines() if line.strip() and line[0] not in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"]
    return "\n".join(kept[-lines:])


# --- report ---------------------------------------------------------------------------------


def report(result: ModuleResult, min_score: float) -> list[str]:
    """The lines printed for one module: the score, then each survivor as a small diff."""
    counted = result.total - result.equivalent
    verdict = "ok" if result.score >= min_score else f"BELOW {min_score:g} %"
    sampled = "" if result.total == result.generated else f" (sample of {result.generated})"
    lines = [
        f"== {result.module}, {result.kind}: {result.killed}/{counted} killed"
        f" = {result.score:.1f} % {verdict}"
        f" -- {result.total} mutants{sampled}, {result.equivalent} equivalent,"
        f" {len(result.survivors)} not killed, {result.seconds:.0f} s"
    ]
    for mutant in result.survivors:
        lines.append(
            f"src/{PACKAGE}/{result.module}:{mutant.line}: {mutant.status}"
            f" ({mutant.function}, {mutant.name.rpartition('.')[2]})"
        )
        lines.extend("    " + line for line in mutant.diff.splitlines()[2:])
    for entry in result.stale:
        lines.append(
            f"STALE equivalent entry (matches no mutant): {entry.function}:"
            f" {entry.original!r} -> {entry.mutant!r}"
        )
    for entry, mutant in result.wrongly_equivalent:
        lines.append(
            f"WRONG equivalent entry (a test kills it): src/{PACKAGE}/{result.module}:"
            f"{mutant.line} {entry.function}: {entry.original!r} -> {entry.mutant!r}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="NAME",
        help="a configured module (e.g. audit/merkle.py or merkle); repeat for several",
    )
    parser.add_argument("--min-score", type=float, default=95.0, metavar="PERCENT")
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="run a deterministic sample of N mutants per module instead of all",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (for mutmut browse)"
    )
    passes = parser.add_mutually_exclusive_group()
    passes.add_argument(
        "--no-tables", action="store_true", help="skip the table mutants (mutmut's pass only)"
    )
    passes.add_argument(
        "--tables-only", action="store_true", help="only the table mutants (no mutmut)"
    )
    args = parser.parse_args(argv)
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be at least 1")

    try:
        modules = select_modules(args.module)
        equivalents = parse_equivalents(EQUIVALENTS_FILE.read_text("utf-8"))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="sealroom-mutation-"))
    results: list[ModuleResult] = []
    try:
        snapshot(work)
        for module in modules:
            tests = resolve_tests(work, MODULES[module])
            source = (work / "src" / PACKAGE / module).read_text("utf-8")
            code_equivalents, table_equivalents = split_equivalents(
                equivalents, module, table_names(source)
            )
            if not args.tables_only:
                print(f"-- {module}: mutmut with {', '.join(tests)}", flush=True)
                module_started = time.monotonic()
                mutants = run_module(work, module, tests, jobs=args.jobs, sample=args.sample)
                result = score_module(module, mutants, code_equivalents)
                result.seconds = time.monotonic() - module_started
                results.append(result)
                print("\n".join(report(result, args.min_score)), flush=True)
            if not args.no_tables:
                print(f"-- {module}: table mutants with {', '.join(tests)}", flush=True)
                module_started = time.monotonic()
                mutants = run_table_mutants(work, module, tests, jobs=args.jobs, sample=args.sample)
                result = score_module(module, mutants, table_equivalents, kind="tables")
                result.seconds = time.monotonic() - module_started
                results.append(result)
                print("\n".join(report(result, args.min_score)), flush=True)
    except (ConfigError, RuntimeError, ValueError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\n== summary ({time.monotonic() - started:.0f} s, minimum {args.min_score:g} %)")
    failed = False
    for result in results:
        below = result.score < args.min_score
        broken = bool(result.stale or result.wrongly_equivalent)
        failed = failed or below or broken
        flags = (" BELOW" if below else "") + (" EQUIVALENTS FILE NEEDS FIXING" if broken else "")
        print(
            f"{result.module:24} {result.kind:7} {result.score:5.1f} %  ({result.killed}/"
            f"{result.total - result.equivalent}, {len(result.survivors)} not killed){flags}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
