"""The media audience engine (``sealroom/media/engine_script.py``), called directly.

Inputs are laid out as the core lays them out for a script (its own ``write_table_dir``), in a
temp dir. Expected audiences come from :func:`oracle`, a plain-Python reading of the semantics
over a small generated population, independent of the engine's numpy/Arrow code. The last
tests run the engine as a script in the real sandbox (bubblewrap), as a room's node would.
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import io
import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import sealroom
from sealroom.compute.sandbox import (
    Mount,
    SandboxLimits,
    python_env,
    python_libraries,
    python_runtime,
    run_sandboxed,
    sandbox_available,
)
from sealroom.compute.scripts.layout import write_table_dir

ENGINE_PATH = Path(sealroom.__file__).parent / "media" / "engine_script.py"


def _load_engine() -> ModuleType:
    # By path, as a stand-alone module: the room embeds its source, never imports the package.
    spec = importlib.util.spec_from_file_location("media_engine_under_test", ENGINE_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


engine = _load_engine()
EngineError = engine.EngineError

Audience = dict[str, Any]


# -- a population whose every audience we can compute by hand ----------------------------------


@dataclass
class Population:
    """N users ``user-0000``...; each with matching ids, activation ids, segments, demographics."""

    n: int = 600
    matching: dict[int, list[str]] = field(default_factory=dict)
    maids: dict[int, list[str]] = field(default_factory=dict)
    segments: dict[int, set[str]] = field(default_factory=dict)
    age: dict[int, str] = field(default_factory=dict)
    gender: dict[int, str] = field(default_factory=dict)
    seeds: dict[str, list[str]] = field(default_factory=dict)

    @staticmethod
    def user(i: int) -> str:
        return f"user-{i:04d}"

    @classmethod
    def generate(cls) -> Population:
        p = cls()
        for i in range(p.n):
            p.matching[i] = [f"m{i:04d}"] + ([f"m2-{i:04d}"] if i % 10 == 0 else [])
            # Activation ids: none for i % 3 == 0, one, or two; users 4 and 5 share one.
            p.maids[i] = [f"maid-{i}-{k}" for k in range(i % 3)]
            if i in (4, 5):
                p.maids[i] = ["maid-shared"]
            if i < 550:
                p.segments[i] = {f"s{i % 3}"} | ({"x"} if i % 5 == 0 else set())
            if i < 570:
                if i % 7:
                    p.age[i] = "18-24" if i % 2 == 0 else "25-34"
                if i % 4 in (0, 1):
                    p.gender[i] = "F" if i % 4 == 0 else "M"
        # Seed A: users 0-199 by their first id, users 300-390 (every 10th) by their second,
        # and ids the base audience does not have.
        p.seeds["A"] = [f"m{i:04d}" for i in range(200)]
        p.seeds["A"] += [f"m2-{i:04d}" for i in range(300, 400, 10)]
        p.seeds["A"] += [f"nobody-{k}" for k in range(50)]
        p.seeds["B"] = [f"m{i:04d}" for i in range(150, 350)]
        return p

    def tables(self) -> dict[str, pa.Table]:
        rows: list[tuple[str, str, str | None]] = []
        for i in range(self.n):
            # One row per (matching id, activation id): a user's ids are spread over rows.
            maids: list[str | None] = list(self.maids[i]) or [None]
            for k, matching_id in enumerate(self.matching[i]):
                rows.append((self.user(i), matching_id, maids[k % len(maids)]))
            for maid in maids[len(self.matching[i]) :]:
                rows.append((self.user(i), self.matching[i][0], maid))
        rows.reverse()  # the engine must not depend on row order
        segment_rows = [(self.user(i), s) for i, ss in self.segments.items() for s in sorted(ss)]
        segment_rows.append(("not-a-base-user", "s0"))
        demographic_users = sorted(set(self.age) | set(self.gender) | {565})
        seed_rows = [(m, t) for t, ids in self.seeds.items() for m in ids]
        return {
            "matching": _table(["userId", "matchingId", "maid"], rows),
            "segments": _table(["user_id", "segment"], segment_rows),
            "demographics": _table(
                ["user_id", "age", "gender"],
                [(self.user(i), self.age.get(i), self.gender.get(i)) for i in demographic_users],
            ),
            "audiences": _table(["matching_id", "audience_type"], seed_rows),
        }

    def values(self, attribute: str, i: int) -> set[str]:
        if attribute == "segment":
            return self.segments.get(i, set())
        single = (self.age if attribute == "age" else self.gender).get(i)
        return {single} if single is not None else set()


def _table(names: list[str], rows: list[tuple[Any, ...]]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return pa.table(
        {n: pa.array(list(c), pa.string()) for n, c in zip(names, columns, strict=True)}
    )


def oracle(p: Population, audience: Audience, customs: dict[str, Audience]) -> set[int]:
    """The audience's users by the rules, one user at a time."""
    everyone = set(range(p.n))
    kind = audience["kind"]
    if kind == "BASE":
        return everyone
    if kind in ("SEED", "REMARKETING", "EXCLUSION_TARGETING"):
        audience_type = audience.get("audienceType") or audience["seedAudienceRef"]["audienceType"]
        listed = set(p.seeds.get(audience_type, []))
        seed = {i for i in everyone if listed & set(p.matching[i])}
        return everyone - seed if kind == "EXCLUSION_TARGETING" else seed
    if kind == "CUSTOM":
        return oracle(p, customs[audience["id"]], customs)
    assert kind == "RULE_BASED"

    def filtered(reference: Audience, filters: dict[str, Any] | None) -> set[int]:
        users = oracle(p, reference, customs)
        if not filters or not filters["filters"]:
            return users
        join = all if filters["booleanOp"] == "AND" else any
        return {u for u in users if join(_holds(p, f, u) for f in filters["filters"])}

    result = filtered(audience["sourceRef"], audience.get("filters"))
    for step in audience.get("combine", []):
        other = filtered(step["sourceRef"], step.get("filters"))
        result = {"INTERSECT": result & other, "UNION": result | other, "DIFF": result - other}[
            step["operator"]
        ]
    return result


def _holds(p: Population, rule: dict[str, Any], i: int) -> bool:
    have = p.values(rule["attribute"], i)
    wanted = {str(v) for v in rule.get("values", [])}
    return {
        "CONTAINS_ANY_OF": bool(have & wanted),
        "CONTAINS_NONE_OF": not have & wanted,
        "CONTAINS_ALL_OF": wanted <= have,
        "EMPTY": not have,
        "NOT_EMPTY": bool(have),
    }[rule["operator"]]


