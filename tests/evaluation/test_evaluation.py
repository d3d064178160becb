import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from orthokit.datasets import ADULT_PAPER_FEATURES, load_adult
from orthokit.evaluation import (
    OrthogonalityReport,
    PerfectSeparationError,
    check_estimator_orthogonality,
    check_orthogonality,
    nonlinear_check,
    plot_reports,
)


@pytest.fixture(scope="module")
def adult_predictions():
    frame = load_adult().frame
    X = pd.get_dummies(frame[ADULT_PAPER_FEATURES], drop_first=True, dtype=float)
    X = sm.add_constant(X)
    fit = sm.GLM(frame["income"], X, family=sm.families.Binomial()).fit()
    return fit.predict(X), frame[["sex", "race"]]


def test_adult_equals_direct_statsmodels_fit(adult_predictions):
    p, S = adult_predictions
    report = check_orthogonality(p, S)
    design = sm.add_constant(pd.get_dummies(S, drop_first=True, dtype=float))
    direct = sm.GLM(p, design, family=sm.families.Binomial()).fit()
    table = report.to_frame().set_index("term")
    names = ["sex_Male", "race_Asian-Pac-Islander", "race_Black", "race_Other"]
    names.append("race_White")
    assert table.index.tolist() == names
    for column, attribute in [
        ("coef", "params"),
        ("std_err", "bse"),
        ("statistic", "tvalues"),
        ("p_value", "pvalues"),
    ]:
        expected = getattr(direct, attribute).to_numpy()[1:]
        np.testing.assert_allclose(table[column], expected, rtol=0, atol=1e-8)
    ci = direct.conf_int().to_numpy()[1:]
    np.testing.assert_allclose(table[["ci_lower", "ci_upper"]], ci, atol=1e-8)
    # The paper's Table 2: sex (male) about 1.04-1.07, race (White) about 0.51-0.52.
    assert 1.03 < table.loc["sex_Male", "coef"] < 1.07
    assert 0.50 < table.loc["race_White", "coef"] < 0.52
    assert table.loc["sex_Male", "p_value"] < 1e-10
    assert report.family == "binomial" and report.family_inferred
    assert report.statistic == "z" and report.dispersions == {"y_pred": 1.0}
    assert not report.passed
    text = str(report)
    assert "binomial GLM (logit link, inferred), dispersion 1" in text
    assert "sex_Male" in text and "1.038 (<0.001) ✗" in text
    assert "Verdict: FAIL (3 of 5 terms)" in text


def _sample(n=400, seed=0):
    rng = np.random.default_rng(seed)
    s = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], n),
            "age": rng.normal(40, 10, n),
        }
    )
    return rng, s


@pytest.mark.parametrize(
    "make, scale, family, statistic",
    [
        (lambda r, n: r.uniform(0.1, 0.9, n), "response", "binomial", "z"),
        (lambda r, n: r.integers(0, 2, n).astype(float), "response", "binomial", "z"),
        (lambda r, n: r.poisson(3.0, n).astype(float), "response", "poisson", "z"),
        (lambda r, n: r.normal(5, 2, n), "response", "gaussian", "t"),
        (lambda r, n: r.uniform(0.1, 0.9, n), "link", "gaussian", "t"),
    ],
)
def test_family_inferred(make, scale, family, statistic):
    rng, S = _sample()
    report = check_orthogonality(make(rng, len(S)), S, scale=scale)
    assert report.family == family
    assert report.statistic == statistic
    assert report.to_frame()["term"].tolist() == ["sex_M", "age"]


@pytest.mark.parametrize("family", ["binomial", "poisson", "gaussian"])
def test_matches_statsmodels_for_each_family(family):
    rng, S = _sample(seed=1)
    y = rng.uniform(0.1, 0.9, len(S)) if family == "binomial" else rng.poisson(2, 400)
    report = check_orthogonality(y, S, family=family)
    design = sm.add_constant(pd.get_dummies(S, drop_first=True, dtype=float))
    design = design[["const", "sex_M", "age"]]
    fam = {"binomial": sm.families.Binomial, "poisson": sm.families.Poisson}
    fam["gaussian"] = sm.families.Gaussian
    direct = sm.GLM(y, design, family=fam[family]()).fit(use_t=family == "gaussian")
    np.testing.assert_allclose(report.table["coef"], direct.params[1:], atol=1e-10)
    np.testing.assert_allclose(report.table["p_value"], direct.pvalues[1:], atol=1e-10)


