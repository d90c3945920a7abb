"""Differential-privacy mode, the noise: OpenDP's mechanisms, calibrated by OpenDP's own maps.

Steps 5-8 of :mod:`.dp`: :func:`release` selects keys with OpenDP's Laplace threshold over
integer labels and exact counts (never key values: see :mod:`.dp_keys`), noises every statistic
once, and assembles the noisy table that :func:`.dp_sql.final_sql` decodes, orders and limits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, Final

import pyarrow as pa

# Not opendp.prelude: it imports opendp.extras, which loads scikit-learn when installed (1.3 s).
from opendp import domains, measurements, metrics
from opendp.mod import Measurement, binary_search, enable_features

from sealroom.errors import DpQueryError

from .dp_keys import DpKey
from .dp_plan import DpPlan, noisy_column
from .dp_spec import DpSpec
from .dp_sql import ROWS, FixedPoint, count_column, sum_column

__all__ = ["release", "select_keys", "share_epsilon"]

# Float rounding slack of step 6, in units of M: 2 * 2^-53 * 2^40.
_FLOAT_SLACK: Final = Fraction(1, 2**12)
# Largest threshold OpenDP's i64 counts can hold; used to calibrate the scale with δ ≈ 0.
_LARGEST_THRESHOLD: Final = 2**62


def release(exact: pa.Table, plan: DpPlan, spec: DpSpec, keys: Sequence[DpKey]) -> pa.Table:
    """Steps 5-8: select keys, noise every statistic once, assemble the noisy columns.

    ``exact`` is :func:`.dp_sql.exact_sql`'s table: one row per group, sorted by key. A group's
    label is its row number; the released labels, in increasing order, are the released keys in
    key order (a function of the released keys only). Key columns are only ``take``-n, in
    Arrow: no key value is converted, compared or hashed here.
    """
    enable_features("contrib")
    bound = spec.max_rows_per_unit
    statistics = int(plan.needs_rows) + len(plan.counted) + len(plan.summed)
    share = share_epsilon(spec.epsilon, statistics)
    rows = [int(n) for n in exact.column(ROWS).to_pylist()]
    if keys:
        released = select_keys(dict(enumerate(rows)), share, bound, spec.delta)
        chosen = sorted(released)
        picked = pa.array(chosen, pa.int64())
        noisy_rows = [released[label] for label in chosen]
    else:
        picked = pa.array([0], pa.int64())  # the one global row: always there, always released
        noisy_rows = _noisy_counts(rows, share, bound) if plan.needs_rows else []
    counts = {
        column: _noisy_counts(
            [int(v) for v in exact.column(count_column(i)).take(picked).to_pylist()], share, bound
        )
        for i, column in enumerate(plan.counted)
    }
    sums = {
        column: _noisy_sums(
            [int(v) for v in exact.column(sum_column(i)).take(picked).to_pylist()],
            FixedPoint.of(*spec.bounds[column]),
            share,
            bound,
        )
        for i, column in enumerate(plan.summed)
    }
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {
        name: exact.column(name).take(picked) for key in keys for name in key.carried
    }
    for i, output in enumerate(plan.outputs):
        if output.kind == "key":
            continue
        if output.kind == "rows":
            values: list[Any] = [max(0, n) for n in noisy_rows]
        elif output.kind == "count":
            values = [max(0, n) for n in counts[output.column]]
        elif output.kind == "sum":
            values = sums[output.column]
        else:
            values = _averages(sums[output.column], counts[output.column], spec, output.column)
        kind = pa.int64() if output.kind in ("rows", "count") else pa.float64()
        arrays[noisy_column(output, i)] = pa.array(values, type=kind)
    return pa.table(arrays)  # never empty: a query without keys has an aggregate


def share_epsilon(epsilon: float, statistics: int) -> float:
    """ε / m, rounded down until m shares sum to at most ε exactly (step 7)."""
    share = epsilon / statistics
    while Fraction(share) * statistics > Fraction(epsilon):
        share = math.nextafter(share, 0.0)
    return share


def select_keys(counts: dict[int, int], epsilon: float, bound: int, delta: float) -> dict[int, int]:
    """Step 5: OpenDP's Laplace threshold; returns the released keys and their noisy counts."""
    domain = domains.map_domain(domains.atom_domain(T="i64"), domains.atom_domain(T="i64"))
    metric = metrics.l01inf_distance(metrics.absolute_distance(T="i64"))
    d_in = (bound, bound, bound)  # (keys changed, L1, L∞) of one unit's L rows

    def mechanism(scale: float, threshold: int) -> Measurement:
        return measurements.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)

    def fits(threshold: int) -> bool:
        return bool(_privacy_loss(mechanism(scale, threshold), d_in)[1] <= delta)

    # The scale depends on ε alone (δ is ~0 at the largest threshold); then the smallest
    # threshold whose δ fits, by doubling and bisection (δ falls as the threshold rises).
    scale = _calibrate(
        lambda s: mechanism(s, _LARGEST_THRESHOLD),
        lambda m: _privacy_loss(m, d_in)[0],
        sensitivity=bound,
        epsilon=epsilon,
    )
    high = bound  # OpenDP refuses thresholds below the L∞ distance
    while not fits(high):
        if high >= _LARGEST_THRESHOLD:
            raise DpQueryError("the key selection could not be calibrated")
        high = min(2 * high, _LARGEST_THRESHOLD)
    low = max(bound, high // 2)
    while low < high:
        middle = (low + high) // 2
        if fits(middle):
            high = middle
        else:
            low = middle + 1
    spent, spent_delta = _privacy_loss(mechanism(scale, high), d_in)
    if not (spent <= epsilon and spent_delta <= delta):
        raise DpQueryError("the key selection could not be calibrated")
    # OpenDP 0.16 releases a key whose noisy count EQUALS the threshold, but its map counts
    # only P(noise > threshold - L∞) (opendp/opendp#2922): its δ for threshold t is the true δ
    # of threshold t + 1. So we release above the threshold we accounted for.
    released = mechanism(scale, high + 1)(counts)
    return {int(label): int(value) for label, value in released.items()}


def _noisy_counts(values: list[int], epsilon: float, bound: int) -> list[int]:
    """Step 6 for counts: discrete Laplace, L1 sensitivity L."""
    if not values:
        return []
    space = domains.vector_domain(domains.atom_domain(T="i64")), metrics.l1_distance(T="i64")

    def mechanism(scale: float) -> Measurement:
        return measurements.make_laplace(*space, scale=scale)

    def loss(measurement: Measurement) -> Any:
        return _privacy_loss(measurement, bound)

    scale = _calibrate(mechanism, loss, sensitivity=bound, epsilon=epsilon)
    return [int(v) for v in mechanism(scale)(values)]


def _noisy_sums(values: list[int], fixed: FixedPoint, epsilon: float, bound: int) -> list[float]:
    """Step 6 for sums: exact fixed-point sums, to float64, Laplace on L*M (+ rounding slack)."""
    if not values:
        return []
    units = bound * fixed.units + math.ceil(fixed.units * _FLOAT_SLACK)
    sensitivity = math.ldexp(_float_up(units), -fixed.shift)
    # float(int) is correctly rounded; ldexp by a power of two is exact.
    reals = [math.ldexp(float(v), -fixed.shift) for v in values]
    space = (
        domains.vector_domain(domains.atom_domain(T=float, nan=False)),
        metrics.l1_distance(T=float),
    )

    def mechanism(scale: float) -> Measurement:
        return measurements.make_laplace(*space, scale=scale)

    def loss(measurement: Measurement) -> Any:
        return _privacy_loss(measurement, sensitivity)

    scale = _calibrate(mechanism, loss, sensitivity=sensitivity, epsilon=epsilon)
    return [float(v) for v in mechanism(scale)(reals)]


def _calibrate(
    make: Callable[[float], Measurement],
    loss: Callable[[Measurement], Any],
    *,
    sensitivity: float,
    epsilon: float,
) -> float:
    """The smallest noise scale whose ε, by OpenDP's own privacy map, is at most ``epsilon``.

    Laplace spends sensitivity/scale: that scale is tried first (one map call); when OpenDP's
    map, which rounds conservatively, wants a hair more noise, OpenDP's binary search finds it.
    """
    scale = sensitivity / epsilon
    if not (math.isfinite(scale) and loss(make(scale)) <= epsilon):
        scale = binary_search(lambda s: bool(loss(make(s)) <= epsilon), bounds=(0.0, None))
    if not loss(make(scale)) <= epsilon:
        raise DpQueryError("the noise could not be calibrated to the privacy budget")
    return scale


def _averages(
    sums: Sequence[float], counts: Sequence[int], spec: DpSpec, column: str
) -> list[float | None]:
    """Step 8: noisy sum / noisy count, NULL below one, clamped to the bounds (post-processing)."""
    lo, hi = spec.bounds[column]
    return [
        min(max(total / count, lo), hi) if count >= 1 else None
        for total, count in zip(sums, counts, strict=True)
    ]


def _privacy_loss(mechanism: Measurement, d_in: object) -> Any:
    """OpenDP's privacy map: the loss (ε, or (ε, δ)) when inputs are ``d_in`` apart."""
    return mechanism.map(d_in)  # type: ignore[no-untyped-call]  # opendp leaves it unannotated


def _float_up(value: int) -> float:
    result = float(value)
    return result if result >= value else math.nextafter(result, math.inf)
