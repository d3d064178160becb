"""The entry points of the bad-input tables: every public entry point that takes data.

``ENTRIES`` lists them: how to fit one on a frame and apply it, its *kind*
(transformer, classifier, regressor, function, cli), its *family* (the
subpackage, whose test folder runs its cases) and *traits* (``y``: it takes a
target; ``counts``: the target is a count; ``probabilities``: its input holds
probabilities; ``paired``: predictions and protected columns are separate
arguments; ``cluster``: ARMED's single grouping column stands in for the
protected ones). The cases are in ``bad_input_cases.py``, the runner in
``bad_input.py``; ``tests/README.md`` explains how to add an entry point.
"""

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
from scipy.special import expit
from sklearn.decomposition import PCA

from orthokit import OrthogonalProjector
from orthokit.cli import main as cli_main
from orthokit.evaluation import (
    check_estimator_orthogonality,
    check_orthogonality,
    distance_correlation,
    nonlinear_check,
)
from orthokit.linear_model import (
    OrthogonalGLM,
    OrthogonalLogisticRegression,
    OrthogonalPoissonRegressor,
    make_posthoc_pipeline,
)
from orthokit.preprocessing import ConceptEraser, RecursiveResidualizer

N_ROWS = 120


def valid_frame(n=N_ROWS, seed=0):
    """``f1`` a probability, ``f2``-``f5`` real, categorical ``sex``/``race``.

    More features than encoded protected columns, so that the orthogonal GLMs
    have slopes to fit; a binary target.
    """
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    race = rng.choice(["A", "B", "W"], size=n)
    f1 = expit(rng.normal(size=n) + (sex == "M"))
    f2 = rng.normal(size=n) + (race == "W")
    rest = rng.normal(size=(n, 3))
    X = pd.DataFrame({"f1": f1, "sex": sex, "f2": f2, "race": race})
    X[["f3", "f4", "f5"]] = rest
    logit = 4 * f1 - f2 + rest.sum(axis=1) + 0.5 * rng.normal(size=n)
    y = (logit > np.median(logit)).astype(int)
    return X, y


# ---------------------------------------------------------------- entry points


@dataclass
class Entry:
    """One public entry point that takes data.

    ``fit(X, y)`` returns the fitted state (None for functions) and
    ``apply(state, X, y)`` the output to check; ``build()`` an unfitted object
    (for the ``unfitted`` stage). ``family`` is the subpackage of ``orthokit``
    (or ``cli``) whose test folder runs the entry's cases (``FAMILIES`` in
    ``bad_input.py``). ``protected`` are the columns of the valid frame the
    entry treats as protected; ``columns`` those it is given.
    """

    name: str
    kind: str
    family: str
    fit: callable
    apply: callable
    build: callable = None
    traits: frozenset = frozenset()
    protected: list = field(default_factory=lambda: ["sex", "race"])
    columns: list = field(
        default_factory=lambda: ["f1", "sex", "f2", "race", "f3", "f4", "f5"]
    )
    stages: frozenset = frozenset({"fit", "apply", "unfitted"})

    @property
    def tags(self):
        return {self.kind} | set(self.traits)


def _estimator(name, make, kind, method, *, family, traits=(), **kwargs):
    """An entry for an estimator: fit(X, y), then ``method``(X)."""
    uses_y = "y" in traits or kind in ("classifier", "regressor")
    return Entry(
        name,
        kind,
        family,
        fit=lambda X, y: make().fit(X, y) if uses_y else make().fit(X),
        apply=lambda est, X, y: getattr(est, method)(X),
        build=make,
        traits=frozenset(traits) | ({"y"} if uses_y else set()),
        **kwargs,
    )


