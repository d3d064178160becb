"""The evaluation model on cells (all protected columns categorical) equals
statsmodels' GLM on the rows.

With every protected column categorical, :func:`check_orthogonality` fits the
GLM on one row per distinct combination of levels, weighted by the counts (in
memory and on dask alike). The references here are statsmodels' GLM on all
rows with the one-hot design, converged (``tol=1e-12``: with the default
``tol=1e-8`` its standard errors come from weights one IRLS step short of the
estimate), and numpy's per-group moments for the cells themselves.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from orthokit.evaluation import check_orthogonality
from orthokit.evaluation._cells import Cells

TOL = 1e-8
FAMILIES = {
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
    "gaussian": sm.families.Gaussian,
}


def _data(family, n, seed, n_columns):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "race": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "sex": rng.choice(["F", "M"], n),
            "region": rng.choice(["n", "s", "e"], n),
        }
    ).iloc[:, :n_columns]
    eta = rng.normal(size=n) * 0.5 + 0.3 * (frame["race"] == "b").to_numpy()
    if n_columns > 1:
        eta += 0.2 * (frame["sex"] == "M").to_numpy()
    if family == "binomial":
        y = 1 / (1 + np.exp(-eta))
    elif family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
    else:
        y = 1e4 + 3 * eta  # a large mean: the centring of the response matters
    return pd.Series(y, name="p"), frame


def _statsmodels_table(y, S, family, dispersion):
    design = sm.add_constant(pd.get_dummies(S, drop_first=True, dtype=float))
    fit = sm.GLM(y, design, family=FAMILIES[family]()).fit(
        tol=1e-12,
        scale="X2" if dispersion == "estimated" else None,
        use_t=family == "gaussian" or dispersion == "estimated",
    )
    ci = fit.conf_int().to_numpy()[1:]
    table = pd.DataFrame(
        {
            "term": design.columns[1:],
            "coef": fit.params.to_numpy()[1:],
            "std_err": fit.bse.to_numpy()[1:],
            "statistic": fit.tvalues.to_numpy()[1:],
            "p_value": fit.pvalues.to_numpy()[1:],
            "ci_lower": ci[:, 0],
            "ci_upper": ci[:, 1],
        }
    )
    return table, fit.scale


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("dispersion", ["family", "estimated"])
@pytest.mark.parametrize("n_columns, n", [(1, 2000), (2, 2000), (3, 2000), (2, 300000)])
def test_cells_equal_statsmodels_on_the_rows(family, dispersion, n_columns, n):
    y, S = _data(family, n, seed=n_columns, n_columns=n_columns)
    report = check_orthogonality(y, S, dispersion=dispersion)
    expected, scale = _statsmodels_table(y, S, family, dispersion)
    table = report.to_frame()
    assert table["term"].tolist() == expected["term"].tolist()
    for column in expected.columns[1:]:
        # Relative: statistics grow like sqrt(n) (hundreds at n=300,000).
        np.testing.assert_allclose(
            table[column], expected[column], rtol=TOL, atol=TOL, err_msg=column
        )
    np.testing.assert_allclose(report.dispersions["p"], scale, rtol=TOL)
    assert report.n_samples == n


def test_cells_of_blocks_merge_to_the_group_moments():
    rng = np.random.default_rng(0)
    keys = np.column_stack([rng.integers(0, 3, 1000), rng.integers(0, 4, 1000)])
    values = rng.normal(5, 2, (1000, 2))
    values[1:400] *= 1e-6  # blocks of other magnitudes: other units
    cuts = [0, 1, 1, 400, 999, 1000]
    cells = None
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        if b > a:
            # Rows of size 1e301: their sums overflow unless kept in a unit.
            block = Cells.from_rows(keys[a:b], [3, 4], values[a:b] * 2.0**1000)
            cells = block if cells is None else cells.merge(block)
    cells = cells.affine(2.0**-1000, 0.0)
    frame = pd.DataFrame({"k0": keys[:, 0], "k1": keys[:, 1]})
    frame[["v0", "v1"]] = values
    groups = frame.groupby(["k0", "k1"])
    expected = groups[["v0", "v1"]]
    np.testing.assert_array_equal(cells.keys, np.array(list(groups.groups)))
    np.testing.assert_array_equal(cells.n, groups.size().to_numpy())
    np.testing.assert_allclose(cells.mean, expected.mean().to_numpy(), rtol=1e-12)
    m2 = expected.var(ddof=0).to_numpy() * groups.size().to_numpy()[:, None]
    np.testing.assert_allclose(cells.m2, m2, rtol=1e-11)
    np.testing.assert_array_equal(cells.low, expected.min().to_numpy())
    np.testing.assert_array_equal(cells.high, expected.max().to_numpy())


@pytest.mark.parametrize(
    "protected, match",
    [
        (pd.DataFrame({"s": ["a", "b"] * 3, "t": ["a", "b"] * 3}), "collinear"),
        (pd.DataFrame({"s": ["a", "b"] * 3, "t": ["x"] * 6}), "'t' is constant"),
    ],
)
def test_cells_refuse_what_the_rows_refuse(protected, match):
    with pytest.raises(ValueError, match=match):
        check_orthogonality(np.linspace(0.1, 0.9, 6), protected)


@pytest.mark.parametrize("factor", [2.0**1000, 2.0**-1000])
def test_huge_and_tiny_responses_scale_the_report(factor):
    # Powers of two are exact: coefficients, errors and intervals scale by
    # the factor, statistics and p-values do not change.
    y, S = _data("gaussian", 5000, seed=5, n_columns=2)
    y = y - 1e4
    expected = check_orthogonality(y, S).to_frame()
    table = check_orthogonality(y * factor, S).to_frame()
    for column in ["coef", "std_err", "ci_lower", "ci_upper"]:
        np.testing.assert_allclose(
            table[column] / factor, expected[column], rtol=TOL, atol=0, err_msg=column
        )
    for column in ["statistic", "p_value"]:
        np.testing.assert_allclose(table[column], expected[column], rtol=TOL, atol=TOL)
