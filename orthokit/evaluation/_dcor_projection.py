"""The random-projection estimator of the squared distance correlation.

It follows Huang & Huo (2017): the distance ``|x - x'|`` in ``p`` dimensions is
``C_p`` times the mean of ``|u'(x - x')|`` over directions ``u`` uniform on the
sphere, so the distance covariance is an average of univariate distance
covariances of projections, each O(n log n). The directions come in batches of
columns of independent Haar-random orthonormal frames (a batch spans up to
``p`` orthogonal directions, which cuts the Monte Carlo error; batches are
independent, which gives a standard error). It serves protected columns with
few distinct rows (sex, race, site): ``S`` is not projected, its distance
matrix is a small table and each projection's covariance is exact by one sort
(with many distinct rows, :mod:`orthokit.evaluation._dcor_blocks` is used
instead). The distance variance of the features is estimated without bias
(U-statistics) on a random subsample, exact when ``n`` is at most the
subsample size; its standard error comes from disjoint parts of the
subsample; the subsample grows (at most 4-fold a step) until its share of the
error, which scales with the value, fits. At least 16 batches are drawn, and
every standard error is scaled by ``t_{0.975, df} / 1.96`` (``df`` from the
batches or parts it was estimated from), so that ``value +- 1.96 std_error``
is a 95% interval; measured coverage is in ``benchmarks/results/dcor.md``.
Batches are added until that standard error of the whole ratio reaches
``accuracy / 1.96``.
"""

import math

import numpy as np
from scipy.special import gammaln

from orthokit.evaluation._dcor_blocks import Z95, t_scale, v_from_sums
from orthokit.evaluation._dcor_exact import distance_sums, grouped_covariances

_BATCH = 16  # directions per independent frame batch
_MIN_BATCHES = 16  # enough batches for their spread to estimate the error
VARIANCE_PARTS = 8


def _sphere_constant(p):
    """``C_p`` with ``E|u'x| = |x| / C_p`` for ``u`` uniform on the sphere."""
    return np.sqrt(np.pi) * np.exp(gammaln((p + 1) / 2) - gammaln(p / 2))


def _frame(rng, p, k):
    """``k <= p`` orthonormal directions: columns of a Haar-random frame."""
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return (q * np.sign(np.diag(r)))[:, :k]


def _v_from_sums(sums, m, n):
    square, rows, total = sums
    return v_from_sums(square, rows, total**2, m, n)


def _variance(x, subsample, rng):
    """``(dVar^2_n(x), standard error)``; exact (error 0) for small ``n``."""
    n = len(x)
    if n <= subsample:
        return _v_from_sums(distance_sums(x), n, n), 0.0
    rows = rng.choice(n, subsample, replace=False)
    estimate = _v_from_sums(distance_sums(x[rows]), subsample, n)
    parts = np.array_split(rows, VARIANCE_PARTS)
    values = [_v_from_sums(distance_sums(x[r]), len(r), n) for r in parts]
    # A U-statistic's variance falls as 1 / rows: each part's spread, over
    # the number of parts, estimates the variance of the whole subsample's.
    spread = np.std(values, ddof=1) / np.sqrt(VARIANCE_PARTS)
    spread *= t_scale(VARIANCE_PARTS - 1)
    return estimate, float(spread * np.sqrt(1 - subsample / n))


class _Covariances:
    """Draws batches of projected distance covariances ``dCov^2_n(X, S)``.

    Each batch also returns a control variate with a known mean, the same
    statistic with squared distances, which projections give cheaply:
    ``p (u'd)^2`` has mean ``|d|^2`` over directions and
    ``sum_ij |d_ij|^2 B_ij = -2 tr(X'BX)`` needs only the group sums of ``X``.
    """

    def __init__(self, x, table, rng):
        self.x, self.table, self.rng = x, table, rng
        n, p = x.shape
        self.width = min(p, _BATCH)
        self.scale = _sphere_constant(p)
        groups, centred, _ = table
        sums = np.zeros((centred.shape[0], p))
        np.add.at(sums, groups, x)
        self.quadratic = -2.0 * p * (sums.T @ centred @ sums) / n**2
        self.control_mean = float(np.trace(self.quadratic)) / p

    def batch(self):
        """Return ``(covariance estimate, control variate)`` of one batch."""
        directions = _frame(self.rng, self.x.shape[1], self.width)
        groups, centred, _ = self.table
        covariance = np.mean(grouped_covariances(self.x @ directions, groups, centred))
        control = np.mean(
            np.einsum("pk,pq,qk->k", directions, self.quadratic, directions)
        )
        return self.scale * float(covariance), float(control)

    def combine(self, batches):
        """Return ``(mean covariance, its standard error)`` over the batches."""
        values = np.array(batches)
        covariance, control = values[:, 0], values[:, 1]
        k = len(values)
        if k < 4 or np.ptp(control) == 0:
            error = covariance.std(ddof=1) / np.sqrt(k) * t_scale(k - 1)
            return float(covariance.mean()), float(error)
        # Regression estimator: subtract the control's (known) error.
        slope = np.cov(covariance, control)[0, 1] / np.var(control, ddof=1)
        adjusted = covariance - slope * (control - self.control_mean)
        error = adjusted.std(ddof=2) / np.sqrt(k) * t_scale(k - 2)
        return float(adjusted.mean()), float(error)


