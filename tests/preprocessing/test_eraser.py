"""ConceptEraser: equal to concept-erasure's LeaceEraser, and the erasure guarantee."""

import dask.array as da  # a dev dependency
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import torch
from concept_erasure import LeaceFitter  # a dev dependency (torch)
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from orthokit import OrthogonalProjector
from orthokit.preprocessing import ConceptEraser

METHODS = [("leace", False), ("leace", True), ("orth", False), ("orth", True)]


def make_data(n=3000, d=12, seed=0, offset=5.0):
    """Features driven by two protected columns (one binary), with correlations."""
    rng = np.random.default_rng(seed)
    S = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n)]).astype(float)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    X = rng.normal(size=(n, d)) @ mixing + S @ rng.normal(size=(2, d)) + offset
    return S, X


def reference(X, S, method, shrinkage):
    """concept-erasure's LEACE on float64 tensors, every direction erased."""
    fitter = LeaceFitter(
        X.shape[1], S.shape[1], method=method, shrinkage=shrinkage,
        svd_tol=1e-12, constrain_cov_trace=False, dtype=torch.float64,
    )  # fmt: skip
    fitter.update(torch.from_numpy(X), torch.from_numpy(S))
    return fitter.eraser


@pytest.mark.parametrize(("method", "shrinkage"), METHODS)
def test_equals_concept_erasure(method, shrinkage):
    S, X = make_data()
    S_new, X_new = make_data(seed=1)
    eraser = ConceptEraser(protected=[0, 1], method=method, shrinkage=shrinkage)
    eraser.fit(np.hstack([S, X]))
    expected = reference(X, S, method, shrinkage)
    for data in (X, X_new):
        out = eraser.transform(data)
        wanted = expected(torch.from_numpy(data)).numpy()
        assert np.abs(out - wanted).max() < 1e-9  # the target is 1e-8
    assert eraser.rank_ == 2


def test_equals_concept_erasure_few_rows_with_shrinkage():
    """More features than rows: the shrunk covariance is invertible."""
    S, X = make_data(n=40, d=60)
    eraser = ConceptEraser(protected=[0, 1], shrinkage=True).fit(np.hstack([S, X]))
    wanted = reference(X, S, "leace", True)(torch.from_numpy(X)).numpy()
    assert np.abs(eraser.transform(X) - wanted).max() < 1e-9


def test_categorical_protected_is_one_hot_encoded_like_the_reference():
    rng = np.random.default_rng(2)
    n = 2000
    site = rng.choice(["a", "b", "c"], size=n)
    X = rng.normal(size=(n, 5)) + (site == "b")[:, None] * [1, 2, 0, 0, 1]
    frame = pd.DataFrame(X, columns=list("vwxyz")).assign(site=site)
    eraser = ConceptEraser(protected=["site"]).fit(frame)
    assert eraser.protected_.encoded_names_ == ["site_b", "site_c"]
    Z = np.column_stack([site == "b", site == "c"]).astype(float)
    wanted = reference(X, Z, "leace", False)(torch.from_numpy(X)).numpy()
    assert np.abs(eraser.transform(frame) - wanted).max() < 1e-9


@pytest.mark.parametrize(("method", "shrinkage"), METHODS)
def test_cross_covariance_is_zero_in_sample_and_means_kept(method, shrinkage):
    S, X = make_data()
    out = ConceptEraser(protected=[0, 1], method=method, shrinkage=shrinkage)
    out = out.fit_transform(np.hstack([S, X]))
    cross = (out - out.mean(axis=0)).T @ (S - S.mean(axis=0)) / len(S)
    before = (X - X.mean(axis=0)).T @ (S - S.mean(axis=0)) / len(S)
    assert np.abs(cross).max() < 1e-12 * np.abs(before).max() * 1e3
    np.testing.assert_allclose(out.mean(axis=0), X.mean(axis=0), atol=1e-10)


def test_leace_changes_x_least_in_the_whitened_norm():
    """LEACE's mean whitened change is the minimum, one unit per erased direction
    (times (n - 1) / n for the sample covariance); orth's is far larger on
    features of unequal scales."""
    S, X = make_data()
    X = X * np.logspace(-1, 1, X.shape[1])
    Z = np.hstack([S, X])
    precision = np.linalg.inv(np.cov(X.T))

    def whitened_change(method):
        delta = ConceptEraser(protected=[0, 1], method=method).fit_transform(Z) - X
        return np.einsum("ij,jk,ik->", delta, precision, delta) / len(X)

    minimum = 2 * (len(X) - 1) / len(X)
    assert abs(whitened_change("leace") - minimum) < 1e-11
    assert whitened_change("orth") > 2 * minimum


