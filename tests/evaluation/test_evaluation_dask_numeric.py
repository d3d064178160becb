"""Numeric protected columns on dask: IRLS by block reductions equals memory.

The reference is the in-memory report, itself statsmodels' GLM on all rows.
"""

import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from orthokit.evaluation import (
    PerfectSeparationError,
    check_estimator_orthogonality,
    check_orthogonality,
)

COLUMNS = ["coef", "std_err", "statistic", "p_value", "ci_lower", "ci_upper"]
TOL = 1e-8  # the tests pass at 1e-12: a margin of 10^4


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _data(family, n=3000, seed=0):
    """Predictions and protected columns: two numeric, one categorical."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "race": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "income": rng.lognormal(10, 1, n),
        }
    )
    effect = 0.02 * (frame["age"] - 40) + 0.3 * (frame["race"] == "b")
    eta = rng.normal(size=n) * 0.5 + effect.to_numpy()
    if family == "binomial":
        y = 1 / (1 + np.exp(-eta))
    elif family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = 10 + 3 * eta
    return pd.Series(y, name="p"), frame


def _assert_same(lazy, memory, tol=TOL):
    left, right = lazy.to_frame(), memory.to_frame()
    assert left["term"].tolist() == right["term"].tolist()
    assert left["note"].tolist() == right["note"].tolist()
    # Relative, with coefficients of 0 (to rounding) compared in units of
    # their standard errors, statistics and p-values in their own units.
    unit = right["std_err"].to_numpy()
    for column in COLUMNS:
        a, b = left[column].to_numpy(), right[column].to_numpy()
        atol = tol * (1.0 if column in ("statistic", "p_value") else unit)
        assert np.all(np.abs(a - b) <= tol * np.abs(b) + atol), (column, a, b)
    assert lazy.n_samples == memory.n_samples
    assert (lazy.family, lazy.statistic) == (memory.family, memory.statistic)
    assert lazy.dispersions.keys() == memory.dispersions.keys()
    for key in lazy.dispersions:
        np.testing.assert_allclose(
            lazy.dispersions[key], memory.dispersions[key], rtol=tol
        )


def _no_warning(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return check_orthogonality(*args, **kwargs)


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian"])
@pytest.mark.parametrize("dispersion", ["family", "estimated"])
def test_frames_equal_memory(family, dispersion):
    y, S = _data(family)
    memory = check_orthogonality(y, S, dispersion=dispersion)
    # Different blocks for the two arguments: the predictions are rechunked.
    lazy = _no_warning(
        dd.from_pandas(y, npartitions=3),
        dd.from_pandas(S, npartitions=4),
        dispersion=dispersion,
    )
    assert memory.to_frame()["term"].tolist() == ["age", "race_b", "race_c", "income"]
    _assert_same(lazy, memory)


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian"])
def test_arrays_with_codes_equal_memory(family):
    y, S = _data(family, seed=1)
    codes = np.column_stack(
        [S["age"], S["race"].map({"a": 1, "b": 2, "c": 3}), S["income"]]
    ).astype(float)
    memory = check_orthogonality(y.to_numpy(), codes, categorical=[1])
    lazy = _no_warning(
        da.from_array(y.to_numpy(), chunks=700),
        da.from_array(codes, chunks=(1000, 3)),
        categorical=[1],
    )
    _assert_same(lazy, memory)
    assert lazy.to_frame()["term"].tolist() == ["s0", "s1_2.0", "s1_3.0", "s2"]


def test_several_outputs():
    y, S = _data("gaussian", seed=2)
    Y = pd.DataFrame({"a": y, "b": y[::-1].to_numpy() * 2 + S["age"].to_numpy()})
    memory = check_orthogonality(Y, S)
    _assert_same(_no_warning(dd.from_pandas(Y, 5), dd.from_pandas(S, 3)), memory)
    array = da.from_array(Y.to_numpy(), chunks=(800, 1))
    codes = S.assign(race=S["race"].map({"a": 1, "b": 2, "c": 3})).to_numpy(float)
    memory = check_orthogonality(Y.to_numpy(), codes, categorical=[1])
    lazy = _no_warning(array, da.from_array(codes, chunks=900), categorical=[1])
    _assert_same(lazy, memory)


def _blocks(frame, cuts):
    """A dask collection with the row blocks ``cuts`` (empty ones included)."""
    parts = [frame.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return dd.concat([dd.from_pandas(part, npartitions=1) for part in parts])


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian"])
def test_empty_partitions_and_partitions_missing_a_level(family):
    y, S = _data(family, seed=3)
    order = np.argsort(S["race"].map({"b": 0, "a": 1, "c": 2}), kind="stable")
    y, S = y.iloc[order].reset_index(drop=True), S.iloc[order].reset_index(drop=True)
    cuts = [0, 0, 800, 800, 2500, 3000, 3000]
    memory = check_orthogonality(y, S)
    _assert_same(_no_warning(_blocks(y, cuts), _blocks(S, cuts)), memory)


@pytest.mark.parametrize(
    ("family", "y_scale", "s_scale"),
    [
        ("gaussian", 1e300, 1e300),
        ("gaussian", 1e-300, 1e-300),
        ("poisson", 2.0**1000, 1e-300),
        ("binomial", 1.0, 1e300),
    ],
)
def test_extreme_scales(family, y_scale, s_scale):
    y, S = _data(family, seed=4)
    y = y * y_scale
    S = S.assign(age=S["age"] * s_scale, income=S["income"] * s_scale)
    memory = check_orthogonality(y, S, family=family)
    assert np.isfinite(memory.to_frame()[COLUMNS].to_numpy()).all()
    lazy = _no_warning(dd.from_pandas(y, 3), dd.from_pandas(S, 2), family=family)
    _assert_same(lazy, memory)


def _outcome(predictions, protected, **kwargs):
    """The report's numbers, or the error; and the warnings' categories."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome = check_orthogonality(predictions, protected, **kwargs)
        except (ValueError, PerfectSeparationError) as exc:
            outcome = exc
    return outcome, sorted({str(w.message) for w in caught})


