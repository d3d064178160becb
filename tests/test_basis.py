"""basis=: confounders that act nonlinearly, removed exactly in a basis of S."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    PolynomialFeatures,
    SplineTransformer,
)

from orthokit._linalg import CollinearityWarning
from orthokit.evaluation import distance_correlation
from orthokit.linear_model import OrthogonalGLM
from orthokit.preprocessing import (
    ConceptEraser,
    OrthogonalProjector,
    RecursiveResidualizer,
)

KNOTS = np.linspace(20.0, 80.0, 8)[:, None]


def product(S):
    """The product of the columns (an age x sex interaction)."""
    return np.prod(np.asarray(S, dtype=float), axis=1, keepdims=True)


def product_name(transformer, names):
    return ["*".join(names)]


def make_data(n=600, seed=0, n_noise=0):
    """Features that depend on age through a sine and on age x sex."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 80, n)
    sex = rng.choice(["F", "M"], n)
    male = (sex == "M").astype(float)
    noise = 0.3 * rng.normal(size=(n, 3 + n_noise))
    X = pd.DataFrame({"age": age, "sex": sex})
    X["f1"] = np.sin(age / 8) + 0.04 * (age - 50) * male + noise[:, 0]
    X["f2"] = 2 * np.cos(age / 12) + noise[:, 1] + 10
    X["f3"] = noise[:, 2] - 0.02 * age * male + 0.5 * male
    for j in range(n_noise):
        X[f"n{j}"] = noise[:, 3 + j] + 0.1 * np.sin(age / (5 + j))
    return X


def splines_and_product(knots=None):
    """Splines of age, sex, and the age x sex product: full rank."""
    spline = SplineTransformer(n_knots=8, include_bias=False)
    if knots is not None:
        spline.set_params(knots=knots)
    return ColumnTransformer(
        [
            ("age", spline, ["age"]),
            ("sex", "passthrough", ["sex_M"]),
            (
                "age_sex",
                FunctionTransformer(product, feature_names_out=product_name),
                ["age", "sex_M"],
            ),
        ]  # fmt: skip
    )


def splines_and_interactions():
    """Splines of age and PolynomialFeatures' interactions: age is twice in it."""
    return ColumnTransformer(
        [
            ("age", SplineTransformer(n_knots=8, include_bias=False), ["age"]),
            (
                "age_sex",
                PolynomialFeatures(interaction_only=True, include_bias=False),
                ["age", "sex_M"],
            ),
        ]  # fmt: skip
    )


def expanded(basis, X):
    """The basis of the encoded protected columns, fitted here independently."""
    encoded = pd.DataFrame({"age": X["age"], "sex_M": (X["sex"] == "M") * 1.0})
    return np.asarray(clone(basis).fit_transform(encoded), dtype=float)


def features(X):
    return X.drop(columns=["age", "sex"]).to_numpy()


def lstsq_residuals(B, F):
    """Residuals of F on [1, B] by numpy's lstsq, with the means of F kept."""
    design = np.column_stack([np.ones(len(B)), B])
    coef = np.linalg.lstsq(design, F, rcond=None)[0]
    return F - design @ coef + F.mean(axis=0)


def max_correlation(B, R):
    """Largest absolute correlation between columns of B and of R."""
    Bc, Rc = B - B.mean(axis=0), R - R.mean(axis=0)
    Bc, Rc = Bc / np.linalg.norm(Bc, axis=0), Rc / np.linalg.norm(Rc, axis=0)
    return np.abs(Bc.T @ Rc).max()


def relative_error(actual, expected):
    return np.linalg.norm(actual - expected) / np.linalg.norm(expected)


