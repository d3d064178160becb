"""A cross-validated benchmark to copy: correction methods x data sets x folds.
============================================================================

Every (data set, method, fold) is one joblib task, so the grid runs in
parallel on local cores (``--n-jobs``), and on a dask cluster by wrapping the
call in ``joblib.parallel_config(backend="dask")`` with a
``dask.distributed.Client`` open. Each task fits on the training rows and
scores the held-out rows: accuracy and the evaluation model (binomial GLM of
the predicted probabilities on the protected columns).

From the shell::

    python examples/cv_benchmark.py [--quick] [--folds 5] [--repeats 2] [--n-jobs 2]

``orthokit bench`` is the full version (more methods, fairlearn baselines,
markdown/CSV/plots).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import RepeatedStratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from orthokit import OrthogonalProjector  # noqa: E402
from orthokit.datasets import ADULT_PAPER_FEATURES, load_adult, load_compas  # noqa: E402
from orthokit.evaluation import check_orthogonality  # noqa: E402
from orthokit.linear_model import OrthogonalLogisticRegression  # noqa: E402
from orthokit.preprocessing import RecursiveResidualizer  # noqa: E402


def datasets(quick):
    """name -> (X with numeric features and protected columns, y, protected)."""
    adult = load_adult().frame
    features = pd.get_dummies(adult[ADULT_PAPER_FEATURES], drop_first=True, dtype=float)
    compas = load_compas()
    data = {
        "adult": (pd.concat([features, adult[["sex", "race"]]], axis=1),
                  adult["income"], ["sex", "race"]),
        "compas": (compas.data, compas.target, ["race", "sex"]),
    }  # fmt: skip
    if quick:
        data = {
            name: (X.sample(1500, random_state=0), y, p)
            for name, (X, y, p) in data.items()
        }
        data = {name: (X, y.loc[X.index], p) for name, (X, y, p) in data.items()}
    return data


def methods(protected, feature_columns):
    """name -> an unfitted estimator taking X with the protected columns."""
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return {
        "logistic regression": make_pipeline(
            ColumnTransformer([("f", "passthrough", feature_columns)]), logistic
        ),
        "OrthogonalProjector + LR": make_pipeline(
            OrthogonalProjector(protected=protected), clone(logistic)
        ),
        "RecursiveResidualizer + LR": make_pipeline(
            RecursiveResidualizer(protected=protected), clone(logistic)
        ),
        "OrthogonalLogisticRegression": OrthogonalLogisticRegression(
            protected=protected, solver="newton", alpha=1e-3
        ),
    }


def one_fold(X, y, protected, data_name, method_name, estimator, fold, train, test):
    start = time.perf_counter()
    estimator.fit(X.iloc[train], y.iloc[train])
    seconds = time.perf_counter() - start
    probability = estimator.predict_proba(X.iloc[test])[:, 1]
    report = check_orthogonality(
        probability, X.iloc[test][protected], family="binomial"
    ).to_frame()
    return {
        "data": data_name,
        "method": method_name,
        "fold": fold,
        "accuracy": ((probability > 0.5) == y.iloc[test]).mean(),
        "max |eval coef|": report["coef"].abs().max(),
        "any p < 0.05": bool((report["p_value"] < 0.05).any()),
        "fit s": seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,500 rows per set")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)

    tasks = []
    for data_name, (X, y, protected) in datasets(args.quick).items():
        features = [c for c in X.columns if c not in protected]
        cv = RepeatedStratifiedKFold(
            n_splits=args.folds, n_repeats=args.repeats, random_state=0
        )
        for fold, (train, test) in enumerate(cv.split(X, y)):
            for method_name, estimator in methods(protected, features).items():
                tasks.append(
                    delayed(one_fold)(X, y, protected, data_name, method_name,
                                      estimator, fold, train, test)
                )  # fmt: skip
    print(f"{len(tasks)} fits on {args.n_jobs} worker(s)...")
    rows = pd.DataFrame(Parallel(n_jobs=args.n_jobs)(tasks))
    summary = rows.groupby(["data", "method"], sort=False).agg(
        accuracy=("accuracy", "mean"),
        accuracy_sd=("accuracy", "std"),
        max_eval_coef=("max |eval coef|", "mean"),
        folds_with_effect=("any p < 0.05", "sum"),
        fit_s=("fit s", "mean"),
    )
    with pd.option_context("display.float_format", "{:.3f}".format):
        print(summary.to_string())
    print("\nmax_eval_coef: largest |coefficient| of the held-out evaluation model")
    print("(mean over folds); folds_with_effect: folds where one is significant.")
    return summary


if __name__ == "__main__":
    main()
