"""Invariants of the corrections, checked on random problems (hypothesis).

Each property holds for every input the strategies draw, so a failure comes
with a minimal counterexample. ``max_examples`` stays small: the suite must
stay fast, and hypothesis keeps its database of failures between runs.
"""

import warnings

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from orthokit.evaluation import check_orthogonality
from orthokit.linear_model import OrthogonalGLM
from orthokit.preprocessing import OrthogonalProjector, RecursiveResidualizer

FEW = settings(max_examples=15, deadline=None)


def problem(seed, n, k, d, scale=1.0):
    """``X = [S, F]`` with features depending on the numeric protected ``S``."""
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(n, k)) * scale + 3.0
    F = rng.normal(size=(n, d)) + (S / scale) @ rng.normal(size=(k, d))
    return np.hstack([S, F]), S, F


def ols_slopes(S, F):
    design = np.column_stack([np.ones(len(S)), S])
    return np.linalg.lstsq(design, F, rcond=None)[0][1:]


shapes = {
    "seed": st.integers(0, 10_000),
    "n": st.integers(12, 60),
    "k": st.integers(1, 3),
    "d": st.integers(1, 4),
}


# ---------------------------------------------------- OrthogonalProjector


@FEW
@given(**shapes, scale=st.sampled_from([1e-3, 1.0, 1e4]))
def test_projector_orthogonal_idempotent_scale_invariant(seed, n, k, d, scale):
    X, S, F = problem(seed, n, k, d)
    protected = list(range(k))
    out = OrthogonalProjector(protected=protected).fit_transform(X)
    centred = S - S.mean(axis=0)
    assert np.abs(centred.T @ out).max() <= 1e-9 * max(1.0, np.abs(F).max()) * n
    again = OrthogonalProjector(protected=protected).fit_transform(np.hstack([S, out]))
    np.testing.assert_allclose(again, out, atol=1e-9 * max(1.0, np.abs(out).max()))
    rescaled = np.hstack([S * scale + 5.0, F])
    np.testing.assert_allclose(
        OrthogonalProjector(protected=protected).fit_transform(rescaled),
        out,
        atol=1e-8 * max(1.0, np.abs(out).max()),
    )


@FEW
@given(
    seed=st.integers(0, 10_000),
    levels=st.permutations(["a", "b", "c"]),
    names=st.sampled_from([("a", "b", "c"), ("x", "y", "z"), (1, 2, 3)]),
    dtype=st.sampled_from(["object", "category", "string"]),
)
def test_projector_invariant_to_recoding_a_categorical_column(
    seed, levels, names, dtype
):
    # Renaming the levels or changing which one is the reference changes the
    # encoded columns but not their span, so not the corrected features.
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, size=60)
    group[:3] = [0, 1, 2]
    F = rng.normal(size=(60, 2)) + group[:, None]
    base = pd.DataFrame({"f0": F[:, 0], "f1": F[:, 1], "g": np.take(levels, group)})
    mapping = dict(zip(levels, names, strict=True))
    recoded = base.assign(g=base["g"].map(mapping))
    if names[0] == 1:
        # Integers in an object column are a numeric protected column (used as
        # they are, documented); as labels they need a categorical dtype.
        dtype = "category"
    if dtype != "object":
        recoded = recoded.astype({"g": dtype})
    expected = OrthogonalProjector(protected=["g"]).fit_transform(base)
    got = OrthogonalProjector(protected=["g"]).fit_transform(recoded)
    np.testing.assert_allclose(got, expected, atol=1e-10)


@FEW
@given(**shapes, cuts=st.lists(st.integers(1, 59), max_size=6))
def test_projector_partial_fit_in_any_chunking_equals_fit(seed, n, k, d, cuts):
    X, _, _ = problem(seed, n, k, d)
    full = OrthogonalProjector(protected=list(range(k))).fit(X)
    part = OrthogonalProjector(protected=list(range(k)))
    for chunk in np.split(X, sorted({c for c in cuts if c < n})):
        if len(chunk):
            part.partial_fit(chunk)
    scale = max(np.abs(full.coef_).max(), 1.0)
    np.testing.assert_allclose(part.coef_, full.coef_, atol=1e-9 * scale)
    np.testing.assert_allclose(part.transform(X), full.transform(X), atol=1e-9)


# ------------------------------------------------- RecursiveResidualizer


