"""The projector's one pass over X (issue 33), against references written elsewhere.

Every input library and layout that reads its columns without a copy (a numpy
array in either order, a pandas frame's own buffer, pandas and polars columns
gathered block by block) and float32 must give numpy's least squares answer and
fairlearn's CorrelationRemover's; NaN and infinity are still rejected, naming
the column, though transform no longer makes a pass of its own to find them.
"""

import numpy as np
import pandas as pd
import polars as pl
import pytest
from fairlearn.preprocessing import CorrelationRemover

from orthokit import OrthogonalProjector
from orthokit._blas import in_place_gemm, subtract_product
from orthokit._inputs._frames import ColumnStack, as_table, numeric_columns
from orthokit._linalg import Moments, stream_pivots

N_ROWS, N_COLUMNS = 5_000, 9
NAMES = [f"c{j}" for j in range(N_COLUMNS)]
#: Protected columns first (a frame's features lie in one buffer) or between
#: the features (they are gathered block by block).
LAYOUTS = {"first": [0, 1], "between": [2, 5]}


def make_data(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_ROWS, N_COLUMNS))
    X[:, 3] += 1e6  # an offset the pivots take out
    X[:, 4] *= 1e-3
    mix = rng.normal(size=(2, N_COLUMNS))
    X += X[:, [2, 5]] @ mix + X[:, [0, 1]] @ mix
    return X.astype(dtype)


def as_input(X, library, order="C"):
    if library == "numpy":
        return np.asarray(X, order=order)
    if library == "pandas":
        return pd.DataFrame(X, columns=NAMES)
    if library == "pandas_columns":  # one block per column
        return pd.DataFrame({name: X[:, j].copy() for j, name in enumerate(NAMES)})
    return pl.DataFrame(X, schema=NAMES)


def lstsq_reference(X, protected):
    """``F - (S - mean S) B`` with ``B`` from numpy's least squares on ``[1, S]``."""
    X = X.astype(np.float64)
    features = [j for j in range(X.shape[1]) if j not in protected]
    S, F = X[:, protected], X[:, features]
    design = np.column_stack([np.ones(len(S)), S])
    B = np.linalg.lstsq(design, F, rcond=None)[0][1:]
    return F - (S - S.mean(axis=0)) @ B, B


