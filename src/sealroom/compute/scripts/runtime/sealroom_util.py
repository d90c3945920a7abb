"""Helpers for room scripts (the counterpart of the reference product's ``decentriq_util``).

    import sealroom_util
    df = sealroom_util.read_tabular_data("/input/customers")   # dataset.csv + types.json
    sealroom_util.write_tabular_data(df, "/output")            # readable by a downstream SQL node

Only pandas is needed. Columns keep their types (``types.json``): integers as nullable
``Int64``, floats as ``float64``, decimals as exact ``decimal.Decimal`` objects, booleans as
nullable ``boolean``, dates and timestamps as ``datetime64`` (timestamp_tz in UTC), text as
``string``. Writing maps them back; a column of ``Decimal`` objects is written as a DECIMAL(38, s)
with as many digits after the point (s) as its longest value has.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal

import pandas as pd

DATASET_FILE = "dataset.csv"
TYPES_FILE = "types.json"
_PANDAS_TYPES = {"integer": "Int64", "float": "float64", "string": "string", "boolean": "boolean"}
# Read as text first, then converted: pandas' CSV reader has no dtype for these.
_DATED = {"date", "timestamp", "timestamp_tz"}
_MAX_PRECISION = 38


def read_tabular_data(path: str) -> pd.DataFrame:
    """Read the table in directory ``path`` (``dataset.csv`` without header + ``types.json``)."""
    with open(os.path.join(path, TYPES_FILE), encoding="utf-8") as handle:
        columns = json.load(handle)["columns"]
    names = [c["name"] for c in columns]
    kinds = {c["name"]: c["type"] for c in columns}
    dtypes = {n: _PANDAS_TYPES.get(kind, "string") for n, kind in kinds.items()}
    dataset = os.path.join(path, DATASET_FILE)
    if os.path.getsize(dataset) == 0:
        frame = pd.DataFrame({n: pd.Series(dtype=dtypes[n]) for n in names})
    else:
        frame = pd.read_csv(
            dataset, header=None, names=names, dtype=dtypes, keep_default_na=False, na_values=[""]
        )
    for name, kind in kinds.items():
        if kind == "decimal":
            frame[name] = frame[name].map(Decimal, na_action="ignore").astype(object)
        elif kind in _DATED:
            frame[name] = pd.to_datetime(frame[name], utc=kind == "timestamp_tz", format="ISO8601")
    return frame


def _column(name: object, series: pd.Series) -> dict[str, object]:
    spec: dict[str, object] = {"name": str(name), "type": "string", "nullable": True}
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        spec["type"] = "boolean"
    elif pd.api.types.is_integer_dtype(dtype):
        spec["type"] = "integer"
    elif pd.api.types.is_float_dtype(dtype):
        spec["type"] = "float"
    elif isinstance(dtype, pd.DatetimeTZDtype):
        spec["type"] = "timestamp_tz"
    elif pd.api.types.is_datetime64_dtype(dtype):
        spec["type"] = "timestamp"
    elif pd.api.types.is_object_dtype(dtype):
        values = series.dropna()
        if len(values) and all(isinstance(v, Decimal) and v.is_finite() for v in values):
            scale = max(0, *(-int(v.as_tuple().exponent) for v in values))
            whole = max(len(v.as_tuple().digits) + int(v.as_tuple().exponent) for v in values)
            if max(whole, 1) + scale <= _MAX_PRECISION:  # the widest decimal SQL has
                spec.update(type="decimal", precision=_MAX_PRECISION, scale=scale)
    return spec


def _csv_ready(series: pd.Series, spec: dict[str, object]) -> pd.Series:
    """``series`` as ``dataset.csv`` must spell it (ISO 8601 times, lower-case booleans)."""
    kind = spec["type"]
    if kind in ("timestamp", "timestamp_tz"):
        times = series.dt.tz_convert("UTC") if kind == "timestamp_tz" else series
        text: pd.Series = times.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
        return text + "Z" if kind == "timestamp_tz" else text
    if kind == "boolean":
        return series.map({True: "true", False: "false"}, na_action="ignore")
    if kind == "decimal":
        return series.map(lambda v: f"{v:f}", na_action="ignore")
    return series


def write_tabular_data(df: pd.DataFrame, path: str = "/output") -> None:
    """Write ``df`` as ``dataset.csv`` (no header) and ``types.json``; refuses to overwrite."""
    os.makedirs(path, exist_ok=True)
    dataset = os.path.join(path, DATASET_FILE)
    if os.path.exists(dataset):
        raise FileExistsError(f"{dataset} already exists")
    columns = [_column(name, df.iloc[:, i]) for i, name in enumerate(df.columns)]
    ready = pd.DataFrame(
        {i: _csv_ready(df.iloc[:, i], spec) for i, spec in enumerate(columns)}, index=df.index
    )
    ready.to_csv(dataset, header=False, index=False, encoding="utf-8")
    types = {"columns": columns}
    # UTF-8, not \u escapes, so that the R helper reads every column name back.
    with open(os.path.join(path, TYPES_FILE), "w", encoding="utf-8") as handle:
        json.dump(types, handle, ensure_ascii=False)
