"""ARMED on the paper's spiral simulations (ARMED paper, Tables 1 and 2).

Default run: the paper's data (10 clusters x 1000 points), batch 32, Adam at
lr 1e-3, on the first ``--folds`` (3) folds of the 10-fold split, for
``--epochs`` (30) epochs, folds run in ``--n-jobs`` (2) processes. ``--full``
runs all 10 folds for 50 epochs (the paper's cap; it also stopped early on a
validation loss, which we do not). Every net, the baselines included, starts
from Glorot-uniform weights and zero biases as the authors' Keras layers do,
and is fed by orthokit's TensorBatches iterator; one plain skorch MLP with
skorch's default DataLoader and torch's default initialisation is timed too.
Run with OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 (torch uses one thread).

    PYTHONPATH=. python benchmarks/bench_armed.py [--full] [--out FILE]
        [--parts tables,timing,unseen,lme,probes] [--probe-settings 0.1:30,0.5:30]

Every ARMED model is ``ARMEDClassifier.from_paper(...)`` (the authors'
settings; the estimators' defaults differ since issue 18). The ``probes``
part reruns Table 2 with the class shares' sd as a parameter
(``make_spirals(3, confound_sd=...)``: the authors' confounding script used
0.5, the paper's text and ``make_spirals``' default 0.1).
"""

import argparse
import time

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
import torch
from joblib import Parallel, delayed
from scipy import stats
from sklearn.model_selection import StratifiedKFold
from skorch import NeuralNetBinaryClassifier
from torch import nn

from orthokit.datasets import make_spirals
from orthokit.mixed import ARMEDClassifier, ARMEDRegressor
from orthokit.mixed._batches import TensorBatches
from orthokit.mixed._modules import glorot_init_

PAPER_TABLE1 = {  # conventional, cluster input, DA, ARMED, w/o adversary
    1: [76.4, 67.6, 75.3, 77.9, 79.3],
    2: [52.3, 67.1, 49.5, 65.0, 69.9],
    3: [72.1, 76.4, 66.3, 74.5, 68.5],
}
PAPER_TABLE2 = {  # T statistics (X3, X4)
    "conventional": (-0.232, -0.861),
    "cluster input": (5.346, 5.042),
    "DA": (4.072, 3.832),
    "ARMED": (12.632, 18.173),
    "ARMED w/o adversary": (1.390, 0.343),
}
MODELS = ["conventional", "cluster input", "DA", "ARMED", "ARMED w/o adversary"]


class MLP(nn.Module):
    def __init__(self, n_features, hidden=(4, 4, 4), glorot=True):
        super().__init__()
        layers, width = [], n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.net = nn.Sequential(*layers, nn.Linear(width, 1))
        if glorot:
            glorot_init_(self)

    def forward(self, X):
        return self.net(X)[:, 0]


def plain_mlp(n_features, cfg, seed, skorch_defaults=False):
    """The conventional MLP; ``skorch_defaults``: DataLoader and torch's init."""
    torch.manual_seed(seed)
    fast = {} if skorch_defaults else {"iterator_train": TensorBatches}
    return NeuralNetBinaryClassifier(
        MLP,
        module__n_features=n_features,
        module__glorot=not skorch_defaults,
        optimizer=torch.optim.Adam,
        lr=cfg.lr,
        max_epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        **fast,
    )


def armed(cfg, seed, **params):
    # The paper's settings (from_paper): the defaults are wider since issue 18.
    return ARMEDClassifier.from_paper(
        cluster="cluster",
        lr=cfg.lr,
        max_epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        random_state=seed,
        **params,
    )


ARMED_VARIANTS = {
    "DA": {
        "random_intercept": False,
        "nonlinear_slopes": False,
        "unseen_clusters": "fixed",
    },
    "ARMED": {"unseen_clusters": "fixed"},
    "ARMED w/o adversary": {"adversary_weight": 0.0, "unseen_clusters": "fixed"},
}


def features_of(X):
    return X.drop(columns="cluster").to_numpy(np.float32)


