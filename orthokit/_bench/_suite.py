"""Run the suite: one joblib task per (data set, method, fold)."""

import os
import sys
import warnings

import pandas as pd
from tqdm.auto import tqdm

from orthokit._bench._data import SUITES, load_bench_data, strata
from orthokit._bench._methods import FAIRLEARN_METHODS, METHODS, run_task
from orthokit._optional import require

QUICK_EG_ROWS = 1000


def _dask_client(scheduler, n_jobs):
    distributed = require("dask.distributed", "--backend dask", "dask")
    if scheduler:
        return distributed.Client(scheduler), None
    n_workers = max(1, os.cpu_count() if n_jobs in (None, -1) else n_jobs)
    cluster = distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, dashboard_address=None
    )
    return distributed.Client(cluster), cluster


def fold_splits(data, folds, repeats, random_state=0):
    """Yield ``(repeat, fold, train, test)`` of repeated stratified k-fold.

    The folds are stratified by protected group and label together
    (:func:`strata`), so every fold holds every level that has at least
    ``folds`` rows in some stratum (scikit-learn's warning about strata
    with fewer rows than folds is expected and silenced).

    Examples
    --------
    >>> from orthokit._bench import load_bench_data
    >>> data = load_bench_data("compas", quick=True)
    >>> [(r, f, len(test)) for r, f, _, test in fold_splits(data, 2, 1)]
    [(0, 0, 1000), (0, 1, 1000)]
    """
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(
        n_splits=folds, n_repeats=repeats, random_state=random_state
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        splits = list(splitter.split(data.X, strata(data.groups, data.y)))
    for index, (train, test) in enumerate(splits):
        yield (*divmod(index, folds), train, test)


def run_suite(
    suite="fairness",
    *,
    datasets=None,
    methods=None,
    folds=5,
    repeats=2,
    n_jobs=1,
    quick=False,
    backend="loky",
    scheduler=None,
    eg_max_rows=None,
    random_state=0,
    progress=True,
):
    """Run the cross-validated suite and return one row per (data set, method, fold).

    Parameters
    ----------
    suite : {"fairness", "embeddings", "all"}, default="fairness"
        Which data sets (``datasets`` overrides).
    datasets, methods : list of str, optional
        Subsets of the data sets and of :data:`METHODS`.
    folds, repeats : int
        Repeated k-fold stratified by protected group and label
        (:func:`fold_splits`).
    n_jobs : int, default=1
        joblib workers (``-1``: all cores).
    quick : bool, default=False
        Subsampled data sets and ExponentiatedGradient on at most
        :data:`QUICK_EG_ROWS` training rows.
    backend : {"loky", "dask"}, default="loky"
        ``"dask"`` runs the tasks on a dask.distributed cluster: the one at
        ``scheduler``, or a LocalCluster with ``n_jobs`` workers.
    scheduler : str, optional
        Address of an existing dask scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
    eg_max_rows : int, optional
        Fit ExponentiatedGradient on at most this many training rows.
    random_state : int, default=0
        Seed of the folds and of the subsamples.
    progress : bool, default=True
        Show a tqdm progress bar on stderr.

    Returns
    -------
    DataFrame
        Sorted by data set, method, repeat and fold; identical (but for
        ``fit_seconds``) across backends and ``n_jobs``.

    Examples
    --------
    >>> rows = run_suite(datasets=["compas"], methods=["logistic regression"],
    ...                  folds=2, repeats=1, quick=True, progress=False)
    >>> rows[["dataset", "fold"]].values.tolist()
    [['compas', 0], ['compas', 1]]
    """
    import joblib

    if suite not in SUITES:
        raise ValueError(f"suite must be one of {list(SUITES)}, got {suite!r}.")
    if backend not in ("loky", "dask"):
        raise ValueError(f"backend must be 'loky' or 'dask', got {backend!r}.")
    for name, value, low in (("folds", folds, 2), ("repeats", repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    if scheduler is not None and backend != "dask":
        raise ValueError("scheduler is only used with backend='dask'.")
    datasets = list(datasets or SUITES[suite])
    known = SUITES["all"]
    unknown = [n for n in datasets if n not in known]
    if unknown:
        raise ValueError(
            f"unknown data set {unknown[0]!r}; choose from {sorted(known)}."
        )
    methods = list(methods or METHODS)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}.")
    if set(methods) & set(FAIRLEARN_METHODS):
        require("fairlearn", "the fairlearn rows of the suite", "dev")
    if quick and eg_max_rows is None:
        eg_max_rows = QUICK_EG_ROWS

    loaded = [load_bench_data(n, quick=quick, random_state=random_state)
              for n in datasets]  # fmt: skip
    tasks = [
        (data, m, repeat, fold, train, test)
        for data in loaded
        for repeat, fold, train, test in fold_splits(data, folds, repeats, random_state)
        for m in methods
    ]

    bar = tqdm(total=len(tasks), unit="task", file=sys.stderr, disable=not progress)
    client = cluster = None
    try:
        if backend == "dask":
            client, cluster = _dask_client(scheduler, n_jobs)
            config = joblib.parallel_config(backend="dask", scatter=loaded)
        else:
            config = joblib.parallel_config(backend="loky")
        rows = []
        with config:
            results = joblib.Parallel(
                n_jobs=n_jobs if backend == "loky" else -1,
                return_as="generator_unordered",
            )(joblib.delayed(run_task)(*task, eg_max_rows) for task in tasks)
            for row in results:
                rows.append(row)
                bar.set_postfix_str(f"{row['dataset']}: {row['method']}")
                bar.update()
    finally:
        bar.close()
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    order = {m: i for i, m in enumerate(METHODS)}
    frame = pd.DataFrame(rows)
    frame["_order"] = frame["method"].map(order)
    frame["_data"] = frame["dataset"].map({n: i for i, n in enumerate(datasets)})
    frame = frame.sort_values(["_data", "_order", "repeat", "fold"])
    return frame.drop(columns=["_order", "_data"]).reset_index(drop=True)
