"""Hessians of one-hot designs by sums over level codes, against the dense products."""

import warnings

import numpy as np
import pandas as pd
import pytest

from orthokit.linear_model import OrthogonalGLM, OrthogonalLogisticRegression
from orthokit.linear_model._one_hot import OneHotGram


def one_hot(rng, n, levels):
    """Indicators of a factor with ``levels`` levels, the first dropped."""
    codes = rng.integers(0, levels, size=n)
    return (codes[:, None] == np.arange(1, levels)).astype(float)


def mixed_design(rng, n=3000):
    """Dense columns between and after three factors' indicators."""
    return np.column_stack([
        rng.normal(size=n), one_hot(rng, n, 8), rng.uniform(size=n),
        one_hot(rng, n, 10), one_hot(rng, n, 5), rng.poisson(2.0, size=n),
    ])  # fmt: skip


@pytest.mark.parametrize("ones", [0, 1])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_gram_equals_dense_product(ones, layout):
    rng = np.random.default_rng(0)
    X = np.asarray(mixed_design(rng), order=layout)
    gram = OneHotGram.find(X, ones)
    assert gram is not None
    # Three factors found: the Poisson column (0, 1, 2, ...) is not an indicator.
    assert [len(levels) for levels in gram.positions] == [7, 9, 4]
    X1 = np.column_stack([np.ones((len(X), ones)), X])
    for d in (rng.uniform(size=len(X)), rng.normal(size=len(X))):  # either sign
        expected = X1.T @ (d[:, None] * X1)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(gram.gram(d), expected, rtol=0, atol=1e-13 * scale)


@pytest.mark.parametrize("ones", [0, 1])
def test_a_single_factor_and_nothing_else(ones):
    rng = np.random.default_rng(7)
    X = one_hot(rng, 500, 6)
    gram = OneHotGram.find(X, ones)
    assert gram is not None and len(gram.dense_positions) == 0
    d = rng.normal(size=500)
    X1 = np.column_stack([np.ones((500, ones)), X])
    np.testing.assert_allclose(
        gram.gram(d), X1.T @ (d[:, None] * X1), rtol=0, atol=1e-13 * np.abs(d).sum()
    )


def test_overlapping_indicators_and_impostors():
    """Indicators sharing rows go to different factors; near-indicators stay dense."""
    rng = np.random.default_rng(1)
    n = 2000
    a = (rng.uniform(size=n) < 0.3).astype(float)
    b = (rng.uniform(size=n) < 0.3).astype(float)  # overlaps a
    late = a.copy()
    late[-1] = 0.5  # 0/1 in the rows peeked at, not further down
    ones_column = np.ones(n)
    X = np.column_stack([a, b, late, ones_column, one_hot(rng, n, 30), a])
    gram = OneHotGram.find(X, 1)
    assert gram is not None
    assert list(gram.dense_positions) == [1 + 2, 1 + 3]
    assert len(gram.positions[0]) == 1  # a alone: b shares its rows
    d = rng.normal(size=n)
    X1 = np.column_stack([np.ones(n), X])
    expected = X1.T @ (d[:, None] * X1)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(gram.gram(d), expected, rtol=0, atol=1e-13 * scale)


def test_dense_designs_keep_the_dense_path():
    rng = np.random.default_rng(2)
    assert OneHotGram.find(rng.normal(size=(500, 6)), 1) is None
    # One indicator among many dense columns does not pay.
    X = np.column_stack([rng.normal(size=(500, 8)), one_hot(rng, 500, 2)])
    assert OneHotGram.find(X, 1) is None
    # Not more rows than columns: not scanned (the fit does not read X in place).
    assert OneHotGram.find(one_hot(rng, 30, 31), 1) is None
    assert OneHotGram.find(one_hot(rng, 300, 31), 1) is not None


