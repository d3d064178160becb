"""Exact squared distance correlation, memory-bounded.

Three exact paths, all giving :mod:`dcor`'s V-statistic:

* both sides 1-D: :mod:`dcor`'s O(n log n) ``mergesort`` algorithm;
* ``S`` with few distinct rows (sex, race, site; the usual case): the
  double-centred distance matrix of ``S`` is a small ``G x G`` table ``B``,
  so ``sum_ij a_ij B[g_i, g_j]`` needs, for 1-D features, one sort
  (O(n log n)) and otherwise the ``n x G`` group sums of the feature
  distances, computed in blocks of rows;
* otherwise blocks of rows of both distance matrices, accumulating
  ``sum a_ij b_ij`` and the row sums (double centring written out), so memory
  stays O(block x n) whatever ``n``.

Distances of multivariate features come from one matrix product per block
(``|x_i|^2 + |x_j|^2 - 2 x_i'x_j`` on centred data), with the diagonal set to 0.
"""

import numpy as np
from scipy.spatial.distance import cdist

MAX_GROUPS = 64
_BLOCK_ELEMENTS = 2**22  # 32 MiB of float64 per distance block
_CDIST_MAX_FEATURES = 8  # below this cdist beats a matrix product, and is exact


def group_table(s):
    """Return ``(groups, centred B, dVar^2(S))`` or ``None`` for many levels."""
    unique, groups = np.unique(s, axis=0, return_inverse=True)
    if len(unique) > MAX_GROUPS:
        return None
    groups = groups.ravel()
    weights = np.bincount(groups, minlength=len(unique)) / len(groups)
    b = cdist(unique, unique)
    row_means = b @ weights
    centred = b - row_means[:, None] - row_means[None, :] + row_means @ weights
    return groups, centred, float(weights @ (centred**2) @ weights)


