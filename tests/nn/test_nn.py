import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from orthokit._rls import rls_init, rls_update  # noqa: E402
from orthokit.datasets import (  # noqa: E402
    make_confounded_images,
    make_continual_confounded_images,
)
from orthokit.nn import (  # noqa: E402
    MetadataMLP,
    MetadataNorm,
    MetadataSequential,
    Orthogonalize,
    PenaltyMetadataNorm,
    RecursiveMetadataNorm,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _make_layer(kind, shape, n_metadata=2, n_targets=0):
    if kind == "mdn":
        return MetadataNorm(shape, n_metadata, n_targets=n_targets)
    if kind == "pmdn":
        return PenaltyMetadataNorm(shape, n_metadata, n_targets=n_targets)
    if kind == "rmdn":
        return RecursiveMetadataNorm(shape, n_metadata, n_targets=n_targets)
    return Orthogonalize()


def _train(layer, x, S, target=None):
    if isinstance(layer, MetadataNorm):
        layer.set_metadata_kernel(S, target)
    layer.train()
    return layer(x, S, target)


KINDS = ["mdn", "pmdn", "rmdn", "orth"]
SHAPES = [(6,), (3, 4, 4), (5, 2)]  # dense, conv maps, token sequence


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_any_trailing_shape(kind, shape):
    x = torch.randn(12, *shape)
    S = torch.randn(12, 2)
    layer = _make_layer(kind, shape)
    out = _train(layer, x, S)
    assert out.shape == x.shape
    layer.eval()
    assert layer(x, S).shape == x.shape


@pytest.mark.parametrize("batch_size", [1, 3, 50])
def test_rmdn_equals_ridge_on_all_data(batch_size):
    # forgetting 1 and no process noise: RLS is ridge regression on all data.
    n, delta = 50, 0.01
    S = torch.randn(n, 2, dtype=torch.float64)
    F = 1.5 * S[:, :1] - S[:, 1:] + 0.1 * torch.randn(n, 4, dtype=torch.float64)
    layer = RecursiveMetadataNorm(4, 2, forgetting=1.0, delta=delta, process_noise=0)
    layer.double()
    for start in range(0, n, batch_size):
        layer(F[start : start + batch_size], S[start : start + batch_size])
    M = torch.cat([torch.ones(n, 1, dtype=torch.float64), S], 1)
    ridge = torch.linalg.solve(M.T @ M + delta * torch.eye(3, dtype=M.dtype), M.T @ F)
    assert torch.allclose(layer.coef, ridge, atol=1e-10)
    assert int(layer.num_batches_tracked) == -(-n // batch_size)


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("batch_size", [1, 2, 7])
def test_rls_update_torch_matches_numpy(per_sample, batch_size):
    rng = np.random.default_rng(0)
    M = np.column_stack([np.ones(21), rng.normal(size=(21, 2))])
    F = rng.normal(size=(21, 3))
    state_np = rls_init(3, 3, 0.1)
    state_t = rls_init(3, 3, 0.1, like=torch.zeros(1))
    for start in range(0, 21, batch_size):
        rows = slice(start, start + batch_size)
        kwargs = {"forgetting": 0.95, "per_sample": per_sample, "process_noise": 1e-3}
        state_np = rls_update(*state_np, M[rows], F[rows], **kwargs)
        state_t = rls_update(
            *state_t, torch.tensor(M[rows]), torch.tensor(F[rows]).float(), **kwargs
        )
    for a, b in zip(state_np, state_t, strict=True):
        assert b.dtype == torch.float64
        np.testing.assert_allclose(b.numpy(), a, atol=1e-10)


@pytest.mark.parametrize("kind", ["mdn", "rmdn", "pmdn"])
def test_label_part_is_never_subtracted(kind):
    # Features = 3*s + 5*y: the s effect goes, the label effect stays.
    n = 400
    y = torch.randint(0, 2, (n,)).float()
    S = torch.randn(n, 1) + y[:, None]
    F = 3 * S + 5 * y[:, None] + 0.01 * torch.randn(n, 2)
    layer = _make_layer(kind, 2, n_metadata=1, n_targets=1)
    if kind == "pmdn":
        optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
        for _ in range(1500):
            optimizer.zero_grad()
            layer(F, S, y)
            (layer.penalty_ / n).backward()
            optimizer.step()
    else:
        _train(layer, F, S, y)
    layer.eval()
    out = layer(F, S)
    slope = np.polyfit(y.numpy(), out[:, 0].detach().numpy(), 1)[0]
    assert slope == pytest.approx(5.0, abs=0.05)
    coef = {"mdn": "running_coef", "rmdn": "coef", "pmdn": "beta"}[kind]
    assert getattr(layer, coef)[1, 0].item() == pytest.approx(3.0, abs=0.05)


def test_pmdn_penalty_reaches_only_beta_and_output_only_the_features():
    # One backward pass of loss + penalty steps each part on its own objective.
    layer = PenaltyMetadataNorm(3, 1, n_targets=1)
    with torch.no_grad():
        layer.beta.normal_()
    x = torch.randn(8, 3, requires_grad=True)
    out = layer(x, torch.randn(8, 1), torch.randint(0, 2, (8,)))
    expected_x = torch.autograd.grad(out.square().sum(), x, retain_graph=True)[0]
    (out.square().sum() + layer.penalty_).backward()
    assert torch.equal(x.grad, expected_x)
    out = layer(x, torch.randn(8, 1), torch.randint(0, 2, (8,)))
    beta_grad = torch.autograd.grad(layer.penalty_, layer.beta)[0]
    assert beta_grad.abs().sum() > 0
    assert torch.autograd.grad(out.sum(), layer.beta, allow_unused=True)[0] is None


def test_mdn_full_batch_is_ols_and_scales_by_actual_batch():
    n = 40
    S = torch.randn(n, 2)
    F = S @ torch.tensor([[2.0], [-1.0]]) + 0.1 * torch.randn(n, 1)
    layer = MetadataNorm(1, 2).set_metadata_kernel(S)
    out = layer(F, S)
    centred = S - S.mean(0)
    assert torch.allclose(centred.T @ out, torch.zeros(2, 1), atol=1e-4)
    # The same rows twice in a batch of 2n: N/b halves, beta stays the OLS one.
    doubled = MetadataNorm(1, 2).set_metadata_kernel(S)
    doubled(torch.cat([F, F]), torch.cat([S, S]))
    assert torch.allclose(doubled.running_coef, layer.running_coef, atol=1e-5)


def test_orthogonalize_removes_span_of_metadata():
    S = torch.randn(20, 3)
    out = Orthogonalize()(torch.relu(torch.randn(20, 8)), S)
    design = torch.cat([torch.ones(20, 1), S], 1)
    assert torch.allclose(design.T @ out, torch.zeros(4, 8), atol=1e-5)


def test_orthogonalize_collinear_metadata_keeps_rank():
    S = torch.randn(10, 1)
    x = torch.randn(10, 3)
    twice = Orthogonalize()(x, torch.cat([S, 2 * S], 1))
    once = Orthogonalize()(x, S)
    assert torch.allclose(twice, once, atol=1e-5)


@pytest.mark.parametrize("kind", ["mdn", "pmdn", "rmdn"])
def test_state_dict_round_trip(kind, tmp_path):
    x, S, y = torch.randn(30, 3, 2), torch.randn(30, 2), torch.randint(0, 2, (30,))
    layer = _make_layer(kind, (3, 2), n_targets=1)
    with torch.no_grad():
        if kind == "pmdn":
            layer.beta.normal_()
        _train(layer, x, S, y)
    path = tmp_path / "layer.pt"
    torch.save(layer.state_dict(), path)
    fresh = _make_layer(kind, (3, 2), n_targets=1)
    fresh.load_state_dict(torch.load(path))
    layer.eval()
    fresh.eval()
    assert torch.equal(layer(x, S), fresh(x, S))
    assert pickle.loads(pickle.dumps(fresh)).state_dict().keys() == (
        layer.state_dict().keys()
    )


def test_rmdn_state_stays_float64_under_dtype_casts():
    layer = RecursiveMetadataNorm(4, 1).float()
    assert {layer.info.dtype, layer.cov.dtype, layer.coef.dtype} == {torch.float64}
    out = layer.train()(torch.randn(5, 4), torch.randn(5, 1))
    assert out.dtype == torch.float32


@pytest.mark.parametrize(
    ("kind", "x_rows", "s_rows", "match"),
    [
        ("mdn", 8, 7, "metadata has 7 rows but x has 8; they must match"),
        ("pmdn", 8, 9, "metadata has 9 rows"),
        ("rmdn", 4, 3, "metadata has 3 rows"),
        ("orth", 8, 6, "metadata has 6 rows"),
    ],
)
def test_batch_size_mismatch(kind, x_rows, s_rows, match):
    layer = _make_layer(kind, 3)
    if kind == "mdn":
        layer.set_metadata_kernel(torch.randn(20, 2))
    with pytest.raises(ValueError, match=match):
        layer(torch.randn(x_rows, 3), torch.randn(s_rows, 2))


@pytest.mark.parametrize("kind", KINDS)
def test_nan_metadata(kind):
    layer = _make_layer(kind, 3)
    if kind == "mdn":
        layer.set_metadata_kernel(torch.randn(20, 2))
    S = torch.randn(8, 2)
    S[3, 1] = float("nan")
    with pytest.raises(ValueError, match="metadata contains NaN or infinity"):
        layer(torch.randn(8, 3), S)


@pytest.mark.parametrize(("rows", "k"), [(3, 2), (2, 1), (1, 1)])
def test_orthogonalize_needs_more_rows_than_columns(rows, k):
    with pytest.raises(ValueError, match=rf"b > k \+ 1\); got b={rows}, k={k}"):
        Orthogonalize()(torch.randn(rows, 4), torch.randn(rows, k))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: RecursiveMetadataNorm(3, 2).eval(), "has seen no training batch"),
        (lambda: MetadataNorm(3, 2).eval(), "has seen no training batch"),
        (lambda: MetadataNorm(3, 2), "call set_metadata_kernel"),
        (lambda: RecursiveMetadataNorm(3, 2, n_targets=1), "pass target="),
        (lambda: RecursiveMetadataNorm(4, 2), "built for n_features=4"),
        (lambda: PenaltyMetadataNorm(3, 1), "built for 1"),
    ],
)
def test_layer_misuse(make, match):
    with pytest.raises(ValueError, match=match):
        make()(torch.randn(5, 3), torch.randn(5, 2))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: RecursiveMetadataNorm(3, 0), "n_metadata must be an int >= 1"),
        (lambda: MetadataNorm((3, 0), 1), "n_features must be a positive int"),
        (lambda: RecursiveMetadataNorm(3, 1, forgetting=0), "forgetting must be"),
        (lambda: MetadataNorm(3, 1, momentum=2), "momentum must be"),
    ],
)
def test_bad_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_sequential_passes_metadata_only_to_metadata_layers():
    model = MetadataSequential(
        torch.nn.Linear(3, 5), RecursiveMetadataNorm(5, 1), torch.nn.ReLU()
    )
    out = model(torch.randn(7, 3), torch.randn(7, 1))
    assert out.shape == (7, 5)
    assert int(model[1].num_batches_tracked) == 1