INPUTS = [
    ("numpy", "C"),
    ("numpy", "F"),
    ("pandas", "C"),
    ("pandas_columns", "C"),
    ("polars", "C"),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("library,order", INPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_transform_equals_lstsq(library, order, layout, dtype):
    protected = LAYOUTS[layout]
    X = make_data(dtype)
    data = as_input(X, library, order)
    spec = protected if library == "numpy" else [NAMES[j] for j in protected]
    projector = OrthogonalProjector(protected=spec).fit(data)
    out = projector.transform(data)
    expected, coef = lstsq_reference(X, protected)
    assert out.dtype == dtype
    scale = np.abs(expected).max(axis=0)
    # float64: rounding of the data's size (seen: 7e-15); float32: a few
    # roundings of the float32 output, 6e-8 each (seen: 5e-7).
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert (np.abs(out - expected) / scale).max() < rtol
    # lstsq itself loses digits to the 1e6 offset of one feature (seen: 8e-11
    # of the column's largest coefficient); the pivots do not.
    assert (np.abs(projector.coef_ - coef) / np.abs(coef).max(axis=0)).max() < 1e-9


@pytest.mark.parametrize("library", ["pandas", "pandas_columns", "polars"])
def test_frames_equal_fairlearn_and_numpy_input(library):
    X = make_data()
    data = as_input(X, library)
    spec = [NAMES[j] for j in LAYOUTS["between"]]
    out = OrthogonalProjector(protected=spec).fit_transform(data)
    reference = CorrelationRemover(sensitive_feature_ids=spec).fit_transform(data)
    from_numpy = OrthogonalProjector(protected=LAYOUTS["between"]).fit_transform(X)
    scale = np.abs(reference).max(axis=0)
    assert (np.abs(out - reference) / scale).max() < 1e-12
    assert (np.abs(out - from_numpy) / scale).max() < 1e-13


@pytest.mark.parametrize("library", ["numpy", "pandas", "pandas_columns", "polars"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("row", [0, N_ROWS - 1])
def test_transform_rejects_nan_and_infinity_naming_the_column(library, value, row):
    X = make_data()
    projector = OrthogonalProjector(
        protected=[0, 1] if library == "numpy" else NAMES[:2]
    )
    projector.fit(as_input(X, library))
    bad = X.copy()
    bad[row, 6] = value
    with pytest.raises(ValueError, match="column '[xc]6' contains NaN"):
        projector.transform(as_input(bad, library))
    with pytest.raises(ValueError, match="NaN"):
        OrthogonalProjector(protected=projector.protected).fit(as_input(bad, library))


def test_transform_accepts_finite_values_whose_sum_overflows():
    X = make_data()
    projector = OrthogonalProjector(protected=[0, 1]).fit(X)
    huge = X.copy()
    huge[:2, 6] = 1.7e308
    out = projector.transform(huge)
    expected = huge[:, 2:] - (huge[:, :2] - projector.protected_mean_) @ projector.coef_
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "column",
    [np.arange(300.0), np.arange(300.0) + 1e15, np.arange(300.0) * 1e200,
     np.arange(300.0) * 1e-310, np.zeros(300), np.arange(300.0) - 1e300],
    ids=["plain", "offset", "huge", "subnormal", "zero", "near-overflow"],
)  # fmt: skip
def test_first_chunk_pivots_equal_stream_pivots(column):
    rng = np.random.default_rng(0)
    F = np.column_stack([column, rng.normal(size=300)])
    S = rng.normal(size=(300, 2))
    moments, scale, shift = Moments.from_first_chunk(S, F)
    expected_scale, expected_shift = stream_pivots(F)
    np.testing.assert_array_equal(scale, expected_scale)
    np.testing.assert_array_equal(shift, expected_shift)
    two_passes = Moments.from_data(S, F, scale=scale, shift=shift)
    np.testing.assert_allclose(moments.csf, two_passes.csf, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(moments.mean_f, two_passes.mean_f, rtol=1e-13)


def test_frame_columns_are_not_copied():
    X = make_data()
    frame = pd.DataFrame(X, columns=NAMES)
    view = numeric_columns(as_table(frame), list(range(2, N_COLUMNS)))
    assert isinstance(view, np.ndarray)
    assert np.shares_memory(view, frame.to_numpy())
    stack = numeric_columns(as_table(pl.DataFrame(X, schema=NAMES)), [0, 3, 8])
    assert isinstance(stack, ColumnStack)
    np.testing.assert_array_equal(stack[10:20], X[10:20][:, [0, 3, 8]])
    np.testing.assert_array_equal(np.asarray(stack), X[:, [0, 3, 8]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_subtract_product_equals_numpy(dtype, layout):
    # The in-place BLAS subtraction of the transform against NumPy's product
    # and subtraction; a strided output goes through the wrapper's copy.
    rng = np.random.default_rng(1)
    centred = np.asfortranarray(rng.normal(size=(700, 4)), dtype=dtype)
    coef = np.asfortranarray(rng.normal(size=(4, 30)) * 10, dtype=dtype)
    data = (rng.normal(size=(700, 60)) * 100).astype(dtype)
    out = data[:, :30].copy() if layout == "contiguous" else data[:, ::2]
    expected = out - centred @ coef
    result = subtract_product(in_place_gemm(dtype), out, centred, coef)
    assert result is out and out.dtype == dtype
    # One rounding of the difference either way (seen: equal to the bit).
    ulp = np.spacing(np.abs(expected).max()).astype(np.float64)
    assert np.abs(out.astype(np.float64) - expected).max() <= 4 * ulp


def test_in_place_and_buffered_transforms_agree():
    # A C-ordered output is corrected in place, a column-major or wider one
    # (keep_protected) through a product block: the same numbers.
    X = make_data()
    projector = OrthogonalProjector(protected=[0, 1]).fit(X)
    in_place = projector.transform(X)
    buffered = projector.transform(np.asfortranarray(X))
    kept = projector.set_params(keep_protected=True).transform(X)[:, :-2]
    scale = np.abs(in_place).max(axis=0)
    assert (np.abs(in_place - buffered) / scale).max() < 1e-14
    np.testing.assert_array_equal(kept, buffered)


def test_float32_within_float32_rounding_of_float64_lstsq():
    # float32 features with offsets of 1e4 and scales from 1e-4 to 1e4 (the
    # statistics accumulate in float64): each output within a few float32
    # roundings of the column's size of numpy's float64 least squares on the
    # same (upcast) data.
    rng = np.random.default_rng(2)
    scales = np.array([1.0, 1e-4, 1e-4, 1e-2, 1.0, 1e2, 1e4, 1e4])
    offsets = np.array([1e4, 0.0, 1e4, 1e4, -1e4, 1e4, 1e4, 0.0])
    Z = rng.normal(size=(20_000, 8))
    Z[:, 2:] += Z[:, :2] @ rng.normal(size=(2, 6))
    X = (Z * scales + offsets).astype(np.float32)
    out = OrthogonalProjector(protected=[0, 1]).fit_transform(X)
    expected, _ = lstsq_reference(X, [0, 1])
    assert out.dtype == np.float32
    ulp = np.spacing(np.abs(expected).max(axis=0).astype(np.float32))
    # Seen: 1.2 float32 units in the last place of the column's largest value
    # (0.7-2.6 with seeds 0 and 3-6).
    assert (np.abs(out - expected) / ulp).max() < 16


def test_column_stack_reads_rows_into_an_output():
    X = make_data()
    stack = numeric_columns(as_table(pl.DataFrame(X, schema=NAMES)), [0, 3, 8])
    out = np.full((10, 2), np.nan)
    assert stack.read_into(slice(10, 20), [0, 2], out) is out
    np.testing.assert_array_equal(out, X[10:20][:, [0, 8]])
