"""The newton solver along pure levels: the limit from the start, and released.

A pure level (a one-hot category whose rows are all of one class) puts the
maximum of the likelihood at infinity along the level's indicator, unless the
constraints hold it at a finite point. The newton solver starts at the limit
along each pure level that can move alone and releases the levels along which
the limit turns out not to be optimal.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from test_glm import _adult
from test_glm_robust import limit_slsqp, one_hot_design, slsqp_predictions

from orthokit.linear_model import OrthogonalGLM, SeparationWarning
from orthokit.linear_model._glm_base import _OrthogonalGLMBase
from orthokit.linear_model._separation import limit_derivatives

# Adult's pure levels (SeparationWarning names them): no positive case.
ADULT_PURE = {"workclass": "Without-pay", "education": "Preschool"}


def solved(monkeypatch, fit):
    """Run ``fit`` and return ``(estimator, problem, solution)`` of its solver."""
    seen = {}
    solve = _OrthogonalGLMBase._solve

    def spy(self, problem, theta):
        seen["problem"] = problem
        seen["solution"] = solve(self, problem, theta)
        return seen["solution"]

    monkeypatch.setattr(_OrthogonalGLMBase, "_solve", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeparationWarning)
        estimator = fit()
    return estimator, seen["problem"], seen["solution"]


@pytest.mark.slow
def test_adult_stops_along_exactly_the_pure_levels(monkeypatch):
    X, y, features, S = _adult()
    glm, problem, solution = solved(
        monkeypatch, lambda: OrthogonalGLM(["sex", "race"], solver="newton").fit(X, y)
    )
    dummies = [f"{name}_{level}" for name, level in ADULT_PURE.items()]
    pure = (X[dummies] == 1).any(axis=1).to_numpy()
    assert y[pure].max() == 0
    # The rows the solver stopped along are exactly the pure levels' rows ...
    state = problem.state(solution.theta)
    _, _, pinned = limit_derivatives(problem, solution.theta, state)
    assert np.array_equal(np.sort(pinned[0].indices), np.flatnonzero(pure))
    # ... and on the rest, the KKT residuals meet the tolerance.
    assert solution.converged
    assert max(solution.stationarity, solution.violation) <= glm.tol
    p = glm.predict_proba(X)[:, 1]
    assert p[pure].max() < 1e-12
    # The solver followed the levels out for 8 iterations before; glum takes 6.
    assert glm.n_iter_ <= 6
    # mdmm (which follows the levels out) and SLSQP on the limit problem: the
    # pure levels' rows fitted exactly, their dummies zero on the other rows,
    # S centred over all rows (one constraint per encoded column).
    mdmm, _, run = solved(
        monkeypatch, lambda: OrthogonalGLM(["sex", "race"], solver="mdmm").fit(X, y)
    )
    assert run.converged
    np.testing.assert_allclose(p, mdmm.predict_proba(X)[:, 1], rtol=0, atol=1e-10)
    rest = ~pure
    kept = features.drop(columns=dummies)[rest].to_numpy()
    design = np.column_stack([np.ones(rest.sum()), kept])
    s_centred = (S - S.mean()).to_numpy()[rest]
    expected = limit_slsqp(design, s_centred, y[rest].astype(float))
    np.testing.assert_allclose(p[rest], expected, rtol=0, atol=2e-6)


@pytest.mark.parametrize("column, released", [(0, True), (1, False)])
def test_a_level_the_constraints_hold_is_released(monkeypatch, column, released):
    # Levels of a, on which sex depends: along a=0 the constraint holds the
    # maximum at a finite point, along a=1 it does not.
    features, sex, y = one_hot_design("binomial", seed=6)
    y[features[:, column] == 1] = 0.0
    X = pd.DataFrame(features, columns=[f"f{j}" for j in range(7)]).assign(sex=sex)
    fitted = {}
    for solver in ("newton", "mdmm"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted[solver] = OrthogonalGLM(["sex"], solver=solver).fit(X, y)
        separated = any(w.category is SeparationWarning for w in caught)
        assert separated is not released
    p = fitted["newton"].predict_proba(X)[:, 1]
    level = features[:, column] == 1
    np.testing.assert_allclose(
        p, fitted["mdmm"].predict_proba(X)[:, 1], rtol=0, atol=1e-9
    )
    keep = [1, 2, 3, 5, 6]  # one level of each factor dropped: full rank
    if released:
        assert p[level].min() > 0.1  # a finite maximum
        expected = slsqp_predictions("binomial", features[:, keep], sex[:, None], y)
    else:
        assert p[level].max() < 1e-12
        rest = ~level
        design = np.column_stack([np.ones(rest.sum()), features[rest][:, keep]])
        expected = np.zeros(len(y))
        expected[rest] = limit_slsqp(
            design, (sex - sex.mean())[rest], y[rest], standardize=False
        )
    np.testing.assert_allclose(p, expected, rtol=0, atol=2e-7)
