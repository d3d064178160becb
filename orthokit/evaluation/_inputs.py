"""Inputs of the evaluation functions: predictions and protected columns.

The evaluation model, the nonlinear check and distance correlation read their
inputs here, so they accept and reject the same data with the same messages.
Protected columns go through :class:`~orthokit._protected.ProtectedColumns`;
``categorical=`` marks numeric columns (e.g. race coded 1/2/3) as levels.
"""

import numbers
import warnings

import numpy as np
import pandas as pd
import scipy.sparse

from orthokit._linalg import power_of_two_scale
from orthokit._protected import ProtectedColumns, _is_polars, check_array_like
from orthokit.evaluation._report import OrthogonalityReport

# A numeric protected column with this few distinct integer values (but more
# than two, where any coding is equivalent) looks like coded levels.
_MAX_CODES = 10


def as_outputs(predictions):
    """Return ``(values (n, k) float64, output names)`` from 1-D or 2-D input."""
    if isinstance(predictions, OrthogonalityReport):
        raise TypeError("predictions is already a report.")
    names = None
    if (
        isinstance(predictions, pd.DataFrame)
        or (_is_polars(predictions) and hasattr(predictions, "columns"))
        or scipy.sparse.issparse(predictions)
    ):
        check_array_like(predictions, "predictions")
    if _is_polars(predictions):
        predictions = predictions.to_pandas()
    if isinstance(predictions, pd.Series):
        names = [str(predictions.name) if predictions.name is not None else "y_pred"]
    elif isinstance(predictions, pd.DataFrame):
        names = [str(c) for c in predictions.columns]
    try:
        if isinstance(predictions, pd.Series | pd.DataFrame):
            values = predictions.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = np.asarray(predictions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"predictions must be numeric: {exc}.") from None
    if values.ndim == 0:
        raise ValueError("predictions must be 1-D or 2-D, got a scalar.")
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(
            f"predictions must be 1-D or 2-D, got an array of shape {values.shape}."
        )
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"predictions is empty (shape={values.shape}).")
    if names is None:
        names = (
            ["y_pred"]
            if values.shape[1] == 1
            else [f"y_pred_{j}" for j in range(values.shape[1])]
        )
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"predictions contain NaN or infinity ({int(bad.sum())} value(s); first "
            f"at row {row} of {names[column]!r})."
        )
    return values, names


def _frame(protected, n_samples, argument):
    """Return the protected columns as a pandas DataFrame with string names."""
    if isinstance(protected, pd.Series):
        protected = protected.to_frame(
            name=protected.name if protected.name is not None else "s"
        )
    elif _is_polars(protected):
        protected = check_array_like(protected, argument).to_pandas()
    elif not isinstance(protected, pd.DataFrame):
        protected = check_array_like(
            np.asarray(protected).reshape(len(protected), -1)
            if np.ndim(protected) == 1
            else protected,
            argument,
        )
        protected = pd.DataFrame(
            protected, columns=[f"s{j}" for j in range(protected.shape[1])]
        )
    protected = check_array_like(protected, argument)
    if protected.shape[0] != n_samples:
        raise ValueError(
            f"predictions have {n_samples} rows but {argument} has "
            f"{protected.shape[0]}; they must match."
        )
    protected = protected.copy()
    protected.columns = [str(c) for c in protected.columns]
    return protected


def _as_levels(frame, categorical, argument):
    """Turn the columns named in ``categorical`` into pandas categoricals."""
    if categorical is None:
        categorical = []
    elif isinstance(categorical, str | numbers.Integral):
        categorical = [categorical]
    names = list(frame.columns)
    chosen = []
    for spec in categorical:
        if isinstance(spec, numbers.Integral) and not isinstance(spec, bool):
            if not -len(names) <= spec < len(names):
                raise ValueError(
                    f"categorical column {spec} is out of range: {argument} has "
                    f"{len(names)} columns."
                )
            chosen.append(names[spec])
        elif isinstance(spec, str) and spec in names:
            chosen.append(spec)
        else:
            raise ValueError(
                f"categorical must name columns of {argument} (names or positions), "
                f"got {spec!r}; its columns are {names}."
            )
    for name in chosen:
        if frame[name].isna().any():
            raise ValueError(
                f"protected column {name!r} contains missing values; impute or drop "
                "them first."
            )
        frame[name] = pd.Categorical(frame[name])
    return frame, set(chosen)


