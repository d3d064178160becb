"""Mixed effects for clustered data (ARMED)
========================================

The ARMED paper's first simulation: two interleaved spirals in ten clusters,
each cluster with its own radius, so the same point belongs to different
spirals in different clusters. :class:`~orthokit.mixed.ARMEDClassifier` learns
cluster-invariant fixed effects (an adversary penalizes hidden features that
reveal the cluster) and per-cluster Bayesian random effects (an intercept, and
slopes on the last hidden layer by default) that absorb what differs between
clusters. Its random effects can be read per cluster; on new rows of seen
clusters the mixed prediction uses them, and ``predict_effects="fixed"`` gives
the population model only.

The quick size here (100 points per cluster, few epochs) shows the API, not
the paper's accuracies: those are measured in ``benchmarks/results/armed.md``.

From the shell::

    python examples/plot_armed.py [--quick]
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import train_test_split

from orthokit.datasets import make_spirals
from orthokit.mixed import ARMEDClassifier

parser = argparse.ArgumentParser(description="ARMEDClassifier on the spirals.")
parser.add_argument(
    "--quick", action="store_true", help="fewer epochs (the docs' size)"
)
QUICK = parser.parse_args().quick or os.environ.get("ORTHOKIT_QUICK") == "1"

torch.set_num_threads(1)

# %%
# Clustered spirals
# -----------------
X, y, params = make_spirals(
    simulation=1,
    n_per_cluster=100 if QUICK else 500,
    random_state=0,
    return_cluster_params=True,
)
print(params.head())
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=X["cluster"]
)

# %%
# Fit; the cluster column is named, like the protected columns elsewhere
# -----------------------------------------------------------------------
armed = ARMEDClassifier(
    cluster="cluster", max_epochs=15 if QUICK else 50, random_state=0
).fit(X_train, y_train)
print(
    "held-out accuracy, mixed prediction:",
    round(armed.score(X_test, y_test), 3),
)
armed.set_params(predict_effects="fixed")
print(
    "held-out accuracy, fixed effects:   ",
    round(armed.score(X_test, y_test), 3),
)
armed.set_params(predict_effects="mixed")

# %%
# The random effects: one row per cluster, posterior mean and sd
# --------------------------------------------------------------
effects = armed.random_effects_
print(armed.random_effects_variance_.sort_values(ascending=False).head())

fig, (ax_data, ax_slope) = plt.subplots(
    1, 2, figsize=(10, 4), layout="constrained"
)
for cluster, marker in zip(["c0", "c1", "c2"], ["o", "s", "^"], strict=True):
    rows = X["cluster"] == cluster
    ax_data.scatter(
        X.loc[rows, "x1"],
        X.loc[rows, "x2"],
        c=y[rows],
        cmap="coolwarm",
        marker=marker,
        s=10,
        label=f"{cluster} (r = {params.loc[cluster, 'radius']:.2f})",
    )
ax_data.set_xlabel("x1")
ax_data.set_ylabel("x2")
ax_data.legend(title="cluster")
top = armed.random_effects_variance_.idxmax()  # the effect varying most
mean, sd = effects[(top, "mean")], effects[(top, "sd")]
ax_slope.errorbar(np.arange(len(mean)), mean, yerr=1.96 * sd, fmt="o")
ax_slope.set_xticks(np.arange(len(mean)), armed.clusters_)
ax_slope.axhline(0, color="black", linewidth=0.8)
ax_slope.set_xlabel("cluster")
ax_slope.set_ylabel(f"{top} (posterior mean ± 1.96 sd)")
