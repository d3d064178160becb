"""Group means: the regression on categorical columns without their one-hot matrix.

Regressing ``f`` on the centred indicators of a categorical column's levels
(first level dropped) fits, for a row of level ``g``, ``m_g - m̄``: the level's
mean of ``f`` minus the overall mean. The statistics are therefore the row count
and the feature sums of every level, linear in the rows and in memory
independent of anything but ``levels x features``; the coefficients on the
indicators are ``m_k - m_0``.

Several categorical columns are absorbed by the exact sparse normal equations
of the regression on an intercept and the indicators (first level of every
column dropped). Their statistics are additive over chunks too: the counts and
feature sums of every level of every column, and for each pair of columns the
sparse cross-tabulation of their levels. The column with the most levels is
eliminated exactly (its block of the normal matrix is the diagonal of its
counts), leaving a Schur complement over the levels of the other columns only:
the Gram matrix of their indicators demeaned within the levels of the largest
column, solved by the package's rank-aware solver. No ``n x levels`` matrix and
no Gram over the largest column's levels is formed. Part of the numerical core:
plain arrays in and out.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse

from orthokit._linalg import (
    CONSTANT_RTOL,
    CollinearityWarning,
    _shifted_blocks,
    gather_columns,
    solve_gram,
)

#: Rows per block: the scaled copy of a block stays in cache for its product.
_BLOCK_ROWS = 8192


@dataclass
class GroupMoments:
    """Row counts and feature sums per level of each column, and cross-tabulations.

    Attributes
    ----------
    counts : list of ndarray of shape (n_levels_j,)
        Rows of every level, one array per column.
    sums : list of ndarray of shape (n_levels_j, d)
        Sums of ``F * scale - shift`` over the rows of each level, per column.
    crosstabs : dict
        ``(i, j) -> scipy.sparse.csr_array`` of shape ``(n_levels_i,
        n_levels_j)`` for every pair of columns ``i < j``: rows with level
        ``a`` of column ``i`` and level ``b`` of column ``j``.
    """

    counts: list
    sums: list
    crosstabs: dict = field(default_factory=dict)

    @classmethod
    def from_data(cls, codes, n_levels, F, *, scale, shift):
        """Compute the statistics of one block of rows.

        Parameters
        ----------
        codes : ndarray of int of shape (n,) or (n, m)
            Level of every row in each of ``m`` columns (one column if 1-D),
            in ``0..n_levels_j-1``.
        n_levels : int or sequence of int
            Number of levels of each column.
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
        >>> m.counts[0].tolist(), m.sums[0].ravel().tolist()
        ([1.0, 2.0], [1.0, 6.0])
        """
        codes = codes.reshape(codes.shape[0], -1)
        n_levels = np.atleast_1d(n_levels).tolist()
        m = codes.shape[1]
        counts = [
            np.bincount(codes[:, j], minlength=n_levels[j]).astype(np.float64)
            for j in range(m)
        ]
        sums = [np.zeros((k, F.shape[1])) for k in n_levels]
        for start, block in _shifted_blocks(F, scale, shift, _BLOCK_ROWS):
            rows = block.shape[0]
            for j in range(m):
                sums[j] += (
                    _indicator(codes[start : start + rows, j], n_levels[j]) @ block
                )
        crosstabs = {
            (i, j): _crosstab(codes[:, i], codes[:, j], n_levels[i], n_levels[j])
            for i in range(m)
            for j in range(i + 1, m)
        }
        return cls(counts, sums, crosstabs)

    @property
    def n(self):
        """Number of rows."""
        return float(self.counts[0].sum())

    @property
    def feature_sums(self):
        """Sums of the features by level of the first column (every row counts)."""
        return self.sums[0]

    def is_finite(self):
        """Whether every sum is finite.

        Returns
        -------
        bool
        """
        return bool(all(np.isfinite(s).all() for s in self.sums))

    def take(self, columns):
        """Keep the features ``columns`` of the sums.

        Parameters
        ----------
        columns : slice or list of int

        Returns
        -------
        GroupMoments
        """
        return GroupMoments(
            self.counts, [s[:, columns] for s in self.sums], self.crosstabs
        )

    def merge(self, other):
        """Statistics of both blocks together (exactly: counts and sums add up).

        Parameters
        ----------
        other : GroupMoments

        Returns
        -------
        GroupMoments
        """
        return GroupMoments(
            [a + b for a, b in zip(self.counts, other.counts, strict=True)],
            [a + b for a, b in zip(self.sums, other.sums, strict=True)],
            {key: tab + other.crosstabs[key] for key, tab in self.crosstabs.items()},
        )

    def coefficients(self, names=None, columns=None):
        """Solve the regression on the indicators of every level but the first.

        Levels without rows are an error, as a constant indicator is for the
        dense regression. Collinear indicators (nested columns, levels of two
        columns that never meet) give a :class:`CollinearityWarning` and one
        exact least-squares solution: the fitted values are unique.

        Parameters
        ----------
        names : sequence of str, optional
            Names of the encoded indicators (column by column), for messages.
        columns : sequence of str, optional
            Names of the columns, for messages.

        Returns
        -------
        coef : ndarray of shape (n_encoded, d)
            For one column ``B[k-1] = m_k - m_0``.
        shares : ndarray of shape (n_encoded,)
            Means of the indicators (level shares).
        rank : int
            Rank of the centred indicators.
        """
        for j, counts in enumerate(self.counts):
            empty = np.flatnonzero(counts == 0)
            if empty.size:
                raise EmptyLevels(empty, column=j)
        sizes = [len(c) for c in self.counts]
        columns = list(columns or [f"c{j}" for j in range(len(sizes))])
        names = list(names or [f"{columns[j]}_{k}" for j, s in enumerate(sizes)
                               for k in range(1, s)])  # fmt: skip
        big = int(np.argmax(sizes))
        rest = [j for j in range(len(sizes)) if j != big]
        bounds = np.cumsum([0] + [s - 1 for s in sizes])
        rest_names = [name for j in rest for name in names[bounds[j] : bounds[j + 1]]]
        coef_rest, rank = self._solve_rest(big, rest, rest_names, columns[big])
        cross = self._cross(big, rest)
        effects = (self.sums[big] - cross @ coef_rest) / self.counts[big][:, None]
        blocks = {big: effects[1:] - effects[0]}
        start = 0
        for j in rest:
            blocks[j], start = (
                coef_rest[start : start + sizes[j] - 1],
                start + sizes[j] - 1,
            )
        coef = np.vstack([blocks[j] for j in range(len(sizes))])
        shares = np.concatenate([c[1:] for c in self.counts]) / self.n
        return coef, shares, rank + sizes[big] - 1

    def _pair(self, i, j):
        """Cross-tabulation of columns ``i`` and ``j`` (rows: levels of ``i``)."""
        return self.crosstabs[(i, j)] if i < j else self.crosstabs[(j, i)].T

    def _cross(self, big, rest):
        """Rows with each level of ``big`` and each kept level of the others."""
        blocks = [self._pair(big, j)[:, 1:] for j in rest]
        shape = (len(self.counts[big]), 0)
        return scipy.sparse.hstack(blocks, format="csr") if blocks else (
            scipy.sparse.csr_array(shape)
        )  # fmt: skip

    def _solve_rest(self, big, rest, names, big_name):
        """Coefficients of the other columns, the largest one eliminated.

        The Schur complement of the largest column's (diagonal) block is the
        Gram matrix of the other indicators demeaned within its levels; its
        right-hand side the same for the features.
        """
        d = self.sums[0].shape[1]
        if not rest:
            return np.zeros((0, d)), 0
        blocks = [
            [
                scipy.sparse.diags_array(self.counts[i][1:]) if i == j
                else self._pair(i, j)[1:, 1:]
                for j in rest
            ]
            for i in rest
        ]  # fmt: skip
        cross = self._cross(big, rest)
        weighted = scipy.sparse.diags_array(1 / self.counts[big]) @ cross
        gram = (scipy.sparse.block_array(blocks) - cross.T @ weighted).toarray()
        rhs = np.vstack([self.sums[j][1:] for j in rest]) - weighted.T @ self.sums[big]
        diag = np.diag(gram)
        absorbed = diag <= CONSTANT_RTOL * max(diag.max(initial=0.0), 1.0)
        coef = np.zeros((gram.shape[0], d))
        if absorbed.any():
            warnings.warn(
                f"protected columns {[names[k] for k in np.flatnonzero(absorbed)]} "
                f"are collinear with the levels of {big_name!r}; using a "
                "least-squares solution, which removes their common span once.",
                CollinearityWarning,
                stacklevel=4,
            )
        kept = np.flatnonzero(~absorbed)
        if kept.size == 0:
            return coef, 0
        coef[kept], rank = solve_gram(
            gram[np.ix_(kept, kept)], rhs[kept], [names[k] for k in kept]
        )
        return coef, rank


class EmptyLevels(ValueError):
    """Levels without rows (their positions in the levels of column ``column``)."""

    def __init__(self, positions, column=0):
        super().__init__(positions)
        self.positions = positions
        self.column = column


def _indicator(codes, n_levels):
    """Return the ``n_levels x rows`` sparse indicator matrix of ``codes``."""
    rows = codes.shape[0]
    return scipy.sparse.csr_matrix(
        (np.ones(rows), (codes, np.arange(rows))), shape=(n_levels, rows)
    )


def _crosstab(first, second, n_first, n_second):
    """Rows with each pair of levels, as a sparse ``n_first x n_second`` array."""
    return scipy.sparse.csr_array(
        (np.ones(first.shape[0]), (first, second)), shape=(n_first, n_second)
    )


def subtract_group_offsets(
    F, codes, coef, shares, out, columns, n_levels=None, chunk_rows=4096
):
    """Write ``F[:, columns]`` minus its fitted group offsets into ``out``.

    For one column the offset of a row of level ``g`` is ``m_g - m̄``, rebuilt
    from the fitted coefficients ``B = m_k - m_0`` and level shares ``p``:
    ``[0, B][g] - p @ B``. For several columns the coefficients are stacked
    column by column and the offset is the sum of each column's ``[0, B_j]``
    at the row's level, minus ``p @ B``: a lookup per column and row block,
    never an indicator matrix.

    Parameters
    ----------
    F : ndarray of shape (n, d_all)
    codes : ndarray of int of shape (n,) or (n, m)
    coef : ndarray of shape (n_encoded, d)
        ``n_encoded = sum(n_levels) - m``.
    shares : ndarray of shape (n_encoded,)
    out : ndarray of shape (n, d)
    columns : slice or list of int
    n_levels : sequence of int, optional
        Levels of each column; needed for several columns.
    chunk_rows : int, default=4096

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
    codes = codes.reshape(codes.shape[0], -1)
    if n_levels is None:
        n_levels = [coef.shape[0] + 1]
    # Column j's table [0, B_j] starts at row starts[j] of one stacked array.
    bounds = np.cumsum([0] + [k - 1 for k in n_levels])
    starts = bounds + np.arange(len(bounds))
    parts = []
    for j in range(len(n_levels)):
        parts += [np.zeros((1, coef.shape[1])), coef[bounds[j] : bounds[j + 1]]]
    tables = np.vstack(parts).astype(out.dtype, copy=False)
    constant = (shares @ coef).astype(out.dtype, copy=False)
    for start in range(0, F.shape[0], chunk_rows):
        stop = min(start + chunk_rows, F.shape[0])
        rows = codes[start:stop] + starts[:-1]
        offsets = tables[rows[:, 0]]
        for j in range(1, rows.shape[1]):
            offsets += tables[rows[:, j]]
        offsets -= constant
        block = out[start:stop]
        np.subtract(gather_columns(F[start:stop], columns, block), offsets, out=block)
    return out
