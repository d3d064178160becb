"""Atomic streaming updates: a rejected chunk leaves an estimator as it was.

Both residualizers compute a chunk's statistics into new objects and check them
before they replace the fitted state. :func:`restore_on_error` also undoes the
bookkeeping of the first call (validated column names, the resolved protected
columns), so that a failed first ``partial_fit`` leaves an unfitted estimator.
"""

from contextlib import contextmanager

import numpy as np

from orthokit._protected import check_finite


@contextmanager
def restore_on_error(estimator):
    """Restore every attribute of ``estimator`` if the block raises.

    Fitted state is only ever replaced by new objects, never modified in place,
    so a shallow copy of the attributes is a complete snapshot. NumPy's
    overflow and invalid-value warnings are silenced inside: the statistics
    are checked for finiteness explicitly and a clear ValueError raised.
    """
    saved = dict(vars(estimator))
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise


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
        f"{argument} column(s) {names} of this chunk hold finite values whose sums "
        "overflow float64 at the scale fixed by the first chunk (values near "
        "1.8e308 / n_rows, or far larger than before). The chunk was rejected "
        "and the fitted state left as it was; rescale these columns."
    )


def nonfinite_columns(*statistics):
    """Columns (last axis) where any of the arrays is NaN or infinite."""
    bad = None
    for values in statistics:
        values = np.asarray(values)
        column_bad = ~np.isfinite(values.reshape(-1, values.shape[-1])).all(axis=0)
        bad = column_bad if bad is None else bad | column_bad
    return bad
