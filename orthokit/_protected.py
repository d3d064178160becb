"""One place that turns "which columns are protected" into numbers.

:class:`ProtectedColumns` resolves a protected-column specification (names,
positions, a boolean mask) against ``X`` (NumPy array, pandas or polars frame),
checks every column and splits ``X`` into a float64 matrix of the encoded
protected columns and a numeric matrix of the remaining features. Numeric
protected columns are used as they are; boolean, categorical, string and object
columns are one-hot encoded with the first level dropped. Every transformer,
estimator and evaluation function goes through this module, so all of them
accept and reject the same inputs with the same messages.
"""

import numbers

import numpy as np
import pandas as pd
import scipy.sparse


def _is_polars(X):
    return type(X).__module__.split(".")[0] == "polars"


def column_names(X):
    """Return the column names of a data frame as a list, or ``None``.

    Parameters
    ----------
    X : array-like
        NumPy array, pandas or polars DataFrame.

    Returns
    -------
    list or None

    Examples
    --------
    >>> import pandas as pd
    >>> column_names(pd.DataFrame({"a": [1], "b": [2]}))
    ['a', 'b']
    """
    if isinstance(X, pd.DataFrame) or _is_polars(X):
        return list(X.columns)
    return None


def _columns(X):
    """Yield ``(position, name, values)`` for every column of ``X``.

    ``values`` is a pandas Series for frames (keeping categorical dtypes) and a
    1-D array otherwise.
    """
    if isinstance(X, pd.DataFrame):
        for j, name in enumerate(X.columns):
            yield j, name, X.iloc[:, j]
    elif _is_polars(X):
        for j, name in enumerate(X.columns):
            yield j, name, X.get_column(name).to_pandas()
    else:
        for j in range(X.shape[1]):
            yield j, f"x{j}", X[:, j]


def _is_categorical(values):
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    if pd.api.types.is_bool_dtype(dtype):
        return True
    if pd.api.types.is_numeric_dtype(dtype):
        return False
    if dtype is np.dtype(object):
        # Object columns holding only numbers are numeric (scikit-learn's common
        # tests pass such arrays); anything else is treated as labels.
        non_missing = pd.Series(values).dropna()
        for v in non_missing:
            if not isinstance(v, str | numbers.Number | np.bool_):
                raise TypeError(
                    f"column holds a {type(v).__name__}: argument must be a string or "
                    "a number"
                )
        return not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
            for v in non_missing
        )
    return True  # strings, pandas StringDtype and the like


def _labels(values, name):
    """Return a categorical protected column as a Series, rejecting missing values."""
    series = pd.Series(values)
    if series.isna().any():
        raise ValueError(
            f"protected column {name!r} contains missing values; impute or drop "
            "them first."
        )
    return series


def _to_float(values, name, argument):
    """Convert one column to float64 with an error that names it."""
    try:
        if isinstance(values, pd.Series):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.asarray(values, dtype=np.float64)
    except TypeError as exc:
        raise TypeError(
            f"{argument} column {name!r} must be numeric: {exc}. Encode it first "
            "or name it as protected."
        ) from None
    except ValueError as exc:
        raise ValueError(
            f"{argument} column {name!r} is not numeric ({exc}). Encode it first "
            "(e.g. with OneHotEncoder in a ColumnTransformer) or name it as "
            "protected."
        ) from None


