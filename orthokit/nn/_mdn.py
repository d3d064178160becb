"""Metadata normalization (MDN): a closed-form regression per training batch."""

import torch

from orthokit.nn._base import _batch_columns, _check_real, _column_scale, _MetadataLayer
from orthokit.nn._rank import pinv_gram

__all__ = ["MetadataNorm"]


class MetadataNorm(_MetadataLayer):
    """Metadata normalization (MDN, Lu et al. 2021).

    The regression of the features on ``[1, S, y]`` is estimated per batch in
    closed form, ``beta = (N / b) K M_b^T F_b`` with ``K = (M^T M)^-1``
    computed once on the whole training metadata (:meth:`set_metadata_kernel`;
    a pseudo-inverse by the package's rank rule where metadata are collinear);
    gradients flow through ``beta``. A running average of ``beta`` (momentum
    0.1) is used in eval mode. The actual batch size ``b`` is used, so a short
    last batch is scaled correctly. Unstable for small batches: see
    :class:`PenaltyMetadataNorm` and :class:`RecursiveMetadataNorm`.

    Parameters
    ----------
    n_features : int or tuple of int
        Features per sample, or their trailing shape (e.g. ``(16, 28, 28)``).
    n_metadata : int
        Number of metadata columns ``k`` (without intercept).
    n_targets : int, default=0
        Number of label columns passed as ``target`` during training (1 for a
        binary label); they help estimate ``beta`` and are never subtracted.
    momentum : float, default=0.1
        Weight of the newest batch in the running ``beta``; the first batch
        sets it outright.

    Attributes
    ----------
    kernel : torch.Tensor of shape (k + 1 + n_targets,) * 2
        ``(M^T M)^-1`` of the training metadata (float64 buffer).
    n_samples : torch.Tensor
        ``N``, the number of training rows behind ``kernel``.
    running_coef : torch.Tensor of shape (1 + k + n_targets, d)
        Running average of the batch coefficients, used in eval mode.
    num_batches_tracked : torch.Tensor
        Training batches seen.

    Examples
    --------
    >>> import torch
    >>> from orthokit.nn import MetadataNorm
    >>> _ = torch.manual_seed(0)
    >>> S = torch.randn(64, 1)
    >>> x = 3 * S + torch.randn(64, 8)
    >>> layer = MetadataNorm(8, 1)
    >>> layer = layer.set_metadata_kernel(S)
    >>> out = layer(x, S)
    >>> bool((S.T @ (out - out.mean(0))).abs().max() < 1e-3)
    True
    """

    def __init__(self, n_features, n_metadata, *, n_targets=0, momentum=0.1):
        super().__init__(n_features, n_metadata, n_targets)
        self.momentum = _check_real(momentum, "momentum", 0, 1, low_open=True)
        p = self.n_regressors
        self.register_buffer("kernel", torch.zeros(p, p, dtype=torch.float64))
        self.register_buffer("n_samples", torch.zeros((), dtype=torch.float64))
        self.register_buffer("running_coef", torch.zeros(p, self.n_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def set_metadata_kernel(self, metadata, target=None):
        """Compute ``K = (M^T M)^-1`` on the whole training metadata.

        Parameters
        ----------
        metadata : tensor or array of shape (N, k)
        target : tensor or array of shape (N,) or (N, n_targets), optional
            Required when the layer was built with ``n_targets > 0``.

        Returns
        -------
        self
        """
        like = self.kernel
        S = _batch_columns(metadata, None, "metadata", like, self.n_metadata)
        blocks = [torch.ones_like(S[:, :1]), S]
        if self.n_targets:
            if target is None:
                raise ValueError(
                    f"MetadataNorm was built with n_targets={self.n_targets}: pass "
                    "the training labels as target."
                )
            blocks.append(
                _batch_columns(target, S.shape[0], "target", like, self.n_targets)
            )
        M = torch.cat(blocks, dim=1)
        if M.shape[0] < M.shape[1]:
            raise ValueError(
                f"metadata has {M.shape[0]} rows; at least {M.shape[1]} are needed "
                "to estimate the metadata kernel."
            )
        # K = D (D M^T M D)^+ D with D powers of two bringing each column near
        # 1: metadata near 1e30 or 1e-30 cannot fall below the rank cutoff,
        # which is the package's rule (collinear metadata: minimum norm).
        unit = _column_scale(M)
        scaled = M * unit
        self.kernel.copy_(unit[:, None] * pinv_gram(scaled.T @ scaled) * unit)
        self.n_samples.fill_(M.shape[0])
        return self

    def forward(self, x, metadata, target=None):
        """Return the features with the metadata effect removed.

        Parameters
        ----------
        x : torch.Tensor of shape (b, ...)
        metadata : torch.Tensor of shape (b, k)
        target : torch.Tensor of shape (b,) or (b, n_targets), optional
            Labels, used in training only.

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
        S, M = self._design(flat, metadata, target, need_target=True)
        if not self.training:
            if self.num_batches_tracked == 0:
                raise ValueError(
                    "MetadataNorm has seen no training batch: train it before "
                    "calling it in eval mode."
                )
            return self._subtract(flat, S, self.running_coef, x)
        if self.n_samples == 0:
            raise ValueError(
                "MetadataNorm needs the training metadata kernel: call "
                "set_metadata_kernel(metadata, target) before training."
            )
        if flat.shape[0] == 0:
            return x.clone()
        # beta = (N / b) K M^T F: F rescaled per column by powers of two, K
        # applied in float64, so metadata near 1e30 or features near 3e38 in
        # float32 neither overflow nor underflow the statistics.
        unit = _column_scale(flat)
        stats = (M.T @ (flat * unit)).to(self.kernel.dtype)
        scale = self.n_samples.item() / flat.shape[0]
        coef = ((self.kernel @ stats) * (scale / unit.to(stats.dtype))).to(flat.dtype)
        out = self._subtract(flat, S, coef, x)  # may reject: before the update
        with torch.no_grad():
            new_coef = coef.detach().to(self.running_coef.dtype)
            if not torch.isfinite(new_coef).all():
                self._reject_batch()
            weight = 1.0 if self.num_batches_tracked == 0 else self.momentum
            self.running_coef.lerp_(new_coef, weight)
            self.num_batches_tracked += 1
        return out