@pytest.mark.parametrize("family", ["binomial", "poisson", "multinomial"])
def test_fit_equals_the_dense_path(monkeypatch, family):
    """The fit with the level sums equals the one with dense Hessians."""
    rng = np.random.default_rng(3)
    n = 4000
    X = mixed_design(rng, n)
    s = X[:, 1] + 0.5 * X[:, 7] + rng.normal(size=n)
    eta = 0.4 * X[:, 0] + X[:, 1:5] @ [0.5, -0.3, 0.2, 0.8] - 0.5 * X[:, 6]
    if family == "poisson":
        y = rng.poisson(np.exp(0.3 * eta))
        estimator = OrthogonalGLM(["s"], family="poisson")
    elif family == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
        estimator = OrthogonalGLM(["s"])
    else:
        y = np.digitize(eta + rng.logistic(size=n), [-0.5, 0.5])
        estimator = OrthogonalLogisticRegression(["s"])
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    frame["s"] = s
    weights = rng.uniform(0.5, 2.0, size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # well posed: nothing to warn
        sums = estimator.fit(frame, y, sample_weight=weights)
        coef, intercept = sums.coef_.copy(), np.copy(sums.intercept_)
        found = []
        monkeypatch.setattr(
            OneHotGram, "find", lambda X, ones: found.append(X.shape) or None
        )
        dense = estimator.fit(frame, y, sample_weight=weights)
    assert found  # the dense fit went past the search
    np.testing.assert_allclose(coef, dense.coef_, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(intercept, dense.intercept_, rtol=1e-11, atol=1e-12)
    assert dense.constraint_violation_ < 1e-12
    assert sums.constraint_violation_ < 1e-12


def test_standardized_gram_by_level_sums_equals_the_blocks():
    """standardize's statistics from level sums equal those of its row blocks."""
    from orthokit.linear_model._standard_design import standardize

    rng = np.random.default_rng(4)
    n = 5000
    X = mixed_design(rng, n)
    X[:, 0] = X[:, 0] + 9.5  # an offset of 9.5 standard deviations
    s = np.column_stack([X[:, 1] + rng.normal(size=n), rng.normal(size=n)])
    w = rng.uniform(0.5, 2.0, size=n)
    w /= w.sum()
    gram = OneHotGram.find(X, 1)
    assert gram is not None
    sums = standardize(X, s, w, ["a", "b"], True, gram)
    blocks = standardize(X, s, w, ["a", "b"], True)
    assert sums.X1 is None and blocks.X1 is None  # both read X in place
    np.testing.assert_allclose(sums.gram, blocks.gram, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sums.basis_cross, blocks.basis_cross, rtol=0, atol=1e-13)
    # And both are the Gram matrix of the standardized columns (numpy).
    centred = X - w @ X
    standard = np.column_stack([np.ones(n), centred / np.sqrt(w @ centred**2)])
    np.testing.assert_allclose(
        sums.gram, standard.T @ (w[:, None] * standard), rtol=0, atol=1e-13
    )


def test_pure_levels_by_level_counts_equal_the_column_scan():
    from orthokit.linear_model._diagnostics import pure_levels

    rng = np.random.default_rng(5)
    n = 3000
    codes = rng.integers(0, 9, size=n)
    other = rng.integers(0, 12, size=n)
    rare = rng.uniform(size=n) < 0.05
    X = np.column_stack([
        rng.normal(size=n), codes[:, None] == np.arange(1, 9),
        other[:, None] == np.arange(1, 12), ~rare,
    ]).astype(float)  # fmt: skip
    labels = rng.integers(0, 3, size=n)
    # Pure: codes' level 5 (its indicator's upper side) and the rare rows
    # (the lower side of the indicator ~rare, the last column).
    labels[rare | (codes == 5)] = 0
    gram = OneHotGram.find(X, 1)
    assert gram is not None and 20 in gram.indicators()  # ~rare: an indicator
    w = np.ones(n)
    scanned, counted = pure_levels(X, labels, w), pure_levels(X, labels, w, gram)
    assert [(j, value, label) for j, value, _, label in counted] == [
        (5, 1.0, 0), (20, 0.0, 0),
    ]  # fmt: skip
    assert len(scanned) == len(counted)
    for (j, value, rows, label), expected in zip(counted, scanned, strict=True):
        assert (j, value, label) == (expected[0], expected[1], expected[3])
        np.testing.assert_array_equal(rows, expected[2])


def test_levels_beyond_the_table_bound_stay_dense():
    """The table of all factors' levels has at most one cell per row."""
    rng = np.random.default_rng(6)
    n = 400
    X = np.column_stack([one_hot(rng, n, 12), one_hot(rng, n, 12), one_hot(rng, n, 12)])
    gram = OneHotGram.find(X, 1)
    assert gram is not None
    assert np.prod(gram.shape) <= n  # 12 x 12 x 2: the third factor's first level
    assert [len(levels) for levels in gram.positions] == [11, 11, 1]
    assert len(gram.dense_positions) == 10
    d = rng.normal(size=n)
    X1 = np.column_stack([np.ones(n), X])
    expected = X1.T @ (d[:, None] * X1)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(gram.gram(d), expected, rtol=0, atol=1e-13 * scale)


def test_fit_without_intercept_on_indicators_alone(monkeypatch):
    rng = np.random.default_rng(8)
    n = 3000
    codes, other = rng.integers(0, 6, size=n), rng.integers(0, 4, size=n)
    X = np.column_stack(
        [codes[:, None] == np.arange(6), other[:, None] == np.arange(1, 4)]
    )
    X = X.astype(float)
    s = codes + rng.normal(size=n)
    y = rng.binomial(1, 1 / (1 + np.exp(-(codes - 2.5) / 2 - 0.3 * other)))
    Xs = np.column_stack([X, s])
    estimator = OrthogonalGLM([X.shape[1]], fit_intercept=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sums = estimator.fit(Xs, y).coef_.copy()
        monkeypatch.setattr(OneHotGram, "find", lambda X, ones: None)
        dense = estimator.fit(Xs, y)
    np.testing.assert_allclose(sums, dense.coef_, rtol=1e-11, atol=1e-12)
    assert dense.constraint_violation_ < 1e-12
