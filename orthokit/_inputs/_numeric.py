"""Numbers only: a block of numeric columns read as one float64 array."""

import numpy as np

from orthokit._inputs._checks import (
    check_finite,
    column_kind,
    first_non_number,
    row_name,
)
from orthokit._inputs._frames import as_table, is_frame_like, nw, reject_sparse


def _positions(n_columns):
    return [str(j) for j in range(n_columns)]


def read_numeric(
    X, argument="X", *, allow_empty=False, names=_positions, booleans=True
):
    """Return ``X`` as a float64 array of numeric, finite columns, and their names.

    For inputs that must hold numbers and nothing else (predictions, the
    metadata of a batch, the features of images): a 1-D array is one column;
    a pandas, polars or pyarrow frame or Series is read through narwhals.
    Booleans count as 0 and 1 (with ``booleans=True``).

    Parameters
    ----------
    X : array-like, DataFrame, LazyFrame, pyarrow Table or Series
    argument : str, default="X"
        Name of the argument in messages.
    allow_empty : bool, default=False
        Accept zero rows.
    names : callable, default: ``"0", "1", ...``
        ``names(n_columns)`` names the columns of an array; ``names(1)[0]``
        an unnamed Series.
    booleans : bool, default=True
        Read a frame's boolean columns as 0 and 1; ``False``: they are labels.

    Returns
    -------
    values : ndarray of shape (n_samples, n_columns), float64
    names : list of str

    Raises
    ------
    TypeError
        A column holding labels, a sparse matrix.
    ValueError
        NaN or infinity, an array of more than two dimensions, no rows.

    Examples
    --------
    >>> import pandas as pd
    >>> read_numeric(pd.DataFrame({"age": [30, 40]}), "metadata")[0].tolist()
    [[30.0], [40.0]]
    >>> read_numeric(pd.DataFrame({"site": ["a", "b"]}), "metadata")
    Traceback (most recent call last):
    ...
    TypeError: metadata must be numeric, but its column 'site' holds labels \
(dtype String; row 0 is 'a').
    """
    reject_sparse(X, argument)
    if not is_frame_like(X) and not isinstance(X, np.ma.MaskedArray):
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
    elif getattr(X, "name", "") in (None, "") and hasattr(X, "rename"):
        if not hasattr(X, "columns"):  # an unnamed Series
            X = X.rename(names(1)[0])
    table = as_table(X, argument, allow_empty=allow_empty)
    columns = table.names or names(table.shape[1])
    if not table.is_frame and table.data.dtype.kind in "fiub":
        values = table.data.astype(np.float64, copy=False)
    else:
        values = np.empty(table.shape, dtype=np.float64)
        for j, name in enumerate(columns):
            boolean = booleans and table.is_frame and table.dtype(j) == nw.Boolean
            if not boolean and column_kind(table, j, name, argument) != "numeric":
                row, value = first_non_number(table.column(j))
                where = "text" if row is None else f"{row_name(row)} is {value!r}"
                raise TypeError(
                    f"{argument} must be numeric, but its column {name!r} holds "
                    f"labels (dtype {table.dtype(j)}; {where})."
                )
            values[:, j] = _column_values(table, j)
    check_finite(values, columns, argument)
    return values, columns


def _column_values(table, j):
    """Column ``j`` as float64; missing values (None, pandas NA) become NaN."""
    column = table.column(j)
    try:
        return np.asarray(column, dtype=np.float64)
    except (TypeError, ValueError):  # nullable values held as objects
        return np.array(
            [np.nan if v is None or v != v else v for v in column], dtype=np.float64
        )