def test_import_orthokit_does_not_import_torch():
    code = "import sys, orthokit; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# -- the image generators --------------------------------------------------------


def test_confounded_images():
    data = make_confounded_images(50, random_state=1)
    assert data.images.shape == (100, 1, 32, 32) and data.images.dtype == np.float32
    assert data.y.tolist() == [0] * 50 + [1] * 50
    for group, (low, high) in enumerate([(1, 4), (3, 6)]):
        for values in (data.confounder, data.main_effect):
            chosen = values[data.y == group]
            assert chosen.min() >= low and chosen.max() <= high
    assert data.max_accuracy == pytest.approx(5 / 6)
    again = make_confounded_images(50, random_state=1)
    assert np.array_equal(again.images, data.images)


@pytest.mark.parametrize(
    ("shift", "stage", "ranges", "main_lows", "confounder_lows", "max_accuracy"),
    [
        # the R-MDN authors' stage 0: U(3, 5) vs U(4, 6), width 2
        ("confounder", 4, None, (3.0, 4.0), (2.5, 4.5), 0.75),
        ("main", 2, None, (3.25, 3.75), (3.0, 4.0), 0.625),
        ("both", 1, None, (3.125, 3.875), (2.875, 4.125), 0.6875),
        ("main", 4, None, (3.5, 3.5), (3.0, 4.0), 0.5),
        # the static images' ranges, width 3
        ("both", 1, ((1, 4), (3, 6)), (1.125, 2.875), (0.875, 3.125), 19 / 24),
    ],
)
def test_continual_stage_ranges(
    shift, stage, ranges, main_lows, confounder_lows, max_accuracy
):
    kwargs = {} if ranges is None else {"ranges": ranges}
    stages = make_continual_confounded_images(
        400, shift=shift, random_state=0, **kwargs
    )
    data = stages[stage]
    width = 2 if ranges is None else 3
    for values, lows in (
        (data.main_effect, main_lows),
        (data.confounder, confounder_lows),
    ):
        for group in (0, 1):
            chosen = values[data.y == group]
            assert chosen.min() >= lows[group] and chosen.max() <= lows[group] + width
            assert chosen.min() < lows[group] + 0.05
    assert len(stages) == 5
    assert data.max_accuracy == pytest.approx(max_accuracy)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_per_group": 0}, "n_per_group must be an int >= 1"),
        ({"shift": "size"}, "shift must be one of"),
        ({"n_stages": 0}, "n_stages must be an int >= 1"),
        ({"ranges": ((3, 5), (4, 7))}, "ranges must be two .* equal widths"),
        ({"ranges": ((5, 3), (6, 4))}, "ranges must be two .*low < high"),
        ({"ranges": (3, 5)}, "ranges must be two"),
    ],
)
def test_generator_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_continual_confounded_images(**kwargs)


