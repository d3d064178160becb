"""Recursive metadata normalization (R-MDN): recursive least squares per batch."""

import math

import torch

from orthokit._rls import rls_init, rls_update
from orthokit.nn._base import _check_real, _MetadataLayer

__all__ = ["RecursiveMetadataNorm"]


class RecursiveMetadataNorm(_MetadataLayer):
    """Recursive metadata normalization (R-MDN).

    Recursive least squares of the features on ``[1, S, y]``, its state held
    as float64 buffers and updated under no-grad on every training batch
    (forgetting applied once per batch), frozen in eval mode; no gradient
    flows through ``beta``. Works with any batch size, including 1, and in
    continual learning (the state carries across stages). The update is
    :func:`orthokit._rls.rls_update`, shared with ``RecursiveResidualizer``.

    Parameters
    ----------
    n_features : int or tuple of int
        Features per sample, or their trailing shape.
    n_metadata : int
        Number of metadata columns ``k``.
    n_targets : int, default=0
        Label columns passed as ``target`` during training.
    forgetting : float, default=0.999
        Forgetting factor ``lambda`` in ``(0, 1]``.
    delta : float, default=0.01
        Initial ridge: ``R = delta I``, ``P = I / delta``.
    process_noise : float, default=1e-4
        Added to the diagonal of ``P`` after each update, for stability
        under drift.

    Attributes
    ----------
    info, cov : torch.Tensor of shape (1 + k + n_targets,) * 2
        Information matrix ``R`` and its inverse ``P`` (float64 buffers).
    coef : torch.Tensor of shape (1 + k + n_targets, d)
        Current coefficients (float64 buffer).
    num_batches_tracked : torch.Tensor
        Training batches seen.

    Examples
    --------
    >>> import torch
    >>> from orthokit.nn import RecursiveMetadataNorm
    >>> _ = torch.manual_seed(0)
    >>> layer = RecursiveMetadataNorm(3, 1, forgetting=1.0, process_noise=0.0)
    >>> for _ in range(20):
    ...     S = torch.randn(8, 1)
    ...     _ = layer(2 * S + torch.randn(8, 3) / 100, S)
    >>> [round(v, 2) for v in layer.coef[1].tolist()]
    [2.0, 2.0, 2.0]
    """

    _state = ("info", "cov", "coef")

    def __init__(
        self,
        n_features,
        n_metadata,
        *,
        n_targets=0,
        forgetting=0.999,
        delta=0.01,
        process_noise=1e-4,
    ):
        super().__init__(n_features, n_metadata, n_targets)
        self.forgetting = _check_real(forgetting, "forgetting", 0, 1, low_open=True)
        self.delta = _check_real(delta, "delta", 0, math.inf, low_open=True)
        self.process_noise = _check_real(
            process_noise, "process_noise", 0, math.inf, low_open=False
        )
        info, cov, coef = rls_init(
            self.n_regressors, self.n_features, delta, like=torch.empty(0)
        )
        self.register_buffer("info", info)
        self.register_buffer("cov", cov)
        self.register_buffer("coef", coef)
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def _apply(self, fn, recurse=True):
        # module.float()/half() must not round the RLS state: it drifts in float32.
        state = {name: getattr(self, name) for name in self._state}
        super()._apply(fn, recurse)
        for name, old in state.items():
            new = getattr(self, name)
            if new.dtype != torch.float64:
                setattr(self, name, old.to(device=new.device))
        return self

    def reset_state(self):
        """Forget everything learned: back to the initial RLS state."""
        info, cov, coef = rls_init(
            self.n_regressors, self.n_features, self.delta, like=self.coef
        )
        self.info, self.cov, self.coef = info, cov, coef
        self.num_batches_tracked.zero_()

    def forward(self, x, metadata, target=None):
        """Update the RLS state (training) and return the residual features.

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
        if self.training and flat.shape[0]:
            with torch.no_grad():
                state = rls_update(
                    self.info,
                    self.cov,
                    self.coef,
                    M,
                    flat.detach(),
                    forgetting=self.forgetting,
                    process_noise=self.process_noise,
                )
                # One check of the whole new state: NaN features or products
                # that overflow never reach the buffers.
                if not torch.isfinite(
                    torch.cat([part.reshape(-1) for part in state])
                ).all():
                    self._reject_batch()
                self.info, self.cov, self.coef = state
                self.num_batches_tracked += 1
        elif self.num_batches_tracked == 0:
            raise ValueError(
                "RecursiveMetadataNorm has seen no training batch: its state is "
                "empty. Train it (module.train()) before calling it in eval mode."
            )
        return self._subtract(flat, S, self.coef, x)

    def extra_repr(self):
        return (
            f"{super().extra_repr()}, forgetting={self.forgetting}, "
            f"delta={self.delta}, process_noise={self.process_noise}"
        )