def test_estimated_dispersion_changes_standard_errors():
    rng, S = _sample(seed=2)
    p = rng.uniform(0.4, 0.6, len(S))
    fixed = check_orthogonality(p, S)
    estimated = check_orthogonality(p, S, dispersion="estimated")
    assert estimated.statistic == "t"
    assert estimated.dispersions["y_pred"] < 0.1  # fractional p near 0.5: small
    ratio = estimated.table["std_err"] / fixed.table["std_err"]
    np.testing.assert_allclose(ratio, np.sqrt(estimated.dispersions["y_pred"]))


@pytest.mark.parametrize("effect, passed", [(0.0, True), (0.3, False)])
def test_verdict(effect, passed):
    rng, S = _sample(n=2000, seed=3)
    male = (S["sex"] == "M").to_numpy()
    p = np.clip(rng.uniform(0.2, 0.6, len(S)) + effect * male, 0, 1)
    report = check_orthogonality(pd.Series(p, name="score"), S)
    row = report.to_frame().set_index("term").loc["sex_M"]
    assert report.to_frame()["output"].unique().tolist() == ["score"]
    assert bool(row["passed"]) is passed
    assert bool(row["passed"]) is bool(row["p_value"] > 0.05)


def test_exactly_orthogonal_predictions_have_zero_coefficients():
    rng, S = _sample(n=500, seed=4)
    design = np.column_stack([np.ones(500), (S["sex"] == "M"), S["age"]])
    y = rng.normal(size=500)
    residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    report = check_orthogonality(residual + 3.0, S, scale="link")
    np.testing.assert_allclose(report.table["coef"], 0.0, atol=1e-12)
    assert report.passed


def test_max_effect_can_fail_a_non_significant_coefficient():
    rng, S = _sample(n=60, seed=5)
    y = rng.normal(size=60) * 10
    loose = check_orthogonality(y, S)
    strict = check_orthogonality(y, S, max_effect=1e-6)
    assert loose.table["passed"].all() or not loose.passed
    assert not strict.passed


def test_several_outputs_each_get_a_model():
    rng, S = _sample(seed=6)
    P = pd.DataFrame({"a": rng.uniform(size=400), "b": rng.uniform(size=400)})
    table = check_orthogonality(P, S).to_frame()
    assert table[["output", "term"]].values.tolist() == [
        ["a", "sex_M"],
        ["a", "age"],
        ["b", "sex_M"],
        ["b", "age"],
    ]


def test_polars_and_numpy_inputs_give_the_same_report():
    import polars as pl

    rng, S = _sample(seed=7)
    p = rng.uniform(size=400)
    pandas_report = check_orthogonality(p, S)
    polars_report = check_orthogonality(pl.Series("y_pred", p), pl.from_pandas(S))
    pd.testing.assert_frame_equal(pandas_report.table, polars_report.table)
    array_report = check_orthogonality(p, np.column_stack([S["sex"] == "M", S["age"]]))
    assert array_report.table["term"].tolist() == ["s0", "s1"]
    np.testing.assert_allclose(array_report.table["coef"], pandas_report.table["coef"])


@pytest.mark.parametrize(
    "predictions, protected, kwargs, error, match",
    [
        (np.ones(5) / 2, np.arange(4), {}, ValueError, "5 rows but protected has 4"),
        (
            np.linspace(0.1, 0.9, 6),
            pd.DataFrame({"s": [1, 1, 1, 1, 1, 1]}),
            {},
            ValueError,
            "protected column 's' is constant",
        ),
        (
            np.linspace(0.1, 0.9, 6),
            pd.DataFrame({"s": ["a"] * 6}),
            {},
            ValueError,
            "protected column 's' is constant",
        ),
        (
            np.array([0.1, np.nan, 0.3, 0.4]),
            np.arange(4),
            {},
            ValueError,
            "NaN or infinity .*row 1",
        ),
        (
            np.array([0.1, 1.5, 0.3, 0.4]),
            np.arange(4),
            {"family": "binomial"},
            ValueError,
            r"probabilities in \[0, 1\]",
        ),
        (
            np.array([-1.0, 2, 3, 4]),
            np.arange(4),
            {"family": "poisson"},
            ValueError,
            "non-negative",
        ),
        (
            np.linspace(0.1, 0.9, 6),
            np.arange(6) % 2,
            {"categorical": ["race"]},
            ValueError,
            "categorical column 'race' is not a column of protected",
        ),
        (
            np.linspace(0, 1, 4),
            np.arange(4),
            {"family": "logit"},
            ValueError,
            "family must be",
        ),
        (np.linspace(0, 1, 4), np.arange(4), {"alpha": 1.5}, ValueError, "alpha"),
        (np.linspace(0, 1, 4), np.arange(4), {"scale": "log"}, ValueError, "scale"),
        (
            np.linspace(0, 1, 4),
            np.arange(4),
            {"scale": "link", "family": "binomial"},
            ValueError,
            "scale='link'",
        ),
        (np.array(["a", "b", "c", "d"]), np.arange(4), {}, TypeError, "numeric"),
        (
            np.linspace(0.1, 0.9, 6),
            np.column_stack([np.arange(6), 2 * np.arange(6)]),
            {},
            ValueError,
            "collinear",
        ),
    ],
)
def test_bad_input(predictions, protected, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_orthogonality(predictions, protected, **kwargs)


def test_perfect_separation_is_an_error_with_context():
    s = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    with pytest.raises(PerfectSeparationError, match="perfect separation.*determine"):
        check_orthogonality(s.astype(float), s)


def test_statsmodels_warnings_get_context():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2, 50)
    p = np.where(s == 1, rng.uniform(0.99999, 1, 50), rng.uniform(0, 1, 50))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_orthogonality(p, s)
        except PerfectSeparationError:
            pass
    for w in caught:
        assert "evaluation GLM" in str(w.message)


