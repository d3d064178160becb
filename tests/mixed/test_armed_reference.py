"""ARMED gives the predictions it gave before it became a plain skorch net.

``tests/mixed/data/armed_before_rewrite.json`` holds predictions of a few small fits
written by orthokit at commit 19d9927, the last one whose ARMED estimators
subclassed skorch's ``NeuralNet`` without calling its ``__init__``; the same
fits with the same ``random_state`` must give them again. (The family
benchmark's quick run, 128 arrays of predictions and variances, was compared
the same way when the rewrite landed: bitwise equal.)
"""

import json
import pathlib

import numpy as np
import pandas as pd
import pytest
import torch

from orthokit.datasets import make_spirals
from orthokit.mixed import ARMEDClassifier, ARMEDRegressor

REFERENCE = pathlib.Path(__file__).parent / "data" / "armed_before_rewrite.json"
SMALL = {"max_epochs": 3, "batch_size": 16, "random_state": 0}
# The regressor's defaults when the reference was written (the classifier's);
# since issue 18 it has no hidden-layer slopes and kl_weight=1 by default.
REGRESSOR_BEFORE = {"nonlinear_slopes": True, "kl_weight": 0.1}


def _regression_data():
    rng = np.random.default_rng(0)
    site = np.repeat([f"s{c}" for c in range(4)], 20)
    x1, x2 = rng.normal(size=(2, len(site)))
    shift = pd.Series(site).map({"s0": -1.0, "s1": 0.0, "s2": 0.5, "s3": 1.0})
    y = 1.0 + 2.0 * x1 - x2 + shift.to_numpy() + rng.normal(0, 0.3, len(site))
    return pd.DataFrame({"site": site, "x1": x1, "x2": x2}), y


def reference_predictions():
    """Fit the small models and return their predictions by name."""
    torch.set_num_threads(1)
    X, y = make_spirals(1, n_clusters=4, n_per_cluster=20, random_state=0)
    unseen = X.assign(cluster="new")
    out = {}
    clf = ARMEDClassifier(cluster="cluster", **SMALL).fit(X, y)
    out["binary"] = clf.predict_proba(X)[:, 1]
    out["binary, unseen clusters"] = clf.predict_proba(unseen)[:, 1]
    clf.set_params(predict_effects="fixed")
    out["binary, fixed effects"] = clf.predict_proba(X)[:, 1]
    labels = np.where(X["x1"] > 0.3, "c", np.where(y == 1, "b", "a"))
    paper = ARMEDClassifier.from_paper(cluster="cluster", **SMALL).fit(X, labels)
    out["multiclass, paper"] = paper.predict_proba(X).ravel()
    Xr, yr = _regression_data()
    reg = ARMEDRegressor(cluster="site", **REGRESSOR_BEFORE, **SMALL).fit(Xr, yr)
    out["regression"] = reg.predict(Xr)
    out["regression, variances"] = reg.random_effects_variance_.to_numpy()
    da = ARMEDRegressor(
        cluster="site",
        random_intercept=False,
        linear_slopes=False,
        nonlinear_slopes=False,
        unseen_clusters="fixed",
        **SMALL,
    ).fit(Xr, np.column_stack([yr, -yr]))
    out["domain adversarial, two targets"] = da.predict(Xr).ravel()
    return {name: np.asarray(values, dtype=np.float64) for name, values in out.items()}


def write_reference(path=REFERENCE):
    """Write :func:`reference_predictions` (run only with the old code)."""
    items = reference_predictions().items()
    lines = [f"  {json.dumps(name)}: {json.dumps(v.tolist())}" for name, v in items]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


@pytest.fixture(scope="module")
def predictions():
    return reference_predictions()


@pytest.mark.parametrize("name", sorted(json.loads(REFERENCE.read_text())))
def test_predictions_equal_those_before_the_rewrite(predictions, name):
    expected = np.asarray(json.loads(REFERENCE.read_text())[name])
    np.testing.assert_allclose(predictions[name], expected, rtol=0, atol=1e-6)
