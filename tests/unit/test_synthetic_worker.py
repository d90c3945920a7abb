"""The differentially private synthetic-data worker (runtime/sealroom_synth.py, run_synthetic.py).

Randomness comes from OpenDP's and the OS's generators and cannot be seeded; every assertion on a
random outcome states the probability with which it could fail, and each is below 1e-8.

Every run that fits a model goes through ``run_synthetic.py`` in a child process (as the core runs
it): a model loads JAX, and JAX in the pytest process would warn at every later fork (each
sandbox start), which the suite treats as an error. In-process tests stop before any model.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from sealroom.compute.sandbox import (
    SITE_PACKAGES_PATH,
    Mount,
    SandboxLimits,
    python_env,
    python_libraries,
    python_runtime,
    run_sandboxed,
    run_unsandboxed,
    sandbox_available,
)
from sealroom.compute.scripts import RUNTIME_DIR, read_table_dir, write_table_dir

sys.path.insert(0, str(RUNTIME_DIR))
try:
    import sealroom_synth as synth  # type: ignore[import-not-found]
    import sealroom_util  # type: ignore[import-not-found]
finally:
    sys.path.remove(str(RUNTIME_DIR))

RUNTIME_PATH = "/opt/sealroom/runtime"  # where execution.py binds RUNTIME_DIR
PRIVACY_MARKER = "__SEALROOM_PRIVACY_SPENT__ "


def column(index: int, name: str, data_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "index": index,
        "name": name,
        "data_type": data_type,
        "nullable": extra.get("nullable", False),
        "mask": extra.get("mask"),
        "bounds": extra.get("bounds"),
    }


def config(columns: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "epsilon": extra.get("epsilon", 1.0),
        "model": extra.get("model", "mst"),
        "output_original_data_statistics": extra.get("statistics", False),
        "columns": columns,
    }


def mixed_table(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """A string column with one rare value, a bounded integer, an unbounded float with nulls."""
    city = rng.choice(["north", "south", "east"], size=rows, p=[0.5, 0.3, 0.2]).astype(object)
    city[0] = "RARE-CITY-ONLY-ONE-ROW"
    age = rng.integers(18, 90, size=rows)
    income = np.where(rng.random(rows) < 0.3, np.nan, rng.normal(50_000, 9_000, size=rows))
    return pd.DataFrame(
        {
            "city": pd.Series(city, dtype="string"),
            "age": pd.Series(age, dtype="Int64"),
            "income": pd.Series(income, dtype="float64"),
            "email": pd.Series([f"SECRET-{i}@corp.invalid" for i in range(rows)], dtype="string"),
        }
    )


MIXED_COLUMNS = [
    column(0, "city", "string"),
    column(1, "age", "integer", bounds=[0, 120]),
    column(2, "income", "float", nullable=True),
    column(3, "email", "string", mask="email"),
]


@dataclass(frozen=True)
class Run:
    """What one run of run_synthetic.py left: exit code, streams, output table and report."""

    exit_code: int | None
    stdout: str
    stderr: str
    output: Path

    @property
    def table(self) -> pd.DataFrame:
        return sealroom_util.read_tabular_data(str(self.output))

    @property
    def report(self) -> dict[str, Any] | None:
        path = self.output / "quality_report.json"
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def privacy(self) -> dict[str, Any]:
        line = next(x for x in self.stdout.splitlines() if x.startswith(PRIVACY_MARKER))
        spent: dict[str, Any] = json.loads(line.removeprefix(PRIVACY_MARKER))
        return spent


def _scratch_dir() -> Path:
    """A private directory where the server keeps job files: /dev/shm, as by default.

    Not pytest's tmp_path: unsandboxed_paths maps every /tmp path into its root, so a root under
    /tmp cannot find itself (os.makedirs recurses without end).
    """
    if not Path("/dev/shm").is_dir():
        pytest.skip("needs /dev/shm, the server's default scratch directory")
    return Path(tempfile.mkdtemp(prefix="sealroom-synth-test-", dir="/dev/shm"))


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = _scratch_dir()
    yield path
    shutil.rmtree(path)


def _node_dirs(base: Path, table: pa.Table, raw_config: dict[str, Any]) -> tuple[Path, Path, Path]:
    code, data, output = base / "code", base / "table", base / "output"
    code.mkdir(parents=True)
    output.mkdir()
    (code / "config.json").write_text(json.dumps(raw_config))
    write_table_dir(table, data)
    return code, data, output


def run_worker(base: Path, table: pa.Table | pd.DataFrame, raw: dict[str, Any]) -> Run:
    """run_synthetic.py as ``--unsafe-no-sandbox`` runs a Python node (run_unsandboxed)."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    code, data, output = _node_dirs(base, table, raw)
    work = base / "work"
    work.mkdir()
    site_packages, _ = python_libraries()[0]
    env = {**python_env(), "PYTHONPATH": f"{RUNTIME_DIR}:{site_packages}"}
    result = run_unsandboxed(
        [sys.executable, "-B", "-s", str(RUNTIME_DIR / "run_synthetic.py"), "/input/table"],
        mounts=[Mount(code, "/input/code"), Mount(data, "/input/table")],
        output_dir=output,
        work_dir=work,
        limits=SandboxLimits(timeout_seconds=120),
        env=env,
    )
    return Run(result.exit_code, result.stdout.decode(), result.stderr.decode(), output)