def _special_cases():
    rng = np.random.default_rng(5)
    n = 600
    S = pd.DataFrame({"age": rng.normal(40, 10, n), "sex": rng.choice(["F", "M"], n)})
    age = S["age"].to_numpy()
    return S, [
        ((age > 40).astype(float), {}),  # separated: coefficients diverge
        (1 / (1 + np.exp(-0.1 * (age - 40))), {}),  # fitted exactly
        (2 * age + 1, {"family": "gaussian"}),  # fitted exactly
        (np.full(n, 0.3), {}),  # constant
        (np.full(n, 1e300), {"family": "gaussian"}),  # constant
        (np.round(age), {"family": "poisson"}),
    ]


@pytest.mark.parametrize("case", range(len(_special_cases()[1])))
def test_separation_and_constant_predictions_as_in_memory(case):
    S, cases = _special_cases()
    values, kwargs = cases[case]
    y = pd.Series(values, name="p")
    memory, memory_warnings = _outcome(y, S, **kwargs)
    lazy, lazy_warnings = _outcome(dd.from_pandas(y, 3), dd.from_pandas(S, 2), **kwargs)
    assert lazy_warnings == memory_warnings
    if isinstance(memory, Exception):
        assert type(lazy) is type(memory) and str(lazy) == str(memory)
    else:
        _assert_same(lazy, memory)


@pytest.mark.parametrize("levels", [2, 3, 10, 11])
def test_integer_codes_are_warned_of_as_in_memory(levels):
    y, S = _data("gaussian", n=600, seed=9)
    codes = np.sort(np.arange(600) % levels) + 1.0  # a block sees only some codes
    S = S.assign(group=codes)
    memory, memory_warnings = _outcome(y, S)
    lazy, lazy_warnings = _outcome(dd.from_pandas(y, 3), dd.from_pandas(S, 7))
    assert lazy_warnings == memory_warnings
    assert any("'group' is numeric" in w for w in memory_warnings) == (
        3 <= levels <= 10
    )
    _assert_same(lazy, memory)


