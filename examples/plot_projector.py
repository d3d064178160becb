"""Residualize features on protected columns
=========================================

The Adult census data: age, years of education and weekly hours all correlate
with sex and race. :class:`~orthokit.preprocessing.OrthogonalProjector`
regresses each feature on the centred protected columns and keeps the residual.
On the training rows every corrected feature is uncorrelated with every encoded
protected column (to rounding); on held-out rows, corrected with the training
coefficients, the correlation is close to zero. A linear probe that predicts
sex from the features falls to chance.

From the shell::

    python examples/plot_projector.py [--quick]
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from orthokit.datasets import load_adult
from orthokit.preprocessing import OrthogonalProjector

parser = argparse.ArgumentParser(description="OrthogonalProjector on Adult.")
parser.add_argument(
    "--quick", action="store_true", help="fewer rows (the docs' size)"
)
QUICK = parser.parse_args().quick or os.environ.get("ORTHOKIT_QUICK") == "1"

# %%
# Data: three numeric features and the two protected columns
# ------------------------------------------------------------
# The protected columns are named in the constructor and live in ``X``;
# the categorical ``sex`` and ``race`` are one-hot encoded (first level
# dropped) inside the projector.
adult = load_adult()
features = ["age", "education_num", "hours_per_week"]
X = adult.data[features + ["sex", "race"]]
if QUICK:
    X = X.sample(4000, random_state=0)
X_train, X_test = train_test_split(X, test_size=0.5, random_state=0)
male_train = (X_train["sex"] == "Male").to_numpy(float)
male_test = (X_test["sex"] == "Male").to_numpy(float)

projector = OrthogonalProjector(protected=["sex", "race"]).set_output(
    transform="pandas"
)
X_train_fair = projector.fit_transform(X_train)
X_test_fair = projector.transform(X_test)
print("encoded protected columns:", list(projector.protected_.encoded_names_))
print(projector.coef_.round(3))


# %%
# Correlation with sex before and after
# -------------------------------------
def correlation_with(frame, indicator):
    return np.array([np.corrcoef(frame[f], indicator)[0, 1] for f in features])


before = correlation_with(X_test, male_test)
after_train = correlation_with(X_train_fair, male_train)
after_test = correlation_with(X_test_fair, male_test)
print("largest |corr| on the training rows after:", np.abs(after_train).max())
print("largest |corr| on held-out rows after:   ", np.abs(after_test).max())


# %%
# A linear probe for sex
# ----------------------
# Trained on the training rows, scored on the held-out rows (ROC AUC; 0.5 is
# chance).
def probe_auc(train, test):
    probe = LogisticRegression(max_iter=1000).fit(train[features], male_train)
    return roc_auc_score(male_test, probe.predict_proba(test[features])[:, 1])


auc_before = probe_auc(X_train, X_test)
auc_after = probe_auc(X_train_fair, X_test_fair)
print(f"probe AUC: before {auc_before:.3f}, after {auc_after:.3f}")

fig, (ax_corr, ax_probe) = plt.subplots(
    1, 2, figsize=(9, 3.5), layout="constrained"
)
width = 0.38
positions = np.arange(len(features))
ax_corr.bar(positions - width / 2, before, width, label="raw")
ax_corr.bar(
    positions + width / 2, after_test, width, label="OrthogonalProjector"
)
ax_corr.axhline(0, color="black", linewidth=0.8)
ax_corr.set_xticks(positions, features)
ax_corr.set_ylabel("correlation with sex (held out)")
ax_corr.legend()
ax_probe.bar(
    ["raw", "OrthogonalProjector"], [auc_before, auc_after], color=["C0", "C1"]
)
ax_probe.axhline(
    0.5, color="black", linestyle="--", linewidth=0.8, label="chance"
)
ax_probe.set_ylim(0.4, 1.0)
ax_probe.set_ylabel("sex probe ROC AUC (held out)")
ax_probe.legend()
