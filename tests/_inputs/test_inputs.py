"""The input layer (orthokit._inputs) and the transformers reading through it.

One frame fixture (numpy, pandas, pandas nullable, polars eager and lazy,
pyarrow, and the masked-array and matrix forms of numpy) drives the input tests:
every form must give the transformers the numpy answer.
"""

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from orthokit import OrthogonalProjector
from orthokit._groups import GroupMoments
from orthokit._inputs import as_table, fitted_attributes
from orthokit.preprocessing import RecursiveResidualizer


def _numeric(n=300, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 3, n).astype(float)
    F = rng.normal(size=(n, 3)) + s[:, None]
    return pd.DataFrame({"s": s, "a": F[:, 0], "b": F[:, 1], "c": F[:, 2]})


FRAMES = {
    "numpy": lambda df: df.to_numpy(),
    "pandas": lambda df: df,
    "pandas_nullable": lambda df: df.astype("Float64"),
    "polars": pl.from_pandas,
    "polars_lazy": lambda df: pl.from_pandas(df).lazy(),
    "pyarrow": lambda df: pa.Table.from_pandas(df, preserve_index=False),
    "numpy_masked": lambda df: np.ma.masked_array(df.to_numpy(), mask=False),
    "numpy_matrix": lambda df: np.asmatrix(df.to_numpy()),
}
TRANSFORMERS = {
    "projector": lambda p: OrthogonalProjector(protected=p),
    "residualizer": lambda p: RecursiveResidualizer(protected=p),
}


@pytest.mark.parametrize("make", TRANSFORMERS.values(), ids=TRANSFORMERS)
@pytest.mark.parametrize("frame", FRAMES.values(), ids=FRAMES)
def test_every_frame_library_gives_the_numpy_answer(frame, make):
    df = _numeric()
    expected = make([0]).fit(df.to_numpy()).transform(df.to_numpy())
    X = frame(df)
    spec = [0] if isinstance(X, np.ndarray) else ["s"]
    model = make(spec).fit(X)
    np.testing.assert_allclose(model.transform(X), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "series", [pd.Series([1.0, 2.0, 4.0], name="v"), pl.Series("v", [1.0, 2.0, 4.0])]
)
def test_a_series_is_a_one_column_frame(series):
    table = as_table(series)
    assert table.names == ["v"] and table.shape == (3, 1)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.ma.masked_array(np.ones((3, 2)), mask=[[0, 0], [0, 1], [0, 0]]), "row 1"),
        (np.ones(3), "2-D"),
        (pd.DataFrame({"a": [], "b": []}), "empty"),
        (pl.DataFrame({"a": [1.0]}).lazy().filter(pl.col("a") > 2), "empty"),
    ],
    ids=["masked", "1-D", "empty_pandas", "empty_lazy"],
)
def test_malformed_input_is_named(X, match):
    with pytest.raises(ValueError, match=match):
        as_table(X)


def _spoiled(column, values):
    df = _numeric(4)
    df[column] = values
    return df


@pytest.mark.parametrize(
    "X, protected, match",
    [
        (_spoiled("a", pd.to_datetime(["2020-01-01"] * 4)), ["s"], "'a'.*dates"),
        (_spoiled("a", pd.to_datetime(["2020-01-01", None] * 2)), ["s"], "'a'.*dates"),
        (_spoiled("a", pd.to_timedelta([1, 2, 3, 4], unit="D")), ["s"], "'a'.*dates"),
        (_spoiled("s", pd.to_datetime(["2020", "2021"] * 2)), ["s"], "'s'.*dates"),
        (
            _spoiled("s", pl.Series([1, 2] * 2).cast(pl.Datetime).to_pandas()),
            ["s"],
            "'s'.*dates",
        ),
        (_spoiled("a", [1 + 1j, 2, 3, 4]), ["s"], "'a'.*complex"),
        (
            _spoiled("s", pd.array([1, 2, 1, 2], dtype="object")).assign(
                s=lambda d: d.s.map(__import__("decimal").Decimal)
            ),
            ["s"],
            "'s'.*Decimal",
        ),
        (_spoiled("a", [[1], [2], [3], [4]]), ["s"], "'a'.*list.*string or a number"),
    ],
    ids=[
        "datetime_feature",
        "NaT_feature",
        "timedelta_feature",
        "datetime_protected",
        "polars_datetime_protected",
        "complex_feature",
        "decimal_protected",
        "list_feature",
    ],
)
@pytest.mark.parametrize("make", TRANSFORMERS.values(), ids=TRANSFORMERS)
def test_values_that_are_not_numbers_or_labels_are_named(X, protected, match, make):
    with pytest.raises((ValueError, TypeError), match=match):
        make(protected).fit(X)


