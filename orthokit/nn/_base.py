"""What every metadata layer shares: parameter checks, batch checks, scaling.

Every layer takes a feature tensor ``x`` (batch first, any trailing shape,
flattened to ``b x d`` internally) and the batch metadata ``S`` (``b x k``,
without an intercept column, which the layers add). During training the
label(s) may be passed as ``target``: they only help estimate the regression
coefficients, their part is never subtracted, so group differences explained
by the label survive (docs/user_guide/torch_layers.rst, 'The maths').

The features, metadata and labels are checked for NaN and infinity: a batch
holding any is rejected with a ValueError naming the input, in training and
eval mode alike (a layer's output is never silently NaN; in eval mode too,
since :class:`~orthokit.nn.Orthogonalize` mixes the rows of a batch and one
NaN row would spoil them all). Large finite values are rescaled internally by
powers of two (exact), so float32 metadata near 1e30 or features near 3e38
give the same answer as well-scaled ones. A layer with running state
(:class:`~orthokit.nn.MetadataNorm`, :class:`~orthokit.nn.RecursiveMetadataNorm`)
computes a training batch's update first and checks that it is finite: a batch
whose update overflows all the same is rejected with a ValueError and the state
is left exactly as it was. Metadata and targets may be tensors, or anything
:func:`orthokit._inputs._numeric.read_numeric` reads (arrays, pandas, polars
or pyarrow frames of numbers). A batch of 0 rows returns 0 rows and changes no
state. Rank decisions are :mod:`orthokit.nn._rank`'s.
"""

import math
from numbers import Real

import torch
from torch import nn

from orthokit._inputs._numeric import read_numeric


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


def _all_finite(values):
    """Whether every value is finite: one sum, the full check only if it overflows.

    NaN and infinity make the sum non-finite, so a finite sum settles it
    without a boolean copy of the batch.
    """
    return bool(torch.isfinite(values.sum())) or bool(torch.isfinite(values).all())


def _check_features(x, layer):
    """Raise the ValueError for a batch of features holding NaN or infinity."""
    if not _all_finite(x):
        raise ValueError(
            f"x contains NaN or infinity; the batch was rejected ({layer} rejects "
            "non-finite features in training and eval mode, its state left as it "
            "was)."
        )


def _batch_columns(values, n_rows, name, like, width=None):
    """Return a batch of metadata or targets as an ``n_rows x width`` tensor.

    Tensors are taken as they are; anything else is read by
    :func:`~orthokit._inputs._numeric.read_numeric`. ``n_rows=None`` skips the
    row check. The result has the device and dtype of ``like``.
    """
    if not torch.is_tensor(values):
        values = torch.from_numpy(read_numeric(values, name, allow_empty=True)[0])
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(
            f"{name} must be 1-D or 2-D (batch, columns), got shape "
            f"{tuple(values.shape)}."
        )
    if n_rows is not None and values.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {values.shape[0]} rows but x has {n_rows}; they must match."
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
        S = _batch_columns(metadata, b, "metadata", flat, self.n_metadata)
        blocks = [torch.ones_like(S[:, :1]), S]
        if self.training and self.n_targets:
            if target is None:
                if need_target:
                    raise ValueError(
                        f"{type(self).__name__} was built with n_targets="
                        f"{self.n_targets}: pass target=... during training."
                    )
            else:
                blocks.append(_batch_columns(target, b, "target", flat, self.n_targets))
        return S, torch.cat(blocks, dim=1)

    def _subtract(self, flat, S, coef, x):
        """Return ``x - S @ coef[S rows]``: neither intercept nor target removed.

        Raises a ValueError, rather than return infinity, where the product
        overflows (metadata far larger than those the layer learned from).
        """
        rows = slice(1, 1 + self.n_metadata)
        out = flat - S @ coef[rows].to(flat.dtype)
        if not _all_finite(out):
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