def one_hot(X, clusters):
    return (X["cluster"].to_numpy()[:, None] == clusters[None, :]).astype(np.float32)


def input_gradients(model, X):
    """Mean |d output / d input| over samples (the fixed-effects output)."""
    if isinstance(model, ARMEDClassifier):
        data = model.get_dataset(X).X  # the encoded features and clusters
        x = torch.tensor(data["features"], requires_grad=True)
        module = model.module_.eval()
        cluster = torch.as_tensor(data["cluster"])
        torch.sigmoid(module(x, cluster)[1]).sum().backward()
    else:
        x = torch.tensor(features_of(X), requires_grad=True)
        model.module_.eval()
        torch.sigmoid(model.module_(x)).sum().backward()
    return x.grad.abs().mean(axis=0).numpy()


def fit_timed(model, X, y):
    # CPU time of this (single-threaded) process: robust to the other jobs
    # sharing the machine, which inflate wall-clock times unevenly.
    start = time.process_time()
    model.fit(X, y)
    return time.process_time() - start


def warm_up(cfg):
    """Fit each kind of net once on a few points: no one-off costs are timed."""
    Xw, yw = make_spirals(1, n_per_cluster=20, random_state=0)
    armed(cfg, 0).set_params(max_epochs=1).fit(Xw, yw)
    plain_mlp(2, cfg, 0).set_params(max_epochs=1).fit(
        features_of(Xw), yw.to_numpy(np.float32)
    )


def run_fold(sim, X, y, train, test, cfg, seed, clusters):
    torch.set_num_threads(1)
    warm_up(cfg)  # in each worker process
    Xtr, Xte, ytr, yte = X.iloc[train], X.iloc[test], y.iloc[train], y.iloc[test]
    acc, times, grads = {}, {}, {}
    conv = plain_mlp(Xtr.shape[1] - 1, cfg, seed)
    times["conventional"] = fit_timed(conv, features_of(Xtr), ytr.to_numpy(np.float32))
    acc["conventional"] = (conv.predict(features_of(Xte)) == yte).mean()
    grads["conventional"] = input_gradients(conv, Xte)
    ci = plain_mlp(Xtr.shape[1] - 1 + len(clusters), cfg, seed)
    train_in = np.hstack([features_of(Xtr), one_hot(Xtr, clusters)])
    times["cluster input"] = fit_timed(ci, train_in, ytr.to_numpy(np.float32))
    test_in = np.hstack([features_of(Xte), one_hot(Xte, clusters)])
    acc["cluster input"] = (ci.predict(test_in) == yte).mean()
    x = torch.tensor(test_in, requires_grad=True)
    torch.sigmoid(ci.module_.eval()(x)).sum().backward()
    grads["cluster input"] = x.grad.abs().mean(axis=0).numpy()[: Xtr.shape[1] - 1]
    for name, params in ARMED_VARIANTS.items():
        model = armed(cfg, seed, **params)
        times[name] = fit_timed(model, Xtr, ytr)
        acc[name] = model.score(Xte, yte)
        grads[name] = input_gradients(model, Xte)
    return acc, times, grads


def time_fold(X, y, train, test, cfg, seed, clusters):
    """Fit CPU time of every model on one fold (no accuracy tables)."""
    torch.set_num_threads(1)
    warm_up(cfg)
    Xtr, ytr = X.iloc[train], y.iloc[train]
    times = {}
    conv = plain_mlp(Xtr.shape[1] - 1, cfg, seed)
    times["conventional"] = fit_timed(conv, features_of(Xtr), ytr.to_numpy(np.float32))
    fused = plain_mlp(Xtr.shape[1] - 1, cfg, seed).set_params(optimizer__fused=True)
    times["conventional, fused Adam"] = fit_timed(
        fused, features_of(Xtr), ytr.to_numpy(np.float32)
    )
    ci = plain_mlp(Xtr.shape[1] - 1 + len(clusters), cfg, seed)
    train_in = np.hstack([features_of(Xtr), one_hot(Xtr, clusters)])
    times["cluster input"] = fit_timed(ci, train_in, ytr.to_numpy(np.float32))
    variants = {**ARMED_VARIANTS, "ARMED + Z-predictor": {}}
    for name, params in variants.items():
        times[name] = fit_timed(armed(cfg, seed, **params), Xtr, ytr)
    return times


