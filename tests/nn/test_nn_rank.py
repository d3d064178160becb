"""The package's rank rule for torch tensors (orthokit.nn._rank) against NumPy's."""

import numpy as np
import pytest
import torch

from orthokit import _linalg
from orthokit.nn import MetadataNorm, Orthogonalize, _rank


@pytest.fixture(autouse=True)
def _seed():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _with_singular_values(singular, rows=12, seed=0):
    rng = np.random.default_rng(seed)
    left = np.linalg.qr(rng.normal(size=(rows, len(singular))))[0]
    right = np.linalg.qr(rng.normal(size=(len(singular), len(singular))))[0]
    return (left * singular) @ right


_RANDOM = np.random.default_rng(1).normal(size=(12, 4))
# Near-deficient matrices have their smallest singular value 10x above or below
# the cutoff sqrt(RANK_RTOL) = 1e-5 of the largest (squares: 100x).
RANK_MATRICES = {
    "full": _RANDOM,
    "deficient": np.column_stack([_RANDOM, _RANDOM[:, 0] - 2 * _RANDOM[:, 1]]),
    "zero column": np.column_stack([_RANDOM, np.zeros(12)]),
    "near, kept": _with_singular_values([1.0, 1e-2, 1e-4]),
    "near, dropped": _with_singular_values([1.0, 1e-2, 1e-6]),
    # Columns scaled by 1e-4..1e4: orthonormal ones keep 3 of 5 directions.
    "columns 1e-4..1e4": np.linalg.qr(np.random.default_rng(2).normal(size=(12, 5)))[0]
    * np.logspace(-4, 4, 5),
    "deficient, columns 1e-2..1e2": np.column_stack(
        [_RANDOM, _RANDOM[:, 0] + _RANDOM[:, 1]]
    )
    * np.logspace(-2, 2, 5),
}


@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4])
@pytest.mark.parametrize("name", list(RANK_MATRICES))
def test_torch_rank_rule_agrees_with_numpy(name, scale):
    matrix = RANK_MATRICES[name] * scale
    tensor = torch.as_tensor(matrix)
    rank = _linalg.matrix_rank(matrix)
    gram = matrix.T @ matrix
    assert _rank.matrix_rank(tensor) == rank
    assert _rank.span_basis(tensor).shape[1] == rank
    kept = _rank.kept_eigenvalues(torch.linalg.eigvalsh(torch.as_tensor(gram)))
    assert int(kept.sum()) == int(
        _linalg.kept_eigenvalues(np.linalg.eigvalsh(gram)).sum()
    )
    # The pseudo-inverse inverts exactly the kept directions: trace(G^+ G) = rank.
    projector = _rank.pinv_gram(torch.as_tensor(gram)) @ torch.as_tensor(gram)
    assert torch.trace(projector).item() == pytest.approx(rank, abs=1e-3)
    unit = torch.as_tensor(matrix / np.abs(matrix).max())
    assert _rank.matrix_rank(unit, scale=1.0) == _linalg.matrix_rank(
        unit.numpy(), scale=1.0
    )


def test_rank_matrices_stay_clear_of_the_cutoff():
    # The table above means what it says: no singular value within 10x of it.
    for matrix in RANK_MATRICES.values():
        singular = np.linalg.svd(matrix, compute_uv=False)
        ratio = (singular / singular[0]) ** 2 / _linalg.RANK_RTOL
        assert ((ratio > 10) | (ratio < 0.1)).all()


def _near_collinear(n=40):
    generator = torch.Generator().manual_seed(3)
    S = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    # The second column differs by a direction 1e-6 of the largest: dropped by
    # the package's rule (1e-5), kept by the deprecated default (1e-7).
    nudge = torch.randn(n, 1, generator=generator, dtype=torch.float64)
    x = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    return x, S, torch.cat([S, S + 1e-6 * nudge], dim=1)


def test_orthogonalize_drops_directions_by_the_package_rule():
    x, S, nearly = _near_collinear()
    assert torch.allclose(Orthogonalize()(x, nearly), Orthogonalize()(x, S), atol=1e-9)


def test_mdn_kernel_is_the_pseudo_inverse_by_the_package_rule():
    _, S, nearly = _near_collinear()
    layer = MetadataNorm(3, 2).double().set_metadata_kernel(nearly)
    M = torch.cat([torch.ones(40, 1, dtype=torch.float64), nearly], dim=1)
    assert torch.linalg.matrix_rank(layer.kernel).item() == _rank.matrix_rank(M) == 2


def test_rank_rtol_is_deprecated_but_still_used():
    x, S, nearly = _near_collinear()
    with pytest.warns(FutureWarning, match="rank_rtol was deprecated in version 0.2"):
        layer = Orthogonalize(rank_rtol=1e-7)
    out = layer(x, nearly)
    design = torch.cat([torch.ones(40, 1, dtype=torch.float64), nearly], dim=1)
    # The old rule keeps the nudge: out is orthogonal to all three columns.
    assert (design.T @ out).abs().max().item() < 1e-9
    assert not torch.allclose(out, Orthogonalize()(x, S), atol=1e-6)
