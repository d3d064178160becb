import pickle
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest

from orthokit._linalg import CollinearityWarning
from orthokit._rls import rls_init, rls_update, rls_weighted_update
from orthokit.preprocessing import OrthogonalProjector, RecursiveResidualizer


def make_data(n=600, seed=0, large_mean=True):
    """Protected columns (some with a large mean), features depending on them."""
    rng = np.random.default_rng(seed)
    offset = np.array([2000.0, 1e5, 0.0]) if large_mean else np.zeros(3)
    spread = np.array([1.0, 1e4, 1.0]) if large_mean else np.ones(3)
    S = offset + spread * rng.normal(size=(n, 3))
    S[:, 2] = rng.integers(0, 2, n)
    coef = rng.normal(size=(3, 4)) / spread[:, None]
    F = 50 + S @ coef + rng.normal(size=(n, 4))
    return np.hstack([S, F]), S, F


def relative_error(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def wls_slopes(S, F, weights):
    M = np.column_stack([np.ones(len(S)), S - S.mean(axis=0)])
    root = np.sqrt(weights)[:, None]
    return np.linalg.lstsq(M * root, F * root, rcond=None)[0]


@pytest.mark.parametrize("large_mean", [True, False])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"batch_size": 64},
        {"batch_size": 1},
        {"forget_per": "sample", "batch_size": 100},
    ],
)
def test_one_pass_equals_projector(params, large_mean):
    X, _, _ = make_data(large_mean=large_mean)
    projector = OrthogonalProjector(protected=[0, 1, 2]).fit(X)
    rr = RecursiveResidualizer(protected=[0, 1, 2], delta=1e-10, **params).fit(X)
    assert relative_error(rr.coef_, projector.coef_) < 1e-8
    assert relative_error(rr.protected_mean_, projector.protected_mean_) < 1e-12
    assert relative_error(rr.transform(X), projector.transform(X)) < 1e-10
    assert rr.n_samples_seen_ == 600


@pytest.mark.parametrize("first_chunk", [1, 2, 50])
def test_single_rows_match_projector(first_chunk):
    X, _, _ = make_data()
    rr = RecursiveResidualizer(protected=[0, 1, 2], delta=1e-8)
    rr.partial_fit(X[:first_chunk])
    for row in X[first_chunk:]:
        rr.partial_fit(row[None, :])
    projector = OrthogonalProjector(protected=[0, 1, 2]).fit(X)
    assert relative_error(rr.coef_, projector.coef_) < 1e-6
    assert rr.n_samples_seen_ == 600


def test_intercept_is_that_of_the_regression():
    X, S, F = make_data(large_mean=False)
    rr = RecursiveResidualizer(protected=[0, 1, 2], delta=1e-10).fit(X)
    M = np.column_stack([np.ones(len(S)), S])
    full = np.linalg.lstsq(M, F, rcond=None)[0]
    assert relative_error(rr.intercept_, full[0]) < 1e-9
    assert relative_error(rr.coef_, full[1:]) < 1e-9


@pytest.mark.parametrize("forgetting", [0.97, 0.995])
@pytest.mark.parametrize("forget_per", ["batch", "sample"])
def test_forgetting_is_weighted_least_squares(forgetting, forget_per):
    X, S, F = make_data(n=900, large_mean=False)
    batch_size = 30
    rr = RecursiveResidualizer(
        protected=[0, 1, 2],
        forgetting_factor=forgetting,
        forget_per=forget_per,
        batch_size=batch_size,
        delta=1e-10,
    ).fit(X)
    steps = np.arange(900) if forget_per == "sample" else np.arange(900) // batch_size
    weights = forgetting ** (steps[-1] - steps).astype(float)
    reference = wls_slopes(S, F, weights)
    assert relative_error(rr.coef_, reference[1:]) < 1e-8
    mean = weights @ S / weights.sum()
    assert relative_error(rr.protected_mean_, mean) < 1e-12


@pytest.mark.parametrize(
    ("forget_per", "chunks"),
    [("batch", [100] * 6), ("sample", [1, 250, 7, 342]), ("sample", [600])],
)
def test_fit_equals_partial_fit_over_the_same_steps(forget_per, chunks):
    X, _, _ = make_data(large_mean=False)
    params = {
        "protected": [0, 1, 2],
        "forgetting_factor": 0.98,
        "forget_per": forget_per,
        "delta": 1e-10,
    }
    whole = RecursiveResidualizer(batch_size=100, **params).fit(X)
    streamed = RecursiveResidualizer(**params)
    for chunk in np.split(X, np.cumsum(chunks)[:-1]):
        streamed.partial_fit(chunk)
    assert relative_error(streamed.coef_, whole.coef_) < 1e-8
    assert streamed.n_samples_seen_ == whole.n_samples_seen_ == 600