# -- the sandbox layout -----------------------------------------------------------------------


def config(**changes: Any) -> dict[str, Any]:
    """What the lead's ``engine_config`` sends, exact sizes unless a test changes them."""
    base: dict[str, Any] = {
        "matching_id": "matchingId",
        "user_id": "userId",
        "activation_ids": ["userId", "maid"],
        "activation_id": "userId",
        "minimum_audience_size": 1,
        "rounding": 1,
        "privacy": {"mode": "rounding"},
        "lookalike": {"max_training_rows": 200_000, "seed": 1, "rounds": 40},
    }
    return {**base, **changes}


def custom_table(customs: dict[str, Audience], names: dict[str, str] | None = None) -> pa.Table:
    rows = [
        (i, (names or {}).get(i, f"audience {i}"), "bob@adv.example", "2026-01-01", '["g"]',
         json.dumps(d))
        for i, d in customs.items()
    ]  # fmt: skip
    names_ = ["id", "name", "created_by", "created_at", "shared_with", "definition"]
    return _table(names_, rows)


class Layout:
    """``/input`` and ``/output`` of one run, in a temp dir."""

    def __init__(self, root: Path, tables: dict[str, pa.Table], settings: dict[str, Any]) -> None:
        self.input_dir = root / "input"
        self.output_dir = root / "output"
        self.output_dir.mkdir(parents=True)
        for name, table in tables.items():
            write_table_dir(table, self.input_dir / name)  # the core's own writer
        (self.input_dir / "code").mkdir(parents=True, exist_ok=True)
        (self.input_dir / "code" / "media_config.json").write_text(json.dumps(settings))

    def ask(self, audience: Audience | str, **extra: Any) -> Layout:
        text = audience if isinstance(audience, str) else json.dumps(audience)
        (self.input_dir / "parameters.json").write_text(json.dumps({"audience": text, **extra}))
        return self

    def charge(self, epsilon: float) -> Layout:
        (self.input_dir / "privacy.json").write_text(json.dumps({"epsilon": epsilon, "delta": 0}))
        return self

    def run(self, operation: str) -> Any:
        for old in self.output_dir.iterdir():
            old.unlink()
        engine.run(operation, self.input_dir, self.output_dir)
        written = sorted(self.output_dir.iterdir())
        assert len(written) == 1
        if written[0].suffix == ".json":
            return json.loads(written[0].read_text())
        return written[0].read_text().splitlines()

    def refused(self, operation: str) -> str:
        for old in self.output_dir.iterdir():
            old.unlink()
        with pytest.raises(EngineError) as caught:
            engine.run(operation, self.input_dir, self.output_dir)
        assert list(self.output_dir.iterdir()) == []  # nothing written
        return str(caught.value)


POP = Population.generate()


@pytest.fixture
def room(tmp_path: Path) -> Callable[..., Layout]:
    def make(
        customs: dict[str, Audience] | None = None,
        extra: dict[str, pa.Table] | None = None,
        **settings: Any,
    ) -> Layout:
        tables = {**POP.tables(), CUSTOM_NODE: custom_table(customs or {}), **(extra or {})}
        return Layout(tmp_path / f"run{len(list(tmp_path.iterdir()))}", tables, config(**settings))

    return make


CUSTOM_NODE = "custom_audiences"


def users_of(layout: Layout, audience: Audience) -> set[int]:
    """The audience's users, read back from its exported user ids."""
    ids = layout.ask(audience).run("audience_user_list")
    assert ids == sorted(ids)
    return {int(u.removeprefix("user-")) for u in ids}


# -- the module itself ------------------------------------------------------------------------

ALLOWED_IMPORTS = {"numpy", "pandas", "pyarrow", "duckdb", "xgboost", "sklearn", "opendp"}


