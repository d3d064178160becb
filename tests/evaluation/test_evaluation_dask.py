"""The evaluation model on dask collections equals the in-memory one."""

import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from orthokit.evaluation import check_estimator_orthogonality, check_orthogonality

COLUMNS = ["coef", "std_err", "statistic", "p_value", "ci_lower", "ci_upper"]
TOL = 1e-8


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _data(family, n=3000, seed=0, two=True):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "race": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "sex": rng.choice(["F", "M"], n),
        }
    )
    effect = 0.3 * (frame["race"] == "b") + 0.2 * (frame["sex"] == "M")
    eta = rng.normal(size=n) * 0.5 + effect.to_numpy()
    if family == "binomial":
        y = 1 / (1 + np.exp(-eta))
    elif family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = 10 + 3 * eta
    if not two:
        frame = frame[["race"]]
    return pd.Series(y, name="p"), frame


def _assert_same(lazy, memory, tol=TOL):
    left, right = lazy.to_frame(), memory.to_frame()
    assert left["term"].tolist() == right["term"].tolist()
    for column in COLUMNS:
        a, b = left[column].to_numpy(), right[column].to_numpy()
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=column)
    assert lazy.n_samples == memory.n_samples
    assert lazy.family == memory.family
    assert lazy.dispersions.keys() == memory.dispersions.keys()
    for key in lazy.dispersions:
        np.testing.assert_allclose(
            lazy.dispersions[key], memory.dispersions[key], rtol=tol
        )


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian"])
@pytest.mark.parametrize("two", [False, True])
@pytest.mark.parametrize("dispersion", ["family", "estimated"])
def test_dask_frames_equal_memory(family, two, dispersion):
    y, S = _data(family, two=two)
    memory = check_orthogonality(y, S, dispersion=dispersion)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lazy = check_orthogonality(
            dd.from_pandas(y, npartitions=4),
            dd.from_pandas(S, npartitions=4),
            dispersion=dispersion,
        )
    _assert_same(lazy, memory)


def test_dask_arrays_with_categorical_codes():
    y, S = _data("poisson", seed=2)
    codes = np.column_stack(
        [S["race"].map({"a": 1, "b": 2, "c": 3}), (S["sex"] == "M") * 5]
    ).astype(float)
    memory = check_orthogonality(y.to_numpy(), codes, categorical=[0, 1])
    lazy = check_orthogonality(
        da.from_array(y.to_numpy(), chunks=700),
        da.from_array(codes, chunks=(700, 2)),
        categorical=[0, 1],
    )
    _assert_same(lazy, memory)
    assert lazy.to_frame()["term"].tolist() == ["s0_2.0", "s0_3.0", "s1_5.0"]


def test_several_outputs():
    y, S = _data("gaussian", seed=4)
    Y = pd.DataFrame({"a": y, "b": y[::-1].to_numpy() * 2})
    memory = check_orthogonality(Y, S)
    for blocks in (3, 5):  # the same blocks as S, and others
        lazy = check_orthogonality(dd.from_pandas(Y, blocks), dd.from_pandas(S, 3))
        _assert_same(lazy, memory)


def test_numeric_protected_column_is_reduced_without_a_warning():
    # tests/evaluation/test_evaluation_dask_numeric.py covers it in depth.
    y, S = _data("binomial", seed=5)
    S = S.assign(age=np.random.default_rng(5).normal(40, 10, len(S)))
    memory = check_orthogonality(y, S)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lazy = check_orthogonality(dd.from_pandas(y, 3), dd.from_pandas(S, 3))
    _assert_same(lazy, memory)


def _bad_inputs():
    y, S = _data("binomial", n=300)
    bad = y.copy()
    bad.iloc[7] = np.nan
    return [
        (y.to_numpy()[:200], S, {}, ValueError, "predictions have 200 rows but prot"),
        (bad, S, {}, ValueError, "predictions column .p. contains NaN or infinity"),
        (S["sex"], S, {}, TypeError, "predictions must be numeric"),
        (y, S.assign(copy=S["sex"]), {}, ValueError, "collinear"),
        (y, S.assign(race="a"), {}, ValueError, "protected column 'race' is constant"),
        (y * 3, S, {"family": "binomial"}, ValueError, r"probabilities in \[0, 1\]"),
        (y - 1, S, {"family": "poisson"}, ValueError, "non-negative for family"),
        (y, S, {"categorical": ["age"]}, ValueError, "'age' is not a column of"),
    ]


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("case", range(len(_bad_inputs())))
def test_same_errors_as_in_memory(case, lazy):
    predictions, protected, kwargs, error, match = _bad_inputs()[case]
    if lazy:
        predictions = (
            da.from_array(predictions, chunks=150)
            if isinstance(predictions, np.ndarray)
            else dd.from_pandas(predictions, npartitions=2)
        )
        protected = dd.from_pandas(protected, npartitions=2)
    with pytest.raises(error, match=match):
        check_orthogonality(predictions, protected, **kwargs)


