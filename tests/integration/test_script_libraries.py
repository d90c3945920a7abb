"""The ``scripts`` extra works inside the real sandbox, and ``sealroom worker info`` lists it.

One script fits a tiny model with each library. The patients table is built so that every result
is known exactly: months = 100 - age, and exactly the five patients aged 55 or more died (so the
classes are separable and imbalanced).
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import shutil
from importlib import metadata

import pytest

import sealroom as sr
from sealroom.analytics import (
    AnalyticsDcrBuilder,
    Column,
    ContainerComputationNode,
    FormatType,
    PythonComputeNodeDefinition,
    TableDataNode,
    TableDataNodeDefinition,
)
from sealroom.compute.sandbox import sandbox_available
from sealroom.compute.sandbox.seccomp import seccomp_available
from sealroom.compute.scripts.libraries import library_versions
from tests.integration.conftest import BANK, InProcessPlatform, run_cli

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

AGES = range(40, 60)
PATIENTS_CSV = "".join(f"{age},{100 - age},{int(age >= 55)}\n" for age in AGES).encode()

# Import module -> distribution, for comparing the versions seen inside with the host's metadata.
MODULES = {
    "imblearn": "imbalanced-learn",
    "lifelines": "lifelines",
    "matplotlib": "matplotlib",
    "pyreadstat": "pyreadstat",
    "sklearn": "scikit-learn",
    "sksurv": "scikit-survival",
    "scipy": "scipy",
    "seaborn": "seaborn",
    "statsmodels": "statsmodels",
    "xgboost": "xgboost-cpu",
}

SCRIPT = f"""
import importlib, json, os, tempfile

import matplotlib
matplotlib.use("Agg")  # no display in the sandbox
import matplotlib.pyplot as plt
import numpy as np
import pyreadstat
import scipy.stats
import seaborn as sns
import sksurv.metrics
import statsmodels.api as sm
import xgboost
from imblearn.over_sampling import RandomOverSampler
from lifelines import KaplanMeierFitter
from sklearn.linear_model import LogisticRegression

import sealroom_util

df = sealroom_util.read_tabular_data("/input/patients")
age = df[["age"]].to_numpy(dtype=float)
died = df["died"].to_numpy(dtype=int)
months = df["months"].to_numpy(dtype=float)
results = {{"versions": {{m: importlib.import_module(m).__version__ for m in {sorted(MODULES)!r}}}}}

logistic = LogisticRegression().fit(age, died)
results["logistic_accuracy"] = float(logistic.score(age, died))
results["logistic_coefficient_positive"] = bool(logistic.coef_[0][0] > 0)
# n_jobs=2 with joblib's default (process) backend: runs in sequence in the sandbox, no error.
from sklearn.model_selection import cross_val_score
results["cv_folds"] = len(cross_val_score(LogisticRegression(), age, died, cv=2, n_jobs=2))
# n_jobs=2: xgboost's OpenMP threads (threads are allowed; new processes are not).
booster = xgboost.XGBClassifier(n_estimators=10, max_depth=2, n_jobs=2, random_state=0)
results["xgboost_accuracy"] = float((booster.fit(age, died).predict(age) == died).mean())
ols = sm.OLS(months, sm.add_constant(age)).fit()
results["ols_params"] = [round(float(p), 6) for p in ols.params]
results["pearson_r"] = round(float(scipy.stats.pearsonr(age[:, 0], months).statistic), 6)
results["km_median"] = float(KaplanMeierFitter().fit(months).median_survival_time_)
_, resampled = RandomOverSampler(random_state=0).fit_resample(age, died)
results["oversampled_counts"] = np.bincount(resampled).tolist()
results["concordance"] = float(
    sksurv.metrics.concordance_index_censored(died.astype(bool), months, -months)[0]
)
with tempfile.TemporaryDirectory() as scratch:
    path = os.path.join(scratch, "patients.sav")
    pyreadstat.write_sav(df[["age", "died"]].astype("int64"), path)
    back, _ = pyreadstat.read_sav(path)
    results["spss_ages"] = back["age"].astype(int).tolist()

figure, axes = plt.subplots()
sns.scatterplot(data=df.astype("float64"), x="age", y="months", ax=axes)
figure.savefig("/output/scatter.png")
with open("/output/results.json", "w") as handle:
    json.dump(results, handle)
"""


def _room(platform: InProcessPlatform) -> object:
    client = platform.client(BANK)
    builder = AnalyticsDcrBuilder(client=client).with_name("libraries").with_owner(BANK)
    builder.add_node_definition(
        TableDataNodeDefinition(
            name="patients",
            columns=[
                Column(name=name, format_type=FormatType.INTEGER, is_nullable=False)
                for name in ("age", "months", "died")
            ],
            is_required=True,
        )
    )
    builder.add_node_definition(
        PythonComputeNodeDefinition(name="fit", script=SCRIPT, dependencies=["patients"])
    )
    builder.add_participant(BANK, data_owner_of=["patients"], analyst_of=["fit"])
    dcr = client.publish_analytics_dcr(builder.build())
    patients = dcr.get_node("patients")
    assert isinstance(patients, TableDataNode)
    patients.upload_and_publish_dataset(io.BytesIO(PATIENTS_CSV), sr.Key(), "patients.csv")
    return dcr


def test_every_script_library_fits_a_model_in_the_sandbox(app_platform: InProcessPlatform) -> None:
    dcr = _room(app_platform)
    node = dcr.get_node("fit")  # type: ignore[attr-defined]
    assert isinstance(node, ContainerComputationNode)
    archive = node.run_computation_and_get_results_as_zip(timeout=120)
    results = json.loads(archive.read("results.json"))

    host = library_versions()
    assert results.pop("versions") == {module: host[dist] for module, dist in MODULES.items()}
    assert results == {
        "logistic_accuracy": 1.0,
        "logistic_coefficient_positive": True,
        "cv_folds": 2,
        "xgboost_accuracy": 1.0,
        "ols_params": [100.0, -1.0],  # months = 100 - age, exactly
        "pearson_r": -1.0,
        # Every death observed at months 41..60: S(t) first drops below 0.5 after the 11th.
        "km_median": 51.0,
        "oversampled_counts": [15, 15],  # 15 survivors, 5 deaths oversampled to 15
        # Risk = fewer months: every comparable pair is ordered right.
        "concordance": 1.0,
        "spss_ages": list(AGES),
    }
    assert archive.read("scatter.png").startswith(b"\x89PNG\r\n\x1a\n")


def test_worker_info_json_lists_the_installed_versions() -> None:
    result = run_cli("worker", "info", "--json", env=dict(os.environ))
    report = json.loads(result.stdout)
    assert report["libraries"] == library_versions()
    assert all(version is not None for version in report["libraries"].values())
    assert report["libraries"]["xgboost-cpu"] == metadata.version("xgboost-cpu")
    assert report["python"]["version"] == platform.python_version()
    assert report["sandbox"] == {
        "available": sandbox_available(),
        "bwrap": shutil.which("bwrap"),
        "bwrap_version": report["sandbox"]["bwrap_version"],
        "libseccomp": seccomp_available(),
    }
    if shutil.which("bwrap"):
        assert report["sandbox"]["bwrap_version"].startswith("bubblewrap ")
    if shutil.which("R"):
        assert report["r"]["version"].startswith("R version ")
    else:
        assert report["r"] == {"path": None, "version": None}

    text = run_cli("worker", "info", env=dict(os.environ)).stdout
    for name, version in library_versions().items():
        assert re.search(rf"^  {re.escape(name)} +{re.escape(str(version))}$", text, re.M)
