"""Squared distance correlation between learned features and protected columns.

Protected columns are encoded with every level one-hot (no reference level
dropped), so the value does not depend on how the levels are called or
ordered. Exact values (dcor's V-statistic) come from
:mod:`orthokit.evaluation._dcor_exact`: O(n log n) for 1-D features against 1-D
or grouped protected columns, memory-bounded O(n^2) blocks otherwise.

For large ``n`` the projection estimator follows Huang & Huo (2017): the
distance ``|x - x'|`` in ``p`` dimensions is ``C_p`` times the mean of
``|u'(x - x')|`` over directions ``u`` uniform on the sphere, so the distance
covariance is an average of univariate distance covariances of projections,
each O(n log n). The directions come in batches of columns of independent
Haar-random orthonormal frames (a batch spans up to ``p`` orthogonal
directions, which cuts the Monte Carlo error; batches are independent, which
gives a standard error). When ``S`` has few distinct rows (sex, race, site) it
is not projected: its distance matrix is a small table and each projection's
covariance is exact by one sort. The two distance variances are estimated
without bias (U-statistics) on a random subsample, exact when ``n`` is at most
the subsample size; their standard error comes from disjoint parts of the
subsample; the variances' rows grow (at most 4-fold a step) until their share
of the error, which scales with the value, fits. At least 16 batches are
drawn, and every standard error is scaled by ``t_{0.975, df} / 1.96`` (``df``
from the batches or parts it was estimated from), so that ``value +- 1.96
std_error`` is a 95% interval; measured coverage is in
``benchmarks/results/dcor.md``. Batches are added until that standard error
of the whole ratio reaches ``accuracy / 1.96``.
"""

import dataclasses
import math
import numbers

import numpy as np
import pandas as pd
from scipy.special import gammaln
from scipy.stats import t as student_t

from orthokit._dask import is_dask_collection
from orthokit._inputs._paired import check_pairing, encode_all_levels, read_outputs
from orthokit._linalg import power_of_two_scale
from orthokit.evaluation._dask_sample import dask_sample
from orthokit.evaluation._dcor_exact import (
    distance_sums,
    exact_dcor,
    group_table,
    grouped_covariances,
)

_Z95 = 1.959963984540054
_BATCH = 16  # directions per independent frame batch
_MIN_BATCHES = 16  # enough batches for their spread to estimate the error
_VARIANCE_PARTS = 8
_TEST_MAX_ELEMENTS = 2**27  # dcor's permutation test builds n x n x d arrays


@dataclasses.dataclass(frozen=True)
class DistanceCorrelation:
    """Result of :func:`distance_correlation`.

    Attributes
    ----------
    value : float
        Squared distance correlation (averaged over groups with ``by``).
    method : str
        How it was computed: ``"exact"`` or a description of the estimator.
    n_samples : int
        Rows used.
    groups : dict
        Value per group of ``by`` (empty without ``by``).
    std_error : float
        Standard error of the projection estimator against the exact value,
        scaled so that ``value +- 1.96 std_error`` is a 95% interval (0 for
        exact values; with ``by``, of the average).
    n_projections : int
        Projections used (summed over groups; 0 when exact).
    p_value : float or None
        Permutation p-value of independence (``n_permutations`` given); with
        ``by``, the smallest group p-value times the number of groups
        (Bonferroni), at most 1.
    group_p_values : dict
        Permutation p-value per group of ``by``.
    """

    value: float
    method: str
    n_samples: int
    groups: dict = dataclasses.field(default_factory=dict)
    std_error: float = 0.0
    n_projections: int = 0
    p_value: float | None = None
    group_p_values: dict = dataclasses.field(default_factory=dict)

    def __float__(self):
        return float(self.value)


def _sphere_constant(p):
    """``C_p`` with ``E|u'x| = |x| / C_p`` for ``u`` uniform on the sphere."""
    return np.sqrt(np.pi) * np.exp(gammaln((p + 1) / 2) - gammaln(p / 2))


def _frame(rng, p, k):
    """``k <= p`` orthonormal directions: columns of a Haar-random frame."""
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return (q * np.sign(np.diag(r)))[:, :k]


def _t_scale(degrees):
    """Factor making ``1.96`` scaled standard errors a 95% t-interval."""
    return float(student_t.ppf(0.975, degrees)) / _Z95


