"""Helpers for room scripts (the counterpart of the reference product's ``decentriq_util``).

    import sealroom_util
    df = sealroom_util.read_tabular_data("/input/customers")   # dataset.csv + types.json
    sealroom_util.write_tabular_data(df, "/output")            # readable by a downstream SQL node

Only pandas is needed. Columns keep their types: integers as nullable ``Int64``, floats as
``float64``, everything else as text.
"""

from __future__ import annotations

import json
import os

import pandas as pd

DATASET_FILE = "dataset.csv"
TYPES_FILE = "types.json"
_PANDAS_TYPES = {"integer": "Int64", "float": "float64", "string": "string"}


def read_tabular_data(path: str) -> pd.DataFrame:
    """Read the table in directory ``path`` (``dataset.csv`` without header + ``types.json``)."""
    with open(os.path.join(path, TYPES_FILE), encoding="utf-8") as handle:
        columns = json.load(handle)["columns"]
    names = [c["name"] for c in columns]
    dtypes = {c["name"]: _PANDAS_TYPES.get(c["type"], "string") for c in columns}
    dataset = os.path.join(path, DATASET_FILE)
    if os.path.getsize(dataset) == 0:
        return pd.DataFrame({n: pd.Series(dtype=dtypes[n]) for n in names})
    return pd.read_csv(
        dataset, header=None, names=names, dtype=dtypes, keep_default_na=False, na_values=[""]
    )


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_integer_dtype(series.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(series.dtype):
        return "float"
    return "string"


def write_tabular_data(df: pd.DataFrame, path: str = "/output") -> None:
    """Write ``df`` as ``dataset.csv`` (no header) and ``types.json``; refuses to overwrite."""
    os.makedirs(path, exist_ok=True)
    dataset = os.path.join(path, DATASET_FILE)
    if os.path.exists(dataset):
        raise FileExistsError(f"{dataset} already exists")
    df.to_csv(dataset, header=False, index=False, encoding="utf-8")
    types = {
        "columns": [{"name": str(n), "type": _kind(df[n]), "nullable": True} for n in df.columns]
    }
    # UTF-8, not \u escapes, so that the R helper reads every column name back.
    with open(os.path.join(path, TYPES_FILE), "w", encoding="utf-8") as handle:
        json.dump(types, handle, ensure_ascii=False)
