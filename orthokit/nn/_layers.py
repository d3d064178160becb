"""Torch layers that regress metadata out of intermediate features.

Every layer takes a feature tensor ``x`` (batch first, any trailing shape,
flattened to ``b x d`` internally) and the batch metadata ``S`` (``b x k``,
without an intercept column, which the layers add). During training the
label(s) may be passed as ``target``: they only help estimate the regression
coefficients, their part is never subtracted, so group differences explained
by the label survive (docs/user_guide/torch_layers.rst, 'The maths').

The features, metadata and labels are checked for NaN and infinity: a batch
holding any is rejected with a ValueError naming the input, in training and
eval mode alike (a layer's output is never silently NaN; in eval mode too,
since :class:`Orthogonalize` mixes the rows of a batch and one NaN row
would spoil them all). Large finite values are rescaled internally by
powers of two (exact), so float32 metadata near 1e30 or features near 3e38
give the same answer as well-scaled ones. A layer with running state
(:class:`MetadataNorm`, :class:`RecursiveMetadataNorm`) computes a training
batch's update first and checks that it is finite: a batch whose update
overflows all the same is rejected with a ValueError and the state is left
exactly as it was. Metadata may be a tensor, an array or a
pandas/polars frame of numbers. A batch of 0 rows returns 0 rows and changes
no state.
``MetadataNormClassifier`` checks its input data before training.
"""

import math
from numbers import Real

import numpy as np
import torch
from torch import nn

from orthokit._linalg import rls_init, rls_update

__all__ = [
    "MetadataNorm",
    "MetadataSequential",
    "Orthogonalize",
    "PenaltyMetadataNorm",
    "RecursiveMetadataNorm",
]


def _n_features(n_features):
    """Return ``d`` from an int or a trailing shape such as ``(16, 28, 28)``."""
    shape = (n_features,) if isinstance(n_features, int) else tuple(n_features)
    if not shape or any(not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(
            f"n_features must be a positive int or a shape of positive ints, got "
            f"{n_features!r}."
        )
    return math.prod(shape)


def _check_count(value, name, minimum):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return value


def _check_real(value, name, low, high, *, low_open, high_open=False):
    """Check a float parameter: a real number, not NaN, within its interval."""
    valid = isinstance(value, Real) and not isinstance(value, bool)
    if valid:
        value = float(value)
        valid = (
            math.isfinite(value)
            and (value > low if low_open else value >= low)
            and (value < high if high_open else value <= high)
        )
    if not valid:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(
            f"{name} must be a finite number in {interval}, got {value!r}."
        )
    return value


def _column_scale(values):
    """Per-column powers of two bringing ``max |values|`` near 1 (no gradient).

    Multiplying by them is exact; the exponent is clipped so that each scale
    is finite in the dtype of ``values`` (see :func:`orthokit._linalg.
    power_of_two_scale`, its NumPy counterpart).
    """
    largest = values.detach().abs().amax(dim=0)
    largest = torch.where(largest > 0, largest, torch.ones_like(largest))
    exponent = (-torch.frexp(largest).exponent).clamp(
        max=math.floor(math.log2(torch.finfo(values.dtype).max))
    )
    return torch.ldexp(torch.ones_like(largest), exponent)


def _check_features(x, layer):
    """Raise the ValueError for a batch of features holding NaN or infinity."""
    if not torch.isfinite(x).all():
        raise ValueError(
            f"x contains NaN or infinity; the batch was rejected ({layer} rejects "
            "non-finite features in training and eval mode, its state left as it "
            "was)."
        )


def _as_columns(values, batch_size, name, like, width=None):
    """Check a batch of metadata or targets; return a ``b x width`` tensor."""
    if not torch.is_tensor(values):
        if hasattr(values, "to_numpy") and hasattr(values, "columns"):
            # Data frames: positions would be read as column labels.
            try:
                values = values.to_numpy().astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"{name} must hold numbers; encode categorical columns first "
                    f"({exc})."
                ) from None
        elif hasattr(values, "to_numpy"):  # a Series
            values = values.to_numpy()
        values = torch.as_tensor(values)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D or 2-D (batch, columns), got shape "
            f"{tuple(values.shape)}."
        )
    if values.shape[0] != batch_size:
        raise ValueError(
            f"{name} has {values.shape[0]} rows but the features have batch size "
            f"{batch_size}; they must match."
        )
    if width is not None and values.shape[1] != width:
        raise ValueError(
            f"{name} has {values.shape[1]} column(s) but the layer was built for "
            f"{width}."
        )
    values = values.to(device=like.device, dtype=like.dtype)
    if not torch.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return values


