"""distance_correlation on dask collections: a uniform sample of rows.

The sample follows the documented rule (``orthokit.evaluation._dask_sample``);
the references are dcor on the sampled rows and the in-memory function (itself
compared with dcor in ``test_evaluation_dcor.py``) on the same rows.
"""

import dask
import dask.array as da
import dask.dataframe as dd
import dcor
import numpy as np
import pandas as pd
import pytest

from orthokit.evaluation import distance_correlation


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _data(n, seed=0, width=1):
    rng = np.random.default_rng(seed)
    S = pd.DataFrame(
        {"race": rng.choice(["a", "b", "c"], n), "sex": rng.choice(["F", "M"], n)}
    )
    shift = (S["race"] == "b").to_numpy() * 0.5
    x = rng.normal(size=(n, width)) + shift[:, None]
    return x, S


def _rows(n, size, seed):
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size, replace=False)), rng


def _frame_blocks(frame, cuts):
    parts = [frame.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return dd.concat([dd.from_pandas(part, npartitions=1) for part in parts])


def test_exact_on_the_sample_equals_dcor():
    x, S = _data(8000)
    cuts = [0, 0, 3000, 3000, 6000, 8000]  # empty blocks included
    result = distance_correlation(
        da.from_array(x[:, 0], chunks=((0, 3000, 0, 3000, 2000),)),
        _frame_blocks(S, cuts),
        sample_size=2000,
        random_state=3,
    )
    rows, _ = _rows(8000, 2000, 3)
    onehot = pd.get_dummies(S.iloc[rows], dtype=float).to_numpy()
    expected = dcor.distance_correlation_sqr(x[rows, 0], onehot)
    assert result.method == "exact (sample of 2000 of 8000 rows)"
    assert result.n_samples == 2000
    np.testing.assert_allclose(result.value, expected, rtol=1e-10)


def test_projection_on_the_sample_equals_memory():
    x, S = _data(6000, seed=1, width=3)
    kwargs = {"exact_max_samples": 100, "subsample": 500, "n_projections": 64}
    result = distance_correlation(
        dd.from_pandas(pd.DataFrame(x, columns=["a", "b", "c"]), npartitions=5),
        dd.from_pandas(S, npartitions=5),
        sample_size=2000,
        random_state=4,
        **kwargs,
    )
    rows, rng = _rows(6000, 2000, 4)
    expected = distance_correlation(
        x[rows], S.iloc[rows].reset_index(drop=True), random_state=rng, **kwargs
    )
    assert result.method == expected.method + " (sample of 2000 of 6000 rows)"
    assert result.value == expected.value
    assert result.std_error == expected.std_error


def test_all_rows_when_fewer_than_the_sample_with_by():
    x, S = _data(900, seed=2, width=2)
    by = np.arange(900) % 2
    result = distance_correlation(
        da.from_array(x, chunks=(300, 2)),
        dd.from_pandas(S, npartitions=3),
        by=da.from_array(by, chunks=200),
    )
    expected = distance_correlation(x, S, by=by)
    assert result.method == "exact (all 900 rows)"
    assert result.groups.keys() == expected.groups.keys()
    np.testing.assert_allclose(result.value, expected.value, rtol=1e-12)
    for label, value in expected.groups.items():
        np.testing.assert_allclose(
            result.groups[label], dcor.distance_correlation_sqr(
                x[by == label], pd.get_dummies(S[by == label], dtype=float).to_numpy()
            ), rtol=1e-10,
        )  # fmt: skip
        np.testing.assert_allclose(result.groups[label], value, rtol=1e-12)


@pytest.mark.parametrize("lazy", [False, True])
def test_same_errors_as_in_memory(lazy):
    x, S = _data(300)
    features = da.from_array(x[:200], chunks=100) if lazy else x[:200]
    with pytest.raises(ValueError, match="200 rows but protected has 300"):
        distance_correlation(features, dd.from_pandas(S, 2) if lazy else S)


@pytest.mark.parametrize("size", [3, 2.5, True, "many"])
def test_bad_sample_size(size):
    x, S = _data(50)
    with pytest.raises(ValueError, match="sample_size must be an integer >= 4"):
        distance_correlation(da.from_array(x), S, sample_size=size)