def _bad_inputs():
    y, S = _data("binomial", n=300)
    bad = y.copy()
    bad.iloc[7] = np.nan
    return [
        (y.to_numpy()[:200], S, ValueError, "predictions have 200 rows but prot"),
        (bad, S, ValueError, "predictions column .p. contains NaN or infinity"),
        (y, S.assign(twice=2 * S["age"]), ValueError, "collinear"),
        (y, S.assign(age=3.5), ValueError, "protected column 'age' is constant"),
        (y * 3, S, ValueError, r"probabilities in \[0, 1\]"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_inputs())))
def test_same_errors_as_in_memory(case):
    predictions, protected, error, match = _bad_inputs()[case]
    family = {"family": "binomial"} if case == 4 else {}
    with pytest.raises(error, match=match):
        check_orthogonality(predictions, protected, **family)
    predictions = (
        da.from_array(predictions, chunks=150)
        if isinstance(predictions, np.ndarray)
        else dd.from_pandas(predictions, npartitions=2)
    )
    with pytest.raises(error, match=match):
        check_orthogonality(predictions, dd.from_pandas(protected, 2), **family)


@pytest.mark.parametrize("kind", ["frame", "array"])
def test_estimator_with_a_numeric_protected_column(kind):
    from orthokit.linear_model import OrthogonalLogisticRegression

    rng = np.random.default_rng(6)
    n = 1500
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=[f"x{j}" for j in range(4)])
    X["age"] = rng.normal(40, 10, n)
    X["sex"] = rng.choice(["F", "M"], n)
    X["x0"] += 0.05 * X["age"]  # the constraints have something to remove
    signal = X[["x0", "x1", "x2"]].sum(axis=1) + 0.02 * X["age"]
    target = (signal + rng.normal(size=n) > 2).astype(int)
    protected = ["age", "sex"]
    if kind == "array":  # numbers only: sex as a 0/1 column, by position
        X, protected = X.assign(sex=X["sex"] == "M").to_numpy(float), [4, 5]
    model = OrthogonalLogisticRegression(protected=protected).fit(X, target)
    memory = check_estimator_orthogonality(model, X, protected)
    lazy_X = dd.from_pandas(X, 4) if kind == "frame" else da.from_array(X, 400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lazy = check_estimator_orthogonality(model, lazy_X, protected)
    _assert_same(lazy, memory)
    assert (memory.to_frame()["note"] == "").all()  # not constant predictions


@pytest.mark.parametrize(("lazy_predictions", "lazy_protected"), [(1, 0), (0, 1)])
def test_warns_where_the_inputs_are_computed(lazy_predictions, lazy_protected):
    y, S = _data("binomial", n=400, seed=7)
    memory = check_orthogonality(y, S)
    predictions = dd.from_pandas(y, 2) if lazy_predictions else y
    protected = dd.from_pandas(S, 2) if lazy_protected else S
    match = "into memory: only one of predictions and protected"
    with pytest.warns(UserWarning, match=match):
        lazy = check_orthogonality(predictions, protected)
    _assert_same(lazy, memory, tol=1e-12)


@pytest.mark.parametrize(
    ("n", "seed", "numeric"),  # all rows, or a subsample of 5,000
    [(400, 0, True), (12_000, "generator", True), (400, "generator", False)],
)
def test_nonlinear_check_draws_the_same_rows(n, seed, numeric):
    y, S = _data("binomial", n=n, seed=8)
    Y = pd.DataFrame({"a": y, "b": np.sin(S["age"].to_numpy() / 3) ** 2})
    S = S if numeric else S[["race"]]

    def check(predictions, protected):
        state = np.random.RandomState(3) if seed == "generator" else seed
        return check_orthogonality(
            predictions, protected, nonlinear=True, n_permutations=3,
            random_state=state,
        )  # fmt: skip

    memory = check(Y, S)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lazy = check(dd.from_pandas(Y, 3), dd.from_pandas(S, 4))
    _assert_same(lazy, memory)
    # The forests see the same rows in the same order: identical numbers.
    for column in ("rf_importance", "rf_p_value", "passed"):
        assert lazy.to_frame()[column].tolist() == memory.to_frame()[column].tolist()