def test_estimator_form_uses_predict_proba_and_named_columns():
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng, S = _sample(n=500, seed=8)
    X = S.assign(x=rng.normal(size=500))
    y = (X["x"] + (X["sex"] == "M") + rng.normal(size=500) > 0.5).astype(int)
    model = make_pipeline(
        make_column_transformer(("passthrough", ["x", "age"])), LogisticRegression()
    ).fit(X, y)
    report = check_estimator_orthogonality(model, X, ["sex", "age"])
    direct = check_orthogonality(model.predict_proba(X)[:, 1], S)
    pd.testing.assert_frame_equal(
        report.table, direct.table.assign(output="predict_proba")
    )
    link = check_estimator_orthogonality(
        model, X, ["sex", "age"], response_method="decision_function"
    )
    assert link.family == "gaussian" and link.scale == "link"
    with pytest.raises(ValueError, match="not a column of X"):
        check_estimator_orthogonality(model, X, ["gender"])
    with pytest.raises(TypeError, match="no predict_proba"):
        check_estimator_orthogonality(object(), X, ["sex"])


def test_nonlinear_check_finds_a_nonlinear_effect():
    rng = np.random.default_rng(0)
    age = rng.uniform(20, 60, 600)
    noise = rng.uniform(size=600)
    dependent = 0.5 + 0.3 * np.sin(age / 3)
    report = check_orthogonality(
        dependent, age, nonlinear=True, n_permutations=9, random_state=0
    )
    row = report.to_frame().iloc[0]
    assert row["rf_p_value"] == pytest.approx(0.1)
    assert row["rf_importance"] > 0.5
    assert not row["passed"]  # the linear test alone may pass; the forest does not
    table = nonlinear_check(noise, age, n_permutations=9, random_state=0)
    assert table["rf_p_value"].iloc[0] > 0.1
    assert "random-forest importance" in str(report)