def test_polars_and_pyarrow_datetimes_are_named():
    df = pl.DataFrame({"s": [0, 1, 0, 1], "a": [1.0, 2.0, 3.0, 5.0]}).with_columns(
        d=pl.Series([1, 2, 3, 4]).cast(pl.Datetime)
    )
    for X in (df, df.to_arrow(), df.lazy()):
        with pytest.raises(ValueError, match="'d'.*dates"):
            OrthogonalProjector(protected=["s"]).fit(X)


def _labelled(n=200, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    a = rng.normal(size=n) + (sex == "M")
    return pd.DataFrame({"sex": sex, "a": a, "b": a + rng.normal(size=n)})


@pytest.mark.parametrize(
    "categories, match",
    [
        ({"sexx": ["F", "M"]}, r"\['sexx'\].*not label protected"),
        ({"sex": ["F", "M", "F"]}, "lists a level twice"),
        ({"a": ["F", "M"]}, r"\['a'\].*not label protected"),
    ],
    ids=["misspelt_key", "duplicate_level", "numeric_column"],
)
@pytest.mark.parametrize("make", TRANSFORMERS.values(), ids=TRANSFORMERS)
def test_categories_are_checked(categories, match, make):
    model = make(["sex"]).set_params(categories=categories)
    with pytest.raises(ValueError, match=match):
        model.fit(_labelled())


def test_keep_protected_refuses_two_columns_of_one_name():
    X = _labelled().assign(sex_M=1.0)
    X["sex_M"] = np.arange(len(X), dtype=float)
    model = OrthogonalProjector(protected=["sex"], keep_protected=True)
    with pytest.raises(ValueError, match=r"\['sex_M'\] twice"):
        model.fit(X).get_feature_names_out()


@pytest.mark.parametrize("make", TRANSFORMERS.values(), ids=TRANSFORMERS)
def test_refit_leaves_no_stale_attribute(make):
    X, y = _labelled(), np.arange(200) % 2
    model = make(["sex"]).set_params(preserve_target=True).fit(X, y)
    assert hasattr(model, "target_coef_") and hasattr(model, "target_")
    model.set_params(preserve_target=False).fit(X)
    assert not hasattr(model, "target_coef_") and not hasattr(model, "target_")
    assert sorted(fitted_attributes(model)) == sorted(
        fitted_attributes(make(["sex"]).fit(X))
    )


@pytest.mark.parametrize(
    "parameter, value",
    [
        ("protected", ["sex", "a"]),
        ("categories", {"sex": ["M", "F"]}),
        ("preserve_target", True),
    ],
)
@pytest.mark.parametrize("make", TRANSFORMERS.values(), ids=TRANSFORMERS)
def test_changed_parameters_between_partial_fits_are_refused(make, parameter, value):
    X = _labelled()
    model = make(["sex"]).partial_fit(X.iloc[:100])
    state = {k: v for k, v in vars(model).items() if k.endswith("_")}
    model.set_params(**{parameter: value})
    with pytest.raises(ValueError, match=rf"\['{parameter}'\] changed"):
        model.partial_fit(X.iloc[100:], np.arange(100) % 2)
    assert {k: v for k, v in vars(model).items() if k.endswith("_")}.keys() == (
        state.keys()
    )
    model.fit(X, np.arange(200) % 2)  # a new fit takes the new value


# ---------------------------------------------------------------- group means


def _groups(n, n_levels, d, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n_levels, n)
    codes[:n_levels] = np.arange(n_levels)  # every level occurs
    F = rng.normal(size=(n, d)) + rng.normal(size=(n_levels, d))[codes] * 3 + 1e3
    X = pd.DataFrame(F, columns=[f"f{j}" for j in range(d)])
    X["site"] = pd.Categorical([f"L{c:05d}" for c in codes])
    return X, codes, F


def test_group_means_equal_the_dense_least_squares():
    X, codes, F = _groups(3000, 40, 4)
    out = OrthogonalProjector(protected=["site"]).fit_transform(X)
    one_hot = np.eye(40)[codes][:, 1:]
    design = np.column_stack([np.ones(len(F)), one_hot - one_hot.mean(0)])
    beta = np.linalg.lstsq(design, F - F.mean(0), rcond=None)[0]
    reference = F - (one_hot - one_hot.mean(0)) @ beta[1:]
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-10 * np.abs(F).max())


def test_many_levels_are_absorbed_without_a_one_hot_matrix():
    # 5,000 levels x 200,000 rows: a dense one-hot Gram would need 8 GB.
    X, codes, F = _groups(200_000, 5000, 16, seed=1)
    model = OrthogonalProjector(protected=["site"]).fit(X)
    out = model.transform(X)
    frame = pd.DataFrame(F)
    reference = (frame - frame.groupby(codes).transform("mean") + frame.mean()).values
    np.testing.assert_allclose(out, reference, rtol=0, atol=1e-9 * np.abs(F).max())
    assert model.coef_.shape == (4999, 16) and model.rank_ == 4999


