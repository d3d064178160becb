"""ARMED on a family of clustered problems with known structure.

Each scenario draws features ``x1, x2, x3 ~ N(0, 1)``, clusters of given
sizes and a linear predictor ``η = f(x) + u0_c + u1_c·x1`` (random intercept
``u0``, random slope ``u1`` on ``x1``); classification draws
``y ~ Bernoulli(σ(2η))``, regression ``y = η + N(0, 0.5²)``. In every repeat
30 % of the clusters (at least one) are held out whole (*unseen* clusters)
and 25 % of the rows of every other cluster (*seen* clusters, held-out rows);
one fit per model gives both scores.

Models: a conventional MLP (scikit-learn), the same MLP with the one-hot
cluster as input, domain adversarial (ARMED without random effects), ARMED
(seen: mixed model; unseen: Z-predictor memberships and fixed effects only),
and for the linear scenarios statsmodels' ``MixedLM`` (regression) or
``BinomialBayesMixedGLM`` (classification, variational Bayes) with the true
random-effect structure, and GPBoost (trees plus the same grouped random
effects; ``_armed_gpboost.py``; "not installed" when it does not import).
``--models`` runs only some of them on the same data and seeds. Scores:
accuracy or R², mean and 95 % t-interval over repeats; fit CPU time relative
to the conventional MLP.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_armed_family.py
        [--quick] [--repeats 5] [--scale 1.0] [--armed '{"kl_weight": 0.1}']
        [--scenarios a,b] [--tasks classification,regression] [--out FILE]
        [--models GPBoost] [--gpboost '{"learning_rate": 0.05}']
"""

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

from benchmarks._armed_family_tables import (
    GROUPS,
    MODELS,
    SCENARIOS,
    TASKS,
    fit_seconds,
    fixed_effect_table,
    ordering_summary,
    table,
    time_table,
    variance_table,
)
from benchmarks._armed_gpboost import run_gpboost
from benchmarks._armed_gpboost import version as gpboost_version
from orthokit.mixed import ARMEDClassifier, ARMEDRegressor
from orthokit.mixed._base import auto_epochs


def cluster_sizes(spec, scale, rng):
    if isinstance(spec, list):
        return np.maximum((np.asarray(spec) * scale).astype(int), 4)
    n, low, high = spec
    sizes = np.exp(rng.uniform(np.log(low), np.log(high), n)) * scale
    return np.maximum(sizes.astype(int), 4)


def make_problem(scenario, task, seed, scale=1.0):
    """Draw one data set: (X with a 'cluster' column, y, true effects)."""
    spec = SCENARIOS[scenario]
    rng = np.random.default_rng(seed)
    sizes = cluster_sizes(spec["sizes"], scale, rng)
    cluster = np.repeat(np.arange(len(sizes)), sizes)
    x = rng.normal(size=(len(cluster), 3))
    if spec.get("nonlinear"):
        fixed = 1.5 * np.sin(2 * x[:, 0]) + (x[:, 1] ** 2 - 1) + 0.5 * x[:, 2]
    elif spec.get("flip"):
        fixed = -1.0 * x[:, 1] + 0.5 * x[:, 2]
    else:
        fixed = 1.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5 * x[:, 2]
    u0 = rng.normal(0, spec["u0"], len(sizes)) if spec["u0"] else np.zeros(len(sizes))
    if spec.get("flip"):
        u1 = spec["u1"] * rng.choice([-1.0, 1.0], len(sizes))
    else:
        u1 = rng.normal(0, spec["u1"], len(sizes)) if spec["u1"] else 0 * u0
    eta = fixed + u0[cluster] + u1[cluster] * x[:, 0]
    if task == "classification":
        eta = 2.0 * eta  # logits of sd about 3: the clusters' effects matter
        y = (rng.uniform(size=len(eta)) < 1 / (1 + np.exp(-eta))).astype(int)
    else:
        y = eta + rng.normal(0, 0.5, len(eta))
    X = pd.DataFrame(x, columns=["x1", "x2", "x3"])
    X.insert(0, "cluster", [f"c{c}" for c in cluster])
    return X, y, {"u0": u0, "u1": u1}


