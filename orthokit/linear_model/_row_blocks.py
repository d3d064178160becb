"""Products with the design matrix, by blocks of rows that stay in cache.

The solvers' passes over the ``n x q`` design matrix are its products with a
few ``n``-vectors (gradient, constraint Jacobian) and its weighted Gram matrix
(Hessian). One BLAS call on the whole matrix is not the fastest way to do
either: a general product with a few columns packs the whole design matrix
into BLAS's buffers (a copy of it), and a weighted Gram matrix first needs the
weighted copy ``√d ⊙ X``. By blocks of rows, each block is read from memory
once and reused while in cache.
"""

import numpy as np

#: Rows per block of :func:`weighted_gram`: a block of a few dozen columns stays
#: in cache between the scaling and the rank-k update.
_GRAM_ROWS = 2048

#: Rows per block of :func:`cross_product`.
_CROSS_ROWS = 8192


def weighted_gram(X, d):
    """Return ``Xᵀ diag(d) X`` by blocks of rows, one symmetric BLAS product each.

    For non-negative ``d`` each block is ``B = √d ⊙ X`` and ``BᵀB`` goes to
    BLAS's symmetric rank-k update (half the work of a general product);
    otherwise (a Lagrangian curvature of either sign) one general product.

    Parameters
    ----------
    X : ndarray of shape (n, q)
    d : ndarray of shape (n,)

    Returns
    -------
    ndarray of shape (q, q)
    """
    if d.size and d.min() < 0:
        return (X * d[:, None]).T @ X
    root = np.sqrt(d)
    gram = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, X.shape[0], _GRAM_ROWS):
        block = X[start : start + _GRAM_ROWS] * root[start : start + _GRAM_ROWS, None]
        gram += block.T @ block
    return gram


def cross_product(X, C):
    """Return ``Xᵀ C`` for a tall ``X`` and a few columns ``C``, by blocks of rows.

    Parameters
    ----------
    X : ndarray of shape (n, q)
    C : ndarray of shape (n, c)

    Returns
    -------
    ndarray of shape (q, c)
    """
    n = X.shape[0]
    if n <= _CROSS_ROWS:
        return X.T @ C
    product = np.zeros((X.shape[1], C.shape[1]))
    for start in range(0, n, _CROSS_ROWS):
        product += X[start : start + _CROSS_ROWS].T @ C[start : start + _CROSS_ROWS]
    return product
