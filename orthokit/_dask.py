"""Dask support: reduce statistics over row blocks, transform block by block.

dask is optional: these helpers import it only when a dask collection is
passed, and nothing else in orthokit imports dask.
"""

import os
import threading
import warnings
from functools import partial

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
    the row's place in the whole collection, not in the block. ``X=None``
    (the collection is not known) returns ``func``.
    """
    if X is None:
        return func
    if not _is_frame(X):  # a dask array: the chunks give every block's first row
        return starting_at(func, sum(X.chunks[0][:number]))
    from orthokit._inputs import naming_rows

    def call(block, *args, **kwargs):
        with naming_rows(_partition_rows(block, number)):
            return func(block, *args, **kwargs)

    return call


def _from_start(func, start, *args, **kwargs):
    from orthokit._inputs import naming_rows

    with naming_rows(start=start):
        return func(*args, **kwargs)


def starting_at(func, start):
    """``func`` whose input-layer messages number rows from ``start``.

    For blocks whose first row in the whole input is known (dask arrays,
    partitions of known lengths).
    """
    return partial(_from_start, func, int(start))


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


# Warnings of tasks run in other processes (a dask.distributed cluster) stay
# there: each reduction's tasks record theirs and return them with their
# results, and the client warns of each distinct one once. In the client's
# own process (the threaded and synchronous schedulers, a cluster of threads)
# warnings reach the caller as they always did, and nothing is recorded:
# ``warnings.catch_warnings`` changes the process's global state and is not
# safe across the threads that run tasks side by side. A worker process
# records without it: a hook installed once (:func:`_install_recorder`) hands
# each warning to the list of the thread that raised it.
_recording = threading.local()
_install = threading.Lock()
_installed = []


def _record(message, category, filename, lineno, file=None, line=None):
    caught = getattr(_recording, "caught", None)
    if caught is None:
        return _installed[0](message, category, filename, lineno, file, line)
    key = (category, str(message))
    if key not in caught:
        caught.append(key)
    return None


def _install_recorder():
    """In a worker process: show every warning, to the raising task's list."""
    with _install:
        if not _installed:
            _installed.append(warnings.showwarning)
            warnings.showwarning = _record
            # "always": a warning a task raised before in this process (the
            # registry of "default") is still one for this task's client.
            warnings.simplefilter("always")


class relayed:  # noqa: N801 - used as a function
    """``func`` returning ``(result, warnings)``, for :func:`compute_relayed`.

    ``warnings`` are the ``(category, message)`` of the distinct warnings the
    call raised when it ran outside the process that made the graph (on a
    worker process); empty there, where they reach the caller directly.
    """

    def __init__(self, func):
        self.func = func
        self.client = os.getpid()

    def __call__(self, *args, **kwargs):
        if os.getpid() == self.client:
            return self.func(*args, **kwargs), []
        _install_recorder()
        _recording.caught = caught = []
        try:
            return self.func(*args, **kwargs), caught
        finally:
            _recording.caught = None


def _merge_relayed(combine, first, second):
    caught = first[1] + [key for key in second[1] if key not in first[1]]
    return combine(first[0], second[0]), caught


def compute_relayed(parts, combine=None):
    """Compute delayed ``relayed`` calls; warn of what they recorded, once each.

    With ``combine`` the parts are reduced in a tree (:func:`tree_reduce`)
    and the total is returned, else the list of their results.
    """
    import dask

    if combine is None:
        (results,) = dask.compute(list(parts))
        values = [value for value, _ in results]
        caught = [key for _, keys in results for key in keys]
    else:
        ((values, caught),) = dask.compute(
            tree_reduce(list(parts), partial(_merge_relayed, combine))
        )
    for category, message in dict.fromkeys(caught):
        warnings.warn(message, category, stacklevel=3)
    return values
