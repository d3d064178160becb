"""GPBoost for ``bench_armed_family.py``: boosted trees plus grouped random effects.

GPBoost (https://github.com/fabsig/GPBoost) is optional: when it does not
import, ``run_gpboost`` records ``"not installed"`` and the tables say so.
Fixed effects: a tree ensemble on ``x1, x2, x3`` (``gpb.train`` with its
documented defaults, 100 boosting rounds, learning rate 0.1, 31 leaves, unless
``params`` says otherwise); random effects:
a grouped intercept per cluster, plus a random slope on ``x1`` where the
scenario has slopes (``group_rand_coef_data``), likelihood ``gaussian`` or
``bernoulli_logit``. Seen clusters are predicted with their random effects;
unseen clusters get GPBoost's prediction for new groups (random effects at
their prior mean of zero, i.e. the trees only).
"""

import time

import numpy as np

try:
    import gpboost as gpb
except ImportError:  # optional: the column then says "not installed"
    gpb = None

NAME = "GPBoost"
ROUNDS = 100


def version():
    """The installed GPBoost version, or ``"not installed"``."""
    return gpb.__version__ if gpb is not None else "not installed"


def run_gpboost(task, X, y, masks, spec, params, score, out):
    """Fit on the training rows; score seen and unseen test rows into ``out``."""
    if gpb is None:
        out[NAME].update(seen="not installed", unseen="not installed")
        return
    train, seen, unseen = masks
    features = X[["x1", "x2", "x3"]].to_numpy()
    groups = X["cluster"].to_numpy()
    slopes = bool(spec["u1"])
    slope_data = X[["x1"]].to_numpy() if slopes else None
    likelihood = "bernoulli_logit" if task == "classification" else "gaussian"
    params = {"verbose": -1, "num_threads": 1, **params}
    rounds = params.pop("num_boost_round", ROUNDS)
    start = time.process_time()
    model = gpb.GPModel(
        group_data=groups[train],
        group_rand_coef_data=None if slope_data is None else slope_data[train],
        ind_effect_group_rand_coef=[1] if slopes else None,
        likelihood=likelihood,
    )
    data = gpb.Dataset(features[train], np.asarray(y[train], dtype=float))
    booster = gpb.train(
        params=params,
        train_set=data,
        gp_model=model,
        num_boost_round=rounds,
    )
    out[NAME]["time"] = time.process_time() - start
    for part, mask in (("seen", seen), ("unseen", unseen)):
        pred = booster.predict(
            data=features[mask],
            group_data_pred=groups[mask],
            group_rand_coef_data_pred=None if slope_data is None else slope_data[mask],
            pred_latent=False,
        )["response_mean"]
        if task == "classification":
            pred = (pred > 0.5).astype(int)
        out[NAME][part] = score(task, y[mask], pred)
