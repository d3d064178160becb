"""The basis of the protected columns: nonlinear confounders removed linearly.

An estimator with a ``basis`` parameter (a scikit-learn transformer) corrects
for whatever is linear in ``basis(S)`` instead of in ``S``: the encoded
protected columns are expanded right after they are read, by the one function
:func:`apply_basis`, which :func:`~orthokit._inputs.read_design` calls for
every estimator. The basis is cloned and fitted once, when a fit starts (on
the first chunk of a stream), and stored as ``basis_``; every later read
applies that fitted clone.
"""

import numpy as np
import scipy.sparse
from sklearn.base import clone

from orthokit._inputs._checks import check_finite, shown


def has_basis(estimator):
    """Whether ``estimator`` expands its protected columns by a basis."""
    return getattr(estimator, "basis", None) is not None


def apply_basis(estimator, design, *, reset):
    """Replace ``design.S`` by the basis expansion of the protected columns.

    The encoded protected columns are kept as ``design.encoded``. They reach
    the basis as a DataFrame whose columns are named like
    ``estimator.protected_.encoded_names_`` (a label column ``sex`` is
    ``sex_M``), so a ``ColumnTransformer`` can select them by name.

    Parameters
    ----------
    estimator : BaseEstimator
        Has a ``basis`` parameter; with ``reset=True`` a clone of it is fitted
        and stored as ``basis_``, its output names as ``_basis_names``.
    design : Design
        With ``S`` materialized (no level codes).
    reset : bool

    Returns
    -------
    Design
        ``design``, changed in place.
    """
    if not has_basis(estimator) or design.S is None:
        return design
    import pandas as pd

    names = list(estimator.protected_.encoded_names_)
    frame = pd.DataFrame(design.S, columns=names, copy=False)
    if reset:
        basis = estimator.basis
        if not (hasattr(basis, "fit") and hasattr(basis, "transform")):
            raise TypeError(
                f"basis must be a scikit-learn transformer (with fit and "
                f"transform), got {basis!r} of type {type(basis).__name__}."
            )
        fitted = clone(basis)
        S = _as_matrix(_call(fitted.fit_transform, frame, "fit on", names), frame)
        estimator.basis_ = fitted
        estimator._basis_names = _output_names(fitted, names, S.shape[1])
    else:
        S = _as_matrix(
            _call(estimator.basis_.transform, frame, "transform", names), frame
        )
        if S.shape[1] != len(estimator._basis_names):
            raise ValueError(
                f"basis returned {S.shape[1]} columns, but "
                f"{len(estimator._basis_names)} when it was fitted."
            )
    check_finite(S, estimator._basis_names, "basis output")
    design.encoded, design.S = design.S, S
    return design


def protected_names(estimator):
    """Names of the columns the correction regresses on.

    The basis's output names with a basis, else the encoded protected columns.
    """
    if hasattr(estimator, "basis_") and has_basis(estimator):
        return list(estimator._basis_names)
    return list(estimator.protected_.encoded_names_)


def _call(method, frame, what, names):
    """Run a basis method; a failure is a ValueError that names ``basis``."""
    try:
        return method(frame)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"basis failed to {what} the protected columns {shown(names)}: {exc}"
        ) from exc


def _output_names(fitted, names, n_columns):
    """Name the basis columns: ``get_feature_names_out`` where it has one."""
    try:
        out = [str(name) for name in fitted.get_feature_names_out(names)]
    except (AttributeError, TypeError, ValueError):
        out = None
    if out is None or len(out) != n_columns or len(set(out)) != len(out):
        out = [f"basis{j}" for j in range(n_columns)]
    return out


def _as_matrix(expanded, frame):
    """Return the basis output as a float64 ndarray with a row per sample."""
    if scipy.sparse.issparse(expanded):
        expanded = expanded.toarray()
    try:
        S = np.asarray(expanded, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"basis returned values that are not numbers ({exc}); it must output "
            "a numeric matrix."
        ) from None
    if S.ndim != 2 or S.shape[0] != frame.shape[0] or S.shape[1] == 0:
        raise ValueError(
            f"basis returned an array of shape {S.shape}; it must output a matrix "
            f"with one row per sample ({frame.shape[0]}) and at least one column."
        )
    return S