def integer_codes(values):
    """Return the distinct values of a column that looks like integer codes.

    A numeric, non-boolean column whose finite values are 3 to 10 distinct
    integers (race coded 1/2/3) probably codes categories; used as a number it
    is one linear effect, and an effect of one level can pass unseen.

    Parameters
    ----------
    values : pandas.Series

    Returns
    -------
    ndarray or None
        The sorted distinct values, or ``None`` if the column does not look so.

    Examples
    --------
    >>> import pandas as pd
    >>> integer_codes(pd.Series([1, 2, 3, 2])).tolist()
    [1.0, 2.0, 3.0]
    >>> integer_codes(pd.Series([0.5, 1.0, 2.0])) is None
    True
    """
    dtype = values.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return None
    numbers_ = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(numbers_).all() or (numbers_ != np.round(numbers_)).any():
        return None
    levels = np.unique(numbers_)
    return levels if 3 <= len(levels) <= _MAX_CODES else None


def _warn_integer_codes(frame, chosen):
    for name in frame.columns:
        levels = None if name in chosen else integer_codes(frame[name])
        if levels is not None:
            warnings.warn(
                f"protected column {name!r} is numeric with only {len(levels)} "
                f"distinct integer values {levels[:5].tolist()}"
                f"{'...' if len(levels) > 5 else ''}; it is used as a number (one "
                f"linear effect). If these are codes of levels (e.g. race coded "
                f"1/2/3), pass categorical=[{name!r}].",
                UserWarning,
                stacklevel=4,
            )


def protected_levels(protected, n_samples, categorical=None, argument="protected"):
    """Return the protected columns as a frame whose categoricals are marked.

    Warns about numeric columns that look like codes of levels.
    """
    frame = _frame(protected, n_samples, argument)
    frame, chosen = _as_levels(frame, categorical, argument)
    _warn_integer_codes(frame, chosen)
    return frame


def encode_protected(protected, n_samples, argument="protected", categorical=None):
    """Encode the protected columns for a regression (first level dropped).

    Returns ``(S, names)`` and rejects length mismatches, constant and
    collinear columns with messages that name them.
    """
    frame = protected_levels(protected, n_samples, categorical, argument)
    columns = ProtectedColumns(None, argument=argument).fit(frame)
    S, _ = columns.split(frame, numeric_features=False)
    names = list(columns.encoded_names_)
    for j, name in enumerate(names):
        if np.ptp(S[:, j]) == 0:
            raise ValueError(
                f"{argument} column {name!r} is constant (every value is "
                f"{S[0, j]:.4g}); its effect cannot be estimated. Drop it."
            )
    design = np.column_stack([np.ones(n_samples), S * power_of_two_scale(S)])
    rank = np.linalg.matrix_rank(design)
    if rank < design.shape[1]:
        raise ValueError(
            f"{argument} columns {names} are collinear (with each other or the "
            f"intercept; rank {rank} of {design.shape[1]}); drop redundant columns."
        )
    return S, names


def encode_protected_full(protected, n_samples, categorical=None):
    """Encode the protected columns for distances: every level gets a column.

    With all levels one-hot encoded, two rows of different levels are
    ``sqrt(2)`` apart whatever the levels are called, so distances do not
    depend on a reference level. Constant columns add nothing to distances
    and are dropped; an all-constant input gives a single zero column.
    """
    frame = protected_levels(protected, n_samples, categorical)
    for name in frame.columns:
        values = frame[name]
        if values.isna().any() or (
            pd.api.types.is_numeric_dtype(values.dtype)
            and not pd.api.types.is_bool_dtype(values.dtype)
            and not np.isfinite(values.to_numpy(dtype=np.float64)).all()
        ):
            raise ValueError(
                f"protected column {name!r} contains NaN, infinity or missing "
                "values; impute or drop them first."
            )
    varying = [c for c in frame.columns if frame[c].nunique(dropna=False) > 1]
    if not varying:
        return np.zeros((n_samples, 1))
    frame = frame[varying]
    columns = ProtectedColumns(None, argument="protected").fit(frame)
    S, _ = columns.split(frame, numeric_features=False)
    blocks, start = [], 0
    for name in frame.columns:
        if name in columns.categories_:
            width = len(columns.categories_[name]) - 1
            dummies = S[:, start : start + width]
            blocks.append(1.0 - dummies.sum(axis=1, keepdims=True))
            blocks.append(dummies)
        else:
            width = 1
            blocks.append(S[:, start : start + 1])
        start += width
    return np.hstack(blocks)