def test_per_sample_equals_per_batch_of_one_row():
    X, _, _ = make_data(large_mean=False)
    params = {"protected": [0, 1, 2], "forgetting_factor": 0.9}
    sample = RecursiveResidualizer(forget_per="sample", **params).fit(X)
    batch = RecursiveResidualizer(forget_per="batch", batch_size=1, **params).fit(X)
    np.testing.assert_allclose(sample.coef_, batch.coef_, rtol=1e-10)
    np.testing.assert_allclose(sample.information_, batch.information_, rtol=1e-12)


@pytest.mark.parametrize("forgetting", [0.5, 0.8, 0.9])
@pytest.mark.parametrize("batches_after", [1, 5, 20])
def test_step_change_decays_at_the_forgetting_rate(forgetting, batches_after):
    # The same 40 rows of S in every batch make the old and new data's Gram
    # matrices proportional, so the error left is exactly the old data's share
    # of the weight: forgetting**j (1 - forgetting**T) / (1 - forgetting**(j+T)).
    rng = np.random.default_rng(1)
    S = rng.normal(size=(40, 2))
    old, new = np.array([[1.0, -1.0], [2.0, 0.5]]), np.array([[-1.0, 0.0], [0.5, 3.0]])
    rr = RecursiveResidualizer(
        protected=[0, 1], forgetting_factor=forgetting, delta=1e-12
    )
    before = 30
    for _ in range(before):
        rr.partial_fit(np.hstack([S, S @ old]))
    for _ in range(batches_after):
        rr.partial_fit(np.hstack([S, S @ new]))
    left = forgetting**batches_after * (1 - forgetting**before)
    left /= 1 - forgetting ** (batches_after + before)
    np.testing.assert_allclose(rr.coef_, new + left * (old - new), atol=1e-9)