TIMED = [
    "conventional",
    "conventional, fused Adam",
    "cluster input",
    "DA",
    "ARMED",
    "ARMED w/o adversary",
    "ARMED + Z-predictor",
]


def timing_table(cfg, lines):
    X, y = make_spirals(1, n_per_cluster=cfg.n_per_cluster, random_state=1)
    clusters = np.unique(X["cluster"])
    folds = list(StratifiedKFold(10, shuffle=True, random_state=0).split(X, y))
    results = Parallel(n_jobs=cfg.n_jobs)(
        delayed(time_fold)(X, y, train, test, cfg, k, clusters)
        for k, (train, test) in enumerate(folds[: cfg.folds])
    )
    base = np.mean([r["conventional"] for r in results])
    base_fused = np.mean([r["conventional, fused Adam"] for r in results])
    lines += [
        "",
        f"## Training time (simulation 1, {cfg.folds} folds of 10, "
        f"{len(folds[0][0])} training points, {cfg.epochs} epochs, batch "
        f"{cfg.batch_size})",
        "",
        "| model | mean fit CPU time (s) | ratio to the conventional skorch MLP "
        "(same iterator, architecture, epochs, batch; torch's default Adam) | "
        "ratio to the same MLP with fused Adam |",
        "|---|---|---|---|",
    ]
    for m in TIMED:
        t = np.mean([r[m] for r in results])
        lines.append(f"| {m} | {t:.1f} | {t / base:.2f} | {t / base_fused:.2f} |")
    return lines


def ci95(values):
    values = np.asarray(values, dtype=float) * 100
    if len(values) < 2:
        return values.mean(), np.nan, np.nan
    half = stats.t.ppf(0.975, len(values) - 1) * stats.sem(values)
    return values.mean(), values.mean() - half, values.mean() + half


def spiral_tables(cfg, lines):
    all_times = {m: [] for m in MODELS}
    probe_rows = []
    table = []
    for sim in (1, 2, 3):
        X, y = make_spirals(sim, n_per_cluster=cfg.n_per_cluster, random_state=sim)
        clusters = np.unique(X["cluster"])
        folds = StratifiedKFold(10, shuffle=True, random_state=0).split(X, y)
        folds = list(folds)[: cfg.folds]
        results = Parallel(n_jobs=cfg.n_jobs)(
            delayed(run_fold)(sim, X, y, train, test, cfg, k, clusters)
            for k, (train, test) in enumerate(folds)
        )
        accs = {m: [] for m in MODELS}
        fold_grads = {m: [] for m in MODELS}
        for k, (acc, times, grads) in enumerate(results):
            for m in MODELS:
                accs[m].append(acc[m])
                all_times[m].append(times[m])
                fold_grads[m].append(grads[m])
            print(
                f"sim {sim} fold {k}: "
                + ", ".join(f"{m} {acc[m]:.3f}" for m in MODELS),
                flush=True,
            )
        for j, m in enumerate(MODELS):
            mean, lo, hi = ci95(accs[m])
            table.append(
                f"| {sim} | {m} | {mean:.1f} | {lo:.1f} - {hi:.1f} | "
                f"{PAPER_TABLE1[sim][j]} |"
            )
        if sim == 3:
            for m in MODELS:
                g = np.array(fold_grads[m])  # folds x [x1, x2, x3, x4]
                least_true = g[:, :2].min(axis=1)
                row = [m]
                for probe in (2, 3):
                    t, p = stats.ttest_rel(least_true, g[:, probe])
                    row += [t, p]
                probe_rows.append((row, g.mean(axis=0)))
    lines += [
        "## Table 1: spiral simulations, accuracy on held-out folds (seen clusters)",
        "",
        "| sim | model | ours mean acc (%) | ours 95% CI | paper mean acc (%) |",
        "|---|---|---|---|---|",
        *table,
        "",
        "## Table 2: simulation 3, probe importance (|gradient| of the fixed-effects"
        " output), paired t-test over folds: least important true feature vs probe",
        "",
        "| model | T (X3) | p (X3) | T (X4) | p (X4) | paper T (X3, X4) | "
        "mean importance x1, x2, x3, x4 |",
        "|---|---|---|---|---|---|---|",
    ]
    for (m, t3, p3, t4, p4), mean_grad in probe_rows:
        paper = PAPER_TABLE2[m]
        lines.append(
            f"| {m} | {t3:.2f} | {p3:.3f} | {t4:.2f} | {p4:.3f} | "
            f"{paper[0]}, {paper[1]} | {', '.join(f'{v:.3f}' for v in mean_grad)} |"
        )
    lines += [
        "",
        "## Training time (same fixed-effects architecture, epochs, batch size)",
        "",
        "| model | mean fit CPU time (s) | ratio to the conventional skorch MLP "
        "(same iterator, architecture, epochs, batch) |",
        "|---|---|---|",
    ]
    base = np.mean(all_times["conventional"])
    for m in MODELS:
        t = np.mean(all_times[m])
        lines.append(f"| {m} | {t:.1f} | {t / base:.2f} |")
    return lines