def test_metadata_mlp_unknown_norm():
    with pytest.raises(ValueError, match="norm must be one of"):
        MetadataMLP(norm="layernorm")


# -- streams that never silently corrupt the running state -------------------------


def _stateful(kind):
    if kind == "mdn":
        layer = MetadataNorm(3, 2)
        layer.set_metadata_kernel(torch.randn(40, 2))
        return layer
    return RecursiveMetadataNorm(3, 2, forgetting=0.9)


def _poison(x, how):
    x = x.clone()
    if how == "nan":
        x[2, 1] = float("nan")
    elif how == "inf":
        x[0, 0] = float("inf")
    else:  # finite, but the products overflow
        x[:, 2] = 1e308 if x.dtype == torch.float64 else 3e38
    return x


# R-MDN's state is float64: float32 features near 3e38 do not overflow it.
REJECTED_BATCHES = [
    (kind, how, dtype)
    for kind in ("mdn", "rmdn")
    for how in ("nan", "inf", "overflow")
    for dtype in (torch.float32, torch.float64)
    if not (kind, how, dtype) == ("rmdn", "overflow", torch.float32)
]


@pytest.mark.parametrize(("kind", "how", "dtype"), REJECTED_BATCHES)
def test_nonfinite_training_batch_is_rejected_and_state_kept(kind, how, dtype):
    clean, spoilt = _stateful(kind).to(dtype), _stateful(kind).to(dtype)
    spoilt.load_state_dict(clean.state_dict())
    batches = [(torch.randn(8, 3, dtype=dtype), torch.randn(8, 2)) for _ in range(5)]
    for i, (x, S) in enumerate(batches):
        if i == 2:
            with pytest.raises(ValueError, match="batch was rejected"):
                spoilt(_poison(x, how), S)
        clean(x, S)
        spoilt(x, S)
    spoilt_state = spoilt.state_dict()
    for name, value in clean.state_dict().items():
        assert torch.equal(value, spoilt_state[name]), name
        assert torch.isfinite(value.double()).all(), name
    spoilt.eval()
    assert torch.isfinite(spoilt(*batches[0])).all()


