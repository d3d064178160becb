"""The evaluation GLM on cells: distinct rows of categorical protected columns.

When every protected column is categorical, the evaluation GLM depends on the
rows only through the cells (the distinct combinations of levels): per cell,
the count ``n``, the mean of the predictions and the sum of squared deviations
from that mean (``M2``, merged exactly between blocks). A GLM on one row per
cell, weighted by the counts (statsmodels' ``freq_weights``), has the score,
the Fisher information and the IRLS steps of the GLM on all rows, with the
residual degrees of freedom ``n - p``; an estimated dispersion is the
Pearson statistic of the rows, ``sum_c (M2_c + n_c (mean_c - mu_c)^2) / V(mu_c)``.
The cells of row blocks are merged, so the same summary serves in-memory data
and dask collections.
"""

import numpy as np

from orthokit._linalg import power_of_two_scale


class Cells:
    """Summary of the predictions per cell of the protected levels.

    Moments are kept in a power of two ``unit`` per output (a prediction is
    ``unit`` times its stored value), so that sums of predictions of size
    1e300 do not overflow and squares of size 1e-300 do not underflow;
    :meth:`affine` returns cells in the unit 1.

    Parameters
    ----------
    keys : ndarray of int of shape (n_cells, n_columns)
        Level codes of each cell (one column per protected column).
    sizes : sequence of int
        Number of levels of each protected column.
    n : ndarray of shape (n_cells,)
        Rows per cell.
    mean, m2, low, high : ndarray of shape (n_cells, n_outputs)
        Per cell and output, in ``unit``: the mean, the sum of squared
        deviations from it, the smallest and the largest prediction.
    integral : ndarray of bool of shape (n_outputs,)
        Whether every prediction of the output is an integer.
    unit : ndarray of shape (n_outputs,), optional
        Powers of two; 1 when not given.

    Examples
    --------
    >>> import numpy as np
    >>> cells = Cells.from_rows(np.array([[0], [1], [1]]), [2], np.array([1.0, 2, 4]))
    >>> cells = cells.affine(1.0, 0.0)  # in the unit 1
    >>> cells.n.tolist(), cells.mean.ravel().tolist(), cells.m2.ravel().tolist()
    ([1.0, 2.0], [1.0, 3.0], [0.0, 2.0])
    """

    def __init__(self, keys, sizes, n, mean, m2, low, high, integral, unit=None):
        self.keys, self.sizes, self.n = keys, list(sizes), n
        self.mean, self.m2, self.low, self.high = mean, m2, low, high
        self.integral = integral
        self.unit = np.ones(mean.shape[1]) if unit is None else unit

    @classmethod
    def from_rows(cls, keys, sizes, values):
        """Summarize rows: ``keys`` (n, m) level codes, ``values`` (n,) or (n, k)."""
        values = np.asarray(values, dtype=np.float64)
        values = values[:, None] if values.ndim == 1 else values
        keys = np.asarray(keys, dtype=np.int64).reshape(len(values), -1)
        integral = (values == np.round(values)).all(axis=0)
        scale = power_of_two_scale(values)
        values = values * scale
        ones = np.ones(len(values))
        zeros = np.zeros_like(values)
        return _collapse(
            keys, sizes, ones, values, zeros, values, values, integral, 1 / scale
        )

    def merge(self, other):
        """Return the cells of both summaries' rows (``None`` is no rows)."""
        if other is None:
            return self
        unit = np.maximum(self.unit, other.unit)
        a, b = self._moments(unit), other._moments(unit)
        return _collapse(
            np.vstack([self.keys, other.keys]),
            self.sizes,
            np.concatenate([self.n, other.n]),
            *(np.vstack([x, y]) for x, y in zip(a, b, strict=True)),
            self.integral & other.integral,
            unit,
        )

    def _moments(self, unit):
        """``mean, m2, low, high`` in a larger ``unit`` (exact, or underflow)."""
        ratio = self.unit / unit
        return (
            self.mean * ratio,
            self.m2 * ratio**2,
            self.low * ratio,
            self.high * ratio,
        )

    @property
    def n_total(self):
        """Number of rows."""
        return int(self.n.sum())

    def output(self, j):
        """Return the cells of output ``j`` alone."""
        pick = slice(j, j + 1)
        return Cells(
            self.keys, self.sizes, self.n, self.mean[:, pick], self.m2[:, pick],
            self.low[:, pick], self.high[:, pick], self.integral[pick],
            self.unit[pick],
        )  # fmt: skip

    def extremes(self):
        """Return the smallest and largest prediction of every output, ``(2, k)``."""
        return np.vstack([self.low.min(axis=0), self.high.max(axis=0)]) * self.unit

    def grand_mean(self):
        """Mean of every output over all rows."""
        return self.n @ self.mean / self.n.sum() * self.unit

    def affine(self, factor, shift):
        """Cells of ``factor * y + shift`` (``factor > 0``), in the unit 1."""
        factor = factor * self.unit
        return Cells(
            self.keys, self.sizes, self.n, self.mean * factor + shift,
            self.m2 * factor**2, self.low * factor + shift,
            self.high * factor + shift, self.integral,
        )  # fmt: skip

    def design(self):
        """``[1, one-hot of each column, first level dropped]``, one row per cell."""
        blocks = [np.ones((len(self.n), 1))]
        for i, size in enumerate(self.sizes):
            blocks.append(np.eye(size)[self.keys[:, i]][:, 1:])
        return np.hstack(blocks)