UNSEEN_SPLITS = [("c0", "c1"), ("c2", "c3"), ("c4", "c5"), ("c6", "c7"), ("c8", "c9")]
UNSEEN_ROWS = [
    "ARMED, Z-predictor memberships",
    "ARMED, fixed effects only",
    "ARMED, random memberships",
    "conventional MLP",
]


def unseen_split(X, y, held, cfg, seed):
    torch.set_num_threads(1)
    warm_up(cfg)
    test = X["cluster"].isin(held).to_numpy()
    Xtr, ytr, Xte, yte = X[~test], y[~test], X[test], y[test]
    model = armed(cfg, seed)
    t_armed = fit_timed(model, Xtr, ytr)
    conv = plain_mlp(Xtr.shape[1] - 1, cfg, seed)
    t_conv = fit_timed(conv, features_of(Xtr), ytr.to_numpy(np.float32))
    rng = np.random.default_rng(seed)
    Xrand = Xte.assign(cluster=rng.choice(model.clusters_, size=len(Xte)))
    acc = {
        "ARMED, Z-predictor memberships": model.score(Xte, yte),
        "ARMED, fixed effects only": model.set_params(predict_effects="fixed").score(
            Xte, yte
        ),
        "ARMED, random memberships": model.set_params(predict_effects="mixed").score(
            Xrand, yte
        ),
        "conventional MLP": (conv.predict(features_of(Xte)) == yte).mean(),
    }
    return acc, t_armed, t_conv


def unseen_clusters(cfg, lines):
    splits = ", ".join("/".join(h) for h in UNSEEN_SPLITS)
    lines += [
        "",
        f"## Unseen clusters ({len(UNSEEN_SPLITS)} splits per simulation, each "
        f"holding out 2 whole clusters: {splits}; {cfg.epochs} epochs)",
        "",
        "| sim | model | mean acc (%) | sd (%) | "
        + " | ".join("/".join(h) for h in UNSEEN_SPLITS)
        + " |",
        "|---|---|---|---|" + "---|" * len(UNSEEN_SPLITS),
    ]
    times = []
    for sim in (1, 3):
        X, y = make_spirals(sim, n_per_cluster=cfg.n_per_cluster, random_state=10 + sim)
        results = Parallel(n_jobs=cfg.n_jobs)(
            delayed(unseen_split)(X, y, list(held), cfg, k)
            for k, held in enumerate(UNSEEN_SPLITS)
        )
        for held, (acc, _, _) in zip(UNSEEN_SPLITS, results, strict=True):
            print(
                f"sim {sim} unseen {held}: "
                + ", ".join(f"{k} {v:.3f}" for k, v in acc.items())
            )
        for row in UNSEEN_ROWS:
            values = 100 * np.array([r[0][row] for r in results])
            lines.append(
                f"| {sim} | {row} | {values.mean():.1f} | {values.std(ddof=1):.1f} | "
                + " | ".join(f"{v:.1f}" for v in values)
                + " |"
            )
        times += [(r[1], r[2]) for r in results]
    t_armed, t_conv = np.mean(times, axis=0)
    lines += [
        "",
        f"Mean fit CPU time on the {len(X) - 2 * cfg.n_per_cluster} training points"
        f" of a split: ARMED with its Z-predictor {t_armed:.1f} s; conventional MLP "
        f"{t_conv:.1f} s (ratio {t_armed / t_conv:.2f}).",
    ]
    return lines