def split(X, seed):
    """Boolean masks: train, seen test (held-out rows), unseen test."""
    rng = np.random.default_rng(seed + 1000)
    labels = X["cluster"].unique()
    n_unseen = max(1, round(0.3 * len(labels)))
    unseen = set(rng.choice(labels, n_unseen, replace=False))
    is_unseen = X["cluster"].isin(unseen).to_numpy()
    seen_test = np.zeros(len(X), bool)
    for _, rows in X[~is_unseen].groupby("cluster").indices.items():
        index = X[~is_unseen].index[rows]
        k = max(1, len(index) // 4)
        seen_test[rng.choice(index, k, replace=False)] = True
    return ~is_unseen & ~seen_test, seen_test, is_unseen


def score(task, y, pred):
    if task == "classification":
        return accuracy_score(y, pred)
    return r2_score(y, pred)


def timed_fit(model, X, y):
    start = time.process_time()
    model.fit(X, y)
    return time.process_time() - start


def one_hot(X, labels):
    return (X["cluster"].to_numpy()[:, None] == labels[None, :]).astype(float)


def run_mlps(task, X, y, masks, seed, cfg, out):
    train, seen, unseen = masks
    feats = X[["x1", "x2", "x3"]].to_numpy()
    labels = np.unique(X["cluster"][train])
    design = np.hstack([feats, one_hot(X, labels)])
    cls = MLPClassifier if task == "classification" else MLPRegressor
    for name, data in (("MLP", feats), ("MLP + one-hot cluster", design)):
        model = cls(
            hidden_layer_sizes=cfg.hidden, max_iter=cfg.mlp_iter, random_state=seed
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            out[name]["time"] = timed_fit(model, data[train], y[train])
        out[name]["seen"] = score(task, y[seen], model.predict(data[seen]))
        # Unseen clusters have no column of their own: all zeros.
        out[name]["unseen"] = score(task, y[unseen], model.predict(data[unseen]))


class _Net(torch.nn.Module):
    """A plain MLP of ARMED's default architecture: ReLU layers, one output."""

    def __init__(self, hidden, n_outputs):
        super().__init__()
        layers, width = [], 3
        for size in hidden:
            layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
            width = size
        self.net = torch.nn.Sequential(*layers, torch.nn.Linear(width, n_outputs))

    def forward(self, X):
        out = self.net(X)
        return out[:, 0] if out.shape[1] == 1 else out


def run_skorch_mlp(task, X, y, masks, seed, cfg, out):
    """The time anchor: a plain skorch net of ARMED's hidden sizes, epochs, batch."""
    from skorch import NeuralNetBinaryClassifier, NeuralNetRegressor

    train, seen, unseen = masks
    defaults = (ARMEDClassifier if task == "classification" else ARMEDRegressor)()
    params = {**defaults.get_params(), **cfg.armed}
    if params["max_epochs"] == "auto":  # ARMEDRegressor's: the same epochs
        params["max_epochs"] = auto_epochs(train.sum(), params["batch_size"])
    feats = X[["x1", "x2", "x3"]].to_numpy(np.float32)
    target = y.astype(np.float32)
    if task == "regression":  # ARMEDRegressor standardizes y too
        centre, spread = target[train].mean(), target[train].std()
        target = (target - centre) / spread
    torch.manual_seed(seed)
    cls = NeuralNetBinaryClassifier if task == "classification" else NeuralNetRegressor
    model = cls(
        _Net,
        module__hidden=params["hidden_layer_sizes"],
        module__n_outputs=1,
        optimizer=torch.optim.Adam,
        lr=params["lr"],
        max_epochs=params["max_epochs"],
        batch_size=params["batch_size"],
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    out["skorch MLP"]["time"] = timed_fit(model, feats[train], target[train])
    for part, mask in (("seen", seen), ("unseen", unseen)):
        pred = model.predict(feats[mask]).ravel()
        if task == "regression":
            pred = pred * spread + centre
        out["skorch MLP"][part] = score(task, y[mask], pred)


def run_armed(task, X, y, masks, seed, cfg, out):
    train, seen, unseen = masks
    cls = ARMEDClassifier if task == "classification" else ARMEDRegressor
    da = cls(
        cluster="cluster",
        random_state=seed,
        random_intercept=False,
        nonlinear_slopes=False,
        linear_slopes=False,
        unseen_clusters="fixed",
        **cfg.armed,
    )
    out["DA"]["time"] = timed_fit(da, X[train], y[train])
    out["DA"]["seen"] = score(task, y[seen], da.predict(X[seen]))
    out["DA"]["unseen"] = score(task, y[unseen], da.predict(X[unseen]))
    model = cls(cluster="cluster", random_state=seed, **cfg.armed)
    out["ARMED"]["time"] = timed_fit(model, X[train], y[train])
    if task == "regression":
        out["ARMED"].update(armed_components(model, X[train]))
    out["ARMED"]["seen"] = score(task, y[seen], model.predict(X[seen]))
    out["ARMED"]["unseen"] = score(task, y[unseen], model.predict(X[unseen]))
    model.set_params(predict_effects="fixed")
    out["ARMED, fixed effects only"]["seen"] = score(
        task, y[seen], model.predict(X[seen])
    )
    out["ARMED, fixed effects only"]["unseen"] = score(
        task, y[unseen], model.predict(X[unseen])
    )


def armed_components(model, X):
    """ARMED's estimates of what MixedLM estimates, on the scale of ``y``.

    Variance components: ``var(μ_c) + mean(σ_c²)`` over the training
    clusters (the second moment of the posteriors, the variational-EM
    estimate of the prior variance; the variance of the posterior means
    alone is shrunk, as that of MixedLM's BLUPs is). Fixed effects: the
    least-squares line of the fixed-effects predictions on ``[1, x]`` over
    the training rows (the network is not linear; where the truth is, this
    is its linear part) plus the clusters' mean effect. Only identified
    without hidden-layer slopes: a near-constant hidden unit then carries
    part of the intercept.
    """
    effects = model.random_effects_
    variances, posterior_means = [], []
    for name in ("intercept", "slope:x1"):
        if name not in effects.columns.get_level_values(0):
            variances.append(np.nan)
            posterior_means.append(np.nan)
            continue
        mean, sd = effects[(name, "mean")], effects[(name, "sd")]
        posterior_means.append(np.var(mean, ddof=1))
        variances.append(np.var(mean, ddof=1) + np.mean(sd**2))
    fixed = model.set_params(predict_effects="fixed").predict(X)
    model.set_params(predict_effects="mixed")
    design = sm.add_constant(X[["x1", "x2", "x3"]].to_numpy())
    coef = np.linalg.lstsq(design, fixed, rcond=None)[0]
    # ARMED's random effects are not centred (MixedLM's BLUPs are, about):
    # the population effect is the fixed part plus the clusters' mean.
    names = ["intercept", "slope:x1", "slope:x2", "slope:x3"]
    present = effects.columns.get_level_values(0)
    coef += [effects[(n, "mean")].mean() if n in present else 0.0 for n in names]
    return {
        "variances": np.array(variances),
        "posterior_mean_variances": np.array(posterior_means),
        "fixed_effects": coef,
        "hidden_slopes": bool(model.nonlinear_slopes),
    }


def _re_design(X, labels, slopes):
    """Columns [1_c] (+ [x1·1_c]) per seen cluster; unseen rows all zeros."""
    onehot = one_hot(X, labels)
    if not slopes:
        return onehot
    return np.hstack([onehot, onehot * X[["x1"]].to_numpy()])


def run_mixed_model(task, X, y, masks, spec, out):
    train, seen, unseen = masks
    slopes = bool(spec["u1"])
    exog = sm.add_constant(X[["x1", "x2", "x3"]].to_numpy())
    labels = np.unique(X["cluster"][train])
    start = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "regression":
            result = sm.MixedLM(
                y[train],
                exog[train],
                groups=X["cluster"][train].to_numpy(),
                exog_re=exog[train][:, : 2 if slopes else 1],
            ).fit(reml=True)
            fe = np.asarray(result.fe_params)
            re = np.vstack([np.asarray(result.random_effects[c]) for c in labels])
            coef = re.T.ravel()  # intercepts of every cluster, then slopes
            k_re = 2 if slopes else 1
            diagonal = [j * (j + 3) // 2 for j in range(k_re)]  # of the triangle
            out["mixed model (statsmodels)"].update(
                variances=np.diag(np.atleast_2d(result.cov_re)),
                # statsmodels 0.15's bse_re is sqrt(scale) times too small
                # (60 simulated fits: the sd of the REML variances over the
                # fits was 2.0x the mean bse_re at scale 4, 0.5x at 0.25);
                # times sqrt(scale) it matched that sd within 10 %.
                variance_se=np.asarray(result.bse_re)[diagonal] * np.sqrt(result.scale),
                fixed_effects=fe,
                fixed_effect_se=np.asarray(result.bse_fe),
            )
        else:
            vc = _re_design(X[train], labels, slopes)
            ident = np.repeat(np.arange(2 if slopes else 1), len(labels))
            result = BinomialBayesMixedGLM(
                y[train], exog[train], vc, ident, vcp_p=1.0, fe_p=10.0
            ).fit_vb()
            fe = result.fe_mean
            coef = result.vc_mean
    out["mixed model (statsmodels)"]["time"] = time.process_time() - start
    for part, mask in (("seen", seen), ("unseen", unseen)):
        eta = exog[mask] @ fe + _re_design(X[mask], labels, slopes) @ coef
        pred = (eta > 0).astype(int) if task == "classification" else eta
        out["mixed model (statsmodels)"][part] = score(task, y[mask], pred)


_WARM = set()


def warm_up(task, cfg):
    """One tiny fit of each torch model per process: one-off costs are not timed."""
    if task in _WARM:
        return
    X, y, _ = make_problem("no random effects", task, 0, 0.1)
    masks = (np.arange(len(X)) % 2 == 0,) * 3
    tiny = argparse.Namespace(**{**vars(cfg), "armed": {**cfg.armed, "max_epochs": 1}})
    run_skorch_mlp(task, X, y, masks, 0, tiny, {"skorch MLP": {}})
    run_armed(task, X, y, masks, 0, tiny, {m: {} for m in MODELS})
    _WARM.add(task)


def _runs(cfg, *models):
    return any(m in cfg.models for group in models for m in GROUPS[group])


def run_problem(scenario, task, seed, cfg):
    torch.set_num_threads(1)
    if _runs(cfg, "skorch MLP", "ARMED"):
        warm_up(task, cfg)
    X, y, effects = make_problem(scenario, task, seed, cfg.scale)
    masks = split(X, seed)
    out = {m: {} for m in MODELS}
    seen = np.unique(X["cluster"][masks[0]].str[1:].astype(int))
    out["truth"] = np.array(
        [np.var(effects["u0"][seen], ddof=1), np.var(effects["u1"][seen], ddof=1)]
    )
    spec = SCENARIOS[scenario]
    if _runs(cfg, "MLP"):
        run_mlps(task, X, y, masks, seed, cfg, out)
    if _runs(cfg, "skorch MLP"):
        run_skorch_mlp(task, X, y, masks, seed, cfg, out)
    if _runs(cfg, "ARMED"):
        run_armed(task, X, y, masks, seed, cfg, out)
    if _runs(cfg, "mixed model (statsmodels)") and not spec.get("nonlinear"):
        run_mixed_model(task, X, y, masks, spec, out)
    if _runs(cfg, "GPBoost"):
        run_gpboost(task, X, y, masks, spec, cfg.gpboost, score, out)
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 repeats at a third of the sizes (tests).",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="Multiply every cluster size (larger runs: 2, 5).",
    )
    parser.add_argument(
        "--armed",
        type=json.loads,
        default={},
        help="JSON of ARMED (and DA) parameters.",
    )
    parser.add_argument(
        "--hidden", default="32,32", help="Hidden layers of the scikit-learn MLPs."
    )
    parser.add_argument("--mlp-iter", type=int, default=200)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument(
        "--models",
        default=",".join(GROUPS),
        help="Comma-separated runners, of " + ", ".join(GROUPS) + " (same data).",
    )
    parser.add_argument(
        "--gpboost",
        type=json.loads,
        default={},
        help="JSON of gpboost.train parameters (default: GPBoost's own).",
    )
    parser.add_argument("--out", default=None)
    cfg = parser.parse_args(argv)
    if cfg.quick:
        cfg.repeats, cfg.scale = min(cfg.repeats, 2), cfg.scale / 3
    cfg.hidden = tuple(int(h) for h in cfg.hidden.split(","))
    cfg.scenarios = cfg.scenarios.split(",")
    cfg.tasks = cfg.tasks.split(",")
    unknown = set(cfg.models.split(",")) - set(GROUPS)
    if unknown:
        parser.error(f"--models: unknown {sorted(unknown)}; choose from {list(GROUPS)}")
    cfg.models = [m for g in cfg.models.split(",") for m in GROUPS[g]]
    return cfg


def run(cfg):
    from joblib import Parallel, delayed

    jobs = [
        (t, s, k) for t in cfg.tasks for s in cfg.scenarios for k in range(cfg.repeats)
    ]
    outs = Parallel(n_jobs=cfg.n_jobs)(
        delayed(run_problem)(s, t, k, cfg) for t, s, k in jobs
    )
    results = {t: {s: [] for s in cfg.scenarios} for t in cfg.tasks}
    for (t, s, _), out in zip(jobs, outs, strict=True):
        results[t][s].append(out)
    return results


def report(results, cfg, seconds):
    lines = [
        f"Run: repeats {cfg.repeats}, size scale {cfg.scale:.3g}, ARMED parameters "
        f"{cfg.armed or 'defaults'}, scikit-learn MLPs {cfg.hidden} for at most "
        f"{cfg.mlp_iter} epochs; GPBoost {gpboost_version()}, parameters "
        f"{cfg.gpboost or 'defaults'}; {seconds:.0f} s.",
        "",
    ]
    models = [m for m in MODELS if m in cfg.models]
    for task in results:
        lines += table(results, task, "seen", models)
        lines += table(results, task, "unseen", models)
    if models != MODELS:  # a partial run: scores and mean fit CPU seconds only
        return lines + fit_seconds(results, models)
    return (
        lines
        + ordering_summary(results)
        + variance_table(results)
        + fixed_effect_table(results)
        + time_table(results)
    )


def main(argv=None):
    cfg = parse_args(argv)
    start = time.time()
    results = run(cfg)
    text = "\n".join(report(results, cfg, time.time() - start))
    print(text)
    if cfg.out:
        with open(cfg.out, "w") as handle:
            handle.write(text + "\n")
    return results


if __name__ == "__main__":
    main()