def _collapse(keys, sizes, n, mean, m2, low, high, integral, unit):
    """Merge entries with the same key (Chan et al.'s exact pooled moments)."""
    if len(keys) == 0:
        raise ValueError("no rows to summarize")
    strides = np.cumprod([1, *sizes[:0:-1]])[::-1]
    combinations = float(np.prod(np.asarray(sizes, dtype=np.float64)))
    if combinations <= 2 * len(keys) + 2**16:
        # Few combinations: a table of all of them, O(n) (np.unique sorts).
        flat = keys @ np.asarray(strides, dtype=np.int64)
        unique = np.flatnonzero(np.bincount(flat, minlength=int(combinations)))
        lookup = np.zeros(int(combinations), dtype=np.intp)
        lookup[unique] = np.arange(len(unique))
        inverse = lookup[flat]
        cell_keys = np.column_stack(np.unravel_index(unique, sizes))
    elif combinations < 2.0**62:
        flat = keys @ np.asarray(strides, dtype=np.int64)
        unique, inverse = np.unique(flat, return_inverse=True)
        cell_keys = keys[np.unique(inverse, return_index=True)[1]]
    else:  # too many combinations for one integer key
        cell_keys, inverse = np.unique(keys, axis=0, return_inverse=True)
        unique = cell_keys
    inverse = inverse.ravel()
    n_cells = len(unique)
    count = np.bincount(inverse, weights=n, minlength=n_cells)
    k = mean.shape[1]
    out_mean, out_m2 = np.empty((n_cells, k)), np.empty((n_cells, k))
    out_low, out_high = np.full((n_cells, k), np.inf), np.full((n_cells, k), -np.inf)
    for j in range(k):
        total = np.bincount(inverse, weights=n * mean[:, j], minlength=n_cells)
        out_mean[:, j] = total / count
        # A second pass on the deviations corrects the rounding of the sums
        # (responses of size 1e4 over 10^5 rows lose 1e-10 otherwise).
        deviation = mean[:, j] - out_mean[inverse, j]
        out_mean[:, j] += (
            np.bincount(inverse, weights=n * deviation, minlength=n_cells) / count
        )
        deviation = mean[:, j] - out_mean[inverse, j]
        out_m2[:, j] = np.bincount(
            inverse, weights=m2[:, j] + n * deviation**2, minlength=n_cells
        )
        np.minimum.at(out_low[:, j], inverse, low[:, j])
        np.maximum.at(out_high[:, j], inverse, high[:, j])
    return Cells(
        cell_keys, sizes, count, out_mean, out_m2, out_low, out_high, integral, unit
    )


def pearson(cells, fitted, variance):
    """Pearson's statistic of the rows from the cells and the fitted cell means."""
    y = cells.mean[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum((cells.m2[:, 0] + cells.n * (y - fitted) ** 2) / variance))


def perfect_fit(cells, fitted):
    """Apply statsmodels' test of a perfect fit (``np.allclose``) to every row.

    Responses are non-negative here, so the largest miss of a cell is at its
    smallest or largest prediction.
    """
    bound = [np.isclose(fitted, cells.low[:, 0]), np.isclose(fitted, cells.high[:, 0])]
    return bool(np.all(bound))


def saturated_start(cells, family, link):
    """Closed-form estimate of the one-column model (one cell per level).

    IRLS started there ends at once, with the information at the estimate.
    """
    means = cells.mean[:, 0]
    tiny = np.finfo(np.float64).tiny
    bounded = np.clip(means, tiny, 1 - 2**-53 if family == "binomial" else None)
    eta = link(bounded if family != "gaussian" else means)
    return np.concatenate([[eta[0]], eta[1:] - eta[0]])