def _function(name, call, *, predictions=(0, 2), traits=()):
    """An entry for a function of predictions and protected columns.

    ``call(predictions, protected)`` with the columns at ``predictions`` and
    the protected ones (1 and 3) of the frame, taken by position so that
    column names, frames, arrays and sparse matrices all reach the function.
    The predictions are cut to ``len(y)`` rows so that the
    ``mismatched_length`` case reaches them.
    """

    def apply(_, X, y):
        values = _columns(X, list(predictions))
        n_rows = X.collect().height if isinstance(X, pl.LazyFrame) else X.shape[0]
        if len(y) != n_rows:
            values = values[: len(y)]
        return call(values, _columns(X, [1, 3]))

    return Entry(
        name,
        "function",
        "evaluation",
        fit=lambda X, y: None,
        apply=apply,
        traits=frozenset(traits) | {"paired", "evaluation"},
        stages=frozenset({"fit"}),
    )


def _columns(X, positions):
    if isinstance(X, pd.DataFrame):
        return X.iloc[:, positions]
    if isinstance(X, pl.DataFrame):
        return X.select([X.columns[j] for j in positions])
    if isinstance(X, pa.Table):
        return X.select([X.column_names[j] for j in positions])
    if isinstance(X, pl.LazyFrame):
        return X.select(pl.nth(positions))
    return X[:, positions]  # arrays and sparse matrices


FAST_GLM = {"solver": "newton", "alpha": 0.01}
FAST_ARMED = {
    "hidden_layer_sizes": (4,),
    "adversary_layer_sizes": (4,),
    "max_epochs": 2,
    "batch_size": 64,
    "random_state": 0,
    "unseen_clusters": "error",
}


def _armed(name):
    from orthokit import mixed

    return getattr(mixed, name)


def _nn(name):
    import orthokit.nn

    return getattr(orthokit.nn, name)


class AuditFailed(ValueError):
    """``orthokit audit`` exited with status 2 (bad input); its stderr."""


@dataclass
class RawFile:
    """What a CLI case writes instead of a CSV of the frame (None: no file)."""

    content: bytes | None
    argv: tuple = ()


def _audit(X, tmp_dir, extra=()):
    path = tmp_dir / "input.csv"
    argv = ["audit", str(path), "--protected", "sex,race"]
    argv += ["--prediction-column", "f1", "--family", "binomial"]
    if isinstance(X, RawFile):
        if X.content is not None:
            path.write_bytes(X.content)
        argv = argv[:2] + list(X.argv or argv[2:])
    elif isinstance(X, pd.DataFrame):
        X.to_csv(path, index=False)
    else:
        raise TypeError(f"the CLI reads files; cannot write a {type(X).__name__}")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main([*argv, *extra])
    if code == 2:
        raise AuditFailed(err.getvalue())
    assert code in (0, 1), f"exit code {code}: {err.getvalue()}"
    return np.array([code], dtype=float)


def _logistic():
    return OrthogonalLogisticRegression(protected=["sex", "race"], **FAST_GLM)


def _posthoc():
    return make_posthoc_pipeline(
        PCA(n_components=1),
        OrthogonalLogisticRegression(protected=["sex", "race"], **FAST_GLM),
    )


