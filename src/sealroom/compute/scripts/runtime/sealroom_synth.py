"""Differentially private synthetic tables (MST or AIM over Private-PGM), run inside the sandbox.

Public surface: :func:`parse_config` (the node's ``config.json``), :func:`synthesize` (one table
in, a synthetic table of the same columns out), :func:`marginal_distances` (real against
synthetic, for the benchmark ``bench/synthetic.py``; never in a room's output) and the
:class:`SynthesisError` family, whose messages are safe to show: they name columns, fields
and limits, never a cell value. This module imports no ``sealroom`` code (the package is not
importable inside the sandbox); its only data-format dependency is ``sealroom_util``'s table
layout, handled by ``run_synthetic.py``.

Configuration (``/input/code/config.json``; a missing or unknown field is refused)::

    {"version": 1, "epsilon": <number in (0, 100]>, "model": "mst" | "aim",
     "output_original_data_statistics": <bool>,
     "columns": [{"index": <its position>, "name": <unique, non-empty>,
                  "data_type": "string" | "integer" | "float", "nullable": <bool>,
                  "mask": null | "genericString" | "genericNumber" | "name" | "address" |
                          "postcode" | "phoneNumber" | "socialSecurityNumber" | "email" |
                          "date" | "timestamp" | "iban",
                  "bounds": null | [<low> | null, <high> | null]}, ...]}

``columns`` lists every column of the input, in order; the output has the same names and types,
and a DP-noised number of rows. A mask other than ``genericNumber`` needs a string column;
``bounds`` (finite, low < high, containing an integer for integer columns) only numeric ones.

Pipeline, per column kind:

* **masked** columns are replaced by random values of their kind (Faker seeded from
  ``os.urandom``) and never reach a model: their values influence nothing, and their null rate is
  not reproduced (a masked column has no nulls).
* **string** columns: the categories are *chosen by a DP mechanism* (OpenDP ``count_by`` +
  ``laplace_threshold``: a category is kept only if its noisy count passes a threshold set by
  delta), so a value held by a few rows is not released. Rows whose category was not kept map to
  one code written as :data:`OTHER_VALUE` in the output.
* **integer / float** columns are binned on bounds that never come from the data: the
  configured ``bounds`` (the core fills them from the schema's ``in_range`` rule), or, for a
  missing side, a DP quantile (OpenDP ``private_quantile``, alpha :data:`LOWER_QUANTILE` /
  :data:`UPPER_QUANTILE`, over a fixed public grid of candidates). Values beyond the bounds are
  clamped into the edge bins. Small integer ranges keep one code per integer.
* a nullable column has one extra code for null, so the null rate is modelled with noise like any
  other marginal. A null in a column configured as not nullable is treated like a value outside
  the model (a string one becomes :data:`OTHER_VALUE`, a number the lowest bin): refusing the run
  would tell whether one row holds a null.

Privacy accounting. Neighbours are tables that differ by ONE ROW added or removed ("unbounded"
DP), the definition every OpenDP measurement below is calibrated for (``symmetric_distance``,
``d_in = 1``). Everything the worker writes is (eps, DELTA)-DP in that sense: the synthetic rows,
their NUMBER, the quality report, and whether it refuses for too few rows; nothing uses the exact
row count ``n``. A person with ``k`` rows is protected as a group of ``k`` rows: ``k * eps``. With
``eps`` the configured epsilon and ``DELTA`` = :data:`DELTA` (the delta the core charges per run),
the parts below compose by basic sequential composition of (epsilon, delta)-DP, so the total is at
most ``(eps, DELTA)``:

1. row count: OpenDP ``make_count`` (sensitivity 1, derived by OpenDP) with discrete Laplace
   noise; :data:`COUNT_SHARE` x eps (all of eps when every column is masked), delta 0. The
   released ``n_hat = max(noisy count, 0)`` replaces ``n`` everywhere after it: the refusal below
   :data:`MIN_ROWS`, the model's known total, MST's selection baseline and AIM's projections,
   and the number of rows generated.
2. category selection: :data:`CATEGORY_SHARE` x eps and ``DELTA / 2``, split evenly over the
   unmasked string columns. OpenDP ``count_by`` (one row changes one count by 1) +
   ``laplace_threshold`` with the smallest scale whose map gives the column's epsilon and the
   smallest threshold ``tau`` whose map gives its delta (the probability that a category held by
   one row is released). OpenDP 0.16 releases a noisy count EQUAL to the threshold but its map
   counts only the tail above it (opendp/opendp#2922, as in ``compute/sql/dp.py``), so the
   mechanism runs with ``tau + 1``, whose true delta is the map's delta at ``tau``. Spent only if
   there is such a column.
3. missing bounds: :data:`BOUNDS_SHARE` x eps, split evenly over the missing bound sides of the
   unmasked numeric columns (OpenDP ``private_quantile``, ``d_in = 1``, pure epsilon each), delta
   0. Spent only if a bound is missing.
4. the model gets the rest of eps and of delta, converted to a zCDP budget ``rho`` with OpenDP
   (the tight zCDP -> (eps, delta) conversion); a :class:`_Ledger` adds up OpenDP's maps and
   refuses to go past ``rho``. Every marginal is OpenDP ``count_by_categories`` (L2 sensitivity
   1, derived by OpenDP) + discrete Gaussian. MST spends rho/3 on the one-way marginals, rho/3 on
   choosing a spanning tree and rho/3 on the chosen two-way marginals. A pair's score is
   ``|counts_ab - n_hat * p_a (x) p_b|_1`` with ``p`` the NOISY one-way shares: the baseline is a
   function of earlier releases only, so one row moves a score by at most 1 (L-infinity
   sensitivity 1; with the exact ``n`` it would be 2). AIM spends rho over adaptive rounds as in
   its paper: its scores compare exact marginals with the model's projections scaled by
   ``n_hat``, so their sensitivity is the largest workload weight; report-noisy-max is OpenDP's
   ``noisy_max`` (zCDP), calibrated for that sensitivity.
5. post-processing (free): Private-PGM's mirror descent with known total ``n_hat``, sampling
   ``n_hat`` rows, decoding bins, masking, and the quality report, which is computed from the
   synthetic table and the DP-measured one-way marginals only (never from the input).

Not covered by the guarantee (as for DP SQL nodes): running time and failures on the sandbox's
limits (time, memory), which depend on the number of rows. Input checks that refuse a run read
the schema only (column names and types), never the rows.

Models are written here on Private-PGM (``mbi``) rather than imported from smartnoise-synth:
that package's metadata pins pandas < 3 and OpenDP < 0.15 and pulls opacus/torch, its import pulls
a SQL parser, it draws its exponential mechanism from numpy's generator, and its decompression
writes non-selected category values back into the output. The algorithms follow its MST and AIM
(themselves Private-PGM's reference mechanisms); where they differ, the function says why.

Every noisy release goes through an OpenDP measurement whose privacy map is checked against its
share (no hand-rolled noise); the data's own sensitivity is derived by OpenDP, except for the
selection scores (item 4). Sampling from the fitted model, decoding bins and masking are
post-processing.

When ``output_original_data_statistics`` is set, ``quality_report`` compares the synthetic table
with what the DP mechanism measured (its noisy one-way marginals) and summarises the synthetic
table (counts, null fraction, mean, standard deviation, quartiles, distinct values). It holds no
statistic of the input beyond those DP releases: a quartile or mean of the real data is a value
of (or a function of) a few persons' rows, and releasing it would break the guarantee.
"""