def check_finite(values, names, argument):
    """Raise a ValueError naming the columns of ``values`` with NaN or inf.

    Parameters
    ----------
    values : ndarray of shape (n, m)
    names : sequence of str
        Name of each column.
    argument : str
        Name of the argument, for the message.

    Examples
    --------
    >>> import numpy as np
    >>> check_finite(np.array([[1.0, np.nan]]), ["a", "b"], "X")
    Traceback (most recent call last):
    ...
    ValueError: X column 'b' contains NaN or infinity.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # finite huge values
        total = values.sum(dtype=np.float64)
    if values.size == 0 or np.isfinite(total):
        return
    bad = ~np.isfinite(values).all(axis=0)
    if not bad.any():  # the sum overflowed but every value is finite
        return
    bad_names = [names[j] for j in np.flatnonzero(bad)]
    what = f"column {bad_names[0]!r}" if len(bad_names) == 1 else f"columns {bad_names}"
    raise ValueError(f"{argument} {what} contains NaN or infinity.")


def check_float32_range(values, names, argument):
    """Raise a ValueError naming the columns of ``values`` that overflow float32.

    For the torch estimators, which compute in float32: a finite value beyond
    3.4e38 would silently become infinite.

    Parameters
    ----------
    values : ndarray of shape (n, m)
    names : sequence of str
        Name of each column.
    argument : str
        Name of the argument, for the message.

    Examples
    --------
    >>> import numpy as np
    >>> check_float32_range(np.array([[1.0, 1e300]]), ["a", "b"], "X")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X column 'b' has values beyond the range of float32 (3.4e38), ...
    """
    if values.size == 0 or values.dtype == np.float32:
        return
    too_large = np.abs(values).max(axis=0) > np.finfo(np.float32).max
    if too_large.any():
        raise ValueError(
            f"{argument} column {names[np.flatnonzero(too_large)[0]]!r} has values "
            "beyond the range of float32 (3.4e38), the precision of the network; "
            "rescale it."
        )


def check_array_like(X, argument="X"):
    """Convert list input to an array and reject sparse or malformed input.

    Parameters
    ----------
    X : array-like
    argument : str, default="X"

    Returns
    -------
    ndarray or DataFrame
        ``X`` itself for frames and 2-D arrays.
    """
    if scipy.sparse.issparse(X):
        raise TypeError(
            f"{argument} is a sparse matrix; orthokit needs dense data for its "
            "protected columns. Convert it with X.toarray()."
        )
    if isinstance(X, pd.DataFrame) or _is_polars(X):
        if X.shape[1] and len(set(map(str, X.columns))) != X.shape[1]:
            seen, duplicated = set(), []
            for name in map(str, X.columns):
                if name in seen:
                    duplicated.append(name)
                seen.add(name)
            raise ValueError(f"{argument} has duplicated column names {duplicated}.")
    else:
        X = np.asarray(X) if not isinstance(X, np.ndarray) else X
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {argument} must be real.")
        if X.ndim != 2:
            raise ValueError(
                f"{argument} must be 2-D (n_samples, n_features), got an array of "
                f"shape {X.shape}. Reshape your data with X.reshape(-1, 1) if it has "
                "a single feature or X.reshape(1, -1) if it contains a single sample."
            )
    if X.shape[0] == 0 or X.shape[1] == 0:
        count, what = (X.shape[0], "sample") if X.shape[0] == 0 else (0, "feature")
        raise ValueError(
            f"{argument} is empty: found array with {count} {what}(s) "
            f"(shape={tuple(X.shape)}) while a minimum of 1 is required."
        )
    return X


class ProtectedColumns:
    """Resolve, check, split and encode the protected columns of ``X``.

    Parameters
    ----------
    protected : str, int, sequence of str or int, boolean mask, or None
        Which columns of ``X`` are protected: names (for data frames) or
        positions. ``None`` means every column (for evaluating a matrix of
        protected attributes on its own).
    argument : str, default="X"
        Name of the argument in error messages.
    categories : dict, default=None
        Levels of categorical protected columns, by column name, first level
        the reference. Needed when fitting on a chunk that does not show every
        level (streaming); otherwise levels are learned from the data (sorted,
        or in the order of a pandas categorical).

    Attributes
    ----------
    protected_index_ : list of int
        Positions of the protected columns in ``X``.
    feature_index_ : list of int
        Positions of the other columns.
    input_names_ : list of str
        Names of all input columns (``x0, x1, ...`` for arrays).
    categories_ : dict
        For each categorical protected column, its levels in order (the first
        is the dropped reference level).
    encoded_names_ : list of str
        Names of the encoded protected columns, e.g. ``sex_Male``.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"age": [30, 40, 50], "sex": ["F", "M", "M"]})
    >>> cols = ProtectedColumns(["sex"]).fit(X)
    >>> S, F = cols.split(X)
    >>> cols.encoded_names_, S.ravel().tolist(), F.ravel().tolist()
    (['sex_M'], [0.0, 1.0, 1.0], [30.0, 40.0, 50.0])
    """

    def __init__(self, protected, argument="X", categories=None):
        self.protected = protected
        self.argument = argument
        self.categories = categories

    def _resolve(self, X, names):
        n_columns = X.shape[1]
        spec = self.protected
        if spec is None:
            return list(range(n_columns))
        if isinstance(spec, str | numbers.Integral):
            spec = [spec]
        spec = list(spec)
        if not spec:
            raise ValueError("protected must name at least one column.")
        if all(isinstance(s, bool | np.bool_) for s in spec):
            if len(spec) != n_columns:
                raise ValueError(
                    f"protected is a boolean mask of length {len(spec)} but "
                    f"{self.argument} has {n_columns} columns."
                )
            return [j for j, s in enumerate(spec) if s]
        index = []
        for s in spec:
            if isinstance(s, numbers.Integral):
                j = int(s) + n_columns if s < 0 else int(s)
                if not 0 <= j < n_columns:
                    raise ValueError(
                        f"protected column {s} is out of range: {self.argument} has "
                        f"{n_columns} columns."
                    )
            elif isinstance(s, str):
                if names is None:
                    raise ValueError(
                        f"protected column {s!r} is named but {self.argument} is an "
                        "array without column names; give positions instead or pass "
                        "a DataFrame."
                    )
                matches = [j for j, name in enumerate(names) if str(name) == s]
                if not matches:
                    raise ValueError(
                        f"protected column {s!r} is not a column of {self.argument}; "
                        f"its columns are {[str(c) for c in names]}."
                    )
                j = matches[0]
            else:
                raise TypeError(
                    "protected must hold column names (str) or positions (int), got "
                    f"{s!r} of type {type(s).__name__}."
                )
            if j in index:
                raise ValueError(f"protected column {s!r} is given twice.")
            index.append(j)
        return index

    def fit(self, X):
        """Learn which columns are protected and the levels of categorical ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        self
        """
        X = check_array_like(X, self.argument)
        names = column_names(X)
        self.protected_index_ = self._resolve(X, names)
        protected = set(self.protected_index_)
        self.feature_index_ = [j for j in range(X.shape[1]) if j not in protected]
        self.input_names_ = (
            [str(c) for c in names]
            if names is not None
            else [f"x{j}" for j in range(X.shape[1])]
        )
        self.categories_ = {}
        self.encoded_names_ = []
        for j, name, values in _columns(X):
            if j not in protected:
                continue
            name = self.input_names_[j]
            if not _is_categorical(values):
                self.encoded_names_.append(name)
                continue
            series = _labels(values, name)
            given = (self.categories or {}).get(name)
            if given is not None:
                levels = list(given)
            elif isinstance(series.dtype, pd.CategoricalDtype):
                present = set(series.unique())
                levels = [c for c in series.cat.categories if c in present]
            else:
                levels = sorted(series.unique(), key=lambda v: (str(type(v)), v))
            if len(levels) < 2:
                raise ValueError(
                    f"protected column {name!r} is constant (a single level "
                    f"{levels!r}); a constant column cannot be regressed out. Drop "
                    "it, or pass its levels in categories= when fitting by chunks."
                )
            self.categories_[name] = levels
            self.encoded_names_.extend(f"{name}_{level}" for level in levels[1:])
        return self

    def split(self, X, *, numeric_features=True):
        """Return the encoded protected columns and the remaining features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Same columns as in :meth:`fit`.
        numeric_features : bool, default=True
            Convert the remaining features to a numeric array; with ``False``
            they are returned as they are (a frame or array).

        Returns
        -------
        S : ndarray of shape (n_samples, n_encoded)
            Encoded protected columns, float64.
        F : ndarray of shape (n_samples, n_other)
            The other columns. A float ndarray ``X`` keeps its dtype (float32
            stays float32).
        """
        X = check_array_like(X, self.argument)
        n_samples = X.shape[0]
        blocks = []
        for j, _, values in _columns(X) if self.protected_index_ else []:
            if j not in self.protected_index_:
                continue
            name = self.input_names_[j]
            if name not in self.categories_:
                blocks.append(_to_float(values, name, "protected")[:, None])
                continue
            levels = self.categories_[name]
            series = _labels(values, name)
            # An index lookup, not pd.Categorical: pandas 3 warns (and will
            # raise) on values outside the categories, which are the error here.
            codes = pd.Index(levels).get_indexer(series)
            if (codes < 0).any():
                unseen = sorted({str(v) for v in series[codes < 0]})
                raise ValueError(
                    f"protected column {name!r} has categories {unseen} that were "
                    f"not seen in fit (seen: {[str(v) for v in levels]})."
                )
            blocks.append(
                (codes[:, None] == np.arange(1, len(levels))).astype(np.float64)
            )
        S = np.hstack(blocks) if blocks else np.empty((n_samples, 0))
        check_finite(S, self.encoded_names_, "protected")
        if not numeric_features:
            return S, None
        source, columns = self.features(X)
        return S, source[:, columns]

    def features(self, X, *, check=True):
        """Return the non-protected features without copying where possible.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        check : bool, default=True
            Check a float ndarray for NaN and infinity. A fit that reduces every
            column anyway may skip it and check its sums instead.

        Returns
        -------
        source : ndarray
            ``X`` itself when it is a float ndarray, else a new float64 array
            of the non-protected columns.
        columns : slice or list of int
            The feature columns within ``source``: ``source[:, columns]``.
        """
        names = self.input_names_
        if isinstance(X, np.ndarray) and X.dtype.kind in "fiub":
            if X.dtype.kind != "f":
                X = X.astype(np.float64)
            if check:
                check_finite(X, names, self.argument)
            index = self.feature_index_
            contiguous = (
                index == list(range(index[0], index[-1] + 1)) if index else True
            )
            columns = slice(index[0], index[-1] + 1) if index and contiguous else index
            return X, columns
        F = np.empty((X.shape[0], len(self.feature_index_)))
        position = {j: i for i, j in enumerate(self.feature_index_)}
        for j, _, values in _columns(X):
            if j in position:
                F[:, position[j]] = _to_float(values, names[j], self.argument)
        check_finite(F, self.feature_names_, self.argument)
        return F, slice(None)

    @property
    def feature_names_(self):
        """Names of the non-protected input columns."""
        return [self.input_names_[j] for j in self.feature_index_]
