"""Every public entry point against every kind of bad input, from two tables.

``ENTRIES`` lists the entry points (how to build one, valid data, how to fit and
apply it); ``CASES`` lists the bad inputs (how to spoil valid data, and what
must happen). Every pair runs, so a new entry point meets every case and a new
case reaches every entry point. A pair passes when the entry point either
raises a ValueError/TypeError whose message names the problem, or returns
finite output where the case allows that. A bare LinAlgError, a statsmodels or
torch traceback, NaN/inf output or a hang fail. The terminal summary (see
``conftest.py``) counts the cases each entry point passed.
"""

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse
from sklearn.exceptions import NotFittedError

from orthokit import OrthogonalProjector
from orthokit.preprocessing import RecursiveResidualizer

N_ROWS = 120


def valid_frame(n=N_ROWS, seed=0):
    """Numeric features, categorical ``sex`` and ``race``, binary target."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    race = rng.choice(["A", "B", "W"], size=n)
    f1 = rng.normal(size=n) + (sex == "M")
    f2 = rng.normal(size=n) + (race == "W")
    X = pd.DataFrame({"f1": f1, "sex": sex, "f2": f2, "race": race})
    logit = f1 - f2 + 0.5 * rng.normal(size=n)
    y = (logit > np.median(logit)).astype(int)
    return X, y


@dataclass
class Entry:
    """One public entry point: build, fit, apply."""

    name: str
    build: callable
    protected: list = field(default_factory=lambda: ["sex", "race"])
    uses_y: bool = False
    apply: str = "transform"

    def fit(self, X, y):
        return self.build().fit(X, y)

    def run(self, estimator, X):
        return getattr(estimator, self.apply)(X)


ENTRIES = [
    Entry(
        "OrthogonalProjector", lambda: OrthogonalProjector(protected=["sex", "race"])
    ),
    Entry(
        "OrthogonalProjector(preserve_target)",
        lambda: OrthogonalProjector(protected=["sex", "race"], preserve_target=True),
        uses_y=True,
    ),
    Entry(
        "RecursiveResidualizer",
        lambda: RecursiveResidualizer(
            protected=["sex", "race"], forgetting_factor=0.99
        ),
    ),
]


def _set(X, column, values):
    X = X.copy()
    X[column] = values
    return X


def _first(values, value):
    values = np.array(values, dtype=float if isinstance(value, float) else object)
    values[0] = value
    return values


@dataclass
class Case:
    """A way to spoil valid input, where (fit or apply), and what must happen."""

    name: str
    spoil: callable  # (X, y) -> (X, y)
    match: str | None = None  # regex the error message must match; None: ok allowed
    stage: str = "fit"
    needs_y: bool = False


CASES = [
    Case(
        "nan_in_X", lambda X, y: (_set(X, "f1", _first(X.f1, np.nan)), y), "'f1'.*NaN"
    ),
    Case(
        "inf_in_X", lambda X, y: (_set(X, "f2", _first(X.f2, np.inf)), y), "'f2'.*inf"
    ),
    Case(
        "nan_in_protected",
        lambda X, y: (_set(X, "sex", _first(X.sex, None)), y),
        "'sex'.*missing",
    ),
    Case(
        "nan_in_y",
        lambda X, y: (X, _first(y, np.nan)),
        r"(?i)y.*(nan|missing)",
        needs_y=True,
    ),
    Case("empty", lambda X, y: (X.iloc[:0], y[:0]), "empty|0 sample"),
    Case("one_row", lambda X, y: (X.iloc[:1], y[:1]), "1 sample|constant|one class"),
    Case(
        "fewer_rows_than_protected",
        lambda X, y: (
            X.iloc[[0, 1, 2]].assign(sex=["F", "M", "F"], race=["A", "B", "W"]),
            y[:3],
        ),
        "fewer rows|1 class|one class|3 sample",
    ),  # fmt: skip
    Case(
        "constant_protected", lambda X, y: (_set(X, "sex", "M"), y), "'sex'.*constant"
    ),
    Case("duplicate_protected_ok", lambda X, y: (X.assign(race=X.sex), y)),
    Case(
        "huge_values_ok", lambda X, y: (X.assign(f1=X.f1 * 1e300, f2=X.f2 * 1e300), y)
    ),
    Case("tiny_values_ok", lambda X, y: (X.assign(f1=X.f1 * 1e-300), y)),
    Case(
        "float32_ok", lambda X, y: (X.astype({"f1": np.float32, "f2": np.float32}), y)
    ),
    Case("int_ok", lambda X, y: (X.assign(f1=np.round(X.f1 * 10).astype(int)), y)),
    Case("bool_protected_ok", lambda X, y: (X.assign(sex=X.sex.eq("M")), y)),
    Case("category_protected_ok", lambda X, y: (X.astype({"race": "category"}), y)),
    Case(
        "string_dtype_protected_ok",
        lambda X, y: (X.astype({"sex": "string"}), y),
    ),
    Case(
        "string_feature",
        lambda X, y: (X.assign(f2=X.f2.astype(str) + "x"), y),
        "'f2'.*not numeric",
    ),
    Case(
        "object_numeric_feature_ok",
        lambda X, y: (X.assign(f1=X.f1.astype(object)), y),
    ),
    Case(
        "mixed_type_column_names",
        lambda X, y: (X.set_axis(["f1", "sex", 2, "race"], axis=1), y),
        "string names",
    ),
    Case(
        "duplicated_column_names",
        lambda X, y: (X.set_axis(["f1", "sex", "f1", "race"], axis=1), y),
        "duplicated column names",
    ),
    Case("polars_ok", lambda X, y: (pl.from_pandas(X), y)),
    Case(
        "sparse",
        lambda X, y: (scipy.sparse.csr_matrix(np.ones((len(X), 4))), y),
        "sparse",
    ),
    Case(
        "mismatched_length",
        lambda X, y: (X, y[:-5]),
        "y has .* rows|length|inconsistent",
        needs_y=True,
    ),  # fmt: skip
    Case(
        "unseen_category",
        lambda X, y: (_set(X, "race", _first(X.race, "Z")), y),
        r"'race'.*\['Z'\].*not seen",
        stage="apply",
    ),
    Case(
        "reordered_columns",
        lambda X, y: (X[["race", "f1", "sex", "f2"]], y),
        "feature names",
        stage="apply",
    ),
    Case(
        "missing_column",
        lambda X, y: (X.drop(columns="f2"), y),
        "feature names|f2",
        stage="apply",
    ),  # fmt: skip
    Case(
        "nan_at_apply",
        lambda X, y: (_set(X, "f1", _first(X.f1, np.nan)), y),
        "'f1'.*NaN",
        stage="apply",
    ),  # fmt: skip
    Case("before_fit", lambda X, y: (X, y), "not fitted", stage="unfitted"),
]


def _finite(output):
    values = output.to_numpy() if hasattr(output, "to_numpy") else np.asarray(output)
    return np.isfinite(values.astype(float)).all()


PAIRS = [
    pytest.param(entry, case, id=f"{entry.name}-{case.name}")
    for entry in ENTRIES
    for case in CASES
    if entry.uses_y or not case.needs_y
]


@pytest.mark.parametrize("entry, case", PAIRS)
def test_bad_input(entry, case):
    X, y = valid_frame()
    bad_X, bad_y = case.spoil(X, y)
    y_arg = bad_y if entry.uses_y else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are allowed, errors are judged
        try:
            if case.stage == "unfitted":
                output = entry.run(entry.build(), bad_X)
            elif case.stage == "apply":
                output = entry.run(entry.fit(X, y if entry.uses_y else None), bad_X)
            else:
                fitted = entry.fit(bad_X, y_arg)
                output = entry.run(fitted, bad_X)
        except (ValueError, TypeError, NotFittedError) as exc:
            assert case.match is not None, f"unexpected error: {exc}"
            assert re.search(case.match, str(exc)), str(exc)
            return
    assert case.match is None, f"no error raised; expected /{case.match}/"
    assert _finite(output)
