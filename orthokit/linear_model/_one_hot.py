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
        self.size = ones + len(dense_positions) + sum(map(len, positions))
        # Codes of the pairs of factors, level of the first times the second's
        # number of levels plus level of the second: one bincount per pair.
        self.pairs = [
            (g, h, codes[g] * (len(positions[h]) + 1) + codes[h])
            for g in range(len(codes))
            for h in range(g + 1, len(codes))
        ]

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
        gram = np.empty((self.size, self.size))

        def put(rows, columns, block):
            gram[np.ix_(rows, columns)] = block
            gram[np.ix_(columns, rows)] = block.T

        dense = np.concatenate([np.arange(self.ones), self.dense_positions])
        gram[np.ix_(dense, dense)] = weighted_gram(self.dense, d, ones=self.ones)
        weighted = [d * column for column in self.dense.T]
        for codes, levels in zip(self.codes, self.positions, strict=True):
            size = len(levels) + 1
            sums = np.bincount(codes, weights=d, minlength=size)[1:]
            # Levels of one factor share no row: a diagonal block.
            put(levels, levels, np.diag(sums))
            if self.ones:
                put([0], levels, sums[None])
            for position, values in zip(self.dense_positions, weighted, strict=True):
                sums = np.bincount(codes, weights=values, minlength=size)[1:]
                put([position], levels, sums[None])
        for g, h, codes in self.pairs:
            first, second = self.positions[g], self.positions[h]
            table = np.bincount(
                codes, weights=d, minlength=(len(first) + 1) * (len(second) + 1)
            )
            put(first, second, table.reshape(len(first) + 1, -1)[1:, 1:])
        return gram
