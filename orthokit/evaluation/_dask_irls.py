"""The evaluation GLM on dask collections with numeric protected columns.

Numeric protected columns have no cells to reduce to; instead every IRLS
iteration of the evaluation GLM is one pass of block-wise reductions over the
row blocks: ``Xᵀ W X``, the score ``Xᵀ W g'(μ)(y - μ)``, the deviance, the
Pearson statistic and the largest ``|μ - y|`` (statsmodels' test of a perfect
fit), merged by dask in a tree; each step is solved locally. The working
response ``z = Xβ + g'(μ)(y - μ)`` enters as ``Xᵀ W X β`` plus the sum of the
corrections ``Xᵀ W g'(μ)(y - μ)``, so the large part is not summed over rows.

statsmodels then gives the inference on the reduced system: with ``R`` the
Cholesky factor of ``Xᵀ W X`` at the converged point, ``p`` pseudo-rows
``R`` with response ``R⁻ᵀ Xᵀ W z`` have the same normal equations, hence the
same coefficients and covariance; ``freq_weights`` of ``n / p`` each give
statsmodels' residual degrees of freedom ``n - p``, and the scale is fixed at
the dispersion (1, or the Pearson statistic over all rows divided by
``n - p``). Its coefficients, standard errors, statistics, p-values and
intervals are then those of the GLM on all rows.

The design is ``[1, S - mean(S)]`` (after the exact power-of-two scaling that
the in-memory fit applies): centring changes only the intercept, which is not
reported, and keeps ``Xᵀ W X`` well conditioned.
"""

import numpy as np

from orthokit._inputs import as_table, shown
from orthokit._inputs._paired import read_outputs, warn_integer_codes
from orthokit._linalg import kept_eigenvalues, power_of_two_scale, range_power_of_two

# statsmodels' IRLS defaults: at most 100 iterations, converged when the
# deviance changes by at most 1e-8.
_MAX_ITER = 100
_CONVERGENCE_TOL = 1e-8
_MAX_CODES = 10  # as the input layer's integer_codes
# statsmodels calls a fit perfect when np.allclose(mu - endog, 0).
_PERFECT_ATOL = 1e-8


class DaskRows:
    """Paired row blocks of dask predictions and protected columns.

    Stands for the rows in :func:`~orthokit.evaluation.check_orthogonality`
    the way :class:`~._cells.Cells` stand for them: one pass gives the range
    of every column, a second the centred cross-products of the scaled
    protected columns (the rank check and the design's centre); the GLM of
    each output is then fitted by :func:`fit_rows`.

    Parameters
    ----------
    pairs : list of (delayed, delayed)
        Row blocks of the predictions and of the protected columns.
    columns : ProtectedColumns
        Fitted on the levels of all blocks; encodes every block alike.
    lengths : sequence of int
        Rows of each pair of blocks.
    """

    def __init__(self, pairs, columns, lengths):
        import dask

        from orthokit._dask import compute_relayed, relayed, starting_at

        self.pairs, self.columns, self.j = pairs, columns, None
        self.starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        # Each pair's messages name the row in all of the input, as in memory.
        ranges = [
            dask.delayed(relayed(starting_at(_block_range, start)))(y, s, columns)
            for (y, s), start in zip(pairs, self.starts, strict=False)
        ]
        summary = compute_relayed(ranges, _merge_range)
        if summary is None:
            raise ValueError(
                "predictions are empty: every block of the dask collections is empty."
            )
        (self.n, self.mean, self.low, self.high, self.integral, self.s_low,
         self.s_high, distinct) = summary  # fmt: skip
        for name, values in zip(_numeric_names(columns), distinct, strict=True):
            if values is not None and 3 <= len(values):  # as read_protected warns
                warn_integer_codes(name, values, stacklevel=6)
        self.s_pow = range_power_of_two(self.s_high, self.s_low)
        grams = [
            dask.delayed(relayed(_block_gram))(y, s, columns, self.s_pow)
            for y, s in pairs
        ]
        moments = compute_relayed(grams, _merge_gram)
        _, self.s_mean, self.gram = moments

    @property
    def n_total(self):
        """Number of rows."""
        return int(self.n)

    def grand_mean(self):
        """Mean of every output over all rows."""
        return self.mean

    def extremes(self):
        """Return the smallest and largest prediction of every output, ``(2, k)``."""
        return np.vstack([self.low, self.high])

    def output(self, j):
        """Return these rows for output ``j`` alone (the blocks are shared)."""
        rows = object.__new__(DaskRows)
        rows.__dict__.update(self.__dict__)
        pick = slice(j, j + 1)
        rows.j = j
        for name in ("mean", "low", "high", "integral"):
            setattr(rows, name, getattr(self, name)[pick])
        return rows

    def take(self, rows):
        """Return output ``j``'s predictions and the encoded columns at ``rows``.

        Only the blocks holding some of ``rows`` are read, and of them only
        those rows are kept; the result is in the order of ``rows``.
        """
        import dask

        from orthokit._dask import compute_relayed, relayed

        order = np.argsort(rows, kind="stable")
        wanted = np.asarray(rows)[order]
        cuts = np.searchsorted(wanted, self.starts)
        parts = [
            dask.delayed(relayed(_block_take))(y, s, self.columns, self.j,
                                               wanted[a:b] - start)
            for (y, s), a, b, start in zip(
                self.pairs, cuts[:-1], cuts[1:], self.starts[:-1], strict=True
            )
            if b > a
        ]  # fmt: skip
        parts = compute_relayed(parts)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        y = np.concatenate([p[0] for p in parts])[inverse]
        S = np.vstack([p[1] for p in parts])[inverse]
        return y, S

    def check_estimable(self, names, argument="protected"):
        """Apply the in-memory checks of the encoded columns to the reductions."""
        if len(names) + 1 >= self.n:
            raise ValueError(
                f"{argument} columns {shown(self.columns.input_names_)} encode to "
                f"{len(names):,} terms for {self.n:,} rows: the evaluation model "
                "would fit every row exactly (no residual degrees of freedom). "
                "Group rare levels first, or use more rows."
            )
        for j, name in enumerate(names):
            if self.s_high[j] == self.s_low[j]:
                raise ValueError(
                    f"{argument} column {name!r} is constant (every value is "
                    f"{self.s_low[j]:.4g}); its effect cannot be estimated. Drop it."
                )
        scale = np.sqrt(np.diag(self.gram))
        corr = self.gram / np.outer(scale, scale)
        rank = int(kept_eigenvalues(np.linalg.eigvalsh(corr)).sum())
        if rank < len(names):
            raise ValueError(
                f"{argument} columns {shown(names)} are collinear (with each other "
                f"or the intercept; rank {rank + 1} of {len(names) + 1}); drop "
                "redundant columns."
            )


