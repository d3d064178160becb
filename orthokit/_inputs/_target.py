"""The target: labels or values of one column, or a frame of columns."""

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from orthokit._inputs._frames import as_table, is_frame_like


def read_target(y, n_samples, *, needed_for):
    """Return ``y`` as a :class:`~orthokit._inputs._frames.Table` of ``n_samples`` rows.

    A 1-D array is a column named ``y``; a Series keeps its name.

    Parameters
    ----------
    y : array-like, Series or frame
    n_samples : int or None
        Rows of ``X`` (``None``: not checked).
    needed_for : str
        Why ``y`` is needed, for the message when it is missing.

    Returns
    -------
    Table

    Examples
    --------
    >>> read_target([0, 1, 1], 3, needed_for="this").names
    ['y']
    """
    if y is None:
        raise ValueError(f"y is required {needed_for}.")
    if not is_frame_like(y):
        y = np.asarray(y)
        y = pd.DataFrame(y if y.ndim == 2 else {"y": y})
    elif isinstance(y, pd.Series) and y.name is None:
        y = y.rename("y")
    table = as_table(y, "y")
    if n_samples is not None and table.shape[0] != n_samples:
        raise ValueError(
            f"y has {table.shape[0]} rows but X has {n_samples}; they must match."
        )
    return table


def read_labels(y, n_samples, estimator_name="the estimator"):
    """Return a 1-D target of ``n_samples`` rows as it is (labels or values).

    A column vector is ravelled with scikit-learn's DataConversionWarning.

    Parameters
    ----------
    y : array-like, Series or one-column frame
    n_samples : int
        Rows of ``X``.
    estimator_name : str
        For messages.

    Returns
    -------
    ndarray of shape (n_samples,)

    Examples
    --------
    >>> read_labels(["b", "a"], 2).tolist()
    ['b', 'a']
    """
    if y is None:
        raise ValueError(
            f"{estimator_name} requires y to be passed, but the target y is None."
        )
    if is_frame_like(y):
        table = as_table(y, "y")
        if table.shape[1] != 1:
            raise ValueError(f"y must be 1-D, got {table.shape[1]} columns.")
        y = table.column(0)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got an array of shape {y.shape}.")
    if y.shape[0] != n_samples:
        raise ValueError(
            f"y has {y.shape[0]} rows but X has {n_samples}; they must match."
        )
    return y


def read_y(y, n_samples, task, estimator_name="the estimator", *, min_classes=2):
    """Return a 1-D target of ``n_samples`` rows, checked for ``task``.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
    n_samples : int
        Rows of ``X``.
    task : {"classification", "regression", "counts"}
    estimator_name : str
        For messages.
    min_classes : int, default=2
        Classes ``y`` must hold for classification (1 where they are known
        already, e.g. a later chunk of ``partial_fit``).

    Returns
    -------
    tuple or ndarray
        ``(classes, codes)`` for classification (at least two classes), else
        float64 values (finite; non-negative for counts).

    Examples
    --------
    >>> read_y(["b", "a", "b"], 3, "classification")[1].tolist()
    [1, 0, 1]
    """
    y = read_labels(y, n_samples, estimator_name)
    if task == "classification":
        check_classification_targets(y)
        # The codes by binary search in the sorted classes: the same as
        # np.unique's inverse, which sorts all of y (2x slower at 1e6 rows).
        classes = np.unique(y)
        codes = np.searchsorted(classes, y)
        if len(classes) < min_classes:
            raise ValueError(
                f"{estimator_name} needs samples of at least 2 classes in the data, "
                f"but y contains only one class: {classes[0]!r}."
            )
        return classes, codes
    try:
        values = y.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"y must be numeric, got dtype {y.dtype}.") from None
    if not np.isfinite(values).all():
        raise ValueError("y contains NaN or infinity.")
    if task == "counts" and (values < 0).any():
        raise ValueError(
            "y must be non-negative counts for family='poisson'; found "
            f"{int((values < 0).sum())} negative value(s), e.g. "
            f"{values[values < 0][0]}."
        )
    return values
