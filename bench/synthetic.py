"""DP synthetic data: our worker against smartnoise-synth's MST, on the same table, in one run.

Run: ``PYTHONPATH=src .venv/bin/python bench/synthetic.py [ROWS] [--aim]``. A table of ROWS
(default 10,000) x 6 columns (three categorical, three bounded numeric, with dependencies
between them) is synthesised at epsilon = 1:

* by our worker, ``run_synthetic.py`` in the real sandbox as the core runs it (unsandboxed when
  bubblewrap is missing), model MST, bounds given as the schema would (goal: <= 10 s end to
  end on a 2-core machine, interpreter start and imports included); with ``--aim`` also AIM;
* by smartnoise-synth: ``Synthesizer.create("mst", epsilon=1.0).fit_sample(df,
  preprocessor_eps=0.1)`` with its own default preprocessing (it infers the domain from the data
  and spends 0.1 of the epsilon on bounds), in a child process, timed the same way. It is not a
  Sealroom dependency (its metadata wants pandas < 3, OpenDP < 0.15 and torch); for this
  comparison only: ``pip install --no-deps smartnoise-synth==1.0.8 smartnoise-sql==1.0.10
  antlr4-python3-runtime==4.9.3`` (skipped with a message when missing).

Quality is the average total variation distance (0 = same, 1 = disjoint) of the 15 two-way
marginals (and the 6 one-way ones) against the real table, with ``sealroom_synth``'s own
measure; a bootstrap resample of the real table gives the floor set by sampling alone. JAX is
never loaded in this process (it would make every later fork unsafe): both models run in
children.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

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
from sealroom.compute.scripts import RUNTIME_DIR, write_table_dir

sys.path.insert(0, str(RUNTIME_DIR))
import sealroom_synth
import sealroom_util

EPSILON = 1.0
GOAL_SECONDS = 10.0
RUNTIME_PATH = "/opt/sealroom/runtime"
COLUMNS = ["region", "product", "channel", "age", "income", "visits"]
BOUNDS: dict[str, list[float]] = {"age": [18, 90], "income": [0, 200_000], "visits": [0, 50]}


def make_table(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    regions = ["north", "south", "east", "west", "centre"]
    region = rng.choice(regions, rows, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    age = rng.integers(18, 91, rows)
    # product depends on age, channel on region, income on age and region, visits on channel.
    young = age < 40
    product = np.where(
        young,
        rng.choice(
            [f"p{i}" for i in range(8)], rows, p=[0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05]
        ),
        rng.choice(
            [f"p{i}" for i in range(8)], rows, p=[0.05, 0.05, 0.1, 0.1, 0.15, 0.15, 0.2, 0.2]
        ),
    )
    online = np.isin(region, ["north", "centre"])
    channel = np.where(
        online,
        rng.choice(["web", "app", "store"], rows, p=[0.5, 0.4, 0.1]),
        rng.choice(["web", "app", "store"], rows, p=[0.2, 0.2, 0.6]),
    )
    income = np.clip(20_000 + 900 * (age - 18) + rng.normal(0, 12_000, rows), 0, 200_000)
    income = np.where(region == "west", income * 1.3, income).clip(0, 200_000)
    visits = np.clip(np.where(channel == "app", 20, 5) + rng.poisson(4, rows), 0, 50)
    return pd.DataFrame(
        {
            "region": pd.Series(region, dtype="string"),
            "product": pd.Series(product, dtype="string"),
            "channel": pd.Series(channel, dtype="string"),
            "age": pd.Series(age, dtype="Int64"),
            "income": pd.Series(np.round(income, 2), dtype="float64"),
            "visits": pd.Series(visits, dtype="Int64"),
        }
    )


def worker_config(model: str) -> dict[str, Any]:
    kinds = {"age": "integer", "income": "float", "visits": "integer"}
    columns = [
        {
            "index": i, "name": name, "data_type": kinds.get(name, "string"), "nullable": False,
            "mask": None, "bounds": BOUNDS.get(name),
        }
        for i, name in enumerate(COLUMNS)
    ]  # fmt: skip
    return {
        "version": 1, "epsilon": EPSILON, "model": model,
        "output_original_data_statistics": False, "columns": columns,
    }  # fmt: skip


def run_worker(base: Path, data: pd.DataFrame, model: str) -> tuple[pd.DataFrame, float, str]:
    """Our worker as the core runs it; the synthetic table, wall seconds and where it ran."""
    code, table, output, work = (base / d for d in ("code", "table", "output", "work"))
    for directory in (code, output, work):
        directory.mkdir(parents=True)
    (code / "config.json").write_text(json.dumps(worker_config(model)))
    write_table_dir(pa.Table.from_pandas(data, preserve_index=False), table)
    mounts = [Mount(code, "/input/code"), Mount(table, "/input/table")]
    limits = SandboxLimits(timeout_seconds=600)
    started = time.perf_counter()
    if sandbox_available():
        interpreter, runtime = python_runtime()
        env = {**python_env(), "PYTHONPATH": f"{RUNTIME_PATH}:{SITE_PACKAGES_PATH}"}
        argv = [str(interpreter), "-B", "-s", f"{RUNTIME_PATH}/run_synthetic.py", "/input/table"]
        result = run_sandboxed(
            argv, mounts=mounts, output_dir=output, work_dir=work, limits=limits,
            runtime=runtime, libraries=[*python_libraries(), (RUNTIME_DIR, RUNTIME_PATH)], env=env,
        )  # fmt: skip
        where = "sandbox"
    else:
        site_packages, _ = python_libraries()[0]
        env = {**python_env(), "PYTHONPATH": f"{RUNTIME_DIR}:{site_packages}"}
        argv = [sys.executable, "-B", "-s", str(RUNTIME_DIR / "run_synthetic.py"), "/input/table"]
        result = run_unsandboxed(
            argv, mounts=mounts, output_dir=output, work_dir=work, limits=limits, env=env
        )
        where = "no sandbox (bubblewrap missing)"
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"worker failed:\n{result.stderr.decode()[-3000:]}")
    return sealroom_util.read_tabular_data(str(output)), seconds, where


_SMARTNOISE_CHILD = """
import sys, time
import pandas as pd
started = time.perf_counter()
from snsynth import Synthesizer
imported = time.perf_counter()
data = pd.read_parquet(sys.argv[1])
# Its own inference wants plain numpy/object columns, not pandas' nullable ones.
data = data.astype({c: "object" for c in data.columns if str(data[c].dtype) == "string"})
data = data.astype({c: "int64" for c in data.columns if str(data[c].dtype) == "Int64"})
synthesizer = Synthesizer.create("mst", epsilon=%r)
synthetic = synthesizer.fit_sample(data, preprocessor_eps=0.1)
synthetic.to_parquet(sys.argv[2])
print("FIT_SECONDS", time.perf_counter() - imported)
"""


def run_smartnoise(base: Path, data: pd.DataFrame) -> tuple[pd.DataFrame, float, float] | None:
    real_path, synthetic_path = base / "real.parquet", base / "synthetic.parquet"
    data.to_parquet(real_path)
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _SMARTNOISE_CHILD % EPSILON, str(real_path), str(synthetic_path)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        print(f"  smartnoise-synth MST skipped (not installed?):\n{child.stderr[-2000:]}")
        return None
    fit = float(
        next(x for x in child.stdout.splitlines() if x.startswith("FIT_SECONDS")).split()[1]
    )
    synthetic = pd.read_parquet(synthetic_path)
    return synthetic.astype({c: str(data[c].dtype) for c in data.columns}), seconds, fit


def distances(real: pd.DataFrame, synthetic: pd.DataFrame) -> tuple[float, float]:
    one, two = sealroom_synth.marginal_distances(real, synthetic, COLUMNS)
    return float(np.mean(list(one.values()))), float(np.mean(list(two.values())))


def main() -> None:
    rows = next((int(a) for a in sys.argv[1:] if a.isdigit()), 10_000)
    models = ["mst", "aim"] if "--aim" in sys.argv else ["mst"]
    data = make_table(rows, np.random.default_rng(2024))
    floor = data.sample(n=rows, replace=True, random_state=1).reset_index(drop=True)
    print(f"{rows} rows x {len(COLUMNS)} columns, epsilon {EPSILON}")
    one, two = distances(data, floor)
    print(f"  bootstrap resample (sampling floor):   1-way TVD {one:.4f}   2-way TVD {two:.4f}")
    shm = Path("/dev/shm")  # the server's default scratch: RAM-backed, not under /tmp
    base = Path(tempfile.mkdtemp(prefix="sealroom-bench-synth-", dir=shm if shm.is_dir() else None))
    try:
        ours: dict[str, float] = {}
        for model in models:
            synthetic, seconds, where = run_worker(base / model, data, model)
            one, two = distances(data, synthetic)
            ours[model] = seconds
            verdict = "ok" if seconds <= GOAL_SECONDS else f"OVER the {GOAL_SECONDS:g} s goal"
            print(
                f"  sealroom worker, {model.upper()} ({where}): 1-way TVD {one:.4f}   "
                f"2-way TVD {two:.4f}   {seconds:.1f} s end to end ({verdict})"
            )
        raw = run_smartnoise(base, data)
        if raw is not None:
            synthetic, seconds, fit = raw
            one, two = distances(data, synthetic)
            print(
                f"  smartnoise-synth MST (default preprocessing): 1-way TVD {one:.4f}   "
                f"2-way TVD {two:.4f}   {seconds:.1f} s end to end ({fit:.1f} s fit + sample)"
            )
            print(f"  time ratio sealroom MST / smartnoise MST: {ours['mst'] / seconds:.2f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