def test_per_sample_drift_has_the_half_life_of_the_forgetting_factor():
    rng = np.random.default_rng(2)
    forgetting, n = 0.99, 4000
    S = rng.normal(size=(n, 2))
    old, new = np.array([[1.0], [2.0]]), np.array([[-1.0], [0.0]])
    F = np.where(np.arange(n)[:, None] < n // 2, S @ old, S @ new)
    rr = RecursiveResidualizer(
        protected=[0, 1], forgetting_factor=forgetting, forget_per="sample", delta=1e-8
    )
    rr.partial_fit(np.hstack([S, F])[: n // 2])
    half_life = int(round(np.log(0.5) / np.log(forgetting)))
    rr.partial_fit(np.hstack([S, F])[n // 2 : n // 2 + half_life])
    share = np.linalg.norm(rr.coef_ - new) / np.linalg.norm(old - new)
    assert 0.4 < share < 0.6
    rr.partial_fit(np.hstack([S, F])[n // 2 + half_life :])
    np.testing.assert_allclose(rr.coef_, new, atol=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"forgetting_factor": 0.95, "forget_per": "sample"},
        {"forgetting_factor": 0.9, "process_noise": 1e-3},
        {"forgetting_factor": 0.9, "preserve_target": True},
    ],
)
def test_pickled_stream_resumes_exactly(params):
    X, _, F = make_data(large_mean=False)
    y = F[:, 0] > 50
    chunks = np.array_split(np.arange(600), 12)
    never_stopped = RecursiveResidualizer(protected=[0, 1, 2], **params)
    for rows in chunks:
        never_stopped.partial_fit(X[rows], y[rows])
    resumed = RecursiveResidualizer(protected=[0, 1, 2], **params)
    for rows in chunks[:5]:
        resumed.partial_fit(X[rows], y[rows])
    resumed = pickle.loads(pickle.dumps(resumed))
    for rows in chunks[5:]:
        resumed.partial_fit(X[rows], y[rows])
    for name in ("coef_", "intercept_", "protected_mean_", "information_"):
        np.testing.assert_array_equal(
            getattr(resumed, name), getattr(never_stopped, name)
        )
    np.testing.assert_array_equal(resumed.transform(X), never_stopped.transform(X))


def test_preserve_target_matches_projector():
    X, _, F = make_data(large_mean=False)
    y = np.where(F[:, 1] > np.median(F[:, 1]), "yes", "no")
    projector = OrthogonalProjector(protected=[0, 1, 2], preserve_target=True)
    projector.fit(X, y)
    rr = RecursiveResidualizer(protected=[0, 1, 2], preserve_target=True, delta=1e-10)
    rr.fit(X, y)
    assert relative_error(rr.coef_, projector.coef_) < 1e-8
    assert relative_error(rr.target_coef_, projector.target_coef_) < 1e-8
    assert relative_error(rr.transform(X), projector.transform(X)) < 1e-10


def test_level_that_stops_occurring_keeps_the_state_finite():
    # With the ridge forgotten (forgetting**t * delta), R would become singular.
    rng = np.random.default_rng(3)
    n = 20000
    group = (rng.random(n) < 0.5) & (np.arange(n) < 500)
    X = np.column_stack([group, rng.normal(size=n), rng.normal(size=(n, 2))])
    X[:, 2] += 3 * group
    rr = RecursiveResidualizer(
        protected=[0, 1], forgetting_factor=0.9, forget_per="sample", delta=1e-3
    )
    for chunk in np.array_split(X, 40):
        rr.partial_fit(chunk)
    assert np.isfinite(rr.coef_).all()
    assert np.linalg.eigvalsh(rr.information_).min() >= 1e-3 * (1 - 1e-9)
    assert np.isfinite(rr.transform(np.array([[1.0, 0.0, 0.0, 0.0]]))).all()


@pytest.mark.parametrize("frame", ["pandas", "polars"])
def test_frames_with_categorical_protected_columns(frame):
    rng = np.random.default_rng(4)
    n = 300
    group = rng.choice(["a", "b", "c"], size=n)
    income = rng.normal(size=n) + (group == "b") - 2 * (group == "c")
    data = {"group": group, "income": income, "age": rng.normal(40, 10, n)}
    X = pd.DataFrame(data) if frame == "pandas" else pl.DataFrame(data)
    rr = RecursiveResidualizer(protected=["group"], keep_protected=True)
    Xt = rr.set_output(transform="pandas").fit(X).transform(X)
    assert list(Xt.columns) == ["income", "age", "group_b", "group_c"]
    projector = OrthogonalProjector(protected=["group"]).fit(X)
    assert relative_error(rr.coef_, projector.coef_) < 1e-6


def test_float32_is_preserved_and_accumulated_in_float64():
    X, _, _ = make_data(large_mean=False)
    rr = RecursiveResidualizer(protected=[0, 1, 2], delta=1e-10).fit(
        X.astype(np.float32)
    )
    assert rr.transform(X.astype(np.float32)).dtype == np.float32
    assert rr.coef_.dtype == rr.information_.dtype == np.float64
    projector = OrthogonalProjector(protected=[0, 1, 2]).fit(X.astype(np.float32))
    assert relative_error(rr.coef_, projector.coef_) < 1e-8


def _frame():
    return pd.DataFrame(
        {"group": ["a", "b"] * 10, "s": np.arange(20.0), "f": np.arange(20.0) ** 2}
    )


@pytest.mark.parametrize(
    ("fit_X", "stream_X", "match"),
    [
        (
            np.ones((20, 3)) * np.arange(20)[:, None],
            np.ones((1, 4)),
            "X has 4 features",
        ),
        (
            _frame(),
            _frame().rename(columns={"s": "t"}),
            "feature names",
        ),
        (
            _frame(),
            _frame().assign(group=["a", "c"] * 10),
            r"protected column 'group' has categories \['c'\] that were not seen",
        ),
        (
            np.arange(40.0).reshape(20, 2) ** [1, 2],
            np.array([[np.nan, 1.0]]),
            "protected column 'x0' contains NaN",
        ),
        (
            np.arange(40.0).reshape(20, 2) ** [1, 2],
            np.array([[1.0, np.inf]]),
            "X column 'x1' contains NaN or infinity",
        ),
        (np.arange(40.0).reshape(20, 2) ** [1, 2], np.ones((0, 2)), "empty"),
        (_frame(), _frame().assign(f="x"), "column 'f' is not numeric"),
    ],
)
def test_partial_fit_rejects_a_changed_stream(fit_X, stream_X, match):
    protected = ["group", "s"] if isinstance(fit_X, pd.DataFrame) else [0]
    rr = RecursiveResidualizer(protected=protected).partial_fit(fit_X)
    with pytest.raises(ValueError, match=match):
        rr.partial_fit(stream_X)
    with pytest.raises(ValueError, match=match):
        rr.transform(stream_X)


@pytest.mark.parametrize(
    ("params", "X", "y", "match"),
    [
        ({}, np.ones((5, 2)), None, "needs protected"),
        ({"protected": [0]}, np.ones((5, 2)), None, r"\['x0'\] are constant"),
        ({"protected": [0]}, np.array([[1.0, 2.0]]), None, "1 sample"),
        ({"protected": [0, 1]}, np.ones((5, 2)), None, "every column of X"),
        ({"protected": [0], "forgetting_factor": 0.0}, np.eye(3), None, "forgetting"),
        ({"protected": [0], "forgetting_factor": 1.5}, np.eye(3), None, "forgetting"),
        ({"protected": [0], "delta": 0.0}, np.eye(3), None, "delta"),
        ({"protected": [0], "forget_per": "row"}, np.eye(3), None, "forget_per"),
        ({"protected": [0], "batch_size": 0}, np.eye(3), None, "batch_size"),
        ({"protected": [0], "preserve_target": True}, np.eye(3), None, "y is required"),
        ({"protected": [0], "preserve_target": True}, np.eye(3), [1, 2], "y has 2"),
        ({"protected": [5]}, np.eye(3), None, "out of range"),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_input(params, X, y, match, method):
    if method == "partial_fit" and match in (r"\['x0'\] are constant", "1 sample"):
        # A stream may start with one row or a constant column; fit may not.
        RecursiveResidualizer(**params).partial_fit(X, y)
        return
    with pytest.raises(ValueError, match=match):
        getattr(RecursiveResidualizer(**params), method)(X, y)


def test_collinear_protected_columns_warn_in_fit():
    rng = np.random.default_rng(5)
    s = rng.normal(size=(50, 1))
    X = np.hstack([s, 2 * s, rng.normal(size=(50, 1))])
    with pytest.warns(CollinearityWarning, match="collinear"):
        rr = RecursiveResidualizer(protected=[0, 1], delta=1e-8).fit(X)
    assert np.isfinite(rr.coef_).all()
    assert abs(np.corrcoef(rr.transform(X)[:, 0], s[:, 0])[0, 1]) < 1e-6


# ---------------------------------------------------------------------------
# The shared RLS core.


@pytest.mark.parametrize("rows", [1, 3])
def test_covariance_and_information_forms_agree(rows):
    rng = np.random.default_rng(6)
    state_cov = state_info = rls_init(4, 2, 1e-2)
    for _ in range(30):
        M = np.column_stack([np.ones(rows), rng.normal(size=(rows, 3))])
        F = rng.normal(size=(rows, 2))
        state_cov = rls_weighted_update(*state_cov, M, F, form="covariance")
        state_info = rls_weighted_update(*state_info, M, F, form="information")
    for a, b in zip(state_cov, state_info, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(state_info[0] @ state_info[1], np.eye(4), atol=1e-12)


def test_per_sample_update_equals_a_row_by_row_filter():
    rng = np.random.default_rng(7)
    M = np.column_stack([np.ones(50), rng.normal(size=(50, 2))])
    F = rng.normal(size=(50, 3))
    one_block = rls_update(*rls_init(3, 3, 0.1), M, F, forgetting=0.9, per_sample=True)
    row_by_row = rls_init(3, 3, 0.1)
    for i in range(50):
        row_by_row = rls_update(*row_by_row, M[i : i + 1], F[i : i + 1], forgetting=0.9)
    for a, b in zip(one_block, row_by_row, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_covariance_form_refuses_weights():
    with pytest.raises(ValueError, match="covariance form"):
        rls_weighted_update(
            *rls_init(2, 1, 1.0),
            np.ones((1, 2)),
            np.ones((1, 1)),
            row_weights=np.ones(1),
            form="covariance",
        )


def test_no_warning_on_clean_stream():
    X, _, _ = make_data(large_mean=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rr = RecursiveResidualizer(protected=[0, 1, 2], forgetting_factor=0.99)
        for row in X[:50]:
            rr.partial_fit(row[None, :])
        rr.transform(X)


def test_categories_declared_for_a_stream_that_starts_with_one_level():
    rng = np.random.default_rng(5)
    n = 600
    site = np.where(np.arange(n) < 100, "a", rng.choice(["a", "b", "c"], size=n))
    frame = pd.DataFrame({"site": site, "f": rng.normal(size=n) + (site == "b")})
    levels = {"site": ["a", "b", "c"]}
    stream = RecursiveResidualizer(protected=["site"], categories=levels)
    for start in range(0, n, 50):
        stream.partial_fit(frame.iloc[start : start + 50])
    batch = RecursiveResidualizer(protected=["site"], categories=levels).fit(frame)
    np.testing.assert_allclose(stream.coef_, batch.coef_, rtol=1e-6, atol=1e-8)
    assert stream.protected_.encoded_names_ == ["site_b", "site_c"]
