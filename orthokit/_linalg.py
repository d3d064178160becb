"""The shared numerical core: centred sufficient statistics, stable solves, RLS.

Nothing here knows about scikit-learn, pandas or printing. Functions take and
return plain arrays. The recursive least squares update, shared by NumPy and
torch, is in :mod:`orthokit._rls`.
"""

import warnings
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from orthokit._blas import in_place_gemm, subtract_product

#: Relative eigenvalue threshold below which the (correlation-scaled) Gram matrix
#: of the protected columns is treated as rank deficient.
RANK_RTOL = 1e-10

#: Relative variance below which a protected column counts as constant.
CONSTANT_RTOL = 1e-12

#: Rows per block of a pass over the data: a block of 100 float64 columns
#: (800 kB) stays in a core's L2 cache between its reads (range, shift,
#: product). Sources gathered block by block ask for more rows per block
#: (``min_block_rows``), which spreads the cost of each gather.
_BLOCK_ROWS = 1024

#: First rows of a stream that fix its pivots (:func:`stream_pivots`).
_HEAD_ROWS = 4096


class CollinearityWarning(UserWarning):
    """Protected columns are collinear; a minimum-norm solution was used."""


@dataclass
class Moments:
    """Centred sufficient statistics of a regression of ``F`` on ``S``.

    Attributes
    ----------
    n : float
        Number (or total weight) of rows seen.
    mean_s : ndarray of shape (k,)
        Column means of ``S``.
    mean_f : ndarray of shape (d,)
        Column means of ``F``.
    css : ndarray of shape (k, k)
        Centred cross-products ``(S - mean_s).T @ (S - mean_s)``.
    csf : ndarray of shape (k, d)
        Centred cross-products ``(S - mean_s).T @ (F - mean_f)``.
    cff : ndarray of shape (d, d) or None
        Centred cross-products ``(F - mean_f).T @ (F - mean_f)``, where the
        caller needs the covariance of ``F`` too (:func:`centred_gram`);
        merged like the others when both blocks have them.
    """

    n: float
    mean_s: np.ndarray
    mean_f: np.ndarray
    css: np.ndarray
    csf: np.ndarray
    cff: np.ndarray | None = None

    @classmethod
    def from_data(
        cls, S, F, chunk_rows=_BLOCK_ROWS, *, scale=None, shift=None, columns=None
    ):
        """Compute the statistics of one block of rows, in one pass over ``F``.

        ``S`` is centred; ``F`` is read once, in row blocks small enough to
        stay in cache between the conversion, the shift and the product, and
        is never copied whole. With ``scale`` and ``shift`` the statistics are
        those of ``F * scale - shift``.

        Parameters
        ----------
        S : ndarray of shape (n, k)
            Protected columns (float64).
        F : ndarray of shape (n, p)
            Columns to regress on ``S``; any float dtype, any memory layout.
        chunk_rows : int, default=1024
            Rows per block.
        scale, shift : ndarray of shape (d,), optional
            Exact powers of two and pivots (:func:`stream_pivots`), so that
            the sums can neither overflow nor lose digits to an offset.
        columns : slice or list of int, optional
            The ``d`` columns of ``F`` to use (all by default), selected
            block by block.

        Returns
        -------
        Moments

        Examples
        --------
        >>> import numpy as np
        >>> S = np.array([[0.0], [1.0], [2.0]])
        >>> F = np.array([[1.0], [3.0], [5.0]])
        >>> m = Moments.from_data(S, F)
        >>> float(m.csf[0, 0] / m.css[0, 0])
        2.0
        """
        columns = slice(None) if columns is None else columns
        mean_s, gram, products, _, _ = _block_products(
            S, F, columns, scale, shift, chunk_rows
        )
        if scale is not None and _is_safe_scale(scale):
            products *= scale
        return cls._from_products(S.shape[0], mean_s, gram, products)

    @classmethod
    def from_first_chunk(cls, S, F, columns=None, *, chunk_rows=_BLOCK_ROWS):
        """Return the statistics of a stream's first chunk and its pivots, in one pass.

        The same numbers as ``stream_pivots(F)`` followed by
        :meth:`from_data` with them (to the order of the sums), from a single
        read of ``F``: the pivots come from the first rows, which are read
        ahead, and the range, read in the same pass as the sums. Only where the
        range turns out to need a scale beyond ``2**±500`` (values near 1e150
        or 1e-150 and beyond) is ``F`` read again, the careful way.

        Parameters
        ----------
        S : ndarray of shape (n, k)
            Protected columns (float64), already scaled and shifted.
        F : ndarray of shape (n, p)
            Any float dtype, any memory layout.
        columns : slice or list of int, optional
            The ``d`` columns of ``F`` to use (all by default).
        chunk_rows : int, default=1024

        Returns
        -------
        moments : Moments
            The statistics of ``F[:, columns] * scale - shift``.
        scale, shift : ndarrays of shape (d,)
            As :func:`stream_pivots` returns them for ``F[:, columns]``.

        Examples
        --------
        >>> import numpy as np
        >>> S = np.array([[0.0], [1.0], [2.0]])
        >>> F = np.array([[1.0], [3.0], [5.0]])
        >>> m, scale, shift = Moments.from_first_chunk(S, F)
        >>> float(m.csf[0, 0] / m.css[0, 0] / scale[0])
        2.0
        """
        columns = slice(None) if columns is None else columns
        head = np.asarray(F[:_HEAD_ROWS][:, columns], dtype=np.float64)
        pivot = _head_pivot(head)
        mean_s, gram, products, high, low = _block_products(
            S, F, columns, None, pivot, chunk_rows, extremes=True
        )
        scale, shift = _pivots_from_range(high, low, head)
        with np.errstate(all="ignore"):
            same_pivot = np.array_equal(shift / scale, pivot)
        if _is_safe_scale(scale) and same_pivot:
            # (f - c) * scale rounds as f * scale - c * scale: the sums of the
            # pass, scaled, are those of the pivoted data.
            products *= scale
            return cls._from_products(len(S), mean_s, gram, products), scale, shift
        return cls.from_data(S, F, chunk_rows, scale=scale, shift=shift,
                             columns=columns), scale, shift  # fmt: skip

    @classmethod
    def _from_products(cls, n, mean_s, gram, products):
        """Finish the statistics from the products of :func:`_block_products`."""
        mean_f, csf = products[0] / n, products[1:]
        # The centred columns of S sum to rounding error times their mean, not
        # to 0; times a large mean of F that error reaches the coefficients, so
        # take it out (exactly what centring F would do, without copying F).
        csf -= np.outer(gram[0, 1:], mean_f)
        return cls(float(n), mean_s, mean_f, gram[1:, 1:].copy(), csf)

    def is_finite(self):
        """Whether every statistic is finite (no sum overflowed, no NaN).

        Returns
        -------
        bool
        """
        return bool(
            np.isfinite(self.n)
            and all(
                np.isfinite(part).all()
                for part in (self.mean_s, self.mean_f, self.css, self.csf, self.cff)
                if part is not None
            )
        )

    def merge(self, other):
        """Combine with the statistics of another block (Chan et al.'s update).

        Parameters
        ----------
        other : Moments
            Statistics of rows not yet included in ``self``.

        Returns
        -------
        Moments
            Statistics of both blocks together, as if computed in one pass.
        """
        if self.n == 0:
            return other
        n = self.n + other.n
        delta_s = other.mean_s - self.mean_s
        delta_f = other.mean_f - self.mean_f
        shift = self.n * other.n / n
        cff = None
        if self.cff is not None and other.cff is not None:
            cff = self.cff + other.cff + shift * np.outer(delta_f, delta_f)
        return Moments(
            n,
            self.mean_s + delta_s * (other.n / n),
            self.mean_f + delta_f * (other.n / n),
            self.css + other.css + shift * np.outer(delta_s, delta_s),
            self.csf + other.csf + shift * np.outer(delta_s, delta_f),
            cff,
        )


