"""A fairness pipeline tuned with GridSearchCV
===========================================

Three scikit-learn pipelines per data set (Adult and COMPAS), each tuned by
cross-validation:

1. plain logistic regression on the features (the protected columns dropped);
2. OrthogonalProjector (features residualized on sex and race) + logistic
   regression;
3. OrthogonalLogisticRegression (predictions constrained to be orthogonal to
   sex and race).

For each, the evaluation model of the held-out predictions (a binomial GLM of
the predicted probabilities on the protected columns) is shown side by side,
with the coefficient plot, and the accuracy cost of each correction.

From the shell::

    python examples/tabular_fairness.py [--quick] [--out DIR]
"""

import os

# sphinx_gallery_start_ignore
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see the project's README
os.environ.setdefault("OMP_NUM_THREADS", "1")
# sphinx_gallery_end_ignore

import argparse

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from orthokit import OrthogonalProjector
from orthokit.datasets import ADULT_PAPER_FEATURES, load_adult, load_compas
from orthokit.evaluation import check_estimator_orthogonality, plot_reports
from orthokit.linear_model import OrthogonalLogisticRegression


def load(name, n_rows=None):
    """Return X (features and protected columns), y and the column lists."""
    if name == "adult":
        frame = load_adult().frame
        X = frame[ADULT_PAPER_FEATURES + ["sex", "race"]]
        y = frame["income"]
        categorical = [
            "workclass",
            "education",
            "marital_status",
            "relationship",
        ]
        protected = ["sex", "race"]
    else:
        compas = load_compas()
        X, y = compas.data, compas.target
        categorical, protected = [], ["race", "sex"]
    if n_rows is not None:
        X = X.sample(n_rows, random_state=0)
        y = y.loc[X.index]
    numeric = [c for c in X.columns if c not in categorical + protected]
    return X, y, categorical, numeric, protected


def encoder(X, categorical, numeric, keep):
    """One-hot the categoricals, scale the numerics, pass ``keep`` through."""
    levels = [list(X[c].cat.categories) for c in categorical]
    return ColumnTransformer(
        [
            (
                "cat",
                OneHotEncoder(
                    categories=levels, drop="first", sparse_output=False
                ),
                categorical,
            ),
            ("num", StandardScaler(), numeric),
            ("keep", "passthrough", keep),
        ],  # fmt: skip
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")


def models(X, categorical, numeric, protected, quick):
    """The three pipelines and their parameter grids."""
    grid_c = [0.1, 1.0] if quick else [0.01, 0.1, 1.0, 10.0]
    grid_alpha = [1e-3, 1e-2] if quick else [1e-4, 1e-3, 1e-2, 1e-1]
    return {
        "logistic regression": (
            make_pipeline(
                encoder(X, categorical, numeric, []),
                LogisticRegression(max_iter=2000),
            ),
            {"logisticregression__C": grid_c},
        ),
        "OrthogonalProjector + LR": (
            make_pipeline(
                encoder(X, categorical, numeric, protected),
                OrthogonalProjector(protected=protected),
                LogisticRegression(max_iter=2000),
            ),
            {"logisticregression__C": grid_c},
        ),
        "OrthogonalLogisticRegression": (
            make_pipeline(
                encoder(X, categorical, numeric, protected),
                OrthogonalLogisticRegression(
                    protected=protected,
                    solver="newton",
                    max_iter=100,
                    tol=1e-6,
                ),
            ),
            {
                "orthogonallogisticregression__alpha": grid_alpha,
                # With the protected columns as predictors the constraint still
                # holds; they only carry what the features cannot (Table 3).
                "orthogonallogisticregression__protected_as_predictors": [
                    False,
                    True,
                ],
            },
        ),
    }


def run(name, quick, out):
    X, y, categorical, numeric, protected = load(name, 3000 if quick else None)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    results = {}
    for label, (pipe, grid) in models(
        X, categorical, numeric, protected, quick
    ).items():
        search = GridSearchCV(pipe, grid, cv=3 if quick else 5, n_jobs=1)
        search.fit(X_train, y_train)
        report = check_estimator_orthogonality(
            search.best_estimator_, X_test, protected, family="binomial"
        )
        results[label] = {
            "accuracy": search.score(X_test, y_test),
            "best_params": search.best_params_,
            "report": report,
        }

    base = results["logistic regression"]["accuracy"]
    print(
        f"\n=== {name}: {len(X_train):,} training rows, "
        f"{len(X_test):,} held out (protected: {', '.join(protected)}) ==="
    )
    summary = pd.DataFrame(
        {
            label: {
                "held-out accuracy": f"{r['accuracy']:.3f}",
                "cost vs plain LR": f"{r['accuracy'] - base:+.3f}",
                "tuned": ", ".join(
                    f"{k.split('__')[1]}={v}"
                    for k, v in r["best_params"].items()
                ),
            }
            for label, r in results.items()
        }
    )
    print(summary.to_string())
    print(
        "\nEvaluation model of the held-out predicted probabilities "
        "(binomial GLM\non the protected columns); cells are coefficient "
        "(p-value):"
    )
    side_by_side = pd.DataFrame(
        {
            label: {
                row.term: f"{row.coef:+.3f} ({row.p_value:.3g})"
                for row in r["report"].to_frame().itertuples()
            }
            for label, r in results.items()
        }
    )
    verdicts = {label: "PASS" if r["report"].passed else "FAIL"
                for label, r in results.items()}  # fmt: skip
    side_by_side.loc["verdict (alpha 0.05)"] = verdicts
    print(side_by_side.to_string())

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_reports(
        [r["report"] for r in results.values()], labels=list(results)
    )
    ax.set_title(f"{name}: held-out evaluation coefficients")
    path = os.path.join(out, f"{name}_coefficients.png")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    plt.close(ax.figure)
    print(f"coefficient plot: {path}")
    results["plot"] = path
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3,000 rows, small grids"
    )
    parser.add_argument(
        "--out",
        default=".",
        help="plot folder (default: the working directory)",
    )
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    return {
        name: run(name, args.quick, args.out) for name in ("adult", "compas")
    }


if __name__ == "__main__":
    main()
