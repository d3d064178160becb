"""Units-free statement of the constrained GLM problem: column statistics, target.

The solvers work on standardized predictors, unit-scale protected columns and a
target brought to unit scale, whatever the units of the data: a column
``1e15 + N(0, 1)`` is centred before it is scaled (two passes, so the offset
does not eat its digits), Gaussian targets ``1e4 y`` or ``y + 1e6`` and Poisson
counts near ``5e4`` become problems of size one. Each rescaling is exact: the
solution is mapped back to the original units afterwards. The design itself
(predictors and protected basis) is built in
:mod:`orthokit.linear_model._standard_design`.
"""

from dataclasses import dataclass

import numpy as np

from orthokit._linalg import power_of_two_scale

#: A centred column is constant when its weighted standard deviation is within
#: this many rounding errors of its largest centred value (see
#: :func:`constant_columns`).
_CONSTANT_ULPS = 32.0

#: Magnitudes of predictors whose weighted squares (and those of their
#: deviations from the mean) neither overflow nor underflow.
_SAFE_RANGE = (2.0**-300, 2.0**300)


def centre_and_scale(A, w, *, centre=True):
    """Weighted column means and standard deviations, in two exact passes.

    The columns are first multiplied by powers of two (exact) so that squares
    neither overflow nor underflow. The mean is returned in two parts: ``high``
    (the first pass, a float such that ``A - high`` is computed without
    cancellation error) and ``low`` (the mean of ``A - high``), so that
    ``(A - high) - low`` is centred to full precision even for columns like
    ``1e15 + N(0, 1)`` whose mean is not representable to their spread.

    Parameters
    ----------
    A : ndarray of shape (n, k)
    w : ndarray of shape (n,)
        Non-negative weights summing to one.
    centre : bool, default=True
        If ``False`` the mean is zero and the scale is the root mean square.

    Returns
    -------
    high, low : ndarray of shape (k,)
    scale : ndarray of shape (k,)
        Standard deviation (root mean square if not centred); 1 for constant
        columns.
    constant : ndarray of bool of shape (k,)
        Columns constant in the weighted sense (see :func:`constant_columns`).
    standard : ndarray of shape (n, k)
        ``(A - high - low) / scale``, computed on the power-of-two rescaled
        columns, so that it is exact even where ``scale`` itself underflows.
    """
    power = power_of_two_scale(A)
    scaled = A * power
    high = w @ scaled if centre else np.zeros(A.shape[1])
    deviation = scaled - high
    low = w @ deviation if centre else np.zeros(A.shape[1])
    deviation -= low
    spread = np.sqrt(w @ deviation**2)
    constant = constant_columns(deviation, spread, centre)
    spread[constant] = 1.0
    return high / power, low / power, spread / power, constant, deviation / spread


def constant_columns(centred, spread, centred_already=True):
    """Columns that carry no variation, decided after centring.

    A column is constant when all its centred values are equal (it was constant
    before centring), or when its weighted spread is within
    :data:`_CONSTANT_ULPS` rounding errors of its largest centred value (it
    varies only on rows of zero weight). The decision is made on the centred
    column, so an offset (``1e15 + N(0, 1)``) does not make a varying column
    constant.

    Parameters
    ----------
    centred : ndarray of shape (n, k)
        The columns minus their weighted means (or not centred).
    spread : ndarray of shape (k,)
        Weighted root mean square of ``centred``.
    centred_already : bool, default=True
        Whether ``centred`` was centred (otherwise only all-zero columns, or
        columns nonzero only on rows of zero weight, are constant).

    Returns
    -------
    ndarray of bool of shape (k,)
    """
    if centred.shape[0] == 0:
        return np.ones(centred.shape[1], dtype=bool)
    top, bottom = centred.max(axis=0), centred.min(axis=0)
    largest = np.maximum(top, -bottom)
    return ((top == bottom) & centred_already) | (
        spread <= _CONSTANT_ULPS * np.finfo(float).eps * largest
    )


@dataclass
class TargetScaling:
    """An exact change of units of the target.

    The solver fits ``y' = (y - shift) / scale`` with linear predictor
    ``η' = X₁Θ' + offset`` and the original coefficients are
    ``Θ = theta_factor · Θ'``; multipliers scale by ``multiplier_factor`` and
    the ridge penalty of the scaled problem is ``alpha_factor · α``.
    """

    y: np.ndarray
    offset: float
    theta_factor: float
    multiplier_factor: float
    alpha_factor: float


def scale_target(family_name, Y, w):
    """Return the :class:`TargetScaling` that brings ``Y`` to unit scale.

    Gaussian: ``y' = (y - ȳ) / sd(y)``, ``η' = η / sd - ȳ / sd``, so
    ``Θ = sd · Θ'`` and ``λ = sd · λ'`` (the loss scales by ``sd²`` and the
    constraints by ``sd``). Poisson: ``y' = y / ȳ`` and ``μ' = μ / ȳ``, i.e. an
    offset ``-log ȳ`` with ``Θ`` unchanged; the loss and the constraints both
    scale by ``ȳ``, so the multipliers are unchanged and the ridge of the
    scaled problem is ``α / ȳ``. The classification
    families are already unit scale.

    Parameters
    ----------
    family_name : str
    Y : ndarray of shape (n, m)
    w : ndarray of shape (n,)
        Weights summing to one.

    Returns
    -------
    TargetScaling
    """
    if family_name == "gaussian":
        high, low, scale, _, standard = centre_and_scale(Y, w)
        shift, factor = float(high[0] + low[0]), float(scale[0])
        return TargetScaling(standard, -shift / factor, factor, factor, 1.0)
    if family_name == "poisson":
        mean = float(w @ Y[:, 0])
        return TargetScaling(Y / mean, -float(np.log(mean)), 1.0, 1.0, 1.0 / mean)
    return TargetScaling(Y, 0.0, 1.0, 1.0, 1.0)
