"""The block U-statistics estimator (continuous confounders) against dcor."""

import dcor
import numpy as np
import pytest

from orthokit.evaluation import distance_correlation
from orthokit.evaluation._dcor_blocks import _centred, _partition


def _confounded(n, d, seed):
    # Three continuous confounders: every row of S is distinct.
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, 3))
    x = rng.normal(size=(n, d)) + 0.5 * np.tanh(s @ rng.normal(size=(3, d)))
    return x, s


@pytest.mark.parametrize("n, d", [(40, 1), (61, 3), (120, 24)])
def test_one_block_of_all_rows_gives_dcor_exact_statistics(n, d):
    # The U-statistics of one block of all n rows, combined, are dcor's
    # V-statistics: the combination is exact, not an approximation.
    x, s = _confounded(n, d, seed=n)
    covariance, variance_x, variance_s = _partition(
        _centred(x), _centred(s), np.random.default_rng(0), block_rows=n
    )
    assert covariance == pytest.approx(dcor.distance_covariance_sqr(x, s), rel=1e-11)
    assert variance_x == pytest.approx(dcor.distance_covariance_sqr(x, x), rel=1e-11)
    assert variance_s == pytest.approx(dcor.distance_covariance_sqr(s, s), rel=1e-11)


@pytest.mark.parametrize("n, d", [(2000, 8), (1500, 64)])
def test_continuous_confounders_within_the_reported_error_of_dcor(n, d):
    # Over seeds, |error| <= 1.96 standard errors about 95% of the time, the
    # errors' spread matches the reported standard errors, and every error
    # is within the accuracy asked for. A loose accuracy keeps the blocks
    # small at these sizes (where dcor's O(n^2) exact value fits), so that
    # the errors are large enough to measure.
    z = []
    for seed in range(12):
        x, s = _confounded(n, d, seed)
        exact = dcor.distance_correlation_sqr(x, s)
        estimate = distance_correlation(
            x, s, method="projection", accuracy=0.02, random_state=seed
        )
        assert estimate.method.startswith("block U-statistics")
        assert estimate.n_projections == 0
        assert 0 < estimate.std_error <= 0.02 / 1.96
        assert abs(estimate.value - exact) < 0.02
        z.append((estimate.value - exact) / estimate.std_error)
    z = np.abs(z)
    assert np.mean(z <= 1.96) >= 10 / 12 and z.max() < 3.5
    assert 0.4 < np.sqrt(np.mean(z**2)) < 1.5


@pytest.mark.parametrize("accuracy, exact_at_last", [(0.004, False), (1e-5, True)])
def test_blocks_grow_to_a_tighter_accuracy(accuracy, exact_at_last):
    # Blocks grow until the target is met, or until the exact value is cheaper.
    x, s = _confounded(3000, 8, seed=5)
    exact = dcor.distance_correlation_sqr(x, s)
    loose = distance_correlation(
        x, s, method="projection", accuracy=0.02, random_state=0
    )
    tight = distance_correlation(
        x, s, method="projection", accuracy=accuracy, random_state=0
    )
    assert tight.std_error <= accuracy / 1.96 < loose.std_error
    assert (tight.method == "exact") == exact_at_last
    if exact_at_last:
        assert tight.value == pytest.approx(exact, abs=1e-12)
    else:
        assert abs(tight.value - exact) < 4 * tight.std_error


def test_grouped_by_label_averages_blocks():
    x, s = _confounded(2400, 4, seed=7)
    by = np.arange(2400) % 2
    result = distance_correlation(
        x, s, by=by, method="projection", accuracy=0.02, random_state=1
    )
    exact = [dcor.distance_correlation_sqr(x[by == g], s[by == g]) for g in (0, 1)]
    assert set(result.groups) == {0, 1}
    # the average's standard error is that of each group's over sqrt(2)
    assert abs(result.value - np.mean(exact)) < 4 * result.std_error
    assert result.method.startswith("block U-statistics")
    for g in (0, 1):
        assert abs(result.groups[g] - exact[g]) < 0.02
