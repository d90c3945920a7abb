"""bench/mutation.py, the mutation-testing tool: its configuration names real files, the
equivalents file is validated, and equivalents are matched by what a mutant changes."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def test_every_configured_module_and_test_file_exists() -> None:
    for module, patterns in tool.MODULES.items():
        assert (ROOT / "src" / "sealroom" / module).is_file(), module
        assert tool.resolve_tests(ROOT, patterns), module
    with pytest.raises(tool.ConfigError, match="matches no file"):
        tool.resolve_tests(ROOT, ["tests/unit/test_no_such_module*.py"])


def test_module_names_on_the_command_line() -> None:
    assert tool.select_modules([]) == list(tool.MODULES)
    assert tool.select_modules(["merkle", "model.policy"]) == ["model/policy.py", "audit/merkle.py"]
    assert tool.select_modules(["src/sealroom/audit/checkpoint.py"]) == ["audit/checkpoint.py"]
    with pytest.raises(tool.ConfigError, match="not a configured module"):
        tool.select_modules(["sealing"])
    with pytest.raises(tool.ConfigError, match="several"):
        tool.select_modules(["verify"], {"a/verify.py": (), "b/verify.py": ()})


def test_the_checked_in_equivalents_file_is_valid() -> None:
    tool.parse_equivalents((ROOT / "bench" / "mutation_equivalents.toml").read_text("utf-8"))


ENTRY = """
[[equivalent]]
module = "audit/merkle.py"
function = "MerkleTree.root"
original = "  if size == 0:  "
mutant = "if size <= 0:"
reason = "sizes are never negative"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ENTRY.replace('reason = "sizes are never negative"', ""), "needs exactly"),
        (ENTRY.replace('reason = "sizes are never negative"', 'reason = " "'), "non-empty"),
        (ENTRY + 'line = "3"\n', "needs exactly"),
        (ENTRY.replace("audit/merkle.py", "audit/log.py"), "not a configured module"),
        (ENTRY + ENTRY.replace('"  if size == 0:  "', '"if size == 0:"'), "duplicate"),
        ("[equivalents]\n", "unknown keys"),
        ("[[equivalent]\n", "equivalents file"),
    ],
)
def test_malformed_equivalents_are_refused(text: str, message: str) -> None:
    with pytest.raises(tool.ConfigError, match=message):
        tool.parse_equivalents(text)


def _mutant(number: int, exit_code: int | None, original: str, mutant: str) -> object:
    return tool.Mutant(
        name=f"sealroom.audit.merkle.xǁMerkleTreeǁroot__mutmut_{number}",
        module="audit/merkle.py",
        function="MerkleTree.root",
        exit_code=exit_code,
        line=10,
        original=original,
        mutant=mutant,
        diff="",
    )


def test_score_leaves_out_equivalents_and_flags_stale_and_wrong_entries() -> None:
    (equivalent,) = tool.parse_equivalents(ENTRY)
    assert equivalent.original == "if size == 0:"  # whitespace around lines does not count
    killed_too = tool.Equivalent(
        "audit/merkle.py", "MerkleTree.root", "return a", "return b", "wrongly thought harmless"
    )
    stale = tool.Equivalent("audit/merkle.py", "MerkleTree.root", "gone", "gone2", "code changed")
    other_module = tool.Equivalent("model/policy.py", "decide", "x", "y", "not this module")
    mutants = [
        _mutant(1, 1, "a", "b"),  # killed
        _mutant(2, -24, "c", "d"),  # timed out: killed
        _mutant(3, 0, "if size == 0:", "if size <= 0:"),  # survived, but equivalent
        _mutant(4, 0, "e", "f"),  # survived
        _mutant(5, 33, "g", "h"),  # no test reaches it: not killed either
        _mutant(6, 1, "return a", "return b"),  # killed, yet listed as equivalent
        _mutant(7, None, "gone", "gone2"),  # not in the sample: its entry is not stale
    ]
    result = tool.score_module("audit/merkle.py", mutants, [equivalent, killed_too, other_module])
    assert (result.total, result.generated, result.equivalent, result.killed) == (6, 7, 2, 2)
    assert result.score == pytest.approx(50.0)  # 2 killed of 6 - 2 equivalent
    assert [m.status for m in result.survivors] == ["survived", "no tests"]
    assert [entry for entry, _ in result.wrongly_equivalent] == [killed_too]
    assert result.stale == []

    result = tool.score_module("audit/merkle.py", mutants[:6], [equivalent, stale])
    assert result.stale == [stale]


