"""Penalty metadata normalization (P-MDN): a trainable regression and its penalty."""

import torch
from torch import nn

from orthokit.nn._base import _MetadataLayer

__all__ = ["PenaltyMetadataNorm"]


class PenaltyMetadataNorm(_MetadataLayer):
    """Penalty metadata normalization (P-MDN, Vento et al. 2022).

    ``beta`` is a trainable parameter. The layer returns ``x - S beta_S`` and
    stores the penalty ``||F - M beta||^2`` of its last call in ``penalty_``.
    Training takes one forward pass per batch with the labels in ``M`` (see
    :class:`MetadataNormClassifier`): its penalty steps only ``beta``, with
    its own optimizer, and its task loss steps the rest of the network. The
    gradient of ``penalty_`` reaches ``beta`` alone and that of the output
    reaches the features alone, so one backward pass of ``loss + penalty_``
    gives each its own objective's gradient.
    Place a ``LayerNorm`` before the layer to stabilise training.

    Parameters
    ----------
    n_features : int or tuple of int
        Features per sample, or their trailing shape.
    n_metadata : int
        Number of metadata columns ``k``.
    n_targets : int, default=0
        Label columns used in the penalty during training.

    Attributes
    ----------
    beta : torch.nn.Parameter of shape (1 + k + n_targets, d)
        Rows: intercept, metadata, labels.
    penalty_ : torch.Tensor or None
        Penalty of the last forward call.

    Examples
    --------
    >>> import torch
    >>> from orthokit.nn import PenaltyMetadataNorm
    >>> layer = PenaltyMetadataNorm(4, 2)
    >>> out = layer(torch.ones(5, 4), torch.zeros(5, 2))
    >>> tuple(out.shape), layer.penalty_.item()
    ((5, 4), 20.0)
    """

    def __init__(self, n_features, n_metadata, *, n_targets=0):
        super().__init__(n_features, n_metadata, n_targets)
        self.beta = nn.Parameter(torch.zeros(self.n_regressors, self.n_features))
        self.penalty_ = None

    def forward(self, x, metadata, target=None):
        """Return ``x - S beta_S``; store ``||F - M beta||^2`` in ``penalty_``.

        Parameters
        ----------
        x : torch.Tensor of shape (b, ...)
        metadata : torch.Tensor of shape (b, k)
        target : torch.Tensor of shape (b,) or (b, n_targets), optional
            Labels, used in the penalty in training only.

        Returns
        -------
        torch.Tensor of the shape of ``x``

        Raises
        ------
        ValueError
            If ``x`` or ``metadata`` hold NaN or infinity, in training and eval
            mode alike: no output row is ever silently NaN.
        """
        flat = self._flatten(x)
        S, M = self._design(flat, metadata, target, need_target=False)
        beta = self.beta.to(flat.dtype)
        # The task sees beta as a constant and the penalty sees the features
        # as constants: one backward pass of loss + penalty then moves the
        # network on the task alone and beta on the penalty alone.
        out = self._subtract(flat, S, beta.detach(), x)
        self.penalty_ = (flat.detach() - M @ beta[: M.shape[1]]).square().sum()
        return out