def _probe_auc(train, s_train, test, s_test):
    probe = LogisticRegression(max_iter=1000).fit(train, s_train)
    return roc_auc_score(s_test, probe.decision_function(test))


@pytest.fixture(scope="module")
def probe_problem():
    """A million training and a million held-out rows, and the probe's AUC on X.

    What leaks to held-out rows is the eraser's estimation error, of order
    sqrt(d / n_train), and the AUC's own sampling error about sqrt(1 / 3
    n_test): a million rows each keep both far below the tolerance. The probe
    on the raw features is the same for every method: fitted once.
    """
    rng = np.random.default_rng(3)
    n, d = 2_000_000, 8
    s = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d)) + np.outer(s, rng.normal(size=d)) * 1.5
    train, test = slice(0, n // 2), slice(n // 2, n)
    before = _probe_auc(X[train], s[train], X[test], s[test])
    return s, X, train, test, before


@pytest.mark.parametrize("method", ["leace", "orth"])
def test_held_out_probe_auc_near_one_half(method, probe_problem):
    """Erased held-out rows, never given their labels, are not linearly separable."""
    s, X, train, test, before = probe_problem
    eraser = ConceptEraser(protected=[0], method=method)
    eraser.fit(np.column_stack([s[train], X[train]]))
    erased_train, erased_test = eraser.transform(X[train]), eraser.transform(X[test])
    after = _probe_auc(erased_train, s[train], erased_test, s[test])
    assert before > 0.9
    assert abs(after - 0.5) < 0.002  # the target is 0.02


@pytest.mark.parametrize("chunks", [[500, 1500, 1000], [5, 2995]])
def test_partial_fit_equals_fit(chunks):
    S, X = make_data(offset=1e6)
    Z = np.hstack([S, X])
    full = ConceptEraser(protected=[0, 1]).fit(Z)
    streamed = ConceptEraser(protected=[0, 1])
    start = 0
    for size in chunks:
        streamed.partial_fit(Z[start : start + size])
        start += size
    assert streamed.n_samples_seen_ == len(Z)
    # Values near 1e6 (ulp 1.2e-10): equal to a few ulps; a merge without
    # Chan's cross term is off by 2e-3.
    assert np.abs(streamed.transform(X) - full.transform(X)).max() < 1e-8


def test_partial_fit_waits_for_enough_rows():
    S, X = make_data()
    eraser = ConceptEraser(protected=[0, 1]).partial_fit(np.hstack([S, X])[:2])
    with pytest.raises(NotFittedError, match="fewer rows than protected columns"):
        eraser.transform(X)


@pytest.mark.parametrize("chunks", [(700, 14), (3000, 5)])
def test_dask_array_equals_in_memory(chunks):
    S, X = make_data()
    Z = np.hstack([S, X])
    expected = ConceptEraser(protected=[0, 1], shrinkage=True).fit(Z).transform(Z)
    dZ = da.from_array(Z, chunks=chunks)
    fitted = ConceptEraser(protected=[0, 1], shrinkage=True).fit(dZ)
    out = fitted.transform(dZ)
    assert isinstance(out, da.Array)
    np.testing.assert_allclose(out.compute(), expected, rtol=0, atol=1e-10)


def test_dask_dataframe_equals_in_memory():
    S, X = make_data()
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    frame["sex"] = np.where(S[:, 0] == 1, "M", "F")
    expected = ConceptEraser(protected=["sex"]).fit(frame).transform(frame)
    ddf = dd.from_pandas(frame, npartitions=6)
    out = ConceptEraser(protected=["sex"]).fit(ddf).transform(ddf)
    assert list(out.columns) == list(frame.columns[:-1])
    np.testing.assert_allclose(out.compute().to_numpy(), expected, rtol=0, atol=1e-10)


def test_transform_never_reads_the_protected_columns():
    S, X = make_data()
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    frame.insert(0, "sex", np.where(S[:, 0] == 1, "M", "F"))
    frame.insert(3, "score", S[:, 1])
    eraser = ConceptEraser(protected=["sex", "score"]).set_output(transform="pandas")
    eraser.fit(frame)
    expected = eraser.transform(frame)
    assert list(expected.columns) == [f"f{j}" for j in range(X.shape[1])]
    assert list(eraser.get_feature_names_out()) == list(expected.columns)
    unknown = frame.assign(sex=None, score=np.nan)
    features = frame.drop(columns=["sex", "score"])
    for data in (unknown, features, features.to_numpy()):
        np.testing.assert_array_equal(eraser.transform(data).to_numpy(), expected)


def test_nan_in_a_float_arrays_protected_column_is_not_read():
    S, X = make_data()
    Z = np.hstack([S, X])
    eraser = ConceptEraser(protected=[0, 1]).fit(Z)
    unknown = Z.copy()
    unknown[:, :2] = np.nan
    np.testing.assert_array_equal(eraser.transform(unknown), eraser.transform(X))
    unknown[5, 4] = np.nan
    with pytest.raises(ValueError, match=r"'x4'.*NaN"):
        eraser.transform(unknown)
    unknown[5, 4] = np.inf
    with pytest.raises(ValueError, match=r"'x4'.*infinit"):
        eraser.transform(unknown)


def test_differs_from_the_projector_only_where_s_is_needed():
    """In sample, the projector's residuals and the eraser's output both remove
    S's linear part; the projector subtracts it row by row (it needs S)."""
    S, X = make_data()
    Z = np.hstack([S, X])
    projected = OrthogonalProjector(protected=[0, 1]).fit_transform(Z)
    erased = ConceptEraser(protected=[0, 1], method="orth").fit_transform(Z)
    for out in (projected, erased):
        cross = (out - out.mean(axis=0)).T @ (S - S.mean(axis=0))
        assert np.abs(cross).max() < 1e-8
    assert np.abs(projected - erased).max() > 0.1


def test_extreme_scales_give_the_same_map():
    S, X = make_data()
    expected = ConceptEraser(protected=[0, 1]).fit(np.hstack([S, X])).transform(X)
    for factor in (2.0**-900, 2.0**900):
        eraser = ConceptEraser(protected=[0, 1]).fit(np.hstack([S, X * factor]))
        out = eraser.transform(X * factor) / factor
        np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("spoil", "match"),
    [
        (
            lambda Z: Z[:, [0, 2, 3, 4]] * [0, 1, 1, 1] + [1, 0, 0, 0],
            r"\['x0'\].*constant",
        ),
        (lambda Z: Z[:2], "2 sample.*fewer rows than protected columns"),
        (lambda Z: np.where(np.arange(Z.shape[1]) == 3, np.nan, Z), r"'x3'.*NaN"),
        (lambda Z: np.where(np.arange(Z.shape[1]) == 1, np.nan, Z), r"'x1'.*NaN"),
    ],
    ids=["constant_protected", "too_few_rows", "nan_feature", "nan_protected"],
)
def test_bad_input_gives_clear_errors(spoil, match):
    S, X = make_data(d=3)
    with pytest.raises(ValueError, match=match):
        ConceptEraser(protected=[0, 1]).fit(spoil(np.hstack([S, X])))


