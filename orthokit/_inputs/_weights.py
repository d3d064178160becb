"""Sample weights, through scikit-learn's ``_check_sample_weight``."""

import numpy as np

from orthokit._sklearn import _check_sample_weight


def read_weights(sample_weight, n_samples):
    """Return non-negative float64 weights with largest weight 1.

    scikit-learn's checks (shape, numeric), then finiteness, sign and a
    positive total; the rescaling by the largest weight is exact in ratios
    and keeps sums of weights from overflowing.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), scalar or None
    n_samples : int

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> read_weights([1, 3], 2).tolist()
    [0.3333333333333333, 1.0]
    """
    if sample_weight is not None and np.asarray(sample_weight).dtype.kind not in "biuf":
        raise TypeError(
            "sample_weight must be numeric, got an array of dtype "
            f"{np.asarray(sample_weight).dtype}."
        )
    try:
        weights = _check_sample_weight(
            sample_weight,
            np.empty((n_samples, 0)),
            dtype=np.float64,
            allow_all_zero_weights=True,
        )
    except ValueError as error:
        raise ValueError(f"invalid sample_weight: {error}") from None
    if not np.isfinite(weights).all():
        raise ValueError("sample_weight contains NaN or infinity.")
    if (weights < 0).any():
        raise ValueError(
            f"sample_weight must be non-negative; found {int((weights < 0).sum())} "
            "negative value(s)."
        )
    largest = weights.max(initial=0.0)
    if not largest > 0:
        raise ValueError(
            "sample_weight sums to zero: at least one weight must be positive."
        )
    return weights / largest
