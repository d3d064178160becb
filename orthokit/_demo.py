"""The main job (`orthokit demo`): features leak sex and race; the fix stops it.

It runs on the Adult data shipped with the package.
"""

import time
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from orthokit.datasets import load_adult
from orthokit.preprocessing import OrthogonalProjector


def leak_table(train, test, protected):
    """Per protected indicator: max |corr| with the features and a probe's AUC.

    The correlation is measured on ``train``; the linear probe is trained on
    ``train`` and scored on ``test`` (held out, as a user would meet it).
    """
    rows = []
    scale = train.std(axis=0).replace(0, 1)
    train_z, test_z = (train - train.mean()) / scale, (test - train.mean()) / scale
    for name in protected.columns:
        column = protected.loc[train.index, name]
        centred = (column - column.mean()) / column.std()
        probe = LogisticRegression(max_iter=2000).fit(train_z, column.astype(int))
        scores = probe.predict_proba(test_z)[:, 1]
        rows.append(
            {
                "protected": name,
                "max |corr|": np.abs(centred @ train_z).max() / len(column),
                "probe AUC (held out)": roc_auc_score(
                    protected.loc[test.index, name].astype(int), scores
                ),
            }
        )
    return pd.DataFrame(rows).set_index("protected")


def run_demo(plot=None):
    """Run the demo; print the before/after tables. Returns the exit code 0."""
    start = time.perf_counter()
    adult = load_adult()
    frame = adult.frame.drop(columns=["income", "native_country", "fnlwgt"])
    X = pd.get_dummies(frame, drop_first=True, dtype=float)
    protected = [c for c in X.columns if c.startswith(("sex_", "race_"))]
    n_features = X.shape[1] - len(protected)
    indicators = X[["sex_Male", "race_White", "race_Black"]]
    print(
        f"UCI Adult: {len(X):,} people, {n_features} one-hot features; "
        f"protected: sex and race ({len(protected)} encoded columns)\n"
    )
    train, test = train_test_split(X, test_size=0.3, random_state=0)
    before = leak_table(
        train.drop(columns=protected), test.drop(columns=protected), indicators
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-hot features: constant-free, but tidy
        projector = OrthogonalProjector(protected=protected).set_output(
            transform="pandas"
        )
        after = leak_table(
            projector.fit_transform(train), projector.transform(test), indicators
        )
    table = pd.concat({"before": before, "after OrthogonalProjector": after}, axis=1)
    with pd.option_context("display.float_format", "{:.3g}".format):
        print(table.to_string())
    print(
        "\nBefore: the features predict sex and race (probe AUC well above 0.5).\n"
        "After (fitted on the 70% training split, applied to the held-out 30%):\n"
        "every feature is uncorrelated with every protected column in sample and a\n"
        "linear probe is near chance on held-out rows. Features keep their units."
    )
    print(f"\n(done in {time.perf_counter() - start:.1f} s)")
    return 0
