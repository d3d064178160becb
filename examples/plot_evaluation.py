"""Is a prediction free of S?
==========================

:func:`~orthokit.evaluation.check_orthogonality` fits the papers' evaluation
model: a GLM of the predictions on an intercept and the protected columns, with
the family of the prediction model (binomial for probabilities). A protected
coefficient that is significant means the predictions carry that attribute. The
GLM sees only the linear (link-scale) dependence;
:func:`~orthokit.evaluation.distance_correlation` measures any dependence, and
catches a prediction that depends on ``S`` through a symmetric function that
the GLM misses.

From the shell::

    python examples/plot_evaluation.py [--quick]
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.special import expit

from orthokit.evaluation import (
    check_orthogonality,
    distance_correlation,
    plot_reports,
)

parser = argparse.ArgumentParser(description="orthokit's evaluation tools.")
parser.add_argument(
    "--quick", action="store_true", help="fewer rows (the docs' size)"
)
QUICK = parser.parse_args().quick or os.environ.get("ORTHOKIT_QUICK") == "1"

# %%
# Three sets of predicted probabilities
# -------------------------------------
# ``s`` is a centred protected score; ``x`` a legitimate feature independent
# of it.
rng = np.random.default_rng(0)
n = 1000 if QUICK else 3000
s = rng.normal(size=n)
x = rng.normal(size=n)
predictions = {
    "free of s": expit(x),
    "linear in s": expit(x + 0.8 * s),
    "depends on s²": expit(x + 0.8 * (s**2 - 1)),
}

# %%
# The evaluation model and distance correlation of each
# -----------------------------------------------------
reports, dcor2 = {}, {}
for name, p in predictions.items():
    reports[name] = check_orthogonality(
        p, pd.DataFrame({"s": s}), family="binomial"
    )
    dcor2[name] = distance_correlation(p[:, None], s, random_state=0).value
    coef = reports[name].to_frame()["coef"].iloc[0]
    passed = reports[name].passed
    print(
        f"{name:>14}: GLM coefficient {coef:+.3f}, passed {passed}, "
        f"dcor² {dcor2[name]:.3f}"
    )
print(reports["linear in s"])

fig, (ax_glm, ax_dcor) = plt.subplots(
    1, 2, figsize=(10, 3.8), layout="constrained"
)
plot_reports(list(reports.values()), labels=list(reports), ax=ax_glm)
ax_glm.set_title("evaluation model (binomial GLM on s)")
ax_dcor.bar(list(dcor2), list(dcor2.values()), color=["C0", "C1", "C2"])
ax_dcor.set_ylabel("squared distance correlation with s")
ax_dcor.set_title("distance correlation")