ENTRIES = [
    _estimator(
        "OrthogonalProjector",
        lambda: OrthogonalProjector(protected=["sex", "race"]),
        "transformer",
        "transform",
        family="preprocessing",
    ),
    _estimator(
        "OrthogonalProjector(preserve_target)",
        lambda: OrthogonalProjector(protected=["sex", "race"], preserve_target=True),
        "transformer",
        "transform",
        family="preprocessing",
        traits={"y", "preserve_target"},
    ),
    _estimator(
        "ConceptEraser",
        lambda: ConceptEraser(protected=["sex", "race"]),
        "transformer",
        "transform",
        family="preprocessing",
        traits={"ignores_protected"},
    ),
    _estimator(
        "RecursiveResidualizer",
        lambda: RecursiveResidualizer(
            protected=["sex", "race"], forgetting_factor=0.99
        ),
        "transformer",
        "transform",
        family="preprocessing",
    ),
    _estimator(
        "OrthogonalGLM(gaussian).predict",
        lambda: OrthogonalGLM(
            protected=["sex", "race"], family="gaussian", solver="newton"
        ),
        "regressor",
        "predict",
        family="linear_model",
        traits={"ignores_protected"},
    ),
    _estimator(
        "OrthogonalGLM(binomial).predict_proba",
        lambda: OrthogonalGLM(protected=["sex", "race"], alpha=0.01),
        "classifier",
        "predict_proba",
        family="linear_model",
        traits={"ignores_protected"},
    ),
    _estimator(
        "OrthogonalLogisticRegression.predict",
        _logistic,
        "classifier",
        "predict",
        family="linear_model",
        traits={"ignores_protected"},
    ),
    _estimator(
        "OrthogonalLogisticRegression.predict_proba",
        lambda: OrthogonalLogisticRegression(
            protected=["sex", "race"], protected_as_predictors=True, **FAST_GLM
        ),
        "classifier",
        "predict_proba",
        family="linear_model",
    ),
    _estimator(
        "OrthogonalPoissonRegressor.predict",
        lambda: OrthogonalPoissonRegressor(protected=["sex", "race"], **FAST_GLM),
        "regressor",
        "predict",
        family="linear_model",
        traits={"counts", "ignores_protected"},
    ),
    _estimator(
        "make_posthoc_pipeline.predict_proba",
        _posthoc,
        "classifier",
        "predict_proba",
        family="linear_model",
        traits={"ignores_protected", "sklearn_pipeline"},
    ),
    # ARMED: the cluster column plays the part of the protected columns.
    _estimator(
        "ARMEDClassifier.predict_proba",
        lambda: _armed("ARMEDClassifier")(cluster="race", **FAST_ARMED),
        "classifier",
        "predict_proba",
        family="mixed",
        traits={"cluster"},
        protected=["race"],
        columns=["f1", "f2", "race", "f3", "f4", "f5"],
    ),
    _estimator(
        "ARMEDRegressor.predict",
        lambda: _armed("ARMEDRegressor")(cluster="race", **FAST_ARMED),
        "regressor",
        "predict",
        family="mixed",
        traits={"cluster"},
        protected=["race"],
        columns=["f1", "f2", "race", "f3", "f4", "f5"],
    ),
    _function(
        "check_orthogonality",
        lambda p, s: check_orthogonality(p, s).to_frame()[["coef", "p_value"]],
    ),
    _function(
        "check_orthogonality(binomial)",
        lambda p, s: check_orthogonality(p, s, family="binomial").to_frame()[
            ["coef", "p_value"]
        ],
        predictions=(0,),
        traits={"probabilities", "single_output"},
    ),
    _function(
        "distance_correlation",
        lambda p, s: [distance_correlation(p, s, random_state=0).value],
        traits={"dcor"},
    ),
    _function(
        "nonlinear_check",
        lambda p, s: nonlinear_check(p, s, n_permutations=1, random_state=0)[
            ["rf_importance", "rf_p_value"]
        ],
    ),
    Entry(
        "check_estimator_orthogonality",
        "function",
        "evaluation",
        fit=lambda X, y: _logistic().fit(X, y),
        apply=lambda est, X, y: check_estimator_orthogonality(
            est, X, ["sex", "race"]
        ).to_frame()[["coef", "p_value"]],
        build=_logistic,
        traits=frozenset({"y", "evaluation", "ignores_protected"}),
    ),
    Entry(
        "orthokit audit",
        "cli",
        "cli",
        fit=lambda X, y: None,
        apply=None,  # set by the test: it needs a temporary directory
        traits=frozenset({"probabilities"}),
        stages=frozenset({"fit"}),
    ),
    _estimator(
        "MetadataNormClassifier.predict_proba",
        lambda: _nn("MetadataNormClassifier")(
            metadata=["sex", "race"],
            max_epochs=2,
            batch_size=64,
            train_split=None,
            verbose=0,
            random_state=0,
        ),
        "classifier",
        "predict_proba",
        family="nn",
        traits={"torch"},
    ),
    # The torch layers of orthokit.nn take tensors, not frames: see LAYERS.
]