@FEW
@given(**shapes, cuts=st.lists(st.integers(1, 59), max_size=6))
def test_rls_without_forgetting_is_ols_in_any_chunking(seed, n, k, d, cuts):
    X, S, F = problem(seed, n, k, d)
    reference = ols_slopes(S, F)
    fitted = RecursiveResidualizer(protected=list(range(k)), delta=1e-10).fit(X)
    streamed = RecursiveResidualizer(protected=list(range(k)), delta=1e-10)
    for chunk in np.split(X, sorted({c for c in cuts if c < n})):
        if len(chunk):
            streamed.partial_fit(chunk)
    scale = max(np.abs(reference).max(), 1.0)
    np.testing.assert_allclose(fitted.coef_, reference, atol=1e-6 * scale)
    np.testing.assert_allclose(streamed.coef_, reference, atol=1e-6 * scale)
    centred = S - S.mean(axis=0)
    assert np.abs(centred.T @ fitted.transform(X)).max() <= 1e-6 * n * scale


# ------------------------------------------------------------ OrthogonalGLM


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    family=st.sampled_from(["binomial", "poisson", "gaussian", "multinomial"]),
    n=st.integers(80, 200),
    p=st.integers(3, 5),
    k=st.integers(1, 2),
)
def test_glm_feasible_and_evaluation_finds_nothing(seed, family, n, p, k):
    # Well posed: more features than protected columns, a ridge against
    # separation. The constraint holds and the evaluation model of the papers
    # (a GLM of the predictions on [1, S]) finds protected effects of 0.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    s = 0.5 * x[:, :k] + rng.normal(size=(n, k))
    eta = x.sum(axis=1) / np.sqrt(p) + s.sum(axis=1)
    if family == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    elif family == "poisson":
        y = rng.poisson(np.exp(0.3 * eta))
    elif family == "gaussian":
        y = eta + rng.normal(size=n)
    else:
        y = np.argmax(eta[:, None] * [0, 1, -1] + rng.gumbel(size=(n, 3)), axis=1)
    assume(len(np.unique(y)) > 1)
    X = np.column_stack([x, s])
    protected = list(range(p, p + k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glm = OrthogonalGLM(protected, family=family, solver="newton", alpha=1e-3)
        glm.fit(X, y)
    assert glm.constraint_violation_ < 1e-8
    if family == "multinomial":
        return  # one evaluation family per output; covered by the constraint
    # By the score equations, the evaluation GLM of the same family (canonical
    # link) finds exactly zero protected effects for a feasible model.
    if family == "binomial":
        predictions = glm.predict_proba(X)[:, 1]
    else:
        predictions = glm.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fractional responses
        report = check_orthogonality(predictions, s, family=family)
    assert np.abs(report.to_frame()["coef"]).max() < 1e-6
    assert report.passed


@FEW
@given(
    mixing=arrays(np.float64, (2, 2), elements=st.floats(-3, 3)),
    shift=arrays(np.float64, (2,), elements=st.floats(-100, 100)),
)
def test_glm_invariant_to_recoding_the_protected_columns(mixing, shift):
    # Any invertible affine recoding of S spans the same space, so the
    # constraint, and hence the fit, cannot change.
    assume(abs(np.linalg.det(mixing)) > 0.1)
    rng = np.random.default_rng(19)
    x = rng.normal(size=(200, 3))
    s = 0.5 * x[:, :2] + np.sqrt(0.75) * rng.normal(size=(200, 2))
    y = rng.binomial(1, 1 / (1 + np.exp(-(0.5 * x.sum(axis=1) + 0.5 * s.sum(1)))))
    X = np.column_stack([x, s])
    recoded = np.column_stack([x, s @ mixing + shift])
    glm = OrthogonalGLM([3, 4], solver="newton").fit(X, y)
    other = OrthogonalGLM([3, 4], solver="newton").fit(recoded, y)
    np.testing.assert_allclose(other.coef_, glm.coef_, atol=1e-7)
    assert other.constraint_violation_ < 1e-9


# ------------------------------------------------- evaluation after correcting


@FEW
@given(**shapes)
def test_evaluation_of_corrected_features_finds_no_effect(seed, n, k, d):
    X, S, _ = problem(seed, n, k, d)
    out = OrthogonalProjector(protected=list(range(k))).fit_transform(X)
    for j in range(d):
        assume(np.ptp(out[:, j]) > 1e-8)
        report = check_orthogonality(out[:, j], S, family="gaussian")
        coef = report.to_frame()["coef"].abs().max()
        assert coef <= 1e-9 * max(1.0, np.abs(out[:, j]).max())
