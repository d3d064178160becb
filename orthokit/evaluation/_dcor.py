"""Squared distance correlation between learned features and protected columns.

Protected columns are encoded with every level one-hot (no reference level
dropped), so the value does not depend on how the levels are called or
ordered. Exact values (dcor's V-statistic) come from
:mod:`orthokit.evaluation._dcor_exact`: O(n log n) for 1-D features against 1-D
or grouped protected columns, memory-bounded O(n^2) blocks otherwise.

For large ``n`` two estimators: with few distinct protected rows, the
random-projection estimator of :mod:`orthokit.evaluation._dcor_projection`
(Huang & Huo 2017), which averages univariate O(n log n) distance covariances
of random projections of the features; with many (continuous confounders),
the block U-statistics of :mod:`orthokit.evaluation._dcor_blocks`, O(n m d)
for blocks of ``m`` rows.
"""

import dataclasses
import numbers

import numpy as np
import pandas as pd

from orthokit._dask import is_dask_collection
from orthokit._inputs._paired import check_pairing, encode_all_levels, read_outputs
from orthokit._linalg import power_of_two_scale
from orthokit.evaluation._dask_sample import dask_sample
from orthokit.evaluation._dcor_blocks import block_dcor
from orthokit.evaluation._dcor_exact import exact_dcor, group_table
from orthokit.evaluation._dcor_projection import VARIANCE_PARTS, projection

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
        Projections used (summed over groups; 0 when exact or by block
        U-statistics).
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
        ("subsample", subsample, 8 * VARIANCE_PARTS, False),
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
        one core). ``"projection"`` is the estimator for many rows described
        in the module notes: random projections of the features when ``S``
        has at most 64 distinct rows, block U-statistics over all rows
        otherwise (continuous confounders; 2-4 s for 100,000 x 256 with 3 of
        them on a shared 2-core machine, ``benchmarks/results/dcor.md``).
        ``"auto"`` is exact whenever the exact cost is O(n log n) or a group
        has at most ``exact_max_samples`` rows, and the estimator otherwise.
    n_projections : int or None, default=None
        Fixed number of projections of the estimator (rounded up to whole
        batches); ``None`` chooses it to reach ``accuracy``. Not used by the
        block U-statistics (``S`` with many distinct rows).
    subsample : int, default=3000
        Rows used for the distance variance of the features by the
        random-projection estimator (exact when a group has fewer rows).
    exact_max_samples : int, default=20000
        Largest group that ``method="auto"`` computes by O(n^2) blocks.
    random_state : int, Generator or None, default=None
        Seed of the projection estimator and of the permutations.
    accuracy : float, default=0.005
        Target of the adaptive estimator: ``|estimate - exact| <= accuracy``
        with 95% probability, i.e. a standard error of ``accuracy / 1.96``.
    max_projections : int, default=4096
        Most projections the adaptive estimator may use; ``std_error`` tells
        whether the target was met. The block U-statistics grow their blocks
        instead, up to the cost of the exact value, which they then compute.
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
        table = group_table(sg)
        fast = xg.shape[1] == 1 and (sg.shape[1] == 1 or table is not None)
        errors[label], projections = 0.0, 0
        if np.ptp(sg, axis=0).max() == 0 or np.ptp(xg, axis=0).max() == 0:
            value, how = 0.0, "exact"  # a constant side is independent of anything
        elif method == "exact" or (
            method == "auto" and (fast or len(xg) <= exact_max_samples)
        ):
            value, how = exact_dcor(xg, sg), "exact"
        elif table is None:
            value, errors[label], how = block_dcor(xg, sg, accuracy, rng)
        else:
            value, errors[label], projections, how = projection(
                xg, table, n_projections, accuracy, max_projections, subsample, rng
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