def test_a_mutant_is_located_on_its_source_line() -> None:
    source = "import os\n\n\nclass Tree:\n    def root(self, size):\n        if size == 0:\n"
    source += "            return b''\n        return os.urandom(size)\n"
    original = source.splitlines()[4:]
    mutated = [line.replace("def root(", "def xǁTreeǁroot__mutmut_orig(") for line in original]
    mutated += [""] + [
        line.replace("def root(", "def xǁTreeǁroot__mutmut_1(").replace("== 0", "== 1")
        for line in original
    ]
    mutant = tool.describe_mutant(
        name="sealroom.tree.xǁTreeǁroot__mutmut_1",
        module="tree.py",
        exit_code=0,
        spans={"xǁTreeǁroot__mutmut_orig": [1, 4], "xǁTreeǁroot__mutmut_1": [5, 9]},
        mutated_lines=mutated,
        def_lines=tool.definition_lines(source),
    )
    assert (mutant.function, mutant.line) == ("Tree.root", 6)
    assert (mutant.original, mutant.mutant) == ("if size == 0:", "if size == 1:")
    assert "@@ -5,3 +5,3 @@ Tree.root" in mutant.diff
    assert "-        if size == 0:\n+        if size == 1:" in mutant.diff


# --- table mutants: module-level tables and constants, which mutmut does not mutate ----------

TABLES = '''"""A module whose tables decide things."""

import enum
from typing import Final


class Action(enum.Enum):
    READ = "read"
    WRITE = "write"
    STOP = "stop"


__all__ = ["Action"]
LIMIT: Final = 10
_SIZE = 8 * 1024
_PLAIN = "plain"
_REQUIRED: dict[Action, tuple[str, str | None]] = {
    Action.READ: ("viewer", None),
    Action.WRITE: ("editor", "data"),
    Action.STOP: ("owner", None),
}
_MESSAGES = {
    Action.READ: _PLAIN,
    Action.WRITE: (
        "a long message "
        "on two lines"
    ),
}
_STOPPED = frozenset({Action.READ})
_NAMES = (
    "a",
    "b",  # why b
)
_LABELS = {"é": 1, "ß": 2}


def decide(action):
    allowed = {Action.READ, Action.WRITE}
    return action in allowed and LIMIT > 3
'''


def _changes(source: str) -> list[tuple[str, str, str]]:
    """(table, original, mutant) of every table mutant, as the report and equivalents see it."""
    return [
        (described.function, described.original, described.mutant)
        for mutant in tool.table_mutants(source)
        for described in [
            tool.describe_table_mutant(
                source=source, module="model/policy.py", mutant=mutant, exit_code=None
            )
        ]
    ]


