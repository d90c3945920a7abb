"""What one differential-privacy run may spend (a query DP mode refuses raises
:class:`~sealroom.errors.DpQueryError`).

Shared by the planner (:mod:`.dp_plan`), the SQL (:mod:`.dp_sql`), the keys (:mod:`.dp_keys`)
and the noise (:mod:`.dp_noise`); :mod:`.dp` states the guarantee and re-exports the public names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from .privacy import RESERVED_PREFIX

__all__ = ["DP_PREFIX", "DpSpec"]

#: Prefix of every name the DP SQL generates (reserved: queries may not use it).
DP_PREFIX: Final = RESERVED_PREFIX + "_dp"

# Rows one unit may contribute: sensitivity and noise grow linearly with it; 2^20 keeps
# L * M (step 3) far inside float64 and leaves the neighbour within the input row limit.
_MAX_ROWS_PER_UNIT: Final = 2**20
# δ above 1e-3 is no longer "cryptographically small" for key release (one in a thousand keys
# of a single person could be shown).
_MAX_DELTA: Final = 1e-3
# Bounds whose magnitude lies outside this range would need a scale 2^s outside float64.
_BOUND_MAGNITUDE: Final = (1e-100, 1e100)


@dataclass(frozen=True)
class DpSpec:
    """What one DP run may spend and how contributions are bounded.

    ``epsilon`` (> 0, finite) is spent by one run; ``delta`` (0 < δ < 1e-3) pays for releasing
    group keys read from the data. ``unit_column`` names the privacy unit (a person) in the
    input; ``None`` makes each row a unit, and then ``max_rows_per_unit`` must be 1.
    ``bounds`` maps each column summed or averaged (any case; kept lower case) to the clamp
    interval ``(lo, hi)``, lo < hi, both finite.
    """

    epsilon: float
    delta: float
    unit_column: str | None = None
    max_rows_per_unit: int = 1
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.epsilon, int | float) and math.isfinite(self.epsilon)):
            raise ValueError("DpSpec.epsilon must be a finite number")
        if self.epsilon <= 0:
            raise ValueError("DpSpec.epsilon must be positive")
        if not (isinstance(self.delta, int | float) and 0 < self.delta < _MAX_DELTA):
            raise ValueError(f"DpSpec.delta must be in (0, {_MAX_DELTA:g})")
        rows = self.max_rows_per_unit
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 1:
            raise ValueError("DpSpec.max_rows_per_unit must be a positive integer")
        if rows > _MAX_ROWS_PER_UNIT:
            raise ValueError(f"DpSpec.max_rows_per_unit must be at most {_MAX_ROWS_PER_UNIT}")
        if self.unit_column is None and rows != 1:
            raise ValueError("DpSpec.max_rows_per_unit must be 1 without a unit_column")
        if self.unit_column is not None and not self.unit_column:
            raise ValueError("DpSpec.unit_column must be a column name or None")
        bounds: dict[str, tuple[float, float]] = {}
        for name, (lo, hi) in self.bounds.items():
            key = name.lower()
            if key in bounds:
                raise ValueError(f"DpSpec.bounds names column {key!r} twice")
            lo, hi = float(lo), float(hi)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"DpSpec.bounds of {key!r} must be finite with lo < hi")
            magnitude = max(abs(lo), abs(hi))
            if not _BOUND_MAGNITUDE[0] <= magnitude <= _BOUND_MAGNITUDE[1]:
                raise ValueError(
                    f"DpSpec.bounds of {key!r} must have a magnitude in "
                    f"[{_BOUND_MAGNITUDE[0]:g}, {_BOUND_MAGNITUDE[1]:g}]"
                )
            bounds[key] = (lo, hi)
        object.__setattr__(self, "bounds", MappingProxyType(bounds))
