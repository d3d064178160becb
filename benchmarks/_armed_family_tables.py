"""The family's scenarios and models, and the tables of its report.

Part of ``benchmarks/bench_armed_family.py`` (which runs the fits).
"""

import numpy as np
from scipy import stats

# sizes: a list of cluster sizes, or (n_clusters, low, high) for sizes drawn
# log-uniformly in [low, high].
SCENARIOS = {
    "no random effects": {"sizes": (10, 100, 100), "u0": 0.0, "u1": 0.0},
    "random intercepts": {"sizes": (10, 100, 100), "u0": 1.0, "u1": 0.0},
    "random slopes": {"sizes": (20, 20, 200), "u0": 0.5, "u1": 1.0},
    "sign-changing slope": {
        "sizes": (10, 100, 100),
        "u0": 0.0,
        "u1": 1.5,
        "flip": True,
    },
    "3 clusters": {"sizes": (3, 300, 300), "u0": 1.0, "u1": 1.0},
    "200 clusters": {"sizes": (200, 10, 15), "u0": 1.0, "u1": 1.0},
    "imbalanced 10..2000": {"sizes": [10, 40, 150, 600, 2000], "u0": 1.0, "u1": 1.0},
    "nonlinear fixed effects": {
        "sizes": (10, 100, 100),
        "u0": 1.0,
        "u1": 1.0,
        "nonlinear": True,
    },
}
TASKS = ("classification", "regression")
MODELS = [
    "MLP",
    "skorch MLP",
    "MLP + one-hot cluster",
    "DA",
    "ARMED",
    "ARMED, fixed effects only",
    "mixed model (statsmodels)",
    "GPBoost",
]
# What each runner fills in; ``--models`` picks runners by these names.
GROUPS = {
    "MLP": ("MLP", "MLP + one-hot cluster"),
    "skorch MLP": ("skorch MLP",),
    "ARMED": ("DA", "ARMED", "ARMED, fixed effects only"),
    "mixed model (statsmodels)": ("mixed model (statsmodels)",),
    "GPBoost": ("GPBoost",),
}


def ci95(values):
    words = {v for v in values if isinstance(v, str)}
    if words:  # e.g. "not installed"
        return " / ".join(sorted(words)), np.nan
    values = np.asarray([v for v in values if v is not None], dtype=float)
    if len(values) == 0:
        return np.nan, np.nan
    if len(values) < 2:
        return values.mean(), np.nan
    return values.mean(), stats.t.ppf(0.975, len(values) - 1) * stats.sem(values)


def fmt(mean, half):
    if isinstance(mean, str):
        return mean
    if np.isnan(mean):
        return "-"
    return f"{mean:.3f}" if np.isnan(half) else f"{mean:.3f} ± {half:.3f}"


def table(results, task, part, models=MODELS):
    metric = "accuracy" if task == "classification" else "R²"
    lines = [
        f"### {task}, {part} clusters ({metric}, mean ± 95% CI half-width)",
        "",
        "| scenario | " + " | ".join(models) + " |",
        "|---" * (len(models) + 1) + "|",
    ]
    for scenario, runs in results[task].items():
        cells = [fmt(*ci95([r[m].get(part) for r in runs])) for m in models]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines + [""]


def time_table(results):
    lines = [
        "### fit CPU time relative to the conventional MLP (mean over every fit)",
        "",
        "| task | "
        + " | ".join(m for m in MODELS if m != "ARMED, fixed effects only")
        + " |",
        "|---" * len(MODELS) + "|",
    ]
    for task, by_scenario in results.items():
        runs = [r for rs in by_scenario.values() for r in rs]
        base = np.mean([r["MLP"]["time"] for r in runs])
        cells = []
        for m in MODELS:
            if m == "ARMED, fixed effects only":
                continue
            t = [r[m]["time"] for r in runs if "time" in r[m]]
            cells.append(f"{np.mean(t) / base:.2f}" if t else "-")
        anchor = np.mean([r["skorch MLP"]["time"] for r in runs])
        armed = np.mean([r["ARMED"]["time"] for r in runs])
        lines.append(
            f"| {task} | " + " | ".join(cells) + f" | (MLP {base:.2f} s; ARMED "
            f"{armed / anchor:.2f}x the skorch MLP of {anchor:.2f} s)"
        )
    return lines + [""]


def fit_seconds(results, models):
    """Mean fit CPU seconds per model and task (partial runs have no MLP base)."""
    lines = ["### mean fit CPU seconds", "", "| task | " + " | ".join(models) + " |"]
    lines.append("|---" * (len(models) + 1) + "|")
    for task, by_scenario in results.items():
        runs = [r for rs in by_scenario.values() for r in rs]
        cells = []
        for m in models:
            t = [r[m]["time"] for r in runs if "time" in r[m]]
            cells.append(f"{np.mean(t):.2f}" if t else "-")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines + [""]