def test_engine_imports_only_the_sandbox_libraries() -> None:
    tree = ast.parse(ENGINE_PATH.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative imports cannot work in an embedded script"
            imported.add((node.module or "").split(".")[0])
    assert "sealroom" not in imported
    assert imported - ALLOWED_IMPORTS <= set(sys.stdlib_module_names)


def test_a_malformed_configuration_is_refused(room: Callable[..., Layout]) -> None:
    layout = room(lookalike={"max_rows": 5}).ask(REF_BASE)
    assert "unknown keys" in layout.refused("audience_size")
    layout = room(privacy={"mode": "laplace"}).ask(REF_BASE)
    assert "privacy mode" in layout.refused("audience_size")
    layout = room(rounding="100").ask(REF_BASE)
    assert "number" in layout.refused("audience_size")


def test_configuration_defaults() -> None:
    settings = engine.EngineConfig.from_dict({"matching_id": "m", "activation_id": "u"})
    assert settings.activation_ids == ("u",)
    assert (settings.minimum_audience_size, settings.rounding, settings.dp) == (100, 100, False)
    assert settings.lookalike == engine.LookalikeSettings()


# -- definitions ------------------------------------------------------------------------------

REF_BASE: Audience = {"kind": "BASE"}
SEED_A: Audience = {"kind": "SEED", "audienceType": "A"}
SEED_B: Audience = {"kind": "SEED", "audienceType": "B"}


def rule(source: Audience, *filters: dict[str, Any], op: str = "AND", **more: Any) -> Audience:
    out: Audience = {"kind": "RULE_BASED", "sourceRef": source, **more}
    if filters:
        out["filters"] = {"booleanOp": op, "filters": list(filters)}
    return out


def f(attribute: str, operator: str, *values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"attribute": attribute, "operator": operator}
    if values:
        out["values"] = list(values)
    return out


CUSTOMS: dict[str, Audience] = {
    "c-remarketing": {"kind": "REMARKETING", "seedAudienceRef": {"audienceType": "A"}},
    "c-young": rule(REF_BASE, f("age", "CONTAINS_ANY_OF", "18-24")),
    # Nested: a custom audience built from two others.
    "c-nested": rule(
        {"kind": "CUSTOM", "id": "c-remarketing"},
        combine=[{"operator": "INTERSECT", "sourceRef": {"kind": "CUSTOM", "id": "c-young"}}],
    ),
    "c-deeper": rule({"kind": "CUSTOM", "id": "c-nested"}, f("segment", "NOT_EMPTY")),
}

DEFINITIONS: dict[str, Audience] = {
    "base": REF_BASE,
    "seed A": SEED_A,
    "seed of no one": {"kind": "SEED", "audienceType": "nobody"},
    "remarketing": {"kind": "REMARKETING", "seedAudienceRef": {"audienceType": "A"}},
    "exclusion": {"kind": "EXCLUSION_TARGETING", "seedAudienceRef": {"audienceType": "B"}},
    "rule, no filters": rule(SEED_A),
    "any of": rule(REF_BASE, f("segment", "CONTAINS_ANY_OF", "s1", "x")),
    "none of": rule(REF_BASE, f("segment", "CONTAINS_NONE_OF", "s1", "x")),
    "all of": rule(REF_BASE, f("segment", "CONTAINS_ALL_OF", "s0", "x")),
    "all of, one missing": rule(REF_BASE, f("segment", "CONTAINS_ALL_OF", "s0", "s1")),
    "empty segments": rule(REF_BASE, f("segment", "EMPTY")),
    "has segments": rule(REF_BASE, f("segment", "NOT_EMPTY")),
    "age empty": rule(REF_BASE, f("age", "EMPTY")),
    "age none of": rule(SEED_B, f("age", "CONTAINS_NONE_OF", "25-34")),
    "gender all of one": rule(REF_BASE, f("gender", "CONTAINS_ALL_OF", "F")),
    "gender all of two": rule(REF_BASE, f("gender", "CONTAINS_ALL_OF", "F", "M")),
    "gender not empty": rule(REF_BASE, f("gender", "NOT_EMPTY")),
    "AND": rule(SEED_A, f("segment", "CONTAINS_ANY_OF", "s0"), f("gender", "CONTAINS_ANY_OF", "F")),
    "OR": rule(SEED_A, f("segment", "CONTAINS_ANY_OF", "x"), f("age", "EMPTY"), op="OR"),
    "empty filter list": rule(SEED_B, op="OR") | {"filters": {"booleanOp": "OR", "filters": []}},
    "intersect": rule(SEED_A, combine=[{"operator": "INTERSECT", "sourceRef": SEED_B}]),
    "union": rule(SEED_A, combine=[{"operator": "UNION", "sourceRef": SEED_B}]),
    "diff": rule(SEED_A, combine=[{"operator": "DIFF", "sourceRef": SEED_B}]),
    "combine with filters, in order": rule(
        SEED_A,
        f("segment", "CONTAINS_NONE_OF", "s2"),
        combine=[
            {
                "operator": "UNION",
                "sourceRef": SEED_B,
                "filters": {"booleanOp": "AND", "filters": [f("gender", "CONTAINS_ANY_OF", "M")]},
            },
            {
                "operator": "DIFF",
                "sourceRef": REF_BASE,
                "filters": {"booleanOp": "OR", "filters": [f("age", "CONTAINS_ANY_OF", "18-24")]},
            },
            {
                "operator": "UNION",
                "sourceRef": {"kind": "CUSTOM", "id": "c-young"},
                "filters": {"booleanOp": "AND", "filters": [f("segment", "CONTAINS_ANY_OF", "x")]},
            },
        ],
    ),
    "custom": {"kind": "CUSTOM", "id": "c-remarketing"},
    "nested customs": {"kind": "CUSTOM", "id": "c-deeper"},
    "rule on a nested custom": rule(
        {"kind": "CUSTOM", "id": "c-nested"}, f("gender", "CONTAINS_NONE_OF", "M")
    ),
}


@pytest.mark.parametrize("name", list(DEFINITIONS))
def test_each_definition_gives_the_users_the_rules_say(
    room: Callable[..., Layout], name: str
) -> None:
    audience = DEFINITIONS[name]
    expected = oracle(POP, audience, CUSTOMS)
    layout = room(CUSTOMS)
    if expected:
        assert users_of(layout, audience) == expected
    else:  # an empty list is below any minimum audience size
        assert "minimum audience size" in layout.ask(audience).refused("audience_user_list")
    size = layout.ask(audience).run("audience_size")["size"]
    assert size == (len(expected) or None)


def test_the_oracle_audiences_are_not_trivial() -> None:
    # Every definition above must test something: not all empty, not all the base.
    sizes = {name: len(oracle(POP, a, CUSTOMS)) for name, a in DEFINITIONS.items()}
    trivial = {n for n, s in sizes.items() if s in (0, POP.n)}
    assert trivial == {"base", "seed of no one", "all of, one missing", "gender all of two"}


def test_audience_names(room: Callable[..., Layout]) -> None:
    layout = room(
        CUSTOMS,
    )
    custom = {"kind": "CUSTOM", "id": "c-young"}
    assert layout.ask(custom).run("audience_size")["name"] == "audience c-young"
    assert layout.ask(SEED_B).run("audience_size")["name"] == "B"
    assert layout.ask(REF_BASE).run("audience_size")["name"] == "BASE"
    assert layout.ask(DEFINITIONS["union"]).run("audience_size")["name"] == "RULE_BASED"
    draft = {**DEFINITIONS["union"], "name": "Both"}
    assert layout.ask(draft).run("audience_size")["name"] == "Both"


def test_the_parameter_may_be_json_text_or_an_object(room: Callable[..., Layout]) -> None:
    layout = room()
    (layout.input_dir / "parameters.json").write_text(json.dumps({"audience": SEED_B}))
    assert layout.run("audience_size")["size"] == 200
    assert "not valid JSON" in layout.ask("{not json").refused("audience_size")


SECRET_VALUES = ("user-", "maid-", "m0", "18-24", "25-34", "s0", "s1")


@pytest.mark.parametrize(
    ("customs", "audience", "message"),
    [
        (
            {"a": {"kind": "CUSTOM", "id": "b"}, "b": rule({"kind": "CUSTOM", "id": "a"})},
            {"kind": "CUSTOM", "id": "a"},
            "cycle",
        ),
        ({"a": rule({"kind": "CUSTOM", "id": "a"})}, rule({"kind": "CUSTOM", "id": "a"}), "cycle"),
        ({}, {"kind": "CUSTOM", "id": "missing"}, "does not exist"),
        ({"a": {"kind": "CUSTOM", "id": "zzz"}}, {"kind": "CUSTOM", "id": "a"}, "does not exist"),
        ({}, {"kind": "FANCY"}, "unknown audience kind"),
        ({}, rule(REF_BASE, f("income", "EMPTY")), "filter attribute"),
        ({}, rule(REF_BASE, f("age", "BETWEEN", "1")), "filter operator"),
        ({}, rule(REF_BASE, f("age", "CONTAINS_ANY_OF")), "needs a non-empty 'values'"),
        ({}, rule(REF_BASE, combine=[{"operator": "XOR", "sourceRef": SEED_A}]), "INTERSECT"),
        ({}, {"kind": "RULE_BASED"}, "'sourceRef' is missing"),
        ({}, {"kind": "RULE_BASED", "sourceRef": rule(REF_BASE)}, "not a reference"),
        ({}, {"kind": "LOOKALIKE", "sourceRef": SEED_A, "reach": 31}, "1 to 30 percent"),
        ({}, {"kind": "REMARKETING"}, "'seedAudienceRef' is missing"),
    ],
)
def test_bad_definitions_are_refused_without_data_values(
    room: Callable[..., Layout], customs: dict[str, Audience], audience: Audience, message: str
) -> None:
    layout = room(customs).ask(audience)
    for operation in ("audience_size", "audience_user_list"):
        error = layout.refused(operation)
        assert message in error
        assert not any(value in error for value in SECRET_VALUES), error


def test_a_kind_the_room_does_not_enable_is_refused_wherever_it_hides(
    room: Callable[..., Layout],
) -> None:
    """A definition written into custom_audiences (past the SDK's check) of a kind whose
    collaboration type is off is refused by the engine, directly or behind references."""
    remarketing = {"kind": "REMARKETING", "seedAudienceRef": {"audienceType": "A"}}
    customs = {"r": remarketing, "wrapped": rule({"kind": "CUSTOM", "id": "r"})}
    only_rules = room(customs, definition_kinds=["RULE_BASED"])
    for audience in (remarketing, {"kind": "CUSTOM", "id": "wrapped"}):
        message = only_rules.ask(audience).refused("audience_size")
        assert "does not enable REMARKETING" in message
    assert only_rules.ask(rule(SEED_A)).run("audience_size")["size"] == len(oracle(POP, SEED_A, {}))
    # Enabled, the same definitions work.
    layout = room(customs, definition_kinds=["RULE_BASED", "REMARKETING"])
    assert layout.ask({"kind": "CUSTOM", "id": "wrapped"}).run("audience_size")["size"] > 0


def test_a_deep_chain_of_custom_audiences_is_refused(room: Callable[..., Layout]) -> None:
    depth = engine.MAX_NESTING + 1
    customs = {f"c{i}": rule({"kind": "CUSTOM", "id": f"c{i + 1}"}) for i in range(depth)}
    customs[f"c{depth}"] = SEED_A
    assert "nested deeper" in room(customs).ask({"kind": "CUSTOM", "id": "c0"}).refused(
        "audience_size"
    )
    # Within the limit, the same chain works.
    short = {f"c{i}": rule({"kind": "CUSTOM", "id": f"c{i + 1}"}) for i in range(10)}
    short["c10"] = SEED_A
    layout = room(short).ask({"kind": "CUSTOM", "id": "c0"})
    assert layout.run("audience_size")["size"] == len(oracle(POP, SEED_A, {}))


def test_an_empty_or_absent_table_reads_as_no_rows(tmp_path: Path) -> None:
    tables = POP.tables()
    del tables["segments"]
    tables["demographics"] = tables["demographics"].slice(0, 0)
    layout = Layout(tmp_path / "run", tables, config())
    assert layout.ask(rule(REF_BASE, f("segment", "EMPTY"))).run("audience_size")["size"] == 600
    assert layout.ask(rule(REF_BASE, f("age", "NOT_EMPTY"))).run("audience_size")["size"] is None
    assert layout.ask({"kind": "CUSTOM", "id": "x"}).refused("audience_size")


# -- what is released -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "step", "expected"),
    [(0, 100, 0), (49, 100, 0), (50, 100, 100), (149, 100, 100), (150, 100, 200),
     (250, 100, 300), (7, 5, 5), (8, 5, 10), (12, 1, 12)],
)  # fmt: skip
def test_round_half_up(n: int, step: int, expected: int) -> None:
    assert engine.round_half_up(n, step) == expected


