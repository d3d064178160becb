"""OrthogonalGLM: the constraint, the solvers, real data and bad input."""

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.optimize
import statsmodels.api as sm
from scipy.special import expit
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

from orthokit._linalg import CollinearityWarning
from orthokit.datasets import ADULT_PAPER_FEATURES, load_adult, load_compas
from orthokit.evaluation import check_orthogonality
from orthokit.linear_model import (
    OrthogonalGLM,
    OrthogonalLogisticRegression,
    OrthogonalPoissonRegressor,
    make_posthoc_pipeline,
)
from orthokit.linear_model._families import FAMILIES
from orthokit.linear_model._problem import Problem

SM_FAMILIES = {
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
    "gaussian": sm.families.Gaussian,
}


def evaluation_model(prediction, S, family):
    """GLM of the predictions on [1, S] (docs/user_guide/evaluation.rst), dispersion 1.

    ``check_orthogonality``'s table as ``(coefficients, p-values)`` arrays.
    """
    report = check_orthogonality(
        np.asarray(prediction, dtype=float), np.asarray(S, dtype=float), family=family
    )
    table = report.to_frame()
    return table["coef"].to_numpy(), table["p_value"].to_numpy()


def simulate(family, n=400, p=3, k=2, rho=0.5, seed=0):
    """Features N(0, 1); protected correlated with them (appendix G.1)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    s = rho * x[:, :k] + np.sqrt(1 - rho**2) * rng.normal(size=(n, k))
    eta = 0.5 * x.sum(axis=1) + 0.5 * s.sum(axis=1)
    if family == "binomial":
        y = rng.binomial(1, expit(eta))
    elif family == "poisson":
        y = rng.poisson(np.exp(0.5 * eta))
    elif family == "gaussian":
        y = eta + rng.normal(size=n)
    else:
        y = np.argmax(eta[:, None] * [0, 1, -1] + rng.gumbel(size=(n, 3)), axis=1)
    return np.column_stack([x, s]), y


def standardized(glm, X):
    """Slopes on the standardized scale, comparable between solvers."""
    predictors = np.asarray(X, dtype=float)[:, glm.protected_.feature_index_]
    return np.atleast_2d(glm.coef_) * predictors.std(axis=0)


# ----------------------------------------------------------------- solvers


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian", "multinomial"])
def test_solvers_reach_the_same_feasible_optimum(family):
    X, y = simulate(family)
    protected = [3, 4]
    newton = OrthogonalGLM(protected, family=family, solver="newton").fit(X, y)
    mdmm = OrthogonalGLM(protected, family=family, solver="mdmm").fit(X, y)
    assert newton.constraint_violation_ <= 1e-10
    assert newton.n_iter_ <= 8
    assert mdmm.constraint_violation_ <= 1e-6
    np.testing.assert_allclose(
        standardized(newton, X), standardized(mdmm, X), atol=1e-4
    )
    np.testing.assert_allclose(newton.multipliers_, mdmm.multipliers_, atol=1e-4)


@pytest.mark.parametrize("family", ["binomial", "poisson"])
def test_newton_agrees_with_scipy_slsqp(family):
    X, y = simulate(family, n=300)
    x, S = X[:, :3], X[:, 3:]
    s_centred = S - S.mean(axis=0)
    design = np.column_stack([np.ones(len(y)), x])
    mean = expit if family == "binomial" else np.exp

    def loss(beta):
        eta = design @ beta
        cumulant = np.logaddexp(0, eta) if family == "binomial" else np.exp(eta)
        return np.mean(cumulant - y * eta)

    def constraint(beta):
        return s_centred.T @ mean(design @ beta) / len(y)

    reference = scipy.optimize.minimize(
        loss,
        np.zeros(4),
        method="SLSQP",
        constraints=[{"type": "eq", "fun": constraint}],
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert reference.success
    glm = OrthogonalGLM([3, 4], family=family, solver="newton").fit(X, y)
    np.testing.assert_allclose(np.ravel(glm.intercept_), reference.x[:1], atol=1e-5)
    np.testing.assert_allclose(np.ravel(glm.coef_), reference.x[1:], atol=1e-5)


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian"])
@pytest.mark.parametrize("solver", ["newton", "mdmm"])
def test_evaluation_model_finds_no_protected_effect(family, solver):
    X, y = simulate(family, n=500, seed=3)
    S = X[:, 3:]
    glm = OrthogonalGLM([3, 4], family=family, solver=solver).fit(X, y)
    prediction = glm.predict_proba(X)[:, 1] if family == "binomial" else glm.predict(X)
    coef, pvalues = evaluation_model(prediction, S, family)
    assert np.abs(coef).max() < 1e-5
    assert pvalues.min() > 0.99
    # ...while an unconstrained GLM's predictions carry the protected effects.
    base = sm.GLM(y, sm.add_constant(X[:, :3]), family=SM_FAMILIES[family]()).fit()
    coef, pvalues = evaluation_model(base.fittedvalues, S, family)
    assert pvalues.max() < 0.01


def test_multinomial_constraint_holds_for_every_class():
    X, y = simulate("multinomial", n=600, seed=1)
    clf = OrthogonalLogisticRegression([3, 4], solver="newton").fit(X, y)
    proba = clf.predict_proba(X)
    s_centred = X[:, 3:] - X[:, 3:].mean(axis=0)
    assert clf.coef_.shape == (3, 3) and np.all(clf.coef_[0] == 0)
    assert clf.multipliers_.shape == (2, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.abs(s_centred.T @ proba / len(y)).max() < 1e-10
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))


def test_sample_weight_equals_repeated_rows():
    X, y = simulate("binomial", n=200, seed=4)
    weights = np.random.default_rng(0).integers(0, 3, size=len(y))
    weighted = OrthogonalGLM([3, 4], solver="newton").fit(X, y, sample_weight=weights)
    repeated = OrthogonalGLM([3, 4], solver="newton").fit(
        np.repeat(X, weights, axis=0), np.repeat(y, weights)
    )
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, atol=1e-8)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, atol=1e-8)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_coefficients_are_on_the_original_scale(scale):
    X, y = simulate("poisson", seed=5)
    base = OrthogonalPoissonRegressor([3, 4], solver="newton").fit(X, y)
    X_scaled = X.copy()
    X_scaled[:, 0] *= scale
    glm = OrthogonalPoissonRegressor([3, 4], solver="newton").fit(X_scaled, y)
    np.testing.assert_allclose(glm.coef_[0] * scale, base.coef_[0], rtol=1e-7)
    np.testing.assert_allclose(glm.predict(X_scaled), base.predict(X), rtol=1e-7)


def test_ridge_shrinks_and_keeps_the_constraint():
    X, y = simulate("binomial", seed=6)
    plain = OrthogonalGLM([3, 4], solver="newton").fit(X, y)
    ridge = OrthogonalGLM([3, 4], solver="newton", alpha=1.0).fit(X, y)
    assert np.linalg.norm(ridge.coef_) < np.linalg.norm(plain.coef_)
    assert ridge.constraint_violation_ < 1e-10


def test_protected_values_are_not_needed_to_predict():
    X, y = simulate("binomial", seed=7)
    glm = OrthogonalGLM([3, 4], solver="newton").fit(X, y)
    X_other = X.copy()
    X_other[:, 3:] = 0.0
    np.testing.assert_array_equal(glm.predict_proba(X), glm.predict_proba(X_other))
    assert list(glm.predictor_names_) == ["x0", "x1", "x2"]


def test_protected_as_predictors():
    X, y = simulate("binomial", seed=8)
    glm = OrthogonalGLM([3, 4], solver="newton", protected_as_predictors=True)
    glm.fit(X, y)
    assert list(glm.predictor_names_) == ["x0", "x1", "x2", "x3", "x4"]
    assert glm.coef_.shape == (1, 5)
    assert glm.constraint_violation_ < 1e-10
    X_other = X.copy()
    X_other[:, 3] += 1.0
    assert not np.allclose(glm.predict_proba(X), glm.predict_proba(X_other))


@pytest.mark.parametrize("frame", [pd.DataFrame, pl.DataFrame])
def test_frames_with_categorical_protected_columns(frame):
    rng = np.random.default_rng(9)
    group = rng.choice(["a", "b", "c"], size=300)
    x = rng.normal(size=(300, 2)) + (group == "b")[:, None]
    y = (x.sum(axis=1) + rng.logistic(size=300) > 0.5).astype(int)
    data = {"x0": x[:, 0], "group": group, "x1": x[:, 1]}
    glm = OrthogonalLogisticRegression("group", solver="newton").fit(frame(data), y)
    array_glm = OrthogonalLogisticRegression([2, 3], solver="newton").fit(
        np.column_stack([x, group == "b", group == "c"]), y
    )
    np.testing.assert_allclose(glm.coef_, array_glm.coef_, atol=1e-10)
    assert glm.protected_.encoded_names_ == ["group_b", "group_c"]


def test_estimator_types_and_grid_search():
    X, y = simulate("binomial", seed=10)
    assert is_classifier(OrthogonalGLM([3], family="multinomial"))
    assert is_regressor(OrthogonalGLM([3], family="gaussian"))
    assert is_classifier(OrthogonalLogisticRegression([3]))
    assert is_regressor(OrthogonalPoissonRegressor([3]))
    assert not hasattr(OrthogonalPoissonRegressor([3]), "predict_proba")
    search = GridSearchCV(
        OrthogonalLogisticRegression([3, 4], solver="newton"),
        {"alpha": [0.0, 1.0]},
        cv=3,
    ).fit(X, y)
    # default scoring of a classifier is accuracy, and the folds are stratified
    best = search.best_estimator_
    assert search.best_score_ == pytest.approx(
        np.mean(
            [
                best.fit(X[train], y[train]).score(X[test], y[test])
                for train, test in StratifiedKFold(3).split(X, y)
            ]
        )
    )


# -------------------------------------------------------------- post hoc


def test_posthoc_pipeline_by_name():
    rng = np.random.default_rng(11)
    sex = rng.choice(["F", "M"], size=400)
    embedding = rng.normal(size=(400, 30)) + 0.8 * (sex == "M")[:, None]
    y = rng.poisson(np.exp(0.3 * embedding[:, :3].sum(axis=1)))
    X = pd.DataFrame(embedding, columns=[f"e{j}" for j in range(30)]).assign(sex=sex)
    pipe = make_posthoc_pipeline(
        PCA(n_components=4), OrthogonalPoissonRegressor("sex", solver="newton")
    ).fit(X, y)
    glm = pipe[-1]
    assert list(glm.predictor_names_) == ["pca0", "pca1", "pca2", "pca3"]
    male = (sex == "M").astype(float)
    coef, pvalues = evaluation_model(pipe.predict(X), male[:, None], "poisson")
    assert abs(coef[0]) < 1e-6 and pvalues[0] > 0.99


def test_posthoc_pipeline_by_position_matches_manual_recipe():
    X, y = simulate("binomial", n=300, p=6, seed=12)
    pipe = make_posthoc_pipeline(
        TruncatedSVD(n_components=3, random_state=0),
        OrthogonalLogisticRegression([6, 7], solver="newton"),
    ).fit(X, y)
    manual = make_pipeline(
        ColumnTransformer(
            [("protected", "passthrough", [6, 7])],
            remainder=TruncatedSVD(n_components=3, random_state=0),
        ),
        OrthogonalLogisticRegression([0, 1], solver="newton"),
    ).fit(X, y)
    assert pipe[-1].protected == [0, 1]
    np.testing.assert_allclose(pipe.predict_proba(X), manual.predict_proba(X))
    assert pipe[-1].constraint_violation_ < 1e-10


# ------------------------------------------------------------ bad input


def test_separable_data_warn():
    # Mirror-image rows (x, s) and (-x, s): any model in x alone satisfies the
    # constraint, and x > 0 separates the classes perfectly.
    half = np.arange(1, 101) / 10
    x = np.concatenate([half, -half])
    s = np.tile(np.arange(100) % 2, 2)
    y = (x > 0).astype(int)
    X = np.column_stack([x, s])
    with pytest.warns(ConvergenceWarning, match="separable"):
        glm = OrthogonalGLM([1], solver="newton").fit(X, y)
    assert np.all(np.isfinite(glm.coef_))
    # a ridge gives a finite maximum
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        OrthogonalGLM([1], solver="newton", alpha=0.1).fit(X, y)


@pytest.mark.parametrize(
    "make_X, y, params, error, match",
    [
        (
            lambda rng: np.column_stack([rng.normal(size=(50, 2)), np.ones(50)]),
            np.arange(50) % 2,
            {},
            ValueError,
            r"protected column\(s\) \['x2'\] are constant",
        ),
        (
            lambda rng: rng.normal(size=(3, 6)),
            np.array([0, 1, 0]),
            {"protected": [1, 2, 3, 4, 5]},
            ValueError,
            "more protected columns than rows",
        ),
        (
            lambda rng: rng.normal(size=(50, 3)),
            -(np.arange(50) % 3),
            {"family": "poisson"},
            ValueError,
            "y must be non-negative counts",
        ),
        (
            lambda rng: rng.normal(size=(50, 3)),
            np.zeros(50),
            {"family": "poisson"},
            ValueError,
            "zero everywhere",
        ),
        (
            lambda rng: rng.normal(size=(50, 3)),
            np.ones(50),
            {},
            ValueError,
            "only one class",
        ),
        (
            lambda rng: rng.normal(size=(50, 3)),
            np.arange(50) % 3,
            {},
            ValueError,
            "family='binomial' needs 2 classes",
        ),
        (
            lambda rng: rng.normal(size=(50, 3)),
            np.arange(50) % 2,
            {"solver": "lbfgs"},
            ValueError,
            "solver",
        ),
    ],
)
def test_bad_input_raises(make_X, y, params, error, match):
    X = make_X(np.random.default_rng(14))
    params = {"protected": [2], "solver": "newton", **params}
    with pytest.raises(error, match=match):
        OrthogonalGLM(**params).fit(X, y)


@pytest.mark.parametrize(
    "weights, error, match",
    [
        (-np.ones(50), ValueError, "non-negative"),
        (-1.0, ValueError, "non-negative"),
        (np.zeros(50), ValueError, "sums to zero"),
        (0.0, ValueError, "sums to zero"),
        (np.ones(49), ValueError, r"expected \(50,\)"),
        (np.ones((50, 1)), ValueError, "1D array or scalar"),
        (np.full(50, np.nan), ValueError, "NaN"),
        (np.nan, ValueError, "NaN"),
        (np.inf, ValueError, "NaN or infinity"),
        (np.array(["1"] * 50), TypeError, "must be numeric"),
        (np.array(["a"] * 50, dtype=object), TypeError, "must be numeric"),
    ],
)
@pytest.mark.parametrize("solver", ["newton", "mdmm"])
def test_bad_sample_weight(weights, error, match, solver):
    X, y = simulate("binomial", n=50)
    with pytest.raises(error, match=match):
        OrthogonalGLM([3, 4], solver=solver).fit(X, y, sample_weight=weights)


@pytest.mark.parametrize("solver", ["newton", "mdmm"])
@pytest.mark.parametrize("weights", [3.0, np.full(200, 1e308), np.full(200, 1e-300)])
def test_sample_weight_scale_does_not_matter(weights, solver):
    X, y = simulate("binomial", n=200, seed=2)
    plain = OrthogonalGLM([3, 4], solver=solver).fit(X, y)
    weighted = OrthogonalGLM([3, 4], solver=solver).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(weighted.coef_, plain.coef_, rtol=1e-10)
    np.testing.assert_allclose(weighted.intercept_, plain.intercept_, rtol=1e-10)


def test_collinear_protected_columns_warn_and_still_hold():
    X, y = simulate("binomial", seed=15)
    X = np.column_stack([X, X[:, 3] + 2 * X[:, 4]])
    with pytest.warns(CollinearityWarning, match="collinear"):
        glm = OrthogonalGLM([3, 4, 5], solver="newton").fit(X, y)
    assert glm.constraint_violation_ < 1e-10
    assert glm.multipliers_.shape == (3,)


def test_protected_determined_by_features_as_predictors():
    X, y = simulate("binomial", seed=16)
    X[:, 3] = X[:, 0] - X[:, 1]  # protected column fully determined by X
    with pytest.warns(CollinearityWarning, match="predictors are collinear"):
        glm = OrthogonalGLM([3, 4], solver="newton", protected_as_predictors=True).fit(
            X, y
        )
    assert glm.constraint_violation_ < 1e-10
    assert np.all(np.isfinite(glm.coef_))


def test_predictors_spanned_by_protected_leave_only_the_constant_model():
    X, y = simulate("binomial", seed=17)
    X = np.column_stack([X[:, 3] - X[:, 4], X[:, 3:]])
    with pytest.warns(UserWarning, match="only model .* is the constant"):
        glm = OrthogonalGLM([1, 2], solver="newton").fit(X, y)
    np.testing.assert_allclose(glm.coef_, 0.0, atol=1e-8)
    np.testing.assert_allclose(glm.predict_proba(X)[:, 1], y.mean(), atol=1e-8)


@pytest.mark.parametrize("solver", ["newton", "mdmm"])
def test_convergence_warning_reports_the_violation(solver):
    X, y = simulate("binomial", seed=18)
    with pytest.warns(ConvergenceWarning, match="constraint violation [0-9.e+-]+"):
        glm = OrthogonalGLM([3, 4], solver=solver, max_iter=1).fit(X, y)
    assert glm.n_iter_ == 1


# ------------------------------------------------------------ real data


def _adult():
    frame = load_adult().frame
    features = pd.get_dummies(frame[ADULT_PAPER_FEATURES], drop_first=True, dtype=float)
    X = pd.concat([features, frame[["sex", "race"]]], axis=1)
    S = pd.get_dummies(frame[["sex", "race"]], drop_first=True, dtype=float)
    return X, frame["income"].to_numpy(), features, S


@pytest.mark.slow
def test_adult_matches_the_paper():
    X, y, features, S = _adult()
    base = sm.GLM(y, sm.add_constant(features), family=sm.families.Binomial()).fit()
    coef, pvalues = evaluation_model(base.fittedvalues.to_numpy(), S, "binomial")
    effects = dict(zip(S.columns, coef, strict=True))
    assert effects["sex_Male"] == pytest.approx(1.038, abs=0.005)
    assert effects["race_White"] == pytest.approx(0.511, abs=0.005)
    assert pvalues[list(S.columns).index("sex_Male")] < 1e-10

    glm = OrthogonalGLM(["sex", "race"], solver="newton").fit(X, y)
    coef, pvalues = evaluation_model(glm.predict_proba(X)[:, 1], S, "binomial")
    assert np.abs(coef).max() < 0.01
    assert pvalues.min() > 0.9
    assert glm.constraint_violation_ < 1e-10


@pytest.mark.slow
def test_compas_with_protected_as_predictors():
    compas = load_compas()
    frame = compas.frame
    X = compas.data
    y = compas.target.to_numpy()
    S = pd.get_dummies(frame[["race", "sex"]], drop_first=True, dtype=float)
    design = sm.add_constant(pd.concat([X.drop(columns=["race", "sex"]), S], axis=1))
    base = sm.GLM(y, design.astype(float), family=sm.families.Binomial()).fit()
    _, pvalues = evaluation_model(base.fittedvalues.to_numpy(), S, "binomial")
    assert pvalues.min() < 1e-6
    glm = OrthogonalGLM(
        ["race", "sex"], solver="newton", protected_as_predictors=True
    ).fit(X, y)
    coef, pvalues = evaluation_model(glm.predict_proba(X)[:, 1], S, "binomial")
    assert np.abs(coef).max() < 0.01
    assert pvalues.min() > 0.9
    base_accuracy = np.mean((base.fittedvalues.to_numpy() > 0.5) == y)
    assert 0.6 < glm.score(X, y) < base_accuracy


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_poisson_simulation_of_appendix_g1(seed):
    X, y = simulate("poisson", n=1000, p=5, k=2, rho=0.5, seed=seed)
    glm = OrthogonalPoissonRegressor([5, 6], solver="newton").fit(X, y)
    coef, pvalues = evaluation_model(glm.predict(X), X[:, 5:], "poisson")
    assert np.abs(coef).max() < 1e-6
    assert pvalues.min() > 0.999


def test_too_few_predictors_for_the_constraints_warns():
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "sex": rng.choice(["F", "M"], n),
            "race": rng.choice(["A", "B", "W"], n),
        }
    )
    y = (X["a"] + X["b"] + rng.normal(size=n) > 0).astype(int)
    model = OrthogonalLogisticRegression(protected=["sex", "race"])
    with pytest.warns(UserWarning, match="2 predictor.*3 orthogonality constraint"):
        model.fit(X, y)
    assert np.abs(model.coef_).max() < 1e-5


def test_multinomial_newton_uses_the_exact_lagrangian_hessian():
    # Against central finite differences of the Lagrangian's gradient: with the
    # constraint curvature included Newton converges quadratically.
    rng = np.random.default_rng(0)
    n, q, m, r = 40, 4, 2, 2
    X1 = np.column_stack([np.ones(n), rng.normal(size=(n, q - 1))])
    Y = np.eye(3)[rng.integers(0, 3, n)][:, 1:]
    U = np.linalg.qr(rng.normal(size=(n, r)))[0]
    problem = Problem(
        X1, Y, np.ones(n), U, FAMILIES["multinomial"], 0.0, np.arange(q) > 0
    )
    theta, multipliers = 0.3 * rng.normal(size=q * m), rng.normal(size=r * m)

    def gradient(t):
        return problem.lagrangian_gradient(t, problem.state(t), multipliers)

    step = 1e-6
    numeric = np.column_stack(
        [(gradient(theta + step * e) - gradient(theta - step * e)) / (2 * step)
         for e in np.eye(q * m)]
    )  # fmt: skip
    exact = problem.hessian(problem.state(theta), multipliers)
    np.testing.assert_allclose(exact, numeric, atol=1e-8)
    X, y = simulate("multinomial")
    assert OrthogonalGLM([3, 4], family="multinomial").fit(X, y).n_iter_ <= 10


@pytest.mark.parametrize(
    "family, alpha", [("poisson", 0.0), ("binomial", 0.01), ("multinomial", 0.01)]
)
def test_solvers_agree_with_more_features_than_rows(family, alpha):
    # 15 rows (some of weight 0), 30 features: without a ridge the optimum is
    # a set; both solvers return its point nearest the start, whether given
    # weights or repeated rows (the ridge makes the classifiers' finite).
    rng = np.random.default_rng(3)
    X = rng.random((15, 30))
    # Poisson counts from 1: a zero count with p > n has no finite MLE.
    y = rng.integers(*{"poisson": (1, 4), "binomial": (0, 2)}.get(family, (0, 3)), 15)
    weights = rng.integers(0, 5, 15)
    fits = {}
    for solver in ["newton", "mdmm"]:
        glm = OrthogonalGLM([0], family=family, solver=solver, alpha=alpha)
        fits[solver, "w"] = glm.fit(X, y, sample_weight=weights)
        fits[solver, "r"] = clone(glm).fit(X.repeat(weights, 0), y.repeat(weights))
    reference = _predict(fits["newton", "r"], X)
    for key, glm in fits.items():
        np.testing.assert_allclose(_predict(glm, X), reference, rtol=1e-8, err_msg=key)


def _predict(glm, X):
    return glm.predict_proba(X) if hasattr(glm, "predict_proba") else glm.predict(X)
