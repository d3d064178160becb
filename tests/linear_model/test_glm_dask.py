"""OrthogonalGLM on dask arrays and data frames: equal to the in-memory fit."""

import re
import warnings

import dask.array as da  # a dev dependency
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.optimize
from scipy.special import expit

from orthokit.linear_model import OrthogonalGLM, SeparationWarning
from orthokit.linear_model._dask_problem import is_held

FAMILIES = ["binomial", "multinomial", "poisson", "gaussian"]


def make_data(family, n=6000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    s = rng.normal(size=(n, 2)) + x[:, :2]
    eta = x @ np.array([1.0, -1.0, 0.5, 0.2]) + 0.3
    if family == "binomial":
        y = (rng.random(n) < expit(eta)).astype(int)
    elif family == "multinomial":
        y = np.digitize(eta + rng.normal(size=n), [-1.0, 1.0])
    elif family == "poisson":
        y = rng.poisson(np.exp(eta / 3))
    else:
        y = 100 * eta + 1e4 + rng.normal(size=n)
    return np.column_stack([x, s]), y


def assert_same_fit(fitted, reference, tol=1e-8):
    for name in ("coef_", "intercept_", "multipliers_"):
        expected = np.asarray(getattr(reference, name))
        scale = max(np.abs(expected).max(), 1.0)
        error = np.abs(np.asarray(getattr(fitted, name)) - expected).max()
        assert error <= tol * scale, (name, error)
    assert fitted.constraint_violation_ < 1e-10


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("solver", ["newton", "mdmm"])
@pytest.mark.parametrize("chunks", [(1000, 6), (2501, 4), (6000, 6)])
@pytest.mark.parametrize("held", [True, False])
def test_dask_array_fit_equals_in_memory(family, solver, chunks, held):
    """Held data (solver columns persisted once) and lazy data (read every pass)."""
    X, y = make_data(family)
    params = {"protected": [4, 5], "family": family, "solver": solver}
    reference = OrthogonalGLM(**params).fit(X, y)
    X_dask = da.from_array(X, chunks=chunks)
    if not held:
        X_dask = X_dask.map_blocks(np.copy)  # a task per block: computed each pass
    assert is_held(X_dask) is held
    fitted = OrthogonalGLM(**params).fit(X_dask, da.from_array(y, chunks=chunks[0]))
    assert_same_fit(fitted, reference)
    assert fitted.n_features_in_ == 6


def test_which_collections_are_held():
    X = np.arange(12.0).reshape(6, 2)
    frame = dd.from_pandas(pd.DataFrame(X, columns=["a", "b"]), npartitions=2)
    assert is_held(da.from_array(X, chunks=2))
    assert is_held(da.from_array(X, chunks=2).map_blocks(np.copy).persist())
    assert is_held(frame) and is_held(frame.persist())
    assert not is_held(da.random.default_rng(0).normal(size=(6, 2), chunks=2))
    assert not is_held(frame + 1.0)


@pytest.mark.parametrize("persist", [True, False])
def test_fit_on_a_local_cluster_equals_in_memory(persist):
    """A distributed client: solver columns kept on the workers, or read per pass."""
    distributed = pytest.importorskip("distributed")
    X, y = make_data("binomial", n=4000)
    reference = OrthogonalGLM(protected=[4, 5]).fit(X, y)
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcdef")), npartitions=3)
    target = dd.from_pandas(pd.Series(y), npartitions=3)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        if persist:
            frame, target = client.persist([frame, target])
        else:
            frame = frame.map_partitions(lambda part: part.copy())
        assert is_held(frame) is persist
        fitted = OrthogonalGLM(protected=["e", "f"]).fit(frame, target)
        proba = fitted.predict_proba(frame).compute()
    assert_same_fit(fitted, reference)
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=1e-8)


@pytest.mark.parametrize(
    "params",
    [
        {"alpha": 0.1},
        {"fit_intercept": False},
        {"protected_as_predictors": True, "alpha": 1e-3},
    ],
)
def test_dask_options_equal_in_memory(params):
    X, y = make_data("poisson")
    reference = OrthogonalGLM(protected=[4, 5], family="poisson", **params).fit(X, y)
    fitted = OrthogonalGLM(protected=[4, 5], family="poisson", **params)
    fitted.fit(da.from_array(X, chunks=1500), da.from_array(y, chunks=1500))
    assert_same_fit(fitted, reference)