def test_sizes_are_rounded_and_null_below_the_minimum(room: Callable[..., Layout]) -> None:
    exact = len(oracle(POP, SEED_A, {}))  # 210
    assert exact == 210
    assert room(rounding=100, minimum_audience_size=100).ask(SEED_A).run("audience_size") == {
        "name": "A",
        "size": 200,
    }
    assert room(rounding=20, minimum_audience_size=210).ask(SEED_A).run("audience_size") == {
        "name": "A",
        "size": 220,  # 210 is a tie: half up
    }
    below = room(rounding=100, minimum_audience_size=211).ask(SEED_A).run("audience_size")
    assert below == {"name": "A", "size": None}


def test_the_user_list_is_refused_below_the_minimum(room: Callable[..., Layout]) -> None:
    layout = room(minimum_audience_size=211).ask(SEED_A)
    assert "minimum audience size" in layout.refused("audience_user_list")
    assert len(room(minimum_audience_size=210).ask(SEED_A).run("audience_user_list")) == 210


def test_the_user_list_holds_distinct_sorted_activation_ids(room: Callable[..., Layout]) -> None:
    audience = rule(REF_BASE, f("segment", "CONTAINS_ANY_OF", "x"))
    users = oracle(POP, audience, {})
    layout = room().ask(audience, activation_id="maid")
    expected = sorted({m for i in users for m in POP.maids[i]})
    assert layout.run("audience_user_list") == expected
    assert "maid-shared" in expected  # users 4 and 5 share it: once
    wrong = room().ask(audience, activation_id="matchingId")
    assert "not an activation column" in wrong.refused("audience_user_list")


def test_the_user_list_quotes_only_ids_that_need_it() -> None:
    ids = ["plain", "with,comma", 'with"quote', "with\nline"]
    written = engine._csv_lines(pa.array(ids)).decode()
    assert written.startswith("plain\n")
    assert [row[0] for row in csv.reader(io.StringIO(written))] == ids
    assert engine._csv_lines(pa.array([], pa.string())) == b""


# -- lookalike --------------------------------------------------------------------------------


@dataclass
class EmbeddedPopulation:
    tables: dict[str, pa.Table]
    region: np.ndarray  # the users in the seed's region of embedding space


