"""Squared distance correlation of many rows by block U-statistics.

For protected columns with many distinct rows (continuous confounders) no
one-dimensional shortcut applies to ``S``. Instead, the rows are split by a
random partition into blocks of ``m`` rows. The sums of a block's two distance
matrices give unbiased U-statistics of degree 2, 3 and 4 of the full sample's
(Szekely & Rizzo 2014), and dcor's V-statistics ``dCov^2_n(X, S)``,
``dVar^2_n(X)`` and ``dVar^2_n(S)`` are fixed combinations of them
(:func:`v_from_sums`). Averaged over the blocks, weighted by their rows, each
stays unbiased; every row lies in exactly one block, so the first-order
(Hajek) terms of the blocks add up to those of the full-sample statistic and
only the degenerate terms are left: an error of order ``1 / sqrt(n m)``,
where an ``m``-row subsample has ``1 / sqrt(m)``, for O(n m d) work instead
of O(n^2 d). Independent partitions give independent estimates; their spread
gives the standard error of the ratio (scaled by ``t_{0.975, df} / 1.96`` so
that ``value +- 1.96 std_error`` is a 95% interval). A pilot on a subsample
of rows sizes the blocks for a standard error of half the target; where the
partitions would cost more than the exact O(n^2) sums, the exact value is
computed instead.
"""

import math

import numpy as np
from scipy.stats import t as student_t

from orthokit.evaluation._dcor_exact import dcor_ratio, exact_dcor

Z95 = 1.959963984540054
PARTITIONS = 8  # independent partitions: their spread is the standard error
_FIRST_BLOCK_ROWS = 16
_PILOT_ROWS = 10_000
_CHUNK_ELEMENTS = 2**18  # 2 MiB of float64 per chunk of blocks: stays in cache
_EXPLICIT_MAX_FEATURES = 8  # up to this, differences beat a matrix product


def t_scale(degrees):
    """Factor making ``1.96`` scaled standard errors a 95% t-interval."""
    return float(student_t.ppf(0.975, degrees)) / Z95


def v_from_sums(product, rows, totals, m, n):
    """Dcor's V-statistic of ``n`` rows estimated from ``m`` of them.

    ``product``, ``rows`` and ``totals`` are ``sum_ij a_ij b_ij``,
    ``sum_i a_i. b_i.`` and ``a.. b..`` of the ``m`` rows' distance matrices
    ``a`` and ``b`` (``b = a`` for a distance variance); arrays of them give
    an array of estimates. They give unbiased U-statistics ``U2, U3, U4``, and
    ``dCov^2_n`` is a fixed combination of them.
    """
    t3 = rows - product
    t4 = totals - 2 * product - 4 * t3
    u2 = product / (m * (m - 1))
    u3 = t3 / (m * (m - 1) * (m - 2))
    u4 = t4 / (m * (m - 1) * (m - 2) * (m - 3))
    return (
        (n - 1) * (1 - 2 / n + 2 / n**2) * u2 / n
        + (n - 1) * (n - 2) * (-2 / n + 4 / n**2) * u3 / n
        + (n - 1) * (n - 2) * (n - 3) * u4 / n**3
    )


def _distances(z, norms, rows):
    """Distance matrices of the blocks of rows ``rows`` (``(g, m)``) of ``z``."""
    blocks = z[rows]
    g, m, d = blocks.shape
    if d <= _EXPLICIT_MAX_FEATURES:
        distances = np.zeros((g, m, m))
        for k in range(d):
            distances += (blocks[:, :, None, k] - blocks[:, None, :, k]) ** 2
    else:
        # |z_i|^2 + |z_j|^2 - 2 z_i'z_j; z is centred, so little cancels.
        distances = blocks @ blocks.transpose(0, 2, 1)
        distances *= -2.0
        distances += norms[rows][:, :, None]
        distances += norms[rows][:, None, :]
        np.maximum(distances, 0.0, out=distances)
        distances[:, np.arange(m), np.arange(m)] = 0.0
    return np.sqrt(distances, out=distances)