from __future__ import annotations

import datetime
import itertools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "DELTA",
    "MASK_TYPES",
    "MIN_ROWS",
    "OTHER_VALUE",
    "ColumnConfig",
    "ConfigError",
    "InputError",
    "PrivacySpent",
    "SynthConfig",
    "SynthesisError",
    "SynthesisResult",
    "TooFewRowsError",
    "marginal_distances",
    "parse_config",
    "synthesize",
]

Codes = npt.NDArray[np.int64]

# -- limits and budget split -------------------------------------------------------------------
#: Fewest rows accepted, by the noisy count (accounting item 1): below this the noise swamps
#: every marginal (the reference product's documented minimum).
MIN_ROWS: Final = 50
#: Total delta of one synthesis: far below 1/n for any table the core accepts. The core charges
#: this figure to the room's budget per run (``SyntheticNode.delta``; a test keeps them equal).
DELTA: Final = 1e-9
#: Share of epsilon spent on the noisy row count (all of it when every column is masked). At
#: eps = 1 the discrete Laplace scale is 20 rows: a few percent of a table the model can learn.
COUNT_SHARE: Final = 0.05
#: Share of epsilon spent choosing the categories of string columns (when there are any). Unknown
#: categories need a threshold of roughly ln(1/delta)/epsilon rows, so this share is larger than
#: the bounds share: at eps=1 with three string columns a category needs ~330 rows to be kept.
CATEGORY_SHARE: Final = 0.2
#: Share of epsilon spent on DP quantiles for missing numeric bounds (when any is missing).
BOUNDS_SHARE: Final = 0.1
#: Quantiles used as DP bounds: 5%/95%, not 0/100%, because the exponential mechanism's rank error
#: at small epsilon is a few hundred rows; the tails beyond are clamped into the edge bins.
LOWER_QUANTILE: Final = 0.05
UPPER_QUANTILE: Final = 0.95
#: Bins of a numeric column. A trade-off between binning error and noise per cell: on
#: bench/synthetic.py (n = 1e4, eps = 1) 12, 16, 20 and 32 bins gave 2-way distances of 0.072,
#: 0.078, 0.089 and 0.098; 16 keeps more of the one-way shape for little loss.
NUMERIC_BINS: Final = 16
#: An integer range this small keeps one code per value (counts, scores, small ages): binning
#: such a column costs more (one-way distance 0.131 instead of 0.02 on the bench's 0..50 column)
#: than the noise on its extra cells, which MST's compression absorbs.
MAX_EXACT_INTEGERS: Final = 64
#: Equal-width bins (over the real column's range) of a numeric column in the quality measure.
REPORT_BINS: Final = 20
#: Largest epsilon accepted: beyond it the noise is negligible and "DP" no longer means anything.
MAX_EPSILON: Final = 100.0
#: Most columns of one table (the same bound as a table schema).
MAX_COLUMNS: Final = 1000
#: Written where a row's category was not among the DP-selected ones.
OTHER_VALUE: Final = "(other)"
#: Masked values are drawn from a pool of at most this many generated values (Faker takes
#: ~0.1 ms per value; a million-row table would otherwise spend minutes there).
MASK_POOL_SIZE: Final = 20_000
#: Largest threshold searched for category selection (rows): beyond any table's size.
_MAX_THRESHOLD: Final = 2**30
#: Iterations of Private-PGM's mirror descent: the final fit (MST and AIM), each AIM round (warm
#: started from the previous round's model). A fit costs ~1 s of XLA compilation plus ~0.3 ms
#: per iteration at the bench's size; more iterations changed nothing measurable there.
MST_ITERS: Final = 2000
AIM_ROUND_ITERS: Final = 250
#: AIM: largest 2-way marginal in the workload (cells) and model size cap (MB), the paper's values.
AIM_MAX_CELLS: Final = 10_000
AIM_MAX_MODEL_MB: Final = 80.0

MASK_TYPES: Final = (
    "genericString", "genericNumber", "name", "address", "postcode", "phoneNumber",
    "socialSecurityNumber", "email", "date", "timestamp", "iban",
)  # fmt: skip
_DATA_TYPES: Final = ("string", "integer", "float")
_MODELS: Final = ("mst", "aim")
_CONFIG_KEYS: Final = frozenset(
    {"version", "epsilon", "model", "output_original_data_statistics", "columns"}
)
_COLUMN_KEYS: Final = frozenset({"index", "name", "data_type", "nullable", "mask", "bounds"})
# Public candidates for DP bounds: 0 and +-m * 10^k, 12 steps per decade from 1e-2 to 1e12.
_MANTISSAS: Final = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0)
_BOUND_CANDIDATES: Final = sorted(
    {0.0} | {s * m * 10.0**k for s in (-1, 1) for m in _MANTISSAS for k in range(-2, 13)}
)
_PANDAS_KINDS: Final = {"Int64": "integer", "float64": "float", "string": "string"}


# -- errors --------------------------------------------------------------------------------------
class SynthesisError(Exception):
    """A refusal whose message is safe to show to every participant (no data values)."""


class ConfigError(SynthesisError):
    """``config.json`` is not a valid synthetic-data configuration."""


class InputError(SynthesisError):
    """The input table does not match the configuration (columns, types, nulls)."""


class TooFewRowsError(InputError):
    """The input's noisy row count is below :data:`MIN_ROWS`."""


# -- configuration -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnConfig:
    index: int
    name: str
    data_type: Literal["string", "integer", "float"]
    nullable: bool
    mask: str | None
    #: (low, high); a None side is estimated with DP. None when no side is known.
    bounds: tuple[float | None, float | None] | None


@dataclass(frozen=True)
class SynthConfig:
    epsilon: float
    model: Literal["mst", "aim"]
    output_original_data_statistics: bool
    columns: tuple[ColumnConfig, ...]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _keys(raw: Mapping[str, object], allowed: frozenset[str], where: str) -> None:
    missing, extra = sorted(allowed - raw.keys()), sorted(raw.keys() - allowed)
    if missing:
        raise ConfigError(f"{where}: missing field(s) {', '.join(missing)}")
    if extra:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(map(str, extra))}")


