import pickle
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from orthokit import OrthogonalProjector
from orthokit._linalg import CollinearityWarning
from orthokit.datasets import load_adult


def make_frame(n=300, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], size=n)
    race = rng.choice(["A", "B", "W"], size=n)
    age = rng.normal(40, 10, size=n)
    male = (sex == "M").astype(float)
    return pd.DataFrame(
        {
            "age": age,
            "sex": sex,
            "income": rng.normal(size=n) + 2 * male + 0.1 * age,
            "race": race,
            "hours": rng.normal(size=n) + (race == "W"),
        }
    )


def encoded(X, protected):
    S = pd.get_dummies(X[protected], drop_first=True, dtype=float).to_numpy()
    return S - S.mean(axis=0)


# --- the maths ------------------------------------------------------------------


def test_residuals_orthogonal_in_sample_and_means_kept():
    X = make_frame()
    Xt = OrthogonalProjector(protected=["sex", "race"]).fit_transform(X)
    S = encoded(X, ["sex", "race"])
    assert Xt.shape == (300, 3)
    assert np.abs(S.T @ Xt).max() < 1e-10
    means = X[["age", "income", "hours"]].mean(axis=0)
    np.testing.assert_allclose(Xt.mean(axis=0), means)


def test_out_of_sample_uses_training_statistics():
    train, test = make_frame(seed=0), make_frame(n=50, seed=1)
    proj = OrthogonalProjector(protected=["sex", "race"]).fit(train)
    S_test = pd.get_dummies(test[["sex", "race"]], drop_first=True, dtype=float)
    expected = (
        test[["age", "income", "hours"]].to_numpy()
        - (S_test.to_numpy() - proj.protected_mean_) @ proj.coef_
    )
    np.testing.assert_allclose(proj.transform(test), expected, rtol=1e-12)


@pytest.mark.parametrize("chunks", [[300], [1, 299], [100, 100, 100], [7] * 42 + [6]])
def test_partial_fit_equals_fit(chunks):
    X = make_frame()
    full = OrthogonalProjector(protected=["sex", "race"]).fit(X)
    levels = {"sex": ["F", "M"], "race": ["A", "B", "W"]}
    part = OrthogonalProjector(protected=["sex", "race"], categories=levels)
    for stop, size in zip(np.cumsum(chunks), chunks, strict=True):
        part.partial_fit(X.iloc[stop - size : stop])
    scale = np.abs(full.coef_).max()
    assert np.abs(part.coef_ - full.coef_).max() <= 1e-10 * scale
    assert part.n_samples_seen_ == 300


def test_partial_fit_waits_for_enough_rows():
    from sklearn.exceptions import NotFittedError

    X = make_frame().drop(columns="race")
    part = OrthogonalProjector(protected=["sex"], categories={"sex": ["F", "M"]})
    part.partial_fit(X.iloc[:1])
    with pytest.raises(NotFittedError, match="fewer rows than protected columns"):
        part.transform(X)
    part.partial_fit(X.iloc[1:])
    full = OrthogonalProjector(protected=["sex"]).fit(X)
    np.testing.assert_allclose(part.transform(X), full.transform(X), rtol=1e-12)


def test_partial_fit_with_large_offsets_is_stable():
    rng = np.random.default_rng(3)
    S = rng.normal(1e6, 1, size=(20_000, 2))
    F = 1e8 + S @ [[1.0], [-2.0]] + rng.normal(size=(20_000, 1))
    X = np.hstack([S, F])
    full = OrthogonalProjector(protected=[0, 1]).fit(X)
    part = OrthogonalProjector(protected=[0, 1])
    for block in np.array_split(X, 37):
        part.partial_fit(block)
    # S has mean 1e6 and sd 1: centring it costs ~10 digits, so 1e-8 is the
    # precision both paths can promise; without the shift correction in Moments
    # the one-pass fit was off by 10%.
    np.testing.assert_allclose(part.coef_, full.coef_, rtol=1e-8)
    np.testing.assert_allclose(full.coef_.ravel(), [1.0, -2.0], atol=0.03)


