"""Dask support: reduce statistics over row blocks, transform block by block.

dask is optional: these helpers import it only when a dask collection is
passed, and nothing else in orthokit imports dask.
"""

import numpy as np


def is_dask_collection(X):
    """Whether ``X`` is a dask array or data frame.

    Examples
    --------
    >>> import numpy as np
    >>> is_dask_collection(np.ones(3))
    False
    """
    return type(X).__module__.split(".")[0] == "dask"


def _is_frame(X):
    return hasattr(X, "map_partitions")


def row_blocks(X, y=None):
    """Delayed row blocks of ``X`` (all columns in each), paired with ``y``'s.

    Returns a list of ``(X_block, y_block)``; ``y_block`` is ``None`` when
    ``y`` is ``None``, else the rows of ``y`` aligned with the block.
    """
    if _is_frame(X):
        blocks = list(X.to_delayed())
    else:
        blocks = list(X.rechunk({1: -1}).to_delayed().ravel())
    y_blocks = [None] * len(blocks) if y is None else aligned_blocks(y, X)
    return list(zip(blocks, y_blocks, strict=True))


def aligned_blocks(y, X):
    """Row blocks of ``y`` aligned with those of ``X`` (``None`` passes through)."""
    if y is None:
        return None
    if is_dask_collection(y):
        if _is_frame(y):
            y = y.to_dask_array(lengths=True)
        rows = X.to_dask_array(lengths=True).chunks[0] if _is_frame(X) else X.chunks[0]
        return list(y.rechunk({0: rows}).to_delayed().ravel())
    raise TypeError("y must be a dask collection when X is one.")


def _partition_rows(block, number):
    """How messages name a row of partition ``number`` of a dask frame."""

    def name(row):  # partitions' lengths are unknown: the row and its label
        label = block.index[row : row + 1].tolist()[0]
        return f"row {row} of partition {number} (index {label!r})"

    return name


def placed(func, X, number):
    """``func(block, ...)`` for block ``number`` of ``X``, naming rows of all of ``X``.

    The messages of the input layer (NaN, labels, missing values) then give
    the row's place in the whole collection, not in the block.
    """
    from orthokit._inputs import naming_rows

    start = None if _is_frame(X) else int(sum(X.chunks[0][:number]))

    def call(block, *args, **kwargs):
        if start is None:
            rows = naming_rows(_partition_rows(block, number))
        else:  # a dask array: the chunks give every block's first row
            rows = naming_rows(start=start)
        with rows:
            return func(block, *args, **kwargs)

    return call


def tree_reduce(items, combine):
    """Combine delayed ``items`` pairwise in a balanced tree; return one delayed."""
    import dask

    combine = dask.delayed(combine)
    while len(items) > 1:
        pairs = [combine(a, b) for a, b in zip(items[::2], items[1::2], strict=False)]
        items = pairs + ([items[-1]] if len(items) % 2 else [])
    return items[0]


def head(X, n_rows=1000):
    """Return the first rows of ``X`` as a pandas frame or NumPy array."""
    if _is_frame(X):
        return X.head(n_rows, npartitions=-1)
    return np.asarray(X[:n_rows].compute())


def protected_levels(X, protected, given=None):
    """Levels of the label protected columns of a dask data frame.

    ``protected`` is the estimator's specification; only its column names
    matter here (positions refer to arrays, which hold numbers). Which
    columns hold labels, and the order of their levels, follow the input
    layer's rules (:func:`orthokit._inputs.column_kind`, ``learn_levels``) on
    the distinct values, computed in one pass (unless ``given``), so that
    every block is encoded alike.
    """
    import dask

    from orthokit._inputs import as_table, column_kind
    from orthokit._inputs._encode import learn_levels

    levels = dict(given or {})
    if not _is_frame(X):
        return levels or None
    # str(): numpy's str_ would show as np.str_('race') in messages.
    names = [str(p) for p in np.atleast_1d(protected) if isinstance(p, str)]
    sample = as_table(X._meta, allow_empty=True)
    wanted = [
        name
        for name in names
        if name in sample.names
        and name not in levels
        and column_kind(sample, sample.names.index(name), name, "protected") == "labels"
    ]
    uniques = dask.compute(*[X[name].drop_duplicates() for name in wanted])
    for name, values in zip(wanted, uniques, strict=True):
        table = as_table(values.dropna().to_frame(name))
        levels[name] = learn_levels(table, 0, name)
    return levels or None


def map_row_blocks(X, func, n_columns, dtype, names):
    """Apply ``func`` (block -> ndarray) lazily to every row block of ``X``.

    An empty block (common after filtering) gives an empty block.
    """

    def apply(block, number):
        if len(block) == 0:
            return np.empty((0, n_columns), dtype=dtype)
        return placed(func, X, number)(block)

    if _is_frame(X):
        import pandas as pd

        def to_frame(part, partition_info=None):
            values = apply(part, (partition_info or {"number": 0})["number"])
            return pd.DataFrame(values, columns=names, index=part.index)

        meta = pd.DataFrame(np.empty((0, n_columns), dtype=dtype), columns=names)
        return X.map_partitions(to_frame, meta=meta)
    X = X.rechunk({1: -1})

    def to_block(block, block_info=None):
        return apply(block, block_info[0]["chunk-location"][0] if block_info else 0)

    return X.map_blocks(to_block, dtype=dtype, chunks=(X.chunks[0], (n_columns,)))
