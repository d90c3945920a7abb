"""The media clean room's audience engine: one self-contained script run in the core's sandbox.

Its source text is embedded verbatim in the room's Python nodes (``<this source>`` followed by
``main("audience_size")``), so every party approves exactly this code. It therefore imports only
the standard library, numpy, pyarrow, xgboost and opendp (all in the sandbox's site-packages)
and never ``sealroom``. It reads the layout the core writes (docs/scripts.md) and writes its
result into ``/output``.

Inputs (``input_dir``, ``/input`` in the sandbox)
--------------------------------------------------
* ``<node>/dataset.csv`` (no header, NULL = empty field) and ``<node>/types.json`` for the
  tables ``matching`` (the base audience's identifiers, one row per user and id), ``segments``
  (``user_id, segment``), ``demographics`` (``user_id, age, gender``), ``embeddings``
  (``user_id, scope, e0..e{n-1}``), ``audiences`` (the seed audiences: ``matching_id,
  audience_type``) and ``custom_audiences`` (``id, name, created_by, created_at, shared_with,
  definition``). Every table but ``matching`` may be absent or empty: absent reads as empty.
* ``parameters.json``: ``{"audience": A}``, A an audience reference or definition (JSON text or
  an object), and for ``audience_user_list`` ``"activation_id": COLUMN`` (the column it
  exports; "" or absent: the configuration's ``activation_id``).
* ``code/media_config.json``: the room's configuration (:class:`EngineConfig`)::

    {"matching_id": "matchingId",           # required: column of matching matched with
                                            #   audiences.matching_id
     "user_id": "userId",                   # the user column (default: matching's column 0)
     "activation_ids": ["userId"],          # activation columns of matching (default: [])
     "activation_id": "userId",             # the default export column (default: the first
                                            #   activation_ids; also added to them)
     "minimum_audience_size": 100,          # smaller audiences: no size, no list (>= 1)
     "rounding": 100,                       # sizes rounded half up to a multiple (>= 1)
     "privacy": {"mode": "rounding"}        # or {"mode": "dp", "epsilon_per_run": 0.5}
                                            #   ("ROUNDING"/"DIFFERENTIAL_PRIVACY" too)
     "lookalike": {"features": "embeddings", # or "segments"; default: embeddings if the room
                                            #   has any, else segments (+ demographics)
                   "max_training_rows": 200000, "seed": 1, "rounds": 100, "max_depth": 6,
                   "learning_rate": 0.1, "max_segment_features": 256}}

  Unknown keys are refused, so a typo cannot silently change what every party approved.
* ``privacy.json`` (DP mode only): ``{"epsilon": e, "delta": d}``, what the core charged for
  this run. DP mode uses THIS epsilon and no other; without the file it refuses to run.

Audiences
---------
Base users are the distinct user ids of ``matching``; every audience is a subset of them,
held as a boolean mask over the users sorted by id (so results do not depend on row order).
References: ``{"kind": "BASE"}``, ``{"kind": "SEED", "audienceType": T}`` (the base users one
of whose matching ids the advertiser listed with type T; an unknown type is empty) and
``{"kind": "CUSTOM", "id": ID}`` (the definition in ``custom_audiences``, evaluated
recursively; an unknown id, a cycle or nesting deeper than :data:`MAX_NESTING` is refused).
Definitions: ``REMARKETING`` (the seed's users), ``EXCLUSION_TARGETING`` (base minus them),
``RULE_BASED`` (a source, filtered, then combined step by step with INTERSECT/UNION/DIFF of
other filtered sources; a filter list joins with AND/OR, an empty list filters nothing; a user's
segments are a set, age and gender single values, EMPTY = no value) and ``LOOKALIKE``.

Lookalike: an XGBoost binary classifier (hist, CPU, 2 threads, fixed seed), positives the source
users, negatives the other base users. A stratified :data:`TEST_FRACTION` of both is held out
(for the ROC curve); training takes the rest, at most ``max_training_rows`` rows (positives
first, up to half of them; negatives sampled). Features: the user's embedding, the MEAN over the
user's scopes (each dimension averaged over its non-NULL values; a user without any is missing
for XGBoost); or without embeddings, one-hot segments (the ``max_segment_features`` held by the
most users) plus one-hot age and gender values. Every base user is scored; the audience is the
top ``reach`` percent (rounded half up) of the addressable base (base minus the source when
``excludeSeedAudience``), ties by user order. The same data and configuration always give the
same audience, in every operation. The source must have ``minimum_audience_size`` users.

Operations (``main(operation)``) and what they write
----------------------------------------------------
* ``audience_size``: ``audience_size.json`` = ``{"name", "size"}``; ``name`` is the custom
  audience's name, the seed's type, ``BASE``, or a definition's ``name``/``kind``; ``size`` the
  number of users, rounded, or null below the minimum audience size.
* ``audience_user_list``: ``audience_users.csv``, the distinct activation ids of the audience's
  users (one per line, sorted, CSV-quoted only where needed); refused (nothing written) when the
  audience has fewer users than the minimum audience size.
* ``overlap_statistics`` and ``insights`` (DP mode only; the core's SQL computes them in rounding
  mode, and the engine refuses them there): ``<operation>.json`` = ``{"columns", "rows",
  "privacy"}``, the rows of the room's SQL computation of the same name, same columns and
  order, computed from noisy counts (see DP mode below).
* ``lookalike_statistics`` (for a LOOKALIKE audience): ``lookalike_audience.json`` in the shape of
  the seed's ``LookalikeAudienceStatisticsResult`` plus a ``privacy`` field: the source's users
  (``seed_audience_size``), the ROC curve on the held-out set (101 points: targeting 0 %, 1 %,
  ..., 100 % of it; 3 digits) and, for each activation column, the distinct ids of the
  addressable users and of each reach's audience (1 to 30 %: what the export would hold), each
  with the test set's TPR and FPR at that audience's score threshold. Refused when the source is
  below the minimum size or the test set lacks positives or negatives.

A refusal or a malformed input raises :class:`EngineError`, whose message never holds a data
value; :func:`main` writes it, and nothing else, to ``refusal.json`` (the SDK raises it).

Privacy: what is and is not protected
-------------------------------------
Rounding mode: every size is exact, then NULL below the minimum audience size, else rounded half
up to a multiple of ``rounding``. Not differentially private. The ROC curve, AUC and test-set
sizes (rounded) describe a model trained on the data; they are released as in the seed.

DP mode (pure epsilon-DP; the unit is one base user, i.e. all rows of one user id in the
publisher's tables; an advertiser's matching id is covered only when it matches at most one base
user). Each run releases m counts, each changed by at most 1 by one user (sensitivity 1); all m
are noised in one call of OpenDP's discrete Laplace (``make_laplace`` over i64 vectors, L1
sensitivity m), its scale calibrated by OpenDP's own privacy map to the run's epsilon, which
equals epsilon/m per count. Thresholds, rounding and reach percentages apply to the noisy counts
(post-processing). Exactly:

* ``audience_size``: one count, the audience's users. For a LOOKALIKE audience it is its
  addressable base, and the size is ``reach`` percent of that noisy count (the audience is the
  top ``reach`` percent, so its size depends on nothing else); no model is trained. An audience
  that depends on a lookalike model in any other way (filtered, combined, or a lookalike of a
  lookalike) is REFUSED: the model is trained on every user, so one user can change such a count
  by more than 1 and no sensitivity bound holds.
* ``lookalike_statistics``: 1 + (activation columns) counts: the source's users, and for each
  activation column the addressable users with an id in it. Filtered sizes are ``reach`` percent
  of that noisy count (estimates: the exact export may differ). No model is trained and no ROC
  curve, AUC or test-set size is released (``quality`` is null; ``privacy`` says why).
* ``overlap_statistics``: per audience type (the advertiser's labels, sorted), the advertiser's
  distinct matching ids, the base users matched, and per activation column the matched users
  with an id in it (users, where the SQL counts distinct ids: one user moves it by at most 1):
  sensitivity 1 per count. Released as the SQL releases them (NULL below the minimum audience
  size, rounded; activation counts NULL when the overlap is).
* ``insights``: per audience type its overlap; per aggregation (segment, age, gender, age|gender)
  each key's base users and the base users with any key; the same within each type's overlap.
  Keys are the values held by at least the minimum group size of base users, the list
  ``data_attributes`` releases (so the key set is not protected by the noise; the counts are,
  given the keys); a user's segments are cut to :data:`MAX_SEGMENTS_PER_USER`, the first in key
  order. One user then changes them by at most T + (1 + T) * sum(per_user + 1) in L1 (T audience
  types; per_user 10 for segments, 1 otherwise): that is the sensitivity of the one release.
  Released as the SQL releases them: types whose noisy overlap reaches the minimum audience size,
  groups whose noisy overlap and base counts reach the minimum group size, rounded to the group
  rounding; shares of the rounded counts with ``hide_absolute_values``.
* ``audience_user_list`` is an export by permission, NOT differentially private: it releases the
  audience's activation ids to those the room lets export; its threshold uses the exact size.
* Refusals in DP mode depend only on the definitions or on noisy counts, except those of the user
  list (exact size, as above).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = [
    "OPERATIONS",
    "AudienceEvaluator",
    "EngineConfig",
    "EngineError",
    "LookalikeSettings",
    "Room",
    "load_config",
    "main",
    "run",
]

Mask = npt.NDArray[np.bool_]
Positions = npt.NDArray[np.int64]
Audience = dict[str, Any]

#: A custom audience may refer to others this deep; deeper is refused (and cannot exhaust the
#: interpreter's stack).
MAX_NESTING: Final = 64
#: A lookalike audience covers 1 to 30 percent of its addressable base.
REACH_RANGE: Final = (1, 30)
#: Held out, stratified, for the ROC curve.
TEST_FRACTION: Final = Fraction(1, 5)
#: Points of the released ROC curve: reach 0 %, 1 %, ..., 100 % of the test set.
ROC_POINTS: Final = 101
#: Decimal digits of released rates.
DIGITS: Final = 3
#: XGBoost's threads (the sandbox allows threads, not processes).
XGBOOST_THREADS: Final = 2
#: Feature values materialised at once when scoring (float32: 32 MiB).
SCORE_BATCH_VALUES: Final = 8 * 1024 * 1024
#: One-hot age and gender values kept, each (the DataLab's own limits are 20 and 5).
MAX_DEMOGRAPHIC_VALUES: Final = 64

BASE_TABLE: Final = "matching"
SEED_TABLE: Final = "audiences"
CUSTOM_TABLE: Final = "custom_audiences"
ATTRIBUTES: Final = {"segment": ("segments", "segment"), "age": ("demographics", "age"),
                     "gender": ("demographics", "gender")}  # fmt: skip
FILTER_OPERATORS: Final = frozenset(
    {"CONTAINS_ANY_OF", "CONTAINS_NONE_OF", "CONTAINS_ALL_OF", "EMPTY", "NOT_EMPTY"}
)
COMBINE_OPERATORS: Final = frozenset({"INTERSECT", "UNION", "DIFF"})


class EngineError(Exception):
    """A refusal or a malformed input. The message is shown to whoever may read the logs: it
    names kinds, fields and audience ids, never a data value."""


# -- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class LookalikeSettings:
    features: str | None = None
    max_training_rows: int = 200_000
    seed: int = 1
    rounds: int = 100
    max_depth: int = 6
    learning_rate: float = 0.1
    max_segment_features: int = 256


@dataclass(frozen=True)
class EngineConfig:
    """``code/media_config.json``, checked (module docstring)."""

    matching_id: str
    user_id: str | None = None
    activation_ids: tuple[str, ...] = ()
    activation_id: str | None = None
    minimum_audience_size: int = 100
    rounding: int = 100
    dp: bool = False
    epsilon_per_run: float | None = None
    lookalike: LookalikeSettings = field(default_factory=LookalikeSettings)
    #: The definition kinds the room's collaboration types enable; None: all of them.
    definition_kinds: frozenset[str] | None = None
    #: Insights (DP mode): a group smaller than this is left out; groups rounded to this.
    minimum_group_size: int = 10
    group_rounding: int = 50
    #: Insights (DP mode): shares of the overlap and of the base instead of sizes.
    hide_absolute_values: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineConfig:
        where = "media_config.json"
        known = {"matching_id", "user_id", "activation_ids", "activation_id",
                 "minimum_audience_size", "rounding", "privacy", "lookalike",
                 "definition_kinds", "minimum_group_size", "group_rounding",
                 "hide_absolute_values"}  # fmt: skip
        _no_unknown_keys(data, known, where)
        activation = _optional(data, "activation_id", str, where)
        columns = [str(c) for c in _optional(data, "activation_ids", list, where)]
        if activation is not None and activation not in columns:
            columns.insert(0, activation)
        privacy = _optional(data, "privacy", dict, where) or {"mode": "rounding"}
        _no_unknown_keys(privacy, {"mode", "epsilon_per_run"}, f"{where} privacy")
        mode = str(privacy.get("mode", "rounding")).lower()
        if mode not in {"rounding", "dp", "differential_privacy"}:
            raise EngineError(f"{where}: privacy mode is 'rounding' or 'dp'")
        settings = _optional(data, "lookalike", dict, where) or {}
        _no_unknown_keys(
            settings, set(LookalikeSettings.__dataclass_fields__), f"{where} lookalike"
        )
        default = LookalikeSettings()
        try:
            features = settings.get("features")
            lookalike = LookalikeSettings(
                features=None if features is None else str(features),
                max_training_rows=_integer(settings, "max_training_rows", default),
                seed=_integer(settings, "seed", default),
                rounds=_integer(settings, "rounds", default),
                max_depth=_integer(settings, "max_depth", default),
                learning_rate=float(settings.get("learning_rate", default.learning_rate)),
                max_segment_features=_integer(settings, "max_segment_features", default),
            )
            per_run = privacy.get("epsilon_per_run")
            kinds = data.get("definition_kinds")  # absent: every kind (a list otherwise)
            if kinds is not None and not isinstance(kinds, list):
                raise EngineError(f"{where}: 'definition_kinds' is not a list")
            config = cls(
                matching_id=_required(data, "matching_id", str, where),
                user_id=_optional(data, "user_id", str, where),
                activation_ids=tuple(columns),
                activation_id=activation or (columns[0] if columns else None),
                minimum_audience_size=_integer(data, "minimum_audience_size", cls),
                rounding=_integer(data, "rounding", cls),
                dp=mode != "rounding",
                epsilon_per_run=None if per_run is None else float(per_run),
                lookalike=lookalike,
                definition_kinds=None if kinds is None else frozenset(str(k) for k in kinds),
                minimum_group_size=_integer(data, "minimum_group_size", cls),
                group_rounding=_integer(data, "group_rounding", cls),
                hide_absolute_values=bool(
                    _optional(data, "hide_absolute_values", bool, where) or False
                ),
            )
        except (TypeError, ValueError):
            raise EngineError(f"{where}: a setting that is a number is not one") from None
        config.check()
        return config

    def check(self) -> None:
        if min(self.minimum_audience_size, self.rounding, self.minimum_group_size) < 1:
            raise EngineError(
                "media_config.json: minimum_audience_size, rounding and minimum_group_size are >= 1"
            )
        if self.group_rounding < 1:
            raise EngineError("media_config.json: group_rounding is >= 1")
        if len(set(self.activation_ids)) != len(self.activation_ids):
            raise EngineError("media_config.json: activation_ids are listed twice")
        s = self.lookalike
        if s.features not in (None, "embeddings", "segments"):
            raise EngineError("media_config.json: lookalike features are embeddings or segments")
        if not (s.max_training_rows >= 2 and s.rounds >= 1 and 1 <= s.max_depth <= 16):
            raise EngineError("media_config.json: lookalike settings out of range")
        if not (0 < s.learning_rate <= 1 and s.max_segment_features >= 1):
            raise EngineError("media_config.json: lookalike settings out of range")
        if self.definition_kinds is not None and not self.definition_kinds <= DEFINITION_KINDS:
            raise EngineError("media_config.json: unknown definition kinds")


def _integer(data: Mapping[str, Any], key: str, default: Any) -> int:
    """``data[key]``, an integer (not a bool, not text); else ``default``'s attribute ``key``."""
    value = data.get(key, getattr(default, key))
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(key)
    return value


