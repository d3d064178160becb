"""Frame adapters: every kind of ``X`` becomes a 2-D ndarray or an eager frame.

Frames go through narwhals, so pandas (numpy and nullable dtypes), polars
(eager and lazy), pyarrow tables and Series of pandas or polars are read by one
code path: a lazy frame is collected once, a Series is a one-column frame. NumPy
input is taken as it is, after ``np.matrix`` and masked arrays are resolved.
"""

import numpy as np
import scipy.sparse

try:  # narwhals comes with scikit-learn >= 1.9
    import narwhals.stable.v2 as nw
except ImportError:  # pragma: no cover - older narwhals
    import narwhals as nw


class Table:
    """A validated 2-D input: an ndarray or an eager narwhals frame.

    Parameters
    ----------
    data : ndarray or narwhals.DataFrame
    native : object
        What scikit-learn's ``validate_data`` sees (the native frame, for
        its feature names).
    names : list of str or None
        Column names of a frame; ``None`` for arrays.

    Examples
    --------
    >>> import pandas as pd
    >>> table = as_table(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    >>> table.shape, table.names, table.column(1).tolist()
    ((2, 2), ['a', 'b'], ['x', 'y'])
    """

    def __init__(self, data, native, names):
        self.data = data
        self.native = native
        self.names = names
        self._dtypes = None

    @property
    def is_frame(self):
        """Whether the columns have names (a data frame)."""
        return self.names is not None

    @property
    def shape(self):
        """``(n_rows, n_columns)``."""
        return tuple(self.data.shape)

    def column(self, j):
        """Column ``j`` as a 1-D ndarray (object dtype for labels)."""
        if self.names is None:
            return self.data[:, j]
        return self.data.get_column(self.data.columns[j]).to_numpy()

    def dtype(self, j):
        """Return column ``j``'s narwhals dtype (a frame) or the NumPy one."""
        if self.names is None:
            return self.data.dtype
        if self._dtypes is None:
            # narwhals builds the whole schema on every call: once per table.
            self._dtypes = list(self.data.schema.values())
        return self._dtypes[j]

    def series(self, j):
        """Column ``j`` of a frame as a narwhals Series."""
        return self.data.get_column(self.data.columns[j])


def is_frame_like(X):
    """Whether narwhals reads ``X`` as a frame or Series (pandas, polars, pyarrow).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> is_frame_like(pd.Series([1])), is_frame_like(np.ones(2))
    (True, False)
    """
    return nw.dependencies.is_into_dataframe(X) or nw.dependencies.is_into_series(
        X
    ) or _is_lazy(X)  # fmt: skip


def _is_lazy(X):
    module = type(X).__module__.split(".")[0]
    return module == "polars" and type(X).__name__ == "LazyFrame"


def as_table(X, argument="X", *, allow_empty=False):
    """Read ``X`` into a :class:`Table`, rejecting what no estimator can use.

    Parameters
    ----------
    X : array-like, DataFrame, LazyFrame, pyarrow Table or Series
    argument : str, default="X"
        Name of the argument in messages.
    allow_empty : bool, default=False
        Accept zero rows (a frame's schema, e.g. a dask frame's ``_meta``).

    Returns
    -------
    Table

    Raises
    ------
    TypeError
        Sparse matrices.
    ValueError
        Masked values, arrays that are not 2-D, empty input, duplicated
        column names.
    """
    reject_sparse(X, argument)
    if is_frame_like(X):
        frame = nw.from_native(X, allow_series=True)
        if isinstance(frame, nw.LazyFrame):
            frame = frame.collect()
        if isinstance(frame, nw.Series):
            frame = frame.to_frame()
        names = [str(name) for name in frame.columns]
        _check_unique(names, argument)
        table = Table(frame, nw.to_native(frame), names)
    else:
        data = _as_array(X, argument)
        table = Table(data, data, None)
    if not (allow_empty and table.shape[1]):
        _check_not_empty(table.shape, argument)
    return table


def reject_sparse(X, argument="X"):
    """Raise a TypeError for a sparse matrix: orthokit reads dense columns."""
    if scipy.sparse.issparse(X):
        raise TypeError(
            f"{argument} is a sparse matrix; orthokit needs dense data for its "
            "protected columns. Convert it with X.toarray()."
        )


def select(table, positions):
    """Return the native frame (or array) of the columns at ``positions``.

    Examples
    --------
    >>> import pandas as pd
    >>> select(as_table(pd.DataFrame({1: [0.5], 3: [2.0]})), [1]).columns.tolist()
    [3]
    """
    if not table.is_frame:
        return table.data[:, positions]
    return table.data.select(
        nw.col(table.data.columns[j]) for j in positions
    ).to_native()


def _as_array(X, argument):
    if isinstance(X, np.ma.MaskedArray):
        if np.ma.getmaskarray(X).any():
            rows = np.flatnonzero(np.ma.getmaskarray(X).reshape(len(X), -1).any(1))
            raise ValueError(
                f"{argument} is a masked array with masked values (first in row "
                f"{rows[0]}); fill them (X.filled(value)) or drop those rows."
            )
        X = X.data
    X = np.asarray(X)  # also turns np.matrix into an ndarray
    if X.ndim != 2:
        raise ValueError(
            f"{argument} must be 2-D (n_samples, n_features), got an array of "
            f"shape {X.shape}. Reshape your data with X.reshape(-1, 1) if it has "
            "a single feature or X.reshape(1, -1) if it contains a single sample."
        )
    return X


def _check_unique(names, argument):
    seen, duplicated = set(), []
    for name in names:
        if name in seen:
            duplicated.append(name)
        seen.add(name)
    if duplicated:
        raise ValueError(f"{argument} has duplicated column names {duplicated}.")


def _check_not_empty(shape, argument):
    if shape[0] == 0 or shape[1] == 0:
        count, what = (shape[0], "sample") if shape[0] == 0 else (0, "feature")
        raise ValueError(
            f"{argument} is empty: found array with {count} {what}(s) "
            f"(shape={tuple(shape)}) while a minimum of 1 is required."
        )
