"""Standardized predictors and the whitened basis the solvers work in.

:func:`standardize` centres and scales the predictors (two passes, so an offset
like ``1e15 + N(0, 1)`` keeps its digits) and the protected columns, and
builds an orthonormal basis of the protected span;
:func:`principal_components` whitens the standardized predictors. The column
statistics and the target's units are in :mod:`orthokit.linear_model._scaling`.
"""

from dataclasses import dataclass

import numpy as np

from orthokit._linalg import (
    kept_eigenvalues,
    range_power_of_two,
    whitening_basis,
)
from orthokit.linear_model._row_blocks import _GRAM_ROWS
from orthokit.linear_model._scaling import (
    _CONSTANT_ULPS,
    _SAFE_RANGE,
    centre_and_scale,
)

#: Smallest ratio of the kept eigenvalues of the predictors' Gram matrix at
#: which the solvers work on ``X_std`` and apply the whitening to their small
#: results: a Hessian ``AᵀHA`` then loses at most 1e6 rounding errors (2e-10).
_IMPLICIT_RANGE = 1e-6

#: Largest ratio of a predictor's weighted mean to its standard deviation at
#: which the solvers read the predictors in place, the centring folded into
#: the intercept: products with uncentred columns then lose at most this many
#: rounding errors (2e-14). Larger offsets (``1e15 + N(0, 1)``) are centred in
#: a copy.
_IN_PLACE_OFFSET = 1e2

#: Largest such ratio at which the Gram matrix of the predictors read in place
#: is taken from their raw Gram matrix by level sums (indicator columns): the
#: centring afterwards then loses at most its square (100) in rounding errors.
_ONE_HOT_OFFSET = 1e1


@dataclass
class StandardDesign:
    """Standardized predictors and an orthonormal basis of the protected span.

    Attributes
    ----------
    X1 : ndarray of shape (n, lead + p) or None
        A leading column of ones (with an intercept, ``lead = 1``), then the
        standardized predictors ``(X - x_high - x_low) / x_scale``; constant
        columns are exactly zero. ``None`` where the predictors are read in
        place (see ``predictors``).
    lead : int
        Number of leading columns of ones (0 or 1).
    gram : ndarray of shape (lead + p, lead + p)
        ``X1ᵀ W X1``.
    x_high, x_low, x_scale : ndarray of shape (p,)
        The weighted mean in two parts (see :func:`centre_and_scale`).
    basis : ndarray of shape (n, r)
        ``S̃ basis_map``, orthonormal in the weighted inner product.
    basis_map : ndarray of shape (k, r)
        Maps the centred protected columns (original units) to ``basis``.
    s_centred : ndarray of shape (n, k)
        The protected columns minus their weighted means.
    basis_cross : ndarray of shape (r, p)
        ``basisᵀ W X_std`` (``None`` where not computed).
    predictors : ndarray of shape (n, p) or None
        The predictors as given, when ``X1`` is not formed (``None``): their
        offsets are small enough (see :data:`_IN_PLACE_OFFSET`) that the
        solvers read them in place, with the centring and scaling folded into
        the transform of :func:`principal_components`.
    """

    X1: np.ndarray
    lead: int
    gram: np.ndarray
    x_high: np.ndarray
    x_low: np.ndarray
    x_scale: np.ndarray
    basis: np.ndarray
    basis_map: np.ndarray
    s_centred: np.ndarray
    basis_cross: np.ndarray | None = None
    predictors: np.ndarray | None = None

    def standard_product(self, Theta):
        """Return ``[1, X_std] Θ`` (``Θ`` of shape ``(lead + p, m)``)."""
        if self.X1 is not None:
            return self.X1 @ Theta
        coef = self.unstandardize(Theta)
        return self.predictors @ coef[self.lead :] + coef[: self.lead].sum(axis=0)

    def unstandardize(self, Theta):
        """Return ``M Θ``, with ``[1, X] M = [1, X_std]`` (an intercept taken in)."""
        slopes = Theta[self.lead :] / self.x_scale[:, None]
        if not self.lead:
            return slopes
        centre = self.x_high + self.x_low
        return np.vstack([Theta[:1] - centre @ slopes, slopes])