def _parse_bounds(
    raw: object, where: str, data_type: str
) -> tuple[float | None, float | None] | None:
    if raw is None:
        return None
    if data_type == "string":
        raise ConfigError(f"{where}.bounds: only integer and float columns have bounds")
    if not isinstance(raw, list) or len(raw) != 2:
        raise ConfigError(f"{where}.bounds: must be null or a list [low, high]")
    if not all(side is None or _number(side) for side in raw):
        raise ConfigError(f"{where}.bounds: each side must be a finite number or null")
    low, high = (None if side is None else float(side) for side in raw)
    if low is None and high is None:
        raise ConfigError(f"{where}.bounds: give at least one side, or null for none")
    if low is not None and high is not None and not low < high:
        raise ConfigError(f"{where}.bounds: low must be smaller than high")
    if (
        data_type == "integer"
        and low is not None
        and high is not None
        and math.ceil(low) > math.floor(high)
    ):
        raise ConfigError(f"{where}.bounds: no integer lies between low and high")
    return low, high


def _parse_column(raw: object, position: int) -> ColumnConfig:
    where = f"columns[{position}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object")
    _keys(raw, _COLUMN_KEYS, where)
    index, name, data_type = raw["index"], raw["name"], raw["data_type"]
    nullable, mask = raw["nullable"], raw["mask"]
    if not isinstance(index, int) or isinstance(index, bool) or index != position:
        raise ConfigError(f"{where}.index: must equal the column's position ({position})")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}.name: must be a non-empty string")
    if data_type not in _DATA_TYPES:
        raise ConfigError(f"{where}.data_type: must be one of {', '.join(_DATA_TYPES)}")
    if not isinstance(nullable, bool):
        raise ConfigError(f"{where}.nullable: must be true or false")
    if mask is not None and mask not in MASK_TYPES:
        raise ConfigError(f"{where}.mask: must be null or one of {', '.join(MASK_TYPES)}")
    if mask is not None and mask != "genericNumber" and data_type != "string":
        raise ConfigError(f"{where}.mask: {mask} needs a string column (genericNumber fits any)")
    return ColumnConfig(
        index=position,
        name=name,
        data_type=data_type,
        nullable=nullable,
        mask=mask,
        bounds=_parse_bounds(raw["bounds"], where, data_type),
    )


def parse_config(raw: object) -> SynthConfig:
    """Validate the decoded ``config.json``; raises :class:`ConfigError` naming the bad field."""
    if not isinstance(raw, dict):
        raise ConfigError("config: must be a JSON object")
    _keys(raw, _CONFIG_KEYS, "config")
    version, epsilon, model = raw["version"], raw["epsilon"], raw["model"]
    statistics, columns = raw["output_original_data_statistics"], raw["columns"]
    if version != 1 or isinstance(version, bool):
        raise ConfigError("config.version: must be 1")
    if not _number(epsilon) or not 0 < epsilon <= MAX_EPSILON:
        raise ConfigError(f"config.epsilon: must be a number > 0 and <= {MAX_EPSILON:g}")
    if model not in _MODELS:
        raise ConfigError(f"config.model: must be one of {', '.join(_MODELS)}")
    if not isinstance(statistics, bool):
        raise ConfigError("config.output_original_data_statistics: must be true or false")
    if not isinstance(columns, list) or not 1 <= len(columns) <= MAX_COLUMNS:
        raise ConfigError(f"config.columns: must be a list of 1 to {MAX_COLUMNS} columns")
    parsed = tuple(_parse_column(column, i) for i, column in enumerate(columns))
    if len({c.name for c in parsed}) != len(parsed):
        raise ConfigError("config.columns: column names must be unique")
    return SynthConfig(float(epsilon), model, statistics, parsed)


# -- OpenDP measurements -------------------------------------------------------------------------
def _opendp() -> Any:
    # Submodules, not opendp.prelude: the prelude imports scikit-learn (~2 s) for nothing here.
    import opendp.combinators as dpc
    import opendp.domains as dpd
    import opendp.measurements as dpm
    import opendp.measures as dpms
    import opendp.metrics as dpme
    import opendp.mod as dpmod
    import opendp.transformations as dpt

    dpmod.enable_features("contrib")
    return dpc, dpd, dpm, dpms, dpme, dpmod, dpt


def _model_rho(epsilon: float, delta: float) -> float:
    """The largest zCDP rho whose OpenDP conversion is (epsilon, delta)-DP."""
    dpc, dpd, dpm, _, dpme, dpmod, _ = _opendp()

    def gaussian(scale: float) -> Any:
        domain = dpd.atom_domain(T=float, nan=False)
        return dpm.make_gaussian(domain, dpme.absolute_distance(T=float), scale)

    def converted(scale: float) -> Any:
        return dpc.make_fix_delta(dpc.make_zCDP_to_approxDP(gaussian(scale)), delta)

    scale = dpmod.binary_search_param(converted, d_in=1.0, d_out=(epsilon, delta))
    return float(gaussian(scale).map(1.0))


def _row_counter(epsilon: float) -> Any:
    """Accounting item 1: OpenDP's count of a table's rows with discrete Laplace noise, epsilon-DP
    for one row added or removed (OpenDP derives the count's sensitivity, 1)."""
    _, dpd, dpm, _, dpme, dpmod, dpt = _opendp()
    count = dpt.make_count(dpd.vector_domain(dpd.atom_domain(T=bool)), dpme.symmetric_distance())

    def make(scale: float) -> Any:
        return count >> dpm.then_laplace(scale)

    measurement = make(dpmod.binary_search_param(make, d_in=1, d_out=epsilon))
    if measurement.map(1) > epsilon:  # the search above makes this impossible
        raise RuntimeError("the row count would exceed its share of the budget")
    return measurement


def _noisy_row_count(rows: int, epsilon: float) -> int:
    """The released row count ``n_hat`` (never negative); the exact count goes nowhere else."""
    # One placeholder per row: the count reads how many rows there are, not what they hold.
    return max(int(_row_counter(epsilon)([True] * rows)), 0)


def _category_selector(epsilon: float, delta: float) -> Any:
    """Accounting item 2: a measurement from a column's non-null values to the categories whose
    Laplace-noised count passes the threshold, (epsilon, delta)-DP for one row added or removed.
    """
    _, dpd, dpm, _, dpme, dpmod, dpt = _opendp()
    domain = dpd.vector_domain(dpd.atom_domain(T=str))
    count_by = dpt.make_count_by(domain, dpme.symmetric_distance(), TV=int)

    def make(scale: float, threshold: int) -> Any:
        return count_by >> dpm.then_laplace_threshold(scale=scale, threshold=threshold)

    def epsilon_fits(scale: float) -> bool:
        return bool(make(scale, _MAX_THRESHOLD).map(1)[0] <= epsilon)

    def delta_fits(threshold: int) -> bool:
        return bool(make(scale, threshold).map(1)[1] <= delta)

    # The map's epsilon depends on the scale only, its delta on both (OpenDP's check() cannot
    # compare such pairs): search the smallest scale, then the smallest threshold.
    scale = dpmod.binary_search(epsilon_fits, bounds=(1e-9, 1e12))
    threshold = dpmod.binary_search(delta_fits, bounds=(1, _MAX_THRESHOLD), T=int)
    spent_epsilon, spent_delta = make(scale, threshold).map(1)
    if spent_epsilon > epsilon or spent_delta > delta:  # the searches above make this impossible
        raise RuntimeError("category selection would exceed its share of the budget")
    # OpenDP 0.16 keeps a noisy count EQUAL to the threshold, but its map sums only the noise
    # tail above it (opendp/opendp#2922): the delta it reports for `threshold` is the true delta
    # of `threshold + 1`. So release above the threshold we accounted for (as compute/sql/dp.py).
    # Raising the threshold changes neither the scale nor, therefore, epsilon.
    return make(scale, threshold + 1)


