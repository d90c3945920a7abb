"""Mutation testing of the security modules (issue 14): do their own tests notice a small change?

For each configured module, mutmut makes every small change it knows (a comparison flipped, a
constant moved by one, a call's argument dropped...) and runs that module's own unit tests against
each mutant. A mutant the tests still pass on (it *survived*) is a behaviour no test pins.

Invariants:

* The checkout is never written to. The tool copies ``src/``, ``tests/`` and ``pyproject.toml``
  once into a temporary directory (one snapshot for every module of the run, however the files
  change meanwhile) and runs mutmut there; the directory is removed at the end. The copy is what
  the tests import: mutmut puts its mutated ``src`` first on ``sys.path``, ahead of the editable
  install's finder (a meta-path finder, consulted after the path). Were the checkout imported
  instead, mutmut would stop: its stats phase finds which tests reach which function through the
  mutated copy's trampolines (none would), and its forced-fail check (every mutated function
  raises) needs the tests to fail. The tool checks as well that the module imports from the copy.
* The score of a module is killed / (mutants - equivalent mutants). Killed includes mutants that
  time out or crash the test process; mutants no selected test reaches ("no tests") count as
  survivors, since no test would notice them either.
* Equivalent mutants (no test can tell them from the original) are listed in
  ``bench/mutation_equivalents.toml``, each by the function, the mutated source text and its
  replacement, never by mutmut's running number, which shifts as soon as the function changes.
  An entry that matches no mutant any more is *stale*, and one that matches a killed mutant is
  wrong (a test tells it apart): both fail the run.

Usage::

    ./dev mutation                       # all modules, all mutants
    ./dev mutation --module merkle --module policy
    ./dev mutation --sample 100          # a deterministic sample of 100 mutants per module
    ./dev mutation --min-score 90 --jobs 2

All six modules, all of their 2,103 mutants, take about 29 minutes on a 2-core machine (most of
it compute/sql/privacy.py: 784 mutants, 9 s of tests for each survivor); ``--sample`` is there for
quicker looks. mutmut 3.8.1 is pinned exactly: the results are read from its files
(``mutants/**/*.py.meta`` for each mutant's exit code, ``*.py.spans`` for where each mutant's
code is in the mutated file).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
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
            f" +{after_first_line + b_start},{b_end - b_start} @@ {function}"
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
    diff = "\n".join([f"--- a/{path}", f"+++ b/{path}", *hunks])
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

    @property
    def score(self) -> float:
        """Killed / non-equivalent mutants, in percent (100 when nothing is left to kill)."""
        counted = self.total - self.equivalent
        return 100.0 if counted == 0 else 100.0 * self.killed / counted


def score_module(
    module: str, mutants: Sequence[Mutant], equivalents: Iterable[Equivalent]
) -> ModuleResult:
    """Score ``module``'s checked mutants, leaving out those ``equivalents`` lists.

    Staleness is judged against every generated mutant, checked or not, so that running a
    sample does not call an entry stale whose mutant was simply not drawn.
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


def check_import_from_copy(work: Path, module: str, env: Mapping[str, str]) -> None:
    """With ``env``, the module must import as mutmut's mutated copy, not from the checkout that
    the editable install names."""
    dotted = f"{PACKAGE}.{module.removesuffix('.py').replace('/', '.')}"
    found = subprocess.run(
        [sys.executable, "-c", f"import {dotted} as m; print(m.__file__)"],
        cwd=work,
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    expected = work / "mutants" / "src" / PACKAGE / module
    if Path(found).resolve() != expected.resolve():
        raise RuntimeError(f"{dotted} imports from {found}, not from the mutated copy {expected}")


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
    check_import_from_copy(work, module, {**env, "PYTHONPATH": str(work / "mutants" / "src")})
    return read_mutants(work, module)


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
        f"== {result.module}: {result.killed}/{counted} killed = {result.score:.1f} % {verdict}"
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
            print(f"-- {module}: mutmut with {', '.join(tests)}", flush=True)
            module_started = time.monotonic()
            mutants = run_module(work, module, tests, jobs=args.jobs, sample=args.sample)
            result = score_module(module, mutants, equivalents)
            result.seconds = time.monotonic() - module_started
            results.append(result)
            print("\n".join(report(result, args.min_score)), flush=True)
    except (ConfigError, RuntimeError, subprocess.CalledProcessError) as error:
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
            f"{result.module:28} {result.score:5.1f} %  ({result.killed}/"
            f"{result.total - result.equivalent}, {len(result.survivors)} not killed){flags}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
