"""Explaining a rejected chunk: which column made its statistics non-finite.

Both residualizers compute a chunk's statistics into new objects and check them
before they replace the fitted state (inside :func:`orthokit._inputs.fit_guard`,
which restores every attribute when the chunk is rejected).
"""

import numpy as np

from orthokit._inputs import check_finite, shown


def reject_chunk(source, columns, names, bad=None, argument="X"):
    """Raise the ValueError that explains why a chunk's statistics are not finite.

    Parameters
    ----------
    source : ndarray
        The chunk's features are ``source[:, columns]``.
    columns : slice or list of int
    names : sequence of str
        Names of the feature columns.
    bad : ndarray of bool of shape (len(names),), optional
        Columns whose statistics are not finite, if known.
    argument : str, default="X"

    Raises
    ------
    ValueError
        Always: NaN or infinity in a column, or finite values whose sums
        overflow float64 even after the exact rescaling fixed by the first chunk.
    """
    check_finite(source[:, columns], names, argument)
    names = list(names) if bad is None else [names[j] for j in np.flatnonzero(bad)]
    raise ValueError(
        f"{argument} column(s) {shown(names)} of this chunk hold finite values "
        "whose sums overflow float64 at the scale fixed by the first chunk "
        "(values near 1.8e308 / n_rows, or far larger than before). The chunk "
        "was rejected and the fitted state left as it was; rescale these columns."
    )


def nonfinite_columns(*statistics):
    """Columns (last axis) where any of the arrays is NaN or infinite."""
    bad = None
    for values in statistics:
        values = np.asarray(values)
        column_bad = ~np.isfinite(values.reshape(-1, values.shape[-1])).all(axis=0)
        bad = column_bad if bad is None else bad | column_bad
    return bad