def _v_from_sums(square, rows, total, m, n):
    """Dcor's V-statistic ``dVar^2_n`` estimated from an ``m``-row subsample.

    The sums of the subsample's distance matrix give unbiased U-statistics
    ``U2, U3, U4``; ``dVar^2_n`` is a fixed combination of them.
    """
    t3 = rows - square
    t4 = total**2 - 2 * square - 4 * t3
    u2 = square / (m * (m - 1))
    u3 = t3 / (m * (m - 1) * (m - 2))
    u4 = t4 / (m * (m - 1) * (m - 2) * (m - 3))
    return (
        (n - 1) * (1 - 2 / n + 2 / n**2) * u2 / n
        + (n - 1) * (n - 2) * (-2 / n + 4 / n**2) * u3 / n
        + (n - 1) * (n - 2) * (n - 3) * u4 / n**3
    )


def _variance(x, subsample, rng):
    """``(dVar^2_n(x), standard error)``; exact (error 0) for small ``n``."""
    n = len(x)
    if n <= subsample:
        return _v_from_sums(*distance_sums(x), n, n), 0.0
    rows = rng.choice(n, subsample, replace=False)
    estimate = _v_from_sums(*distance_sums(x[rows]), subsample, n)
    parts = np.array_split(rows, _VARIANCE_PARTS)
    values = [_v_from_sums(*distance_sums(x[r]), len(r), n) for r in parts]
    # A U-statistic's variance falls as 1 / rows: each part's spread, over
    # the number of parts, estimates the variance of the whole subsample's.
    spread = np.std(values, ddof=1) / np.sqrt(_VARIANCE_PARTS)
    spread *= _t_scale(_VARIANCE_PARTS - 1)
    return estimate, float(spread * np.sqrt(1 - subsample / n))


class _Covariances:
    """Draws batches of projected distance covariances ``dCov^2_n(X, S)``.

    Each batch also returns a control variate with a known mean, the same
    statistic with squared distances, which projections give cheaply: with
    grouped ``S``, ``p (u'd)^2`` has mean ``|d|^2`` over directions and
    ``sum_ij |d_ij|^2 B_ij = -2 tr(X'BX)`` needs only the group sums of ``X``;
    with both sides projected, ``(u'Cv)^2`` (``C`` the cross-covariance of
    ``X`` and ``S``) has mean ``|C|_F^2 / (p q)``.
    """

    def __init__(self, x, s, table, rng):
        self.x, self.s, self.table, self.rng = x, s, table, rng
        n, p = x.shape
        self.width = min(p, _BATCH)
        self.scale = _sphere_constant(p)
        if table is None:
            self.scale *= _sphere_constant(s.shape[1])
            self.cross = (x - x.mean(axis=0)).T @ (s - s.mean(axis=0)) / n
            self.control_mean = float(np.sum(self.cross**2)) / (p * s.shape[1])
            return
        groups, centred, _ = table
        sums = np.zeros((centred.shape[0], p))
        np.add.at(sums, groups, x)
        self.quadratic = -2.0 * p * (sums.T @ centred @ sums) / n**2
        self.control_mean = float(np.trace(self.quadratic)) / p

    def batch(self):
        """Return ``(covariance estimate, control variate)`` of one batch."""
        import dcor

        directions = _frame(self.rng, self.x.shape[1], self.width)
        px = self.x @ directions
        if self.table is not None:
            groups, centred, _ = self.table
            covariance = np.mean(grouped_covariances(px, groups, centred))
            control = np.mean(
                np.einsum("pk,pq,qk->k", directions, self.quadratic, directions)
            )
            return self.scale * float(covariance), float(control)
        partners = _frame(self.rng, self.s.shape[1], min(self.s.shape[1], _BATCH))
        partners = partners[:, np.arange(self.width) % partners.shape[1]]
        py = self.s @ partners
        control = np.mean(
            np.einsum("pk,pq,qk->k", directions, self.cross, partners) ** 2
        )
        values = [
            dcor.distance_covariance_sqr(
                np.ascontiguousarray(px[:, k]),
                np.ascontiguousarray(py[:, k]),
                method="mergesort",
            )
            for k in range(self.width)
        ]
        return self.scale * float(np.mean(values)), float(control)

    def combine(self, batches):
        """Return ``(mean covariance, its standard error)`` over the batches."""
        values = np.array(batches)
        covariance, control = values[:, 0], values[:, 1]
        k = len(values)
        if k < 4 or np.ptp(control) == 0:
            error = covariance.std(ddof=1) / np.sqrt(k) * _t_scale(k - 1)
            return float(covariance.mean()), float(error)
        # Regression estimator: subtract the control's (known) error.
        slope = np.cov(covariance, control)[0, 1] / np.var(control, ddof=1)
        adjusted = covariance - slope * (control - self.control_mean)
        error = adjusted.std(ddof=2) / np.sqrt(k) * _t_scale(k - 2)
        return float(adjusted.mean()), float(error)