def _select_categories(values: pd.Series, epsilon: float, delta: float) -> list[str]:
    """Categories whose Laplace-noised count passes the threshold for (epsilon, delta)."""
    # Nulls are removed first (a 1-stable filter); they have their own code.
    released = _category_selector(epsilon, delta)([str(v) for v in values.dropna().tolist()])
    return sorted(released)


def _dp_bound(values: npt.NDArray[np.float64], alpha: float, epsilon: float) -> float:
    _, dpd, dpm, dpms, dpme, dpmod, _ = _opendp()

    def make(scale: float) -> Any:
        return dpm.make_private_quantile(
            dpd.vector_domain(dpd.atom_domain(T=float, nan=False)),
            dpme.symmetric_distance(),
            dpms.max_divergence(),
            candidates=_BOUND_CANDIDATES,
            alpha=alpha,
            scale=scale,
        )

    measurement = make(dpmod.binary_search_param(make, d_in=1, d_out=epsilon))
    return float(measurement(values.tolist()))


class _Ledger:
    """zCDP spent by the model, by OpenDP's own privacy maps; refuses to go past its budget."""

    #: Float rounding allowed when adding up the parts (each part is within its target).
    TOLERANCE: Final = 1e-9

    def __init__(self, rho: float) -> None:
        self.rho = rho
        self.spent = 0.0

    def charge(self, measurement: Any, d_in: float) -> None:
        self.spent += float(measurement.map(d_in))
        # OpenDP's searches return parameters that satisfy their target; this is the backstop.
        if self.spent > self.rho * (1 + self.TOLERANCE):
            raise RuntimeError("the model would exceed its privacy budget")


def _measure(
    codes: Sequence[Codes],
    sizes: Sequence[int],
    clique: tuple[str, ...],
    rho: float,
    ledger: _Ledger,
) -> Any:
    """The clique's marginal with discrete Gaussian noise (rho-zCDP), as an mbi measurement."""
    _, dpd, dpm, _, dpme, dpmod, dpt = _opendp()
    cells = int(np.prod(sizes))
    counts = dpt.make_count_by_categories(
        dpd.vector_domain(dpd.atom_domain(T=int)), dpme.symmetric_distance(),
        categories=list(range(cells)), null_category=False, MO="L2Distance<int>",
    )  # fmt: skip

    def make(scale: float) -> Any:
        return counts >> dpm.then_gaussian(scale)

    scale = dpmod.binary_search_param(make, d_in=1, d_out=rho)
    measurement = make(scale)
    ledger.charge(measurement, 1)
    keys = np.ravel_multi_index(tuple(codes), tuple(sizes)) if len(codes) > 1 else codes[0]
    noisy = np.asarray(measurement(keys.tolist()), dtype=np.float64)
    return _mbi().LinearMeasurement(noisy, clique, stddev=float(scale))


def _noisy_max(scores: Sequence[float], sensitivity: float, rho: float, ledger: _Ledger) -> int:
    """Index of the (noisily) largest score: report-noisy-max, rho-zCDP."""
    _, dpd, dpm, dpms, dpme, dpmod, _ = _opendp()

    def make(scale: float) -> Any:
        return dpm.make_noisy_max(
            dpd.vector_domain(dpd.atom_domain(T=float, nan=False)),
            dpme.linf_distance(T=float),
            dpms.zero_concentrated_divergence(),
            scale=scale,
        )

    measurement = make(dpmod.binary_search_param(make, d_in=sensitivity, d_out=rho))
    ledger.charge(measurement, sensitivity)
    return int(measurement([float(s) for s in scores]))


# -- encoding ------------------------------------------------------------------------------------
class _CategoricalCodec:
    """Codes 0..k-1 for the DP-selected categories, k for every other value, k+1 for null."""

    def __init__(self, categories: list[str], nullable: bool) -> None:
        self.categories = categories
        self.other = len(categories)
        self.null = len(categories) + 1 if nullable else None
        self.size = len(categories) + (2 if nullable else 1)

    def encode(self, column: pd.Series) -> Codes:
        known = pd.Index(self.categories, dtype=object).get_indexer(pd.Index(column.astype(object)))
        codes = np.where(known >= 0, known, self.other).astype(np.int64)
        if self.null is not None:
            codes[column.isna().to_numpy()] = self.null
        return codes

    def decode(self, codes: Codes, rng: np.random.Generator) -> pd.Series:
        labels = np.array([*self.categories, OTHER_VALUE, None], dtype=object)
        return pd.Series(labels[np.minimum(codes, len(labels) - 1)], dtype="string")


class _NumericCodec:
    """Equal-width bins between public bounds (one per value for small integer ranges) + null."""

    def __init__(self, low: float, high: float, integer: bool, nullable: bool) -> None:
        self.integer = integer
        if integer:
            first, last = math.ceil(low), max(math.ceil(low), math.floor(high))
            if last - first + 1 <= MAX_EXACT_INTEGERS:
                edges = np.arange(first, last + 2, dtype=np.float64)
            else:
                # Integer edges, so that no bin is empty of integers; [edge_i, edge_i+1).
                edges = np.unique(np.round(np.linspace(first, last + 1, NUMERIC_BINS + 1)))
        else:
            edges = np.linspace(low, high, NUMERIC_BINS + 1)
        self.edges = edges
        self.bins = len(edges) - 1
        self.null = self.bins if nullable else None
        self.size = self.bins + (1 if nullable else 0)

    def encode(self, column: pd.Series) -> Codes:
        values = column.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
        clamped = np.clip(np.nan_to_num(values, nan=self.edges[0]), self.edges[0], self.edges[-1])
        codes = np.clip(np.searchsorted(self.edges, clamped, side="right") - 1, 0, self.bins - 1)
        codes = codes.astype(np.int64)
        if self.null is not None:
            codes[np.isnan(values)] = self.null
        return codes

    def decode(self, codes: Codes, rng: np.random.Generator) -> pd.Series:
        is_null = codes >= self.bins
        bins = np.minimum(codes, self.bins - 1)
        low, high = self.edges[bins], self.edges[bins + 1]
        if self.integer:
            values = rng.integers(low.astype(np.int64), high.astype(np.int64))
            return pd.Series(values, dtype="Int64").mask(is_null)
        return pd.Series(rng.uniform(low, high), dtype="float64").mask(is_null)


_Codec = _CategoricalCodec | _NumericCodec


