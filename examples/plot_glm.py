"""A constrained logistic regression
=================================

The model of the orthogonalization paper (its Table 2) on Adult: income from
age, work class, education, marital status, relationship and weekly hours. The
plain logistic regression never sees sex or race, yet its predicted
probabilities carry both: the evaluation model (a binomial GLM of the
predictions on the protected columns) finds a large, significant sex
coefficient. :class:`~orthokit.linear_model.OrthogonalLogisticRegression`
maximizes the likelihood under the constraint ``S̃ᵀ μ = 0``; on its training
rows the evaluation coefficients are then zero, and on held-out rows close to
zero. The exact Newton-KKT solver and the first-order MDMM solver reach the
same solution.

From the shell::

    python examples/plot_glm.py [--quick]
"""

import argparse
import os
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from orthokit.datasets import ADULT_PAPER_FEATURES, load_adult
from orthokit.evaluation import check_orthogonality, plot_reports
from orthokit.linear_model import OrthogonalLogisticRegression

parser = argparse.ArgumentParser(
    description="OrthogonalLogisticRegression on Adult."
)
parser.add_argument(
    "--quick", action="store_true", help="fewer rows (the docs' size)"
)
QUICK = parser.parse_args().quick or os.environ.get("ORTHOKIT_QUICK") == "1"

# %%
# The paper's features, one-hot, and the protected columns
# ---------------------------------------------------------
adult = load_adult()
features = pd.get_dummies(
    adult.data[ADULT_PAPER_FEATURES], drop_first=True, dtype=float
)
X = features.join(adult.data[["sex", "race"]])
y = adult.target
if QUICK:
    X, y = X.iloc[:8000], y.iloc[:8000]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, random_state=0, stratify=y
)
protected_test = X_test[["sex", "race"]]

# %%
# Fit the plain and the constrained models
# ----------------------------------------
# ``alpha`` is a small ridge (Adult is quasi-separated: some levels have no
# positive case).
plain = LogisticRegression(C=1e3, max_iter=5000).fit(
    X_train[features.columns], y_train
)
models = {}
for solver in ("newton", "mdmm"):
    start = time.perf_counter()
    models[solver] = OrthogonalLogisticRegression(
        protected=["sex", "race"], solver=solver, alpha=1e-3
    ).fit(X_train, y_train)
    seconds = time.perf_counter() - start
    glm = models[solver]
    print(
        f"{solver}: {glm.n_iter_} iterations, {seconds:.2f} s, "
        f"constraint violation {glm.constraint_violation_:.1e}"
    )
print(
    "largest coefficient difference newton vs mdmm:",
    np.abs(models["newton"].coef_ - models["mdmm"].coef_).max(),
)

# %%
# The evaluation model of the held-out predictions
# ------------------------------------------------
reports = {
    "logistic regression": check_orthogonality(
        plain.predict_proba(X_test[features.columns])[:, 1], protected_test
    ),
    "OrthogonalLogisticRegression": check_orthogonality(
        models["newton"].predict_proba(X_test)[:, 1], protected_test
    ),
}
for name, report in reports.items():
    print(f"--- {name}")
    print(report)
accuracy = {
    "logistic regression": plain.score(X_test[features.columns], y_test),
    "OrthogonalLogisticRegression": models["newton"].score(X_test, y_test),
}
print("held-out accuracy:", {k: round(v, 3) for k, v in accuracy.items()})

ax = plot_reports(list(reports.values()), labels=list(reports))
ax.set_title("evaluation model of the held-out predicted probabilities")
ax.figure.set_size_inches(8, 4)
ax.figure.set_layout_engine("constrained")