def _no_unknown_keys(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise EngineError(f"{where}: unknown keys {unknown}")


def _required(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise EngineError(f"{where}: {key!r} is missing or not a {kind.__name__}")
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        raise EngineError(f"{where}: {key!r} is not a {kind.__name__}")
    return value if value is not None or kind is not list else []


def _read_json(path: Path, what: str) -> Any:
    # Python's open, not pyarrow's: without the sandbox (--unsafe-no-sandbox) only Python's file
    # functions are redirected to the job's directory.
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise EngineError(f"{what} is missing") from None
    except (ValueError, UnicodeDecodeError):
        raise EngineError(f"{what} is not valid JSON") from None


def load_config(input_dir: Path) -> EngineConfig:
    data = _read_json(input_dir / "code" / "media_config.json", "code/media_config.json")
    if not isinstance(data, dict):
        raise EngineError("code/media_config.json is not a JSON object")
    return EngineConfig.from_dict(data)


def charged_epsilon(input_dir: Path) -> float:
    """The epsilon the core charged for this run (``privacy.json``), the only one DP mode uses."""
    if not (input_dir / "privacy.json").exists():
        raise EngineError("differential-privacy mode, but the core charged nothing for this run")
    data = _read_json(input_dir / "privacy.json", "privacy.json")
    epsilon = data.get("epsilon") if isinstance(data, dict) else None
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise EngineError("privacy.json: epsilon must be a positive number")
    return float(epsilon)


def requested_audience(input_dir: Path) -> tuple[Audience, str | None]:
    """The ``audience`` parameter (a reference or a definition) and the ``activation_id`` one."""
    data = _read_json(input_dir / "parameters.json", "parameters.json")
    if not isinstance(data, dict) or "audience" not in data:
        raise EngineError("parameters.json has no 'audience'")
    audience = data["audience"]
    if isinstance(audience, str):
        try:
            audience = json.loads(audience)
        except ValueError:
            raise EngineError("the audience parameter is not valid JSON") from None
    if not isinstance(audience, dict):
        raise EngineError("the audience parameter is not a JSON object")
    column = data.get("activation_id")
    if column is not None and not isinstance(column, str):
        raise EngineError("the activation_id parameter is not a string")
    # The node declares the parameter, so every run gives it: "" asks for the default column.
    return audience, column or None


# -- the room's data --------------------------------------------------------------------------

_ARROW_TYPES: Final = {"integer": pa.int64(), "float": pa.float64(), "boolean": pa.bool_()}


def read_table(input_dir: Path, node: str) -> pa.Table | None:
    """``node``'s table as the core wrote it (every column text but integers, floats and
    booleans), or None when the room has no such input."""
    directory = input_dir / node
    if not (directory / "types.json").exists():
        return None
    spec = _read_json(directory / "types.json", f"{node}/types.json")
    columns = spec.get("columns") if isinstance(spec, dict) else None
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        raise EngineError(f"{node}/types.json has no column list")
    names = [str(c.get("name")) for c in columns]
    types = {
        n: _ARROW_TYPES.get(str(c.get("type")), pa.string())
        for n, c in zip(names, columns, strict=True)
    }
    with open(directory / "dataset.csv", "rb") as handle:
        if not handle.read(1):
            return pa.table({n: pa.array([], type=t) for n, t in types.items()})
        handle.seek(0)
        return pacsv.read_csv(
            handle,
            read_options=pacsv.ReadOptions(column_names=names),
            convert_options=pacsv.ConvertOptions(
                column_types=types, null_values=[""], strings_can_be_null=True
            ),
        )


def _text(table: pa.Table, column: str, node: str) -> pa.Array:
    if column not in table.column_names:
        raise EngineError(f"the table {node} has no column {column!r}")
    return pc.cast(table.column(column).combine_chunks(), pa.string())


def _mask(n: int, positions: Positions) -> Mask:
    mask = np.zeros(n, dtype=np.bool_)
    mask[positions] = True
    return mask


@dataclass(frozen=True)
class AttributeRows:
    """(user position, value) pairs of one attribute, base users and non-NULL values only."""

    positions: Positions
    values: pa.Array


#: The kinds of audience definitions (each enabled by one collaboration type).
DEFINITION_KINDS: Final = frozenset(
    {"REMARKETING", "EXCLUSION_TARGETING", "RULE_BASED", "LOOKALIKE"}
)


class Room:
    """The room's tables, read on first use and indexed by user position (the rank of the user
    id among the base users' ids, sorted)."""

    def __init__(self, input_dir: Path, config: EngineConfig) -> None:
        self.input_dir = input_dir
        self.config = config
        matching = read_table(input_dir, BASE_TABLE)
        if matching is None:
            raise EngineError("the base audience (matching) is not in the input")
        user_column = config.user_id or (matching.column_names or [""])[0]
        users = _text(matching, user_column, BASE_TABLE)
        keep = pc.is_valid(users)
        matching = matching.filter(keep)
        users = users.filter(keep)
        distinct = pc.unique(users)
        #: The base users' ids, sorted: position i is user ``user_ids[i]``.
        self.user_ids: pa.Array = distinct.take(pc.array_sort_indices(distinct))
        self.n_users = len(self.user_ids)
        #: The user position of each row of matching.
        self.row_users: Positions = self.positions_of(users)
        self.matching_ids = _text(matching, config.matching_id, BASE_TABLE)
        self.activation = {c: _text(matching, c, BASE_TABLE) for c in config.activation_ids}

    def positions_of(self, user_ids: pa.Array) -> Positions:
        """Positions of ``user_ids`` (-1 for an id that is not a base user's)."""
        found = pc.index_in(user_ids, value_set=self.user_ids)
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    @cached_property
    def seed_rows(self) -> tuple[pa.Array, pa.Array]:
        """The advertiser's ``(matching_id, audience_type)`` columns."""
        table = read_table(self.input_dir, SEED_TABLE)
        if table is None:
            return pa.array([], pa.string()), pa.array([], pa.string())
        return _text(table, "matching_id", SEED_TABLE), _text(table, "audience_type", SEED_TABLE)

    def seed_users(self, audience_type: str) -> Mask:
        """Base users with a matching id the advertiser listed with ``audience_type``."""
        ids, types = self.seed_rows
        listed = ids.filter(pc.equal(types, audience_type))
        rows = pc.is_in(self.matching_ids, value_set=listed.drop_null())
        return _mask(self.n_users, self.row_users[_true(rows)])

    def attribute(self, name: str) -> AttributeRows:
        return self._attributes[name]

    @cached_property
    def _attributes(self) -> dict[str, AttributeRows]:
        out: dict[str, AttributeRows] = {}
        for node in ("segments", "demographics"):
            table = read_table(self.input_dir, node)
            for attribute, (source, column) in ATTRIBUTES.items():
                if source != node:
                    continue
                if table is None:
                    out[attribute] = AttributeRows(np.zeros(0, np.int64), pa.array([], pa.string()))
                    continue
                values = _text(table, column, node)
                positions = self.positions_of(_text(table, "user_id", node))
                keep = (positions >= 0) & _true(pc.is_valid(values))
                out[attribute] = AttributeRows(positions[keep], values.filter(pa.array(keep)))
        return out

    def has_value(self, attribute: str, values: Sequence[str] | None = None) -> Mask:
        """Users with any value of ``attribute`` (or one of ``values``)."""
        rows = self.attribute(attribute)
        if values is None:
            return _mask(self.n_users, rows.positions)
        hit = pc.is_in(rows.values, value_set=pa.array(list(values), pa.string()))
        return _mask(self.n_users, rows.positions[_true(hit)])

    @cached_property
    def embeddings(self) -> npt.NDArray[np.float32] | None:
        """Each base user's embedding averaged over its scopes (NaN: no value), or None."""
        table = read_table(self.input_dir, "embeddings")
        if table is None or table.num_rows == 0:
            return None
        dims = [c for c in table.column_names if c not in ("user_id", "scope")]
        positions = self.positions_of(_text(table, "user_id", "embeddings"))
        keep = positions >= 0
        positions = positions[keep]
        # One row per user (one scope, the usual case): each row is the user's mean already.
        single = len(positions) == 0 or int(np.bincount(positions).max()) == 1
        matrix = np.full((self.n_users, len(dims)), np.nan, dtype=np.float32)
        for j, name in enumerate(dims):
            column = pc.cast(table.column(name), pa.float64())
            values = np.asarray(column.to_numpy(), dtype=np.float64)[keep]  # NULL: NaN
            if single:
                matrix[positions, j] = values
                continue
            present = ~np.isnan(values)
            totals = np.bincount(positions, np.where(present, values, 0.0), self.n_users)
            counts = np.bincount(positions, present.astype(np.float64), self.n_users)
            with np.errstate(invalid="ignore", divide="ignore"):
                matrix[:, j] = totals / counts  # 0/0 = NaN: XGBoost's "missing"
        return matrix

    @cached_property
    def custom_audiences(self) -> dict[str, tuple[str, str]]:
        """``id -> (name, definition JSON)``: definitions, not personal data."""
        table = read_table(self.input_dir, CUSTOM_TABLE)
        if table is None:
            return {}
        ids = _text(table, "id", CUSTOM_TABLE).to_pylist()
        names = _text(table, "name", CUSTOM_TABLE).to_pylist()
        definitions = _text(table, "definition", CUSTOM_TABLE).to_pylist()
        out: dict[str, tuple[str, str]] = {}
        for identifier, name, definition in zip(ids, names, definitions, strict=True):
            if identifier in out:
                raise EngineError(f"custom audience id {identifier!r} is listed twice")
            out[str(identifier)] = (str(name or ""), str(definition or ""))
        return out

    def activation_rows(self, column: str) -> tuple[Positions, npt.NDArray[np.int64], pa.Array]:
        """``(user position, id code, distinct ids)`` of the rows with an id in ``column``."""
        if column not in self.activation:
            raise EngineError(f"{column!r} is not an activation column of this room")
        ids = self.activation[column]
        present = _true(pc.is_valid(ids))
        ids = ids.filter(pa.array(present))
        distinct = pc.unique(ids)
        codes = pc.index_in(ids, value_set=distinct).to_numpy(zero_copy_only=False)
        return self.row_users[present], np.asarray(codes, np.int64), distinct


def _true(values: pa.Array | pa.ChunkedArray) -> Mask:
    """A boolean Arrow array as a numpy mask, NULL as False."""
    return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.bool_)


# -- audiences ------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def reach_count(reach: int, addressable: int) -> int:
    """``reach`` percent of ``addressable`` users, rounded half up."""
    return (2 * reach * max(addressable, 0) + 100) // 200


@dataclass(frozen=True)
class LookalikeRanking:
    """A lookalike's source, its addressable base, and that base ranked best first."""

    source: Mask
    addressable: Mask
    order: Positions
    model: LookalikeModel

    def audience(self, reach: int) -> Mask:
        return _mask(len(self.source), self.order[: reach_count(reach, len(self.order))])

    def ranks(self) -> Positions:
        """Each user's rank in :attr:`order` (``len(order)``: not addressable)."""
        ranks = np.full(len(self.source), len(self.order), dtype=np.int64)
        ranks[self.order] = np.arange(len(self.order))
        return ranks


class AudienceEvaluator:
    """Evaluates references and definitions to masks over the base users (module docstring)."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self._masks: dict[str, Mask] = {}
        self._models: dict[str, LookalikeModel] = {}
        self._rankings: dict[str, LookalikeRanking] = {}
        self._open: list[str] = []  # custom ids being evaluated, outermost first

    # Resolution of CUSTOM references, with cycle and depth checks.
    def _custom(self, reference: Audience) -> tuple[str, Audience]:
        identifier = reference.get("id")
        if not isinstance(identifier, str):
            raise EngineError("a CUSTOM reference has no string 'id'")
        if identifier not in self.room.custom_audiences:
            raise EngineError(f"custom audience {identifier!r} does not exist")
        if identifier in self._open:
            raise EngineError(f"custom audience {identifier!r} refers to itself (a cycle)")
        if len(self._open) >= MAX_NESTING:
            raise EngineError(f"custom audiences are nested deeper than {MAX_NESTING}")
        name, text = self.room.custom_audiences[identifier]
        try:
            definition = json.loads(text)
        except ValueError:
            raise EngineError(f"custom audience {identifier!r} has no valid definition") from None
        if not isinstance(definition, dict):
            raise EngineError(f"custom audience {identifier!r} has no valid definition")
        return name, definition

    def _within(self, reference: Audience, visit: Callable[[Audience], Any]) -> Any:
        _, definition = self._custom(reference)
        self._open.append(str(reference["id"]))
        try:
            return visit(definition)
        finally:
            self._open.pop()

    def name_of(self, audience: Audience) -> str:
        kind = _kind(audience)
        if kind == "CUSTOM":
            return self._custom(audience)[0]
        if kind == "SEED":
            return _audience_type(audience, "SEED reference")
        name = audience.get("name")
        return name if isinstance(name, str) and name else kind

    def resolve(self, audience: Audience) -> Audience:
        """The definition (or BASE/SEED reference) a chain of CUSTOM references ends at."""
        if _kind(audience) == "CUSTOM":
            resolved: Audience = self._within(audience, self.resolve)
            return resolved
        return audience

    def uses_lookalike(self, audience: Audience) -> bool:
        """Whether evaluating ``audience`` trains a lookalike model."""
        kind = _kind(audience)
        if kind == "CUSTOM":
            return bool(self._within(audience, self.uses_lookalike))
        if kind == "LOOKALIKE":
            return True
        if kind == "RULE_BASED":
            steps = _combine_steps(audience)
            sources = [_reference(audience, "sourceRef"), *(s["sourceRef"] for s in steps)]
            return any(self.uses_lookalike(source) for source in sources)
        return False

    def evaluate(self, audience: Audience) -> Mask:
        """The audience's users (a read-only mask: copy before changing it)."""
        key = _canonical(audience)
        if key not in self._masks:
            mask = self._evaluate(audience)
            mask.flags.writeable = False
            self._masks[key] = mask
        return self._masks[key]

    def check_enabled(self, audience: Audience) -> None:
        """Refuse ``audience`` if it is, or refers to, a definition of a kind the room's
        collaboration types do not enable (whoever wrote it into custom_audiences)."""
        enabled = self.room.config.definition_kinds
        kind = _kind(audience)
        if kind == "CUSTOM":
            self._within(audience, self.check_enabled)
            return
        if enabled is not None and kind in DEFINITION_KINDS and kind not in enabled:
            raise EngineError(f"this room does not enable {kind} audiences")
        if kind in ("RULE_BASED", "LOOKALIKE"):
            self.check_enabled(_reference(audience, "sourceRef"))
        if kind == "RULE_BASED":
            for step in _combine_steps(audience):
                self.check_enabled(step["sourceRef"])

    def _evaluate(self, audience: Audience) -> Mask:
        room = self.room
        kind = _kind(audience)
        if kind == "BASE":
            return np.ones(room.n_users, dtype=np.bool_)
        if kind == "SEED":
            return room.seed_users(_audience_type(audience, "SEED reference"))
        if kind == "CUSTOM":
            mask: Mask = self._within(audience, self.evaluate)
            return mask
        if kind == "REMARKETING":
            return room.seed_users(_seed_type(audience)).copy()
        if kind == "EXCLUSION_TARGETING":
            return ~room.seed_users(_seed_type(audience))
        if kind == "RULE_BASED":
            result = self._filtered(_reference(audience, "sourceRef"), audience.get("filters"))
            for step in _combine_steps(audience):
                other = self._filtered(step["sourceRef"], step.get("filters"))
                if step["operator"] == "INTERSECT":
                    result = result & other
                elif step["operator"] == "UNION":
                    result = result | other
                else:
                    result = result & ~other
            return result
        if kind == "LOOKALIKE":
            return self.lookalike(audience).audience(_reach(audience))
        raise EngineError(f"unknown audience kind {kind!r}")

    def _filtered(self, reference: Audience, filters: Any) -> Mask:
        source = self.evaluate(reference)
        if filters is None:
            return source.copy()
        if not isinstance(filters, dict) or not isinstance(filters.get("filters"), list):
            raise EngineError("'filters' needs a list 'filters'")
        operator = filters.get("booleanOp", "AND")
        if operator not in ("AND", "OR"):
            raise EngineError("a filter's booleanOp is AND or OR")
        masks = [self._filter(f) for f in filters["filters"]]
        if not masks:
            return source.copy()  # an empty filter list filters nothing
        join = np.logical_and if operator == "AND" else np.logical_or
        combined: Mask = join.reduce(masks)
        return source & combined

    def _filter(self, rule: Any) -> Mask:
        if not isinstance(rule, dict):
            raise EngineError("a filter is not a JSON object")
        attribute, operator = rule.get("attribute"), rule.get("operator")
        if attribute not in ATTRIBUTES:
            raise EngineError(f"filter attribute: use one of {', '.join(ATTRIBUTES)}")
        if operator not in FILTER_OPERATORS:
            raise EngineError(f"filter operator: use one of {', '.join(sorted(FILTER_OPERATORS))}")
        if operator == "EMPTY":
            return ~self.room.has_value(attribute)
        if operator == "NOT_EMPTY":
            return self.room.has_value(attribute)
        values = rule.get("values")
        if not isinstance(values, list) or not values:
            raise EngineError(f"filter {operator} on {attribute} needs a non-empty 'values' list")
        if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
            raise EngineError(f"filter {operator} on {attribute}: values are strings or numbers")
        texts = sorted({str(v) for v in values})
        if operator == "CONTAINS_ANY_OF":
            return self.room.has_value(attribute, texts)
        if operator == "CONTAINS_NONE_OF":
            return ~self.room.has_value(attribute, texts)
        # CONTAINS_ALL_OF: every value (for age and gender, single values, at most one can hold).
        every: Mask = np.logical_and.reduce([self.room.has_value(attribute, [t]) for t in texts])
        return every

    def addressable(self, definition: Audience) -> tuple[Mask, Mask]:
        """A LOOKALIKE definition's ``(source, addressable base)``."""
        source = self.evaluate(_reference(definition, "sourceRef"))
        return source, (~source if _excludes_source(definition) else np.ones_like(source))

    def lookalike(self, definition: Audience) -> LookalikeRanking:
        """The ranking of a LOOKALIKE definition: one model per source, trained once."""
        _reach(definition)
        source_key = _canonical(definition.get("sourceRef"))
        key = _canonical([source_key, _excludes_source(definition)])
        if key not in self._rankings:
            source, addressable = self.addressable(definition)
            if source_key not in self._models:
                if int(source.sum()) < self.room.config.minimum_audience_size:
                    raise EngineError(
                        "a lookalike's source audience has fewer users than the room's minimum "
                        "audience size"
                    )
                self._models[source_key] = train_lookalike(
                    self.room, source, self.room.config.lookalike
                )
            model = self._models[source_key]
            positions = np.flatnonzero(addressable)
            # Best first; a stable sort of ascending positions breaks ties by user order.
            order = positions[np.argsort(-model.scores[positions], kind="stable")]
            self._rankings[key] = LookalikeRanking(source, addressable, order, model)
        return self._rankings[key]


def _excludes_source(definition: Audience) -> bool:
    exclude = definition.get("excludeSeedAudience", False)
    if not isinstance(exclude, bool):
        raise EngineError("LOOKALIKE definition: excludeSeedAudience is true or false")
    return exclude


def _kind(audience: Any) -> str:
    if not isinstance(audience, dict) or not isinstance(audience.get("kind"), str):
        raise EngineError("an audience (reference or definition) needs a string 'kind'")
    return str(audience["kind"])


def _reference(container: Audience, key: str, where: str | None = None) -> Audience:
    where = where or f"{_kind(container)} definition"
    reference = container.get(key)
    if not isinstance(reference, dict):
        raise EngineError(f"{where}: {key!r} is missing")
    if _kind(reference) not in ("BASE", "SEED", "CUSTOM"):
        raise EngineError(f"{where}: {key!r} is not a reference (BASE, SEED or CUSTOM)")
    return reference


def _audience_type(reference: Audience, where: str) -> str:
    audience_type = reference.get("audienceType")
    if not isinstance(audience_type, str):
        raise EngineError(f"{where}: 'audienceType' is missing")
    return audience_type


def _seed_type(definition: Audience) -> str:
    reference = definition.get("seedAudienceRef")
    if not isinstance(reference, dict):
        raise EngineError(f"{_kind(definition)} definition: 'seedAudienceRef' is missing")
    return _audience_type(reference, f"{_kind(definition)} definition")


def _combine_steps(definition: Audience) -> list[dict[str, Any]]:
    steps = definition.get("combine") or []
    if not isinstance(steps, list):
        raise EngineError("RULE_BASED definition: 'combine' is not a list")
    for step in steps:
        if not isinstance(step, dict) or step.get("operator") not in COMBINE_OPERATORS:
            raise EngineError("a combine step's operator is INTERSECT, UNION or DIFF")
        _reference(step, "sourceRef", "a combine step")
    return steps


def _reach(definition: Audience) -> int:
    reach = definition.get("reach")
    low, high = REACH_RANGE
    if not (isinstance(reach, int) and not isinstance(reach, bool) and low <= reach <= high):
        raise EngineError(f"a lookalike audience's reach is {low} to {high} percent")
    return reach


# -- the lookalike model --------------------------------------------------------------------


class FeatureSource(Protocol):
    @property
    def n_features(self) -> int: ...

    def rows(self, positions: Positions) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class EmbeddingFeatures:
    matrix: npt.NDArray[np.float32]

    @property
    def n_features(self) -> int:
        return int(self.matrix.shape[1])

    def rows(self, positions: Positions) -> npt.NDArray[np.float32]:
        return self.matrix[positions]


@dataclass(frozen=True)
class OneHotFeatures:
    """Users' 0/1 features in CSR form: user i has the codes ``codes[starts[i]:starts[i+1]]``."""

    starts: Positions
    codes: Positions
    n_features: int

    def rows(self, positions: Positions) -> npt.NDArray[np.float32]:
        out = np.zeros((len(positions), self.n_features), dtype=np.float32)
        first, counts = self.starts[positions], self.starts[positions + 1] - self.starts[positions]
        row = np.repeat(np.arange(len(positions)), counts)
        # Index of each entry: its row's first entry plus its offset within the row.
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        out[row, self.codes[np.repeat(first, counts) + offsets]] = 1.0
        return out


def feature_source(room: Room, settings: LookalikeSettings) -> FeatureSource:
    """Embeddings, or one-hot segments and demographics (module docstring)."""
    embeddings = room.embeddings if settings.features in (None, "embeddings") else None
    if embeddings is not None:
        return EmbeddingFeatures(embeddings)
    if settings.features == "embeddings":
        raise EngineError("the lookalike model is set to embeddings, but the room has none")
    parts: list[tuple[Positions, Positions]] = []
    offset = 0
    limits = {"segment": settings.max_segment_features}
    for attribute in ATTRIBUTES:
        rows = room.attribute(attribute)
        if len(rows.positions) == 0:
            continue
        counted = pc.value_counts(rows.values)
        values = counted.field("values")
        counts = np.asarray(counted.field("counts").to_numpy(), np.int64)
        # The values most users hold, ties by value: a stable order of the configuration alone.
        by_value = np.asarray(pc.array_sort_indices(values).to_numpy(), np.int64)
        ranked = by_value[np.argsort(-counts[by_value], kind="stable")]
        kept = ranked[: limits.get(attribute, MAX_DEMOGRAPHIC_VALUES)]
        code_of = np.full(len(values), -1, np.int64)
        code_of[kept] = offset + np.arange(len(kept))
        index = pc.index_in(rows.values, value_set=values).to_numpy(zero_copy_only=False)
        codes = code_of[np.asarray(index, np.int64)]
        parts.append((rows.positions[codes >= 0], codes[codes >= 0]))
        offset += len(kept)
    if offset == 0:
        raise EngineError("lookalike audiences need embeddings, segments or demographics")
    positions = np.concatenate([p for p, _ in parts])
    codes = np.concatenate([c for _, c in parts])
    order = np.argsort(positions, kind="stable")
    starts = np.zeros(room.n_users + 1, np.int64)
    starts[1:] = np.cumsum(np.bincount(positions, minlength=room.n_users))
    return OneHotFeatures(starts, codes[order], offset)


@dataclass(frozen=True)
class Split:
    """Training rows (bounded) and the stratified held-out test rows, positions sorted."""

    train: Positions
    train_labels: Mask
    test: Positions
    test_labels: Mask


def split_users(source: Mask, settings: LookalikeSettings) -> Split:
    rng = np.random.default_rng(settings.seed)
    positives = rng.permutation(np.flatnonzero(source))
    negatives = rng.permutation(np.flatnonzero(~source))
    if len(negatives) == 0:
        raise EngineError("a lookalike's source is the whole base audience: nothing to learn")
    held_pos = _share(len(positives), TEST_FRACTION)
    held_neg = _share(len(negatives), TEST_FRACTION)
    train_pos, train_neg = positives[held_pos:], negatives[held_neg:]
    cap = settings.max_training_rows
    # Positives are the rare class: keep them all unless they alone would fill over half.
    n_pos = min(len(train_pos), max(cap - len(train_neg), cap // 2))
    n_neg = min(len(train_neg), cap - n_pos)
    train = np.concatenate([train_pos[:n_pos], train_neg[:n_neg]])
    test = np.concatenate([positives[:held_pos], negatives[:held_neg]])
    return Split(
        *_sorted_with_labels(train, n_pos),
        *_sorted_with_labels(test, held_pos),
    )


def _share(n: int, fraction: Fraction) -> int:
    return int((2 * n * fraction.numerator + fraction.denominator) // (2 * fraction.denominator))


def _sorted_with_labels(rows: Positions, n_positive: int) -> tuple[Positions, Mask]:
    labels = np.zeros(len(rows), np.bool_)
    labels[:n_positive] = True
    order = np.argsort(rows, kind="stable")
    return rows[order], labels[order]


def _xgboost_params(settings: LookalikeSettings) -> dict[str, Any]:
    return {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "device": "cpu",
        "nthread": XGBOOST_THREADS,
        "seed": settings.seed,
        "max_depth": settings.max_depth,
        "eta": settings.learning_rate,
        "eval_metric": "auc",
        "verbosity": 0,
    }


def _import_xgboost() -> Any:
    """xgboost, imported on demand (sizes without a lookalike never load it)."""
    # OpenMP reads OMP_WAIT_POLICY once, when xgboost loads it. By default its threads spin at
    # every barrier: on a machine busy with other jobs that made 2 threads 3 to 20 times slower
    # than 1 (measured); waiting passively costs nothing measurable when the cores are free.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xgboost

    return xgboost


def fit_model(features: FeatureSource, split: Split, settings: LookalikeSettings) -> Any:
    """The trained ``xgboost.Booster``."""
    xgboost = _import_xgboost()
    data = xgboost.QuantileDMatrix(
        features.rows(split.train),
        label=split.train_labels.astype(np.float32),
        nthread=XGBOOST_THREADS,
    )
    return xgboost.train(_xgboost_params(settings), data, num_boost_round=settings.rounds)


def score_users(features: FeatureSource, booster: Any, n_users: int) -> npt.NDArray[np.float32]:
    """Every base user's score, in batches of at most :data:`SCORE_BATCH_VALUES` values."""
    scores = np.empty(n_users, dtype=np.float32)
    batch = max(1, SCORE_BATCH_VALUES // max(1, features.n_features))
    for start in range(0, n_users, batch):
        positions = np.arange(start, min(start + batch, n_users))
        scores[positions] = booster.inplace_predict(features.rows(positions))
    return scores


@dataclass(frozen=True)
class LookalikeModel:
    scores: npt.NDArray[np.float32]
    split: Split


def train_lookalike(room: Room, source: Mask, settings: LookalikeSettings) -> LookalikeModel:
    features = feature_source(room, settings)
    split = split_users(source, settings)
    booster = fit_model(features, split, settings)
    return LookalikeModel(score_users(features, booster, room.n_users), split)


def auc(labels: Mask, scores: npt.NDArray[np.floating[Any]]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    order = np.argsort(scores, kind="stable")
    _, inverse, counts = np.unique(scores[order], return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = (ends - (counts - 1) / 2.0)[inverse]
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_curve(labels: Mask, scores: npt.NDArray[np.floating[Any]]) -> dict[str, list[float]]:
    """TPR and FPR when targeting the top 0 %, 1 %, ..., 100 % of the test set by score."""
    hits = labels[np.argsort(-scores, kind="stable")]
    true_pos = np.concatenate([[0], np.cumsum(hits)])
    false_pos = np.concatenate([[0], np.cumsum(~hits)])
    reach = np.linspace(0.0, 1.0, ROC_POINTS)
    taken = np.ceil(reach * len(scores) - 1e-9).astype(np.int64)
    return {
        "fpr": _rounded(false_pos[taken] / max(1, len(hits) - int(hits.sum()))),
        "tpr": _rounded(true_pos[taken] / max(1, int(hits.sum()))),
        "reach": _rounded(taken / max(1, len(scores))),
    }


def _rounded(values: npt.NDArray[np.floating[Any]]) -> list[float]:
    return [round(float(v), DIGITS) for v in values]


# -- what is released -----------------------------------------------------------------------


def round_half_up(n: int, step: int) -> int:
    return (2 * n + step) // (2 * step) * step


def released_size(n: int, config: EngineConfig) -> int | None:
    """A size as released: None below the minimum audience size, else rounded."""
    return None if n < config.minimum_audience_size else round_half_up(n, config.rounding)


def noisy_counts(
    counts: Sequence[int], epsilon: float, sensitivity: int | None = None
) -> list[int]:
    """``counts`` with OpenDP's discrete Laplace noise: one release of the vector at
    ``epsilon``, its L1 sensitivity (what one unit can change in all of them together)
    ``sensitivity``, by default ``len(counts)`` (each count changed by at most 1): epsilon/m
    per count then."""
    # Not opendp.prelude: it imports opendp.extras, which loads scikit-learn (over a second).
    from opendp import domains, measurements, metrics
    from opendp.mod import binary_search, enable_features

    enable_features("contrib")  # OpenDP 0.16 gates its measurements behind "contrib"
    if not counts:
        return []
    sensitivity = len(counts) if sensitivity is None else sensitivity
    if sensitivity < 1:
        raise EngineError("a sensitivity is at least 1")
    space = domains.vector_domain(domains.atom_domain(T="i64")), metrics.l1_distance(T="i64")

    def loss(scale: float) -> float:
        mechanism = measurements.make_laplace(*space, scale=scale)
        return float(mechanism.map(sensitivity))  # type: ignore[no-untyped-call]

    # Laplace spends sensitivity/scale; OpenDP's map rounds conservatively, so when it wants a
    # hair more noise than that, its own binary search finds the smallest scale that fits.
    scale = sensitivity / epsilon
    if not loss(scale) <= epsilon:
        scale = binary_search(lambda s: loss(s) <= epsilon, bounds=(0.0, None))
    if not loss(scale) <= epsilon:
        raise EngineError("the noise could not be calibrated to the run's epsilon")
    noisy = measurements.make_laplace(*space, scale=scale)([int(c) for c in counts])
    return [int(v) for v in noisy]


# -- operations -----------------------------------------------------------------------------


@dataclass
class Run:
    """One operation's inputs."""

    input_dir: Path
    config: EngineConfig
    room: Room
    evaluator: AudienceEvaluator
    audience: Audience
    activation_column: str | None

    @classmethod
    def open(cls, input_dir: Path) -> Run:
        config = load_config(input_dir)
        audience, column = requested_audience(input_dir)
        room = Room(input_dir, config)
        evaluator = AudienceEvaluator(room)
        evaluator.check_enabled(audience)
        return cls(input_dir, config, room, evaluator, audience, column)

    def epsilon(self) -> float:
        return charged_epsilon(self.input_dir)


def _no_sensitivity_bound() -> EngineError:
    return EngineError(
        "in differential-privacy mode, the size of an audience built on a lookalike model "
        "(filtered, combined, or a lookalike of a lookalike) has no sensitivity bound: refused"
    )


def audience_size(run: Run) -> dict[str, bytes]:
    evaluator = run.evaluator
    name = evaluator.name_of(run.audience)
    if not run.config.dp:
        count = int(evaluator.evaluate(run.audience).sum())
    else:
        definition = evaluator.resolve(run.audience)
        if _kind(definition) == "LOOKALIKE":
            if evaluator.uses_lookalike(_reference(definition, "sourceRef")):
                raise _no_sensitivity_bound()
            reach = _reach(definition)
            _, addressable = evaluator.addressable(definition)
            (noisy,) = noisy_counts([int(addressable.sum())], run.epsilon())
            count = reach_count(reach, noisy)
        elif evaluator.uses_lookalike(definition):
            raise _no_sensitivity_bound()
        else:
            (count,) = noisy_counts([int(evaluator.evaluate(definition).sum())], run.epsilon())
    result = {"name": name, "size": released_size(count, run.config)}
    return {"audience_size.json": _json(result)}


def audience_user_list(run: Run) -> dict[str, bytes]:
    column = run.activation_column or run.config.activation_id
    if column is None:
        raise EngineError("this room has no activation column to export")
    users = run.evaluator.evaluate(run.audience)
    if int(users.sum()) < run.config.minimum_audience_size:
        raise EngineError(
            "the audience has fewer users than the room's minimum audience size: "
            "its user list is not released"
        )
    positions, codes, distinct = run.room.activation_rows(column)
    chosen = np.unique(codes[users[positions]])
    ids = distinct.take(pa.array(chosen))
    ids = ids.take(pc.array_sort_indices(ids))
    return {"audience_users.csv": _csv_lines(ids)}


def _csv_lines(ids: pa.Array) -> bytes:
    """One id per line; an id holding a quote, comma or line break is quoted as CSV quotes it
    (Arrow's CSV writer would quote every text value)."""
    if len(ids) == 0:
        return b""
    text = pc.cast(ids, pa.large_string())
    special = pc.match_substring_regex(text, r'[",\r\n]')
    mark = pa.scalar('"', pa.large_string())
    escaped = pc.replace_substring(text, '"', '""')
    quoted = pc.binary_join_element_wise(mark, escaped, mark, pa.scalar("", pa.large_string()))
    lines = pc.if_else(special, quoted, text)
    whole = pa.LargeListArray.from_arrays(pa.array([0, len(lines)], pa.int64()), lines)
    joined: str = pc.binary_join(whole, pa.scalar("\n", pa.large_string()))[0].as_py()
    return joined.encode("utf-8") + b"\n"


def lookalike_statistics(run: Run) -> dict[str, bytes]:
    evaluator, config = run.evaluator, run.config
    definition = evaluator.resolve(run.audience)
    if _kind(definition) != "LOOKALIKE":
        raise EngineError("lookalike statistics are for a LOOKALIKE audience")
    _reach(definition)
    if config.dp:
        return {"lookalike_audience.json": _json(_dp_lookalike_statistics(run, definition))}
    ranking = evaluator.lookalike(definition)
    split = ranking.model.split
    test_scores = ranking.model.scores[split.test]
    n_pos = int(split.test_labels.sum())
    if n_pos == 0 or n_pos == len(split.test):
        raise EngineError("the lookalike's test set has no positive or no negative example")
    curve = roc_curve(split.test_labels, test_scores)
    quality = {
        "roc_curve": {
            "auc": round(auc(split.test_labels, test_scores), DIGITS),
            **curve,
            "test_set_size": round_half_up(len(split.test), config.rounding),
            "test_set_positive_examples_size": round_half_up(n_pos, config.rounding),
        }
    }
    ranks = ranking.ranks()
    positives = np.sort(test_scores[split.test_labels])
    negatives = np.sort(test_scores[~split.test_labels])
    activation: dict[str, Any] = {}
    for column in config.activation_ids:
        positions, codes, distinct = run.room.activation_rows(column)
        # An id is in the top-k audience when its best-ranked user is.
        best = np.full(len(distinct), len(ranking.order), np.int64)
        np.minimum.at(best, codes, ranks[positions])
        best = np.sort(best[best < len(ranking.order)])
        filtered = []
        for reach in range(REACH_RANGE[0], REACH_RANGE[1] + 1):
            k = reach_count(reach, len(ranking.order))
            size = int(np.searchsorted(best, k, side="left"))
            threshold = ranking.model.scores[ranking.order[k - 1]] if k else np.inf
            tpr = 1.0 - np.searchsorted(positives, threshold, side="left") / len(positives)
            fpr = 1.0 - np.searchsorted(negatives, threshold, side="left") / len(negatives)
            filtered.append(
                {
                    "reach": reach,
                    "size": released_size(size, config),
                    "quality": {
                        "roc_curve": {"tpr": round(tpr, DIGITS), "fpr": round(fpr, DIGITS)}
                    },
                }
            )
        activation[column] = {
            "addressable_audience_size": released_size(len(best), config),
            "filtered_audiences": filtered,
        }
    result = {
        "seed_audience_size": released_size(int(ranking.source.sum()), config),
        "quality": quality,
        "activation_ids": activation,
        "privacy": {"mode": "rounding"},
    }
    return {"lookalike_audience.json": _json(result)}


def _dp_lookalike_statistics(run: Run, definition: Audience) -> dict[str, Any]:
    evaluator, config = run.evaluator, run.config
    if evaluator.uses_lookalike(_reference(definition, "sourceRef")):
        raise _no_sensitivity_bound()
    source, addressable = evaluator.addressable(definition)
    counts = [int(source.sum())]
    for column in config.activation_ids:
        positions, _, _ = run.room.activation_rows(column)
        counts.append(int((addressable & _mask(run.room.n_users, positions)).sum()))
    epsilon = run.epsilon()
    seed, *addressable_counts = noisy_counts(counts, epsilon)
    if seed < config.minimum_audience_size:  # post-processing of the noisy count
        raise EngineError(
            "a lookalike's source audience has fewer users than the room's minimum audience "
            "size (noisy count)"
        )
    activation = {
        column: {
            "addressable_audience_size": released_size(n, config),
            "filtered_audiences": [
                {"reach": r, "size": released_size(reach_count(r, n), config)}
                for r in range(REACH_RANGE[0], REACH_RANGE[1] + 1)
            ],
        }
        for column, n in zip(config.activation_ids, addressable_counts, strict=True)
    }
    return {
        "seed_audience_size": released_size(seed, config),
        "quality": None,
        "activation_ids": activation,
        "privacy": {
            "mode": "dp",
            "epsilon": epsilon,
            "noisy_counts": len(counts),
            "sizes": "users with an id in each activation column; filtered sizes are reach "
            "percent of the noisy addressable size",
            "quality": "not released: the model's ROC curve is not differentially private",
        },
    }


# -- overlap and insights (differential-privacy mode; the core's SQL computes them otherwise) --

OVERLAP_COLUMNS: Final = (
    "audience_type", "advertiser_size", "overlap_size", "activation_id", "activation_ids"
)  # fmt: skip
INSIGHT_COLUMNS: Final = ("audience_type", "aggregation", "key", "overlap_value", "base_value")
#: Insights in DP mode count at most this many segments of one user: the first, in key order.
MAX_SEGMENTS_PER_USER: Final = 10


def audience_types(room: Room) -> list[str]:
    """The seed audience types, sorted: the advertiser's labels, not base users' data."""
    _, types = room.seed_rows
    return sorted(str(t) for t in pc.unique(types.drop_null()).to_pylist())


def overlap_statistics(config: EngineConfig, room: Room, epsilon: float) -> dict[str, Any]:
    """The rows of the SQL ``overlap_statistics`` (same columns, same order), from noisy counts:
    per audience type the advertiser's distinct matching ids, the base users matched, and per
    activation column the matched users with an id in it (users, not ids: one user moves it by
    at most 1). Each count changes by at most 1 when one base user (or one advertiser id that
    matches at most one base user) is added or removed."""
    ids, types = room.seed_rows
    labels = audience_types(room)
    with_ids = [_mask(room.n_users, room.activation_rows(c)[0]) for c in config.activation_ids]
    counts: list[int] = []
    for label in labels:
        listed = ids.filter(pc.equal(types, label)).drop_null()
        matched = room.seed_users(label)
        counts += [len(pc.unique(listed)), int(matched.sum())]
        counts += [int((matched & present).sum()) for present in with_ids]
    noisy = [max(n, 0) for n in noisy_counts(counts, epsilon)]
    rows: list[list[Any]] = []
    per_type = 2 + len(with_ids)
    for index, label in enumerate(labels):
        advertiser, overlap, *activation = noisy[index * per_type : (index + 1) * per_type]
        sizes = [label, released_size(advertiser, config), released_size(overlap, config)]
        if not activation:
            rows.append([*sizes, None, None])
        for column, n in zip(config.activation_ids, activation, strict=True):
            shown = None if overlap < config.minimum_audience_size else released_size(n, config)
            rows.append([*sizes, column, shown])
    return _rows(OVERLAP_COLUMNS, rows, epsilon, len(counts), len(counts))


@dataclass(frozen=True)
class InsightPairs:
    """One aggregation's (user position, key index) pairs, and its keys (sorted)."""

    positions: Positions
    keys: npt.NDArray[np.int64]
    names: list[str]
    #: The most pairs one user has (the sensitivity of the group counts, per user).
    per_user: int


def insight_pairs(room: Room, minimum_group_size: int) -> dict[str, InsightPairs]:
    """Per aggregation (segment, age, gender, age_gender), the pairs insights count: only values
    held by at least ``minimum_group_size`` base users (the key set, the values
    get_data_attributes lists); a user's segments cut to :data:`MAX_SEGMENTS_PER_USER`."""
    rows = {name: room.attribute(name) for name in ("segment", "age", "gender")}
    age = pa.table({"p": rows["age"].positions, "age": rows["age"].values})
    gender = pa.table({"p": rows["gender"].positions, "gender": rows["gender"].values})
    both = age.join(gender, "p", join_type="inner")
    joined = pc.binary_join_element_wise(both.column("age"), both.column("gender"), "|")
    rows["age_gender"] = AttributeRows(
        np.asarray(both.column("p").to_numpy(), np.int64), joined.combine_chunks()
    )
    out: dict[str, InsightPairs] = {}
    for name, pairs in rows.items():
        if len(pairs.positions) == 0:
            continue
        distinct = pc.unique(pairs.values)
        codes = np.asarray(pc.index_in(pairs.values, value_set=distinct).to_numpy(), np.int64)
        # (user, value) pairs are unique in a validated table; counted once here regardless.
        unique = np.unique(pairs.positions * len(distinct) + codes)
        positions, codes = unique // len(distinct), unique % len(distinct)
        held = np.bincount(codes, minlength=len(distinct)) >= minimum_group_size
        names = sorted(str(v) for v in distinct.filter(pa.array(held)).to_pylist())
        if not names:
            continue
        index = pc.index_in(distinct, value_set=pa.array(names, pa.string()))
        remap = np.asarray(index.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)
        keys = remap[codes]
        keep = keys >= 0
        positions, keys = positions[keep], keys[keep]
        cap = MAX_SEGMENTS_PER_USER if name == "segment" else 1
        order = np.lexsort((keys, positions))
        positions, keys = positions[order], keys[order]
        starts = np.flatnonzero(np.r_[True, positions[1:] != positions[:-1]])
        rank = np.arange(len(positions)) - np.repeat(starts, np.diff(np.r_[starts, len(positions)]))
        keep = rank < cap
        out[name] = InsightPairs(positions[keep], keys[keep], names, cap)
    return out


def insights(config: EngineConfig, room: Room, epsilon: float) -> dict[str, Any]:
    """The rows of the SQL ``insights`` (same columns, same order), from noisy counts.

    Counted: per audience type its overlap (which decides whether its insights are released);
    per aggregation each key's base users and the base users with any key; per audience type
    and aggregation the same among the overlap. One base user changes the overlap counts by at
    most T (audience types) and, per aggregation, the key counts by at most its ``per_user``
    pairs plus 1 for the total, once for the base and once per audience type: the L1
    sensitivity is ``T + (1 + T) * sum(per_user + 1)``. Released as the SQL releases them:
    types whose noisy overlap reaches the minimum audience size; groups whose noisy overlap and
    base counts reach the minimum group size; rounded to the group rounding; shares of rounded
    counts with ``hide_absolute_values``.
    """
    labels = audience_types(room)
    pairs = insight_pairs(room, config.minimum_group_size)
    matched = [room.seed_users(label) for label in labels]
    counts: list[int] = [int(m.sum()) for m in matched]
    layout: list[tuple[int, str, int]] = []  # (audience type index or -1 for the base, name, K)
    for who in range(-1, len(labels)):
        for name, found in pairs.items():
            chosen = slice(None) if who < 0 else matched[who][found.positions]
            keys = found.keys[chosen]
            counts += np.bincount(keys, minlength=len(found.names)).tolist()
            counts.append(len(np.unique(found.positions[chosen])))
            layout.append((who, name, len(found.names)))
    sensitivity = len(labels) + (1 + len(labels)) * sum(p.per_user + 1 for p in pairs.values())
    noisy = [max(n, 0) for n in noisy_counts(counts, epsilon, sensitivity)]
    overlaps, offset = noisy[: len(labels)], len(labels)
    groups: dict[tuple[int, str], tuple[list[int], int]] = {}
    for who, name, size in layout:
        groups[(who, name)] = (noisy[offset : offset + size], noisy[offset + size])
        offset += size + 1
    k, step, hide = config.minimum_group_size, config.group_rounding, config.hide_absolute_values
    rows: list[list[Any]] = []
    for index, label in enumerate(labels):
        if overlaps[index] < config.minimum_audience_size:
            continue
        for name, found in pairs.items():
            base_counts, base_total = groups[(-1, name)]
            overlap_counts, overlap_total = groups[(index, name)]
            o_t, b_t = round_half_up(overlap_total, step), round_half_up(base_total, step)
            for key, o, b in zip(found.names, overlap_counts, base_counts, strict=True):
                if o < k or b < k:
                    continue
                o_n, b_n = round_half_up(o, step), round_half_up(b, step)
                values = (_ratio(o_n, o_t), _ratio(b_n, b_t)) if hide else (float(o_n), float(b_n))
                rows.append([label, name, key, *values])
            totals = (None, None) if hide else (float(o_t), float(b_t))
            rows.append([label, "total", name, *totals])
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    return _rows(INSIGHT_COLUMNS, rows, epsilon, len(counts), sensitivity)


def _ratio(n: int, total: int) -> float | None:
    return round(n / total, DIGITS) if total else None


def _rows(
    columns: Sequence[str], rows: list[list[Any]], epsilon: float, counts: int, sensitivity: int
) -> dict[str, Any]:
    privacy = {"mode": "dp", "epsilon": epsilon, "noisy_counts": counts, "sensitivity": sensitivity}
    return {"columns": list(columns), "rows": rows, "privacy": privacy}


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=1, allow_nan=False).encode("utf-8")


OPERATIONS: Final[dict[str, Callable[[Run], dict[str, bytes]]]] = {
    "audience_size": audience_size,
    "audience_user_list": audience_user_list,
    "lookalike_statistics": lookalike_statistics,
}


#: Operations on the whole room (no audience parameter), in differential-privacy mode only:
#: in rounding mode the core's SQL computes them. Each writes ``<operation>.json``.
ROOM_OPERATIONS: Final[dict[str, Callable[[EngineConfig, Room, float], dict[str, Any]]]] = {
    "overlap_statistics": overlap_statistics,
    "insights": insights,
}


def run(operation: str, input_dir: Path, output_dir: Path) -> None:
    """Run ``operation``; its files are written only once all of them are computed."""
    if operation in ROOM_OPERATIONS:
        config = load_config(input_dir)
        if not config.dp:
            raise EngineError(f"{operation} runs in the core's SQL outside differential privacy")
        epsilon = charged_epsilon(input_dir)
        released = ROOM_OPERATIONS[operation](config, Room(input_dir, config), epsilon)
        files = {f"{operation}.json": _json(released)}
    elif operation in OPERATIONS:
        files = OPERATIONS[operation](Run.open(input_dir))
    else:
        raise EngineError(f"unknown operation {operation!r}")
    for name, content in files.items():
        with open(output_dir / name, "wb") as handle:  # Python's open: see _read_json
            handle.write(content)


#: What a refused run writes instead of its result.
REFUSAL_FILE: Final = "refusal.json"


def main(operation: str) -> None:
    """The node's entry point: ``/input`` and ``/output``.

    A refusal is a result: only :data:`REFUSAL_FILE` (``{"refused": reason}``) is written and
    the script succeeds, so the person who asked reads the reason (a failing script's message
    is withheld unless the room enables logs). The reason never holds a data value
    (:class:`EngineError`); whether a run is refused was visible as failure anyway.
    """
    try:
        run(operation, Path("/input"), Path("/output"))
    except EngineError as exc:
        with open(Path("/output") / REFUSAL_FILE, "w", encoding="utf-8") as handle:
            json.dump({"refused": str(exc)}, handle)