def _encode(block, part, columns):
    """Predictions ``(n, k)`` and encoded protected columns of one pair of blocks."""
    values, _ = read_outputs(block)
    S, _ = columns.split(as_table(part, "protected"), numeric_features=False)
    if len(values) != len(S):
        raise ValueError(
            f"predictions have {len(values)} rows but protected has {len(S)} in a "
            "block; they must match."
        )
    return values, S


def _block_take(block, part, columns, j, local):
    values, S = _encode(block, part, columns)
    return values[local, j], S[local]


def _numeric_names(columns):
    return [name for name in columns.input_names_ if name not in columns.categories_]


def _block_range(block, part, columns):
    """Count, mean and range of every column of one pair of blocks.

    With the distinct values of each numeric protected column while they
    are at most 10 integers (``None`` beyond): codes of levels are warned of.
    """
    if len(part) == 0:
        return None
    values, S = _encode(block, part, columns)
    scale = power_of_two_scale(values)  # a mean of values of 1e300 stays finite
    mean = (values * scale).mean(axis=0) / scale
    integral = (values == np.round(values)).all(axis=0)
    encoded = list(columns.encoded_names_)
    distinct = [
        _few_integers(S[:, encoded.index(name)]) for name in _numeric_names(columns)
    ]
    return (len(values), mean, values.min(axis=0), values.max(axis=0), integral,
            S.min(axis=0), S.max(axis=0), distinct)  # fmt: skip


def _few_integers(values):
    if (values != np.round(values)).any():
        return None
    values = np.unique(values)
    return values if len(values) <= _MAX_CODES else None


def _merge_range(a, b):
    if a is None or b is None:
        return a if b is None else b
    n = a[0] + b[0]
    distinct = [
        None if x is None or y is None else _few_integers(np.concatenate([x, y]))
        for x, y in zip(a[7], b[7], strict=True)
    ]
    return (n, a[1] * (a[0] / n) + b[1] * (b[0] / n), np.minimum(a[2], b[2]),
            np.maximum(a[3], b[3]), a[4] & b[4], np.minimum(a[5], b[5]),
            np.maximum(a[6], b[6]), distinct)  # fmt: skip


def _block_gram(block, part, columns, s_pow):
    """Count, mean and centred cross-products of the scaled protected columns."""
    if len(part) == 0:
        return None
    _, S = _encode(block, part, columns)
    S = S * s_pow
    mean = S.mean(axis=0)
    centred = S - mean
    return len(S), mean, centred.T @ centred


def _merge_gram(a, b):
    """Chan et al.'s exact pooling of centred cross-products."""
    if a is None or b is None:
        return a if b is None else b
    n = a[0] + b[0]
    delta = b[1] - a[1]
    mean = a[1] + delta * (b[0] / n)
    return n, mean, a[2] + b[2] + np.outer(delta, delta) * (a[0] * b[0] / n)


