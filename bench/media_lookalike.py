"""The media audience engine's lookalike model at N base users with 32-dimensional embeddings.

Generates N users (``user-0000001``...), one matching id each, one embedding scope of 32
dimensions (4 decimals, as a publisher's CSV would hold them) and a seed audience of ~5 % of the
users drawn with a probability that rises along one direction of the embedding space (a
learnable but noisy signal: the best possible AUC is well below 1). Tables are written with the
core's own ``write_table_dir`` (``dataset.csv`` + ``types.json``), then the engine
(``sealroom/media/engine_script.py``, loaded by path as the room embeds it) is timed phase by
phase, in this process:

* read: ``matching`` and the seed overlap; then ``embeddings`` (CSV to one float32 matrix);
* train: the stratified split, the training rows' features and XGBoost (hist, 2 threads);
* score: every base user, in batches;
* AUC on the held-out fifth, beside the AUC of the true direction (the best any model can do);

then end to end, each operation as a room's node runs it (``run(operation, input, output)``):
``audience_size`` of the seed audience, and ``lookalike_statistics`` of a 10 % lookalike. With
``--sandbox``, ``lookalike_statistics`` also runs as a script in the real sandbox with the core's
default limits (2 GiB address space).

Usage::

    PYTHONPATH=src .venv/bin/python bench/media_lookalike.py [N=1000000] [--sandbox]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa

import sealroom
from sealroom.compute.sandbox import (
    DEFAULT_LIMITS,
    Mount,
    python_env,
    python_libraries,
    python_runtime,
    run_sandboxed,
)
from sealroom.compute.scripts.layout import write_table_dir

ENGINE_PATH = Path(sealroom.__file__).parent / "media" / "engine_script.py"
DIMS = 32
SEED_SHARE = 0.05
T = TypeVar("T")


def load_engine() -> ModuleType:
    spec = importlib.util.spec_from_file_location("media_engine", ENGINE_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_room(root: Path, n: int) -> np.ndarray:
    """Write the room's inputs; returns each user's true projection (the best possible score)."""
    rng = np.random.default_rng(11)
    users = pa.array([f"user-{i:07d}" for i in range(n)])
    matching_ids = pa.array([f"m-{i:07d}" for i in range(n)])
    vectors = np.round(rng.normal(size=(n, DIMS)), 4)
    # P(seed) rises with the projection on one direction, plus noise the model cannot see.
    direction = rng.normal(size=DIMS)
    signal = vectors @ direction / np.linalg.norm(direction) + rng.normal(scale=1.0, size=n)
    cut = np.quantile(signal, 1 - SEED_SHARE)
    seed = np.flatnonzero(signal > cut)
    write_table_dir(pa.table({"userId": users, "matchingId": matching_ids}), root / "matching")
    write_table_dir(
        pa.table(
            {"matching_id": matching_ids.take(pa.array(seed)), "audience_type": ["L"] * len(seed)}
        ),
        root / "audiences",
    )
    embeddings = {"user_id": users, "scope": pa.array(["web"] * n)}
    embeddings.update({f"e{j}": pa.array(vectors[:, j]) for j in range(DIMS)})
    write_table_dir(pa.table(embeddings), root / "embeddings")
    (root / "code").mkdir()
    config = {
        "matching_id": "matchingId",
        "user_id": "userId",
        "activation_ids": ["userId"],
        "activation_id": "userId",
        "minimum_audience_size": 100,
        "rounding": 100,
        "privacy": {"mode": "rounding"},
        "lookalike": {"features": "embeddings", "max_training_rows": 200_000, "seed": 1},
    }
    (root / "code" / "media_config.json").write_text(json.dumps(config))
    best: np.ndarray = vectors @ direction
    return best


def ask(root: Path, audience: dict[str, Any]) -> None:
    (root / "parameters.json").write_text(json.dumps({"audience": json.dumps(audience)}))


def timed(label: str, call: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = call()
    print(f"  {label:<44} {time.perf_counter() - start:7.2f} s")
    return result


def in_sandbox(root: Path, output: Path, work: Path, operation: str) -> float:
    (root / "code" / "main.py").write_text(f"{ENGINE_PATH.read_text()}\nmain({operation!r})\n")
    mounts = [Mount(root / "code", "/input/code"), Mount(root / "parameters.json",
                                                         "/input/parameters.json")]  # fmt: skip
    mounts += [Mount(root / t, f"/input/{t}") for t in ("matching", "audiences", "embeddings")]
    interpreter, runtime = python_runtime()
    start = time.perf_counter()
    result = run_sandboxed(
        [str(interpreter), "-B", "-s", "/input/code/main.py"],
        mounts=mounts,
        output_dir=output,
        work_dir=work,
        limits=DEFAULT_LIMITS,
        runtime=runtime,
        libraries=python_libraries(),
        env=python_env(),
    )
    if result.exit_code != 0 or result.timed_out:
        tail = result.stderr.decode(errors="replace")[-2000:]
        raise SystemExit(f"the sandboxed run failed ({result.exit_code}):\n{tail}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("users", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--sandbox", action="store_true", help="also run it in the sandbox")
    args = parser.parse_args()
    engine = load_engine()
    source = {"kind": "SEED", "audienceType": "L"}
    lookalike = {"kind": "LOOKALIKE", "sourceRef": source, "reach": 10, "excludeSeedAudience": True}
    with tempfile.TemporaryDirectory(prefix="bench-media-lookalike-") as scratch:
        root, output = Path(scratch) / "input", Path(scratch) / "output"
        root.mkdir()
        output.mkdir()
        start = time.perf_counter()
        best = write_room(root, args.users)
        size_mb = sum(p.stat().st_size for p in root.rglob("*.csv")) / 1e6
        print(f"{args.users:,} users, {DIMS}-dim embeddings, {size_mb:,.0f} MB of CSV "
              f"(written in {time.perf_counter() - start:.1f} s)")  # fmt: skip
        # Its import (~1.5 s, mostly scikit-learn's) is not the model's time; the engine's own
        # import sets OpenMP's wait policy first.
        engine._import_xgboost()

        config = engine.load_config(root)
        settings = config.lookalike
        print("phases (in this process):")
        room = timed("read matching", lambda: engine.Room(root, config))
        evaluator = engine.AudienceEvaluator(room)
        seed = timed("seed overlap", lambda: evaluator.evaluate(source))
        timed("read embeddings (mean over scopes)", lambda: room.embeddings)
        features = engine.feature_source(room, settings)
        split = engine.split_users(seed, settings)
        booster = timed(
            f"train ({len(split.train):,} rows, {settings.rounds} rounds)",
            lambda: engine.fit_model(features, split, settings),
        )
        scores = timed(
            f"score ({room.n_users:,} users)",
            lambda: engine.score_users(features, booster, room.n_users),
        )
        auc = engine.auc(split.test_labels, scores[split.test])
        ceiling = engine.auc(split.test_labels, best[split.test])
        print(f"  AUC on the held-out set ({len(split.test):,} users, "
              f"{int(split.test_labels.sum()):,} positive): {auc:.3f} "
              f"(the true direction's: {ceiling:.3f})")  # fmt: skip
        print("operations end to end (fresh state, as a node runs them):")
        ask(root, source)
        timed("audience_size (seed audience)", lambda: engine.run("audience_size", root, output))
        print("   ", json.loads((output / "audience_size.json").read_text()))
        ask(root, lookalike)
        timed("lookalike_statistics (10 % lookalike)",
              lambda: engine.run("lookalike_statistics", root, output))  # fmt: skip
        stats = json.loads((output / "lookalike_audience.json").read_text())
        ten = stats["activation_ids"]["userId"]["filtered_audiences"][9]["size"]
        print(f"    seed {stats['seed_audience_size']:,}, AUC "
              f"{stats['quality']['roc_curve']['auc']}, 10 % audience {ten:,}")  # fmt: skip
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process: {peak:,.0f} MiB")
        if args.sandbox:
            (output / "lookalike_audience.json").unlink()
            work = Path(scratch) / "work"
            work.mkdir()
            seconds = in_sandbox(root, output, work, "lookalike_statistics")
            inside = json.loads((output / "lookalike_audience.json").read_text())
            same = inside == stats
            print(f"lookalike_statistics in the sandbox (2 GiB limit): {seconds:.2f} s, "
                  f"same result: {same}")  # fmt: skip


if __name__ == "__main__":
    main()