def test_table_mutants_cover_every_module_level_table_and_number() -> None:
    assert tool.table_names(TABLES) == {
        "LIMIT", "_SIZE", "_REQUIRED", "_MESSAGES", "_STOPPED", "_NAMES", "_LABELS"
    }  # fmt: skip
    read = "Action.READ: _PLAIN,"
    write = 'Action.WRITE: ("editor", "data"),'
    assert _changes(TABLES) == [
        # numbers: plus and minus one, a constant expression as a whole
        ("LIMIT", "LIMIT: Final = 10", "LIMIT: Final = 11"),
        ("LIMIT", "LIMIT: Final = 10", "LIMIT: Final = 9"),
        ("_SIZE", "_SIZE = 8 * 1024", "_SIZE = (8 * 1024) + 1"),
        ("_SIZE", "_SIZE = 8 * 1024", "_SIZE = (8 * 1024) - 1"),
        # a dict: each entry dropped (the line before comes along when only lines go) ...
        (
            "_REQUIRED",
            '_REQUIRED: dict[Action, tuple[str, str | None]] = {\nAction.READ: ("viewer", None),',
            "_REQUIRED: dict[Action, tuple[str, str | None]] = {",
        ),
        ("_REQUIRED", f'Action.READ: ("viewer", None),\n{write}', 'Action.READ: ("viewer", None),'),
        ("_REQUIRED", f'{write}\nAction.STOP: ("owner", None),', write),
        # ... and each field of a value swapped for the next other value that field holds
        ("_REQUIRED", 'Action.READ: ("viewer", None),', 'Action.READ: ("editor", None),'),
        ("_REQUIRED", 'Action.READ: ("viewer", None),', 'Action.READ: ("viewer", "data"),'),
        ("_REQUIRED", write, 'Action.WRITE: ("owner", "data"),'),
        ("_REQUIRED", write, 'Action.WRITE: ("editor", None),'),
        ("_REQUIRED", 'Action.STOP: ("owner", None),', 'Action.STOP: ("viewer", None),'),
        ("_REQUIRED", 'Action.STOP: ("owner", None),', 'Action.STOP: ("owner", "data"),'),
        # a value in parentheses over several lines goes with them
        ("_MESSAGES", f"_MESSAGES = {{\n{read}", "_MESSAGES = {"),
        (
            "_MESSAGES",
            f'{read}\nAction.WRITE: (\n"a long message "\n"on two lines"\n),',
            read,
        ),
        ("_MESSAGES", read, 'Action.READ: "a long message "\n"on two lines",'),
        ("_MESSAGES", '"a long message "\n"on two lines"', "_PLAIN"),
        # a set: its only member dropped leaves an empty set; each member of the enum it lacks
        # added (the module's own enum: every member)
        ("_STOPPED", "_STOPPED = frozenset({Action.READ})", "_STOPPED = frozenset(set())"),
        (
            "_STOPPED",
            "_STOPPED = frozenset({Action.READ})",
            "_STOPPED = frozenset({Action.READ, Action.WRITE})",
        ),
        (
            "_STOPPED",
            "_STOPPED = frozenset({Action.READ})",
            "_STOPPED = frozenset({Action.READ, Action.STOP})",
        ),
        # a member on a line of its own goes with its line, comment included
        ("_NAMES", '_NAMES = (\n"a",', "_NAMES = ("),
        ("_NAMES", '"a",\n"b",  # why b', '"a",'),
        # columns count characters, not UTF-8 bytes
        ("_LABELS", '_LABELS = {"é": 1, "ß": 2}', '_LABELS = {"ß": 2}'),
        ("_LABELS", '_LABELS = {"é": 1, "ß": 2}', '_LABELS = {"é": 1}'),
        ("_LABELS", '_LABELS = {"é": 1, "ß": 2}', '_LABELS = {"é": 2, "ß": 2}'),
        ("_LABELS", '_LABELS = {"é": 1, "ß": 2}', '_LABELS = {"é": 0, "ß": 2}'),
        ("_LABELS", '_LABELS = {"é": 1, "ß": 2}', '_LABELS = {"é": 1, "ß": 3}'),
        ("_LABELS", '_LABELS = {"é": 1, "ß": 2}', '_LABELS = {"é": 1, "ß": 1}'),
    ]


def test_a_table_mutant_is_one_edit_that_parses() -> None:
    mutants = tool.table_mutants(TABLES)
    sources = [mutant.apply(TABLES) for mutant in mutants]
    assert len(set(sources)) == len(sources)  # no mutant twice
    for mutant, source in zip(mutants, sources, strict=True):
        assert source != TABLES
        tree = ast.parse(source)  # valid Python
        # the edit stays inside its table: the rest of the module is untouched
        assert TABLES[: mutant.start] == source[: mutant.start]
        assert TABLES[mutant.end :] == source[len(source) - len(TABLES) + mutant.end :]
        assert tool.table_names(source) <= tool.table_names(TABLES)
        assert [node.name for node in tree.body if isinstance(node, ast.FunctionDef)] == ["decide"]
    # spans are those of the source text: a swap replaces exactly the leaf it names
    swap = next(m for m in mutants if m.table == "_REQUIRED" and m.replacement == '"editor"')
    assert TABLES[swap.start : swap.end] == '"viewer"'
    added = next(m for m in mutants if m.replacement == ", Action.STOP")
    assert added.start == added.end == TABLES.index("Action.READ})") + len("Action.READ")
    assert [m.name for m in mutants if m.table == "LIMIT"] == ["LIMIT__table_1", "LIMIT__table_2"]


