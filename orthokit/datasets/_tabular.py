"""Loaders of the public tabular fairness data sets shipped with orthokit."""

from importlib import resources

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from orthokit._sklearn import StrOptions, validate_params

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "sex", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income",
]  # fmt: skip
ADULT_CATEGORICAL = [
    "workclass", "education", "marital_status", "occupation", "relationship",
    "race", "sex", "native_country",
]  # fmt: skip

#: The features of the orthogonalization paper's Adult model (its Table 2).
ADULT_PAPER_FEATURES = [
    "age", "workclass", "education", "marital_status", "relationship",
    "hours_per_week",
]  # fmt: skip

COMPAS_FEATURES = [
    "age", "juv_fel_count", "juv_misd_count", "juv_other_count", "priors_count",
    "c_charge_degree", "length_of_stay",
]  # fmt: skip


def _open(name):
    return resources.files("orthokit.datasets").joinpath("data", name).open("rb")


def _bunch(frame, target, protected, features, description, return_X_y):
    X = frame[features + [c for c in protected if c not in features]]
    y = frame[target]
    if return_X_y:
        return X, y
    return Bunch(
        frame=frame,
        data=X,
        target=y,
        target_name=target,
        protected=list(protected),
        feature_names=list(X.columns),
        DESCR=description,
    )


@validate_params(
    {
        "split": [StrOptions({"train", "test", "all"})],
        "drop_missing": ["boolean"],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_adult(*, split="train", drop_missing=True, return_X_y=False):
    """Load the UCI Adult (Census Income 1994) data set shipped with orthokit.

    The task is to predict whether income exceeds 50K a year; the protected
    columns are ``sex`` and ``race``. Categorical columns have pandas'
    ``category`` dtype with sorted levels, so that one-hot encoding with the
    first level dropped gives the paper's columns: ``sex_Male`` and ``race_*``
    against the reference level ``Amer-Indian-Eskimo``.

    Parameters
    ----------
    split : {"train", "test", "all"}, default="train"
        The 32,561-row training file, the 16,281-row test file, or both.
    drop_missing : bool, default=True
        Drop rows with a missing value (``?``): 30,162 training and 15,060
        test rows remain, as in the papers.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``frame`` (all columns, target ``income`` as 0/1), ``data`` (features
        and protected columns), ``target``, ``target_name``, ``protected``
        (``["sex", "race"]``), ``feature_names`` and ``DESCR``.
    (X, y) : tuple
        With ``return_X_y=True``.

    Notes
    -----
    Becker, B. & Kohavi, R. (1996). Adult. UCI Machine Learning Repository,
    CC BY 4.0. The files ship gzip-compressed inside the package; nothing is
    downloaded.

    Examples
    --------
    >>> from orthokit.datasets import load_adult
    >>> adult = load_adult()
    >>> adult.frame.shape, adult.protected
    ((30162, 15), ['sex', 'race'])
    >>> adult.target.mean().round(3)
    np.float64(0.249)
    """
    files = {"train": ["adult.data.gz"], "test": ["adult.test.gz"]}
    files["all"] = files["train"] + files["test"]
    if split not in files:
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
    frames = []
    for name in files[split]:
        with _open(name) as handle:
            frames.append(
                pd.read_csv(
                    handle,
                    compression="gzip",
                    header=None,
                    names=ADULT_COLUMNS,
                    skipinitialspace=True,
                    na_values="?",
                    comment="|",
                )
            )
    frame = pd.concat(frames, ignore_index=True).dropna(how="all")
    if drop_missing:
        frame = frame.dropna().reset_index(drop=True)
    frame["income"] = frame["income"].str.rstrip(".").eq(">50K").astype(np.int64)
    for column in ADULT_CATEGORICAL:
        levels = sorted(frame[column].dropna().unique())
        frame[column] = pd.Categorical(frame[column], categories=levels)
    features = [c for c in ADULT_COLUMNS if c not in ("income", "sex", "race")]
    return _bunch(
        frame, "income", ["sex", "race"], features,
        "UCI Adult (Census Income 1994); target income > 50K.", return_X_y,
    )  # fmt: skip


@validate_params(
    {"filters": ["boolean"], "return_X_y": ["boolean"]},
    prefer_skip_nested_validation=True,
)
def load_compas(*, filters=True, return_X_y=False):
    """Load ProPublica's COMPAS two-year recidivism data shipped with orthokit.

    The target is ``two_year_recid``; the protected columns are ``race`` and
    ``sex`` (``age`` is often treated as protected too). Features follow
    common practice: age, juvenile counts, prior count, charge degree and
    length of stay in jail (days).

    Parameters
    ----------
    filters : bool, default=True
        Apply ProPublica's standard filters (``days_b_screening_arrest`` within
        [-30, 30], ``is_recid != -1``, ``c_charge_degree != "O"``,
        ``score_text != "N/A"``), leaving 6,172 of 7,214 rows.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch
        ``frame``, ``data``, ``target``, ``target_name``, ``protected``
        (``["race", "sex"]``), ``feature_names`` and ``DESCR``.
    (X, y) : tuple
        With ``return_X_y=True``.

    Notes
    -----
    Angwin, J., Larson, J., Mattu, S. & Kirchner, L. (2016). Machine Bias.
    ProPublica, compas-analysis repository. Shipped gzip-compressed, reduced
    to the columns used here (names and dates of birth removed).

    Examples
    --------
    >>> from orthokit.datasets import load_compas
    >>> compas = load_compas()
    >>> compas.frame.shape[0], compas.protected
    (6172, ['race', 'sex'])
    """
    with _open("compas-scores-two-years.csv.gz") as handle:
        frame = pd.read_csv(handle, compression="gzip")
    if filters:
        keep = (
            frame["days_b_screening_arrest"].between(-30, 30)
            & frame["is_recid"].ne(-1)
            & frame["c_charge_degree"].ne("O")
            & frame["score_text"].notna()
            & frame["score_text"].ne("N/A")
        )
        frame = frame[keep].reset_index(drop=True)
    stay = pd.to_datetime(frame["c_jail_out"]) - pd.to_datetime(frame["c_jail_in"])
    frame["length_of_stay"] = (stay.dt.total_seconds() / 86400).fillna(0.0)
    frame["c_charge_degree"] = (frame["c_charge_degree"] == "F").astype(np.int64)
    race_levels = sorted(frame["race"].unique())
    race_levels.remove("African-American")
    race_levels.insert(0, "African-American")
    frame["race"] = pd.Categorical(frame["race"], categories=race_levels)
    frame["sex"] = pd.Categorical(frame["sex"], categories=["Female", "Male"])
    return _bunch(
        frame, "two_year_recid", ["race", "sex"], COMPAS_FEATURES,
        "ProPublica COMPAS (Broward County); target two-year recidivism.",
        return_X_y,
    )  # fmt: skip