def linear_mixed_check(cfg, lines):
    rng = np.random.default_rng(0)
    n_clusters, n_per = 20, 50
    sd_intercept, sd_slope = 0.7, 0.5
    site = np.repeat(np.arange(n_clusters), n_per)
    u0 = rng.normal(0, sd_intercept, n_clusters)
    u1 = rng.normal(0, sd_slope, n_clusters)
    x1, x2 = rng.normal(size=(2, len(site)))
    y = (
        1.0
        + u0[site]
        + (1.0 + u1[site]) * x1
        - 0.5 * x2
        + rng.normal(0, 0.5, len(site))
    )
    frame = pd.DataFrame({"site": site.astype(str), "x1": x1, "x2": x2, "y": y})
    mixedlm = smf.mixedlm("y ~ x1 + x2", frame, groups="site", re_formula="~x1").fit()
    cov = np.diag(mixedlm.cov_re.to_numpy())
    reg = ARMEDRegressor(
        cluster="site",
        hidden_layer_sizes=(8,),
        linear_slopes=True,
        nonlinear_slopes=False,
        intercept_prior_scale=1.0,
        slope_prior_scale=1.0,
        max_epochs=cfg.lme_epochs,
        lr=0.01,
        batch_size=32,
        random_state=0,
    ).fit(frame[["site", "x1", "x2"]], y)
    var = reg.random_effects_variance_
    lines += [
        "",
        "## Linear mixed-effects check (20 clusters x 50, random intercept and slope"
        " on x1)",
        "",
        "| variance | true (sample of the 20 drawn effects) | statsmodels MixedLM | "
        "ARMEDRegressor (across-cluster variance of posterior means) |",
        "|---|---|---|---|",
        f"| intercept | {np.var(u0, ddof=1):.3f} | {cov[0]:.3f} | "
        f"{var['intercept']:.3f} |",
        f"| slope x1 | {np.var(u1, ddof=1):.3f} | {cov[1]:.3f} | "
        f"{var['slope:x1']:.3f} |",
        f"| slope x2 (none) | 0 | - | {var['slope:x2']:.3f} |",
    ]
    return lines


def probe_fold(X, y, train, test, cfg, seed, epochs):
    torch.set_num_threads(1)
    Xtr, Xte, ytr, yte = X.iloc[train], X.iloc[test], y.iloc[train], y.iloc[test]
    conv = plain_mlp(4, cfg, seed).set_params(max_epochs=epochs)
    conv.fit(features_of(Xtr), ytr.to_numpy(np.float32))
    model = armed(cfg, seed, unseen_clusters="fixed").set_params(max_epochs=epochs)
    model.fit(Xtr, ytr)
    return {
        "conventional": (
            (conv.predict(features_of(Xte)) == yte).mean(),
            input_gradients(conv, Xte),
        ),
        "ARMED": (model.score(Xte, yte), input_gradients(model, Xte)),
    }