def fit_quietly(estimator, X):
    """Fit, silencing the CollinearityWarning of a collinear basis."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollinearityWarning)
        return estimator.fit(X)


BASES = {"splines_and_product": splines_and_product, "interactions": (
    splines_and_interactions)}  # fmt: skip


@pytest.mark.parametrize("name", BASES)
def test_projector_is_lstsq_on_the_expanded_design(name):
    X = make_data()
    basis = BASES[name]()
    projector = OrthogonalProjector(protected=["age", "sex"], basis=basis)
    if name == "interactions":  # age is in the span of its splines
        with pytest.warns(CollinearityWarning, match="collinear"):
            projector.fit(X)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            projector.fit(X)
    R = projector.transform(X)
    B = expanded(basis, X)
    assert projector.coef_.shape == (B.shape[1], 3)
    assert projector.rank_ == (B.shape[1] - (name == "interactions"))
    assert max_correlation(B, R) < 1e-10
    assert relative_error(R, lstsq_residuals(B, features(X))) < 1e-10
    # The linear projector leaves the sine in: far from orthogonal to the basis.
    linear = OrthogonalProjector(protected=["age", "sex"]).fit_transform(X)
    assert max_correlation(B, linear) > 0.1


def test_transform_applies_the_fitted_basis_to_new_rows():
    X, X_new = make_data(seed=0), make_data(seed=1)
    basis = splines_and_product()
    projector = OrthogonalProjector(protected=["age", "sex"], basis=basis).fit(X)
    # Coefficients of lstsq on the training rows, applied to the new rows'
    # basis (fitted on the training rows).
    fitted = clone(basis).fit(
        pd.DataFrame({"age": X["age"], "sex_M": (X["sex"] == "M") * 1.0})
    )
    B = fitted.transform(
        pd.DataFrame({"age": X["age"], "sex_M": (X["sex"] == "M") * 1.0})
    )
    B_new = fitted.transform(
        pd.DataFrame({"age": X_new["age"], "sex_M": (X_new["sex"] == "M") * 1.0})
    )
    design = np.column_stack([np.ones(len(B)), B])
    coef = np.linalg.lstsq(design, features(X), rcond=None)[0][1:]
    expected = features(X_new) - (B_new - B.mean(axis=0)) @ coef
    assert relative_error(projector.transform(X_new), expected) < 1e-10


def test_distance_correlation_with_age_near_its_permutation_null():
    X = make_data()
    linear = OrthogonalProjector(protected=["age", "sex"]).fit_transform(X)
    curved = OrthogonalProjector(
        protected=["age", "sex"], basis=splines_and_product()
    ).fit_transform(X)
    options = {"n_permutations": 999, "random_state": 0}
    before = distance_correlation(linear, X["age"], **options)
    after = distance_correlation(curved, X["age"], **options)
    assert before.p_value < 0.01  # 0.001: the sine is left in
    assert after.p_value > 0.1  # at the null, not below it
    assert after.value < before.value / 10


def test_recursive_residualizer_equals_the_projector_up_to_its_ridge():
    X = make_data()
    basis = splines_and_product()
    projector = OrthogonalProjector(protected=["age", "sex"], basis=basis).fit(X)
    rr = RecursiveResidualizer(protected=["age", "sex"], basis=basis, delta=1e-10)
    rr.fit(X)
    assert relative_error(rr.coef_, projector.coef_) < 1e-8
    assert relative_error(rr.transform(X), projector.transform(X)) < 1e-10
    curved = distance_correlation(rr.transform(X), X["age"], n_permutations=999,
                                  random_state=0)  # fmt: skip
    assert curved.p_value > 0.1


@pytest.mark.parametrize("method", ["leace", "orth"])
def test_eraser_cross_covariance_with_the_basis_is_zero(method):
    X = make_data(n_noise=20)
    basis = splines_and_product()
    eraser = ConceptEraser(protected=["age", "sex"], basis=basis, method=method)
    Xt = eraser.fit(X).transform(X)
    B = expanded(basis, X)
    assert eraser.rank_ == B.shape[1]
    assert max_correlation(B, Xt) < 1e-10
    linear = ConceptEraser(protected=["age", "sex"], method=method).fit_transform(X)
    assert max_correlation(B, linear) > 0.1


@pytest.mark.parametrize(
    ("estimator", "tolerance"),
    [
        (OrthogonalProjector(protected=["age", "sex"]), 1e-10),
        # Splines of ages above 40 are zero in the first batch: their
        # coefficients start from the ridge, so the stream equals one fit up
        # to the ridge (a relative 1e-7 for delta=1e-6).
        (RecursiveResidualizer(protected=["age", "sex"], delta=1e-6), 1e-5),
        (ConceptEraser(protected=["age", "sex"]), 1e-10),
    ],
    ids=["projector", "recursive", "eraser"],
)
def test_partial_fit_with_given_knots_equals_fit(estimator, tolerance):
    X = make_data(n_noise=15)
    # The first chunk holds only ages below 40: knots learned from it would
    # not cover the rest.
    X = X.iloc[np.argsort(X["age"].to_numpy() > 40, kind="stable")]
    assert (X["age"].iloc[:150] < 40).all()
    estimator.set_params(basis=splines_and_product(knots=KNOTS))
    full = clone(estimator).fit(X)
    streamed = clone(estimator)
    for chunk in np.array_split(np.arange(len(X)), [150, 350]):
        streamed.partial_fit(X.iloc[chunk])
    assert relative_error(streamed.transform(X), full.transform(X)) < tolerance
    assert streamed.basis_ is not estimator.basis
    # Without knots the first chunk fixes them: the stream is another fit.
    estimator.set_params(basis=splines_and_product())
    narrow = clone(estimator)
    for chunk in np.array_split(np.arange(len(X)), [150, 350]):
        narrow.partial_fit(X.iloc[chunk])
    knots = narrow.basis_.transformers_[0][1].bsplines_[0].t[3:-3]  # cubic
    assert knots.max() == X["age"].iloc[:150].max()
    assert relative_error(narrow.transform(X), full.transform(X)) > 1e-3


@pytest.mark.parametrize(
    "estimator",
    [
        OrthogonalProjector(protected=["age", "sex"]),
        RecursiveResidualizer(protected=["age", "sex"]),
        ConceptEraser(protected=["age", "sex"]),
    ],
    ids=["projector", "recursive", "eraser"],
)
def test_dask_dataframe_with_given_knots_equals_in_memory(estimator):
    import dask.dataframe as dd  # a dev dependency

    X = make_data(n_noise=15).astype({"sex": "category"})
    estimator.set_params(basis=splines_and_product(knots=KNOTS))
    expected = clone(estimator).fit(X).transform(X)
    frame = dd.from_pandas(X, npartitions=4)
    out = clone(estimator).fit(frame).transform(frame).compute()
    # The residualizer's batches are the blocks: equal up to its ridge.
    assert relative_error(np.asarray(out), expected) < 1e-8


def test_single_label_column_is_materialized_for_the_basis():
    rng = np.random.default_rng(0)
    site = rng.choice(["a", "b", "c"], 300)
    X = pd.DataFrame({"site": site, "f": rng.normal(size=300) + (site == "b")})
    identity = FunctionTransformer(feature_names_out="one-to-one")
    plain = OrthogonalProjector(protected=["site"]).fit(X)
    expanded_ = OrthogonalProjector(protected=["site"], basis=identity).fit(X)
    assert list(expanded_.basis_.get_feature_names_out()) == ["site_b", "site_c"]
    assert relative_error(expanded_.transform(X), plain.transform(X)) < 1e-12


def test_keep_protected_appends_the_encoded_columns_not_the_basis():
    X = make_data()
    projector = OrthogonalProjector(
        protected=["age", "sex"], basis=splines_and_product(), keep_protected=True
    ).set_output(transform="pandas")
    out = projector.fit_transform(X)
    assert list(out.columns) == ["f1", "f2", "f3", "age", "sex_M"]
    np.testing.assert_array_equal(out["sex_M"], (X["sex"] == "M") * 1.0)


def test_names_of_the_basis_columns():
    X = make_data()
    projector = OrthogonalProjector(
        protected=["age", "sex"], basis=splines_and_product()
    )
    projector.fit(X)
    names = list(projector.basis_.get_feature_names_out())
    assert names[-2:] == ["sex__sex_M", "age_sex__age*sex_M"]
    assert projector._regressor_names() == names
    unnamed = OrthogonalProjector(
        protected=["age", "sex"], basis=FunctionTransformer(np.square)
    ).fit(X)
    assert unnamed._regressor_names() == ["basis0", "basis1"]


def _nan_for_old(S):
    return np.where(np.asarray(S) > 70, np.nan, np.asarray(S))


def _first_rows(S):
    return np.asarray(S)[:2]


@pytest.mark.parametrize(
    ("basis", "error", "match"),
    [
        ("spline", ValueError, "'basis' parameter"),
        (Ridge(), ValueError, "'basis' parameter"),
        (
            FunctionTransformer(_nan_for_old),
            ValueError,
            "basis output column 'basis0' contains NaN",
        ),
        (
            FunctionTransformer(_first_rows),
            ValueError,
            r"basis returned an array of shape \(2, 2\)",
        ),
        (
            SplineTransformer(knots=[[0.0], [1.0]]),
            ValueError,
            "basis failed to fit on the protected columns",
        ),
    ],  # fmt: skip
    ids=["string", "no_transform", "nan", "rows", "fit_fails"],
)
def test_bad_basis_gives_a_clear_error(basis, error, match):
    X = make_data()
    y = X["f1"].to_numpy()
    for cls in (OrthogonalProjector, RecursiveResidualizer, ConceptEraser):
        with pytest.raises(error, match=match):
            cls(protected=["age", "sex"], basis=basis).fit(X)
    with pytest.raises(error, match=match):
        OrthogonalGLM(protected=["age", "sex"], family="gaussian", basis=basis).fit(
            X.drop(columns="f1"), y
        )


def test_basis_failing_on_new_rows_names_basis():
    X = make_data()
    basis = SplineTransformer(knots=KNOTS, extrapolation="error", include_bias=False)
    projector = OrthogonalProjector(protected=["age"], basis=basis)
    projector.fit(X.drop(columns="sex"))
    old = X.drop(columns="sex").assign(age=90.0)
    with pytest.raises(ValueError, match="basis failed to transform"):
        projector.transform(old)


def test_changing_the_basis_between_partial_fit_calls_is_an_error():
    X = make_data()
    projector = OrthogonalProjector(
        protected=["age", "sex"], basis=splines_and_product()
    )
    projector.partial_fit(X.iloc[:300])
    projector.set_params(basis=splines_and_interactions())
    with pytest.raises(ValueError, match="basis"):
        projector.partial_fit(X.iloc[300:])


def test_clone_get_params_and_grid_search_over_the_basis():
    X = make_data().drop(columns="sex")
    y = X["f1"] + X["f2"]
    projector = OrthogonalProjector(
        protected=["age"], basis=SplineTransformer(include_bias=False)
    )
    assert projector.get_params()["basis__n_knots"] == 5
    copy = clone(projector.set_params(basis__n_knots=7))
    assert copy.basis is not projector.basis
    assert copy.get_params()["basis__n_knots"] == 7
    search = GridSearchCV(
        make_pipeline(projector, Ridge()),
        {"orthogonalprojector__basis__n_knots": [4, 9]},
        cv=3,
    ).fit(X, y)
    fitted = search.best_estimator_[0]
    assert (
        fitted.basis_.n_knots
        == search.best_params_["orthogonalprojector__basis__n_knots"]
    )
    assert not hasattr(projector, "basis_")