# Training batches of the stateful layers: test_nonfinite_training_batch_...
NONFINITE_BATCHES = [
    (kind, how, training)
    for kind in KINDS
    for how in ("nan", "inf")
    for training in (True, False)
    if not (training and kind in ("mdn", "rmdn"))
]


@pytest.mark.parametrize(("kind", "how", "training"), NONFINITE_BATCHES)
def test_nonfinite_features_are_rejected_in_both_modes(kind, how, training):
    # Documented choice: a non-finite batch raises in eval mode too, since
    # Orthogonalize mixes rows and a silent NaN output is never right.
    layer = _make_layer(kind, (3,))
    x, S = torch.randn(10, 3), torch.randn(10, 2)
    _train(layer, x, S)
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    layer.train(training)
    with pytest.raises(ValueError, match="x contains NaN or infinity"):
        layer(_poison(x, how), S)
    for name, value in layer.state_dict().items():
        assert torch.equal(value, before[name]), name


# float32 metadata near 1e30 (or 1e-30) and features near 3e38: rescaled
# internally by powers of two, the answer is that of the well-scaled batch.
@pytest.mark.parametrize("kind", ["mdn", "orth"])
@pytest.mark.parametrize("spoil", ["metadata_1e30", "metadata_1e-30", "x_3e38"])
def test_float32_extremes_give_the_well_scaled_answer(kind, spoil):
    generator = torch.Generator().manual_seed(0)
    S = torch.randn(64, 2, generator=generator)
    x = torch.randn(64, 3, generator=generator) + S @ torch.ones(2, 3)
    reference = _train(_make_layer(kind, (3,)), x, S).detach()
    big_x, big_S, factor = x, S, 1.0
    if spoil.startswith("metadata"):
        big_S = S * float(spoil.split("_")[1])
    else:
        factor = 3e38 / x.abs().max().item()
        big_x = x * factor
    layer = _make_layer(kind, (3,))
    trained = _train(layer, big_x, big_S).detach() / factor
    evaluated = layer.eval()(big_x, big_S) / factor
    for out in (trained, evaluated):
        error = (out - reference).abs().max() / x.abs().max()
        assert error < 1e-5, f"{spoil}: relative error {error:.1e}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("training", [True, False])
