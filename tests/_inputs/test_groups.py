"""Group means for several categorical protected columns (no one-hot matrix)."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from orthokit import OrthogonalProjector
from orthokit._linalg import CollinearityWarning


def _frame(n, levels, d=3, seed=0):
    """Features with an additive effect of every categorical column."""
    rng = np.random.default_rng(seed)
    codes = np.column_stack([rng.integers(0, k, n) for k in levels])
    for j, k in enumerate(levels):
        codes[:k, j] = np.arange(k)  # every level occurs
    F = rng.normal(size=(n, d)) + 100.0
    for j, k in enumerate(levels):
        F += rng.normal(size=(k, d))[codes[:, j]] * 3
    X = pd.DataFrame(F, columns=[f"f{j}" for j in range(d)])
    for j, k in enumerate(levels):
        X[f"g{j}"] = pd.Categorical.from_codes(codes[:, j], [f"L{i}" for i in range(k)])
    return X, codes, F


def _dense_reference(codes, levels, F):
    """F minus its least-squares fit on the dense one-hot design (numpy lstsq)."""
    one_hot = np.hstack([np.eye(k)[codes[:, j]][:, 1:] for j, k in enumerate(levels)])
    design = np.column_stack([np.ones(len(F)), one_hot - one_hot.mean(0)])
    beta = np.linalg.lstsq(design, F - F.mean(0), rcond=None)[0]
    return F - (one_hot - one_hot.mean(0)) @ beta[1:]


def _relative_error(out, reference):
    return np.abs(out - reference).max() / np.abs(reference).max()


@pytest.mark.parametrize("levels", [(7, 4), (12, 5, 3)], ids=["two", "three"])
def test_several_columns_equal_the_dense_least_squares(levels):
    X, codes, F = _frame(2000, levels)
    names = [f"g{j}" for j in range(len(levels))]
    model = OrthogonalProjector(protected=names).fit(X)
    assert model._by_groups
    out = model.transform(X)
    assert _relative_error(out, _dense_reference(codes, levels, F)) < 1e-11
    assert model.coef_.shape == (sum(levels) - len(levels), 3)
    assert model.rank_ == sum(levels) - len(levels)
    # coef_ and protected_mean_ mean what the dense path's do: the lstsq
    # coefficients on the centred one-hot columns, in encoded_names_ order.
    one_hot = model.protected_.split(X, numeric_features=False)[0]
    np.testing.assert_allclose(model.protected_mean_, one_hot.mean(0), atol=1e-15)
    design = np.column_stack([np.ones(len(F)), one_hot - one_hot.mean(0)])
    beta = np.linalg.lstsq(design, F - F.mean(0), rcond=None)[0][1:]
    assert np.abs(model.coef_ - beta).max() / np.abs(beta).max() < 1e-11


def test_keep_protected_appends_every_columns_indicators():
    X, codes, _ = _frame(500, (4, 3))
    model = OrthogonalProjector(protected=["g0", "g1"], keep_protected=True)
    out = model.fit_transform(X)
    expected = np.hstack([np.eye(4)[codes[:, 0]][:, 1:], np.eye(3)[codes[:, 1]][:, 1:]])
    np.testing.assert_array_equal(out[:, 3:], expected)
    assert list(model.get_feature_names_out()[3:]) == model.protected_.encoded_names_


def _alternating_demean(F, codes, tol=1e-13):
    """An independent reference: alternating pandas groupby demeaning."""
    frame = pd.DataFrame(F - F.mean(0))
    for _ in range(10_000):
        before = frame.to_numpy().copy()
        for j in range(codes.shape[1]):
            frame = frame - frame.groupby(codes[:, j]).transform("mean")
        if np.abs(frame.to_numpy() - before).max() < tol * np.abs(F).max():
            return frame.to_numpy() + F.mean(0)
    raise AssertionError("alternating projections did not converge")


def test_many_levels_of_two_columns_against_pyfixest_and_alternating_means():
    # 5,000 x 50 levels on 200,000 rows: the dense Gram alone would be 8 GB.
    from pyfixest.estimation import demean

    X, codes, F = _frame(200_000, (5000, 50), d=4, seed=1)
    model = OrthogonalProjector(protected=["g0", "g1"]).fit(X)
    out = model.transform(X)
    assert model.coef_.shape == (5048, 4) and model.rank_ == 5048
    demeaned, converged = demean(
        F, codes.astype(np.uint64), np.ones(len(F)), tol=1e-12, maxiter=100_000
    )
    assert converged
    assert _relative_error(out, demeaned + F.mean(0)) < 1e-10
    small = _frame(20_000, (500, 20), d=2, seed=2)
    out = OrthogonalProjector(protected=["g0", "g1"]).fit_transform(small[0])
    assert _relative_error(out, _alternating_demean(small[2], small[1])) < 1e-10


def test_nested_and_disconnected_levels_warn_and_fit_exactly():
    rng = np.random.default_rng(3)
    n = 3000
    site = rng.integers(0, 6, n)
    site[:6] = np.arange(6)
    # Scanner 0 only at site 0 (identical indicator columns up to the
    # reference), scanners 1-2 at sites 1-3, scanners 3-4 at sites 4-5: the
    # levels of sites 4-5 and scanners 3-4 never meet the rest.
    scanner = np.where(site == 0, 0, np.where(site < 4, 1, 3) + rng.integers(0, 2, n))
    codes = np.column_stack([site, scanner])
    F = rng.normal(size=(n, 2)) + site[:, None] - scanner[:, None] * 0.5
    X = pd.DataFrame(F, columns=["a", "b"])
    X["site"] = pd.Categorical.from_codes(site, [f"s{j}" for j in range(6)])
    X["scanner"] = pd.Categorical.from_codes(scanner, [f"c{j}" for j in range(5)])
    with pytest.warns(CollinearityWarning, match="collinear"):
        model = OrthogonalProjector(protected=["site", "scanner"]).fit(X)
    reference = _dense_reference(codes, (6, 5), F)
    assert _relative_error(model.transform(X), reference) < 1e-11
    dense_rank = np.linalg.matrix_rank(
        np.hstack([np.eye(6)[site][:, 1:], np.eye(5)[scanner][:, 1:]])
        - np.hstack([np.eye(6)[site][:, 1:], np.eye(5)[scanner][:, 1:]]).mean(0)
    )
    assert model.rank_ == dense_rank < 9


def test_streaming_with_categories_equals_fit_and_a_rejected_chunk_changes_nothing():
    X, _, _ = _frame(3000, (9, 4, 3), seed=4)
    names = ["g0", "g1", "g2"]
    whole = OrthogonalProjector(protected=names).fit(X)
    levels = {n: list(X[n].cat.categories) for n in names}
    stream = OrthogonalProjector(protected=names, categories=levels)
    ordered = X.sort_values("g0")  # early chunks miss levels of g0
    for start in range(0, len(X), 400):
        stream.partial_fit(ordered.iloc[start : start + 400])
    np.testing.assert_allclose(stream.coef_, whole.coef_, rtol=1e-11, atol=1e-11)
    assert _relative_error(stream.transform(X), whole.transform(X)) < 1e-12
    state = dict(vars(stream))
    bad = X.iloc[:10].copy()
    bad.iloc[3, 1] = np.nan
    with pytest.raises(ValueError, match="'f1'"):
        stream.partial_fit(bad)
    assert vars(stream).keys() == state.keys()
    assert all(vars(stream)[k] is v for k, v in state.items())


def test_dask_equals_in_memory():
    X, _, _ = _frame(4000, (15, 4), seed=5)
    ddf = dd.from_pandas(X, npartitions=5)
    names = ["g0", "g1"]
    in_memory = OrthogonalProjector(protected=names).fit(X)
    fitted = OrthogonalProjector(protected=names).fit(ddf)
    np.testing.assert_allclose(fitted.coef_, in_memory.coef_, rtol=1e-11, atol=1e-11)
    out = fitted.transform(ddf).compute().to_numpy()
    assert _relative_error(out, in_memory.transform(X)) < 1e-12


def test_an_unseen_level_at_transform_names_its_column():
    X, _, _ = _frame(500, (5, 3), seed=6)
    model = OrthogonalProjector(protected=["g0", "g1"]).fit(X)
    new = X.iloc[:5].copy()
    new["g1"] = new["g1"].cat.add_categories(["L9"])
    new.loc[new.index[2], "g1"] = "L9"
    with pytest.raises(ValueError, match=r"'g1' has categories \['L9'\]"):
        model.transform(new)


def test_an_empty_level_of_the_second_column_is_named():
    X, _, _ = _frame(500, (5, 3), seed=7)
    levels = {"g1": ["L0", "L1", "L2", "L3"]}
    with pytest.raises(ValueError, match=r"\['g1_L3'\] are constant"):
        OrthogonalProjector(protected=["g0", "g1"], categories=levels).fit(X)
