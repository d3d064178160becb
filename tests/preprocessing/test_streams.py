"""Streams that never silently corrupt: atomic chunks, extreme values, offsets.

Every case is a row of a table and asserts the exact reference (normal
equations in extended precision, ``np.longdouble``), finiteness, or a state
unchanged bit for bit by a rejected chunk.
"""

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from orthokit._linalg import power_of_two_scale
from orthokit.preprocessing import OrthogonalProjector, RecursiveResidualizer

ESTIMATORS = {
    "projector": lambda: OrthogonalProjector(protected=[2]),
    "residualizer": lambda: RecursiveResidualizer(protected=[2], delta=1e-12),
    "residualizer-forgetting": lambda: RecursiveResidualizer(
        protected=[2], forgetting_factor=0.9, forget_per="sample"
    ),
}


def make_stream(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.uniform(-1, 1, size=n)
    features = np.column_stack([0.5 * s, -0.25 * s]) + 0.2 * rng.uniform(
        -1, 1, size=(n, 2)
    )
    return np.column_stack([features, s])


def reference_fit(X, protected=2):
    """Exact least squares (rational arithmetic) of each feature on one column.

    Returns the slopes, the protected column's mean and the exact residuals
    ``f - (s - mean(s)) * slope``, all rounded to float64 once at the end.
    """
    s = [Fraction(v) for v in X[:, protected]]
    s_mean = sum(s) / len(s)
    s_centred = [v - s_mean for v in s]
    s_square = sum(v * v for v in s_centred)
    slopes, residuals = [], []
    for j in np.delete(np.arange(X.shape[1]), protected):
        f = [Fraction(v) for v in X[:, j]]
        slope = sum(a * b for a, b in zip(s_centred, f, strict=True)) / s_square
        slopes.append(float(slope))
        residuals.append(
            [float(b - a * slope) for a, b in zip(s_centred, f, strict=True)]
        )
    return np.array(slopes), float(s_mean), np.array(residuals).T


def assert_same_state(a, b, path="estimator"):
    """Every attribute equal bit for bit (arrays by ``np.array_equal``)."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, path
        assert np.array_equal(a, b, equal_nan=True), path
    elif dataclasses.is_dataclass(a) or hasattr(a, "__dict__"):
        state_a, state_b = vars(a), vars(b)
        assert state_a.keys() == state_b.keys(), (path, state_a.keys() ^ state_b.keys())
        for key in state_a:
            assert_same_state(state_a[key], state_b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (item_a, item_b) in enumerate(zip(a, b, strict=True)):
            assert_same_state(item_a, item_b, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same_state(a[key], b[key], f"{path}[{key!r}]")
    else:
        assert a == b or (a != a and b != b), path


def spoil(chunk, kind):
    bad = chunk.copy()
    column, value = {
        "feature 1e308": (0, 1e308),
        "feature -1e308": (1, -1e308),
        "feature nan": (0, np.nan),
        "feature inf": (1, np.inf),
        "protected nan": (2, np.nan),
        "protected inf": (2, -np.inf),
        "protected 1e308": (2, 1e308),
    }[kind]
    if value == 1e308 or value == -1e308:
        bad[:, column] = value
    else:
        bad[len(bad) // 2, column] = value
    return bad


BAD_CHUNKS = [
    ("feature 1e308", "overflow float64"),
    ("feature -1e308", "overflow float64"),
    ("feature nan", "NaN or infinity"),
    ("feature inf", "NaN or infinity"),
    ("protected nan", "NaN or infinity"),
    ("protected inf", "NaN or infinity"),
    ("protected 1e308", "overflow|constant"),
]


# A first chunk of finite 1e308 is valid data: it fixes the scale of the stream.
REJECTIONS = [
    (kind, message, position)
    for kind, message in BAD_CHUNKS
    for position in (0, 1, 19)
    if position or "308" not in kind
]


@pytest.mark.parametrize("estimator", list(ESTIMATORS))
@pytest.mark.parametrize(("kind", "message", "position"), REJECTIONS)
def test_rejected_chunk_leaves_the_stream_bit_for_bit(
    estimator, kind, message, position
):
    chunks = np.array_split(make_stream(), 20)
    clean, spoilt = ESTIMATORS[estimator](), ESTIMATORS[estimator]()
    for i, chunk in enumerate(chunks):
        if i == position:
            with pytest.raises(ValueError, match=message):
                spoilt.partial_fit(spoil(chunk, kind))
            if i == 0:  # a rejected first chunk leaves the estimator unfitted
                assert_same_state(spoilt, ESTIMATORS[estimator]())
        clean.partial_fit(chunk)
        spoilt.partial_fit(chunk)
        assert_same_state(spoilt, clean)
    assert np.isfinite(spoilt.coef_).all()


@pytest.mark.parametrize("estimator", list(ESTIMATORS)[:2])
@pytest.mark.parametrize(
    ("feature_scale", "protected_scale"),
    [
        (1e308, 1.0),
        (1e300, 1.0),
        (1e300, 1e300),
        (1e308, 1e308),
        (1.0, 1e308),
        (1.0, 1e300),
        (1e-300, 1e-300),
        (1e-310, 1e-310),
        (1e-310, 1.0),
        (1e-300, 1.0),
    ],
)
def test_extreme_magnitudes_give_the_exact_fit(
    estimator, feature_scale, protected_scale
):
    X = make_stream(n=2000)
    X[:, :2] *= feature_scale
    X[:, 2] *= protected_scale
    slopes, protected_mean, residuals = reference_fit(X)
    fitted = ESTIMATORS[estimator]().fit(X)
    np.testing.assert_allclose(fitted.coef_[0], slopes, rtol=1e-9)
    np.testing.assert_allclose(fitted.protected_mean_[0], protected_mean, rtol=1e-9)
    out = fitted.transform(X)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, residuals, rtol=0, atol=1e-9 * feature_scale)


@pytest.mark.parametrize("estimator", list(ESTIMATORS)[:2])
@pytest.mark.parametrize(
    ("feature_scale", "protected_scale"), [(1.0, 1e-310), (1e300, 1e-300)]
)
def test_unrepresentable_coefficients_are_an_error(
    estimator, feature_scale, protected_scale
):
    X = make_stream()
    X[:, :2] *= feature_scale
    X[:, 2] *= protected_scale
    with pytest.raises(ValueError, match="coefficients .* overflow float64"):
        ESTIMATORS[estimator]().fit(X)


@pytest.mark.parametrize("estimator", list(ESTIMATORS)[:2])
@pytest.mark.parametrize("offset", [1e8, 1e10, 1e12, 1e14, 1e15])
@pytest.mark.parametrize("where", ["features", "protected", "both"])
@pytest.mark.parametrize("n_chunks", [1, 23])
def test_large_offsets_lose_no_digits(estimator, offset, where, n_chunks):
    X = make_stream(n=5000, seed=1)
    if where in ("features", "both"):
        X[:, :2] += offset
    if where in ("protected", "both"):
        X[:, 2] += offset
    slopes = reference_fit(X)[0]
    fitted = ESTIMATORS[estimator]()
    for chunk in np.array_split(X, n_chunks):
        fitted.partial_fit(chunk)
    # The offset rounds the data (a spread of 1 at 1e15 keeps 3 bits), but on
    # the data as given the fit is as exact as extended precision.
    np.testing.assert_allclose(fitted.coef_[0], slopes, rtol=1e-10)


@pytest.mark.parametrize(
    "values",
    [
        [[1e-310], [-3e-311]],
        [[5e-324], [0.0]],
        [[1e308], [-1.7e308]],
        [[0.0], [0.0]],
        [[np.inf], [1.0]],
        [[np.nan], [1.0]],
    ],
)
def test_power_of_two_scale_is_finite_and_exact(values):
    values = np.array(values)
    scale = power_of_two_scale(values)
    assert np.isfinite(scale).all() and (scale > 0).all()
    assert np.frexp(scale)[0].tolist() == [0.5]  # a power of two
    finite = values[np.isfinite(values)]
    scaled = np.abs(finite * scale)
    assert (scaled < 4).all()
    if np.abs(finite).max(initial=0) > 0 and np.isfinite(values).all():
        assert scaled.max() >= 2.0**-52
