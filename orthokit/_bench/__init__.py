"""The cross-validated benchmark suite behind ``orthokit bench``.

Methods x data sets x repeated k-fold (stratified by protected group and
label), one joblib task per
(data set, method, fold), run by joblib's local (loky) backend or by a
dask.distributed cluster. Every task fits one method on the training rows and
scores the held-out rows: accuracy, ROC AUC, fit time, and the evaluation
model (a binomial GLM of the held-out predicted probabilities on the encoded
protected columns, :func:`~orthokit.evaluation.check_orthogonality`; a level
with no held-out rows is left out, with a note). A task that raises is
recorded as failed (``status``, ``error``) and left out of every mean.
fairlearn, dask and the embedding model are imported only when needed.

``_data`` loads the data sets, ``_methods`` builds the methods and runs one
task, ``_suite`` runs the grid, ``_results`` makes the tables and plots.
"""

from orthokit._bench._data import (
    DATASET_EXTRAS,
    QUICK_ROWS,
    SUITES,
    BenchData,
    load_bench_data,
    strata,
    stratified_subsample,
)
from orthokit._bench._methods import (
    FAIRLEARN_METHODS,
    METHOD_KEYS,
    METHODS,
    make_method,
    missing_packages,
    predict_positive,
    run_task,
)
from orthokit._bench._results import (
    PAPER_TABLE3,
    fold_sizes,
    plot_tradeoff,
    summarize,
    table3,
    write_results,
)
from orthokit._bench._suite import QUICK_EG_ROWS, fold_splits, run_suite

__all__ = [
    "DATASET_EXTRAS",
    "FAIRLEARN_METHODS",
    "METHODS",
    "METHOD_KEYS",
    "PAPER_TABLE3",
    "QUICK_EG_ROWS",
    "QUICK_ROWS",
    "SUITES",
    "BenchData",
    "fold_sizes",
    "fold_splits",
    "load_bench_data",
    "make_method",
    "missing_packages",
    "plot_tradeoff",
    "predict_positive",
    "run_suite",
    "run_task",
    "strata",
    "stratified_subsample",
    "summarize",
    "table3",
    "write_results",
]