def test_bad_transform_input_names_the_argument():
    S, X = make_data(d=3)
    frame = pd.DataFrame(np.hstack([S, X]), columns=["s", "t", "a", "b", "c"])
    eraser = ConceptEraser(protected=["s", "t"]).fit(frame)
    with pytest.raises(ValueError, match="X has 2 features.*expecting 5"):
        eraser.transform(frame[["a", "b"]])
    with pytest.raises(ValueError, match=r"non-protected columns.*\['a', 'b', 'c'\]"):
        eraser.transform(frame[["b", "a", "c"]])
    with pytest.raises(ValueError, match="method"):
        ConceptEraser(protected=["s"], method="inlp").fit(frame)


def test_changing_method_between_partial_fit_calls_is_an_error():
    S, X = make_data()
    eraser = ConceptEraser(protected=[0, 1], method="orth").partial_fit(
        np.hstack([S, X])[:100]
    )
    eraser.set_params(method="leace")
    with pytest.raises(ValueError, match=r"\['method'\] changed"):
        eraser.partial_fit(np.hstack([S, X])[100:])


def test_features_of_wildly_different_scales():
    """LEACE commutes with rescaling features: solved in the features' own
    units when their common units overflow; shrinkage depends on the scales
    and is a clear error."""
    S, X = make_data(d=3)
    factors = np.array([2.0**-700, 1.0, 2.0**700])
    Z = np.hstack([S, X * factors])
    expected = ConceptEraser(protected=[0, 1]).fit(np.hstack([S, X])).transform(X)
    out = ConceptEraser(protected=[0, 1]).fit(Z).transform(X * factors) / factors
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="overflows float64.*Rescale the features"):
        ConceptEraser(protected=[0, 1], shrinkage=True).fit(Z)
    out = ConceptEraser(protected=[0, 1], method="orth").fit(Z).transform(X * factors)
    assert np.isfinite(out).all()