def _error(run):
    with pytest.raises(ValueError) as info:
        run()
    return str(info.value)


@pytest.mark.parametrize("numeric", [False, True], ids=["cells", "irls"])
@pytest.mark.parametrize("where", ["predictions", "protected"])
def test_errors_name_the_row_of_the_whole_input(where, numeric):
    """A bad value in a late block is named by its row in all the input."""
    y, S = _data("binomial", n=300)
    if numeric:
        S = S.assign(age=np.linspace(20.0, 60.0, 300))
    y = y.to_numpy().copy()
    if where == "predictions":
        y[250] = np.nan
    elif numeric:
        S.loc[250, "age"] = np.inf
    else:
        S.loc[250, "sex"] = None
    expected = _error(lambda: check_orthogonality(y, S))
    assert "row 250" in expected
    got = _error(
        lambda: check_orthogonality(
            da.from_array(y, chunks=100), dd.from_pandas(S, npartitions=3)
        )
    )
    assert got == expected


def _blocks(frame, cuts):
    """A dask collection with the row blocks ``cuts`` (empty ones included)."""
    parts = [frame.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return dd.concat([dd.from_pandas(part, npartitions=1) for part in parts])


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian"])
def test_empty_partitions_and_partitions_missing_a_level(family):
    y, S = _data(family)
    # Rows sorted by race b, a, c: the first blocks have no "c", the last no "b".
    order = np.argsort(S["race"].map({"b": 0, "a": 1, "c": 2}), kind="stable")
    y, S = y.iloc[order].reset_index(drop=True), S.iloc[order].reset_index(drop=True)
    cuts = [0, 0, 800, 800, 2500, 3000, 3000]
    memory = check_orthogonality(y, S)
    lazy = check_orthogonality(_blocks(y, cuts), _blocks(S, cuts))
    assert lazy.to_frame()["term"].tolist() == ["race_b", "race_c", "sex_M"]
    _assert_same(lazy, memory)
    codes = np.column_stack([S["race"].map({"a": 1, "b": 2, "c": 3}), S["sex"] == "M"])
    chunks = tuple(np.diff(cuts))
    memory = check_orthogonality(y.to_numpy(), codes.astype(float), categorical=[0, 1])
    lazy = check_orthogonality(
        da.from_array(y.to_numpy(), chunks=(chunks,)),
        da.from_array(codes.astype(float), chunks=(chunks, 2)),
        categorical=[0, 1],
    )
    _assert_same(lazy, memory)


def test_many_rows_equal_memory_relatively():
    # Statistics in the hundreds: compared relatively (TOL), not absolutely.
    y, S = _data("gaussian", n=1_000_000, seed=8)
    memory = check_orthogonality(y, S, dispersion="estimated")
    lazy = check_orthogonality(
        dd.from_pandas(y, npartitions=16),
        dd.from_pandas(S, npartitions=16),
        dispersion="estimated",
    )
    assert memory.to_frame()["statistic"].abs().max() > 100
    _assert_same(lazy, memory)


def test_estimator_on_a_dask_frame():
    from orthokit.linear_model import OrthogonalLogisticRegression

    rng = np.random.default_rng(6)
    n = 1500
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=[f"x{j}" for j in range(5)])
    X["race"] = rng.choice(["a", "b", "c"], n)
    X["sex"] = rng.choice(["F", "M"], n)
    X["x0"] += X["sex"] == "M"  # the constraints have something to remove
    signal = X[["x0", "x1", "x2"]].sum(axis=1) + (X["sex"] == "M")
    target = (signal + rng.normal(size=n) > 0.5).astype(int)
    model = OrthogonalLogisticRegression(protected=["race", "sex"]).fit(X, target)
    memory = check_estimator_orthogonality(model, X, ["race", "sex"])
    lazy = check_estimator_orthogonality(
        model, dd.from_pandas(X, npartitions=4), ["race", "sex"]
    )
    _assert_same(lazy, memory)
    assert (memory.to_frame()["note"] == "").all()  # not constant predictions
    assert lazy.to_frame()["output"].iloc[0] == memory.to_frame()["output"].iloc[0]