def standardize(predictors, S, w, names, fit_intercept, one_hot=None):
    """Return the :class:`StandardDesign` of a fit.

    The predictors are centred in two passes (as in :func:`centre_and_scale`)
    and scaled by the square roots of the diagonal of their weighted Gram
    matrix, which is kept: it is the first Hessian of the solvers and the
    matrix of the collinearity check. Where their offsets allow, they are read
    in place by blocks of rows and nothing of the size of the data is written;
    otherwise they are written once into the standardized design matrix.

    Parameters
    ----------
    predictors : ndarray of shape (n, p)
    S : ndarray of shape (n, k)
        Encoded protected columns.
    w : ndarray of shape (n,)
        Weights summing to one.
    names : list of str
        Names of the protected columns, for messages.
    fit_intercept : bool
        Centre the predictors and lead with a column of ones (otherwise they
        are only scaled).
    one_hot : OneHotGram, default=None
        The predictors' indicator columns (with one column of ones), for
        their weighted Gram matrix by level sums where they are read in place.

    Returns
    -------
    StandardDesign

    Raises
    ------
    ValueError
        If a protected column is constant (in the weighted sense), or so small
        that the multipliers of its constraints overflow.
    """
    # Column-major: the few protected columns and every column of the design
    # matrix are contiguous, so that column-wise updates and the products of
    # the solvers run over long contiguous loops.
    S = np.asfortranarray(S)
    s_high, s_low, s_scale, s_constant, s_std = centre_and_scale(S, w)
    if s_constant.any():
        bad = [names[j] for j in np.flatnonzero(s_constant)]
        raise ValueError(
            f"protected column(s) {bad} are constant; a constant column carries no "
            "information and cannot be regressed out or constrained. Drop it."
        )
    s_centred = (S - s_high) - s_low
    basis_map = whitening_basis((s_std * w[:, None]).T @ s_std, names)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        original_map = basis_map / s_scale[:, None]
    tiny = ~np.isfinite(original_map).all(axis=1)
    if tiny.any():
        bad = [names[j] for j in np.flatnonzero(tiny)]
        raise ValueError(
            f"protected column(s) {bad} are too small for float64 (largest "
            f"magnitude {np.abs(S[:, tiny]).max():.3g}): the multipliers of their "
            "constraints (multipliers_) would overflow. Multiply them by a "
            "constant, e.g. 1e300; the fit does not depend on their scale."
        )
    basis = np.asfortranarray(s_std @ basis_map)
    in_place = _in_place_predictors(predictors, w, fit_intercept, basis, one_hot)
    if in_place is not None:
        return StandardDesign(
            None, int(fit_intercept), *in_place[:4], basis=basis,
            basis_map=original_map, s_centred=s_centred, basis_cross=in_place[4],
            predictors=predictors,
        )  # fmt: skip
    X1, gram, high, low, spread, cross = _standard_predictors(
        predictors, w, fit_intercept, basis
    )
    return StandardDesign(
        X1, int(fit_intercept), gram, high, low, spread, basis, original_map,
        s_centred, cross,
    )  # fmt: skip