class _MetadataLayer(nn.Module):
    """Shared checks: flatten the features, validate metadata and targets."""

    def __init__(self, n_features, n_metadata, n_targets):
        super().__init__()
        self.n_features = _n_features(n_features)
        self.n_metadata = _check_count(n_metadata, "n_metadata", 1)
        self.n_targets = _check_count(n_targets, "n_targets", 0)

    @property
    def n_regressors(self):
        """Columns of the design matrix ``[1, S, y]``."""
        return 1 + self.n_metadata + self.n_targets

    def _flatten(self, x):
        if x.ndim < 2:
            raise ValueError(
                f"x must be batch first with at least 2 dimensions, got shape "
                f"{tuple(x.shape)}."
            )
        per_sample = math.prod(x.shape[1:])
        if per_sample != self.n_features:
            raise ValueError(
                f"x has {per_sample} features per sample (shape "
                f"{tuple(x.shape[1:])}) but the layer was built for "
                f"n_features={self.n_features}."
            )
        _check_features(x, type(self).__name__)
        return x.reshape(x.shape[0], per_sample)  # also for a batch of 0 rows

    def _reject_batch(self):
        """Raise the ValueError for a training batch whose update is not finite."""
        raise ValueError(
            "x holds values whose products overflow in this training batch; the "
            f"batch was rejected and the running state of {type(self).__name__} "
            "left as it was."
        )

    def _design(self, flat, metadata, target, *, need_target):
        """Return ``(S, M)``: metadata ``b x k`` and design ``[1, S(, y)]``."""
        b = flat.shape[0]
        S = _as_columns(metadata, b, "metadata", flat, self.n_metadata)
        blocks = [torch.ones_like(S[:, :1]), S]
        if self.training and self.n_targets:
            if target is None:
                if need_target:
                    raise ValueError(
                        f"{type(self).__name__} was built with n_targets="
                        f"{self.n_targets}: pass target=... during training."
                    )
            else:
                blocks.append(_as_columns(target, b, "target", flat, self.n_targets))
        return S, torch.cat(blocks, dim=1)

    def _subtract(self, flat, S, coef, x):
        """Return ``x - S @ coef[S rows]``: neither intercept nor target removed.

        Raises a ValueError, rather than return infinity, where the product
        overflows (metadata far larger than those the layer learned from).
        """
        rows = slice(1, 1 + self.n_metadata)
        out = flat - S @ coef[rows].to(flat.dtype)
        if not torch.isfinite(out).all():
            raise ValueError(
                "metadata (or x) of this batch are so far beyond those "
                f"{type(self).__name__} learned from that x - metadata @ coef "
                "overflows; the batch was rejected."
            )
        return out.reshape(x.shape)

    def extra_repr(self):
        return (
            f"n_features={self.n_features}, n_metadata={self.n_metadata}, "
            f"n_targets={self.n_targets}"
        )


class MetadataNorm(_MetadataLayer):
    """Metadata normalization (MDN, Lu et al. 2021).

    The regression of the features on ``[1, S, y]`` is estimated per batch in
    closed form, ``beta = (N / b) K M_b^T F_b`` with ``K = (M^T M)^-1``
    computed once on the whole training metadata (:meth:`set_metadata_kernel`);
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
        S = _as_columns(metadata, len(metadata), "metadata", like, self.n_metadata)
        blocks = [torch.ones_like(S[:, :1]), S]
        if self.n_targets:
            if target is None:
                raise ValueError(
                    f"MetadataNorm was built with n_targets={self.n_targets}: pass "
                    "the training labels as target."
                )
            blocks.append(
                _as_columns(target, S.shape[0], "target", like, self.n_targets)
            )
        M = torch.cat(blocks, dim=1)
        if M.shape[0] < M.shape[1]:
            raise ValueError(
                f"metadata has {M.shape[0]} rows; at least {M.shape[1]} are needed "
                "to estimate the metadata kernel."
            )
        # K = D (D M^T M D)^-1 D with D powers of two bringing each column near
        # 1: metadata near 1e30 or 1e-30 cannot fall below pinv's cutoff.
        unit = _column_scale(M)
        scaled = M * unit
        self.kernel.copy_(
            unit[:, None] * torch.linalg.pinv(scaled.T @ scaled, hermitian=True) * unit
        )
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


class PenaltyMetadataNorm(_MetadataLayer):
    """Penalty metadata normalization (P-MDN, Vento et al. 2022).

    ``beta`` is a trainable parameter. The layer returns ``x - S beta_S`` and
    stores the penalty ``||F - M beta||^2`` of its last call in ``penalty_``.
    Training alternates per batch (see :class:`MetadataNormClassifier`): a
    forward pass with the labels in ``M`` steps only ``beta`` on the penalty
    with its own optimizer, then a forward pass without labels steps the
    network on the task loss. The penalty is never added to the task loss.
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
        self.penalty_ = (flat - M @ beta[: M.shape[1]]).square().sum()
        return self._subtract(flat, S, beta, x)


