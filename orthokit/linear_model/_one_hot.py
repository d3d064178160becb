"""Weighted Gram matrices of designs with one-hot columns, by sums over level codes.

A design whose columns are mostly 0/1 indicators of the levels of a few
categorical features (one-hot encoded, a reference level dropped) has a
sparse weighted Gram matrix ``[1, X]ᵀ diag(d) [1, X]``: within a factor the
indicators are disjoint (a diagonal block: the sums of ``d`` over each level),
two factors give the table of sums of ``d`` over each pair of levels, and an
indicator with a dense column the sums of ``d x`` over each level. All are
margins of the sums over the cells of the table of every factor's levels:
one :func:`numpy.bincount` over the rows' cells per dense column and one
for ``d``, passes of ``n`` instead of a dense product of ``n`` times the
square of the number of columns.
"""

import numpy as np

from orthokit.linear_model._row_blocks import weighted_gram

#: Rows read to test whether a column may be an indicator before it is scanned.
_PEEK_ROWS = 64

#: Cost of one pass of :func:`numpy.bincount` relative to one multiply-add per
#: row of a BLAS product (measured: 1.2 ns against 0.12 ns per row).
_BINCOUNT_COST = 10


class OneHotGram:
    """The indicator columns of a design grouped into factors of disjoint levels.

    Built by :meth:`find`; :meth:`gram` returns ``[1, X]ᵀ diag(d) [1, X]``
    (``ones`` columns of ones before ``X``) equal to the dense product to
    rounding. Any set of 0/1 columns whose ones never share a row is a factor
    (the all-zero rows its reference level), so the grouping needs no names.

    Parameters
    ----------
    dense : ndarray of shape (n, n_dense)
        The other columns (column-major copy).
    dense_positions : ndarray of int
        Their positions among the columns of ``X``.
    codes : list of ndarray of shape (n,)
        Per factor, each row's level: 0 for none of its columns, ``l`` for
        its ``l``-th column.
    positions : list of ndarray of int
        Per factor, the positions of its columns among those of ``X``.
    ones : int
        Columns of ones before ``X`` (0 or 1).
    """

    def __init__(self, dense, dense_positions, codes, positions, ones):
        self.dense = dense
        self.dense_positions = dense_positions
        self.codes = codes
        self.positions = positions
        self.ones = ones
        # The Gram matrix is built with the columns in the order ones, dense,
        # then factor by factor (contiguous blocks), and put in X's order once.
        self.order = np.concatenate([np.arange(ones), dense_positions, *positions])
        sizes = [ones + len(dense_positions)] + [len(levels) for levels in positions]
        self.starts = np.cumsum(sizes)
        # Each row's cell of the table of all factors' levels (the first
        # factor's level the slowest): one bincount gives the sums over every
        # cell, and those over levels and pairs of levels are its margins.
        self.shape = tuple(len(levels) + 1 for levels in positions)
        self.cells = np.ravel_multi_index(codes, self.shape)

    def indicators(self):
        """Return ``{j: (codes, level)}``: ``X[:, j]`` is ``codes == level``."""
        return {
            int(position) - self.ones: (codes, level)
            for codes, positions in zip(self.codes, self.positions, strict=True)
            for level, position in enumerate(positions, start=1)
        }

    @classmethod
    def find(cls, X, ones):
        """Return the :class:`OneHotGram` of ``X``, or ``None`` where it does not pay.

        It pays when the indicators are most of the columns: the estimated cost
        of the bincounts is below half that of the dense product. Designs with
        as many columns as rows are not scanned (the solvers do not read them
        in place).

        Parameters
        ----------
        X : ndarray of shape (n, p)
        ones : int
            Columns of ones implied before ``X`` (0 or 1).

        Returns
        -------
        OneHotGram or None
        """
        n, p = X.shape
        if n <= p or X.dtype != np.float64:
            return None
        codes, positions, dense_positions = [], [], []
        used = np.zeros(n, dtype=bool)  # the rows of the last factor's levels
        cells = 1  # of the table of the factors' levels
        for j in range(p):
            column = X[:, j]
            head = column[:_PEEK_ROWS]
            level = None
            if np.all((head == 0.0) | (head == 1.0)):
                level = column == 1.0
                count = np.count_nonzero(level)
                if count in (0, n) or count + np.count_nonzero(column == 0.0) != n:
                    level = None  # constant, or not an indicator
            if level is None:
                dense_positions.append(j)
                continue
            # Into the last factor if disjoint from its levels, else a new one;
            # a dense column where the table of levels would outgrow the rows.
            new = not codes or np.any(used & level)
            axis = 1 if new else len(positions[-1]) + 1  # the factor's, so far
            if cells // axis * (axis + 1) > n:
                dense_positions.append(j)
                continue
            cells = cells // axis * (axis + 1)
            if new:
                codes.append(np.zeros(n, dtype=np.intp))
                positions.append([])
                used[:] = False
            used |= level
            positions[-1].append(j)
            np.putmask(codes[-1], level, len(positions[-1]))
        dense = len(dense_positions) + ones
        sparse_cost = _BINCOUNT_COST * (1 + len(dense_positions)) + dense**2
        if not codes or sparse_cost > 0.5 * (ones + p) ** 2:
            return None
        positions = [np.asarray(level, dtype=np.intp) + ones for level in positions]
        dense_positions = np.asarray(dense_positions, dtype=np.intp)
        return cls(
            np.asfortranarray(X[:, dense_positions]), dense_positions + ones,
            codes, positions, ones,
        )  # fmt: skip

    def gram(self, d):
        """Return ``[1, X]ᵀ diag(d) [1, X]``.

        Parameters
        ----------
        d : ndarray of shape (n,)
            Row weights, of either sign.

        Returns
        -------
        ndarray of shape (ones + p, ones + p)
        """
        head = self.starts[0]  # the columns of ones and the dense ones
        ordered = np.empty((self.starts[-1],) * 2)
        ordered[:head, :head] = weighted_gram(self.dense, d, ones=self.ones)
        size = int(np.prod(self.shape))
        # Sums of d and of d x (each dense column x) over the cells.
        tables = [
            np.bincount(self.cells, weights=values, minlength=size).reshape(self.shape)
            for values in [d] + [d * column for column in self.dense.T]
        ]
        axes = set(range(len(self.shape)))

        def margin(table, *kept):
            return table.sum(axis=tuple(axes.difference(kept)))

        bounds = list(zip(self.starts[:-1], self.starts[1:], strict=True))
        for g, (start, stop) in enumerate(bounds):
            heads = tables[:1] * self.ones + tables[1:]
            sums = np.array([margin(t, g)[1:] for t in heads])
            sums = sums.reshape(head, stop - start)  # head may be 0
            ordered[:head, start:stop] = sums
            ordered[start:stop, :head] = sums.T
            # Levels of one factor share no row: a diagonal block.
            ordered[start:stop, start:stop] = np.diag(margin(tables[0], g)[1:])
            for h in range(g + 1, len(bounds)):
                pair = margin(tables[0], g, h)[1:, 1:]
                ordered[start:stop, bounds[h][0] : bounds[h][1]] = pair
                ordered[bounds[h][0] : bounds[h][1], start:stop] = pair.T
        gram = np.empty_like(ordered)
        gram[np.ix_(self.order, self.order)] = ordered
        return gram