def test_group_means_stream_and_reject_like_the_dense_path():
    X, _, _ = _groups(4000, 30, 3)
    whole = OrthogonalProjector(protected=["site"]).fit(X)
    levels = sorted(X["site"].astype(str).unique())
    stream = OrthogonalProjector(protected=["site"], categories={"site": levels})
    for start in range(0, len(X), 500):
        stream.partial_fit(X.iloc[start : start + 500])
    np.testing.assert_allclose(stream.transform(X), whole.transform(X), atol=1e-10)
    state = dict(vars(stream))
    bad = X.iloc[:10].copy()
    bad.iloc[3, 0] = np.inf
    with pytest.raises(ValueError, match="'f0'"):
        stream.partial_fit(bad)
    assert vars(stream).keys() == state.keys()
    assert all(vars(stream)[k] is v for k, v in state.items())


def test_group_moments_merge_exactly():
    rng = np.random.default_rng(0)
    codes, F = rng.integers(0, 5, 100), rng.normal(size=(100, 2))
    one, two = (
        GroupMoments.from_data(c, 5, f, scale=np.ones(2), shift=np.zeros(2))
        for c, f in ((codes[:40], F[:40]), (codes[40:], F[40:]))
    )
    whole = GroupMoments.from_data(codes, 5, F, scale=np.ones(2), shift=np.zeros(2))
    merged = one.merge(two)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_allclose(merged.sums, whole.sums, atol=1e-13)


# ---------------------------------------------------------------------- dask