def _in_place_predictors(predictors, w, fit_intercept, basis, one_hot=None):
    """Return ``(gram, high, low, scale, basis_cross)`` without copying the predictors.

    The statistics of :func:`_standard_predictors`, from the same three passes
    and the same arithmetic on each block of rows, but the standardized block
    is a temporary of a few thousand rows: nothing of the size of the data is
    written. ``None`` where the predictors need the copy: columns that need a
    power-of-two rescaling, a second pass for their spread, or whose mean is
    more than :data:`_IN_PLACE_OFFSET` standard deviations from zero; columns
    that may be constant; predictors that are not float64 or more columns than
    rows. With ``one_hot`` (an intercept, offsets below :data:`_ONE_HOT_OFFSET`)
    the third pass is replaced by the Gram matrix of the raw predictors by
    level sums, standardized afterwards, and one product with the basis.
    """
    n, p = predictors.shape
    if predictors.dtype != np.float64 or p >= n or p == 0:
        return None
    lead = int(fit_intercept)
    blocks = [slice(start, start + _GRAM_ROWS) for start in range(0, n, _GRAM_ROWS)]
    top, bottom, high = np.zeros(p), np.zeros(p), np.zeros(p)
    for rows in blocks:
        block = predictors[rows]
        np.maximum(top, block.max(axis=0), out=top)
        np.minimum(bottom, block.min(axis=0), out=bottom)
        if fit_intercept:
            high += w[rows] @ block
    largest = np.maximum(top, -bottom)
    if not np.all((largest > _SAFE_RANGE[0]) & (largest < _SAFE_RANGE[1])):
        return None
    low, square = np.zeros(p), np.zeros(p)
    for rows in blocks:
        block = predictors[rows] - high if fit_intercept else predictors[rows]
        if fit_intercept:
            low += w[rows] @ block
        square += w[rows] @ block**2
    spread = np.sqrt(np.maximum(square - low**2, 0.0))
    # The centred range is bounded by the first pass's (no second min and max
    # over row-major blocks): a column that passes the constant-column test
    # against the bound passes it against the range; one that may not takes
    # the copy, where the test is exact.
    centred = np.maximum(top - high, high - bottom) + np.abs(low)
    if (
        np.any(spread <= 2 * _CONSTANT_ULPS * np.finfo(float).eps * centred)
        or np.any(np.abs(low) > 1e-4 * spread)
        or np.any(np.abs(high + low) > _IN_PLACE_OFFSET * spread)
    ):
        return None
    if (
        one_hot is not None
        and fit_intercept
        and np.all(np.abs(high + low) <= _ONE_HOT_OFFSET * spread)
    ):
        return _standard_gram(predictors, w, basis, one_hot, high, low, spread)
    root = np.sqrt(w)
    gram = np.zeros((lead + p, lead + p))
    cross = np.zeros((p, basis.shape[1]))
    # The standardized block has the layout of the predictors (row-major, or
    # transposed for column-major ones, a DataFrame's values), so that the
    # standardization copies without a transposition.
    columns = predictors.flags.f_contiguous and not predictors.flags.c_contiguous
    size = min(_GRAM_ROWS, n)
    standard = np.empty((lead + p, size)) if columns else np.empty((size, lead + p)).T
    standard[:lead] = 1.0
    for rows in blocks:
        size = len(range(*rows.indices(n)))
        block = standard[lead:, :size]
        np.subtract(predictors[rows].T, high[:, None], out=block)
        block -= low[:, None]
        block /= spread[:, None]
        weighted = standard[:, :size] * root[rows]
        gram += weighted @ weighted.T
        cross += block @ (basis[rows] * w[rows, None])
    return gram, high, low, spread, cross.T


def _standard_gram(predictors, w, basis, one_hot, high, low, spread):
    """Return :func:`_in_place_predictors`'s answer from the raw Gram matrix.

    ``[1, X_std] = [1, X] M`` with ``M`` the centring and scaling, so the
    standardized Gram matrix is ``Mᵀ ([1, X]ᵀ W [1, X]) M``; the raw one comes
    from :class:`~orthokit.linear_model._one_hot.OneHotGram` (level sums), and
    with offsets below :data:`_ONE_HOT_OFFSET` standard deviations the
    centring afterwards loses at most their square's worth of rounding
    errors (1e-14). ``basisᵀ W X_std`` likewise from ``basisᵀ W X``.
    """
    p = predictors.shape[1]
    centre = high + low
    M = np.zeros((1 + p, 1 + p))
    M[0, 0] = 1.0
    M[0, 1:] = -centre / spread
    M[np.arange(1, 1 + p), np.arange(1, 1 + p)] = 1.0 / spread
    gram = M.T @ one_hot.gram(w) @ M
    weighted = basis * w[:, None]
    cross = (weighted.T @ predictors - np.outer(weighted.sum(axis=0), centre)) / spread
    return 0.5 * (gram + gram.T), high, low, spread, cross


