"""Recursive least squares (RLS), for NumPy arrays and torch tensors alike.

Written once (:func:`rls_update`, :func:`rls_weighted_update`), so the
``RecursiveResidualizer`` transformer and the ``RecursiveMetadataNorm`` layer
share one implementation.
"""

import numpy as np


def _namespace(array):
    """Return ``numpy`` or ``torch``, whichever owns ``array``."""
    if type(array).__module__.startswith("torch"):
        import torch

        return torch
    return np


def _symmetrize(matrix):
    return (matrix + matrix.T) / 2


def rls_init(n_regressors, n_targets, delta, like=None):
    """Return the initial RLS state ``R = delta I``, ``P = I / delta``, ``B = 0``.

    Parameters
    ----------
    n_regressors : int
        Number of regressors ``k`` (including an intercept column if any).
    n_targets : int
        Number of target columns ``d``.
    delta : float
        Ridge regularization of the initial state (``> 0``).
    like : array, optional
        A NumPy array or torch tensor whose namespace and device to use. The
        state is always float64.

    Returns
    -------
    info, cov, coef : arrays of shapes (k, k), (k, k), (k, d)
    """
    xp = _namespace(like) if like is not None else np
    device = getattr(like, "device", None) if like is not None else None
    dtype = xp.float64
    eye = xp.eye(n_regressors, dtype=dtype, device=device)
    coef = xp.zeros((n_regressors, n_targets), dtype=dtype, device=device)
    return eye * delta, eye / delta, coef


def rls_update(
    info,
    cov,
    coef,
    M,
    F,
    *,
    forgetting=1.0,
    per_sample=False,
    process_noise=0.0,
):
    """One block update of recursive least squares with forgetting.

    ``M`` (b×k regressors) and ``F`` (b×d targets) are cast to float64. With
    ``per_sample=False`` the old state is discounted once by ``forgetting``
    (forgetting per batch). With ``per_sample=True`` row ``i`` of the block
    gets weight ``forgetting**(b-1-i)`` and the old state ``forgetting**b``,
    which is exactly what a per-row RLS filter computes, but vectorized.

    The covariance form (Woodbury identity) is used when ``b <= k`` and the
    information form otherwise; both keep ``info`` and ``cov`` as inverses of
    each other, symmetric and positive definite.

    Parameters
    ----------
    info : array of shape (k, k)
        Information matrix ``R``.
    cov : array of shape (k, k)
        Its inverse ``P``.
    coef : array of shape (k, d)
        Current coefficients.
    M : array of shape (b, k)
    F : array of shape (b, d)
    forgetting : float, default=1.0
        Forgetting factor in ``(0, 1]``.
    per_sample : bool, default=False
        Apply forgetting after every row instead of once per block.
    process_noise : float, default=0.0
        Added to the diagonal of ``P`` after the update (R-MDN's ``q``).

    Returns
    -------
    info, cov, coef : updated arrays (new objects; inputs are not modified)

    Examples
    --------
    >>> import numpy as np
    >>> info, cov, coef = rls_init(2, 1, delta=1e-9)
    >>> M = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> info, cov, coef = rls_update(info, cov, coef, M, 1 + 2 * M[:, 1:])
    >>> np.round(coef.ravel(), 6).tolist()
    [1.0, 2.0]
    """
    if per_sample and forgetting != 1.0:
        xp = _namespace(info)
        powers = xp.arange(M.shape[0] - 1, -1, -1, dtype=info.dtype, device=info.device)
        row_weights = forgetting**powers
        discount = forgetting ** M.shape[0]
    else:
        row_weights = None
        discount = forgetting
    return rls_weighted_update(
        info,
        cov,
        coef,
        M,
        F,
        discount=discount,
        row_weights=row_weights,
        process_noise=process_noise,
    )