def _frame_with_sites(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["site"] = np.where(np.arange(n) < n // 2, "x", rng.choice(["y", "z"], n))
    frame["b"] += frame["site"].eq("z") * 3.0
    return None, frame, rng.integers(0, 2, n)


@pytest.mark.parametrize("make", TRANSFORMERS.values(), ids=TRANSFORMERS)
def test_dask_empty_partitions_and_a_first_partition_missing_levels(make):
    _, frame, _ = _frame_with_sites()
    ddf = dd.from_pandas(frame, npartitions=6)  # the first partitions: site x only
    filtered = ddf[ddf["a"] > -10]  # keeps every row
    empty = ddf[ddf["a"] > 1e9]
    combined = dd.concat([empty, filtered, empty])
    in_memory = make(["site"]).fit(frame)
    fitted = make(["site"]).fit(combined)
    # The residualizer's ridge (delta) biases both fits, by a relative delta /
    # n_rows in units that depend on the first batch: 3e-9 here.
    tol = 1e-10 if isinstance(fitted, OrthogonalProjector) else 1e-7
    np.testing.assert_allclose(fitted.coef_, in_memory.coef_, rtol=tol, atol=1e-12)
    out = fitted.transform(combined).compute().to_numpy()
    np.testing.assert_allclose(out, in_memory.transform(frame), rtol=0, atol=tol)


def test_dask_array_with_an_empty_block():
    X = _numeric(600).to_numpy()
    dX = da.concatenate([da.from_array(X[:0]), da.from_array(X, chunks=(200, 4))])
    reference = OrthogonalProjector(protected=[0]).fit(X)
    fitted = OrthogonalProjector(protected=[0]).fit(dX)
    np.testing.assert_allclose(fitted.coef_, reference.coef_, rtol=1e-10)


# ------------------------------------------------------- evaluation functions


def test_evaluation_refuses_pandas_objects_paired_by_a_different_index():
    from orthokit.evaluation import check_orthogonality, distance_correlation

    rng = np.random.default_rng(0)
    p = pd.Series(rng.uniform(size=100), index=np.arange(100) + 1000)
    sex = pd.Series(rng.choice(["F", "M"], 100))
    with pytest.raises(ValueError, match="different pandas indexes"):
        check_orthogonality(p, sex)
    with pytest.raises(ValueError, match="different pandas indexes"):
        distance_correlation(p.to_frame(), sex)
    report = check_orthogonality(p.reset_index(drop=True), sex)
    assert report.to_frame()["term"].tolist() == ["s_M"]


def test_a_plain_model_gets_the_columns_it_was_fitted_on():
    from sklearn.linear_model import LogisticRegression

    from orthokit.evaluation import check_estimator_orthogonality

    X = _labelled()
    y = (X["a"] > 0.5).astype(int)
    for features in (X[["a", "b"]], X[["a", "b"]].to_numpy()):
        model = LogisticRegression().fit(features, y)
        report = check_estimator_orthogonality(model, X, ["sex"])
        assert report.to_frame()["term"].tolist() == ["sex_M"]
        assert not report.passed  # a depends on sex


def test_decimal_values_are_refused_not_taken_as_levels():
    from decimal import Decimal

    from orthokit.evaluation import distance_correlation

    x = np.arange(40.0)[:, None]
    s = [Decimal(int(v)) for v in np.arange(40) % 3]
    with pytest.raises(ValueError, match="Decimal"):
        distance_correlation(x, s)


# ------------------------------------------------------------------ the GLM


def test_glm_refit_as_a_regressor_drops_the_classes():
    from orthokit.linear_model import OrthogonalGLM

    X = _labelled()
    model = OrthogonalGLM(protected=["sex"]).fit(X, (X["a"] > 0.5).astype(int))
    assert hasattr(model, "classes_")
    model.set_params(family="gaussian").fit(X, X["b"])
    assert not hasattr(model, "classes_")


@pytest.mark.parametrize(
    "make",
    [
        lambda: OrthogonalProjector(protected=["sex"], preserve_target=True),
        lambda: RecursiveResidualizer(protected=["sex"], preserve_target=True),
        lambda: __import__("orthokit.linear_model").linear_model.OrthogonalGLM(
            protected=["sex"], family="gaussian"
        ),
    ],
    ids=["projector", "residualizer", "glm"],
)
def test_a_target_of_the_wrong_length_has_one_message(make):
    X = _labelled()
    with pytest.raises(ValueError, match=r"^y has 199 rows but X has 200; they"):
        make().fit(X, X["b"].to_numpy()[:-1])


def test_glm_predictions_read_frames_without_the_protected_values():
    from orthokit.linear_model import OrthogonalGLM

    X = _labelled()
    model = OrthogonalGLM(protected=["sex"], family="gaussian").fit(X, X["b"])
    expected = model.predict(X)
    for frame in (pl.from_pandas(X).lazy(), pa.Table.from_pandas(X)):
        np.testing.assert_allclose(model.predict(frame), expected, rtol=1e-15)
    # The protected column is not read at predict: an unseen level is fine.
    np.testing.assert_allclose(model.predict(X.assign(sex="Z")), expected)


def test_categorical_dtypes_read_through_their_codes_like_labels():
    X = _labelled()
    as_category = X.astype({"sex": pd.CategoricalDtype(["M", "F", "Z"])})
    expected = OrthogonalProjector(protected=["sex"]).fit_transform(X)
    model = OrthogonalProjector(protected=["sex"]).fit(as_category)
    assert model.protected_.categories_ == {"sex": ["M", "F"]}  # dtype order, used
    np.testing.assert_allclose(model.transform(as_category), expected, atol=1e-12)
    np.testing.assert_allclose(model.transform(X), expected, atol=1e-12)
    unseen = as_category.copy()
    unseen.loc[3, "sex"] = "Z"
    with pytest.raises(ValueError, match=r"'sex' has categories \['Z'\]"):
        model.transform(unseen)
    missing = as_category.copy()
    missing.loc[5, "sex"] = np.nan
    with pytest.raises(ValueError, match="'sex' contains missing values .*row 5"):
        model.transform(missing)


@pytest.mark.parametrize(
    "family, dispersion",
    [("binomial", "family"), ("poisson", "family"), ("gaussian", "family"),
     ("binomial", "estimated")],
)  # fmt: skip
def test_one_categorical_column_evaluates_on_level_means_as_statsmodels(
    family, dispersion
):
    import statsmodels.api as sm

    from orthokit.evaluation import check_orthogonality

    rng = np.random.default_rng(2)
    codes = np.concatenate([np.arange(200), rng.integers(0, 200, 3800)])
    effect = rng.normal(scale=0.2, size=200)[codes]
    p = {
        "binomial": 1 / (1 + np.exp(-(effect + rng.normal(size=4000)))),
        "poisson": rng.poisson(np.exp(1 + effect)).astype(float),
        "gaussian": effect + rng.normal(size=4000),
    }[family]
    site = pd.Series([f"L{c:03d}" for c in codes], name="site")
    report = check_orthogonality(p, site, family=family, dispersion=dispersion)
    dummies = pd.get_dummies(site, drop_first=True, dtype=float)
    direct = sm.GLM(
        p, sm.add_constant(dummies), family=getattr(sm.families, family.title())()
    ).fit(
        scale="X2" if dispersion == "estimated" else None,
        use_t=family == "gaussian" or dispersion == "estimated",
        tol=1e-13,  # its default (1e-8) leaves errors 1e-6 from the optimum's
    )
    table = report.to_frame()
    assert table["term"].tolist() == [f"site_{c}" for c in dummies.columns]
    for ours, theirs in [
        ("coef", direct.params), ("std_err", direct.bse), ("p_value", direct.pvalues)
    ]:  # fmt: skip
        np.testing.assert_allclose(
            table[ours], theirs.to_numpy()[1:], rtol=1e-7, atol=1e-10
        )
