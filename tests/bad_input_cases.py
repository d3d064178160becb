"""The cases of the bad-input tables: every kind of bad input, one list.

``CASES`` lists the bad inputs: how to spoil valid data, at which stage
(``fit``, ``apply`` after a clean fit, ``unfitted``), which kinds or traits of
entry point (``bad_input_entries.py``) it concerns, and what must happen.
``tests/README.md`` explains how to add a case.
"""

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import scipy.sparse
from bad_input_entries import RawFile


def _set(X, column, values):
    X = X.copy()
    X[column] = values
    return X


def _first(values, value):
    values = np.array(values, dtype=float if isinstance(value, float) else object)
    values[0] = value
    return values


def _numeric_protected(X, scale):
    """Replace the last protected column by a numeric one of the given scale."""
    rng = np.random.default_rng(1)
    return _set(X, "race", rng.normal(size=len(X)) * scale)


DATA = {"transformer", "classifier", "regressor", "function", "cli"}
IN_MEMORY = DATA - {"cli"}
INPUT_LAYER = frozenset({"transformer", "classifier", "regressor", "function"})
NOT_YET_ON_INPUT_LAYER = frozenset({"cluster", "sklearn_pipeline"})


@dataclass
class Case:
    """A way to spoil valid input, where, for whom, and what must happen.

    ``match`` is the regex the error message must match, ``None`` when finite
    output is the right answer; ``by_tag`` overrides it for entries of a kind or
    trait (the first tag of the entry found in it wins). The patterns may use
    ``{p0}``/``{p1}``: the entry's first and last protected column.
    """

    name: str
    spoil: callable  # (X, y) -> (X, y)
    match: str | None = None
    stage: str = "fit"
    kinds: frozenset = frozenset(IN_MEMORY)
    by_tag: dict = field(default_factory=dict)
    skip: frozenset = frozenset()  # tags of entries the case cannot concern

    def expected(self, entry):
        for tag, pattern in self.by_tag.items():
            if tag in entry.tags:
                return pattern
        return self.match


PROBABILITIES = r"\[0, 1\]"