def centred_gram(F, mean, *, scale=1.0, shift=0.0, columns=None, chunk_rows=4096):
    """Return ``G.T @ G`` for ``G = F[:, columns] * scale - shift - mean``.

    The centred cross-products of the features with themselves (the ``cff``
    of :class:`Moments`), row block by row block: ``F`` is never copied whole
    and no sum of uncentred squares loses digits to a large mean.

    Parameters
    ----------
    F : ndarray of shape (n, p)
        Any float dtype.
    mean : ndarray of shape (d,)
        Column means of ``F[:, columns] * scale - shift``.
    scale, shift : float or ndarray of shape (d,)
        As in :meth:`Moments.from_data`.
    columns : slice or list of int, optional
        The columns of ``F`` to use (all by default).
    chunk_rows : int, default=4096

    Returns
    -------
    ndarray of shape (d, d)

    Examples
    --------
    >>> import numpy as np
    >>> centred_gram(np.array([[1.0], [3.0]]), np.array([2.0])).tolist()
    [[2.0]]
    """
    columns = slice(None) if columns is None else columns
    gram = np.zeros((len(mean), len(mean)))
    for start in range(0, F.shape[0], chunk_rows):
        block = np.multiply(
            F[start : start + chunk_rows][:, columns], scale, dtype=np.float64
        )
        block -= shift + mean
        gram += block.T @ block
    return (gram + gram.T) / 2


