"""Numbers only: a block of numeric columns read as one float64 array."""

import numpy as np

from orthokit._inputs._checks import check_finite, column_kind
from orthokit._inputs._frames import as_table, is_frame_like, nw


def read_numeric(X, argument="X", *, allow_empty=False):
    """Return ``X`` as a float64 array of numeric, finite columns.

    For inputs that must hold numbers and nothing else (the metadata of a
    batch, the features of images): a 1-D array is one column; a pandas,
    polars or pyarrow frame or Series is read through narwhals. Booleans
    count as 0 and 1.

    Parameters
    ----------
    X : array-like, DataFrame, LazyFrame, pyarrow Table or Series
    argument : str, default="X"
        Name of the argument in messages.
    allow_empty : bool, default=False
        Accept zero rows.

    Returns
    -------
    ndarray of shape (n_samples, n_columns), float64

    Raises
    ------
    ValueError
        A column holding labels, NaN or infinity, an array of more than two
        dimensions.

    Examples
    --------
    >>> import pandas as pd
    >>> read_numeric(pd.DataFrame({"age": [30, 40]}), "metadata").tolist()
    [[30.0], [40.0]]
    >>> read_numeric(pd.DataFrame({"site": ["a", "b"]}), "metadata")
    Traceback (most recent call last):
    ...
    ValueError: metadata must hold numbers, but its column 'site' holds labels; \
encode it first (one-hot).
    """
    if not is_frame_like(X) and not isinstance(X, np.ma.MaskedArray):
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
    table = as_table(X, argument, allow_empty=allow_empty)
    names = table.names or [str(j) for j in range(table.shape[1])]
    if not table.is_frame and table.data.dtype.kind in "fiub":
        values = table.data.astype(np.float64, copy=False)
    else:
        values = np.empty(table.shape, dtype=np.float64)
        for j, name in enumerate(names):
            boolean = table.is_frame and table.dtype(j) == nw.Boolean
            if not boolean and column_kind(table, j, name, argument) != "numeric":
                raise ValueError(
                    f"{argument} must hold numbers, but its column {name!r} holds "
                    "labels; encode it first (one-hot)."
                )
            values[:, j] = _column_values(table, j)
    check_finite(values, names, argument)
    return values


def _column_values(table, j):
    """Column ``j`` as float64; missing values (None, pandas NA) become NaN."""
    column = table.column(j)
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):  # nullable values held as objects
        return np.array(
            [np.nan if v is None or v != v else v for v in column], dtype=np.float64
        )
