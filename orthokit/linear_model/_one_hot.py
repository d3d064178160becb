"""Weighted Gram matrices of designs with one-hot columns, by sums over level codes.

A design whose columns are mostly 0/1 indicators of the levels of a few
categorical features (one-hot encoded, a reference level dropped) has a
sparse weighted Gram matrix ``[1, X]ᵀ diag(d) [1, X]``: within a factor the
indicators are disjoint (a diagonal block: the sums of ``d`` over each level),
two factors give the table of sums of ``d`` over each pair of levels, and an
indicator with a dense column the sums of ``d x`` over each level. Each is one
:func:`numpy.bincount` over the rows' level codes, a pass of ``n`` instead of
a dense product of ``n`` times the square of the number of columns.
"""

import numpy as np

from orthokit.linear_model._row_blocks import weighted_gram

#: Rows read to test whether a column may be an indicator before it is scanned.
_PEEK_ROWS = 64

#: Cost of one pass of :func:`numpy.bincount` relative to one multiply-add per
#: row of a BLAS product (measured: 1.2 ns against 0.12 ns per row).
_BINCOUNT_COST = 10

#: Most factors: their pairs' codes are kept (one integer per row and pair).
_MOST_FACTORS = 8


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
        self.starts = np.cumsum([ones + len(dense_positions)] + [len(p) for p in positions])
        # Codes of the pairs of factors, level of the first times the second's
        # number of levels plus level of the second: one bincount per pair.
        self.pairs = [
            (g, h, codes[g] * (len(positions[h]) + 1) + codes[h])
            for g in range(len(codes))
            for h in range(g + 1, len(codes))
        ]

    def indicators(self):
        """Return ``{column: (codes, level)}``: column ``j`` of ``X`` is ``codes == level``."""
        return {
            int(position) - self.ones: (codes, level)
            for codes, positions in zip(self.codes, self.positions, strict=True)
            for level, position in enumerate(positions, start=1)
        }

    @classmethod
    def find(cls, X, ones):
        """Return the :class:`OneHotGram` of ``X``, or ``None`` where it does not pay.

        It pays when the indicators are most of the columns: the estimated cost
        of the bincounts is below half that of the dense product.

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
        if n == 0 or X.dtype != np.float64:
            return None
        codes, positions, dense_positions = [], [], []
        used = np.zeros(n, dtype=bool)  # the rows of the last factor's levels
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
            # Into the last factor if disjoint from its levels, else a new one.
            if not codes or np.any(used & level):
                if len(codes) == _MOST_FACTORS:
                    dense_positions.append(j)
                    continue
                codes.append(np.zeros(n, dtype=np.intp))
                positions.append([])
                used[:] = False
            used |= level
            positions[-1].append(j)
            np.putmask(codes[-1], level, len(positions[-1]))
        factors = len(codes)
        dense = len(dense_positions) + ones
        sparse_cost = _BINCOUNT_COST * (factors * (factors - 1) / 2 + factors * dense)
        if not factors or sparse_cost + dense**2 > 0.5 * (ones + p) ** 2:
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
        # Each factor's level sums of d and of d x for the dense columns x.
        weighted = [d] * self.ones + [d * column for column in self.dense.T]
        blocks = zip(self.codes, self.starts[:-1], self.starts[1:], strict=True)
        for codes, start, stop in blocks:
            size = stop - start + 1
            sums = np.array([
                np.bincount(codes, weights=values, minlength=size)[1:]
                for values in weighted
            ])  # fmt: skip
            ordered[:head, start:stop] = sums
            ordered[start:stop, :head] = sums.T
            # Levels of one factor share no row: a diagonal block.
            level_sums = sums[0] if self.ones else np.bincount(codes, weights=d)[1:]
            ordered[start:stop, start:stop] = np.diag(level_sums)
        for g, h, codes in self.pairs:
            (first, second), (end, stop) = self.starts[[g, h]], self.starts[[g + 1, h + 1]]
            table = np.bincount(
                codes, weights=d, minlength=(end - first + 1) * (stop - second + 1)
            ).reshape(end - first + 1, -1)[1:, 1:]
            ordered[first:end, second:stop] = table
            ordered[second:stop, first:end] = table.T
        gram = np.empty_like(ordered)
        gram[np.ix_(self.order, self.order)] = ordered
        return gram