def power_of_two_scale(S):
    """Return per-column powers of two that bring ``max |S|`` near 1.

    Multiplying by a power of two is exact, so rescaling changes no digit of
    well-scaled data while keeping columns of size 1e300 or 1e-300 from
    overflowing or underflowing in cross-products. The exponent comes from
    ``np.frexp`` of the column's range (its largest and smallest value, no
    temporary copy of ``S``) and is clipped so that the scale itself is a
    normal float64: a subnormal column (``|s| < 2.2e-308``) is brought to
    about ``2**-5`` instead of overflowing ``2**1030``.

    Parameters
    ----------
    S : ndarray of shape (n, k)

    Returns
    -------
    ndarray of shape (k,)
        Finite, positive powers of two; 1 for columns that are all zero, empty
        or not finite.

    Examples
    --------
    >>> import numpy as np
    >>> power_of_two_scale(np.array([[3.0, 1e300, 0.0]])).tolist()[0]
    0.25
    >>> bool(np.isfinite(power_of_two_scale(np.array([[1e-310], [-3e-311]])))[0])
    True
    """
    S = np.asarray(S)
    if S.shape[0] == 0:
        return np.ones(S.shape[1:])
    return range_power_of_two(S.max(axis=0), S.min(axis=0))


def range_power_of_two(high, low):
    """Return :func:`power_of_two_scale` from a column's largest and smallest value.

    For callers that already hold the range (no further pass over the data).

    Examples
    --------
    >>> import numpy as np
    >>> range_power_of_two(np.array([3.0, 1e-310]), np.array([-1.0, 0.0]))[0]
    np.float64(0.25)
    """
    return np.ldexp(1.0, _range_exponent(high, low))


def _range_exponent(high, low, offset=0):
    """Exponent ``e`` (clipped to normal scales) with ``2**e * max|x|`` near 1.

    ``offset`` is added before clipping (the exponent of a scale applied
    already).
    """
    largest = np.maximum(np.abs(high), np.abs(low))
    largest = np.asarray(largest, dtype=np.float64)
    largest = np.where((largest == 0) | ~np.isfinite(largest), 1.0, largest)
    exponent = offset - np.frexp(largest)[1]
    return np.clip(exponent, np.finfo(np.float64).minexp, 1023)


def stream_pivots(F, head_rows=4096):
    """Return ``(scale, shift)`` such that ``F * scale - shift`` is safe to sum.

    ``F * scale - shift`` equals ``(F * 2**a - c) * 2**b`` exactly: ``2**a``
    from :func:`power_of_two_scale`, ``c`` the mean of the first ``head_rows``
    scaled rows where it exceeds their standard deviation (else 0) and ``2**b``
    brings the range of the shifted column near 1 again. No sum of ``n`` such
    values can overflow, and cross-products of data shifted this way lose no
    more digits to a large offset (a mean of 1e15 for a spread of 1) than
    exact least squares does, since ``f * 2**a - c`` is exact for values near
    the pivot; a pivot is not used where it would cost digits (values spread
    around 0, one large outlier).

    Parameters
    ----------
    F : ndarray of shape (n, d)
        Any float dtype; only its range and its first rows are read.
    head_rows : int, default=4096

    Returns
    -------
    scale, shift : ndarrays of shape (d,), float64
        ``scale`` are normal powers of two.

    Examples
    --------
    >>> import numpy as np
    >>> scale, shift = stream_pivots(np.array([[1e15], [1e15 + 2]]))
    >>> (np.array([[1e15], [1e15 + 2]]) * scale - shift).ravel().tolist()
    [-0.5, 0.5]
    """
    if F.shape[0] == 0:
        return np.ones(F.shape[1]), np.zeros(F.shape[1])
    # One pass each for the extremes; both exponents come from them.
    high, low = F.max(axis=0).astype(np.float64), F.min(axis=0).astype(np.float64)
    return _pivots_from_range(high, low, F[:head_rows].astype(np.float64))