def _variances(x, s, table, subsample, rng):
    variance_x, se_x = _variance(x, subsample, rng)
    if table is not None:
        return variance_x, se_x, table[2], 0.0
    return (variance_x, se_x, *_variance(s, subsample, rng))


def _projection(x, s, n_projections, accuracy, max_projections, subsample, rng):
    """Return ``(value, standard error, projections used, description)``."""
    table = group_table(s)
    target = accuracy / _Z95
    variance_x, se_x, variance_s, se_s = _variances(x, s, table, subsample, rng)
    draws = _Covariances(x, s, table, rng)
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
        variance_x, se_x, variance_s, se_s = _variances(x, s, table, subsample, rng)
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
    side = f"S exact on {len(table[1])} groups" if table is not None else "S projected"
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


def _permutation_p_value(x, s, n_permutations, rng):
    import dcor

    elements = len(x) ** 2 * (x.shape[1] + s.shape[1])
    if elements > _TEST_MAX_ELEMENTS:
        raise ValueError(
            f"the permutation test (dcor.independence.distance_covariance_test) "
            f"builds {len(x)} x {len(x)} x {x.shape[1] + s.shape[1]} arrays, too "
            "large here; test a random subsample of rows (or groups with by=)."
        )
    seed = int(rng.integers(2**32 - 1))
    result = dcor.independence.distance_covariance_test(
        x, s, num_resamples=n_permutations, random_state=seed
    )
    return float(result.pvalue)


def _check_options(
    method,
    n_projections,
    accuracy,
    max_projections,
    subsample,
    exact_max_samples,
    n_permutations,
):
    if method not in ("auto", "exact", "projection"):
        raise ValueError(
            f"method must be 'auto', 'exact' or 'projection', got {method!r}."
        )
    for name, value, low, optional in (
        ("n_projections", n_projections, 1, True),
        ("max_projections", max_projections, 2, False),
        ("subsample", subsample, 8 * _VARIANCE_PARTS, False),
        ("exact_max_samples", exact_max_samples, 0, False),
        ("n_permutations", n_permutations, 1, True),
    ):
        if optional and value is None:
            continue
        if (
            not isinstance(value, numbers.Integral)
            or isinstance(value, bool)
            or value < low
        ):
            what = "None or an integer" if optional else "an integer"
            raise ValueError(f"{name} must be {what} >= {low}, got {value!r}.")
    if (
        not isinstance(accuracy, numbers.Real)
        or isinstance(accuracy, bool)
        or not 0 < accuracy < 1
    ):
        raise ValueError(f"accuracy must be a number in (0, 1), got {accuracy!r}.")