# -- masking -------------------------------------------------------------------------------------
_FAKES: Final[dict[str, Callable[[Any], str]]] = {
    "genericString": lambda fake: fake.pystr(min_chars=10, max_chars=10),
    "name": lambda fake: fake.name(),
    # Built from parts: Faker's address() also yields military (APO/FPO) ones.
    "address": lambda fake: (
        f"{fake.street_address()}, {fake.city()}, {fake.state_abbr()} {fake.postcode()}"
    ),
    "postcode": lambda fake: fake.postcode(),
    # E.164, the format of the schema's PHONE_NUMBER_E164 ('%' is a digit 1-9).
    "phoneNumber": lambda fake: fake.numerify("+1%##%######"),
    "socialSecurityNumber": lambda fake: fake.ssn(),
    # example.com/.org/.net only: a generated address must never be someone's real one.
    "email": lambda fake: fake.safe_email(),
    "date": lambda fake: fake.date_between(start_date="-80y", end_date="today").isoformat(),
    "timestamp": lambda fake: fake.date_time_between(
        start_date="-10y", end_date="now", tzinfo=datetime.UTC
    ).isoformat(timespec="seconds"),
    "iban": lambda fake: fake.iban(),
}
#: genericNumber without bounds: integers in [0, 1e9), floats in [0, 1e6).
_GENERIC_INTEGER_RANGE: Final = (0, 10**9)
_GENERIC_FLOAT_RANGE: Final = (0.0, 1e6)


def _masked(column: ColumnConfig, rows: int, rng: np.random.Generator) -> pd.Series:
    """Random values of the column's mask kind; nothing of the input is read."""
    mask = column.mask
    assert mask is not None
    if mask == "genericNumber" and column.data_type != "string":
        low, high = column.bounds or (None, None)
        if column.data_type == "integer":
            first = _GENERIC_INTEGER_RANGE[0] if low is None else math.ceil(low)
            last = _GENERIC_INTEGER_RANGE[1] - 1 if high is None else math.floor(high)
            last = max(first, last)
            return pd.Series(rng.integers(first, last, endpoint=True, size=rows), dtype="Int64")
        start = _GENERIC_FLOAT_RANGE[0] if low is None else low
        stop = max(start, _GENERIC_FLOAT_RANGE[1] if high is None else high)
        return pd.Series(rng.uniform(start, stop, size=rows), dtype="float64")
    if mask == "genericNumber":
        digits = rng.integers(10**8, 10**9, size=rows)
        return pd.Series(digits.astype(str), dtype="string")
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(int.from_bytes(os.urandom(16), "big"))
    generate = _FAKES[mask]
    pool = np.array([generate(fake) for _ in range(min(rows, MASK_POOL_SIZE))], dtype=object)
    values = pool if rows <= MASK_POOL_SIZE else rng.choice(pool, size=rows)
    return pd.Series(values, dtype="string")


# -- models --------------------------------------------------------------------------------------
def _mbi() -> Any:
    import mbi  # type: ignore[import-untyped]  # no type information shipped

    return mbi


def _estimate(domain: Any, measurements: list[Any], rows: int, iters: int, warm: Any = None) -> Any:
    """Private-PGM's mirror descent over the noisy marginals (post-processing)."""
    import attr

    mbi = _mbi()
    loss = mbi.marginal_loss.from_linear_measurements(measurements)
    # mbi would estimate the loss's Lipschitz constant by power iteration (one more XLA compile,
    # ~1 s a fit); the step-size line search halves a too-large first step within a few
    # iterations, so the smallest per-measurement curvature is a good enough start.
    loss = attr.evolve(loss, lipschitz=max(1.0 / float(m.stddev) ** 2 for m in measurements))
    return mbi.estimation.mirror_descent(
        domain,
        loss,
        known_total=float(rows),
        potentials=warm,
        iters=iters,
        marginal_oracle=mbi.marginal_oracles.message_passing_stable,
    )


