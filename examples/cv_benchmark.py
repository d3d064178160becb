"""A cross-validated benchmark to copy
===================================

A grid of correction methods x data sets x folds. Every (data set, method,
fold) is one joblib task, so the grid runs in parallel on local cores
(``--n-jobs``), and on a dask cluster by wrapping the call in
``joblib.parallel_config(backend="dask")`` with a ``dask.distributed.Client``
open. The folds are stratified by protected group and label. Each task fits on
the training rows and scores the held-out rows: accuracy and the evaluation
model (binomial GLM of the predicted probabilities on the protected columns; a
level without held-out rows is left out, with a note). A fit that fails is
reported, left out of the means, and makes the script exit with status 2.

From the shell::

    python examples/cv_benchmark.py [--quick] [--folds 5] [--repeats 2] \
        [--n-jobs 2]

``orthokit bench`` is the full version (more methods, fairlearn baselines,
markdown/CSV/plots).
"""

# sphinx_gallery_start_ignore
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# sphinx_gallery_end_ignore

import argparse
import sys

import pandas as pd
from joblib import Parallel, delayed

# The suite's own data sets, folds, methods, task and summary
# (``orthokit bench``).
from orthokit._bench import (
    fold_sizes,
    fold_splits,
    load_bench_data,
    run_task,
    summarize,
)

DATASETS = ("adult", "compas")
METHODS = (
    "logistic regression",
    "logistic regression + protected",
    "OrthogonalProjector + LR",
    "OrthogonalLogisticRegression",
)


def grid(folds, repeats, quick):
    """One delayed task per (data set, method, fold)."""
    tasks = []
    for name in DATASETS:
        data = load_bench_data(name, quick=quick)
        for repeat, fold, train, test in fold_splits(data, folds, repeats):
            tasks += [
                delayed(run_task)(data, method, repeat, fold, train, test)
                for method in METHODS
            ]
    return tasks


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="2,000 rows per data set"
    )
    parser.add_argument("--folds", type=int, default=5, help="k of k-fold")
    parser.add_argument(
        "--repeats", type=int, default=2, help="repeats of k-fold"
    )
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers")
    args = parser.parse_args(argv)

    tasks = grid(args.folds, args.repeats, args.quick)
    print(f"{len(tasks)} fits on {args.n_jobs} worker(s)...")
    rows = pd.DataFrame(Parallel(n_jobs=args.n_jobs)(tasks))
    summary = summarize(rows).set_index(["dataset", "method"])
    columns = [
        "accuracy",
        "accuracy sd",
        "max |coef|",
        "folds p<0.05",
        "folds",
    ]
    with pd.option_context("display.float_format", "{:.3f}".format):
        print(summary[columns].to_string())
    for name in DATASETS:
        print(fold_sizes(rows, name))
    print(
        "\nmax |coef|: largest |coefficient| of the held-out evaluation model"
    )
    print("(mean over the folds that ran); folds p<0.05: folds where one is")
    print("significant; folds: folds that ran / all (and how many failed).")
    notes = rows.loc[rows["note"] != "", ["dataset", "repeat", "fold", "note"]]
    for row in notes.drop_duplicates().itertuples(index=False):
        where = f"{row.dataset}, repeat {row.repeat} fold {row.fold}"
        print(f"note: {where}: {row.note}")
    failed = rows[rows["status"] != "ok"]
    for row in failed.itertuples(index=False):
        print(
            f"FAILED (left out of the means): {row.dataset}, {row.method}, "
            f"repeat {row.repeat} fold {row.fold}: {row.error}",
            file=sys.stderr,
        )
    return summary


if __name__ == "__main__":
    # Exit only on failure: the docs build runs this block in its own process
    # (sphinx-gallery), which sys.exit(0) would end without an error.
    if main()["failed"].any():
        sys.exit(2)