def _standard_predictors(predictors, w, fit_intercept, basis):
    """Return ``(X1, gram, high, low, scale, basis_cross)`` of :class:`StandardDesign`.

    Three passes over blocks of rows, each read once while in cache: the copy
    into the column-major design matrix (with the range of every column and
    the first mean), the centring (second mean, weighted squares and the
    centred range), then the second centring, the scaling, the weighted Gram
    matrix and the products with the constraint ``basis``. Columns whose
    squares could overflow or underflow are first brought near 1 by a power of
    two (exact, and it commutes exactly with the rest); the returned means and
    scales are in the original units.
    """
    n, p = predictors.shape
    lead = int(fit_intercept)
    X1 = np.empty((n, lead + p), order="F")
    X1[:, :lead] = 1.0
    X = X1[:, lead:]
    blocks = [slice(start, start + _GRAM_ROWS) for start in range(0, n, _GRAM_ROWS)]
    top, bottom, high = np.zeros(p), np.zeros(p), np.zeros(p)
    for rows in blocks:
        # Row blocks: a row-major to column-major copy in one go thrashes the
        # cache (3x slower at a million rows).
        block = X[rows]
        block[...] = predictors[rows]
        np.maximum(top, block.max(axis=0), out=top)
        np.minimum(bottom, block.min(axis=0), out=bottom)
        if fit_intercept:
            high += w[rows] @ block
    largest = np.maximum(top, -bottom)
    power = range_power_of_two(top, bottom)
    power[(largest > _SAFE_RANGE[0]) & (largest < _SAFE_RANGE[1])] = 1.0
    if np.any(power != 1.0):
        X *= power
        high = w @ X if fit_intercept else high
    low, square = np.zeros(p), np.zeros(p)
    top, bottom = np.full(p, -np.inf), np.full(p, np.inf)
    for rows in blocks:
        block = X[rows]
        if fit_intercept:
            block -= high
            low += w[rows] @ block
        square += w[rows] @ block**2
        np.maximum(top, block.max(axis=0), out=top)
        np.minimum(bottom, block.min(axis=0), out=bottom)
    # Σ w (x - high - low)² = Σ w (x - high)² - low² (the weights sum to one);
    # low is the rounding error of the first mean, so the difference keeps
    # its digits unless that error was large (offsets like 1e15 + N(0, 1)):
    # those columns' squares are summed again, after the second centring.
    spread = np.sqrt(np.maximum(square - low**2, 0.0))
    inexact = np.abs(low) > 1e-4 * spread
    if fit_intercept:
        top, bottom = top - low, bottom - low
    constant = ((top == bottom) & fit_intercept) | (
        spread <= _CONSTANT_ULPS * np.finfo(float).eps * np.maximum(top, -bottom)
    )
    recompute = np.flatnonzero(inexact & ~constant)
    if recompute.size:
        centred = X[:, recompute] - low[recompute]
        spread[recompute] = np.sqrt(w @ centred**2)
    spread[constant] = 1.0
    root = np.sqrt(w)
    gram = np.zeros((lead + p, lead + p))
    cross = np.zeros((basis.shape[1], p))
    for rows in blocks:
        block = X[rows]
        block -= low
        block /= spread
        weighted = X1[rows] * root[rows, None]
        gram += weighted.T @ weighted
        cross += (basis[rows] * w[rows, None]).T @ block
    if fit_intercept and constant.any():
        X[:, constant] = 0.0
        cross[:, constant] = 0.0
        zero = np.flatnonzero(constant) + lead
        gram[zero, :] = 0.0
        gram[:, zero] = 0.0
    return X1, gram, high / power, low / power, spread / power, cross


