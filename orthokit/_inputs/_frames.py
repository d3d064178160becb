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
        # Read once: narwhals rebuilds the schema and the column list per call,
        # and a column (a new pandas Series each time) per call.
        self._dtypes = self._keys = None
        self._series = {}

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
        return self.series(j).to_numpy()

    def dtype(self, j):
        """Return column ``j``'s narwhals dtype (a frame) or the NumPy one."""
        if self.names is None:
            return self.data.dtype
        if self._dtypes is None:
            self._dtypes = list(self.data.schema.values())
        return self._dtypes[j]

    def series(self, j):
        """Column ``j`` of a frame as a narwhals Series."""
        if j not in self._series:
            if self._keys is None:
                self._keys = self.data.columns
            self._series[j] = self.data.get_column(self._keys[j])
        return self._series[j]


def is_frame_like(X):
    """Whether narwhals reads ``X`` as a frame or Series (pandas, polars, pyarrow).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> is_frame_like(pd.Series([1])), is_frame_like(np.ones(2))
    (True, False)
    """
    if isinstance(X, np.ndarray | list | tuple):
        # Not frames; asking narwhals would look for its plugins, which costs
        # 0.1 s at the first call (reading every package's entry points).
        return False
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
        keys = frame.columns
        names = [str(name) for name in keys]
        _check_unique(names, argument)
        table = Table(frame, nw.to_native(frame), names)
        table._keys = keys
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
    return table.data[:, list(positions)].to_native()


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


class ColumnStack:
    """Equal-length 1-D float columns read as one 2-D array, row block by row block.

    What a frame's numeric columns become when they do not lie in one 2-D
    buffer (polars, pyarrow, pandas frames built column by column): indexing
    rows gathers just those rows of every column, so that a pass over the
    data in row blocks copies each block only within the cache, never the
    whole frame.

    Parameters
    ----------
    columns : list of ndarray of shape (n,)
        One dtype.

    Examples
    --------
    >>> import numpy as np
    >>> stack = ColumnStack([np.arange(3.0), np.arange(3.0) * 10])
    >>> stack.shape, stack[1:3].tolist(), stack[:, [1]].ravel().tolist()
    ((3, 2), [[1.0, 10.0], [2.0, 20.0]], [0.0, 10.0, 20.0])
    """

    ndim = 2

    #: Rows per block that a pass over the stack should read at least: each
    #: gather costs a call per column.
    min_block_rows = 4096

    def __init__(self, columns):
        self.columns = columns
        self.dtype = columns[0].dtype
        self.shape = (len(columns[0]), len(columns))

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        rows, positions = key if isinstance(key, tuple) else (key, slice(None))
        if not isinstance(rows, slice):
            raise TypeError("a ColumnStack is indexed by a slice of rows.")
        chosen = self._chosen(positions)
        n_rows = len(range(*rows.indices(self.shape[0])))
        block = np.empty((n_rows, len(chosen)), dtype=self.dtype, order="F")
        return _gather(rows, chosen, block)

    def read_into(self, rows, positions, out):
        """Write ``self[rows, positions]`` into ``out``, with no block of its own.

        For a pass that writes every row block of the stack into an output
        anyway (the projector's transform): one copy of each value instead of
        a gather and a copy.

        Parameters
        ----------
        rows : slice
        positions : slice or list of int
        out : ndarray of shape (n_rows, n_positions)

        Returns
        -------
        ndarray
            ``out``.
        """
        return _gather(rows, self._chosen(positions), out)

    def _chosen(self, positions):
        if isinstance(positions, slice):
            return self.columns[positions]
        return [self.columns[j] for j in positions]

    def __array__(self, dtype=None, copy=None):
        block = self[:]
        return block if dtype is None else block.astype(dtype, copy=False)


def _gather(rows, columns, out):
    """Write the ``rows`` of each 1-D column into the matching column of ``out``."""
    for j, column in enumerate(columns):
        out[:, j] = column[rows]
    return out


def numeric_columns(table, positions):
    """Return a frame's float columns as one array-like without copying them.

    Parameters
    ----------
    table : Table
        A frame.
    positions : list of int

    Returns
    -------
    ndarray, ColumnStack or None
        A 2-D view where the columns lie at equal steps in one buffer (a
        pandas frame of one dtype), else a :class:`ColumnStack` of the
        columns; ``None`` unless every column converts to a 1-D array of one
        float dtype (float32 or float64).

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    >>> numeric_columns(as_table(frame), [0, 1]).tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    if not positions:
        return None
    columns = []
    for j in positions:
        # Missing values of float columns become NaN, which the caller's
        # check of its sums rejects (counting them would be a pass of its own).
        values = table.series(j).to_numpy()
        if values.ndim != 1 or values.dtype not in (np.float32, np.float64):
            return None
        columns.append(values)
    if len({values.dtype for values in columns}) > 1:
        return None
    view = _strided_view(columns)
    return ColumnStack(columns) if view is None else view


def _strided_view(columns):
    """Return a 2-D view of 1-D arrays at equal steps in one buffer, or ``None``."""
    first = columns[0]
    itemsize = first.dtype.itemsize
    if any(c.strides != (itemsize,) for c in columns):
        return None
    root = _root(first)
    if any(_root(c) is not root for c in columns):
        return None
    starts = [c.__array_interface__["data"][0] for c in columns]
    step = starts[1] - starts[0] if len(starts) > 1 else itemsize * len(first)
    if any(b - a != step for a, b in zip(starts, starts[1:], strict=False)):
        return None
    low, high = np.lib.array_utils.byte_bounds(root)
    ends = [start + itemsize * len(first) for start in starts]
    if min(starts) < low or max(ends) > high:
        return None
    return np.lib.stride_tricks.as_strided(
        first, shape=(len(first), len(columns)), strides=(itemsize, step),
        writeable=False,
    )  # fmt: skip


def _root(array):
    """Return the array that owns the memory ``array`` views."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array