class RecursiveMetadataNorm(_MetadataLayer):
    """Recursive metadata normalization (R-MDN).

    Recursive least squares of the features on ``[1, S, y]``, its state held
    as float64 buffers and updated under no-grad on every training batch
    (forgetting applied once per batch), frozen in eval mode; no gradient
    flows through ``beta``. Works with any batch size, including 1, and in
    continual learning (the state carries across stages). The update is
    :func:`orthokit._linalg.rls_update`, shared with ``RecursiveResidualizer``.

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


class Orthogonalize(nn.Module):
    """Project the batch onto the orthogonal complement of ``[1, S]``.

    ``Y <- Y - Q (Q^T Y)`` over the batch axis, with ``Q`` an orthonormal
    basis of the columns of ``[1, S_b]`` (Rügamer et al., Theorem 5). Placed after
    a ReLU, the activated output is orthogonal to ``span([1, S])``. It is a
    batch operation in training and eval alike, and needs more rows than
    ``k + 1``. Labels (``target``) are accepted and ignored, so the layer
    fits in a :class:`MetadataSequential` next to the others.

    Parameters
    ----------
    rank_rtol : float, default=1e-7
        Singular values of ``[1, S_b]`` below ``rank_rtol`` times the largest
        are dropped (collinear or constant metadata in a batch).

    Examples
    --------
    >>> import torch
    >>> from orthokit.nn import Orthogonalize
    >>> S = torch.arange(6.0)[:, None]
    >>> out = Orthogonalize()(torch.randn(6, 2, 2), S)
    >>> bool(torch.allclose(S.T @ out.reshape(6, -1), torch.zeros(1, 4), atol=1e-5))
    True
    """

    def __init__(self, rank_rtol=1e-7):
        super().__init__()
        self.rank_rtol = _check_real(
            rank_rtol, "rank_rtol", 0, 1, low_open=False, high_open=True
        )

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
        S = _as_columns(metadata, b, "metadata", x)
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
        # intercept below rank_rtol, nor features near 3e38 overflow Q^T Y.
        design = torch.cat([torch.ones_like(S[:, :1]), S], dim=1).to(torch.float64)
        basis, singular, _ = torch.linalg.svd(
            design * _column_scale(design), full_matrices=False
        )
        basis = basis[:, singular > self.rank_rtol * singular[0]].to(x.dtype)
        flat = x.reshape(b, -1)
        unit = _column_scale(flat)
        scaled = flat * unit
        return ((scaled - basis @ (basis.T @ scaled)) / unit).reshape(x.shape)


class MetadataSequential(nn.Sequential):
    """A sequential container that hands the metadata to the layers needing it.

    Called as ``model(x, metadata, target=None)``: the metadata layers of
    this module get ``(x, metadata, target)``, every other module gets ``x``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from orthokit.nn import MetadataSequential, Orthogonalize
    >>> model = MetadataSequential(nn.Linear(3, 4), nn.ReLU(), Orthogonalize())
    >>> tuple(model(torch.randn(10, 3), torch.randn(10, 2)).shape)
    (10, 4)
    """

    def forward(self, x, metadata, target=None):
        """Run the layers in order; see the class docstring."""
        for module in self:
            if isinstance(module, _MetadataLayer | Orthogonalize):
                x = module(x, metadata, target)
            else:
                x = module(x)
        return x