def principal_components(design, w):
    """Whitened principal components of the standardized predictors.

    The solvers work on ``Z = X_std A`` with ``ZᵀWZ = I``: ``A`` (the
    ``axes``) holds the eigenvectors of the predictors' weighted Gram matrix
    whose eigenvalues exceed :data:`~orthokit._linalg.RANK_RTOL` times the
    largest, each divided by the square root of its eigenvalue. Directions
    below that cut-off (collinear or constant predictors, all but ``n`` of
    them when there are more predictors than rows) are dropped, which gives
    the minimum-norm solution; in the others the problem is well conditioned
    however nearly collinear the predictors are, so both solvers reach the
    same optimum and a coefficient beyond ``DIVERGENCE_LIMIT`` means the
    linear predictor itself diverges. A ridge ``α‖β‖²`` on the standardized
    slopes ``β = A γ`` is ``Σⱼ α ‖Aⱼ‖² γⱼ²``. With more predictors than rows
    the axes come from a thin SVD of ``√w X_std`` (``O(n² p)``), never from a
    ``p x p`` matrix.

    ``Z`` is formed (one pass of ``O(n p r)``) only where it pays: with more
    predictors than rows (``Z`` is narrower than ``X_std``) or when the kept
    eigenvalues spread over more than :data:`_IMPLICIT_RANGE` (a Hessian
    ``AᵀHA`` computed from ``X_std`` would lose their ratio's worth of digits).
    Otherwise the solvers get ``[1, X_std]`` and the transform, and apply it
    to their ``q x q`` results; when the design was not copied (see
    :class:`StandardDesign`), they get the predictors as given, with the
    column of ones implicit and the centring and scaling folded into the
    transform.

    Parameters
    ----------
    design : StandardDesign
    w : ndarray of shape (n,)
        Weights summing to one.

    Returns
    -------
    X1 : ndarray of shape (n, lead + p), (n, p) or (n, lead + r)
        The leading column of ones (if any), then ``X_std`` (with a
        ``transform``) or ``Z``; or the predictors alone (``ones = lead``).
    transform : ndarray of shape (lead + p, lead + r) or None
        ``[1, Z] = [1, X1] @ transform`` (``ones`` columns of ones before
        ``X1``); ``None`` when ``X1`` holds ``Z``.
    gram : ndarray of shape (lead + r, lead + r)
        ``[1, Z]ᵀ W [1, Z]``.
    axes : ndarray of shape (p, r)
        ``A``: standardized slopes are ``A γ``.
    ones : int
        Columns of ones implied before ``X1`` (0, or ``lead`` when ``X1``
        holds the predictors as given).
    """
    lead = design.lead
    X = design.X1[:, lead:] if design.X1 is not None else design.predictors
    n, p = X.shape
    if p > n:
        _, singular, vt = np.linalg.svd(X * np.sqrt(w)[:, None], full_matrices=False)
        eigenvalues, vectors = singular**2, vt.T
    else:
        eigenvalues, vectors = np.linalg.eigh(design.gram[lead:, lead:])
    keep = kept_eigenvalues(eigenvalues)
    axes = vectors[:, keep] / np.sqrt(eigenvalues[keep])
    transform = np.zeros((lead + p, lead + axes.shape[1]))
    transform[:lead, :lead] = np.eye(lead)
    transform[lead:, lead:] = axes
    # [1, Z]ᵀW[1, Z] from the Gram matrix of the standardized predictors,
    # O(q³) instead of a pass of O(n q²): the same up to rounding (ZᵀWZ = I
    # and, with an intercept, 1ᵀWZ = 0).
    gram = transform.T @ design.gram @ transform
    kept = eigenvalues[keep]
    if p <= n and (kept.size == 0 or kept.min() >= _IMPLICIT_RANGE * kept.max()):
        if design.X1 is None:
            return X, design.unstandardize(transform), gram, axes, lead
        return design.X1, transform, gram, axes, 0
    X1 = np.empty((n, lead + axes.shape[1]), order="F")
    X1[:, :lead] = 1.0
    # Z = X A, written as Zᵀ = Aᵀ Xᵀ straight into the column-major X1: one
    # BLAS product, no row-major temporary to transpose.
    if design.X1 is None:
        # Standardized by blocks first: A can be large (nearly collinear
        # predictors), and an uncentred product would lose its offset's digits.
        for start in range(0, n, _GRAM_ROWS):
            rows = slice(start, start + _GRAM_ROWS)
            block = (X[rows] - design.x_high - design.x_low) / design.x_scale
            np.matmul(block, axes, out=X1[rows, lead:])
    else:
        np.matmul(axes.T, X.T, out=X1[:, lead:].T)
    return X1, None, gram, axes, 0