def test_report_str_repr_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rng, S = _sample(seed=9)
    male = (S["sex"] == "M").to_numpy()
    before = check_orthogonality(rng.normal(size=400) + male, S)
    after = check_orthogonality(rng.normal(size=400), S)
    assert repr(before) == "<OrthogonalityReport: gaussian GLM, 2 term(s), failed>"
    assert isinstance(before, OrthogonalityReport)
    ax = before.plot(after, labels=["before", "after"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["sex_M", "age"]
    assert len(ax.containers) == 2
    ax.figure.savefig(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="labels has 1 entries"):
        plot_reports([before, after], labels=["x"])
    with pytest.raises(TypeError, match="OrthogonalityReport"):
        plot_reports([before, "after"])


def test_matplotlib_is_not_imported_by_the_module():
    import subprocess
    import sys

    code = "import sys, orthokit.evaluation; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("family", [None, "gaussian", "binomial", "poisson"])
@pytest.mark.parametrize("spread", [0.0, 1e-12, 1e-9])
def test_nearly_constant_predictions_pass_with_a_note(family, spread):
    rng = np.random.default_rng(1)
    s = rng.integers(0, 2, 300)
    p = 0.5 + spread * rng.uniform(size=300)
    report = check_orthogonality(p, s, family=family)
    assert report.passed
    row = report.to_frame().iloc[0]
    assert row["note"].startswith("predictions nearly constant")
    assert row["coef"] == 0.0 and row["p_value"] == 1.0


def test_real_separation_still_fails_and_notes_are_empty_otherwise():
    s = np.repeat([0.0, 1.0], 50)
    with pytest.raises(PerfectSeparationError):
        check_orthogonality(0.2 + 0.5 * s, s)
    rng = np.random.default_rng(2)
    report = check_orthogonality(rng.uniform(size=100), s)
    assert (report.to_frame()["note"] == "").all()


def test_gaussian_small_spread_on_a_large_mean_matches_statsmodels():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 2, 400).astype(float)
    y = 1e6 + 0.1 * (rng.normal(size=400) + 0.3 * s)  # relative spread 1e-7
    report = check_orthogonality(y, s, family="gaussian")
    direct = sm.OLS(y - 1e6, sm.add_constant(s)).fit()
    row = report.to_frame().iloc[0]
    assert row["coef"] == pytest.approx(direct.params[1], rel=1e-6)
    assert row["p_value"] == pytest.approx(direct.pvalues[1], rel=1e-5)


def test_categorical_codes_match_statsmodels_dummies_and_warn_otherwise():
    rng = np.random.default_rng(4)
    race = rng.integers(1, 4, 500)  # race coded 1/2/3
    p = 1 / (
        1 + np.exp(-(0.3 * (race == 2) - 0.2 * (race == 3) + rng.normal(size=500)))
    )
    with pytest.warns(UserWarning, match="3 distinct integer values.*categorical="):
        numeric = check_orthogonality(p, race)
    assert numeric.to_frame()["term"].tolist() == ["s0"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_orthogonality(
            p, pd.Series(race, name="race"), categorical="race"
        )
    design = sm.add_constant(pd.get_dummies(race, drop_first=True, dtype=float))
    direct = sm.GLM(p, design, family=sm.families.Binomial()).fit()
    table = report.to_frame()
    assert table["term"].tolist() == ["race_2", "race_3"]
    np.testing.assert_allclose(table["coef"], direct.params.to_numpy()[1:], atol=1e-8)
    np.testing.assert_allclose(
        table["p_value"], direct.pvalues.to_numpy()[1:], atol=1e-8
    )


def test_estimator_form_takes_categorical_positions_of_x():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(5)
    X = np.column_stack([rng.normal(size=300), rng.integers(1, 4, 300)])
    y = X[:, 0] + (X[:, 1] == 2) + rng.normal(size=300)
    model = LinearRegression().fit(X[:, :1], y)

    class FirstColumn:
        def predict(self, X):
            return model.predict(X[:, :1])

    report = check_estimator_orthogonality(FirstColumn(), X, [1], categorical=[1])
    assert report.to_frame()["term"].tolist() == ["x1_2.0", "x1_3.0"]


@pytest.mark.parametrize("outputs", [1, 2])
def test_printed_report_shows_the_note_of_constant_predictions(outputs):
    rng = np.random.default_rng(3)
    s = rng.integers(0, 2, 200)
    constant = np.full(200, 0.25)
    varying = rng.uniform(0.1, 0.9, 200)
    y = constant if outputs == 1 else np.column_stack([varying, constant])
    report = check_orthogonality(y, s)
    text = str(report)
    notes = [line for line in text.splitlines() if line.startswith("Note (")]
    assert len(notes) == 1, text
    constant_name = report.to_frame()["output"].iloc[-1]
    assert notes[0].startswith(f"Note ({constant_name}): predictions nearly constant")
    assert "0.000 (1.000) \N{CHECK MARK} *" in text
    assert text.splitlines()[-1].startswith("Verdict: PASS")
    plain = str(check_orthogonality(varying, s))
    assert "Note (" not in plain and "*" not in plain


def test_the_display_draws_every_report_with_its_verdict():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.linear_model import LinearRegression

    from orthokit.evaluation import OrthogonalityDisplay

    rng = np.random.default_rng(3)
    sex = pd.Series(rng.choice(["F", "M"], 300), name="sex")
    noise = pd.Series(rng.normal(size=300))
    orthogonal = noise - noise.groupby(sex).transform("mean")  # exactly free of sex
    biased = check_orthogonality(noise + (sex == "M"), sex)
    fair = check_orthogonality(orthogonal, sex)
    _, ax = plt.subplots()
    display = OrthogonalityDisplay.from_report(
        biased, fair, labels=["raw", "fixed"], reference_levels={"sex": "F"}, ax=ax
    )
    assert display.ax_ is ax and len(display.errorbars_) == 2
    assert display.ax_.get_title() == "raw: FAIL, fixed: PASS"
    assert "reference levels: sex = F" in display.ax_.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["sex_M"]
    X = pd.DataFrame({"x": orthogonal, "sex": sex})
    model = LinearRegression().fit(X[["x"]], X["x"] + (sex == "M"))
    from_model = OrthogonalityDisplay.from_estimator(model, X, ["sex"])
    assert from_model.ax_.get_legend().get_texts()[0].get_text() == (
        "LinearRegression (passed)"
    )
    with pytest.raises(ValueError, match="labels has 1 entries but there are 2"):
        OrthogonalityDisplay([biased, fair], labels=["one"])
    with pytest.raises(TypeError, match="OrthogonalityReport"):
        OrthogonalityDisplay([np.ones(3)])
    plt.close("all")