def probe_experiment(cfg, lines):
    """Table 2 under stronger confounding and shorter training."""
    lines += [
        "",
        f"## Table 2 probe experiment ({cfg.folds} folds, {cfg.n_per_cluster} points"
        " per cluster, make_spirals(3, confound_sd=sd): probes N(rho_c, 0.2),"
        " rho_c ~ N(0.5, sd) clipped to [0.1, 0.9])",
        "",
        "| rho sd | epochs | model | acc (%) | corr(x3, y) | T (X3) | T (X4) | "
        "mean importance x1, x2, x3, x4 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rho_sd, epochs in cfg.probe_settings:
        X, y = make_spirals(
            3, n_per_cluster=cfg.n_per_cluster, confound_sd=rho_sd, random_state=3
        )
        corr = np.corrcoef(X["x3"], y)[0, 1]
        folds = StratifiedKFold(10, shuffle=True, random_state=0).split(X, y)
        results = Parallel(n_jobs=cfg.n_jobs)(
            delayed(probe_fold)(X, y, tr, te, cfg, k, epochs)
            for k, (tr, te) in enumerate(list(folds)[: cfg.folds])
        )
        for m in ("conventional", "ARMED"):
            acc = 100 * np.mean([r[m][0] for r in results])
            g = np.array([r[m][1] for r in results])
            least_true = g[:, :2].min(axis=1)
            t3 = stats.ttest_rel(least_true, g[:, 2]).statistic
            t4 = stats.ttest_rel(least_true, g[:, 3]).statistic
            lines.append(
                f"| {rho_sd} | {epochs} | {m} | {acc:.1f} | {corr:.2f} | {t3:.2f} | "
                f"{t4:.2f} | {', '.join(f'{v:.3f}' for v in g.mean(axis=0))} |"
            )
            print(lines[-1], flush=True)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--n-per-cluster", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lme-epochs", type=int, default=40)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--probe-settings",
        default="0.1:30,0.5:30",
        help="rho sd:epochs pairs of the probe experiment (part 'probes')",
    )
    parser.add_argument(
        "--parts",
        default="tables,unseen,lme",
        help="comma-separated parts to run: tables (Tables 1-2 and the training "
        "times of those folds), timing (training times only, simulation 1), "
        "unseen, lme, probes (Table 2 under other confounding and training)",
    )
    cfg = parser.parse_args()
    cfg.probe_settings = [
        (float(a), int(b))
        for a, b in (item.split(":") for item in cfg.probe_settings.split(","))
    ]
    if cfg.full:
        cfg.folds, cfg.n_per_cluster, cfg.epochs, cfg.lr = 10, 1000, 50, 1e-3
        cfg.lme_epochs = 100
    torch.set_num_threads(1)
    start = time.perf_counter()
    lines = [
        "# ARMED benchmark (the ARMED paper's spiral simulations)",
        "",
        f"Run: {'--full' if cfg.full else 'default'}; folds "
        f"{cfg.folds} of 10 (StratifiedKFold, seed 0); {cfg.n_per_cluster} points "
        f"per cluster x 10 clusters; {cfg.epochs} epochs, Adam lr {cfg.lr}, batch "
        f"{cfg.batch_size}; fixed effects (4, 4, 4) ReLU, adversary (8, 8, 4); "
        "Glorot-uniform init for every net; OPENBLAS_NUM_THREADS=1, one torch "
        f"thread per process, {cfg.n_jobs} processes. Paper: 10 folds, 1000 per "
        "cluster, at most 50 epochs at lr 1e-3 with early stopping.",
        "",
    ]
    parts = {p.strip() for p in cfg.parts.split(",") if p.strip()}
    unknown = parts - {"tables", "timing", "unseen", "lme", "probes"}
    if unknown:
        parser.error(f"unknown --parts {sorted(unknown)}")
    lines[2] += f" Parts: {', '.join(sorted(parts))}."
    warm_up(cfg)
    if "tables" in parts:
        spiral_tables(cfg, lines)
    if "timing" in parts:
        timing_table(cfg, lines)
    if "unseen" in parts:
        unseen_clusters(cfg, lines)
    if "lme" in parts:
        linear_mixed_check(cfg, lines)
    if "probes" in parts:
        probe_experiment(cfg, lines)
    lines += ["", f"Total benchmark time: {time.perf_counter() - start:.0f} s."]
    text = "\n".join(lines) + "\n"
    print(text)
    if cfg.out:
        with open(cfg.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