CASES = [
    Case(
        "nan_in_X",
        lambda X, y: (_set(X, "f1", _first(X.f1, np.nan)), y),
        "'f1'.*NaN|NaN.*'f1'",
        kinds=DATA,
        by_tag={"cli": "NaN|missing", "sklearn_pipeline": "X contains NaN"},
    ),
    Case(
        "inf_in_X",
        lambda X, y: (_set(X, "f2", _first(X.f2, np.inf)), y),
        "'f2'.*inf|inf.*'f2'",
        kinds=DATA,
        by_tag={
            "probabilities": None,  # f2 is not read
            "sklearn_pipeline": "X contains infinity",
        },
    ),
    Case(
        "nan_in_protected",
        lambda X, y: (_set(X, "race", _first(X.race, None)), y),
        "'race'.*missing",
        kinds=DATA,
    ),
    Case(
        "nan_in_y",
        lambda X, y: (X, _first(y, np.nan)),
        r"(?i)\by\b.*(nan|missing|infinity)",
        kinds={"y"},
    ),
    Case(
        "inf_in_y",
        lambda X, y: (X, _first(y, np.inf)),
        r"(?i)\by\b.*(nan|missing|infinity)",
        kinds={"regressor", "preserve_target"},
    ),
    Case(
        "empty",
        lambda X, y: (X.iloc[:0], y[:0]),
        "empty|0 sample|no rows",
        kinds=DATA,
    ),
    Case(
        "one_row",
        lambda X, y: (X.iloc[:1], y[:1]),
        "1 sample|constant|one class|single|1 row|at least",
        kinds=DATA,
    ),
    Case(
        "fewer_rows_than_protected",
        lambda X, y: (
            X.iloc[[0, 1, 2]].assign(sex=["F", "M", "F"], race=["A", "B", "W"]),
            y[:3],
        ),
        "fewer rows|1 class|one class|3 sample|more protected|at least|collinear|no residual",
        kinds=DATA,
        # one cluster column: no "more columns than rows"; a network may be
        # trained on 3 rows (its metadata layers then see a short batch)
        skip={"cluster", "torch"},
    ),
    Case(
        "constant_protected",
        lambda X, y: (_set(X, "race", "W"), y),
        "'race'.*(constant|single)",
        by_tag={"dcor": None},  # a constant side is independent: 0, as dcor says
        kinds=DATA,
    ),
    Case(
        "duplicate_protected",
        lambda X, y: (X.assign(race=X.sex), y),
        None,  # a documented CollinearityWarning; evaluation models refuse
        # distances need no full-rank design: dcor gives a value, and so do we
        by_tag={"dcor": None, "evaluation": "collinear", "cli": "collinear"},
        kinds=DATA,
        skip={"cluster"},
    ),
    Case(
        "collinear_protected",
        lambda X, y: (X.assign(race=np.where(X.sex == "M", "W", "A")), y),
        None,
        by_tag={"dcor": None, "evaluation": "collinear", "cli": "collinear"},
        kinds=DATA,
        skip={"cluster"},
    ),
    Case(
        "huge_values_in_X",
        lambda X, y: (X.assign(f1=X.f1 * 1e300, f2=X.f2 * 1e300), y),
        None,
        by_tag={
            "probabilities": PROBABILITIES,
            "cluster": "'f1'.*float32",
            "torch": "'f1'.*float32",
            # scikit-learn's PCA overflows (its SVD or its output); not ours
            "sklearn_pipeline": "'pca0'.*NaN|Eigenvalues did not converge",
        },
        kinds=DATA,
    ),
    Case(
        "tiny_values_in_X",
        lambda X, y: (X.assign(f1=X.f1 * 1e-300, f2=X.f2 * 1e-300), y),
        None,
        # probabilities all but 0: below the family's resolution, they pass
        # with a note (nearly constant predictions are not separation)
        by_tag={"cli": None, "probabilities": None},
        kinds=DATA,
    ),
    Case(
        "subnormal_values_in_X",
        lambda X, y: (X.assign(f1=X.f1 * 5e-319, f2=X.f2 * 5e-319), y),
        # slopes of size 1 / 5e-319 overflow float64: the GLMs refuse, naming
        # the columns (they used to predict NaN)
        r"\['f1', 'f2'\] overflow float64",
        kinds={"classifier", "regressor"},
        skip={"torch", "cluster", "sklearn_pipeline"},  # no slopes in X's units
    ),
    Case(
        "huge_numeric_protected",
        lambda X, y: (_numeric_protected(X, 1e300), y),
        None,
        kinds=DATA,
        by_tag={"torch": "'race'.*float32"},  # the network computes in float32
    ),
    Case(
        "tiny_numeric_protected",
        lambda X, y: (_numeric_protected(X, 1e-300), y),
        None,
        kinds=DATA,
    ),
    Case(
        "huge_y",
        lambda X, y: (X, y * 1e300),
        None,
        kinds={"regressor", "preserve_target"},
        by_tag={"cluster": "y.*beyond the range of float32"},
    ),
    Case(
        "tiny_y",
        lambda X, y: (X, y * 1e-300),
        None,
        kinds={"regressor", "preserve_target"},
    ),
    Case(
        "probabilities_outside_0_1",
        lambda X, y: (_set(X, "f1", _first(X.f1, 1.5)), y),
        PROBABILITIES,
        kinds={"probabilities"},
    ),
    Case(
        "single_class_y",
        lambda X, y: (X, np.ones_like(y)),
        "(?i)one class|single|1 class|constant",
        kinds={"classifier"},
    ),  # fmt: skip
    Case(
        "negative_counts",
        lambda X, y: (X, _first(y, -1.0)),
        "non-negative",
        kinds={"counts"},
    ),
    Case(
        "non_integer_counts_ok",  # rates are valid Poisson responses
        lambda X, y: (X, y + 0.5),
        None,
        kinds={"counts"},
    ),
    Case(
        "float32",
        lambda X, y: (X.astype({"f1": np.float32, "f2": np.float32}), y),
        kinds=DATA,
    ),
    Case(
        "int_features",
        lambda X, y: (X.assign(f2=np.round(X.f2 * 10).astype(int)), y),
        kinds=DATA,
    ),
    Case("bool_protected", lambda X, y: (X.assign(race=X.race.eq("W")), y), kinds=DATA),
    Case(
        "category_protected",
        lambda X, y: (X.astype({"race": "category"}), y),
        kinds=DATA,
    ),
    Case(
        "string_dtype_protected",
        lambda X, y: (X.astype({"race": "string"}), y),
        kinds=DATA,
    ),
    Case(
        "object_numeric_feature",
        lambda X, y: (X.assign(f2=X.f2.astype(object)), y),
    ),
    Case(
        "string_feature",
        lambda X, y: (X.assign(f2=X.f2.astype(str) + "x"), y),
        "'f2'.*not numeric|must be numeric",
        kinds=DATA,
        by_tag={
            "probabilities": None,  # f2 is not read
            "sklearn_pipeline": "could not convert string to float",
        },
    ),
    Case(
        "mixed_type_column_names",
        lambda X, y: (X.set_axis([0, *X.columns[1:]], axis=1), y),
        "string names|'f1'|not a column",
        kinds=DATA,
        by_tag={"paired": None},  # the functions take columns, not names
    ),
    Case(
        "integer_column_names",
        lambda X, y: (X.set_axis(range(X.shape[1]), axis=1), y),
        "not a column|named|not in|not columns of",
        kinds=DATA,
        by_tag={"paired": None},
    ),
    Case(
        "duplicated_column_names",
        lambda X, y: (X.set_axis([*X.columns[:2], "f1", *X.columns[3:]], axis=1), y),
        "duplicated column names|unique column names",
        kinds=DATA,
        by_tag={"single_output": None},  # gets one of the two columns
    ),
    Case("polars", lambda X, y: (pl.from_pandas(X), y)),
    # Frames and values read by the input layer (orthokit._inputs). The
    # estimators read through it; ARMED joins these rows with part 2 of the
    # input-layer issue, the evaluation functions with step 3 of part 1, and
    # the post-hoc pipeline's first step is scikit-learn's PCA.
    Case(
        "pyarrow",
        lambda X, y: (pa.Table.from_pandas(X, preserve_index=False), y),
        kinds=INPUT_LAYER,
        skip=NOT_YET_ON_INPUT_LAYER,
    ),
    Case(
        "polars_lazy",
        lambda X, y: (pl.from_pandas(X).lazy(), y),
        kinds=INPUT_LAYER,
        skip=NOT_YET_ON_INPUT_LAYER,
    ),
    Case(
        "pandas_nullable",
        lambda X, y: (X.astype({"f2": "Float64"}), y),
        kinds=INPUT_LAYER,
        skip=NOT_YET_ON_INPUT_LAYER,
    ),
    Case(
        "datetime_feature",
        lambda X, y: (
            X.assign(
                f3=pd.Timestamp("2020-01-01")
                + pd.to_timedelta(np.arange(len(X)), unit="D")
            ),
            y,
        ),
        "'f3'.*dates",
        by_tag={"paired": None},  # f3 is not among their columns
        kinds=INPUT_LAYER,
        skip=NOT_YET_ON_INPUT_LAYER,
    ),
    Case(
        "NaT_feature",
        lambda X, y: (
            X.assign(f3=pd.to_datetime(["2020-01-01", None] * (len(X) // 2))),
            y,
        ),
        "'f3'.*dates",
        by_tag={"paired": None},  # f3 is not among their columns
        kinds=INPUT_LAYER,
        skip=NOT_YET_ON_INPUT_LAYER,
    ),
    Case(
        "datetime_protected",
        lambda X, y: (
            X.assign(
                race=pd.to_datetime(X.race.map({"A": "2020", "B": "2021", "W": "2022"}))
            ),
            y,
        ),
        "'race'.*dates",
        kinds=INPUT_LAYER,
        skip=NOT_YET_ON_INPUT_LAYER,
    ),
    Case(
        "decimal_protected",
        lambda X, y: (
            X.assign(
                race=X.race.map({"A": Decimal(1), "B": Decimal(2), "W": Decimal(3)})
            ),
            y,
        ),
        "'race'.*Decimal",
        kinds=INPUT_LAYER,
        skip=NOT_YET_ON_INPUT_LAYER,
    ),
    Case(
        "complex_feature",
        lambda X, y: (X.assign(f3=X.f3 + 1j), y),
        "'f3'.*complex",
        by_tag={"paired": None},  # f3 is not among their columns
        kinds=INPUT_LAYER,
        skip=NOT_YET_ON_INPUT_LAYER,
    ),
    Case(
        "sparse",
        lambda X, y: (scipy.sparse.csr_matrix(np.ones((len(X), X.shape[1]))), y),
        "sparse",
        by_tag={"sklearn_pipeline": "only supported for dataframes"},
    ),
    Case(
        "object_array",
        lambda X, y: (X.to_numpy(dtype=object), y),
        "named|column names|positions",
        by_tag={"paired": None, "sklearn_pipeline": "only supported for dataframes"},
    ),
    Case(
        "mismatched_length",
        lambda X, y: (X, y[:-5]),
        "rows|length|inconsistent",
        kinds={"y", "paired"},
    ),
    Case(
        "unseen_category",
        lambda X, y: (_set(X, "race", _first(X.race, "Z")), y),
        r"'race'.*\['Z'\].*not seen",
        stage="apply",
        by_tag={"ignores_protected": None},  # documented: protected values unused
    ),
    Case(
        "reordered_columns",
        lambda X, y: (X[X.columns[::-1]], y),
        "feature names",
        stage="apply",
        by_tag={"sklearn_pipeline": None},  # ColumnTransformer selects by name
    ),
    Case(
        "missing_column",
        lambda X, y: (X.drop(columns="f2"), y),
        "feature names|f2",
        stage="apply",
    ),
    Case(
        "extra_column",
        lambda X, y: (X.assign(extra=1.0), y),
        "feature names|extra|features",
        stage="apply",
        by_tag={"sklearn_pipeline": None},  # ColumnTransformer selects by name
    ),
    Case(
        "nan_at_apply",
        lambda X, y: (_set(X, "f1", _first(X.f1, np.nan)), y),
        "'f1'.*NaN",
        stage="apply",
        by_tag={"sklearn_pipeline": "X contains NaN"},
    ),
    Case("before_fit", lambda X, y: (X, y), "not fitted", stage="unfitted"),
    Case(
        "missing_file",
        lambda X, y: (RawFile(None), y),
        "does not exist",
        kinds={"cli"},
    ),
    Case("empty_file", lambda X, y: (RawFile(b""), y), "is empty", kinds={"cli"}),
    Case(
        "header_only_file",
        lambda X, y: (RawFile(b"f1,sex,race\n"), y),
        "no rows",
        kinds={"cli"},
    ),
    Case(
        "binary_file",
        lambda X, y: (RawFile(bytes(range(256)) * 4), y),
        "not a readable CSV|not a CSV|not in",
        kinds={"cli"},
    ),
    Case(
        "unknown_protected_column",
        lambda X, y: (
            RawFile(X.to_csv(index=False).encode(), ("--protected", "gender")),
            y,
        ),
        r"\['gender'\] not in",
        kinds={"cli"},
    ),
    Case(
        "unknown_prediction_column",
        lambda X, y: (
            RawFile(
                X.to_csv(index=False).encode(),
                ("--protected", "sex", "--prediction-column", "score"),
            ),
            y,
        ),
        "'score' not in",
        kinds={"cli"},
    ),
]
