"""basis= in OrthogonalGLM: constraints on every basis column."""

import numpy as np
import scipy.linalg
from test_basis import (
    expanded,
    features,
    make_data,
    max_correlation,
    relative_error,
    splines_and_product,
)

from orthokit.evaluation import distance_correlation
from orthokit.linear_model import OrthogonalGLM


def glm_data():
    X = make_data(n_noise=20)
    weights = np.random.default_rng(5).normal(size=23)
    y = features(X) @ weights + np.random.default_rng(6).normal(size=len(X))
    return X, y


def constrained_least_squares(B, F, y):
    """Least squares of y on [1, F] subject to B̃ᵀ(F̃β) = 0, by a null space."""
    Bc, Fc, yc = B - B.mean(axis=0), F - F.mean(axis=0), y - y.mean()
    null = scipy.linalg.null_space(Bc.T @ Fc)
    beta = null @ np.linalg.lstsq(Fc @ null, yc, rcond=None)[0]
    return Fc @ beta + y.mean()


def test_glm_gaussian_is_least_squares_under_the_basis_constraints():
    X, y = glm_data()
    basis = splines_and_product()
    glm = OrthogonalGLM(protected=["age", "sex"], family="gaussian", basis=basis)
    glm.fit(X, y)
    B = expanded(basis, X)
    assert glm.multipliers_.shape == (B.shape[1],)
    assert glm.constraint_violation_ < 1e-10
    mu = glm.predict(X)
    assert max_correlation(B, mu[:, None]) < 1e-10
    expected = constrained_least_squares(B, features(X), y)
    assert relative_error(mu, expected) < 1e-10


def test_glm_predictions_do_not_depend_on_age():
    X, y = glm_data()
    labels = (y > np.median(y)).astype(int)
    options = {"n_permutations": 999, "random_state": 0}
    p_values = []
    for basis in (None, splines_and_product()):
        glm = OrthogonalGLM(protected=["age", "sex"], basis=basis).fit(X, labels)
        assert glm.constraint_violation_ < 1e-10
        probability = glm.predict_proba(X)[:, 1]
        p_values.append(distance_correlation(probability, X["age"], **options).p_value)
    assert p_values[0] < 0.01  # linear constraints: the curve in age stays
    assert p_values[1] > 0.1


def test_glm_protected_as_predictors_uses_the_basis():
    X, y = glm_data()
    glm = OrthogonalGLM(
        protected=["age", "sex"], family="gaussian", basis=splines_and_product(),
        protected_as_predictors=True,
    ).fit(X, y)  # fmt: skip
    names = list(glm.basis_.get_feature_names_out())
    assert list(glm.predictor_names_[-len(names) :]) == names
    X_new = make_data(n=50, seed=3, n_noise=20)
    assert glm.predict(X_new).shape == (50,)