def test_dask_fit_matches_scipy_slsqp_on_the_original_problem():
    """An independent reference: SLSQP on the raw constrained likelihood."""
    X, y = make_data("binomial", n=2000, seed=3)
    x, s = X[:, :4], X[:, 4:] - X[:, 4:].mean(axis=0)
    A = np.column_stack([np.ones(len(x)), x])

    def loss(beta):
        eta = A @ beta
        return np.mean(np.logaddexp(0, eta) - y * eta)

    def constraint(beta):
        return s.T @ expit(A @ beta) / len(x)

    result = scipy.optimize.minimize(
        loss, np.zeros(5), method="SLSQP", options={"ftol": 1e-14, "maxiter": 500},
        constraints=[{"type": "eq", "fun": constraint}],
    )  # fmt: skip
    fitted = OrthogonalGLM(protected=[4, 5]).fit(
        da.from_array(X, chunks=700), da.from_array(y, chunks=700)
    )
    beta = np.concatenate([fitted.intercept_, fitted.coef_[0]])
    assert np.abs(beta - result.x).max() < 1e-4
    assert np.abs(constraint(beta)).max() < 1e-12


def frame_data(n=4000, seed=1):
    rng = np.random.default_rng(seed)
    site = np.array(["a"] * (n // 2) + ["b"] * (n // 4) + ["c"] * (n - 3 * n // 4))
    x = rng.normal(size=(n, 3)) + (site == "b")[:, None]
    frame = pd.DataFrame(x, columns=["x0", "x1", "x2"]).assign(site=site)
    y = (rng.random(n) < expit(x.sum(axis=1) - 1)).astype(int)
    weights = rng.uniform(0.5, 2.0, size=n)
    return frame, y, weights


def test_dask_frame_with_levels_missing_from_partitions_and_empty_ones():
    frame, y, weights = frame_data()
    # Sorted by site, 4 partitions: the first holds only level "a"; the
    # filter then empties some partitions.
    ddf = dd.from_pandas(frame.assign(y=y, w=weights), npartitions=8)
    ddf = ddf.map_partitions(lambda p: p[(p.index < 1000) | (p.index >= 1500)])
    kept = np.r_[0:1000, 1500:4000]
    reference = OrthogonalGLM(protected=["site"]).fit(
        frame.iloc[kept], y[kept], sample_weight=weights[kept]
    )
    fitted = OrthogonalGLM(protected=["site"]).fit(
        ddf[["x0", "x1", "x2", "site"]], ddf["y"], sample_weight=ddf["w"]
    )
    assert list(fitted.feature_names_in_) == ["x0", "x1", "x2", "site"]
    assert fitted.protected_.encoded_names_ == ["site_b", "site_c"]
    assert_same_fit(fitted, reference)


@pytest.mark.parametrize(
    "family, method, shape",
    [
        ("binomial", "predict", (4000,)),
        ("binomial", "predict_proba", (4000, 2)),
        ("binomial", "predict_log_proba", (4000, 2)),
        ("binomial", "decision_function", (4000,)),
        ("multinomial", "decision_function", (4000, 3)),
        ("multinomial", "predict", (4000,)),
        ("poisson", "predict", (4000,)),
    ],
)
def test_predictions_are_lazy_block_by_block(family, method, shape):
    X, y = make_data(family, n=4000)
    glm = OrthogonalGLM(protected=[4, 5], family=family).fit(X, y)
    dX = da.from_array(X, chunks=(900, 3))
    out = getattr(glm, method)(dX)
    assert isinstance(out, da.Array)
    computed = out.compute()
    assert computed.shape == shape
    np.testing.assert_allclose(computed, getattr(glm, method)(X), rtol=1e-12)


def test_predictions_on_a_frame_with_an_empty_partition():
    frame, y, _ = frame_data()
    glm = OrthogonalGLM(protected=["site"]).fit(frame, y)
    ddf = dd.from_pandas(frame, npartitions=4)
    ddf = ddf.map_partitions(lambda part: part[part.index >= 1000])  # first empty
    proba = glm.predict_proba(ddf)
    labels = glm.predict(ddf)
    assert isinstance(proba, dd.DataFrame) and list(proba.columns) == ["0", "1"]
    expected = glm.predict_proba(frame.iloc[1000:])
    np.testing.assert_allclose(proba.compute().to_numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(
        labels.compute().to_numpy(), glm.predict(frame.iloc[1000:])
    )


def error_of(fit):
    with pytest.raises((ValueError, TypeError)) as info:
        fit()
    # A block's error counts the block's bad values ("found 537 negative"),
    # but names the row of the whole input, as in memory.
    return type(info.value), re.sub(r"found \d+ ", "found N ", str(info.value))


def bad_inputs():
    X, y = make_data("binomial", n=3000)
    nan = X.copy()
    nan[2500, 1] = np.nan
    constant = X.copy()
    constant[:, 5] = 2.0
    three = np.arange(3000) % 3
    negative = np.ones(3000)
    negative[2999] = -1
    return [
        ("NaN in a late block", nan, y, None, {}),
        ("a constant protected column", constant, y, None, {}),
        ("one class", X, np.zeros(3000, dtype=int), None, {}),
        ("three classes, binomial", X, three, None, {}),
        ("a negative weight", X, y, negative, {}),
        ("zero weights", X, y, np.zeros(3000), {}),
        ("Poisson of all-zero counts", X, np.zeros(3000), None, {"family": "poisson"}),
        ("negative counts", X, -y, None, {"family": "poisson"}),
        ("no protected", X, y, None, {"protected": None}),
    ]


@pytest.mark.parametrize(
    "case, X, y, weights, params", bad_inputs(), ids=[c[0] for c in bad_inputs()]
)
def test_bad_input_raises_the_in_memory_error(case, X, y, weights, params):
    params = {"protected": [4, 5], **params}
    glm = OrthogonalGLM(**params)
    expected = error_of(lambda: glm.fit(X, y, sample_weight=weights))
    dask_weights = None if weights is None else da.from_array(weights, chunks=1000)
    got = error_of(
        lambda: OrthogonalGLM(**params).fit(
            da.from_array(X, chunks=1000),
            da.from_array(y, chunks=1000),
            sample_weight=dask_weights,
        )  # fmt: skip
    )
    assert got == expected


@pytest.mark.parametrize(
    "y, weights, match",
    [
        (np.zeros(3000), None, "y must be a dask array or series when X is a dask"),
        ("dask", np.ones(3000), "sample_weight must be a dask array or series"),
        ("short", None, "y has 2999 rows but X has 3000; they must match"),
    ],
)
def test_dask_only_arguments_are_named(y, weights, match):
    X, labels = make_data("binomial", n=3000)
    if isinstance(y, str):
        y = da.from_array(labels if y == "dask" else labels[:-1], chunks=1000)
    with pytest.raises((TypeError, ValueError), match=match):
        OrthogonalGLM(protected=[4, 5]).fit(
            da.from_array(X, chunks=1000), y, sample_weight=weights
        )


def warning_messages(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()

    # Residuals at rounding level (constraint violation 1.23e-17) may differ,
    # and so may the iteration counts: the in-memory newton solver starts at
    # the limit along a pure level, the blocked one follows it out.
    def normalized(message):
        message = re.sub(r"\d\.\d\de-\d+", "<tiny>", message)
        return re.sub(r"after \d+ iterations", "after N iterations", message)

    return sorted((w.category.__name__, normalized(str(w.message))) for w in caught)


@pytest.mark.parametrize("case", ["complete", "quasi-complete", "collinear"])
def test_warnings_equal_in_memory(case):
    rng = np.random.default_rng(5)
    n = 2000
    x = rng.normal(size=(n, 3))
    s = rng.normal(size=n) + x[:, 0]
    y = (x[:, 1] > 0).astype(int)
    if case == "quasi-complete":
        dummy = (rng.random(n) < 0.1).astype(float)
        y = np.where(dummy == 1, 1, (rng.random(n) < expit(x[:, 1])).astype(int))
        x[:, 2] = dummy
    elif case == "collinear":
        y = (rng.random(n) < expit(x[:, 1])).astype(int)
        x[:, 2] = x[:, 0] + x[:, 1]
    X = np.column_stack([x, s])
    params = {"protected": [3], "max_iter": 30}
    expected = warning_messages(lambda: OrthogonalGLM(**params).fit(X, y))
    assert expected  # the case does warn in memory
    got = warning_messages(
        lambda: OrthogonalGLM(**params).fit(
            da.from_array(X, chunks=600), da.from_array(y, chunks=600)
        )
    )
    assert got == expected
    if case != "collinear":
        assert any(name == SeparationWarning.__name__ for name, _ in got)


def test_dask_fit_with_a_data_free_basis_equals_in_memory():
    from sklearn.preprocessing import PolynomialFeatures

    X, y = make_data("binomial", n=3000)
    basis = PolynomialFeatures(2, interaction_only=True, include_bias=False)
    params = {"protected": [4, 5], "basis": basis}
    reference = OrthogonalGLM(**params).fit(X, y)
    fitted = OrthogonalGLM(**params).fit(
        da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
    )
    assert fitted.multipliers_.shape == (3,)
    assert np.abs(fitted.coef_).min() > 1e-3  # not the intercept-only model
    assert_same_fit(fitted, reference)


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian"])
@pytest.mark.parametrize("lead", [0, 1])
def test_block_lagrangian_hessian_equals_a_direct_product(family, lead):
    """A block's Hessian of the Lagrangian, against ``X1ᵀ diag(d) X1`` by numpy."""
    from orthokit.linear_model._families import FAMILIES
    from orthokit.linear_model._problem import Problem

    rng = np.random.default_rng(3)
    n, p, r = 10_000, 4, 2
    Z, U = rng.normal(size=(n, p)), rng.normal(size=(n, r))
    Y, w = rng.integers(0, 2, (n, 1)).astype(float), rng.random(n)
    q = lead + p
    fam = FAMILIES[family]
    problem = Problem(Z, Y, w, U, fam, np.zeros(q), np.zeros(q, dtype=bool), ones=lead)
    theta = 0.3 * rng.normal(size=q)
    state = problem.state(theta, first_order=True)
    X1 = np.column_stack([np.ones((n, lead)), Z])
    mu = fam.mean(X1 @ theta)
    # The loss's Hessian (at zeros), and the Lagrangian's at multipliers for
    # which the row weights change sign (binomial, poisson).
    for multipliers in (np.zeros(r), np.array([40.0, -25.0])):
        d = w / w.sum() * (fam.derivative(mu) + fam.curvature2(mu) * (U @ multipliers))
        expected = X1.T @ (d[:, None] * X1)
        got = problem.hessian(state, multipliers)  # what evaluate_block sums
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)
        if family != "gaussian" and multipliers.any():
            assert d.min() < 0 < d.max()


def test_dask_newton_takes_each_hessian_from_its_points_pass():
    """Every Newton Hessian comes with its point's pass: no pass of its own."""
    from orthokit.linear_model import _dask_problem

    X, y = make_data("binomial", n=3000)
    asked = []
    hessian = _dask_problem.BlockProblem.hessian

    def spy(self, state, multipliers=None):
        before = self.n_passes
        H = hessian(self, state, multipliers)
        asked.append(self.n_passes - before)
        return H

    reference = OrthogonalGLM(protected=[4, 5]).fit(X, y)
    _dask_problem.BlockProblem.hessian = spy
    try:
        fitted = OrthogonalGLM(protected=[4, 5]).fit(
            da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
        )
    finally:
        _dask_problem.BlockProblem.hessian = hessian
    assert len(asked) >= fitted.n_iter_ >= 2
    assert asked == [0] * len(asked)
    assert fitted.n_iter_ == reference.n_iter_
    assert_same_fit(fitted, reference)
