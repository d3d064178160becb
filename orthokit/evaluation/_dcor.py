"""Squared distance correlation between learned features and protected columns.

Exact values come from :mod:`dcor` (O(n^2) time and memory). For large ``n`` the
projection estimator follows Huang & Huo (2017): the distance ``|x - x'|`` in
``p`` dimensions is ``C_p`` times the mean of ``|u'(x - x')|`` over directions
``u`` uniform on the sphere, so the distance covariance is an average of
univariate distance covariances of projections, each O(n log n). Two changes
cut its Monte Carlo error:

* the directions are the columns of Haar-random orthonormal frames, so every
  block of ``p`` projections spans the whole feature space;
* the protected side is not projected when ``S`` has few distinct rows (the
  usual case: sex, race, site): then ``sum_j |z_i - z_j|`` over each group of
  rows is computed exactly by sorting, and the covariance needs no projection
  of ``S``. Otherwise both sides are projected and :mod:`dcor`'s O(n log n)
  univariate distance covariance does the work.

The two distance variances in the denominator are not estimated by
projections (their Monte Carlo error is large); they are written as
``U2 - 2 U3 + U4`` plus O(1/n) corrections in three U-statistics, which are
computed exactly on a random subsample (their unbiased estimate). With ``n``
below the subsample size the variances are exact.
"""

import dataclasses
import numbers

import numpy as np
import pandas as pd
from scipy.special import gammaln
from sklearn.metrics import pairwise_distances

from orthokit._linalg import power_of_two_scale
from orthokit._protected import _is_polars, check_array_like, check_finite
from orthokit.evaluation._glm import encode_protected

_MAX_GROUPS = 64
_EXACT_LIMIT = 20_000
_CHUNK = 16


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
    """

    value: float
    method: str
    n_samples: int
    groups: dict = dataclasses.field(default_factory=dict)

    def __float__(self):
        return float(self.value)


def _sphere_constant(p):
    """``C_p`` with ``E|u'x| = |x| / C_p`` for ``u`` uniform on the sphere."""
    return np.sqrt(np.pi) * np.exp(gammaln((p + 1) / 2) - gammaln(p / 2))


def _frames(rng, p, k):
    """``k`` directions in ``R^p``: columns of independent Haar orthonormal frames."""
    blocks, total = [], 0
    while total < k:
        q, r = np.linalg.qr(rng.standard_normal((p, p)))
        blocks.append(q * np.sign(np.diag(r)))
        total += p
    return np.hstack(blocks)[:, :k]


def _u_statistics(a, b):
    """Return the U-statistics ``U2, U3, U4`` of two distance matrices."""
    m = a.shape[0]
    s2 = float(np.sum(a * b))
    rows = float(a.sum(axis=1) @ b.sum(axis=1))
    t3 = rows - s2
    t4 = float(a.sum()) * float(b.sum()) - 2 * s2 - 4 * t3
    return (
        s2 / (m * (m - 1)),
        t3 / (m * (m - 1) * (m - 2)),
        t4 / (m * (m - 1) * (m - 2) * (m - 3)),
    )


def _v_statistic(u2, u3, u4, n):
    """Return the V-statistic ``dCov^2_n`` (dcor's default) from U-statistics."""
    return (
        (n - 1) * (1 - 2 / n + 2 / n**2) * u2 / n
        + (n - 1) * (n - 2) * (-2 / n + 4 / n**2) * u3 / n
        + (n - 1) * (n - 2) * (n - 3) * u4 / n**3
    )


def _variance(x, n, rows):
    if rows is None:
        a = pairwise_distances(x)
    else:
        a = pairwise_distances(x[rows])
    return _v_statistic(*_u_statistics(a, a), n)


def _grouped_covariance(projections, groups, centred_b, n):
    """``sum_ij |z_i - z_j| B_ij / n^2`` averaged over the columns ``z``.

    ``B`` is the double-centred distance matrix of ``S``, constant on blocks of
    rows with equal ``S`` (``centred_b[g_i, g_j]``); centring one side is
    enough because ``sum A_ij B_ij = sum a_ij B_ij`` for a centred ``B``.
    """
    total = 0.0
    n_groups = centred_b.shape[0]
    for start in range(0, projections.shape[1], _CHUNK):
        z = projections[:, start : start + _CHUNK]
        order = np.argsort(z, axis=0)
        z = np.take_along_axis(z, order, axis=0)
        g = groups[order]
        # With z sorted, sum_ij B[g_i, g_j] |z_i - z_j| = 2 sum_i sum_{j<i} ...
        # = 2 sum_h sum_i B[g_i, h] (z_i n_h(<i) - sum_{j<i, g_j=h} z_j).
        weight_of = centred_b[g]  # (n, chunk, n_groups) row of B for each i
        for h in range(n_groups):
            member = (g == h).astype(np.float64)
            count = np.cumsum(member, axis=0) - member
            mass = np.cumsum(member * z, axis=0) - member * z
            total += 2.0 * float(np.sum(weight_of[..., h] * (z * count - mass)))
    return total / (n**2 * projections.shape[1])


def _projected_covariance(px, py):
    import dcor

    values = [
        dcor.distance_covariance_sqr(
            np.ascontiguousarray(px[:, k]),
            np.ascontiguousarray(py[:, k]),
            method="mergesort",
        )
        for k in range(px.shape[1])
    ]
    return float(np.mean(values))