def embedded_population(
    n: int = 4000, dims: int = 8, seed_in_region: bool = True, rng_seed: int = 3
) -> EmbeddedPopulation:
    rng = np.random.default_rng(rng_seed)
    users = [Population.user(i) for i in range(n)]
    vectors = rng.normal(size=(n, dims))
    region = vectors[:, 0] + vectors[:, 1] > 1.2  # ~20 % of users
    if seed_in_region:
        seed = np.flatnonzero(region & (rng.random(n) < 0.7))
    else:
        seed = rng.choice(n, size=int(region.sum() * 0.7), replace=False)
    # Two scopes per user: the engine averages them; their mean is the user's vector.
    offsets = rng.normal(size=(n, dims))
    scopes = {
        "user_id": users + users,
        "scope": ["app"] * n + ["web"] * n,
        **{
            f"e{j}": np.concatenate([vectors[:, j] + offsets[:, j], vectors[:, j] - offsets[:, j]])
            for j in range(dims)
        },
    }
    segments = [(users[i], "near" if region[i] else f"far{i % 4}") for i in range(n)]
    segments += [(users[i], f"noise{i % 7}") for i in range(n)]
    return EmbeddedPopulation(
        {
            "matching": _table(
                ["userId", "matchingId", "maid"], [(u, f"m-{u}", None) for u in users]
            ),
            "audiences": _table(
                ["matching_id", "audience_type"], [(f"m-{users[i]}", "L") for i in seed]
            ),
            "embeddings": pa.table(scopes),
            "segments": _table(["user_id", "segment"], segments),
        },
        region,
    )  # fmt: skip


SEED_L: Audience = {"kind": "SEED", "audienceType": "L"}


def lookalike(reach: int = 10, exclude: bool = True, source: Audience = SEED_L) -> Audience:
    return {
        "kind": "LOOKALIKE",
        "sourceRef": source,
        "reach": reach,
        "excludeSeedAudience": exclude,
    }


@pytest.fixture(scope="module")
def regional() -> EmbeddedPopulation:
    return embedded_population()


def test_lookalike_statistics_of_a_seed_from_one_region(
    tmp_path: Path, regional: EmbeddedPopulation
) -> None:
    layout = Layout(tmp_path, regional.tables, config(activation_ids=["userId"]))
    stats = layout.ask(lookalike()).run("lookalike_statistics")
    curve = stats["quality"]["roc_curve"]
    assert curve["auc"] > 0.9
    assert len(curve["fpr"]) == len(curve["tpr"]) == len(curve["reach"]) == 101
    for series in ("fpr", "tpr", "reach"):
        assert curve[series] == sorted(curve[series])
        assert all(round(v, 3) == v for v in curve[series])
    assert (curve["fpr"][0], curve["tpr"][-1], curve["reach"][50]) == (0.0, 1.0, 0.5)
    seed_size = stats["seed_audience_size"]
    assert seed_size == regional.tables["audiences"].num_rows
    # A stratified fifth of the base and of the seed is held out.
    assert curve["test_set_size"] == 800
    assert curve["test_set_positive_examples_size"] == round(seed_size / 5)
    ids = stats["activation_ids"]["userId"]
    assert ids["addressable_audience_size"] == 4000 - seed_size  # the seed is excluded
    sizes = [a["size"] for a in ids["filtered_audiences"]]
    assert [a["reach"] for a in ids["filtered_audiences"]] == list(range(1, 31))
    assert sizes == [engine.reach_count(r, 4000 - seed_size) for r in range(1, 31)]
    assert stats["privacy"] == {"mode": "rounding"}


def test_lookalike_of_a_random_seed_is_no_better_than_chance(tmp_path: Path) -> None:
    population = embedded_population(seed_in_region=False)
    layout = Layout(tmp_path, population.tables, config(activation_ids=["userId"]))
    auc = layout.ask(lookalike()).run("lookalike_statistics")["quality"]["roc_curve"]["auc"]
    assert 0.4 < auc < 0.6


def test_lookalike_on_segments_when_the_room_has_no_embeddings(
    tmp_path: Path, regional: EmbeddedPopulation
) -> None:
    tables = {k: v for k, v in regional.tables.items() if k != "embeddings"}
    layout = Layout(tmp_path, tables, config(activation_ids=["userId"]))
    stats = layout.ask(lookalike()).run("lookalike_statistics")
    assert stats["quality"]["roc_curve"]["auc"] > 0.9  # the "near" segment gives the region
    settings = config(activation_ids=["userId"], lookalike={"features": "embeddings"})
    layout = Layout(tmp_path / "again", tables, settings)
    assert "has none" in layout.ask(lookalike()).refused("lookalike_statistics")


def test_lookalike_audience_is_the_top_reach_percent(
    tmp_path: Path, regional: EmbeddedPopulation
) -> None:
    layout = Layout(tmp_path, regional.tables, config())
    seed = users_of(layout, SEED_L)
    excluded = users_of(layout, lookalike(reach=10, exclude=True))
    assert len(excluded) == engine.reach_count(10, 4000 - len(seed))
    assert not excluded & seed
    # Mostly users of the seed's region (~20 % of the base; a third of them are not seeds).
    top = users_of(layout, lookalike(reach=5, exclude=True))
    assert np.mean([regional.region[i] for i in top]) > 0.8
    included = users_of(layout, lookalike(reach=10, exclude=False))
    assert len(included) == 400
    assert len(included & seed) > 300
    # The same audience in every operation and every run (a fixed seed, no row-order effects).
    size = layout.ask(lookalike(reach=10, exclude=True)).run("audience_size")["size"]
    assert size == len(excluded)
    again = Layout(tmp_path / "again", regional.tables, config())
    assert users_of(again, lookalike(reach=10, exclude=True)) == excluded
    # A larger reach contains the smaller.
    assert excluded <= users_of(layout, lookalike(reach=20, exclude=True))


def test_a_lookalike_inside_a_rule_and_a_custom(
    tmp_path: Path, regional: EmbeddedPopulation
) -> None:
    customs = {"look": lookalike(reach=20)}
    tables = {**regional.tables, CUSTOM_NODE: custom_table(customs)}
    layout = Layout(tmp_path, tables, config())
    look = users_of(layout, {"kind": "CUSTOM", "id": "look"})
    audience = rule({"kind": "CUSTOM", "id": "look"}, f("segment", "CONTAINS_ANY_OF", "near"))
    near = {i for i in range(4000) if regional.region[i]}
    assert users_of(layout, audience) == look & near
    stats = layout.ask({"kind": "CUSTOM", "id": "look"}).run("lookalike_statistics")
    assert stats["quality"]["roc_curve"]["auc"] > 0.9