def _subsets(cliques: Iterable[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Every non-empty subset of every clique (its "downward closure")."""
    return {
        subset
        for clique in cliques
        for size in range(1, len(clique) + 1)
        for subset in itertools.combinations(clique, size)
    }


def _counts(codes: Sequence[Codes], sizes: Sequence[int]) -> npt.NDArray[np.float64]:
    keys = np.ravel_multi_index(tuple(codes), tuple(sizes)) if len(codes) > 1 else codes[0]
    return np.bincount(keys, minlength=int(np.prod(sizes))).astype(np.float64)


def _draw(probabilities: npt.NDArray[np.float64], count: int, rng: np.random.Generator) -> Codes:
    weights = np.clip(probabilities, 0.0, None)
    total = weights.sum()
    weights = weights / total if total > 0 else np.full(weights.size, 1.0 / weights.size)
    return rng.choice(weights.size, size=count, p=weights).astype(np.int64)


@dataclass(frozen=True)
class _Compression:
    """MST's domain compression: cells with a small noisy count share one code."""

    kept: npt.NDArray[np.int64]  # original codes kept, in order
    dropped: npt.NDArray[np.int64]  # original codes behind the shared last code
    weights: npt.NDArray[np.float64]  # each compressed cell's factor in the measurement

    @property
    def size(self) -> int:
        return len(self.kept) + (1 if len(self.dropped) else 0)

    def encode(self, codes: Codes, original_size: int) -> Codes:
        mapping = np.full(original_size, len(self.kept), dtype=np.int64)
        mapping[self.kept] = np.arange(len(self.kept))
        return mapping[codes]

    def decode(self, codes: Codes, rng: np.random.Generator) -> Codes:
        out = self.kept[np.minimum(codes, len(self.kept) - 1)]
        shared = codes >= len(self.kept)
        if shared.any():
            out[shared] = rng.choice(self.dropped, size=int(shared.sum()))
        return out


def _compress(measurement: Any) -> tuple[_Compression, Any]:
    """Private-PGM's MST compression (post-processing of the noisy one-way marginal).

    Cells whose noisy count is below 3 sigma share one code. smartnoise-synth scales the shared
    cell's value but not its query, so its model fits a wrong number there; both are scaled here,
    as in Private-PGM's original.
    """
    import jax.numpy as jnp

    mbi = _mbi()
    noisy = np.asarray(measurement.noisy_measurement)
    sigma = float(measurement.stddev)
    support = noisy >= 3 * sigma
    if support.sum() < 2 or support.all():
        everything = np.arange(noisy.size, dtype=np.int64)
        unchanged = _Compression(everything, np.array([], dtype=np.int64), np.ones(noisy.size))
        return unchanged, measurement
    dropped = np.flatnonzero(~support)
    # The shared cell is the sum of k noisy cells (variance k sigma^2): scaled by 1/sqrt(k) on
    # both sides it is one more measurement with noise sigma.
    scale = 1.0 / math.sqrt(len(dropped))
    values = np.append(noisy[support], noisy[dropped].sum() * scale)
    weights = np.append(np.ones(int(support.sum())), scale)
    factors = jnp.asarray(weights)

    def query(factor: Any) -> Any:
        return factor.datavector() * factors

    compressed = mbi.LinearMeasurement(values, measurement.clique, stddev=sigma, query=query)
    return _Compression(np.flatnonzero(support), dropped, weights), compressed


def _sample_tree(
    model: Any, attrs: list[str], edges: list[tuple[str, str]], rows: int, rng: np.random.Generator
) -> dict[str, Codes]:
    """Rows drawn from a tree-shaped model, root first, each column given its parent.

    Plain numpy over the fitted edge marginals: mbi's general sampler runs its message passing
    op by op, each op an XLA compile (~1 s in all), which a tree does not need.
    """
    marginals = {e: np.asarray(model.project(e).datavector(flatten=False)) for e in edges}
    root = attrs[0]
    if not edges:
        return {root: _draw(np.asarray(model.project((root,)).datavector()), rows, rng)}
    first = next(e for e in edges if root in e)
    root_shares = marginals[first].sum(axis=1 if first[0] == root else 0)
    sampled = {root: _draw(root_shares, rows, rng)}
    pending = list(edges)
    while pending:
        edge = next(e for e in pending if e[0] in sampled or e[1] in sampled)
        pending.remove(edge)
        parent, child = edge if edge[0] in sampled else (edge[1], edge[0])
        table = marginals[edge] if edge[0] == parent else marginals[edge].T
        codes = np.empty(rows, dtype=np.int64)
        for value in range(table.shape[0]):
            rows_here = np.flatnonzero(sampled[parent] == value)
            if rows_here.size:
                codes[rows_here] = _draw(table[value], rows_here.size, rng)
        sampled[child] = codes
    return sampled


#: What a model returns: synthetic codes of every column, and its DP-measured (noisy) one-way
#: marginal of every column over the same codes, for the quality report.
_Fit = tuple[dict[str, Codes], dict[str, npt.NDArray[np.float64]]]


def _fit_mst(
    codes: dict[str, Codes], sizes: dict[str, int], rows: int, rho: float, rng: np.random.Generator
) -> _Fit:
    """MST (McKenna et al. 2021, NIST 2018 winner) on ``rows`` = the NOISY row count."""
    from scipy.cluster.hierarchy import DisjointSet  # type: ignore[import-untyped]  # no stubs

    mbi = _mbi()
    attrs, ledger = list(codes), _Ledger(rho)
    part = rho / 3 if len(attrs) > 1 else rho
    one_way = [_measure([codes[a]], [sizes[a]], (a,), part / len(attrs), ledger) for a in attrs]
    compressions, log1 = {}, []
    for attr, measurement in zip(attrs, one_way, strict=True):
        compressions[attr], compressed = _compress(measurement)
        log1.append(compressed)
    small = {a: compressions[a].encode(codes[a], sizes[a]) for a in attrs}
    small_sizes = {a: compressions[a].size for a in attrs}
    edges: list[tuple[str, str]] = []
    log2: list[Any] = []
    if len(attrs) > 1:
        # Selection: the pairs worst explained by independence, by the exponential mechanism
        # (sensitivity 1: one row moves the L1 distance of a pair's counts by at most 1). The
        # independent baseline is each noisy one-way marginal, clipped and scaled to the NOISY
        # row count: a function of earlier releases only. Scaled to the exact n, it would move
        # with the row too, and the sensitivity would be 2.
        shares = {}
        for attr, measurement in zip(attrs, log1, strict=True):
            cells = np.asarray(measurement.noisy_measurement) / compressions[attr].weights
            shares[attr] = np.clip(cells, 0, None) / max(np.clip(cells, 0, None).sum(), 1e-12)
        scores = {
            (a, b): float(
                np.abs(
                    _counts([small[a], small[b]], [small_sizes[a], small_sizes[b]])
                    - rows * np.outer(shares[a], shares[b]).ravel()
                ).sum()
            )
            for a, b in itertools.combinations(attrs, 2)
        }
        tree = DisjointSet(attrs)
        for _ in range(len(attrs) - 1):
            open_pairs = [pair for pair in scores if not tree.connected(*pair)]
            rho_pick = part / (len(attrs) - 1)
            pick = _noisy_max([scores[p] for p in open_pairs], 1.0, rho_pick, ledger)
            edges.append(open_pairs[pick])
            tree.merge(*open_pairs[pick])
        log2 = [
            _measure([small[a], small[b]], [small_sizes[a], small_sizes[b]], (a, b),
                     part / len(edges), ledger)
            for a, b in edges
        ]  # fmt: skip
    domain = mbi.Domain(attrs, [small_sizes[a] for a in attrs])
    model = _estimate(domain, log1 + log2, rows, MST_ITERS)
    sampled = _sample_tree(model, attrs, edges, rows, rng)
    measured = {
        a: np.asarray(m.noisy_measurement, np.float64) for a, m in zip(attrs, one_way, strict=True)
    }
    return {a: compressions[a].decode(sampled[a], rng) for a in attrs}, measured


def _project(model: Any, clique: tuple[str, ...], rows: int) -> npt.NDArray[np.float64]:
    """The model's marginal on ``clique`` (counts), by exact inference in numpy.

    Same result as mbi's ``project``, whose variable elimination runs op by op in JAX and
    compiles each op for each new shape (~7 s over an AIM run of six columns).
    """
    import opt_einsum  # type: ignore[import-untyped]  # a jax dependency; no type information

    potentials = list(model.potentials.arrays.values())
    attrs = list(dict.fromkeys(a for f in potentials for a in f.domain.attrs))
    symbols = {a: opt_einsum.get_symbol(i) for i, a in enumerate(attrs)}
    operands, inputs = [], []
    for factor in potentials:
        values = np.asarray(factor.values, dtype=np.float64)
        operands.append(np.exp(values - values.max()))  # log-potentials; the scale cancels
        inputs.append("".join(symbols[a] for a in factor.domain.attrs))
    output = "".join(symbols[a] for a in clique)
    joint = np.asarray(opt_einsum.contract(f"{','.join(inputs)}->{output}", *operands))
    return np.asarray(joint / joint.sum() * rows, dtype=np.float64).ravel()


def _fit_aim(
    codes: dict[str, Codes], sizes: dict[str, int], rows: int, rho: float, rng: np.random.Generator
) -> _Fit:
    """AIM (McKenna et al., VLDB 2022) over all 2-way marginals, as in smartnoise-synth.

    ``rows`` is the NOISY row count: the model's total and its projections are scaled to it, so
    a score moves only with the exact marginal (by at most its weight for one row)."""
    mbi = _mbi()
    attrs, ledger = list(codes), _Ledger(rho)
    domain = mbi.Domain(attrs, [sizes[a] for a in attrs])

    def cells(clique: tuple[str, ...]) -> int:
        return int(np.prod([sizes[a] for a in clique]))

    workload: list[tuple[str, ...]] = [
        c for c in itertools.combinations(attrs, 2) if cells(c) <= AIM_MAX_CELLS
    ]
    workload = workload or [(a,) for a in attrs]
    closure = sorted(_subsets(workload), key=len)
    weight = {c: float(sum(len(set(c) & set(w)) for w in workload)) for c in closure}
    answers = {c: _counts([codes[a] for a in c], [sizes[a] for a in c]) for c in closure}
    rounds = 16 * len(attrs)
    sigma = math.sqrt(rounds / (2 * 0.9 * rho))
    epsilon = math.sqrt(8 * 0.1 * rho / rounds)
    measurements = [_measure([codes[a]], [sizes[a]], (a,), 0.5 / sigma**2, ledger) for a in attrs]
    used = len(attrs) * 0.5 / sigma**2
    model = _estimate(domain, measurements, rows, AIM_ROUND_ITERS)
    final = False
    while not final:
        if rho - used < 2 * (0.5 / sigma**2 + epsilon**2 / 8):
            # Spend whatever is left in one last round.
            remaining = rho - used
            sigma = math.sqrt(1 / (2 * 0.9 * remaining))
            epsilon = math.sqrt(8 * 0.1 * remaining)
            final = True
        used += epsilon**2 / 8 + 0.5 / sigma**2
        size_limit = AIM_MAX_MODEL_MB * used / rho
        in_model = _subsets(tuple(c) for c in model.cliques)
        model_mb = sum(cells(tuple(c)) for c in model.cliques) * 8 / 2**20
        candidates = [
            c for c in closure if c in in_model or model_mb + cells(c) * 8 / 2**20 <= size_limit
        ]
        errors = []
        for c in candidates:
            estimate = _project(model, c, rows)
            bias = math.sqrt(2 / math.pi) * sigma * cells(c)
            errors.append(weight[c] * (float(np.abs(answers[c] - estimate).sum()) - bias))
        sensitivity = max(weight[c] for c in candidates)
        chosen = candidates[_noisy_max(errors, sensitivity, epsilon**2 / 8, ledger)]
        before = _project(model, chosen, rows)
        measurements.append(
            _measure([codes[a] for a in chosen], [sizes[a] for a in chosen], chosen,
                     0.5 / sigma**2, ledger)
        )  # fmt: skip
        model = _estimate(domain, measurements, rows, AIM_ROUND_ITERS, warm=model.potentials)
        after = _project(model, chosen, rows)
        if np.abs(after - before).sum() <= sigma * math.sqrt(2 / math.pi) * cells(chosen):
            # Little was learnt: measure more precisely from now on.
            sigma, epsilon = sigma / 2, epsilon * 2
    model = _estimate(domain, measurements, rows, MST_ITERS, warm=model.potentials)
    # mbi samples with numpy's global generator, which numpy seeds from the OS.
    synthetic = model.synthetic_data(rows=rows, method="sample").to_dict()
    measured = {
        a: np.asarray(m.noisy_measurement, np.float64)
        for a, m in zip(attrs, measurements[: len(attrs)], strict=True)
    }
    return {a: np.asarray(synthetic[a], dtype=np.int64) for a in attrs}, measured


# -- the whole run -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrivacySpent:
    """(epsilon, delta) of each part and the basic-composition total (see the module docstring)."""

    parts: dict[str, tuple[float, float]]

    @property
    def epsilon(self) -> float:
        return sum(e for e, _ in self.parts.values())

    @property
    def delta(self) -> float:
        return sum(d for _, d in self.parts.values())


@dataclass(frozen=True)
class SynthesisResult:
    table: pd.DataFrame
    privacy: PrivacySpent
    #: Only when the configuration asked for statistics of the original data.
    quality_report: dict[str, Any] | None


def _column_kind(series: pd.Series) -> str:
    return _PANDAS_KINDS.get(str(series.dtype), "string")


def _check_input(config: SynthConfig, data: pd.DataFrame) -> None:
    if [str(c) for c in data.columns] != [c.name for c in config.columns]:
        raise InputError("the input's columns do not match config.columns (names and order)")
    for column in config.columns:
        kind = _column_kind(data[column.name])
        if kind != column.data_type:
            raise InputError(
                f"column {column.index} ({column.name!r}) is {kind} in the input but "
                f"{column.data_type} in the configuration"
            )
    # Nothing here reads the rows: a refusal that depends on them (too few, a null where none
    # is declared) would release a bit about one row outside the accounting.


def _repair(
    low: float, high: float, configured: tuple[float | None, float | None]
) -> tuple[float, float]:
    """Bounds with low < high when noisy quantiles crossed; a configured side never moves."""
    if low < high:
        return low, high
    if configured[1] is not None:  # only the low side is noisy: move it below
        return next((c for c in reversed(_BOUND_CANDIDATES) if c < high), high - 1.0), high
    return low, next((c for c in _BOUND_CANDIDATES if c > low), low + 1.0)


def _codecs(
    config: SynthConfig, data: pd.DataFrame
) -> tuple[dict[int, _Codec], dict[str, tuple[float, float]]]:
    """Each unmasked column's codec, with the DP spent on categories and bounds."""
    modelled = [c for c in config.columns if c.mask is None]
    strings = [c for c in modelled if c.data_type == "string"]
    sides = [
        (c.index, side)
        for c in modelled
        if c.data_type != "string"
        for side in (0, 1)
        if c.bounds is None or c.bounds[side] is None
    ]
    parts: dict[str, tuple[float, float]] = {}
    codecs: dict[int, _Codec] = {}
    if strings:
        parts["categories"] = (CATEGORY_SHARE * config.epsilon, DELTA / 2)
        epsilon, delta = (p / len(strings) for p in parts["categories"])
        for column in strings:
            categories = _select_categories(data[column.name], epsilon, delta)
            codecs[column.index] = _CategoricalCodec(categories, column.nullable)
    if sides:
        parts["bounds"] = (BOUNDS_SHARE * config.epsilon, 0.0)
    for column in modelled:
        if column.data_type == "string":
            continue
        low, high = column.bounds or (None, None)
        values = data[column.name].dropna().to_numpy(dtype=np.float64)
        if low is None:
            low = _dp_bound(values, LOWER_QUANTILE, BOUNDS_SHARE * config.epsilon / len(sides))
        if high is None:
            high = _dp_bound(values, UPPER_QUANTILE, BOUNDS_SHARE * config.epsilon / len(sides))
        # Noisy quantiles can cross each other or a configured side (post-processing to fix).
        low, high = _repair(low, high, column.bounds or (None, None))
        integer = column.data_type == "integer"
        codecs[column.index] = _NumericCodec(low, high, integer, column.nullable)
    return codecs, parts


def synthesize(config: SynthConfig, data: pd.DataFrame) -> SynthesisResult:
    """A synthetic table with ``data``'s column names and types and a DP-noised number of rows.

    ``data`` is what ``sealroom_util.read_tabular_data`` returns (Int64, float64, string columns).
    Raises :class:`InputError` when its columns do not fit ``config``, and
    :class:`TooFewRowsError` when the NOISY row count is below :data:`MIN_ROWS`. The steps follow
    the numbered accounting of the module docstring.
    """
    _check_input(config, data)
    rng = np.random.default_rng(int.from_bytes(os.urandom(16), "big"))
    modelled = any(column.mask is None for column in config.columns)
    # 1. the row count; from here on only `rows` (the noisy count) is used.
    count_epsilon = COUNT_SHARE * config.epsilon if modelled else config.epsilon
    parts: dict[str, tuple[float, float]] = {"count": (count_epsilon, 0.0)}
    rows = _noisy_row_count(len(data), count_epsilon)
    if rows < MIN_ROWS:
        # A function of the noisy count only: as private as the count itself.
        raise TooFewRowsError(
            f"synthetic data needs at least {MIN_ROWS} input rows (by a noisy count)"
        )
    # 2. and 3. categories and missing bounds.
    codecs, codec_parts = _codecs(config, data)
    parts.update(codec_parts)
    sampled: dict[int, Codes] = {}
    measured: dict[int, npt.NDArray[np.float64]] = {}
    if codecs:
        # 4. the model, with whatever is left.
        epsilon = config.epsilon - sum(e for e, _ in parts.values())
        delta = DELTA - sum(d for _, d in parts.values())
        parts["model"] = (epsilon, delta)
        codes = {f"c{i}": codec.encode(data[config.columns[i].name]) for i, codec in codecs.items()}
        sizes = {f"c{i}": codec.size for i, codec in codecs.items()}
        fit = _fit_mst if config.model == "mst" else _fit_aim
        synthetic, marginals = fit(codes, sizes, rows, _model_rho(epsilon, delta), rng)
        sampled = {int(name[1:]): column_codes for name, column_codes in synthetic.items()}
        measured = {int(name[1:]): marginal for name, marginal in marginals.items()}
    # 5. post-processing.
    columns = {}
    for column in config.columns:
        if column.mask is None:
            columns[column.name] = codecs[column.index].decode(sampled[column.index], rng)
        else:
            columns[column.name] = _masked(column, rows, rng)
    table = pd.DataFrame(columns)
    report = None
    if config.output_original_data_statistics:
        report = _quality_report(config, table, sampled, measured)
    return SynthesisResult(table, PrivacySpent(parts), report)


# -- quality report ------------------------------------------------------------------------------


def _report_codes(real: pd.Series, synthetic: pd.Series) -> tuple[Codes, Codes]:
    """Common codes for one column of both tables: numeric by bins over the real range, text by
    value; null is a value of its own."""
    if _column_kind(real) != "string":
        values = [_floats(real), _floats(synthetic)]
        present = values[0][~np.isnan(values[0])]
        low, high = (float(present.min()), float(present.max())) if present.size else (0.0, 1.0)
        edges = np.linspace(low, high if high > low else low + 1.0, REPORT_BINS + 1)
        binned = []
        for v in values:
            bins = np.searchsorted(edges, np.clip(v, low, edges[-1]), "right") - 1
            bins = np.clip(bins, 0, REPORT_BINS - 1)
            binned.append(np.where(np.isnan(v), REPORT_BINS, bins).astype(np.int64))
        return binned[0], binned[1]
    both = pd.concat([real.astype(object), synthetic.astype(object)], ignore_index=True)
    codes, _ = pd.factorize(both, use_na_sentinel=False)
    codes = np.asarray(codes, dtype=np.int64)
    return codes[: len(real)], codes[len(real) :]


def _floats(series: pd.Series) -> npt.NDArray[np.float64]:
    return np.asarray(series.astype("float64").to_numpy(na_value=np.nan), dtype=np.float64)


def _tvd(real: Codes, synthetic: Codes) -> float:
    keys, inverse = np.unique(np.concatenate([real, synthetic]), return_inverse=True)
    p = np.bincount(inverse[: len(real)], minlength=len(keys)) / max(len(real), 1)
    q = np.bincount(inverse[len(real) :], minlength=len(keys)) / max(len(synthetic), 1)
    return float(0.5 * np.abs(p - q).sum())


def marginal_distances(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str]
) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Total variation distance of every 1-way and 2-way marginal of ``columns`` (0 = equal)."""
    codes = {c: _report_codes(real[c], synthetic[c]) for c in columns}
    one = {c: _tvd(*codes[c]) for c in columns}
    two = {}
    for a, b in itertools.combinations(columns, 2):
        width = int(max(codes[b][0].max(initial=0), codes[b][1].max(initial=0))) + 1
        two[a, b] = _tvd(codes[a][0] * width + codes[b][0], codes[a][1] * width + codes[b][1])
    return one, two


def _statistics(series: pd.Series) -> dict[str, Any]:
    """Summary of one SYNTHETIC column (post-processing: a quartile here is a synthetic value)."""
    stats: dict[str, Any] = {
        "count": int(series.notna().sum()),
        "null_fraction": float(series.isna().mean()) if len(series) else 0.0,
    }
    if _column_kind(series) == "string":
        stats["distinct"] = int(series.nunique(dropna=True))
        return stats
    values = series.dropna().astype("float64")
    if len(values):
        stats["mean"] = float(values.mean())
        stats["std"] = float(values.std(ddof=0))
        stats["quartiles"] = [float(values.quantile(q)) for q in (0.25, 0.5, 0.75)]
    return stats


def _tvd_to_measured(codes: Codes, measured: npt.NDArray[np.float64]) -> float:
    """Total variation distance between a synthetic column (its model codes) and the model's
    DP-measured one-way marginal over the same codes, clipped at 0 and normalised."""
    expected = np.clip(measured, 0.0, None)
    total = float(expected.sum())
    expected = expected / total if total > 0 else np.full(expected.size, 1.0 / expected.size)
    actual = np.bincount(codes, minlength=expected.size) / max(len(codes), 1)
    return float(0.5 * np.abs(actual - expected).sum())


def _quality_report(
    config: SynthConfig,
    synthetic: pd.DataFrame,
    codes: Mapping[int, Codes],
    measured: Mapping[int, npt.NDArray[np.float64]],
) -> dict[str, Any]:
    """Accounting item 5: read only the synthetic table and the DP-measured marginals.

    Never the input: its quartiles are a person's value whenever ``(n - 1) * q`` is a whole
    number, and any statistic of it (a mean, a distance to it) is a release outside the budget.
    """
    columns: list[dict[str, Any]] = []
    distances: list[float] = []
    for column in config.columns:
        if column.mask is not None:
            columns.append({"name": column.name, "masked": column.mask})
            continue
        distance = _tvd_to_measured(codes[column.index], measured[column.index])
        distances.append(distance)
        columns.append(
            {
                "name": column.name,
                "masked": None,
                "tvd_to_measured": distance,
                "synthetic": _statistics(synthetic[column.name]),
            }
        )
    return {
        "version": 2,
        "model": config.model,
        "epsilon": config.epsilon,
        "rows": len(synthetic),
        "columns": columns,
        "average_tvd_to_measured": float(np.mean(distances)) if distances else None,
    }