def test_empty_batch_returns_empty_and_keeps_state(kind, training):
    layer = _make_layer(kind, (3, 2))
    _train(layer, torch.randn(10, 3, 2), torch.randn(10, 2))
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    layer.train(training)
    out = layer(torch.randn(0, 3, 2), torch.randn(0, 2))
    assert out.shape == (0, 3, 2)
    for name, value in layer.state_dict().items():
        assert torch.equal(value, before[name]), name


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Orthogonalize(rank_rtol=float("nan")), "rank_rtol must be a finite"),
        (lambda: Orthogonalize(rank_rtol=-1e-3), "rank_rtol must be a finite"),
        (lambda: Orthogonalize(rank_rtol=1.0), "rank_rtol must be a finite"),
        (lambda: Orthogonalize(rank_rtol="1e-7"), "rank_rtol must be a finite"),
        (lambda: MetadataNorm(3, 1, momentum=float("nan")), "momentum must be"),
        (lambda: MetadataNorm(3, 1, momentum=True), "momentum must be"),
        (lambda: RecursiveMetadataNorm(3, 1, forgetting=float("nan")), "forgetting"),
        (lambda: RecursiveMetadataNorm(3, 1, delta=float("inf")), "delta must be"),
        (lambda: RecursiveMetadataNorm(3, 1, delta=float("nan")), "delta must be"),
        (lambda: RecursiveMetadataNorm(3, 1, delta=0.0), "delta must be"),
        (
            lambda: RecursiveMetadataNorm(3, 1, process_noise=float("nan")),
            "process_noise must be",
        ),
        (lambda: RecursiveMetadataNorm(3, 1, process_noise=-1.0), "process_noise"),
    ],
)
def test_float_parameters_are_validated(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("frame", ["pandas", "polars", "pyarrow"])
def test_metadata_as_a_data_frame(kind, frame):
    x = torch.randn(12, 3, dtype=torch.float64)
    values = np.random.default_rng(0).normal(size=(12, 2))
    columns = {"age": values[:, 0], "site": values[:, 1]}
    if frame == "pandas":
        metadata = pd.DataFrame(columns, index=np.arange(100, 112))
    elif frame == "polars":
        import polars

        metadata = polars.DataFrame(columns)
    else:
        import pyarrow

        metadata = pyarrow.table(columns)
    from_frame = _make_layer(kind, 3).double()
    from_tensor = _make_layer(kind, 3).double()
    out = _train(from_frame, x, metadata)
    expected = _train(from_tensor, x, torch.as_tensor(values))
    assert torch.equal(out, expected)


@pytest.mark.parametrize(
    ("metadata", "target", "error", "match"),
    [
        (
            pd.DataFrame({"site": list("abab")}),
            None,
            TypeError,
            "metadata must be numeric, but its column 'site' holds labels",
        ),
        (
            pd.DataFrame({"s": [0.0, np.nan, 1, 2]}),
            None,
            ValueError,
            "metadata column 's' .*NaN",
        ),
        (
            np.array([[0.0], [1], [np.inf], [2]]),
            None,
            ValueError,
            "metadata column '0' .*NaN",
        ),
        (
            np.zeros((5, 1)),
            None,
            ValueError,
            "metadata has 5 rows but x has 4; they must match",
        ),
        (
            np.zeros((4, 1)),
            np.zeros(3),
            ValueError,
            "target has 3 rows but x has 4; they must",
        ),
        (
            np.zeros((4, 1)),
            pd.Series([0, 1, None, 1.0]),
            ValueError,
            "target column '0' .*NaN",
        ),
    ],
)
def test_batch_metadata_and_target_errors(metadata, target, error, match):
    layer = RecursiveMetadataNorm(3, 1, n_targets=1)
    with pytest.raises(error, match=match):
        layer(torch.randn(4, 3), metadata, target if target is not None else [1] * 4)
