import dask.array as da  # a dev dependency
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from orthokit import OrthogonalProjector


def make_data(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 8))
    X[:, 2:] += X[:, :2] @ rng.normal(size=(2, 6))
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(8)])
    frame["site"] = rng.choice(["a", "b", "c"], size=n)
    frame["c3"] += frame["site"].eq("b") * 2.0
    return X, frame, rng.integers(0, 2, n)


@pytest.mark.parametrize("chunks", [(1000, 8), (7001, 3), (20_000, 8)])
def test_dask_array_fit_and_transform_equal_in_memory(chunks):
    X, _, _ = make_data()
    reference = OrthogonalProjector(protected=[0, 1]).fit(X)
    dX = da.from_array(X, chunks=chunks)
    fitted = OrthogonalProjector(protected=[0, 1]).fit(dX)
    scale = np.abs(reference.coef_).max()
    assert np.abs(fitted.coef_ - reference.coef_).max() <= 1e-10 * scale
    out = fitted.transform(dX)
    assert isinstance(out, da.Array)  # lazy
    np.testing.assert_allclose(out.compute(), reference.transform(X), atol=1e-10)


def test_dask_dataframe_with_categorical_protected_and_target():
    _, frame, y = make_data()
    protected = ["site", "c0"]
    reference = OrthogonalProjector(protected=protected, preserve_target=True)
    reference.fit(frame, y)
    ddf = dd.from_pandas(frame, npartitions=7)
    fitted = OrthogonalProjector(protected=protected, preserve_target=True)
    fitted.fit(ddf, da.from_array(y, chunks=5000))
    assert fitted.protected_.encoded_names_ == ["c0", "site_b", "site_c"]
    np.testing.assert_allclose(fitted.coef_, reference.coef_, rtol=1e-10, atol=1e-12)
    out = fitted.transform(ddf)
    assert list(out.columns) == [f"c{j}" for j in range(1, 8)]
    np.testing.assert_allclose(
        out.compute().to_numpy(), reference.transform(frame), atol=1e-10
    )


def test_dask_fit_transform_and_unseen_category():
    _, frame, _ = make_data()
    ddf = dd.from_pandas(frame, npartitions=4)
    out = OrthogonalProjector(protected=["site"]).fit_transform(ddf).compute()
    S = pd.get_dummies(frame["site"], drop_first=True, dtype=float).to_numpy()
    S = S - S.mean(axis=0)
    assert np.abs(S.T @ out.to_numpy()).max() < 1e-8
    fitted = OrthogonalProjector(protected=["site"]).fit(ddf)
    bad = frame.assign(site="z")
    with pytest.raises(ValueError, match=r"'site' has categories \['z'\]"):
        fitted.transform(dd.from_pandas(bad, npartitions=2)).compute()


@pytest.mark.parametrize("forgetting_factor", [1.0, 0.99])
def test_recursive_residualizer_on_dask_equals_in_memory(forgetting_factor):
    from orthokit.preprocessing import RecursiveResidualizer

    _, frame, _ = make_data()
    params = {
        "protected": ["site", "c0"],
        "forgetting_factor": forgetting_factor,
        "batch_size": 500,
    }
    reference = RecursiveResidualizer(**params).fit(frame)
    ddf = dd.from_pandas(frame, chunksize=4000)
    fitted = RecursiveResidualizer(**params).fit(ddf)
    np.testing.assert_allclose(fitted.coef_, reference.coef_, rtol=1e-10, atol=1e-12)
    out = fitted.transform(ddf).compute()
    np.testing.assert_allclose(out.to_numpy(), reference.transform(frame), atol=1e-10)


def _residualizer(**params):
    from orthokit.preprocessing import RecursiveResidualizer

    return RecursiveResidualizer(**params)


@pytest.mark.parametrize("make", [OrthogonalProjector, _residualizer])
@pytest.mark.parametrize(
    ("value", "message"),
    [(1e308, "overflow float64"), (-1e308, "overflow float64"), (np.nan, "NaN")],
)
def test_dask_block_that_overflows_is_rejected_and_state_kept(make, value, message):
    X, _, _ = make_data(n=8000)
    fitted = make(protected=[0, 1]).fit(X[:3000])
    before = {
        key: np.copy(v)
        for key, v in vars(fitted).items()
        if key.endswith("_") and isinstance(v, np.ndarray)
    }
    bad = X.copy()
    bad[5000:6000, 4] = value  # the third block of four; finite for +-1e308
    with pytest.raises(ValueError, match=message):
        fitted.fit(da.from_array(bad, chunks=(2000, 8)))
    for key, array in before.items():
        assert np.array_equal(getattr(fitted, key), array), key


@pytest.mark.parametrize("offset", [1e8, 1e12, 1e15])
def test_dask_fit_with_large_offsets_equals_exact_least_squares(offset):
    from fractions import Fraction

    rng = np.random.default_rng(5)
    s = rng.uniform(-1, 1, 3000)
    X = np.column_stack([s + offset, offset + 0.5 * s + 0.1 * rng.uniform(-1, 1, 3000)])
    fitted = OrthogonalProjector(protected=[0]).fit(da.from_array(X, chunks=(700, 2)))
    exact_s = [Fraction(v) for v in X[:, 0]]
    exact_f = [Fraction(v) for v in X[:, 1]]
    mean_s = sum(exact_s) / len(exact_s)
    slope = sum((a - mean_s) * b for a, b in zip(exact_s, exact_f, strict=True)) / sum(
        (a - mean_s) ** 2 for a in exact_s
    )
    np.testing.assert_allclose(fitted.coef_[0, 0], float(slope), rtol=1e-12)


def _protected(data):
    return [0] if isinstance(data, da.Array) else ["c0"]


def _residualizer_fit(data):
    from orthokit.preprocessing import RecursiveResidualizer

    return RecursiveResidualizer(protected=_protected(data)).fit(data)


def _projector_fit(data):
    return OrthogonalProjector(protected=_protected(data)).fit(data)


def _projector_transform(data):
    array = isinstance(data, da.Array)
    clean = data.map_blocks(np.nan_to_num) if array else data.fillna(0.0)
    return _projector_fit(clean).transform(data).compute()


@pytest.mark.parametrize(
    "run", [_projector_fit, _projector_transform, _residualizer_fit]
)
def test_dask_error_names_the_row_in_the_whole_collection(run):
    # A NaN in the third of four blocks: arrays know every block's first row,
    # so the message gives the row of the whole array; a frame's partitions do
    # not know their lengths, so the message gives the partition and the label.
    X, _, _ = make_data(n=8000)
    X[5007, 4] = np.nan
    with pytest.raises(ValueError, match=r"the first in row 5007\)"):
        run(da.from_array(X, chunks=(2000, 8)))
    names = [f"c{j}" for j in range(8)]
    frame = pd.DataFrame(X, columns=names, index=np.arange(8000) + 10)
    expected = r"the first in row 1007 of partition 2 \(index 5017\)\)"
    with pytest.raises(ValueError, match=expected):
        run(dd.from_pandas(frame, npartitions=4, sort=False))
