"""Group means: the regression on one categorical column without its one-hot matrix.

Regressing ``f`` on the centred indicators of a categorical column's levels
(first level dropped) fits, for a row of level ``g``, ``m_g - m̄``: the level's
mean of ``f`` minus the overall mean. The statistics are therefore the row count
and the feature sums of every level, linear in the rows and in memory
independent of anything but ``levels x features``; the coefficients on the
indicators are ``m_k - m_0``. Part of the numerical core: plain arrays in and
out.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from orthokit._linalg import _shifted_blocks

#: Rows per block: the scaled copy of a block stays in cache for its product.
_BLOCK_ROWS = 8192


@dataclass
class GroupMoments:
    """Row counts and feature sums per level.

    Attributes
    ----------
    counts : ndarray of shape (n_levels,)
    sums : ndarray of shape (n_levels, d)
        Sums of ``F * scale - shift`` over the rows of each level.
    """

    counts: np.ndarray
    sums: np.ndarray

    @classmethod
    def from_data(cls, codes, n_levels, F, *, scale, shift):
        """Compute the statistics of one block of rows.

        Parameters
        ----------
        codes : ndarray of int of shape (n,)
            Level of every row, in ``0..n_levels-1``.
        n_levels : int
        F : ndarray of shape (n, d)
            Any float dtype; read block by block, never copied whole.
        scale, shift : ndarray of shape (d,)
            Exact powers of two and pivots (:func:`orthokit._linalg.stream_pivots`).

        Returns
        -------
        GroupMoments

        Examples
        --------
        >>> import numpy as np
        >>> m = GroupMoments.from_data(np.array([0, 1, 1]), 2, np.array([[1.0], [2.0],
        ...     [4.0]]), scale=np.ones(1), shift=np.zeros(1))
        >>> m.counts.tolist(), m.sums.ravel().tolist()
        ([1.0, 2.0], [1.0, 6.0])
        """
        counts = np.bincount(codes, minlength=n_levels).astype(np.float64)
        sums = np.zeros((n_levels, F.shape[1]))
        for start, block in _shifted_blocks(F, scale, shift, _BLOCK_ROWS):
            rows = block.shape[0]
            indicator = scipy.sparse.csr_matrix(
                (np.ones(rows), (codes[start : start + rows], np.arange(rows))),
                shape=(n_levels, rows),
            )
            sums += indicator @ block
        return cls(counts, sums)

    @property
    def n(self):
        """Number of rows."""
        return float(self.counts.sum())

    def is_finite(self):
        """Whether every sum is finite.

        Returns
        -------
        bool
        """
        return bool(np.isfinite(self.sums).all())

    def merge(self, other):
        """Statistics of both blocks together (exactly: counts and sums add up).

        Parameters
        ----------
        other : GroupMoments

        Returns
        -------
        GroupMoments
        """
        return GroupMoments(self.counts + other.counts, self.sums + other.sums)

    def coefficients(self):
        """Return ``(B, p)``: ``B[k-1] = m_k - m_0`` and ``p`` the level shares.

        Levels without rows are an error, as a constant indicator is for the
        dense regression.

        Returns
        -------
        coef : ndarray of shape (n_levels - 1, d)
        shares : ndarray of shape (n_levels - 1,)
        """
        empty = np.flatnonzero(self.counts == 0)
        if empty.size:
            raise EmptyLevels(empty)
        means = self.sums / self.counts[:, None]
        return means[1:] - means[0], self.counts[1:] / self.n


class EmptyLevels(ValueError):
    """Levels without rows (their positions in ``levels``)."""

    def __init__(self, positions):
        super().__init__(positions)
        self.positions = positions


def subtract_group_offsets(F, codes, coef, shares, out, columns, chunk_rows=4096):
    """Write ``F[:, columns] - (m_g - m̄)`` into ``out``, row block by row block.

    ``m_g - m̄`` is rebuilt from the fitted coefficients ``B = m_k - m_0``
    and level shares ``p``: ``[0, B][g] - p @ B``.

    Parameters
    ----------
    F : ndarray of shape (n, d_all)
    codes : ndarray of int of shape (n,)
    coef : ndarray of shape (n_levels - 1, d)
    shares : ndarray of shape (n_levels - 1,)
    out : ndarray of shape (n, d)
    columns : slice or list of int

    Returns
    -------
    ndarray
        ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.empty((3, 1))
    >>> F = np.array([[1.0], [2.0], [4.0]])  # level means 1 and 3, overall 7/3
    >>> out = subtract_group_offsets(F, np.array([0, 1, 1]), np.array([[2.0]]),
    ...                              np.array([2 / 3]), out, slice(None))
    >>> np.round(out.ravel() * 3, 12).tolist()
    [7.0, 4.0, 10.0]
    """
    offsets = np.vstack([np.zeros((1, coef.shape[1])), coef]) - shares @ coef
    offsets = offsets.astype(out.dtype, copy=False)
    for start in range(0, F.shape[0], chunk_rows):
        stop = min(start + chunk_rows, F.shape[0])
        np.subtract(
            F[start:stop][:, columns], offsets[codes[start:stop]], out=out[start:stop]
        )
    return out
