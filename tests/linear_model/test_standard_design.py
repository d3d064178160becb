"""The standardized design: predictors read in place or centred in a copy.

Predictors whose offsets are small against their spread are read in place (the
centring folded into the intercept, the scaling into the whitening transform);
others (a large offset, a column that needs a power-of-two rescaling) are
centred in a copy. The two must give the same fit.
"""

import numpy as np
import pytest
from scipy.special import expit

from orthokit.linear_model import OrthogonalGLM
from orthokit.linear_model._row_blocks import cross_product, weighted_gram
from orthokit.linear_model._standard_design import principal_components, standardize


def _problem(family, seed=0, n=3000):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    s = 0.5 * x[:, :1] + rng.normal(size=(n, 1))
    eta = 0.4 * x[:, 0] - 0.3 * x[:, 2] + 0.5 * s[:, 0]
    y = {
        "binomial": lambda: rng.binomial(1, expit(eta)),
        "poisson": lambda: rng.poisson(np.exp(0.5 * eta)),
        "gaussian": lambda: eta + rng.normal(size=n),
        "multinomial": lambda: (eta > -0.5).astype(int) + (eta > 0.5),
    }[family]()
    return x, s, y


@pytest.mark.parametrize(
    "shift, in_place",
    [(0.0, True), (50.0, True), (1e3, False), (1e12, False)],
)
def test_predictors_are_read_in_place_unless_their_offsets_need_a_copy(shift, in_place):
    x, s, _ = _problem("binomial")
    w = np.full(len(x), 1.0 / len(x))
    x[:, 1] += shift
    design = standardize(x, s, w, ["s"], True)
    assert (design.X1 is None) == in_place
    X1, transform, _, _, ones = principal_components(design, w)
    assert ones == int(in_place)
    # Either way the problem's design is the same [1, Z] with ZᵀWZ = I.
    lead = np.ones((len(x), ones))
    Z = np.hstack([lead, X1]) @ transform
    np.testing.assert_allclose((Z * w[:, None]).T @ Z, np.eye(Z.shape[1]), atol=1e-9)


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian", "multinomial"])
@pytest.mark.parametrize("solver", ["newton", "mdmm"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_in_place_and_copied_designs_give_the_same_fit(family, solver, fit_intercept):
    x, s, y = _problem(family)
    shifted = x.copy()
    # A shift of 1e3 standard deviations puts the predictors in a copy (see
    # test above); the fit moves only its intercept.
    shifted[:, 1] += 1e3
    kwargs = {"family": family, "solver": solver, "fit_intercept": fit_intercept}
    if not fit_intercept:
        # Without an intercept a shift changes the model: scale instead, which
        # the in-place design folds into its transform and the copy does not
        # need (both exact powers of two).
        shifted[:, 1] = x[:, 1] * 2.0**-1000
    ours = OrthogonalGLM([4], **kwargs).fit(np.column_stack([x, s]), y)
    copied = OrthogonalGLM([4], **kwargs).fit(np.column_stack([shifted, s]), y)
    coef = np.array(copied.coef_, dtype=float)
    factor = np.ones(coef.shape[-1])
    factor[1] = 2.0**-1000 if not fit_intercept else 1.0
    np.testing.assert_allclose(coef * factor, ours.coef_, rtol=1e-10, atol=1e-12)
    if fit_intercept:
        intercept = copied.intercept_ + 1e3 * coef[..., 1]
        np.testing.assert_allclose(intercept, ours.intercept_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("signed", [False, True])
def test_products_with_an_implied_column_of_ones(signed):
    # More rows than one block of either product, and a last block cut short.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20_001, 3))
    d = rng.normal(size=len(X)) if signed else rng.uniform(size=len(X))
    C = rng.normal(size=(len(X), 2))
    X1 = np.column_stack([np.ones(len(X)), X])
    np.testing.assert_allclose(
        weighted_gram(X, d, ones=1), (X1 * d[:, None]).T @ X1, rtol=1e-12, atol=1e-9
    )
    np.testing.assert_allclose(cross_product(X, C, ones=1), X1.T @ C, rtol=1e-12)