def test_sets_combined_with_operators_and_nested_in_dicts_are_mutated() -> None:
    source = (
        "BASE = frozenset({'a', 'b'})\n"
        "ROWS = (BASE - {'a'}) | frozenset({'c'})\n"
        "BY_ROLE = {'owner': {'read', 'write'}, 'viewer': frozenset({'read'})}\n"
    )
    changes = [(table, mutant) for table, _, mutant in _changes(source)]
    assert ("ROWS", "ROWS = (BASE - set()) | frozenset({'c'})") in changes
    assert ("ROWS", "ROWS = (BASE - {'a'}) | frozenset(set())") in changes
    by_role = [mutant for table, mutant in changes if table == "BY_ROLE"]
    assert by_role == [
        "BY_ROLE = {'viewer': frozenset({'read'})}",
        "BY_ROLE = {'owner': {'read', 'write'}}",
        "BY_ROLE = {'owner': {'write'}, 'viewer': frozenset({'read'})}",
        "BY_ROLE = {'owner': {'read'}, 'viewer': frozenset({'read'})}",
        "BY_ROLE = {'owner': {'read', 'write'}, 'viewer': frozenset(set())}",
    ]


def test_the_configured_modules_tables_all_make_valid_mutants() -> None:
    for module in tool.MODULES:
        source = (ROOT / "src" / "sealroom" / module).read_text("utf-8")
        for mutant in tool.table_mutants(source):
            ast.parse(mutant.apply(source))
    policy = (ROOT / "src" / "sealroom" / "model" / "policy.py").read_text("utf-8")
    assert {"_REQUIRED", "_INTERACTIVE_ONLY", "_ALLOWED_WHEN_STOPPED"} <= tool.table_names(policy)


def test_equivalents_name_a_table_mutant_by_its_table() -> None:
    source = "LIMIT = 10\n\n\ndef check(n):\n    return n < LIMIT\n"
    plus, minus = (
        tool.describe_table_mutant(source=source, module="audit/merkle.py", mutant=m, exit_code=c)
        for m, c in zip(tool.table_mutants(source), (0, 1), strict=True)
    )
    assert (plus.function, plus.line, plus.original, plus.mutant) == (
        "LIMIT", 1, "LIMIT = 10", "LIMIT = 11"
    )  # fmt: skip
    assert "@@ -1,2 +1,2 @@ LIMIT\n-LIMIT = 10\n+LIMIT = 11\n \n" in plus.diff + "\n"
    entries = tool.parse_equivalents(
        ENTRY
        + ENTRY.replace("MerkleTree.root", "LIMIT")
        .replace('"  if size == 0:  "', '"LIMIT = 10"')
        .replace('"if size <= 0:"', '"LIMIT = 11"')
    )
    code, tables = tool.split_equivalents(entries, "audit/merkle.py", {"LIMIT"})
    assert ([e.function for e in code], [e.function for e in tables]) == (
        ["MerkleTree.root"], ["LIMIT"]
    )  # fmt: skip
    result = tool.score_module("audit/merkle.py", [plus, minus], tables, kind="tables")
    assert (result.kind, result.killed, result.equivalent, result.score) == ("tables", 1, 1, 100)
    assert (result.stale, result.wrongly_equivalent) == ([], [])
    # the same entry against a killed mutant is wrong; against no mutant, stale
    wrong = tool.score_module("audit/merkle.py", [dataclasses.replace(plus, exit_code=1)], tables)
    assert [entry.function for entry, _ in wrong.wrongly_equivalent] == ["LIMIT"]
    assert tool.score_module("audit/merkle.py", [minus], tables).stale == tables
    assert "== audit/merkle.py, tables: 1/1 killed = 100.0 % ok" in tool.report(result, 95)[0]


def test_table_mutants_are_run_against_the_tests_of_a_copy(tmp_path: Path) -> None:
    """The whole pass on a tiny project: the forked runner reports what the tests made of
    each mutant, and the copy's source is restored after each."""
    package = tmp_path / "src" / "sealroom"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "rules.py").write_text("LIMIT = 3\nALLOWED = frozenset({'read', 'list'})\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_rules.py").write_text(
        "from sealroom import rules\n\n\n"
        "def test_reading_is_allowed():\n    assert 'read' in rules.ALLOWED\n\n\n"
        "def test_the_limit_is_small():\n    assert rules.LIMIT < 4\n"
    )
    mutants = tool.run_table_mutants(
        tmp_path, "rules.py", ["tests/test_rules.py"], jobs=1, sample=None
    )
    outcome = {m.mutant: m.status for m in mutants}
    assert outcome == {
        "LIMIT = 4": "killed",
        "LIMIT = 2": "survived",  # no test pins the limit from below
        "ALLOWED = frozenset({'list'})": "killed",
        "ALLOWED = frozenset({'read'})": "survived",
    }
    copy = tmp_path / "tables" / "worker-0" / "src" / "sealroom" / "rules.py"
    assert copy.read_text() == (package / "rules.py").read_text()
