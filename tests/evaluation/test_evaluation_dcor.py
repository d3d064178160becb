import dcor
import numpy as np
import pandas as pd
import pytest

from orthokit.evaluation import distance_correlation


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


def _full_one_hot(S):
    """The reference encoding: every level of every categorical a column."""
    return pd.get_dummies(
        S, columns=list(S.columns[S.dtypes == "category"]), dtype=float
    ).to_numpy(float)


@pytest.mark.parametrize(
    "n, d, continuous",
    [(300, 4, False), (300, 1, False), (400, 12, True), (250, 1, True)],
)
def test_exact_matches_dcor(n, d, continuous):
    X, S = _data(n, d, 0.5, seed=n, continuous=continuous)
    result = distance_correlation(X, S, method="exact")
    expected = dcor.distance_correlation_sqr(X, _full_one_hot(S))
    assert result.method == "exact" and result.std_error == 0.0
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert float(result) == result.value


@pytest.mark.parametrize(
    "relabel",
    [
        {"a": "a", "b": "b", "c": "c"},
        {"a": "c", "b": "a", "c": "b"},
        {"a": "zz", "b": "b", "c": "0"},
        {"a": 3, "b": 1, "c": 2},
    ],
)
def test_value_does_not_depend_on_level_names(relabel):
    X, S = _data(600, 6, 1.0, seed=3)
    race = S["race"].astype(str).map(relabel)
    codes = pd.DataFrame({"race": race})
    expected = dcor.distance_correlation_sqr(
        X, pd.get_dummies(race, dtype=float).to_numpy()
    )
    original = dcor.distance_correlation_sqr(X, _full_one_hot(S[["race"]]))
    # Integer codes are levels only when named in categorical=.
    kwargs = {"categorical": ["race"]} if race.dtype != object else {}
    result = distance_correlation(X, codes, **kwargs)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.value == pytest.approx(original, abs=1e-12)


def test_integer_codes_warn_and_categorical_accepts_positions():
    X, S = _data(300, 3, 1.0, seed=4)
    codes = S["race"].cat.codes.to_numpy() + 1  # race coded 1/2/3
    with pytest.warns(UserWarning, match=r"3 distinct integer.*categorical=\['s0'\]"):
        numeric = distance_correlation(X, codes)
    levels = distance_correlation(X, codes, categorical=[0])
    assert numeric.value == pytest.approx(dcor.distance_correlation_sqr(X, codes * 1.0))
    assert levels.value == pytest.approx(
        dcor.distance_correlation_sqr(X, pd.get_dummies(codes, dtype=float).to_numpy()),
        abs=1e-12,
    )


@pytest.mark.parametrize(
    "features, protected",
    [
        (lambda x, s: x[:, 0], lambda x, s: s),
        (lambda x, s: pd.Series(x[:, 0]), lambda x, s: s[:, 0]),
        (lambda x, s: x[:, 0].tolist(), lambda x, s: s[:, 0].tolist()),
    ],
)
def test_one_dimensional_inputs(features, protected):
    rng = np.random.default_rng(5)
    s = rng.normal(size=(500, 1))
    x = rng.normal(size=(500, 2)) + s
    result = distance_correlation(features(x, s), protected(x, s))
    expected = dcor.distance_correlation_sqr(x[:, 0], s[:, 0])
    assert result.method == "exact"
    assert result.value == pytest.approx(expected, abs=1e-12)


def test_one_dimensional_exact_is_fast_path_above_the_blocked_limit():
    rng = np.random.default_rng(6)
    s = rng.integers(0, 3, 30_000)
    x = rng.normal(size=30_000) + 0.3 * s
    result = distance_correlation(x, pd.Series(s).astype(str))
    sub = slice(0, 30_000, 15)  # dcor's own exact value on a subsample bounds it
    assert result.method == "exact"
    encoded = pd.get_dummies(s[sub], dtype=float).to_numpy()
    expected = dcor.distance_correlation_sqr(x[sub], encoded)
    assert abs(result.value - expected) < 0.03
    exact_small = distance_correlation(x[sub], pd.Series(s[sub]).astype(str))
    assert exact_small.value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "features, protected",
    [
        (np.ones((50, 2)), np.arange(50) % 2),
        (np.arange(50.0), np.ones(50)),
        (np.arange(50.0), pd.Series(["a"] * 50)),
        (
            np.arange(100.0).reshape(50, 2),
            pd.DataFrame({"a": [1] * 50, "b": ["x"] * 50}),
        ),
    ],
)
def test_constant_side_gives_zero_as_dcor(features, protected):
    result = distance_correlation(features, protected)
    expected = dcor.distance_correlation_sqr(np.asarray(features, float), np.zeros(50))
    assert result.value == expected == 0.0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("continuous", [False, True])
def test_projection_error_within_its_standard_error(seed, continuous):
    X, S = _data(2500, 24, 0.5, seed=seed, continuous=continuous)
    exact = dcor.distance_correlation_sqr(X, _full_one_hot(S))
    estimate = distance_correlation(
        X, S, method="projection", subsample=500, random_state=seed
    )
    # S with a continuous column has too many distinct rows to be a table.
    expected = "block U-statistics" if continuous else "projection (Huang & Huo 2017"
    assert estimate.method.startswith(expected)
    assert 0 < estimate.std_error <= 0.005 / 1.96 * 1.001
    # 4 standard errors: fails with probability below 1e-4 for a valid error.
    assert abs(estimate.value - exact) < 4 * estimate.std_error
    assert abs(estimate.value - exact) < 0.005