def _projection(x, s, n_projections, subsample, rng):
    n, p = x.shape
    rows = None if n <= subsample else np.sort(rng.choice(n, subsample, replace=False))
    variance_x = _variance(x, n, rows)
    px = x @ _frames(rng, p, n_projections)
    unique, groups = np.unique(s, axis=0, return_inverse=True)
    groups = groups.ravel()
    if len(unique) <= _MAX_GROUPS:
        b = pairwise_distances(unique)
        weights = np.bincount(groups, minlength=len(unique)) / n
        row_means = b @ weights
        grand = row_means @ weights
        centred = b - row_means[:, None] - row_means[None, :] + grand
        covariance = _grouped_covariance(px, groups, centred, n) * _sphere_constant(p)
        variance_s = float(weights @ (centred**2) @ weights)
        side = f"S exact on {len(unique)} groups"
    else:
        q = s.shape[1]
        variance_s = _variance(s, n, rows)
        py = s @ _frames(rng, q, n_projections)
        scale = _sphere_constant(p) * _sphere_constant(q)
        covariance = _projected_covariance(px, py) * scale
        side = "S projected"
    variances = "exact" if rows is None else f"from a {subsample}-row subsample"
    method = (
        f"projection (Huang & Huo 2017; {n_projections} orthonormal projections "
        f"of the features, {side}; distance variances {variances})"
    )
    if variance_x <= 0 or variance_s <= 0:
        return 0.0, method
    value = covariance / np.sqrt(variance_x * variance_s)
    return float(np.clip(value, 0.0, 1.0)), method


def _exact(x, s):
    # dcor's own exact path broadcasts an (n, n, d) array with the current
    # array-API layer; scipy's cdist plus dcor's centring needs only (n, n).
    import dcor
    from scipy.spatial.distance import cdist

    if len(x) > _EXACT_LIMIT:
        raise ValueError(
            f"method='exact' needs {len(x)} x {len(x)} distance matrices; above "
            f"{_EXACT_LIMIT} rows use method='projection' or 'auto'."
        )
    a = dcor.double_centered(cdist(x, x))
    b = dcor.double_centered(cdist(s, s))
    covariance = dcor.mean_product(a, b)
    variance = dcor.mean_product(a, a) * dcor.mean_product(b, b)
    if variance <= 0:
        return 0.0, "exact"
    return float(covariance / np.sqrt(variance)), "exact"


def _as_features(features):
    features = check_array_like(features, "features")
    if isinstance(features, pd.DataFrame) or _is_polars(features):
        names = [str(c) for c in features.columns]
        try:
            features = np.asarray(features, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"features must be numeric: {exc}.") from None
    else:
        if features.dtype.kind not in "fiub":
            try:
                features = features.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"features must be numeric: {exc}.") from None
        names = [f"x{j}" for j in range(features.shape[1])]
        features = np.asarray(features, dtype=np.float64)
    check_finite(features, names, "features")
    return features


def distance_correlation(
    features,
    protected,
    *,
    by=None,
    method="auto",
    n_projections=64,
    subsample=3000,
    exact_max_samples=3000,
    random_state=None,
):
    """Squared distance correlation between features and protected columns.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Learned features (or predictions).
    protected : array-like or DataFrame of shape (n_samples, n_protected)
        Protected columns, encoded as in :func:`check_orthogonality`.
    by : array-like of shape (n_samples,), optional
        Compute within each group (e.g. each class of ``y``) and average,
        weighting groups equally, as the MDN papers report it.
    method : {"auto", "exact", "projection"}, default="auto"
        ``"exact"`` computes dcor's V-statistic with O(n^2) time and memory
        (at most 20,000 rows);
        ``"projection"`` the random-projection estimator of Huang & Huo
        (2017) described in the module notes; ``"auto"`` picks exact for at
        most ``exact_max_samples`` rows (per group).
    n_projections : int, default=64
        Random directions of the projection estimator.
    subsample : int, default=3000
        Rows used for the distance variances of the projection estimator
        (exact when a group has fewer rows).
    exact_max_samples : int, default=3000
        Largest group that ``method="auto"`` computes exactly.
    random_state : int, Generator or None, default=None
        Seed of the projection estimator.

    Returns
    -------
    result : DistanceCorrelation
        ``value`` (squared distance correlation, the V-statistic of
        :mod:`dcor`), ``method`` (naming the estimator), ``groups``.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.evaluation import distance_correlation
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, 300)
    >>> x = rng.normal(size=(300, 4)) + s[:, None]
    >>> result = distance_correlation(x, s)
    >>> result.method, round(result.value, 3)
    ('exact', 0.394)
    """
    if method not in ("auto", "exact", "projection"):
        raise ValueError(
            f"method must be 'auto', 'exact' or 'projection', got {method!r}."
        )
    for name, value, low in (
        ("n_projections", n_projections, 1),
        ("subsample", subsample, 4),
        ("exact_max_samples", exact_max_samples, 0),
    ):
        if not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    x = _as_features(features)
    s, _ = encode_protected(protected, x.shape[0])
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
    groups, methods = {}, set()
    for label in [None] if by is None else list(pd.unique(by)):
        rows = slice(None) if label is None else np.flatnonzero(by == label)
        xg, sg = x[rows], s[rows]
        if len(xg) < 4:
            raise ValueError(
                f"group {label!r} of by has {len(xg)} rows; distance correlation "
                "needs at least 4."
            )
        if np.ptp(sg, axis=0).max() == 0 or np.ptp(xg, axis=0).max() == 0:
            value, used = 0.0, "exact"  # a constant side is independent of anything
        elif method == "exact" or (method == "auto" and len(xg) <= exact_max_samples):
            value, used = _exact(xg, sg)
        else:
            value, used = _projection(xg, sg, n_projections, subsample, rng)
        groups[label] = value
        methods.add(used)
    value = float(np.mean(list(groups.values())))
    return DistanceCorrelation(
        value=value,
        method=" / ".join(sorted(methods)),
        n_samples=x.shape[0],
        groups={} if by is None else groups,
    )
