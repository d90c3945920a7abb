"""bench/mutation.py, the mutation-testing tool: its configuration names real files, the
equivalents file is validated, and equivalents are matched by what a mutant changes."""

from __future__ import annotations

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