def test_lookalike_refusals(tmp_path: Path, regional: EmbeddedPopulation) -> None:
    small = Layout(tmp_path / "small", regional.tables, config(minimum_audience_size=5000))
    for operation in ("lookalike_statistics", "audience_size"):
        assert "minimum audience size" in small.ask(lookalike()).refused(operation)
    layout = Layout(tmp_path / "whole", regional.tables, config())
    assert "whole base" in layout.ask(lookalike(source=REF_BASE)).refused("audience_size")
    assert "LOOKALIKE audience" in layout.ask(SEED_L).refused("lookalike_statistics")
    # 3 seed users: 20 % of them rounds to no positive in the test set.
    tiny = {**regional.tables, "audiences": regional.tables["audiences"].slice(0, 2)}
    layout = Layout(tmp_path / "tiny", tiny, config())
    assert "no positive" in layout.ask(lookalike()).refused("lookalike_statistics")


@pytest.mark.parametrize("two_scopes", [False, True])
def test_embeddings_are_averaged_over_scopes(tmp_path: Path, two_scopes: bool) -> None:
    users = [Population.user(i) for i in range(4)]
    rows = {"user_id": users[:3], "scope": ["a"] * 3, "e0": [1.0, None, 3.0], "e1": [2.0, 4.0, 6.0]}
    if two_scopes:  # user 0 has a second scope; user 1's NULL is ignored, not averaged as 0
        rows = {
            k: [*v, w] for (k, v), w in zip(rows.items(), [users[0], "b", 3.0, None], strict=True)
        }
    tables = {
        "matching": _table(["userId", "matchingId", "maid"], [(u, u, None) for u in users]),
        "embeddings": pa.table(rows),
    }
    room = engine.Room(
        Layout(tmp_path, tables, config()).input_dir, engine.EngineConfig.from_dict(config())
    )
    expected = np.array(
        [[2.0 if two_scopes else 1.0, 2.0], [np.nan, 4.0], [3.0, 6.0], [np.nan, np.nan]]
    )
    np.testing.assert_array_equal(room.embeddings, expected.astype(np.float32))


def test_auc_and_roc_against_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(5)
    labels = rng.random(3000) < 0.2
    scores = np.round(rng.normal(size=3000) + labels, 1)  # many ties
    assert engine.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    curve = engine.roc_curve(labels, scores)
    # Targeting the top q of the test set: exactly that many users, so the reach is q.
    assert curve["reach"] == [round(q / 100, 3) for q in range(101)]
    top = np.argsort(-scores, kind="stable")[:300]
    assert curve["tpr"][10] == round(labels[top].sum() / labels.sum(), 3)


def test_training_rows_are_bounded_and_stratified() -> None:
    source = np.zeros(100_000, dtype=bool)
    source[:3000] = True
    split = engine.split_users(source, engine.LookalikeSettings(max_training_rows=10_000))
    assert len(split.train) == 10_000
    assert split.train_labels.sum() == 2400  # every positive left after the test's share
    assert len(split.test) == 20_000
    assert split.test_labels.sum() == 600
    assert not set(split.train) & set(split.test)
    assert (source[split.test] == split.test_labels).all()
    assert (source[split.train] == split.train_labels).all()


# -- differential privacy ---------------------------------------------------------------------

DP = {"mode": "dp", "epsilon_per_run": 1000.0}


def test_noise_is_laplace_with_epsilon_split_over_the_counts() -> None:
    # One release of m = 4000 counts at ε = 4: each count gets ε/m, i.e. noise of scale m/ε =
    # 1000 (mean absolute value 1000, standard deviation 1000·√2).
    noisy = np.array(engine.noisy_counts([1000] * 4000, 4.0)) - 1000
    assert abs(noisy.mean()) < 4 * 1000 * np.sqrt(2 / 4000)  # 4 standard errors
    assert np.mean(np.abs(noisy)) == pytest.approx(1000, rel=0.1)
    single = [engine.noisy_counts([500], 0.5)[0] - 500 for _ in range(2000)]
    assert np.mean(np.abs(single)) == pytest.approx(2.0, rel=0.15)  # scale 1/ε
    assert abs(statistics.mean(single)) < 0.3


def test_dp_sizes_are_noisy_and_use_the_epsilon_the_core_charged(
    room: Callable[..., Layout],
) -> None:
    exact = len(oracle(POP, SEED_A, {}))
    # The configuration says 1000 (almost no noise); the core charged 0.05 (scale 20): 0.05 wins.
    layout = room(privacy=DP).ask(SEED_A).charge(0.05)
    sizes = [layout.run("audience_size")["size"] for _ in range(30)]
    assert len(set(sizes)) > 5  # two runs differ
    assert 5 < statistics.mean(abs(s - exact) for s in sizes) < 60  # E|noise| = 20
    layout.charge(1000.0)
    assert all(abs(layout.run("audience_size")["size"] - exact) <= 2 for _ in range(5))


def test_dp_thresholds_and_rounds_the_noisy_size(room: Callable[..., Layout]) -> None:
    layout = room(privacy=DP, rounding=100, minimum_audience_size=150).ask(SEED_A).charge(1000.0)
    assert layout.run("audience_size") == {"name": "A", "size": 200}
    layout = room(privacy=DP, rounding=100, minimum_audience_size=300).ask(SEED_A).charge(1000.0)
    assert layout.run("audience_size") == {"name": "A", "size": None}


def test_dp_mode_needs_the_core_charge(room: Callable[..., Layout]) -> None:
    assert "charged nothing" in room(privacy=DP).ask(SEED_A).refused("audience_size")
    bad = room(privacy=DP).ask(SEED_A).charge(1.0)
    (bad.input_dir / "privacy.json").write_text('{"epsilon": -1}')
    assert "positive" in bad.refused("audience_size")


def test_dp_lookalike_size_is_reach_of_the_noisy_addressable_base(
    tmp_path: Path, regional: EmbeddedPopulation
) -> None:
    seed_size = regional.tables["audiences"].num_rows
    layout = Layout(tmp_path, regional.tables, config(privacy=DP)).charge(1000.0)
    size = layout.ask(lookalike(reach=10)).run("audience_size")["size"]
    assert abs(size - engine.reach_count(10, 4000 - seed_size)) <= 1
    on_model = rule({"kind": "CUSTOM", "id": "x"})
    customs = {"x": lookalike(reach=10)}
    tables = {**regional.tables, CUSTOM_NODE: custom_table(customs)}
    layout = Layout(tmp_path / "rule", tables, config(privacy=DP)).charge(1.0)
    assert "no sensitivity bound" in layout.ask(on_model).refused("audience_size")
    twice = lookalike(source={"kind": "CUSTOM", "id": "x"})
    assert "no sensitivity bound" in layout.ask(twice).refused("audience_size")
    # A custom LOOKALIKE is sized like the definition itself.
    assert layout.ask({"kind": "CUSTOM", "id": "x"}).run("audience_size")["size"] > 0