def _pivots_from_range(high, low, head):
    """:func:`stream_pivots` from the columns' range and first rows (float64)."""
    first = _range_exponent(high, low)
    scale = np.ldexp(1.0, first)
    head = head * scale
    mean = head.mean(axis=0)
    shift = np.where(np.abs(mean) > head.std(axis=0), mean, 0.0)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    total = _range_exponent(high * scale - shift, low * scale - shift, first)
    return np.ldexp(1.0, total), np.ldexp(shift, total - first)


def _head_pivot(head):
    """Return the pivot of :func:`stream_pivots` in the data's units (no scale)."""
    if head.shape[0] == 0:
        return np.zeros(head.shape[1])
    with np.errstate(all="ignore"):
        mean = head.mean(axis=0)
        shift = np.where(np.abs(mean) > head.std(axis=0), mean, 0.0)
    return np.where(np.isfinite(shift), shift, 0.0)


def _shifted_blocks(F, scale, shift, block_rows):
    """Yield ``(start, F[start:stop] * scale - shift)`` as float64 row blocks."""
    for start in range(0, F.shape[0], block_rows):
        block = np.multiply(F[start : start + block_rows], scale, dtype=np.float64)
        block -= shift
        yield start, block


def _one_blas_thread(n_rows, block_rows):
    """Hold BLAS to one thread over a loop of many small products.

    Each block's product is too small to share, and a second BLAS thread that
    waits for a core at every call (a busy machine) stalled such loops tenfold.
    """
    if n_rows <= block_rows:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _is_safe_scale(scale):
    """Whether sums of unscaled values times ``scale`` equal the scaled sums.

    Scaling by a power of two commutes with every rounding as long as no sum
    overflows or underflows, which a scale within ``2**±500`` guarantees.
    """
    return bool(np.all((scale >= 2.0**-500) & (scale <= 2.0**500)))


def _block_products(S, F, columns, scale, shift, block_rows, extremes=False):
    """Return ``mean_s``, ``D.T @ D`` and ``D.T @ G`` for ``D = [1, S - mean_s]``.

    ``G = F[:, columns]`` scaled and shifted, in one pass over the row blocks
    of ``F``: each block is read from memory once and, where it needs a
    conversion to float64 or a shift, copied only within the cache; ``D`` is
    built block by block too. With a safe ``scale`` (or none) ``G = F - shift
    / scale``, whose products times ``scale`` are those of ``F * scale -
    shift``; otherwise ``G = F * scale - shift``. With ``extremes`` the
    columns' largest and smallest values (of ``F`` itself) are returned too,
    else ``None``.
    """
    if scale is not None and _is_safe_scale(scale):
        shift, scale = (None if shift is None else shift / scale), None
    if shift is not None and not np.any(shift):
        shift = None
    n, k = S.shape
    block_rows = max(block_rows, getattr(F, "min_block_rows", 1))
    mean_s = S.mean(axis=0)
    n_columns = F[:0][:, columns].shape[1]
    design = np.empty((min(block_rows, n), k + 1), order="F")
    design[:, 0] = 1.0
    gram = np.zeros((k + 1, k + 1))
    products = np.zeros((k + 1, n_columns))
    buffer = np.empty_like(products)
    high = low = work = None
    with _one_blas_thread(n, block_rows):
        for start in range(0, n, block_rows):
            block = F[start : start + block_rows][:, columns]
            rows = design[: block.shape[0]]
            np.subtract(S[start : start + block_rows], mean_s, out=rows[:, 1:])
            if work is None:  # float64, laid out like the blocks
                work = np.empty_like(block, dtype=np.float64)
            block, high, low = _converted_block(
                block, work[: block.shape[0]], scale, shift, extremes, high, low
            )
            np.matmul(rows.T, block, out=buffer)
            products += buffer
            gram += rows.T @ rows
    if extremes and high is not None:
        high, low = np.asarray(high, np.float64), np.asarray(low, np.float64)
    return mean_s, gram, products, high, low