def test_fixed_projections_report_a_larger_error_than_adaptive():
    X, S = _data(2500, 24, 0.5, seed=9)
    few = distance_correlation(
        X, S, method="projection", n_projections=24 * 4, subsample=500, random_state=0
    )
    assert few.n_projections == 96 and few.std_error > 0
    tight = distance_correlation(
        X, S, method="projection", accuracy=0.001, subsample=500, random_state=0
    )
    assert tight.std_error <= 0.001 / 1.96 * 1.001 or tight.n_projections == 4096


def test_auto_is_exact_up_to_exact_max_samples():
    X, S = _data(300, 4, 0.5)
    assert distance_correlation(X, S).method == "exact"
    auto = distance_correlation(X, S, exact_max_samples=100, random_state=0)
    assert auto.method.startswith("projection") and auto.n_projections > 0


def test_permutation_p_value_matches_dcor():
    X, S = _data(200, 3, 0.0, seed=11)
    result = distance_correlation(X, S, n_permutations=49, random_state=1)
    seed = int(np.random.default_rng(1).integers(2**32 - 1))
    expected = dcor.independence.distance_covariance_test(
        X, _full_one_hot(S), num_resamples=49, random_state=seed
    )
    assert result.p_value == pytest.approx(expected.pvalue)
    dependent = distance_correlation(X + S[["sex"]].to_numpy(), S, n_permutations=49)
    assert dependent.p_value == pytest.approx(1 / 50)


def test_by_averages_groups_and_combines_p_values():
    X, S = _data(400, 4, 0.5, seed=2)
    y = np.repeat([0, 1], 200)
    result = distance_correlation(X, S, by=y, n_permutations=19, random_state=0)
    per_group = [
        distance_correlation(X[y == k], S[y == k].reset_index(drop=True)).value
        for k in (0, 1)
    ]
    assert sorted(result.groups) == [0, 1]
    assert result.groups[1] == pytest.approx(per_group[1])
    assert result.value == pytest.approx(np.mean(per_group))
    assert result.p_value == min(1.0, 2 * min(result.group_p_values.values()))


@pytest.mark.parametrize(
    "features, protected, kwargs, match",
    [
        (np.ones((5, 2)), np.arange(4), {}, "5 rows but protected has 4"),
        (
            np.full((5, 2), np.nan),
            np.arange(5),
            {},
            r"features columns \['x0', 'x1'\] contains NaN or infinity .*row 0",
        ),
        (np.ones((5, 2)), np.arange(5), {"method": "fast"}, "method must be"),
        (np.ones((5, 2)), np.arange(5), {"n_projections": 0}, "n_projections"),
        (np.ones((5, 2)), np.arange(5), {"accuracy": 0}, "accuracy"),
        (np.ones((5, 2)), np.arange(5), {"accuracy": np.nan}, "accuracy"),
        (np.ones((5, 2)), np.arange(5), {"n_permutations": 0}, "n_permutations"),
        (np.ones((5, 2)), np.arange(5), {"categorical": ["zz"]}, "'zz' is not a"),
        (np.ones((5, 2)), np.arange(5), {"categorical": [3]}, "out of range"),
        (np.ones((5, 2)), np.arange(5), {"by": np.arange(3)}, "by must be 1-D"),
        (np.ones((6, 2)), np.arange(6), {"by": np.arange(6) % 3}, "needs at least 4"),
        (np.ones(5), np.array([0, 1, np.nan, 1, 0]), {}, "'s0' contains NaN"),
        (
            np.arange(16000.0).reshape(8000, 2),
            np.arange(8000) % 2,
            {"n_permutations": 9},
            "permutation test",
        ),
    ],
)
def test_bad_input(features, protected, kwargs, match):
    with pytest.raises(ValueError, match=match):
        distance_correlation(features, protected, **kwargs)


@pytest.mark.parametrize("n, d, subsample", [(1000, 16, 3000), (1200, 3, 600)])
def test_projection_standard_error_is_calibrated_against_dcor(n, d, subsample):
    # Over seeds, |error| <= 1.96 standard errors about 95% of the time and
    # the errors' spread matches the reported standard errors (8 batches gave
    # errors of 6 standard errors here).
    z = []
    for seed in range(12):
        X, S = _data(n, d, 0.5, seed=100 + seed)
        exact = dcor.distance_correlation_sqr(X, _full_one_hot(S))
        estimate = distance_correlation(
            X, S, method="projection", subsample=subsample, random_state=seed
        )
        assert abs(estimate.value - exact) < 0.005
        z.append((estimate.value - exact) / estimate.std_error)
    z = np.abs(z)
    assert np.mean(z <= 1.96) >= 10 / 12 and z.max() < 3.5
    assert 0.4 < np.sqrt(np.mean(z**2)) < 1.5