def test_preserve_target_keeps_label_signal():
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    site = y + rng.normal(size=n)  # confounder correlated with the label
    feature = 2.0 * site + 3.0 * y + rng.normal(size=n)
    X = np.column_stack([site, feature])
    plain = OrthogonalProjector(protected=[0]).fit(X, y)
    kept = OrthogonalProjector(protected=[0], preserve_target=True).fit(X, y)
    # The joint regression recovers the confounder's own slope (2) and y's (3).
    assert abs(kept.coef_[0, 0] - 2.0) < 0.1
    assert abs(kept.target_coef_[0, 0] - 3.0) < 0.15
    assert plain.coef_[0, 0] > 2.5  # the plain fit absorbs part of y's effect
    Xt = kept.transform(X)  # y not needed
    assert (
        np.corrcoef(Xt[:, 0], y)[0, 1] > np.corrcoef(plain.transform(X)[:, 0], y)[0, 1]
    )


def test_collinear_protected_warns_and_is_finite():
    X = make_frame()
    X["sex_copy"] = X["sex"]
    X["age2"] = 2 * X["age"]
    protected = ["sex", "sex_copy", "age", "age2", "race"]
    proj = OrthogonalProjector(protected=protected)
    with pytest.warns(CollinearityWarning, match="collinear"):
        Xt = proj.fit_transform(X)
    assert np.isfinite(Xt).all()
    assert proj.rank_ == 4
    reference = OrthogonalProjector(protected=["sex", "age", "race"]).fit_transform(
        X.drop(columns=["sex_copy", "age2"])
    )
    np.testing.assert_allclose(Xt, reference, atol=1e-8)


def test_keep_protected_and_feature_names():
    X = make_frame()
    proj = OrthogonalProjector(protected=["sex", "race"], keep_protected=True)
    Xt = proj.fit_transform(X)
    names = proj.get_feature_names_out()
    assert list(names) == ["age", "income", "hours", "sex_M", "race_B", "race_W"]
    np.testing.assert_array_equal(Xt[:, 3], (X["sex"] == "M").astype(float))


@pytest.mark.parametrize("transform", ["pandas", "polars"])
def test_set_output(transform):
    X = make_frame()
    proj = OrthogonalProjector(protected=["sex", "race"])
    proj.set_output(transform=transform)
    Xt = proj.fit_transform(X)
    assert list(Xt.columns) == ["age", "income", "hours"]
    expected = OrthogonalProjector(protected=["sex", "race"]).fit_transform(X)
    np.testing.assert_allclose(np.asarray(Xt), expected)


def test_polars_input_equals_pandas_input():
    X = make_frame()
    expected = OrthogonalProjector(protected=["sex", "race"]).fit_transform(X)
    proj = OrthogonalProjector(protected=["sex", "race"])
    got = proj.fit_transform(pl.from_pandas(X))
    np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize(
    "values",
    [
        ["F", "M"],
        [False, True],
        pd.Categorical(["F", "M"]),
        pd.array(["F", "M"], dtype="string"),
    ],
)
def test_protected_dtypes_encode_the_same(values):
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2, 100)
    column = pd.Series(values).take(codes).reset_index(drop=True)
    X = pd.DataFrame({"s": column, "f": rng.normal(size=100) + codes})
    Xt = OrthogonalProjector(protected="s").fit_transform(X)
    numeric = pd.DataFrame({"s": codes.astype(float), "f": X["f"]})
    expected = OrthogonalProjector(protected="s").fit_transform(numeric)
    np.testing.assert_allclose(Xt, expected)


def test_float32_preserved_and_close():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 5))
    out64 = OrthogonalProjector(protected=[0, 1]).fit_transform(X)
    out32 = OrthogonalProjector(protected=[0, 1]).fit_transform(X.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, atol=1e-5)


def test_pickle_round_trip():
    X = make_frame()
    proj = OrthogonalProjector(protected=["sex", "race"]).fit(X)
    again = pickle.loads(pickle.dumps(proj))
    np.testing.assert_array_equal(again.transform(X), proj.transform(X))


# --- bad input ------------------------------------------------------------------


def _with(frame, **columns):
    frame = frame.copy()
    for name, value in columns.items():
        frame[name] = value
    return frame


BASE = make_frame(n=40)
NAN_AGE = _with(BASE, age=np.r_[np.nan, BASE["age"].to_numpy()[1:]])
INF_INCOME = _with(BASE, income=np.r_[np.inf, BASE["income"].to_numpy()[1:]])
NAN_SEX = _with(BASE, sex=[None] + list(BASE["sex"][1:]))
TEXT = _with(BASE, job=["x"] * 40)
SR = {"protected": ["sex", "race"]}
TINY = pd.DataFrame({"sex": ["F", "M", "M"], "race": ["A", "B", "W"], "f": [1, 2, 3]})


