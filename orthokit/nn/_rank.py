"""The package's rank rule for torch tensors: where the layers decide rank.

:func:`orthokit._linalg.kept_eigenvalues` states the one rule for NumPy arrays:
an eigenvalue of a Gram matrix counts if it exceeds
:data:`~orthokit._linalg.RANK_RTOL` times the largest, a singular value of a
matrix if its square does (so singular values above ``sqrt(RANK_RTOL)``, 1e-5,
times the largest). The functions here say the same for torch tensors; the
layers call nothing else to decide rank (tests/nn/test_nn_rank.py checks that both
give the same rank on the same matrices).
"""

import torch

from orthokit._linalg import RANK_RTOL

__all__ = ["RANK_RTOL", "kept_eigenvalues", "matrix_rank", "pinv_gram", "span_basis"]


def kept_eigenvalues(eigenvalues):
    """Mark the eigenvalues of a Gram matrix that count (the one rank rule).

    Examples
    --------
    >>> import torch
    >>> kept_eigenvalues(torch.tensor([1.0, 1e-3, 1e-12], dtype=torch.float64))
    tensor([ True,  True, False])
    """
    if eigenvalues.numel() == 0:
        return torch.zeros_like(eigenvalues, dtype=torch.bool)
    return eigenvalues > RANK_RTOL * eigenvalues.max().clamp(min=0)


def kept_singular_values(singular, scale=None):
    """Mark the singular values that count: their squares, by the rule above.

    ``scale`` replaces the largest singular value as the reference, as in
    :func:`orthokit._linalg.matrix_rank`.
    """
    if scale is None:
        return kept_eigenvalues(singular.square())
    return singular.square() > RANK_RTOL * scale**2


def matrix_rank(matrix, scale=None):
    """Rank of a matrix (computed in float64) by the package's rule.

    Examples
    --------
    >>> import torch
    >>> matrix_rank(torch.tensor([[1.0, 1.0], [1.0, 1.0 + 1e-9]]))
    1
    """
    singular = torch.linalg.svdvals(matrix.to(torch.float64))
    return int(kept_singular_values(singular, scale).sum())


def pinv_gram(gram):
    """Pseudo-inverse of a symmetric positive semi-definite Gram matrix.

    Eigen-directions the rule drops (collinear metadata) are left out, as a
    minimum-norm solution.

    Examples
    --------
    >>> import torch
    >>> pinv_gram(torch.tensor([[4.0, 0.0], [0.0, 1e-14]], dtype=torch.float64))
    tensor([[0.2500, 0.0000],
            [0.0000, 0.0000]], dtype=torch.float64)
    """
    eigenvalues, vectors = torch.linalg.eigh(gram)
    keep = kept_eigenvalues(eigenvalues)
    inverse = torch.where(keep, 1 / torch.where(keep, eigenvalues, 1), 0)
    return (vectors * inverse) @ vectors.T


def span_basis(matrix):
    """Orthonormal basis of the columns of ``matrix`` kept by the rule.

    Examples
    --------
    >>> import torch
    >>> span_basis(torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])).shape
    torch.Size([3, 1])
    """
    basis, singular, _ = torch.linalg.svd(matrix, full_matrices=False)
    return basis[:, kept_singular_values(singular)]
