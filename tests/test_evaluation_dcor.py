import dcor
import numpy as np
import pandas as pd
import pytest

from orthokit.evaluation import DistanceCorrelation, distance_correlation


def _data(n, d, strength, seed=0, continuous=False):
    rng = np.random.default_rng(seed)
    S = pd.DataFrame(
        {
            "sex": rng.integers(0, 2, n),
            "race": pd.Categorical(rng.choice(["a", "b", "c"], n)),
        }
    )
    if continuous:
        S["age"] = rng.normal(size=n)
    encoded = np.column_stack([S["sex"], S["race"] == "b", S["race"] == "c"])
    W = rng.normal(size=(3, d))
    X = rng.normal(size=(n, d)) + strength * np.tanh(encoded @ W)
    return X, S


@pytest.mark.slow
@pytest.mark.parametrize("strength", [0.0, 0.5])
@pytest.mark.parametrize("subsample", [3000, 1000])
def test_projection_within_001_of_exact_at_n_3000(strength, subsample):
    X, S = _data(3000, 16, strength)
    exact = distance_correlation(X, S, method="exact")
    estimate = distance_correlation(
        X, S, method="projection", subsample=subsample, random_state=0
    )
    assert exact.method == "exact"
    assert estimate.method.startswith("projection (Huang & Huo 2017")
    assert abs(estimate.value - exact.value) < 0.01


@pytest.mark.parametrize("strength", [0.0, 0.5])
def test_continuous_protected_projects_both_sides(strength):
    X, S = _data(800, 8, strength, seed=1, continuous=True)
    exact = distance_correlation(X, S, method="exact").value
    estimate = distance_correlation(
        X, S, method="projection", n_projections=128, random_state=0
    )
    assert "S projected" in estimate.method
    assert abs(estimate.value - exact) < 0.03


def test_exact_matches_dcor_and_auto_switches():
    X, S = _data(300, 4, 0.5)
    encoded = np.column_stack([S["sex"], S["race"] == "b", S["race"] == "c"])
    result = distance_correlation(X, S)
    assert isinstance(result, DistanceCorrelation) and result.method == "exact"
    expected = dcor.distance_correlation_sqr(X, encoded.astype(float))
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert float(result) == result.value
    auto = distance_correlation(X, S, exact_max_samples=100, random_state=0)
    assert auto.method.startswith("projection")


def test_by_averages_groups():
    X, S = _data(400, 4, 0.5, seed=2)
    y = np.repeat([0, 1], 200)
    result = distance_correlation(X, S, by=y)
    per_group = [
        distance_correlation(X[y == k], S[y == k].reset_index(drop=True)).value
        for k in (0, 1)
    ]
    assert sorted(result.groups) == [0, 1]
    assert result.groups[1] == pytest.approx(per_group[1])
    assert result.value == pytest.approx(np.mean(per_group))


def test_independent_constant_side_is_zero():
    X, _ = _data(50, 3, 0.0)
    result = distance_correlation(np.ones((50, 2)), pd.Series(np.arange(50) % 2))
    assert result.value == 0.0
    assert distance_correlation(X, np.arange(50) % 2).value > 0


@pytest.mark.parametrize(
    "features, protected, kwargs, match",
    [
        (np.ones((5, 2)), np.arange(4), {}, "5 rows but protected has 4"),
        (
            np.full((5, 2), np.nan),
            np.arange(5),
            {},
            r"features columns \['x0', 'x1'\] contains NaN",
        ),
        (np.ones((5, 2)), np.arange(5), {"method": "fast"}, "method must be"),
        (
            np.arange(20001.0)[:, None],
            np.arange(20001) % 2,
            {"method": "exact"},
            "above 20000",
        ),
        (np.ones((5, 2)), np.arange(5), {"n_projections": 0}, "n_projections"),
        (np.ones((5, 2)), np.arange(5), {"by": np.arange(3)}, "by must be 1-D"),
        (np.ones((6, 2)), np.arange(6), {"by": np.arange(6) % 3}, "needs at least 4"),
    ],
)
def test_bad_input(features, protected, kwargs, match):
    with pytest.raises(ValueError, match=match):
        distance_correlation(features, protected, **kwargs)