def _converted_block(block, work, scale, shift, extremes, high, low):
    """Return a block as float64 (scaled and shifted) and the range so far.

    Written into ``work`` (in cache, allocated once for the pass) where the
    block needs a conversion, a scale or a shift. The range is that of the
    block itself, before its conversion (a float32 block is reduced in half
    the bytes).
    """
    if extremes:
        block_high, block_low = block.max(axis=0), block.min(axis=0)
        if high is None:
            high, low = block_high, block_low
        else:
            np.maximum(high, block_high, out=high)
            np.minimum(low, block_low, out=low)
    if block.dtype != np.float64:
        np.copyto(work, block)
        block = work
    if scale is not None:
        block = np.multiply(block, scale, out=work)
    if shift is not None:
        block = np.subtract(block, shift, out=work)
    return block, high, low


def _correlation_spectrum(gram, names, consequence):
    """Scale a centred Gram matrix to correlations; return its eigen-decomposition.

    Constant columns are an error; collinear ones give a
    :class:`CollinearityWarning` whose message ends with ``consequence``.
    Returns ``(scale, eigvals, eigvecs, keep)``, ``keep`` marking the
    eigenvalues above the rank threshold.
    """
    names = _column_names(names, gram.shape[0])
    scale = _correlation_scale(gram, names)
    corr = gram / np.outer(scale, scale)
    return (scale, *_kept_spectrum(corr, names, consequence, stacklevel=5))


def _column_names(names, k):
    return list(names) if names is not None else [f"s{j}" for j in range(k)]


def _correlation_scale(gram, names):
    """Return the scales ``sqrt(diag(gram))``; constant columns are an error."""
    diag = np.diag(gram).copy()
    constant = diag <= CONSTANT_RTOL * max(diag.max(initial=0.0), 1.0)
    if constant.any():
        bad = [names[j] for j in np.flatnonzero(constant)]
        raise ValueError(
            f"protected column(s) {bad} are constant; a constant column carries no "
            "information and cannot be regressed out or constrained. Drop it."
        )
    return np.sqrt(diag)


def _kept_spectrum(corr, names, consequence, stacklevel):
    """Eigen-decomposition of a correlation matrix and the eigenvalues kept.

    Warns (:class:`CollinearityWarning`, ending with ``consequence``) when the
    rank rule drops any; ``stacklevel`` points the warning at the user's call.
    """
    eigvals, eigvecs = np.linalg.eigh(corr)
    keep = kept_eigenvalues(eigvals)
    if not keep.all():
        involved = np.abs(eigvecs[:, ~keep]).max(1)
        bad = [names[j] for j in np.flatnonzero(involved > 1e-6)]
        warnings.warn(
            f"protected columns {bad} are collinear (rank {int(keep.sum())} < "
            f"{corr.shape[0]}); " + consequence,
            CollinearityWarning,
            stacklevel=stacklevel,
        )
    return eigvals, eigvecs, keep


def kept_eigenvalues(eigenvalues):
    """Mark the eigenvalues of a Gram matrix that count: the one rank rule.

    Those above :data:`RANK_RTOL` times the largest (singular values above
    ``sqrt(RANK_RTOL)`` times the largest, for the matrix itself).

    Examples
    --------
    >>> import numpy as np
    >>> kept_eigenvalues(np.array([1.0, 1e-3, 1e-12])).tolist()
    [True, True, False]
    """
    eigenvalues = np.asarray(eigenvalues)
    return eigenvalues > RANK_RTOL * max(eigenvalues.max(initial=0.0), 0.0)


def matrix_rank(matrix, scale=None):
    """Rank of a matrix by the rule of :func:`kept_eigenvalues`.

    Singular values above ``sqrt(RANK_RTOL)`` times ``scale`` count; by
    default ``scale`` is the largest singular value, but a matrix whose
    entries are correlations (unit-scale columns) passes ``scale=1``, so that
    a single tiny entry is rank 0.

    Examples
    --------
    >>> import numpy as np
    >>> matrix_rank(np.array([[1.0, 1.0], [1.0, 1.0 + 1e-9]]))
    1
    >>> matrix_rank(np.array([[1e-17]])), matrix_rank(np.array([[1e-17]]), scale=1.0)
    (1, 0)
    """
    singular = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)
    if scale is None:
        return int(kept_eigenvalues(singular**2).sum())
    return int((singular**2 > RANK_RTOL * scale**2).sum())