def _block_step(block, part, design, family, affine, beta, start_mean):
    """IRLS sums of one pair of blocks at ``beta`` (``None``: the start)."""
    if len(part) == 0:
        return None
    columns, j, s_pow, s_mean = design
    values, S = _encode(block, part, columns)
    first, centre, second = affine
    y = (values[:, j] * first - centre) * second  # as the in-memory response
    X = np.column_stack([np.ones(len(y)), S * s_pow - s_mean])
    link = family.link
    # The in-memory fit's floating-point context; np.errstate is per thread,
    # and a block may run in a worker thread.
    with np.errstate(divide="ignore", invalid="ignore"):
        if beta is None:  # statsmodels' starting values
            mu = (y + 0.5) / 2 if _is_binomial(family) else (y + start_mean) / 2
            z = link(mu) + link.deriv(mu) * (y - mu)
        else:
            mu = family.fitted(X @ beta)
            z = link.deriv(mu) * (y - mu)  # the correction to X @ beta
        weights = family.weights(mu)
        pearson = np.sum((y - mu) ** 2 / family.variance(mu))
        deviance = float(family.deviance(y, mu))
    return (X.T @ (X * weights[:, None]), X.T @ (weights * z), deviance,
            float(pearson), float(np.max(np.abs(mu - y))))  # fmt: skip


def _merge_step(a, b):
    if a is None or b is None:
        return a if b is None else b
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], max(a[4], b[4])


def _is_binomial(family):
    import statsmodels.api as sm

    return isinstance(family, sm.families.Binomial)


def _pass(rows, family, affine, beta, start_mean):
    import dask

    from orthokit._dask import compute_relayed, relayed

    design = (rows.columns, rows.j, rows.s_pow, rows.s_mean)
    steps = [
        dask.delayed(relayed(_block_step))(y, s, design, family, affine, beta,
                                           start_mean)
        for y, s in rows.pairs
    ]  # fmt: skip
    total = compute_relayed(steps, _merge_step)
    return total


def fit_rows(rows, family, scale, use_t, affine):
    """Fit the evaluation GLM of one output on dask rows by block reductions.

    The iterations are statsmodels' IRLS (its starting values, its test of
    convergence on the deviance, absolute tolerance 1e-8, divided by the
    previous scale estimate), each one pass; like statsmodels, the result is
    the last weighted least squares step: coefficients from it, covariance at
    its weights, and the scale at the coefficients it gives.

    Parameters
    ----------
    rows : DaskRows
        Of one output (:meth:`DaskRows.output`).
    family : statsmodels family
    scale : None, "X2" or float
        As in-memory ``GLM.fit(scale=...)``: ``None`` is 1 for binomial and
        Poisson and Pearson's estimate for Gaussian.
    use_t : bool
    affine : (first, centre, second)
        The response is ``(y * first - centre) * second``, computed as the
        in-memory fit computes it.

    Returns
    -------
    result : statsmodels GLMResults or None
        ``None`` when a perfect fit was found.
    scale : float or None
    separated : bool
        Whether some iterate fitted every row to statsmodels' tolerance
        (statsmodels' ``PerfectSeparationWarning``), or the information
        matrix became singular.
    """
    import scipy.linalg
    import statsmodels.api as sm

    first, centre, second = affine
    start_mean = (rows.mean[0] * first - centre) * second
    n, p = rows.n_total, len(rows.s_pow) + 1

    def scale_of(pearson):
        if scale is None and not isinstance(family, sm.families.Gaussian):
            return 1.0
        if scale is None or isinstance(scale, str):
            return pearson / (n - p)
        return float(scale)

    hessian, rhs, deviance, pearson, _ = _pass(rows, family, affine, None, start_mean)
    previous, fixed = deviance / scale_of(pearson), scale_of(pearson)
    for _ in range(_MAX_ITER):
        try:  # the weighted least squares step of IRLS
            factor = scipy.linalg.cholesky(hessian)  # upper: hessian = Rᵀ R
        except (np.linalg.LinAlgError, ValueError):
            return None, scale, True
        beta = scipy.linalg.cho_solve((factor, False), rhs)
        total = _pass(rows, family, affine, beta, start_mean)
        deviance = total[2] / fixed
        fixed = scale_of(total[3])
        if total[4] <= _PERFECT_ATOL:
            return None, scale, True
        if abs(deviance - previous) <= _CONVERGENCE_TOL:
            break
        if not np.all(np.isfinite(total[0])):
            return None, scale, True
        previous, hessian, rhs = deviance, total[0], total[0] @ beta + total[1]
    # p pseudo-rows with the normal equations of all rows at the last step.
    response = scipy.linalg.solve_triangular(factor, rhs, trans="T")
    shrink = np.sqrt(p / n)
    model = sm.GLM(
        response * shrink,
        factor * shrink,
        family=sm.families.Gaussian(),
        freq_weights=np.full(p, n / p),
    )
    return model.fit(scale=fixed, use_t=use_t), fixed, False


def dask_forest_table(rows, names, output, n_permutations, random_state):
    """Run the nonlinear check on dask rows of one output, as in memory.

    The same rows as in memory are drawn (the generator needs only the row
    count) and read from the blocks; the scales come from the ranges.
    """
    from orthokit.evaluation._nonlinear import forest_table

    scales = range_power_of_two(rows.high, rows.low)[0], rows.s_pow
    return forest_table(
        rows.take, rows.n_total, scales, names, output, n_permutations, random_state
    )