@pytest.fixture(scope="module")
def mixed() -> Iterator[tuple[pd.DataFrame, Run]]:
    """One MST run over 1000 rows at epsilon 1, with the quality report (shared: ~4 s)."""
    data = mixed_table(1000, np.random.default_rng(7))
    base = _scratch_dir()
    try:
        run = run_worker(base, data, config(MIXED_COLUMNS, statistics=True))
        assert run.exit_code == 0, run.stderr[-3000:]
        yield data, run
    finally:
        shutil.rmtree(base)


# -- configuration -----------------------------------------------------------------------------
def test_a_valid_configuration_parses() -> None:
    parsed = synth.parse_config(config(MIXED_COLUMNS))
    assert parsed.epsilon == 1.0
    assert parsed.model == "mst"
    assert [c.name for c in parsed.columns] == ["city", "age", "income", "email"]
    assert parsed.columns[1].bounds == (0.0, 120.0)
    assert parsed.columns[3].mask == "email"


def _set(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    raw = config([column(0, "n", "integer", bounds=[0, 9]), column(1, "s", "string")])
    target: Any = raw
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return raw


_DELETE = object()
BAD_CONFIGS = {
    "version missing": (("version",), _DELETE),
    "version 2": (("version",), 2),
    "version true": (("version",), True),
    "unknown field": (("input_dir",), "/input/x"),
    "epsilon zero": (("epsilon",), 0),
    "epsilon negative": (("epsilon",), -1.0),
    "epsilon text": (("epsilon",), "1"),
    "epsilon bool": (("epsilon",), True),
    "epsilon nan": (("epsilon",), float("nan")),
    "epsilon too large": (("epsilon",), 1e6),
    "model unknown": (("model",), "gan"),
    "statistics not bool": (("output_original_data_statistics",), 1),
    "columns empty": (("columns",), []),
    "columns not a list": (("columns",), {"0": {}}),
    "column not an object": (("columns", 0), "n"),
    "column field missing": (("columns", 0, "nullable"), _DELETE),
    "column field unknown": (("columns", 0, "format"), "INTEGER"),
    "index out of order": (("columns", 0, "index"), 1),
    "index bool": (("columns", 0, "index"), False),
    "name empty": (("columns", 0, "name"), ""),
    "name duplicate": (("columns", 1, "name"), "n"),
    "data type unknown": (("columns", 0, "data_type"), "date"),
    "nullable not bool": (("columns", 0, "nullable"), "yes"),
    "mask unknown": (("columns", 1, "mask"), "creditCard"),
    "mask needs string": (("columns", 0, "mask"), "email"),
    "bounds on string": (("columns", 1, "bounds"), [0, 1]),
    "bounds one element": (("columns", 0, "bounds"), [0]),
    "bounds not a list": (("columns", 0, "bounds"), {"low": 0}),
    "bounds both null": (("columns", 0, "bounds"), [None, None]),
    "bounds reversed": (("columns", 0, "bounds"), [9, 0]),
    "bounds equal": (("columns", 0, "bounds"), [3, 3]),
    "bounds infinite": (("columns", 0, "bounds"), [0, float("inf")]),
    "bounds text": (("columns", 0, "bounds"), ["0", 9]),
    "bounds without integer": (("columns", 0, "bounds"), [0.2, 0.8]),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_every_bad_field_is_refused(case: str) -> None:
    path, value = BAD_CONFIGS[case]
    with pytest.raises(synth.ConfigError):
        synth.parse_config(_set(path, value))


def test_a_config_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(synth.ConfigError, match="JSON object"):
        synth.parse_config([1])


def test_half_bounds_are_accepted() -> None:
    raw = config([column(0, "n", "float", bounds=[0, None])])
    assert synth.parse_config(raw).columns[0].bounds == (0.0, None)


# -- input checks ------------------------------------------------------------------------------
def _all_masked(rows: int) -> tuple[Any, pd.DataFrame]:
    parsed = synth.parse_config(config([column(0, "name", "string", mask="name")]))
    data = pd.DataFrame({"name": pd.Series([f"person {i}" for i in range(rows)], dtype="string")})
    return parsed, data


def test_fewer_than_50_rows_are_refused_by_the_noisy_count_without_values() -> None:
    # Every column masked: the count gets all of epsilon 1, discrete Laplace scale 1. 5 rows
    # pass 50 only if the noise is >= 45 (p ~ e^-45); 300 rows fall below 50 or are off by 40
    # or more only if |noise| >= 40 (p ~ 2 e^-40).
    parsed, data = _all_masked(5)
    with pytest.raises(synth.TooFewRowsError, match="at least 50") as refused:
        synth.synthesize(parsed, data)
    assert "person" not in str(refused.value)
    parsed, data = _all_masked(300)
    assert abs(len(synth.synthesize(parsed, data).table) - 300) < 40


def test_input_that_does_not_match_the_config_is_refused() -> None:
    parsed, data = _all_masked(60)
    with pytest.raises(synth.InputError, match="names and order"):
        synth.synthesize(parsed, data.rename(columns={"name": "other"}))
    with pytest.raises(synth.InputError, match="integer in the input"):
        synth.synthesize(parsed, pd.DataFrame({"name": pd.Series(range(60), dtype="Int64")}))


def test_a_null_in_a_column_declared_not_nullable_is_modelled_not_refused() -> None:
    # A refusal would tell whether one row holds a null, outside the accounting: the null is
    # treated like a value outside the model instead (no null code, so none is generated).
    columns = [column(0, "n", "integer", bounds=[0, 9]), column(1, "s", "string")]
    parsed = synth.parse_config(config(columns))
    data = pd.DataFrame(
        {
            "n": pd.Series([1] * 59 + [None], dtype="Int64"),
            "s": pd.Series(["a"] * 59 + [None], dtype="string"),
        }
    )
    synth._check_input(parsed, data)  # no refusal
    numbers = synth._NumericCodec(0, 9, integer=True, nullable=False)
    assert numbers.encode(data["n"]).tolist() == [1] * 59 + [0]  # the lowest bin
    categories = synth._CategoricalCodec(["a"], nullable=False)
    assert categories.encode(data["s"]).tolist() == [0] * 59 + [1]  # "(other)"


# -- privacy accounting (module docstring, items 1-5) -------------------------------------------
def test_the_row_count_is_noised_by_a_calibrated_mechanism() -> None:
    # Item 1: discrete Laplace at epsilon 0.5 (scale 2). Over 400 draws on one 200-row table,
    # P(draw = 200) = (1 - e^-0.5) / (1 + e^-0.5) ~ 0.245 and the variance is
    # 2 e^-0.5 / (1 - e^-0.5)^2 ~ 7.8; the bounds below are > 6 standard errors from them
    # (failure p < 1e-9). The exact count would give 400 draws of 200 and variance 0.
    counter = synth._row_counter(0.5)
    assert counter.map(1) <= 0.5
    draws = np.array([int(counter([True] * 200)) for _ in range(400)])
    assert (draws == 200).sum() < 200
    assert 2.0 < draws.var() < 40.0
    assert abs(draws.mean() - 200) < 2.0
    assert synth._noisy_row_count(0, 0.5) >= 0  # never negative


def test_a_one_row_category_is_kept_at_most_at_the_accounted_rate() -> None:
    # Item 2 at epsilon 1 and a large delta share (0.05), so the rate can be measured: a
    # category held by ONE row may be released with probability at most delta. Without the
    # tau + 1 correction it is ~0.099 (OpenDP releases a noisy count equal to its threshold but
    # its map does not count it). Over 3000 draws, a true rate <= 0.05 exceeds the bound with
    # p < 1e-9; a rate of 0.099 stays within it with p < 1e-5.
    from scipy.stats import binom  # type: ignore[import-untyped]  # no stubs

    draws, delta = 3000, 0.05
    selector = synth._category_selector(1.0, delta)
    kept = sum(1 for _ in range(draws) if selector(["only-one-row"]))
    assert kept <= binom.isf(1e-9, draws, delta)


def test_the_category_threshold_runs_one_above_the_accounted_one() -> None:
    # Known answer at epsilon 1, delta 0.05: scale 1, and OpenDP's smallest fitting threshold is
    # 3, whose map reports e^-3 / (1 + e^-1) ~ 0.036 = P(Z >= 3). That is the true rate of
    # threshold 4 (a 1-row category is kept when 1 + Z >= 4): the mechanism must run with 4.
    _, dpd, dpm, _, dpme, _, dpt = synth._opendp()
    count_by = dpt.make_count_by(
        dpd.vector_domain(dpd.atom_domain(T=str)), dpme.symmetric_distance(), TV=int
    )

    def reported_delta(threshold: int) -> float:
        mechanism = count_by >> dpm.then_laplace_threshold(scale=1.0, threshold=threshold)
        return float(mechanism.map(1)[1])

    assert reported_delta(3) == pytest.approx(math.exp(-3) / (1 + math.exp(-1)))
    assert reported_delta(2) > 0.05 >= reported_delta(3)  # 3 is the accounted threshold
    selector = synth._category_selector(1.0, 0.05)
    assert selector.map(1)[1] == pytest.approx(reported_delta(4))


def test_the_core_charges_the_workers_delta() -> None:
    from sealroom.model.definition import SYNTHETIC_DELTA, SyntheticNode

    node = SyntheticNode(name="s", dependency="t", epsilon=1.0)
    assert node.delta == SYNTHETIC_DELTA == synth.DELTA


def test_the_shares_leave_the_model_a_positive_budget() -> None:
    assert synth.COUNT_SHARE + synth.CATEGORY_SHARE + synth.BOUNDS_SHARE < 1


# -- masking -----------------------------------------------------------------------------------
PLAUSIBLE = {
    "name": re.compile(r"^[A-Z][\w.'-]*( [\w.'-]+)+$"),
    "address": re.compile(r"^\d+ [\w. ]+, [\w. ]+, [A-Z]{2} \d{5}$"),
    "postcode": re.compile(r"^\d{5}$"),
    "phoneNumber": re.compile(r"^\+1[1-9]\d{2}[1-9]\d{6}$"),
    "socialSecurityNumber": re.compile(r"^\d{3}-\d{2}-\d{4}$"),
    "email": re.compile(r"^[\w.+-]+@example\.(com|org|net)$"),
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "timestamp": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$"),
    "iban": re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$"),
    "genericString": re.compile(r"^[A-Za-z]{10}$"),
    "genericNumber": re.compile(r"^\d{9}$"),
}


def test_every_mask_type_is_covered() -> None:
    assert set(PLAUSIBLE) == set(synth.MASK_TYPES)


def test_masked_columns_hold_plausible_values_and_nothing_of_the_input() -> None:
    rows = 300
    columns = [column(i, kind, "string", mask=kind) for i, kind in enumerate(PLAUSIBLE)]
    secret = [f"SECRET-{i}" for i in range(rows)]
    data = pd.DataFrame({kind: pd.Series(secret, dtype="string") for kind in PLAUSIBLE})
    result = synth.synthesize(synth.parse_config(config(columns)), data)
    assert set(result.privacy.parts) == {"count"}  # nothing reached a model
    assert result.quality_report is None
    for kind, pattern in PLAUSIBLE.items():
        values = result.table[kind]
        assert str(values.dtype) == "string"
        assert values.notna().all()
        assert not set(values) & set(secret), kind
        assert all(pattern.search(v) for v in values), kind
        assert values.nunique() > rows // 2, kind  # random, not a constant
    today = datetime.date.today()
    dates = [datetime.date.fromisoformat(v) for v in result.table["date"]]
    assert all(today.replace(year=today.year - 81) <= d <= today for d in dates)


def test_a_masked_number_stays_within_its_bounds() -> None:
    columns = [
        column(0, "i", "integer", mask="genericNumber", bounds=[10, 20]),
        column(1, "x", "float", mask="genericNumber", bounds=[-1.5, 1.5]),
    ]
    data = pd.DataFrame(
        {"i": pd.Series(range(100), dtype="Int64"), "x": pd.Series(np.arange(100.0))}
    )
    table = synth.synthesize(synth.parse_config(config(columns)), data).table
    assert str(table["i"].dtype) == "Int64"
    assert table["i"].between(10, 20).all()
    assert table["x"].between(-1.5, 1.5).all()


# -- encoding (known answers) -----------------------------------------------------------------
def test_categories_encode_to_codes_and_back() -> None:
    codec = synth._CategoricalCodec(["a", "b"], nullable=True)
    column = pd.Series(["b", "rare", None, "a"], dtype="string")
    codes = codec.encode(column)
    assert codes.tolist() == [1, 2, 3, 0]  # kept categories, then "other", then null
    back = codec.decode(codes, np.random.default_rng(0))
    assert back.tolist() == ["b", synth.OTHER_VALUE, pd.NA, "a"]


def test_small_integer_ranges_keep_every_value() -> None:
    codec = synth._NumericCodec(0, 9, integer=True, nullable=False)
    assert codec.size == 10
    column = pd.Series([0, 9, 4, -5, 100], dtype="Int64")
    codes = codec.encode(column)
    assert codes.tolist() == [0, 9, 4, 0, 9]  # out-of-bounds values clamp to the edges
    assert codec.decode(codes, np.random.default_rng(0)).tolist() == [0, 9, 4, 0, 9]


def test_wide_ranges_are_binned_and_decoded_inside_their_bin() -> None:
    codec = synth._NumericCodec(0.0, 160.0, integer=False, nullable=True)
    assert codec.size == synth.NUMERIC_BINS + 1  # + null
    column = pd.Series([0.0, 15.0, 159.9, np.nan, 1e9], dtype="float64")
    codes = codec.encode(column)
    assert codes.tolist() == [0, 1, 15, 16, 15]
    values = codec.decode(np.repeat(codes, 50), np.random.default_rng(0))
    width = 160.0 / synth.NUMERIC_BINS
    for code, value in zip(np.repeat(codes, 50), values, strict=True):
        if code == 16:
            assert pd.isna(value)
        else:
            assert code * width <= value < (code + 1) * width


def test_crossed_dp_bounds_are_repaired_without_moving_a_configured_side() -> None:
    assert synth._repair(1.0, 5.0, (None, None)) == (1.0, 5.0)
    assert synth._repair(7.0, 7.0, (None, None)) == (7.0, 8.0)  # next public candidate
    assert synth._repair(5000.0, 1000.0, (None, 1000.0)) == (900.0, 1000.0)
    assert synth._repair(10.0, 3.0, (10.0, None)) == (10.0, 12.0)


# -- the model ---------------------------------------------------------------------------------
def test_the_output_has_the_input_columns_and_types(mixed: tuple[pd.DataFrame, Run]) -> None:
    # The row count is noised (epsilon 0.05, discrete Laplace scale 20): off by 500 or more
    # with p ~ 2 e^-25.
    data, result = mixed
    assert abs(len(result.table) - len(data)) < 500
    assert list(result.table.columns) == list(data.columns)
    assert [str(t) for t in result.table.dtypes] == ["string", "Int64", "float64", "string"]


def test_a_category_held_by_one_row_is_not_released(mixed: tuple[pd.DataFrame, Run]) -> None:
    # One string column gets epsilon 0.2, delta 5e-10: Laplace scale 5, threshold 106 (107 as
    # run). The value is kept only if its count (1) plus the noise reaches 107: p < e^-21 / 2.
    # A value that was not kept is never written.
    _, result = mixed
    assert "RARE-CITY-ONLY-ONE-ROW" not in set(result.table["city"].dropna())
    assert set(result.table["city"].dropna()) <= {"north", "south", "east", synth.OTHER_VALUE}


def test_shares_are_roughly_kept(mixed: tuple[pd.DataFrame, Run]) -> None:
    # Model rho ~0.0073: each one-way cell gets noise sd ~25 rows of 1000; with the sampling of
    # 1000 rows (sd <= 0.016) a share is off by sd ~0.03. An error of 0.2 is > 6 sd: p < 1e-9.
    data, result = mixed
    for name in ("north", "south"):
        real = (data["city"] == name).mean()
        assert abs((result.table["city"] == name).mean() - real) < 0.2


def test_numbers_stay_within_bounds_and_nulls_are_modelled(mixed: tuple[pd.DataFrame, Run]) -> None:
    _, result = mixed
    ages = result.table["age"]
    assert ages.notna().all()  # not nullable
    assert ages.between(0, 120).all()
    income = result.table["income"]
    # 30% nulls in; the null cell's share is off by sd ~0.03 (as above): outside [0.05, 0.55]
    # is > 8 sd away, p < 1e-15.
    assert 0.05 < income.isna().mean() < 0.55
    assert np.isfinite(income.dropna()).all()


def test_the_masked_column_leaks_nothing(mixed: tuple[pd.DataFrame, Run]) -> None:
    data, result = mixed
    assert not set(result.table["email"]) & set(data["email"])


def test_the_budget_adds_up_to_at_most_epsilon(mixed: tuple[pd.DataFrame, Run]) -> None:
    _, result = mixed
    spent = result.privacy
    assert set(spent["parts"]) == {"count", "categories", "bounds", "model"}
    assert spent["parts"]["count"] == pytest.approx([0.05, 0.0])
    assert spent["parts"]["categories"] == pytest.approx([0.2, 5e-10])
    assert spent["parts"]["bounds"] == pytest.approx([0.1, 0.0])
    assert spent["parts"]["model"] == pytest.approx([0.65, 5e-10])
    assert spent["epsilon"] <= 1.0 + 1e-12
    assert spent["delta"] <= synth.DELTA


def test_the_quality_report_reads_the_synthetic_table_only(
    mixed: tuple[pd.DataFrame, Run],
) -> None:
    data, result = mixed
    report = result.report
    assert report is not None
    assert report["version"] == 2
    assert report["rows"] == len(result.table)  # the noisy count, not the input's
    assert [c["name"] for c in report["columns"]] == list(data.columns)
    assert report["columns"][3] == {"name": "email", "masked": "email"}
    for entry in report["columns"][:3]:
        assert set(entry) == {"name", "masked", "tvd_to_measured", "synthetic"}  # no "original"
        assert 0 <= entry["tvd_to_measured"] <= 1
        # Every statistic is the synthetic table's own (post-processing of the DP output).
        assert entry["synthetic"] == synth._statistics(result.table[entry["name"]])
    assert "pairs" not in report
    text = json.dumps(report, allow_nan=False)
    assert "RARE-CITY" not in text
    assert "SECRET" not in text


def test_marginal_distances_known_answers() -> None:
    real = pd.DataFrame({"a": pd.Series(["x", "x", "y", "y"], dtype="string"), "n": [0.0, 1, 2, 3]})
    same = synth.marginal_distances(real, real, ["a", "n"])
    assert same == ({"a": 0.0, "n": 0.0}, {("a", "n"): 0.0})
    flipped = real.assign(a=pd.Series(["y", "y", "x", "x"], dtype="string"))
    one, two = synth.marginal_distances(real, flipped, ["a", "n"])
    assert one == {"a": 0.0, "n": 0.0}
    assert two == {("a", "n"): 1.0}  # every (a, n) pair moved
    other = real.assign(a=pd.Series(["x", "x", "x", "z"], dtype="string"))
    assert synth.marginal_distances(real, other, ["a"])[0] == {"a": 0.5}


def test_aim_runs_within_budget(scratch: Path) -> None:
    rng = np.random.default_rng(3)
    rows = 400
    kind = rng.choice(["a", "b"], size=rows)
    table = pa.table(
        {
            "kind": pa.array(kind.tolist()),
            "score": pa.array(np.where(kind == "a", 2, 7) + rng.integers(0, 2, rows), pa.int64()),
        }
    )
    columns = [column(0, "kind", "string"), column(1, "score", "integer", bounds=[0, 9])]
    result = run_worker(scratch, table, config(columns, model="aim", epsilon=3.0))
    assert result.exit_code == 0, result.stderr[-3000:]
    assert abs(len(result.table) - rows) < 200  # count noise scale 1/0.15: p ~ 2 e^-30
    assert result.table["score"].between(0, 9).all()
    assert set(result.privacy["parts"]) == {"count", "categories", "model"}  # both bounds given
    assert result.privacy["epsilon"] <= 3.0 + 1e-12


# -- the entry point ---------------------------------------------------------------------------
def test_a_refusal_ends_with_the_marker_and_a_safe_message(scratch: Path) -> None:
    # Epsilon 100: the count's noise has scale 0.2, so 10 rows never pass 50 (p ~ e^-200).
    table = pa.table({"n": pa.array(range(10), pa.int64())})
    raw = config([column(0, "n", "integer", bounds=[0, 9])], epsilon=100.0)
    result = run_worker(scratch, table, raw)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "__SEALROOM_SCRIPT_ERROR__ TooFewRowsError 0"
    assert lines[-2] == (
        "__SEALROOM_SAFE_MESSAGE__ synthetic data needs at least 50 input rows (by a noisy count)"
    )
    assert not list(result.output.iterdir())


def test_the_report_is_absent_unless_asked(scratch: Path) -> None:
    # Every column masked: only the row count is released, with all of epsilon (scale 1; 200
    # rows fall below 50 with p ~ e^-150).
    table = pa.table({"name": pa.array([f"p{i}" for i in range(200)])})
    raw = config([column(0, "name", "string", mask="name")])
    result = run_worker(scratch, table, raw)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in result.output.iterdir()) == ["dataset.csv", "types.json"]
    assert result.privacy == {"epsilon": 1.0, "delta": 0.0, "parts": {"count": [1.0, 0.0]}}


@pytest.mark.skipif(not sandbox_available(), reason="needs bubblewrap (./dev installs it)")
def test_the_worker_runs_in_the_real_sandbox(tmp_path: Path) -> None:
    rows = 200
    rng = np.random.default_rng(11)
    table = pa.table(
        {
            "segment": pa.array(rng.choice(["a", "b", "c"], size=rows).tolist()),
            "visits": pa.array(rng.integers(0, 10, size=rows), pa.int64()),
            "name": pa.array([f"client {i}" for i in range(rows)]),
        }
    )
    columns = [
        column(0, "segment", "string"),
        column(1, "visits", "integer", bounds=[0, 9]),
        column(2, "name", "string", mask="name"),
    ]
    # Epsilon 10: the row count's noise has scale 2 (off by 100 with p ~ 2 e^-50).
    code, data, output = _node_dirs(tmp_path, table, config(columns, statistics=True, epsilon=10))
    work = tmp_path / "work"
    work.mkdir()
    interpreter, runtime = python_runtime()
    # What execution.py does for a Python node, with run_synthetic.py as the wrapper.
    env = {**python_env(), "PYTHONPATH": f"{RUNTIME_PATH}:{SITE_PACKAGES_PATH}"}
    result = run_sandboxed(
        [str(interpreter), "-B", "-s", f"{RUNTIME_PATH}/run_synthetic.py", "/input/table"],
        mounts=[Mount(code, "/input/code"), Mount(data, "/input/table")],
        output_dir=output,
        work_dir=work,
        limits=SandboxLimits(timeout_seconds=120),
        runtime=runtime,
        libraries=[*python_libraries(), (RUNTIME_DIR, RUNTIME_PATH)],
        env=env,
    )
    assert result.exit_code == 0, result.stderr.decode()[-3000:]
    assert PRIVACY_MARKER.encode() in result.stdout
    assert sorted(name for name, _ in result.output_files) == [
        "dataset.csv", "quality_report.json", "types.json",
    ]  # fmt: skip
    back = read_table_dir(output)
    assert back is not None
    assert abs(back.num_rows - rows) < 100
    assert back.schema.names == ["segment", "visits", "name"]
    assert [str(t) for t in back.schema.types] == ["string", "int64", "string"]
    assert not set(back.column("name").to_pylist()) & set(table.column("name").to_pylist())
    report = json.loads((output / "quality_report.json").read_text())
    assert report["average_tvd_to_measured"] is not None


def test_no_model_ran_inside_the_test_process() -> None:
    # A model in this process would load JAX, which warns at every later fork (see the top).
    assert "jax" not in sys.modules
    assert "mbi" not in sys.modules