def _partition(x, s, rng, block_rows):
    """``(dCov^2_n, dVar^2_n(x), dVar^2_n(s))`` from one random partition."""
    n = len(x[0])
    order = rng.permutation(n)
    n_blocks = n // block_rows
    size = n // n_blocks
    larger = n - n_blocks * size  # blocks that take one row more
    cut = larger * (size + 1)
    sums = np.zeros(3)
    for rows in (
        order[:cut].reshape(larger, size + 1),
        order[cut:].reshape(n_blocks - larger, size),
    ):
        m = rows.shape[1]
        step = max(1, _CHUNK_ELEMENTS // (m * max(m, x[0].shape[1], s[0].shape[1])))
        for start in range(0, len(rows), step):
            a = _distances(*x, rows[start : start + step])
            b = _distances(*s, rows[start : start + step])
            row_a, row_b = a.sum(axis=2), b.sum(axis=2)
            total_a, total_b = row_a.sum(axis=1), row_b.sum(axis=1)
            for k, (first, second, row_first, row_second, totals) in enumerate(
                (
                    (a, b, row_a, row_b, total_a * total_b),
                    (a, a, row_a, row_a, total_a**2),
                    (b, b, row_b, row_b, total_b**2),
                )
            ):
                product = np.einsum("gij,gij->g", first, second)
                rows_product = np.einsum("gi,gi->g", row_first, row_second)
                estimates = v_from_sums(product, rows_product, totals, m, n)
                sums[k] += m * float(np.sum(estimates))
    return sums / n


def _centred(z):
    z = z - z.mean(axis=0)
    return z, np.einsum("ij,ij->i", z, z)


def _estimate(x, s, rng, block_rows):
    """``(ratio, standard error)`` from :data:`PARTITIONS` partitions."""
    parts = np.array([_partition(x, s, rng, block_rows) for _ in range(PARTITIONS)])
    ratios = [dcor_ratio(*part, clip=False) for part in parts]
    error = np.std(ratios, ddof=1) / np.sqrt(PARTITIONS) * t_scale(PARTITIONS - 1)
    return dcor_ratio(*parts.mean(axis=0), clip=False), error


def block_dcor(x, s, accuracy, rng):
    """Return ``(value, standard error, description)`` of ``dCor^2_n(x, s)``.

    Parameters
    ----------
    x : ndarray of shape (n_samples, n_features)
        Features.
    s : ndarray of shape (n_samples, n_protected)
        Protected columns.
    accuracy : float
        Target: the blocks are sized so that ``1.96 std_error`` is about
        ``accuracy / 2``.
    rng : numpy.random.Generator
        Source of the partitions.

    Returns
    -------
    value : float
        The estimate, clipped to ``[0, 1]``.
    std_error : float
        Its standard error, scaled to a 95% t-interval (0 when exact).
    description : str
        How it was computed.
    """
    n = len(x)
    # Half the target, so that the standard error, itself an estimate from a
    # few partitions, stays within the target.
    target = accuracy / Z95 / 2
    block_rows = _FIRST_BLOCK_ROWS
    if PARTITIONS * block_rows < n:
        # A pilot on up to _PILOT_ROWS rows sizes the blocks: the error falls
        # as 1 / sqrt(rows x rows per block). The reported estimate comes from
        # fresh partitions, so it is not selected for a small error.
        rows = rng.choice(n, min(n, _PILOT_ROWS), replace=False)
        _, pilot = _estimate(_centred(x[rows]), _centred(s[rows]), rng, block_rows)
        scale = len(rows) / n * (pilot / target) ** 2
        block_rows = max(block_rows, math.ceil(1.1 * block_rows * scale))
    x_centred, s_centred = _centred(x), _centred(s)
    while True:
        if PARTITIONS * block_rows >= n:
            # Partitions into blocks this large cost more than the exact sums.
            return exact_dcor(x, s), 0.0, "exact"
        value, error = _estimate(x_centred, s_centred, rng, block_rows)
        if error <= 2 * target:  # the accuracy asked for (rarely missed)
            break
        wanted = math.ceil(1.1 * block_rows * (error / target) ** 2)
        block_rows = max(2 * block_rows, wanted)
    method = (
        f"block U-statistics ({PARTITIONS} random partitions of all rows into "
        f"{block_rows}-row blocks; standard error {error:.2g})"
    )
    return float(np.clip(value, 0.0, 1.0)), float(error), method
