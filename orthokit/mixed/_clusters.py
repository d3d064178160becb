"""The cluster column of ``X``: find it, check its labels, map them to indices.

No torch here: the estimators call these before anything touches a tensor.
"""

import numbers

import numpy as np
import pandas as pd

from orthokit._protected import (
    _is_polars,
    check_finite,
    check_float32_range,
    column_names,
)


def resolve_cluster_column(X, cluster):
    """Return ``(position, name)`` of the cluster column of ``X``."""
    names = column_names(X)
    n_columns = X.shape[1]
    if isinstance(cluster, bool | np.bool_) or not isinstance(
        cluster, str | numbers.Integral
    ):
        raise TypeError(
            "cluster must be the name (str) or position (int) of the cluster "
            f"column of X, got {cluster!r} of type {type(cluster).__name__}."
        )
    if isinstance(cluster, str):
        if names is None:
            raise ValueError(
                f"cluster={cluster!r} is a column name but X is an array without "
                "column names; give its position instead or pass a DataFrame."
            )
        matches = [j for j, name in enumerate(names) if str(name) == cluster]
        if not matches:
            raise ValueError(
                f"cluster column {cluster!r} is not a column of X; its columns are "
                f"{[str(c) for c in names]}."
            )
        return matches[0], cluster
    position = int(cluster) + n_columns if cluster < 0 else int(cluster)
    if not 0 <= position < n_columns:
        raise ValueError(
            f"cluster column {cluster} is out of range: X has {n_columns} columns."
        )
    name = str(names[position]) if names is not None else f"x{position}"
    return position, name


def _column(X, position):
    if isinstance(X, pd.DataFrame):
        return X.iloc[:, position]
    if _is_polars(X):
        return X.get_column(X.columns[position]).to_pandas()
    return pd.Series(np.asarray(X)[:, position])


def _label_kind(value):
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, numbers.Number):
        return "number"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def cluster_labels(X, position, name):
    """Return the cluster column as a pandas Series of checked labels."""
    labels = _column(X, position).reset_index(drop=True)
    if labels.isna().any():
        raise ValueError(
            f"cluster column {name!r} contains missing values (NaN or None); every "
            "sample needs a cluster label."
        )
    if labels.dtype == object:
        kinds = {_label_kind(v) for v in labels}
        odd = sorted(kinds - {"number", "str", "bool"})
        if odd:
            raise TypeError(
                f"cluster column {name!r} holds a {odd[0]}: argument must be a string "
                "or a number."
            )
        if len(kinds) > 1:
            raise TypeError(
                f"cluster column {name!r} mixes label types {sorted(kinds)}; use "
                "labels of one type (e.g. convert them all to str)."
            )
    return labels


def features(X, position, name_of_column):
    """Return the non-cluster columns of ``X`` as float32 with their names."""
    if isinstance(X, pd.DataFrame) or _is_polars(X):
        frame = X if isinstance(X, pd.DataFrame) else X.to_pandas()
        frame = frame.drop(columns=frame.columns[position])
        names = [str(c) for c in frame.columns]
        out = np.empty(frame.shape, dtype=np.float64)
        for j, column in enumerate(names):
            values = frame.iloc[:, j]
            try:
                # Numbers held in object columns are numbers, as in _protected.
                if not (
                    pd.api.types.is_numeric_dtype(values.dtype)
                    or values.dtype == object
                ):
                    raise TypeError
                out[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError):
                raise ValueError(
                    f"X column {column!r} is not numeric (dtype {values.dtype}); "
                    "encode it first (e.g. with OneHotEncoder in a "
                    "ColumnTransformer)."
                ) from None
    else:
        array = np.asarray(X)
        keep = [j for j in range(array.shape[1]) if j != position]
        names = [f"x{j}" for j in keep]
        try:
            out = array[:, keep].astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"X must be numeric apart from its cluster column: {exc}."
            ) from None
    check_finite(out, names, "X")
    check_float32_range(out, names, "X")
    return out.astype(np.float32), names


def encode_clusters(labels, clusters, name, *, allow_unseen):
    """Map labels to indices into ``clusters``; ``-1`` marks unseen labels."""
    try:
        index = pd.Index(clusters).get_indexer(labels)
    except TypeError as exc:
        raise TypeError(f"cluster column {name!r}: {exc}") from None
    unseen = index < 0
    if unseen.any() and not allow_unseen:
        examples = sorted({str(v) for v in labels[unseen]})[:5]
        raise ValueError(
            f"cluster column {name!r} has labels {examples} not seen in fit and "
            "unseen_clusters='error'. Set unseen_clusters='z_predictor' (soft "
            "memberships) or 'fixed' (fixed effects only) to predict on them."
        )
    return index.astype(np.int64)
