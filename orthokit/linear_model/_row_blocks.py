"""Products with the design matrix, by blocks of rows that stay in cache.

The solvers' passes over the ``n x q`` design matrix are its products with a
few ``n``-vectors (gradient, constraint Jacobian) and its weighted Gram matrix
(Hessian). One BLAS call on the whole matrix is not the fastest way to do
either: a general product with a few columns packs the whole design matrix
into BLAS's buffers (a copy of it), and a weighted Gram matrix first needs the
weighted copy ``√d ⊙ X``. By blocks of rows, each block is read from memory
once and reused while in cache.
"""

from contextlib import nullcontext

import numpy as np

#: Rows per block of :func:`weighted_gram`: a block of a few dozen columns stays
#: in cache between the scaling and the rank-k update.
_GRAM_ROWS = 2048

#: Rows per block of :func:`cross_product`.
_CROSS_ROWS = 8192

#: Most columns for which :func:`one_blas_thread` holds BLAS to one thread: a
#: block's Gram product then takes a fraction of a millisecond, too little to
#: share between threads.
_SMALL_COLUMNS = 64

_controller = None


def one_blas_thread(n_rows, n_columns):
    """Hold BLAS to one thread over a fit's loops of small products over row blocks.

    Each block's product is too small to share, and a second BLAS thread that
    waits for a core at every call (a busy machine) stalled a fit sevenfold.
    Wide designs (more than ``_SMALL_COLUMNS`` columns) or a single block keep
    BLAS's threads. The thread pools are looked up once per process (a
    lookup costs milliseconds, a limit a tenth of one).

    Parameters
    ----------
    n_rows, n_columns : int
        Shape of the design matrix.

    Returns
    -------
    context manager
    """
    global _controller
    if n_rows <= _GRAM_ROWS or n_columns > _SMALL_COLUMNS:
        return nullcontext()
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def weighted_gram(X, d, ones=0):
    """Return ``Xᵀ diag(d) X`` by blocks of rows, one symmetric BLAS product each.

    For non-negative ``d`` each block is ``B = √d ⊙ X`` and ``BᵀB`` goes to
    BLAS's symmetric rank-k update (half the work of a general product);
    otherwise (a Lagrangian curvature of either sign) one general product.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    d : ndarray of shape (n,)
    ones : int, default=0
        Columns of ones to put before ``X`` (not stored in it).

    Returns
    -------
    ndarray of shape (ones + p, ones + p)
    """
    if ones:
        return _weighted_gram_with_ones(X, d, ones)
    if d.size and d.min() < 0:
        return (X * d[:, None]).T @ X
    root = np.sqrt(d)
    gram = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], _GRAM_ROWS):
        block = X[start : start + _GRAM_ROWS] * root[start : start + _GRAM_ROWS, None]
        gram += block.T @ block
    return gram


def _weighted_gram_with_ones(X, d, ones):
    """:func:`weighted_gram` of ``[1, X]``, the block ``[1, X]`` in one buffer."""
    n, p = X.shape
    signed = d.size and d.min() < 0
    scale = d if signed else np.sqrt(d)
    if X.flags.f_contiguous and not X.flags.c_contiguous:
        return _weighted_gram_columns(X, scale, ones, signed)
    buffer = np.empty((min(n, _GRAM_ROWS), ones + p))
    gram = np.zeros((ones + p, ones + p))
    for start in range(0, n, _GRAM_ROWS):
        rows = slice(start, start + _GRAM_ROWS)
        block = buffer[: len(range(*rows.indices(n)))]
        if signed:
            block[:, :ones] = 1.0
            block[:, ones:] = X[rows]
            gram += (block * scale[rows, None]).T @ block
        else:
            block[:, :ones] = scale[rows, None]
            np.multiply(X[rows], scale[rows, None], out=block[:, ones:])
            gram += block.T @ block
    return gram


def _weighted_gram_columns(X, scale, ones, signed):
    """:func:`_weighted_gram_with_ones` of a column-major ``X`` (a DataFrame's values).

    The block is kept transposed, ``[1, X]ᵀ``, and filled column by column of
    ``X`` without a transposing copy.
    """
    n, p = X.shape
    buffer = np.empty((ones + p, min(n, _GRAM_ROWS)))
    gram = np.zeros((ones + p, ones + p))
    for start in range(0, n, _GRAM_ROWS):
        rows = slice(start, start + _GRAM_ROWS)
        block = buffer[:, : len(range(*rows.indices(n)))]
        if signed:
            block[:ones] = 1.0
            block[ones:] = X[rows].T
            gram += block @ (block * scale[rows]).T
        else:
            block[:ones] = scale[rows]
            np.multiply(X[rows].T, scale[rows], out=block[ones:])
            gram += block @ block.T
    return gram


def cross_product(X, C, ones=0):
    """Return ``Xᵀ C`` for a tall ``X`` and a few columns ``C``, by blocks of rows.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    C : ndarray of shape (n, c)
    ones : int, default=0
        Columns of ones to put before ``X`` (not stored in it).

    Returns
    -------
    ndarray of shape (ones + p, c)
    """
    if ones:
        total = C.sum(axis=0)
        return np.vstack([np.tile(total, (ones, 1)), cross_product(X, C)])
    # (CᵀX)ᵀ, not XᵀC: BLAS's kernel for a few rows times a tall matrix is
    # 1.5-2x faster than the one for a tall matrix's transpose times a few
    # columns, for row- and column-major X alike.
    n = X.shape[0]
    if n <= _CROSS_ROWS:
        return (C.T @ X).T
    product = np.zeros((X.shape[1], C.shape[1]))
    for start in range(0, n, _CROSS_ROWS):
        rows = slice(start, start + _CROSS_ROWS)
        product += (C[rows].T @ X[rows]).T
    return product
