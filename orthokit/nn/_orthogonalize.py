"""Orthogonalization: each batch projected onto the complement of its metadata."""

import warnings

import torch
from torch import nn

from orthokit.nn._base import (
    _batch_columns,
    _check_features,
    _check_real,
    _column_scale,
)
from orthokit.nn._rank import span_basis

__all__ = ["Orthogonalize"]


class Orthogonalize(nn.Module):
    """Project the batch onto the orthogonal complement of ``[1, S]``.

    ``Y <- Y - Q (Q^T Y)`` over the batch axis, with ``Q`` an orthonormal
    basis of the columns of ``[1, S_b]`` (Rügamer et al., Theorem 5). Placed after
    a ReLU, the activated output is orthogonal to ``span([1, S])``. It is a
    batch operation in training and eval alike, and needs more rows than
    ``k + 1``. Labels (``target``) are accepted and ignored, so the layer
    fits in a :class:`MetadataSequential` next to the others.

    Directions of ``[1, S_b]`` (its columns scaled by powers of two) are kept
    by the package's rank rule (:mod:`orthokit.nn._rank`): singular values
    whose squares exceed ``RANK_RTOL`` (1e-10) times the largest one's, so
    collinear or constant metadata in a batch cost no rank.

    Parameters
    ----------
    rank_rtol : float, default="deprecated"
        Singular values of ``[1, S_b]`` below ``rank_rtol`` times the largest
        are dropped, instead of the package's rule.

        .. deprecated:: 0.2
            ``rank_rtol`` was deprecated in version 0.2 and will be removed in
            0.4; the package's rank rule is used when it is not given.

    Examples
    --------
    >>> import torch
    >>> from orthokit.nn import Orthogonalize
    >>> S = torch.arange(6.0)[:, None]
    >>> out = Orthogonalize()(torch.randn(6, 2, 2), S)
    >>> bool(torch.allclose(S.T @ out.reshape(6, -1), torch.zeros(1, 4), atol=1e-5))
    True
    """

    def __init__(self, rank_rtol="deprecated"):
        super().__init__()
        if not (isinstance(rank_rtol, str) and rank_rtol == "deprecated"):
            rank_rtol = _check_real(
                rank_rtol, "rank_rtol", 0, 1, low_open=False, high_open=True
            )
            warnings.warn(
                "rank_rtol was deprecated in version 0.2 and will be removed in "
                "0.4; leave it out to use the package's rank rule "
                "(orthokit._linalg.RANK_RTOL) like every other estimator.",
                FutureWarning,
                stacklevel=2,
            )
        self.rank_rtol = rank_rtol

    def forward(self, x, metadata, target=None):
        """Return ``x`` with its batch projection on ``[1, S]`` removed.

        Parameters
        ----------
        x : torch.Tensor of shape (b, ...)
        metadata : torch.Tensor of shape (b, k)
        target : ignored

        Returns
        -------
        torch.Tensor of the shape of ``x``

        Raises
        ------
        ValueError
            If ``x`` or ``metadata`` hold NaN or infinity, in training and eval
            mode alike: no output row is ever silently NaN.
        """
        if x.ndim < 2:
            raise ValueError(
                f"x must be batch first with at least 2 dimensions, got shape "
                f"{tuple(x.shape)}."
            )
        b = x.shape[0]
        S = _batch_columns(metadata, b, "metadata", x)
        k = S.shape[1]
        if b == 0:
            return x.clone()
        if b <= k + 1:
            raise ValueError(
                f"Orthogonalize needs more rows in a batch than metadata columns + 1 "
                f"(b > k + 1); got b={b}, k={k}."
            )
        _check_features(x, "Orthogonalize")
        # Columns rescaled by powers of two: the span of the design, and the
        # projection, are unchanged, but metadata near 1e30 cannot hide the
        # intercept below the rank cutoff, nor features near 3e38 overflow Q^T Y.
        design = torch.cat([torch.ones_like(S[:, :1]), S], dim=1).to(torch.float64)
        design = design * _column_scale(design)
        if self.rank_rtol == "deprecated":
            basis = span_basis(design).to(x.dtype)
        else:
            basis, singular, _ = torch.linalg.svd(design, full_matrices=False)
            basis = basis[:, singular > self.rank_rtol * singular[0]].to(x.dtype)
        flat = x.reshape(b, -1)
        unit = _column_scale(flat)
        scaled = flat * unit
        return ((scaled - basis @ (basis.T @ scaled)) / unit).reshape(x.shape)