def _variances(x, table, subsample, rng):
    return (*_variance(x, subsample, rng), table[2], 0.0)


def projection(x, table, n_projections, accuracy, max_projections, subsample, rng):
    """Return ``(value, standard error, projections used, description)``.

    ``table`` is :func:`orthokit.evaluation._dcor_exact.group_table` of ``S``.
    """
    target = accuracy / Z95
    variance_x, se_x, variance_s, se_s = _variances(x, table, subsample, rng)
    draws = _Covariances(x, table, rng)
    if n_projections is not None:
        n_batches = max(4, math.ceil(n_projections / draws.width))
    else:
        n_batches = _MIN_BATCHES
    limit = max(4, max_projections // draws.width)
    batches = [draws.batch() for _ in range(n_batches)]
    while len(x) > subsample:
        # Rows for the variances: enough for their share of the target. The
        # value's relative error is half the variances', so its absolute
        # error scales with the value, estimated from the first batches.
        value, _ = _ratio_and_error(
            draws.combine(batches)[0], 0.0, variance_x, 0.0, variance_s, 0.0
        )
        share = np.inf  # a constant subsample of a varying column: more rows
        if min(variance_x, variance_s) > 0:
            relative = np.hypot(se_x / variance_x, se_s / variance_s)
            share = 0.5 * max(value, 0.05) * relative
        if share <= target / np.sqrt(2):
            break
        wanted = int(subsample * (share / (target / np.sqrt(2))) ** 2) + 1
        subsample = min(len(x), max(wanted, 2 * subsample), 4 * subsample)
        variance_x, se_x, variance_s, se_s = _variances(x, table, subsample, rng)
    denominator = np.sqrt(max(variance_x * variance_s, 1e-300))
    while True:
        covariance, mc = draws.combine(batches)
        value, error = _ratio_and_error(
            covariance, mc, variance_x, se_x, variance_s, se_s
        )
        if n_projections is not None or error <= target or len(batches) >= limit:
            break
        # The Monte Carlo part falls as 1 / sqrt(batches): ask for enough.
        room = target**2 - (error**2 - (mc / denominator) ** 2)
        if room <= 0:
            break  # the subsample's variances alone exceed the target
        wanted = len(batches) * (mc / denominator) ** 2 / room
        extra = min(limit, math.ceil(1.1 * wanted)) - len(batches)
        batches += [draws.batch() for _ in range(max(extra, 1))]
    side = f"S exact on {len(table[1])} groups"
    variances = "exact" if len(x) <= subsample else f"from a {subsample}-row subsample"
    used = len(batches) * draws.width
    method = (
        f"projection (Huang & Huo 2017; {used} projections of the features in "
        f"orthonormal batches of {draws.width}, {side}; distance variances "
        f"{variances}; standard error {error:.2g})"
    )
    return value, error, used, method


def _ratio_and_error(covariance, se_covariance, variance_x, se_x, variance_s, se_s):
    if variance_x <= 0 or variance_s <= 0:
        return 0.0, 0.0
    denominator = np.sqrt(variance_x * variance_s)
    value = covariance / denominator
    mc = se_covariance / denominator
    # Delta method: relative errors of the variances enter with a half.
    error = np.sqrt(
        mc**2 + value**2 * ((se_x / variance_x) ** 2 + (se_s / variance_s) ** 2) / 4
    )
    return float(np.clip(value, 0.0, 1.0)), float(error)