def centred_rank(S):
    """Rank of the centred columns of ``S`` by the package's rank rule.

    The eigenvalues of their correlation matrix above :data:`RANK_RTOL`
    times the largest count; constant columns count as rank 0.

    Examples
    --------
    >>> import numpy as np
    >>> centred_rank(np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]]))
    1
    """
    S = S * power_of_two_scale(S)  # exact: no square overflows or underflows
    centred = S - S.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    varying = scale > 0
    if not varying.any():
        return 0
    unit = centred[:, varying] / scale[varying]
    return int(kept_eigenvalues(np.linalg.eigvalsh(unit.T @ unit)).sum())


def solve_gram(gram, rhs, names=None):
    """Solve ``gram @ B = rhs`` for a centred Gram matrix of protected columns.

    The matrix is scaled to a correlation matrix first. A full-rank system is
    solved by Cholesky; a rank-deficient one (duplicate or collinear columns)
    by a minimum-norm eigen-solve with a :class:`CollinearityWarning`, which
    still gives the unique least-squares fit ``S @ B``. A constant column is an
    error: it carries no information and usually signals a data problem.

    Parameters
    ----------
    gram : ndarray of shape (k, k)
        Centred cross-products of the protected columns.
    rhs : ndarray of shape (k, d)
        Centred cross-products of protected columns and targets.
    names : sequence of str, optional
        Column names used in messages.

    Returns
    -------
    coef : ndarray of shape (k, d)
    rank : int

    Raises
    ------
    ValueError
        If a column has (numerically) zero variance.

    Examples
    --------
    >>> import numpy as np
    >>> coef, rank = solve_gram(np.array([[2.0]]), np.array([[4.0, 1.0]]))
    >>> np.round(coef, 12).tolist(), rank
    ([[2.0, 0.5]], 1)
    """
    names = _column_names(names, gram.shape[0])
    scale = _correlation_scale(gram, names)
    corr = gram / np.outer(scale, scale)
    scaled_rhs = rhs / scale[:, None]
    cholesky = _well_conditioned_cholesky(corr)
    if cholesky is not None:  # every eigenvalue is kept: no eigen-decomposition
        coef = scipy.linalg.cho_solve((cholesky, True), scaled_rhs)
        return coef / scale[:, None], gram.shape[0]
    eigvals, eigvecs, keep = _kept_spectrum(
        corr,
        names,
        "using the minimum-norm solution, which removes their common span once.",
        stacklevel=4,
    )
    coef = (eigvecs[:, keep] / eigvals[keep]) @ (eigvecs[:, keep].T @ scaled_rhs)
    return coef / scale[:, None], int(keep.sum())


def _well_conditioned_cholesky(corr):
    """Cholesky factor of a correlation matrix when the rank rule keeps all.

    Returns the lower factor, or None when the factorization fails or
    LAPACK's condition estimate (``pocon``, 1-norm) is within a factor ``1e3``
    of :data:`RANK_RTOL`; the caller then takes the eigen-decomposition,
    which decides rank and collinearity. For a symmetric matrix the 2-norm
    condition number is at most the 1-norm one, and the margin covers an
    estimate a thousand times too low, so every eigenvalue passing here is
    above the threshold, and the answer equals the eigen-solve's to rounding,
    at a ninth of its cost for large systems (many levels).
    """
    if corr.shape[0] == 0:
        return None
    cholesky, info = scipy.linalg.lapack.dpotrf(corr, lower=1, clean=1)
    if info != 0:
        return None
    anorm = np.abs(corr).sum(axis=0).max()
    rcond, info = scipy.linalg.lapack.dpocon(cholesky, anorm, uplo="L")
    if info != 0 or not rcond > 1e3 * RANK_RTOL:
        return None
    return cholesky