def test_dp_lookalike_statistics_release_only_noisy_sizes(
    tmp_path: Path, regional: EmbeddedPopulation
) -> None:
    # No features at all: DP statistics train no model, so they still work.
    tables = {k: v for k, v in regional.tables.items() if k in ("matching", "audiences")}
    layout = Layout(tmp_path, tables, config(privacy=DP, minimum_audience_size=100)).charge(0.5)
    stats = layout.ask(lookalike()).run("lookalike_statistics")
    assert stats["quality"] is None
    assert stats["privacy"]["mode"] == "dp"
    assert stats["privacy"]["epsilon"] == 0.5
    assert stats["privacy"]["noisy_counts"] == 3  # the seed and two activation columns
    assert "not released" in stats["privacy"]["quality"]
    assert set(stats["activation_ids"]) == {"userId", "maid"}
    maid = stats["activation_ids"]["maid"]
    assert maid["addressable_audience_size"] is None  # no user has a maid: noisy 0 (scale 6)
    user = stats["activation_ids"]["userId"]
    n = user["addressable_audience_size"]
    assert abs(n - (4000 - tables["audiences"].num_rows)) < 100
    assert [a["size"] for a in user["filtered_audiences"]][-1] == engine.reach_count(30, n)
    runs = {json.dumps(layout.run("lookalike_statistics")) for _ in range(4)}
    assert len(runs) > 1


def test_the_user_list_is_an_export_without_noise(room: Callable[..., Layout]) -> None:
    layout = room(privacy=DP).ask(SEED_A)  # no privacy.json: the export is not charged
    assert len(layout.run("audience_user_list")) == len(oracle(POP, SEED_A, {}))


# -- as a script, in the real sandbox ---------------------------------------------------------

MIB = 1024 * 1024
LIMITS = SandboxLimits(
    timeout_seconds=120.0,
    memory_bytes=2048 * MIB,
    cpu_seconds=240,
    max_file_bytes=64 * MIB,
    max_processes=64,
    max_output_bytes=64 * MIB,
    max_output_files=10,
)


def run_in_sandbox(layout: Layout, operation: str, tmp_path: Path) -> tuple[int | None, bytes]:
    """``<engine source>\\nmain(operation)`` as the room's node runs it: /input/code/main.py."""
    code = layout.input_dir / "code"
    (code / "main.py").write_text(f"{ENGINE_PATH.read_text()}\nmain({operation!r})\n")
    mounts = [Mount(code, "/input/code"), Mount(layout.input_dir / "parameters.json",
                                                "/input/parameters.json")]  # fmt: skip
    for table in layout.input_dir.iterdir():
        if table.is_dir() and table.name != "code":
            mounts.append(Mount(table, f"/input/{table.name}"))
    if (layout.input_dir / "privacy.json").exists():
        mounts.append(Mount(layout.input_dir / "privacy.json", "/input/privacy.json"))
    work = tmp_path / f"work-{operation}"
    work.mkdir()
    interpreter, runtime = python_runtime()
    result = run_sandboxed(
        [str(interpreter), "-B", "-s", "/input/code/main.py"],
        mounts=mounts,
        output_dir=layout.output_dir,
        work_dir=work,
        limits=LIMITS,
        runtime=runtime,
        libraries=python_libraries(),
        env=python_env(),
    )
    return result.exit_code, result.stderr


def test_the_engine_runs_as_a_script_in_the_sandbox(
    tmp_path: Path, regional: EmbeddedPopulation
) -> None:
    assert sandbox_available(), "bubblewrap and libseccomp are required (./dev installs them)"
    layout = Layout(tmp_path / "room", regional.tables, config(activation_ids=["userId"]))
    layout.ask(lookalike(reach=5))
    exit_code, stderr = run_in_sandbox(layout, "lookalike_statistics", tmp_path)
    assert exit_code == 0, stderr.decode()
    stats = json.loads((layout.output_dir / "lookalike_audience.json").read_text())
    assert stats["quality"]["roc_curve"]["auc"] > 0.9
    # The same audience as outside the sandbox.
    (layout.output_dir / "lookalike_audience.json").unlink()
    exit_code, stderr = run_in_sandbox(layout, "audience_user_list", tmp_path)
    assert exit_code == 0, stderr.decode()
    inside = (layout.output_dir / "audience_users.csv").read_text().splitlines()
    (layout.output_dir / "audience_users.csv").unlink()
    assert inside == layout.run("audience_user_list")


def test_a_refusal_in_the_sandbox_writes_only_its_reason(
    tmp_path: Path, regional: EmbeddedPopulation
) -> None:
    layout = Layout(tmp_path / "room", regional.tables, config(minimum_audience_size=10_000))
    layout.ask(SEED_L)
    exit_code, stderr = run_in_sandbox(layout, "audience_user_list", tmp_path)
    assert exit_code == 0, stderr.decode()
    assert [p.name for p in layout.output_dir.iterdir()] == ["refusal.json"]
    refusal = json.loads((layout.output_dir / "refusal.json").read_text())
    assert refusal["refused"].startswith("the audience has fewer users")


# -- overlap and insights in differential-privacy mode -----------------------------------------

EXACT = 1e9  # epsilon so large that the discrete Laplace noise is 0


def overlap_oracle(p: Population) -> list[list[Any]]:
    """overlap_statistics' rows, exact, from the population (plain Python)."""
    rows: list[list[Any]] = []
    for label in sorted(p.seeds):
        listed = set(p.seeds[label])
        matched = {i for i in range(p.n) if listed & set(p.matching[i])}
        with_maid = {i for i in matched if p.maids[i]}
        for column, n in (("userId", len(matched)), ("maid", len(with_maid))):
            rows.append([label, len(listed), len(matched), column, n])
    return rows


def insights_oracle(p: Population, k: int) -> list[list[Any]]:
    """insights' rows, exact counts, from the population (plain Python)."""
    values: dict[str, dict[int, set[str]]] = {
        "segment": {i: set(s) for i, s in p.segments.items()},
        "age": {i: {a} for i, a in p.age.items()},
        "gender": {i: {g} for i, g in p.gender.items()},
        "age_gender": {i: {f"{p.age[i]}|{p.gender[i]}"} for i in p.age if i in p.gender},
    }
    rows: list[list[Any]] = []
    for label in sorted(p.seeds):
        matched = {i for i in range(p.n) if set(p.seeds[label]) & set(p.matching[i])}
        for aggregation, held in values.items():
            keys = {v for vs in held.values() for v in vs}
            domain = sorted(v for v in keys if sum(v in vs for vs in held.values()) >= k)
            base = {i for i, vs in held.items() if vs & set(domain)}
            for key in domain:
                o = sum(1 for i in matched if key in held.get(i, set()))
                b = sum(1 for vs in held.values() if key in vs)
                if o >= k and b >= k:
                    rows.append([label, aggregation, key, float(o), float(b)])
            rows.append([label, "total", aggregation, float(len(base & matched)), float(len(base))])
    return sorted(rows, key=lambda row: (row[0], row[1], row[2]))