@pytest.mark.parametrize(
    "params, X, error, match",
    [
        (SR, NAN_AGE, ValueError, "column 'age' contains NaN"),
        (SR, INF_INCOME, ValueError, "column 'income' contains"),
        (SR, NAN_SEX, ValueError, "'sex' contains missing"),
        ({"protected": ["gender"]}, BASE, ValueError, "'gender' is not a column"),
        (SR, _with(BASE, sex="M"), ValueError, "'sex' is constant"),
        (
            SR | {"protected": ["age", "sex", "race"]},
            _with(BASE, age=1.0),
            ValueError,
            r"\['age'\] are const",
        ),
        (SR, TINY, ValueError, "fewer rows than"),
        (SR, TEXT, ValueError, "column 'job' is not numeric"),
        ({"protected": None}, BASE, ValueError, "needs protected"),
        ({"protected": [7]}, BASE, ValueError, "out of range"),
        ({"protected": ["sex", "sex"]}, BASE, ValueError, "given twice"),
        (SR, BASE[["sex", "race"]], ValueError, "every column of X is prot"),
        (SR, BASE.iloc[:0], ValueError, "X is empty"),
    ],
)
def test_bad_input_in_fit(params, X, error, match):
    with pytest.raises(error, match=match):
        OrthogonalProjector(**params).fit(X)


@pytest.mark.parametrize(
    "X, match",
    [
        (BASE.drop(columns="hours"), "feature names"),
        (BASE[["hours", "age", "sex", "income", "race"]], "feature names"),
        (_with(BASE, race="Z"), r"'race' has categories \['Z'\] that were not seen"),
        (NAN_AGE, "column 'age' contains NaN"),
    ],
)
def test_bad_input_in_transform(X, match):
    proj = OrthogonalProjector(protected=["sex", "race"]).fit(BASE)
    with pytest.raises(ValueError, match=match):
        proj.transform(X)


