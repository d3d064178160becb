"""The estimators and torch layers of ``orthokit.nn`` against bad input.

``MetadataNormClassifier`` meets the cases of ``ENTRIES`` x ``CASES``
(``tests/bad_input.py``); the torch
layers take tensors, not frames: ``LAYERS`` x ``LAYER_CASES`` tries bad tensors
on them, in training and eval mode.
"""

import re
from dataclasses import dataclass, field

import pytest
from bad_input import check_bad_input, pairs
from bad_input_entries import _nn


@pytest.mark.parametrize("entry, case", pairs("nn"))
def test_bad_input(entry, case, tmp_path, record_property):
    check_bad_input(entry, case, tmp_path, record_property)


@dataclass
class Layer:
    """A torch layer of ``orthokit.nn``: build it, prepare it, call it."""

    name: str
    build: callable
    prepare: callable = lambda layer, S: layer  # e.g. the metadata kernel


def _layer(name, **kwargs):
    return lambda: _nn(name)(**kwargs)


LAYERS = [
    Layer(
        "MetadataNorm",
        _layer("MetadataNorm", n_features=4, n_metadata=2),
        lambda layer, S: layer.set_metadata_kernel(S),
    ),
    Layer(
        "PenaltyMetadataNorm", _layer("PenaltyMetadataNorm", n_features=4, n_metadata=2)
    ),
    Layer(
        "RecursiveMetadataNorm",
        _layer("RecursiveMetadataNorm", n_features=4, n_metadata=2),
    ),
    Layer("Orthogonalize", _layer("Orthogonalize")),
]


def _tensors(n=64):
    import torch

    generator = torch.Generator().manual_seed(0)
    S = torch.randn(n, 2, generator=generator)
    x = torch.randn(n, 4, generator=generator) + S @ torch.ones(2, 4)
    return x, S


def _spoil_first(tensor, value):
    tensor = tensor.clone()
    tensor[0, 0] = value
    return tensor


@dataclass
class LayerCase:
    """A bad batch ``(x, metadata)`` for a layer, and what must happen."""

    name: str
    spoil: callable  # (x, S) -> (x, S)
    match: str | None = None
    by_layer: dict = field(default_factory=dict)


LAYER_CASES = [
    LayerCase(
        "nan_in_metadata",
        lambda x, S: (x, _spoil_first(S, float("nan"))),
        "metadata contains NaN",
    ),
    LayerCase(
        "inf_in_metadata",
        lambda x, S: (x, _spoil_first(S, float("inf"))),
        "metadata contains NaN or infinity",
    ),
    LayerCase(
        "huge_metadata_beyond_float32",
        lambda x, S: (x, S.double() * 1e300),
        "metadata contains NaN or infinity",
    ),
    LayerCase(
        "nan_in_x",
        lambda x, S: (_spoil_first(x, float("nan")), S),
        "x contains NaN or infinity",
    ),
    LayerCase(
        "inf_in_x",
        lambda x, S: (_spoil_first(x, float("inf")), S),
        "x contains NaN or infinity",
    ),
    # finite float32 extremes: rescaled internally, a finite answer
    LayerCase(
        "huge_float32_metadata",
        lambda x, S: (x, S * 1e30),
        None,
        # its metadata kernel comes from the unscaled metadata: the batch is
        # 1e30 beyond it (with a matching kernel: test_nn's float32 extremes)
        by_layer={"MetadataNorm": "metadata .* beyond .* overflows"},
    ),
    LayerCase("huge_float32_x", lambda x, S: (x * (3e38 / x.abs().max()), S)),
    LayerCase("tiny_metadata", lambda x, S: (x, S * 1e-30)),
    LayerCase("constant_metadata", lambda x, S: (x, S * 0 + 1)),
    LayerCase("float64_metadata", lambda x, S: (x, S.double())),
    LayerCase("int_metadata", lambda x, S: (x, (S > 0).long())),
    LayerCase("numpy_metadata", lambda x, S: (x, S.numpy())),
    LayerCase(
        "one_dim_metadata",
        lambda x, S: (x, S[:, 0]),
        "metadata has 1 column",
        by_layer={"Orthogonalize": None},  # takes any number of columns
    ),
    LayerCase(
        "mismatched_batch",
        lambda x, S: (x, S[:-3]),
        "rows but the features have batch size|must match|size",
    ),
    LayerCase(
        "wrong_number_of_features",
        lambda x, S: (x[:, :3], S),
        "features per sample",
        by_layer={"Orthogonalize": None},  # works on any width
    ),
    LayerCase(
        "one_row",
        lambda x, S: (x[:1], S[:1]),
        None,
        by_layer={"Orthogonalize": "rows|batch"},
    ),
]

LAYER_PAIRS = [
    pytest.param(layer, case, id=f"{layer.name}-{case.name}")
    for layer in LAYERS
    for case in LAYER_CASES
]


@pytest.mark.parametrize("layer, case", LAYER_PAIRS)
def test_bad_batch(layer, case, record_property):
    record_property("entry", f"orthokit.nn.{layer.name}")
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    x, S = _tensors()
    module = layer.prepare(layer.build(), S)
    bad_x, bad_S = case.spoil(x, S)
    expected = case.by_layer.get(layer.name, case.match)
    try:
        module.train()
        trained = module(bad_x, bad_S)
        module.eval()
        evaluated = module(bad_x, bad_S)
    except (ValueError, TypeError) as exc:
        assert expected is not None, f"unexpected {type(exc).__name__}: {exc}"
        assert re.search(expected, str(exc)), str(exc)
        return
    assert expected is None, f"no error raised; expected /{expected}/"
    assert torch.isfinite(trained).all() and torch.isfinite(evaluated).all()