def dp_room(room: Callable[..., Layout], epsilon: float, **settings: Any) -> Layout:
    return room(privacy=DP, group_rounding=1, minimum_group_size=20, **settings).charge(epsilon)


def test_dp_overlap_is_the_exact_overlap_plus_noise(room: Callable[..., Layout]) -> None:
    released = dp_room(room, EXACT).run("overlap_statistics")
    assert released["columns"] == [
        "audience_type", "advertiser_size", "overlap_size", "activation_id", "activation_ids"
    ]  # fmt: skip
    assert released["rows"] == overlap_oracle(POP)
    # 2 types x (advertiser, overlap, 2 activation columns): each moved by 1 by one user.
    assert released["privacy"] == {
        "mode": "dp", "epsilon": EXACT, "noisy_counts": 8, "sensitivity": 8
    }  # fmt: skip
    noisy = dp_room(room, 0.5)  # scale 8 / 0.5 = 16 per count
    runs = [noisy.run("overlap_statistics")["rows"] for _ in range(20)]
    errors = [
        abs(r[2] - e[2]) for rows in runs for r, e in zip(rows, overlap_oracle(POP), strict=True)
    ]
    assert 5 < statistics.mean(errors) < 40  # E|noise| = 16
    assert len({json.dumps(rows) for rows in runs}) > 1


def test_dp_overlap_thresholds_and_rounds_the_noisy_counts(room: Callable[..., Layout]) -> None:
    # A at 200 + 10 users overlaps, B at 200: with a minimum of 205, B's overlap and its
    # activation counts are not released; sizes are rounded to 100.
    layout = dp_room(room, EXACT, minimum_audience_size=205, rounding=100)
    rows = {(r[0], r[3]): r for r in layout.run("overlap_statistics")["rows"]}
    exact = {(r[0], r[3]): r for r in overlap_oracle(POP)}
    assert exact[("A", "userId")][2] == 210
    assert rows[("A", "userId")] == ["A", 300, 200, "userId", 200]
    assert rows[("B", "userId")] == ["B", None, None, "userId", None]
    assert exact[("A", "maid")][4] == 139  # below the minimum: not released either
    assert rows[("A", "maid")] == ["A", 300, 200, "maid", None]


def test_dp_insights_are_the_exact_insights_plus_noise(room: Callable[..., Layout]) -> None:
    released = dp_room(room, EXACT).run("insights")
    assert released["columns"] == [
        "audience_type", "aggregation", "key", "overlap_value", "base_value"
    ]  # fmt: skip
    assert released["rows"] == insights_oracle(POP, 20)
    # T = 2 types: 2 + 3 x (segment 10 + 1, age 2, gender 2, age_gender 2).
    assert released["privacy"]["sensitivity"] == 2 + 3 * (11 + 2 + 2 + 2)
    noisy = dp_room(room, 5.0).run("insights")["rows"]
    exact = {tuple(r[:3]): r for r in insights_oracle(POP, 20)}
    assert noisy != released["rows"]
    for row in noisy:  # scale 53 / 5 ≈ 11 per count: near, and never a key outside the domain
        assert abs(row[4] - exact[tuple(row[:3])][4]) < 150


def test_dp_insights_release_groups_as_the_sql_does(room: Callable[..., Layout]) -> None:
    # Shares of rounded counts; groups below the minimum group size left out; types whose
    # overlap is below the minimum audience size left out entirely.
    layout = room(
        privacy=DP, group_rounding=50, minimum_group_size=60, minimum_audience_size=205,
        hide_absolute_values=True,
    ).charge(EXACT)  # fmt: skip
    rows = layout.run("insights")["rows"]
    assert {r[0] for r in rows} == {"A"}
    exact = [r for r in insights_oracle(POP, 60) if r[0] == "A"]
    totals = {r[2]: r[3:] for r in exact if r[1] == "total"}
    expected = []
    for label, aggregation, key, o, b in exact:
        if aggregation == "total":
            expected.append([label, aggregation, key, None, None])
            continue
        o_t, b_t = (engine.round_half_up(int(t), 50) for t in totals[aggregation])
        o_n, b_n = engine.round_half_up(int(o), 50), engine.round_half_up(int(b), 50)
        expected.append([label, aggregation, key, round(o_n / o_t, 3), round(b_n / b_t, 3)])
    assert rows == expected


def test_dp_insights_count_at_most_ten_segments_of_a_user(room: Callable[..., Layout]) -> None:
    # User 0 holds 15 segments, each also held by 30 other users (of one segment each): only
    # the first 10 of user 0's count (in key order).
    many = [(Population.user(0), f"t{j:02d}") for j in range(15)]
    many += [(Population.user(100 + 30 * j + r), f"t{j:02d}") for j in range(15) for r in range(30)]
    segments = _table(["user_id", "segment"], many)
    everyone = _table(["matching_id", "audience_type"], [(f"m{i:04d}", "all") for i in range(600)])
    tables = {"segments": segments, "audiences": everyone}
    layout = room(privacy=DP, group_rounding=1, minimum_group_size=20, extra=tables)
    rows = layout.charge(EXACT).run("insights")["rows"]
    base = {r[2]: r[4] for r in rows if r[1] == "segment"}
    assert base == {f"t{j:02d}": 31.0 if j < 10 else 30.0 for j in range(15)}


def test_overlap_and_insights_run_in_the_engine_only_in_dp_mode(
    room: Callable[..., Layout],
) -> None:
    assert "SQL" in room().refused("overlap_statistics")
    assert "charged nothing" in room(privacy=DP).refused("insights")


def test_dp_insights_of_a_room_without_attributes_are_empty(tmp_path: Path) -> None:
    tables = {k: v for k, v in POP.tables().items() if k in ("matching", "audiences")}
    settings = config(privacy=DP, group_rounding=1, minimum_group_size=20)
    released = Layout(tmp_path, tables, settings).charge(EXACT).run("insights")
    assert released["rows"] == []
    assert released["privacy"]["sensitivity"] == 2  # the two overlap counts only