@pytest.mark.parametrize("frame", [False, True])
def test_transform_error_names_the_row_beyond_the_first_block(frame):
    # The transform reads X in row blocks; the row is counted from X's start.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30_000, 4))
    proj = OrthogonalProjector(protected=[0]).fit(X)
    X[20_001, 2] = np.inf
    with pytest.raises(ValueError, match=r"the first in row 20001\)"):
        proj.transform(pd.DataFrame(X) if frame else X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_protected_columns_between_features(dtype):
    # The features around the protected columns are gathered block by block
    # (not a slice of X): the output equals numpy's lstsq residuals, keeps
    # the dtype, and a bad value beyond the first block still names its row.
    rng = np.random.default_rng(1)
    S = rng.normal(size=(5_000, 2))
    F = rng.normal(size=(5_000, 5)) + S @ rng.normal(size=(2, 5))
    X = np.column_stack([F[:, :2], S[:, :1], F[:, 2:4], S[:, 1:], F[:, 4:]])
    X = X.astype(dtype)
    out = OrthogonalProjector(protected=[2, 5]).fit(X).transform(X)
    assert out.dtype == dtype
    S, F = X[:, [2, 5]].astype(np.float64), X[:, [0, 1, 3, 4, 6]].astype(np.float64)
    centred = S - S.mean(axis=0)
    expected = F - centred @ np.linalg.lstsq(centred, F - F.mean(axis=0))[0]
    atol = {np.float64: 1e-12, np.float32: 1e-4}[dtype]
    np.testing.assert_allclose(out, expected, rtol=0, atol=atol)
    X[4_321, 3] = np.nan
    with pytest.raises(ValueError, match=r"the first in row 4321\)"):
        OrthogonalProjector(protected=[2, 5]).fit(X[:100]).transform(X)


def test_sparse_and_unfitted_are_rejected():
    import scipy.sparse
    from sklearn.exceptions import NotFittedError

    with pytest.raises(TypeError, match="sparse"):
        OrthogonalProjector(protected=[0]).fit(scipy.sparse.eye(5, format="csr"))
    with pytest.raises(NotFittedError):
        OrthogonalProjector(protected=[0]).transform(np.eye(3))


def test_named_protected_on_array_is_rejected():
    with pytest.raises(ValueError, match="array without column names"):
        OrthogonalProjector(protected=["sex"]).fit(np.eye(4))


# --- end to end -----------------------------------------------------------------


IGNORE = "ignore"


def test_pipeline_in_grid_search_with_pandas():
    adult = load_adult()
    X = adult.frame.sample(3000, random_state=0)
    y = X.pop("income")
    cat = ["workclass", "marital_status", "relationship"]
    numeric = ["age", "education_num", "hours_per_week"]
    encode = ColumnTransformer(
        [
            ("cat", OneHotEncoder(sparse_output=False, handle_unknown=IGNORE), cat),
            ("num", StandardScaler(), numeric),
            ("protected", "passthrough", ["sex", "race"]),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipe = Pipeline(
        [
            ("encode", encode),
            ("project", OrthogonalProjector(protected=["sex", "race"])),
            ("model", LogisticRegression(max_iter=500)),
        ]
    )
    search = GridSearchCV(
        pipe,
        {"model__C": [0.1, 1.0], "project__keep_protected": [False]},
        cv=3,
        error_score="raise",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollinearityWarning)
        search.fit(X, y)
    assert search.best_score_ > 0.75
    features = search.best_estimator_[:-1].transform(X)
    S = encoded(X.reset_index(drop=True), ["sex", "race"])
    # Fitted on all rows by refit: in-sample orthogonality holds to rounding.
    assert np.abs(S.T @ features).max() < 1e-8 * len(X)


# --- checks against something real ------------------------------------------------


@pytest.fixture(scope="module")
def adult_numeric():
    frame = load_adult().frame.drop(columns=["income", "native_country"])
    return pd.get_dummies(frame, drop_first=True, dtype=float)


def test_adult_correlation_removed(adult_numeric):
    protected = [c for c in adult_numeric.columns if c.startswith(("sex_", "race_"))]
    before = adult_numeric.drop(columns=protected)
    S = adult_numeric[protected].to_numpy()
    k = S.shape[1]
    corr_before = np.corrcoef(np.column_stack([S, before]).T)[:k, k:]
    assert np.nanmax(np.abs(corr_before)) > 0.3  # features leak sex and race
    after = OrthogonalProjector(protected=protected).fit_transform(adult_numeric)
    corr = np.corrcoef(np.column_stack([S, after]).T)[: S.shape[1], S.shape[1] :]
    assert np.nanmax(np.abs(corr)) <= 1e-10


def test_adult_equals_fairlearn_correlation_remover(adult_numeric):
    from fairlearn.preprocessing import CorrelationRemover

    protected = [c for c in adult_numeric.columns if c.startswith(("sex_", "race_"))]
    ours = OrthogonalProjector(protected=protected).fit_transform(adult_numeric)
    theirs = CorrelationRemover(sensitive_feature_ids=protected).fit_transform(
        adult_numeric
    )
    scale = np.abs(theirs).max(axis=0)
    assert np.max(np.abs(ours - theirs) / scale) <= 1e-8


@pytest.mark.parametrize("gap", [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
def test_conditioning_ladder_fits_as_lstsq_and_warns_only_below_the_rule(gap):
    """Cholesky (well conditioned) and eigen-solve (near the rank rule) agree.

    A protected column is another plus ``gap`` times noise: the smallest
    eigenvalue of their correlation matrix falls like ``gap**2``. Above the
    rank rule the fit equals numpy's lstsq on the centred columns; below it
    the projector warns and keeps the minimum-norm fit of the kept span.
    """
    rng = np.random.default_rng(0)
    S = rng.normal(size=(400, 4))
    S[:, 3] = S[:, 2] + gap * rng.normal(size=400)
    F = rng.normal(size=(400, 3)) + S @ rng.normal(size=(4, 3))
    X = np.column_stack([F, S])
    centred = S - S.mean(axis=0)
    eigenvalues = np.linalg.eigvalsh(np.corrcoef(S, rowvar=False))
    full_rank = eigenvalues.min() > 1e-10 * eigenvalues.max()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = OrthogonalProjector(protected=[3, 4, 5, 6]).fit_transform(X)
    warned = any(issubclass(w.category, CollinearityWarning) for w in caught)
    assert warned != full_rank
    if full_rank:
        coef = np.linalg.lstsq(centred, F - F.mean(axis=0), rcond=None)[0]
        expected = F - centred @ coef
        condition = eigenvalues.max() / eigenvalues.min()
        np.testing.assert_allclose(out, expected, atol=condition * 1e-15 * 100)
    # Either way the residuals are orthogonal to the kept span (below the rule
    # the nearly equal pair counts once, through its sum).
    kept = np.column_stack([centred[:, :2], centred[:, 2] + centred[:, 3]])
    assert np.abs(kept.T @ (out - out.mean(axis=0))).max() < 1e-8 * np.abs(F).max()