def distance_correlation(
    features,
    protected,
    *,
    by=None,
    method="auto",
    n_projections=None,
    subsample=3000,
    exact_max_samples=20_000,
    random_state=None,
    accuracy=0.005,
    max_projections=4096,
    n_permutations=None,
    categorical=None,
    sample_size=100_000,
):
    """Squared distance correlation between features and protected columns.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features) or (n_samples,)
        Learned features (or predictions).
    protected : array-like or DataFrame of shape (n_samples, n_protected) \
or (n_samples,)
        Protected columns. Numeric columns are used as they are; boolean,
        categorical and string columns (and those named in ``categorical``)
        are one-hot encoded with every level, so the value does not depend on
        the names or order of the levels. Constant columns add nothing.
    by : array-like of shape (n_samples,), optional
        Compute within each group (e.g. each class of ``y``) and average,
        weighting groups equally, as the MDN papers report it.
    method : {"auto", "exact", "projection"}, default="auto"
        ``"exact"`` computes dcor's V-statistic: O(n log n) when the features
        are 1-D and ``S`` is 1-D or has at most 64 distinct rows, otherwise
        O(n^2) time in memory-bounded blocks (about 25 s for 20,000 x 256 on
        one core). ``"projection"`` is the random-projection estimator
        described in the module notes. ``"auto"`` is exact whenever the exact
        cost is O(n log n) or a group has at most ``exact_max_samples`` rows,
        and the projection estimator otherwise.
    n_projections : int or None, default=None
        Fixed number of projections of the estimator (rounded up to whole
        batches); ``None`` chooses it to reach ``accuracy``.
    subsample : int, default=3000
        Rows used for the distance variances of the projection estimator
        (exact when a group has fewer rows).
    exact_max_samples : int, default=20000
        Largest group that ``method="auto"`` computes by O(n^2) blocks.
    random_state : int, Generator or None, default=None
        Seed of the projection estimator and of the permutations.
    accuracy : float, default=0.005
        Target of the adaptive estimator: ``|estimate - exact| <= accuracy``
        with 95% probability, i.e. a standard error of ``accuracy / 1.96``.
    max_projections : int, default=4096
        Most projections the adaptive estimator may use; ``std_error`` tells
        whether the target was met.
    n_permutations : int or None, default=None
        With an integer, also test independence with dcor's permutation test
        (:func:`dcor.independence.distance_covariance_test`) and report
        ``p_value``. It needs O(n^2 d) memory, so it is for up to a few
        thousand rows per group.
    categorical : str, int or sequence of str or int, optional
        Numeric protected columns holding codes of levels (e.g. race coded
        1/2/3), by name or position: they are one-hot encoded.
    sample_size : int, default=100000
        Dask collections only (any argument a dask array, data frame or
        series): the value is computed on this many rows drawn uniformly
        without replacement (all rows when there are fewer), by the rule of
        :mod:`orthokit.evaluation._dask_sample`, and ``method`` says so.
        In-memory inputs are always used whole.

    Returns
    -------
    result : DistanceCorrelation
        ``value`` (squared distance correlation, the V-statistic of
        :mod:`dcor`), ``method`` (naming the estimator), ``std_error``,
        ``n_projections``, ``p_value`` and per-group values.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.evaluation import distance_correlation
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, 300)
    >>> x = rng.normal(size=(300, 4)) + s[:, None]
    >>> result = distance_correlation(x, s, n_permutations=99, random_state=0)
    >>> result.method, round(result.value, 3), result.p_value
    ('exact', 0.394, 0.01)
    """
    _check_options(
        method,
        n_projections,
        accuracy,
        max_projections,
        subsample,
        exact_max_samples,
        n_permutations,
    )
    note = None
    if any(is_dask_collection(v) for v in (features, protected, by)):
        features, protected, by, random_state, note = dask_sample(
            features, protected, by, sample_size, random_state
        )
    x, _ = read_outputs(features, "features", prefix="x")
    check_pairing(features, protected)
    s = encode_all_levels(protected, x.shape[0], categorical=categorical)
    # Distance correlation is invariant to scaling each side as a whole; an
    # exact power-of-two scale keeps values of 1e300 or 1e-300 from
    # overflowing or underflowing in the squared distances.
    x = x * power_of_two_scale(x.reshape(-1, 1))[0]
    s = s * power_of_two_scale(s.reshape(-1, 1))[0]
    rng = np.random.default_rng(random_state)
    if by is not None:
        by = np.asarray(by)
        if by.ndim != 1 or len(by) != x.shape[0]:
            raise ValueError(
                f"by must be 1-D with one label per row ({x.shape[0]}), got shape "
                f"{by.shape}."
            )
        if pd.isna(by).any():
            raise ValueError("by contains missing values.")
    values, errors, p_values, methods, used = {}, {}, {}, set(), 0
    for label in [None] if by is None else list(pd.unique(by)):
        rows = slice(None) if label is None else np.flatnonzero(by == label)
        xg, sg = x[rows], s[rows]
        if len(xg) < 4:
            raise ValueError(
                f"group {label!r} of by has {len(xg)} rows; distance correlation "
                "needs at least 4."
            )
        fast = xg.shape[1] == 1 and (sg.shape[1] == 1 or group_table(sg) is not None)
        errors[label], projections = 0.0, 0
        if np.ptp(sg, axis=0).max() == 0 or np.ptp(xg, axis=0).max() == 0:
            value, how = 0.0, "exact"  # a constant side is independent of anything
        elif method == "exact" or (
            method == "auto" and (fast or len(xg) <= exact_max_samples)
        ):
            value, how = exact_dcor(xg, sg), "exact"
        else:
            value, errors[label], projections, how = _projection(
                xg, sg, n_projections, accuracy, max_projections, subsample, rng
            )
        if n_permutations is not None:
            p_values[label] = _permutation_p_value(xg, sg, n_permutations, rng)
        values[label], used = value, used + projections
        methods.add(how)
    n_groups = len(values)
    p_value = None
    if p_values:
        p_value = min(1.0, n_groups * min(p_values.values()))
    return DistanceCorrelation(
        value=float(np.mean(list(values.values()))),
        method=" / ".join(sorted(methods)) + ("" if note is None else f" ({note})"),
        n_samples=x.shape[0],
        groups={} if by is None else values,
        std_error=float(np.sqrt(sum(e**2 for e in errors.values())) / n_groups),
        n_projections=used,
        p_value=p_value,
        group_p_values={} if by is None else p_values,
    )