def subtract_projection(
    F, S, mean_s, coef, out=None, columns=None, chunk_rows=_BLOCK_ROWS, *,
    on_nonfinite=None,
):  # fmt: skip
    """Return ``F[:, columns] - (S - mean_s) @ coef`` row block by row block.

    One read of ``F`` and one write of the output: each block of a few
    thousand rows stays in cache between the product, the subtraction and the
    check, and the peak memory stays near the size of the output.

    Parameters
    ----------
    F : ndarray of shape (n, p)
        Or anything whose row slices ``F[start:stop]`` are such arrays (a
        :class:`~orthokit._inputs._frames.ColumnStack`).
    S : ndarray of shape (n, k)
    mean_s : ndarray of shape (k,)
    coef : ndarray of shape (k, d)
    out : ndarray of shape (n, d), optional
        Where to write; allocated with the dtype of ``F`` if not given.
    columns : slice or list of int, optional
        Columns of ``F`` to correct (all by default); selected block by block,
        so ``F`` is never copied whole.
    chunk_rows : int, default=1024
    on_nonfinite : callable, optional
        Called with a block's features ``F[start:stop][:, columns]`` and
        ``start`` when their sum is NaN or infinite (in place of a separate
        pass that checks ``F``; the sum of finite values may overflow: the
        caller judges).

    Returns
    -------
    ndarray of shape (n, d)

    Examples
    --------
    >>> import numpy as np
    >>> subtract_projection(np.ones((2, 1)), np.array([[0.0], [2.0]]),
    ...                     np.array([1.0]), np.array([[0.5]])).ravel().tolist()
    [1.5, 0.5]
    """
    n = F.shape[0]
    columns = slice(None) if columns is None else columns
    if out is None:
        out = np.empty((n, coef.shape[1]), dtype=F.dtype)
    chunk_rows = max(chunk_rows, getattr(F, "min_block_rows", 1))
    rows = min(chunk_rows, n)
    centred = np.empty((rows, S.shape[1]), dtype=out.dtype, order="F")
    # Row blocks of a C-ordered output are contiguous: each is written once
    # with the features, then BLAS subtracts the product from it in place,
    # while it is in cache. Otherwise (a column-major output) the product
    # goes to a contiguous block laid out like the output, then the
    # subtraction writes the output once, both read in the same order.
    gemm = in_place_gemm(out.dtype) if out.flags.c_contiguous else None
    if gemm is None:
        order = "F" if out.ndim == 2 and out.strides[0] < out.strides[1] else "C"
        product = np.empty((rows, coef.shape[1]), dtype=out.dtype, order=order)
        coef = coef.astype(out.dtype, copy=False)
    else:
        coef = np.asfortranarray(coef, dtype=out.dtype)
    # Column sums by BLAS (a matrix-vector product; NaN and infinity
    # propagate) cost a fraction of NumPy's pairwise sum on the cached block.
    ones = np.ones(rows, dtype=out.dtype)
    with _one_blas_thread(n, chunk_rows):
        for start in range(0, n, chunk_rows):
            stop = min(start + chunk_rows, n)
            size = stop - start
            np.subtract(S[start:stop], mean_s, out=centred[:size])
            if gemm is None:
                features = F[start:stop][:, columns]
                np.matmul(centred[:size], coef, out=product[:size])
                np.subtract(features, product[:size], out=out[start:stop])
            else:
                features = _copy_rows(F, start, stop, columns, out[start:stop])
            if on_nonfinite is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    finite = np.isfinite((ones[:size] @ features).sum())
                if not finite:
                    on_nonfinite(features, start)
            if gemm is not None:  # the block is checked: correct it in place
                subtract_product(gemm, out[start:stop], centred[:size], coef)
    return out


def _copy_rows(F, start, stop, columns, block):
    """Copy ``F[start:stop][:, columns]`` into ``block``; return the features.

    A source gathered column by column (a ``ColumnStack``) writes straight
    into ``block``, which then holds the features; an array is read in place.
    """
    if hasattr(F, "read_into"):
        return F.read_into(slice(start, stop), columns, block)
    features = gather_columns(F[start:stop], columns, block)
    if features is not block:
        np.copyto(block, features)
    return features


