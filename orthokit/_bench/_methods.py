"""The methods of the benchmark suite and one fit-and-score task."""

import time
import warnings

import numpy as np
import pandas as pd

from orthokit._optional import require

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
#: Short names of the methods for ``orthokit bench --methods``.
METHOD_KEYS = dict(
    zip(
        ("lr", "lr+protected", "projector", "oglm", "oglm+protected",
         "fairlearn-cr", "fairlearn-eg"),
        METHODS,
        strict=True,
    )
)  # fmt: skip


def missing_packages(methods):
    """Return ``{method: package}`` for the methods whose peer is not installed.

    Examples
    --------
    >>> missing_packages(["logistic regression"])
    {}
    """
    import importlib.util

    if any(m in FAIRLEARN_METHODS for m in methods):
        try:
            found = importlib.util.find_spec("fairlearn") is not None
        except ValueError:  # fairlearn in sys.modules as None
            found = False
        if not found:
            return {m: "fairlearn" for m in methods if m in FAIRLEARN_METHODS}
    return {}


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
    >>> from orthokit._bench import load_bench_data
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
        preprocessing = require("fairlearn.preprocessing", f"method {method!r}", "dev")
        remover = preprocessing.CorrelationRemover(sensitive_feature_ids=data.protected)
        return make_pipeline(remover, logistic()), plain_fit
    if method == "fairlearn ExponentiatedGradient(DP)":
        reductions = require("fairlearn.reductions", f"method {method!r}", "dev")
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
        # its mixture of probabilities can exceed 1 by a rounding error
        return np.clip(np.asarray(estimator._pmf_predict(X))[:, 1], 0.0, 1.0)
    return np.asarray(estimator.predict_proba(X))[:, 1]


def _evaluation_columns(S_test, S_train, names, variables):
    """Columns of the held-out evaluation model, and a note on those left out.

    The levels are the training fold's (the data's encoding). A level with
    no held-out rows is left out; where the reference level of an attribute
    has none, its level with the most training rows becomes the reference
    of this fold (its column left out too).
    """
    keep, notes = np.zeros(len(names), bool), []
    for variable in dict.fromkeys(variables):
        columns = [j for j, v in enumerate(variables) if v == variable]
        present = [j for j in columns if S_test[:, j].any()]
        absent = [names[j] for j in columns if j not in present]
        if absent:
            notes.append(f"no held-out rows of {', '.join(absent)}: left out")
        if present and S_test[:, columns].any(axis=1).all():
            reference = max(present, key=lambda j: S_train[:, j].sum())
            present.remove(reference)
            notes.append(
                f"no held-out rows of the reference level of {variable}: "
                f"{names[reference]} is the reference of this fold"
            )
        keep[present] = True
    return keep, "; ".join(notes)


def _evaluate(probability, S_test, S_train, names, variables):
    """Held-out evaluation model: coefficient and p-value per kept column, a note."""
    from orthokit.evaluation import check_orthogonality

    result = {}
    keep, result["note"] = _evaluation_columns(S_test, S_train, names, variables)
    if keep.any():
        kept = [n for n, k in zip(names, keep, strict=True) if k]
        report = check_orthogonality(
            probability, pd.DataFrame(S_test[:, keep], columns=kept), family="binomial"
        )
        for row in report.table.itertuples(index=False):
            result[f"coef[{row.term}]"] = row.coef
            result[f"p[{row.term}]"] = row.p_value
    return result


def run_task(data, method, repeat, fold, train, test, eg_max_rows=None):
    """Fit one method on one fold; return one result row (a dict).

    ``status`` is ``"ok"``, or ``"failed"`` with the exception in ``error``
    (then the metrics are missing: a failed fit is never scored); ``note``
    says which protected levels the held-out evaluation left out.

    Examples
    --------
    >>> from orthokit._bench import load_bench_data
    >>> data = load_bench_data("compas", quick=True)
    >>> rows = np.arange(2000)
    >>> row = run_task(data, "logistic regression", 0, 0, rows[::2], rows[1::2])
    >>> bool(0.6 < row["accuracy"] < 0.8)
    True
    """
    from sklearn.metrics import roc_auc_score

    failed = {
        "dataset": data.name, "method": method, "repeat": repeat, "fold": fold,
        "n_train": len(train), "n_test": len(test), "status": "failed", "error": "",
        "note": "", "accuracy": np.nan, "auc": np.nan, "fit_seconds": np.nan,
        "n_warnings": 0,
    }  # fmt: skip
    terms = data.protected_names
    failed.update({f"{k}[{n}]": np.nan for k in ("coef", "p") for n in terms})
    row = dict(failed, status="ok")
    try:
        estimator, fit = make_method(method, data, eg_max_rows=eg_max_rows)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            start = time.perf_counter()
            fit(estimator, data.X[train], data.y[train], data.groups[train])
            row["fit_seconds"] = time.perf_counter() - start
            probability = predict_positive(estimator, data.X[test])
        row["n_warnings"] = len(caught)
        y_test = data.y[test]
        row["accuracy"] = float(np.mean((probability > 0.5) == y_test))
        row["auc"] = float(roc_auc_score(y_test, probability))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fractional binomial responses
            S = data.X[:, data.protected]
            row.update(_evaluate(probability, S[test], S[train],
                                 data.protected_names, data.variables))  # fmt: skip
    except Exception as exc:  # reported in every output, never averaged
        row = dict(failed, error=f"{type(exc).__name__}: {exc}")
    return row
