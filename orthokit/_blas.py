"""A BLAS call that NumPy's ``matmul`` does not make: a product subtracted in place.

``np.matmul`` always writes its product to an output of its own (BLAS with
``beta = 0``): subtracting it from data then costs a second pass over the
product. BLAS's ``gemm`` computes ``C <- C - A @ B`` in one pass over ``C``
(``alpha = -1``, ``beta = 1``), through SciPy's public wrappers.
"""

import numpy as np
from scipy.linalg.blas import get_blas_funcs


def in_place_gemm(dtype):
    """Return the ``gemm`` of ``dtype`` (float32 or float64), or ``None`` for others.

    Parameters
    ----------
    dtype : dtype

    Returns
    -------
    callable or None
        To be passed to :func:`subtract_product`.

    Examples
    --------
    >>> import numpy as np
    >>> in_place_gemm(np.float32).typecode, in_place_gemm(np.int64)
    ('s', None)
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        return None
    return get_blas_funcs("gemm", dtype=dtype)


def subtract_product(gemm, out, centred, coef):
    """Overwrite ``out`` with ``out - centred @ coef`` by one BLAS call.

    ``out`` (C-contiguous, of ``gemm``'s dtype) is read and written once, in
    place; the product is never stored apart. Each element is rounded as
    ``out - (centred @ coef)`` rounds, so the result equals NumPy's
    ``np.subtract(out, centred @ coef)``.

    Parameters
    ----------
    gemm : callable
        From :func:`in_place_gemm` for ``out.dtype``.
    out : ndarray of shape (n, d)
        C-contiguous.
    centred : ndarray of shape (n, k)
    coef : ndarray of shape (k, d)
        Best Fortran-ordered (else copied at each call).

    Returns
    -------
    ndarray
        ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.ones((2, 1))
    >>> gemm = in_place_gemm(out.dtype)
    >>> subtract_product(gemm, out, np.array([[1.0], [2.0]]), np.array([[0.5]]))
    array([[0.5],
           [0. ]])
    """
    # out.T is Fortran-ordered (d, n): out.T <- out.T - coef.T @ centred.T.
    result = gemm(
        -1.0, coef, centred, beta=1.0, c=out.T, overwrite_c=True,
        trans_a=True, trans_b=True,
    )  # fmt: skip
    if not np.shares_memory(result, out):  # the wrapper had to copy
        out[...] = result.T
    return out