def ordering_summary(results):
    """Seen-cluster margins ARMED - MLP and ARMED - one-hot MLP per problem."""
    lines = [
        "### seen clusters: ARMED minus the others (mean ± 95% CI over repeats)",
        "",
        "| task | scenario | ARMED - MLP | ARMED - one-hot MLP | unseen: ARMED - MLP |",
        "|---|---|---|---|---|",
    ]
    for task, by_scenario in results.items():
        for scenario, runs in by_scenario.items():
            d1 = [r["ARMED"]["seen"] - r["MLP"]["seen"] for r in runs]
            d2 = [r["ARMED"]["seen"] - r["MLP + one-hot cluster"]["seen"] for r in runs]
            d3 = [r["ARMED"]["unseen"] - r["MLP"]["unseen"] for r in runs]
            lines.append(
                f"| {task} | {scenario} | {fmt(*ci95(d1))} | {fmt(*ci95(d2))} | "
                f"{fmt(*ci95(d3))} |"
            )
    return lines + [""]


def _linear_runs(results):
    for scenario, runs in results.get("regression", {}).items():
        if (
            not SCENARIOS[scenario].get("nonlinear")
            and "variances" in runs[0]["mixed model (statsmodels)"]
        ):
            yield scenario, runs


def _within(estimates, references, se):
    """How many estimates lie in the references' 95 % Wald intervals."""
    inside = np.abs(np.asarray(estimates) - references) <= 1.96 * np.asarray(se)
    return int(inside[np.isfinite(references)].sum()), int(
        np.isfinite(references).sum()
    )


def variance_table(results):
    """Variance components of the intercepts and x1 slopes (regression)."""
    lines = [
        "### regression: variance components, intercept / x1 slope (mean ± 95% CI "
        "over repeats)",
        "",
        "MixedLM: REML estimate, in its 95 % Wald interval (SE from `bse_re` "
        "times sqrt(scale)); ARMED: `var(μ) + mean(σ²)` of the training "
        "clusters' posteriors (the variance of the posterior means alone, like "
        "that of the BLUPs, is shrunk: last column).",
        "",
        "| scenario | truth (drawn effects) | MixedLM (REML) | ARMED | ARMED in "
        "MixedLM's 95% CI | ARMED, variance of posterior means |",
        "|---|---|---|---|---|---|",
    ]
    for scenario, runs in _linear_runs(results):
        slope = bool(SCENARIOS[scenario]["u1"])
        mixed = [r["mixed model (statsmodels)"] for r in runs]
        k = 2 if slope else 1
        cells = []
        for values in (
            [r["truth"][:k] for r in runs],
            [m["variances"][:k] for m in mixed],
            [r["ARMED"]["variances"][:k] for r in runs],
        ):
            values = np.asarray(values, dtype=float)
            cells.append(" / ".join(fmt(*ci95(values[:, j])) for j in range(k)))
        inside, total = _within(
            [r["ARMED"]["variances"][:k] for r in runs],
            np.array([m["variances"][:k] for m in mixed]),
            [m["variance_se"][:k] for m in mixed],
        )
        cells.append(f"{inside} of {total}")
        shrunk = np.array([r["ARMED"]["posterior_mean_variances"][:k] for r in runs])
        cells.append(" / ".join(fmt(*ci95(shrunk[:, j])) for j in range(k)))
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines + [""]


def fixed_effect_table(results):
    """ARMED's fixed effects (linear part) against MixedLM's (regression)."""
    lines = [
        "### regression: fixed effects (intercept, x1, x2, x3), ARMED's linear "
        "part against MixedLM",
        "",
        "| scenario | MixedLM (mean over repeats) | ARMED | ARMED in MixedLM's "
        "95% CI | largest abs(ARMED - MixedLM) / SE |",
        "|---|---|---|---|---|",
    ]
    for scenario, runs in _linear_runs(results):
        mixed = [r["mixed model (statsmodels)"] for r in runs]
        ours = np.array([r["ARMED"]["fixed_effects"] for r in runs])
        theirs = np.array([m["fixed_effects"] for m in mixed])
        se = np.array([m["fixed_effect_se"] for m in mixed])
        inside, total = _within(ours, theirs, se)
        cells = [
            ", ".join(f"{v:.2f}" for v in theirs.mean(axis=0)),
            ", ".join(f"{v:.2f}" for v in ours.mean(axis=0)),
            f"{inside} of {total}",
            f"{np.max(np.abs(ours - theirs) / se):.2f}",
        ]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return lines + [""]