def rls_weighted_update(
    info,
    cov,
    coef,
    M,
    F,
    *,
    discount=1.0,
    row_weights=None,
    ridge=0.0,
    prior=None,
    process_noise=0.0,
    form="auto",
):
    """Weighted block update of recursive least squares (the general form).

    Updates the information matrix to

        ``R <- discount * R + (1 - discount) * ridge * I + M.T @ diag(w) @ M``

    and the coefficients to the solution of the matching normal equations,
    ``R B = discount * R_old B_old + M.T @ diag(w) @ F``. :func:`rls_update`
    is this with ``ridge = 0`` and ``w = forgetting**(b-1-i)`` (per sample) or
    ``w = 1`` (per batch). Any forgetting schedule whose weights factor like
    this, e.g. many batches with forgetting once per batch, is one call.

    ``ridge > 0`` keeps a ridge of ``ridge * I`` in ``R`` for ever (with
    ``R_0 = ridge * I``, ``R`` never drops below it), where plain forgetting
    lets the initial ``delta * I`` decay as ``forgetting**t`` and ``R`` become
    singular once a regressor stops varying for a few thousand rows. The ridge
    pulls the coefficients towards ``prior`` (start the state at
    ``coef = prior`` for the same effect from ``R_0``).

    With ``form="auto"`` the covariance form (Woodbury identity) is used when
    ``b <= k``, the rows are unweighted and no ridge is added; otherwise the
    information form, which is also the more accurate when the regressors are
    badly scaled (the covariance form's downdate loses digits then).
    The information form never forms the ``b x d`` residual: it uses
    ``M.T W F - (M.T W M) B``, one pass over ``F``.

    Parameters
    ----------
    info, cov, coef : arrays of shapes (k, k), (k, k), (k, d)
        Information matrix ``R``, its inverse ``P`` and the coefficients.
    M : array of shape (b, k)
    F : array of shape (b, d)
        Cast to float64 (NumPy casts block-wise inside the products).
    discount : float, default=1.0
        Factor applied to the old state, in ``(0, 1]``.
    row_weights : array of shape (b,), optional
        Weight of each row (all 1 if not given).
    ridge : float, default=0.0
        Persistent ridge, see above.
    prior : array of shape (k, d), optional
        Coefficients the persistent ridge shrinks towards (0 if not given).
    process_noise : float, default=0.0
        Added to the diagonal of ``P`` after the update.
    form : {"auto", "covariance", "information"}, default="auto"
        Which update to use; "covariance" needs unweighted rows and no ridge.

    Returns
    -------
    info, cov, coef : updated arrays (new objects; inputs are not modified)

    Examples
    --------
    >>> import numpy as np
    >>> info, cov, coef = rls_init(2, 1, delta=1e-9)
    >>> M = np.column_stack([np.ones(4), np.arange(4.0)])
    >>> info, cov, coef = rls_weighted_update(
    ...     info, cov, coef, M, 1 + 2 * M[:, 1:], row_weights=np.full(4, 0.5))
    >>> np.round(coef.ravel(), 6).tolist()
    [1.0, 2.0]
    """
    xp = _namespace(info)
    if xp is np:
        M = np.asarray(M, dtype=np.float64)
        if F.dtype.kind != "f":
            F = F.astype(np.float64)
    else:
        M, F = M.to(info.dtype), F.to(info.dtype)
    b, k = M.shape
    leak = (1.0 - discount) * ridge
    if form == "auto":
        small = b <= k and row_weights is None and leak == 0.0
        form = "covariance" if small else "information"
    if form == "covariance":
        if row_weights is not None or leak != 0.0:
            raise ValueError("the covariance form needs unweighted rows, no ridge.")
        scaled_cov = cov / discount
        residual = F - M @ coef
        cov_mt = scaled_cov @ M.T
        denominator = M @ cov_mt
        if b == 1:
            gain = cov_mt / (1.0 + denominator)
        else:
            denominator = denominator + xp.eye(b, dtype=info.dtype, device=info.device)
            gain = xp.linalg.solve(denominator, cov_mt.T).T
        new_coef = coef + gain @ residual
        new_cov = _symmetrize(scaled_cov - gain @ cov_mt.T)
        new_info = _symmetrize(discount * info + M.T @ M)
    elif form == "information":
        weighted_mt = M.T if row_weights is None else (M * row_weights[:, None]).T
        gram = weighted_mt @ M
        new_info = discount * info + gram
        gradient = weighted_mt @ F - gram @ coef
        if leak:
            eye = xp.eye(k, dtype=info.dtype, device=info.device)
            new_info = new_info + leak * eye
            gradient = gradient - leak * (coef if prior is None else coef - prior)
        new_info = _symmetrize(new_info)
        new_cov = _symmetrize(xp.linalg.inv(new_info))
        new_coef = coef + new_cov @ gradient
    else:
        raise ValueError(f"unknown form {form!r}.")
    if process_noise:
        eye = xp.eye(k, dtype=info.dtype, device=info.device)
        new_cov = new_cov + process_noise * eye
        new_info = _symmetrize(xp.linalg.inv(new_cov))
    return new_info, new_cov, new_coef
