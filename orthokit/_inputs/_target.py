"""The target, read like a frame of label or numeric columns."""

import numpy as np
import pandas as pd

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