def gather_columns(rows, columns, block):
    """Return ``rows[:, columns]``, gathered into ``block`` where that saves a copy.

    A slice is a view (nothing copied). A list of positions gathers into
    ``block`` when the dtypes agree (``rows[:, columns]`` would gather into a
    temporary first); the positions are resolved ones (``0 <= j < p``), so
    ``mode="clip"`` spares :func:`numpy.take` its buffering.

    Examples
    --------
    >>> import numpy as np
    >>> rows, block = np.arange(6.0).reshape(2, 3), np.empty((2, 2))
    >>> gather_columns(rows, [0, 2], block) is block, block.tolist()
    (True, [[0.0, 2.0], [3.0, 5.0]])
    """
    if isinstance(columns, slice) or rows.dtype != block.dtype:
        return rows[:, columns]
    return np.take(rows, columns, axis=1, out=block, mode="clip")


# --------------------------------------------------------------------------------
# Constrained optimization helpers (OrthogonalGLM).


def whitening_basis(gram, names=None):
    """Return ``T`` such that ``(S̃ T)ᵀ W (S̃ T) = I`` for a centred Gram matrix.

    The columns ``S̃ T`` are an orthonormal basis (in the weighted inner product
    that produced ``gram``) of the span of the centred protected columns. Using
    them instead of ``S̃`` gives equality constraints with the same feasible set
    but unit scale and no redundancy, which keeps a KKT system well conditioned.
    Constant columns are an error; collinear ones give a
    :class:`CollinearityWarning` and a basis of the smaller rank.

    Parameters
    ----------
    gram : ndarray of shape (k, k)
        ``S̃ᵀ W S̃ / sum(w)``: weighted centred second moments.
    names : sequence of str, optional
        Column names used in messages.

    Returns
    -------
    basis : ndarray of shape (k, r)
        ``r`` is the numerical rank of ``gram``.

    Raises
    ------
    ValueError
        If a column has (numerically) zero variance.

    Examples
    --------
    >>> import numpy as np
    >>> T = whitening_basis(np.array([[4.0, 0.0], [0.0, 0.25]]))
    >>> np.round(np.abs(T), 12).tolist()
    [[0.5, 0.0], [0.0, 2.0]]
    """
    scale, eigvals, eigvecs, keep = _correlation_spectrum(
        gram, names, "their redundant constraints are dropped."
    )
    return (eigvecs[:, keep] / np.sqrt(eigvals[keep])) / scale[:, None]


def solve_kkt(hessian, jacobian, gradient, constraint):
    """Solve the Newton-KKT system of an equality-constrained problem.

    Returns the step ``p`` and the new multipliers ``λ`` of

    ::

        [H  Jᵀ] [p]   [−g]
        [J  0 ] [λ] = [−c]

    by a least-squares (SVD) solve, which gives the minimum-norm answer when
    the system is singular (collinear predictors, redundant constraints)
    instead of failing or returning NaN.

    Parameters
    ----------
    hessian : ndarray of shape (q, q)
    jacobian : ndarray of shape (r, q)
    gradient : ndarray of shape (q,)
    constraint : ndarray of shape (r,)

    Returns
    -------
    step : ndarray of shape (q,)
    multipliers : ndarray of shape (r,)

    Examples
    --------
    >>> import numpy as np
    >>> # minimise (x² + y²)/2 subject to x + y = 1, from the origin
    >>> step, lam = solve_kkt(np.eye(2), np.ones((1, 2)), np.zeros(2),
    ...                       np.array([-1.0]))
    >>> np.round(step, 12).tolist(), np.round(lam, 12).tolist()
    ([0.5, 0.5], [-0.5])
    """
    q, r = hessian.shape[0], jacobian.shape[0]
    kkt = np.zeros((q + r, q + r))
    kkt[:q, :q] = hessian
    kkt[q:, :q] = jacobian
    kkt[:q, q:] = jacobian.T
    rhs = -np.concatenate([gradient, constraint])
    # Equilibrate rows and columns so that the rank cut-off is scale free.
    scale = 1.0 / np.sqrt(np.maximum(np.abs(kkt).max(axis=1), 1e-300))
    solution = scipy.linalg.lstsq(
        kkt * scale[:, None] * scale[None, :],
        rhs * scale,
        cond=np.sqrt(RANK_RTOL),  # the rank rule of kept_eigenvalues
        lapack_driver="gelsd",
    )[0]
    solution = solution * scale
    return solution[:q], solution[q:]