def grouped_covariances(z, groups, centred):
    """``sum_ij |z_i - z_j| B[g_i, g_j] / n^2`` for every column ``z`` of ``z``.

    ``B`` is centred (its weighted rows sum to 0), so with ``z`` sorted,
    ``sum_ij |z_i - z_j| W_ij = 2 sum_i z_i (2 before_i + B[g_i, g_i])`` where
    ``before_i = sum_{j<i} B[g_j, g_i]``: one cumulative sum per column.
    """
    n, k = z.shape
    n_groups = centred.shape[0]
    out = np.empty(k)
    chunk = max(1, _BLOCK_ELEMENTS // (n * n_groups))
    for start in range(0, k, chunk):
        block = z[:, start : start + chunk]
        order = np.argsort(block, axis=0)
        sorted_z = np.take_along_axis(block, order, axis=0)
        g = groups[order]  # (n, chunk)
        rows = centred[g]  # (n, chunk, G): B[g_i, :]
        np.cumsum(rows, axis=0, out=rows)  # sum_{j<=i} B[g_j, :]
        through = np.take_along_axis(rows, g[..., None], axis=2)[..., 0]
        # before_i = through_i - B[g_i, g_i], so 2 before + B[g_i, g_i] is:
        weight = 2.0 * through - centred[g, g]
        out[start : start + chunk] = 2.0 * np.einsum("ij,ij->j", sorted_z, weight)
    return out / n**2


def _distances(x, rows, squared_norms):
    """Distances from ``x[rows]`` to every row of (centred) ``x``."""
    if x.shape[1] <= _CDIST_MAX_FEATURES:
        return cdist(x[rows], x)
    d = x[rows] @ x.T
    d *= -2.0
    d += squared_norms[rows, None]
    d += squared_norms[None, :]
    np.maximum(d, 0.0, out=d)
    np.sqrt(d, out=d)
    d[np.arange(len(rows)), rows] = 0.0
    return d


class _Side:
    """Running sums of one side's (shifted) distance matrix."""

    def __init__(self, x, shift=True):
        self.x = x - x.mean(axis=0)
        self.norms = np.einsum("ij,ij->i", self.x, self.x)
        self.rows = np.zeros(len(x))
        self.square = 0.0
        self.shift = None if shift else 0.0

    def block(self, rows):
        d = _distances(self.x, rows, self.norms)
        if self.shift is None:
            # Centring removes a constant; subtracting the mean distance first
            # keeps the sums small, so little cancels in the double centring.
            self.shift = float(d.mean())
        d -= self.shift
        d[np.arange(len(rows)), rows] = -self.shift
        self.rows[rows] = d.sum(axis=1)
        self.square += float(np.einsum("ij,ij->", d, d))
        return d

    def centred_square(self, n):
        """``sum_ij A_ij^2`` of the double-centred matrix."""
        total = self.rows.sum()
        return self.square - 2.0 / n * float(self.rows @ self.rows) + total**2 / n**2


def distance_sums(x):
    """Return ``(sum_ij a_ij^2, sum_i a_i.^2, sum_ij a_ij)`` of distances of ``x``."""
    side = _Side(x, shift=False)
    for rows in _blocks(len(x)):
        side.block(rows)
    return side.square, float(side.rows @ side.rows), float(side.rows.sum())


def _blocks(n):
    step = max(1, min(n, _BLOCK_ELEMENTS // n))
    return [np.arange(i, min(i + step, n)) for i in range(0, n, step)]


def exact_dcor(x, s):
    """Return dcor's squared distance correlation (V-statistic) of ``x``, ``s``."""
    n = len(x)
    if x.shape[1] == 1 and s.shape[1] == 1:
        import dcor

        return float(
            dcor.distance_correlation_sqr(x[:, 0], s[:, 0], method="mergesort")
        )
    table = group_table(s)
    if table is not None and x.shape[1] == 1:
        groups, centred, variance_s = table
        covariance = grouped_covariances(x, groups, centred)[0]
        import dcor

        variance_x = dcor.distance_covariance_sqr(x[:, 0], x[:, 0], method="mergesort")
        return dcor_ratio(covariance, variance_x, variance_s)
    side_x = _Side(x)
    product = 0.0
    if table is not None:
        groups, centred, variance_s = table
        indicator = np.zeros((n, centred.shape[0]))
        indicator[np.arange(n), groups] = 1.0
        for rows in _blocks(n):
            # sum_j a_ij B[g_i, g_j] = (a_i. grouped) . B[g_i, :]; the shift
            # drops out because B is centred.
            sums = side_x.block(rows) @ indicator
            product += float(np.einsum("ig,ig->", sums, centred[groups[rows]]))
        variance_x = side_x.centred_square(n) / n**2
        return dcor_ratio(product / n**2, variance_x, variance_s)
    side_s = _Side(s)
    for rows in _blocks(n):
        product += float(np.einsum("ij,ij->", side_x.block(rows), side_s.block(rows)))
    total_x, total_s = side_x.rows.sum(), side_s.rows.sum()
    centred_product = (
        product - 2.0 / n * float(side_x.rows @ side_s.rows) + total_x * total_s / n**2
    )
    return dcor_ratio(
        centred_product / n**2,
        side_x.centred_square(n) / n**2,
        side_s.centred_square(n) / n**2,
    )


def dcor_ratio(covariance, variance_x, variance_s, *, clip=True):
    """``dCov^2 / sqrt(dVar^2_x dVar^2_s)``, 0 where a side is constant.

    ``clip=True`` keeps an exact value inside ``[0, 1]`` (rounding only);
    an estimate is left unclipped (``clip=False``) so that its average over
    partitions stays unbiased.
    """
    if variance_x <= 0 or variance_s <= 0:
        return 0.0
    ratio = float(covariance / np.sqrt(variance_x * variance_s))
    return min(max(ratio, 0.0), 1.0) if clip else ratio
