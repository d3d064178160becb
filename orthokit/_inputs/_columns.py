"""Column specifications: which columns of ``X`` are protected, and their encoding.

:class:`ProtectedColumns` resolves a specification (names, positions, a boolean
mask) against a :class:`~orthokit._inputs._frames.Table`, learns the levels of
label columns, and splits ``X`` into the float64 matrix of the encoded
protected columns (or, for label columns, their integer codes) and the numeric
matrix of the remaining features.
"""

import numbers

import numpy as np

from orthokit._inputs._checks import check_finite, column_kind, shown
from orthokit._inputs._encode import column_codes, learn_levels, one_hot
from orthokit._inputs._frames import Table, as_table, numeric_columns


def resolve_columns(spec, names, n_columns, *, what="protected", argument="X"):
    """Return the positions named by ``spec`` (names, positions or a mask).

    Parameters
    ----------
    spec : str, int, sequence of str or int, boolean mask, or None
        ``None`` means every column.
    names : list of str or None
        Column names (``None`` for arrays).
    n_columns : int
    what : str, default="protected"
        What the columns are, for messages.
    argument : str, default="X"

    Returns
    -------
    list of int

    Examples
    --------
    >>> resolve_columns(["b", -1], ["a", "b", "c"], 3)
    [1, 2]
    """
    if spec is None:
        return list(range(n_columns))
    if isinstance(spec, str | numbers.Integral):
        spec = [spec]
    spec = list(spec)
    if not spec:
        raise ValueError(f"{what} must name at least one column.")
    if all(isinstance(s, bool | np.bool_) for s in spec):
        if len(spec) != n_columns:
            raise ValueError(
                f"{what} is a boolean mask of length {len(spec)} but {argument} has "
                f"{n_columns} columns."
            )
        return [j for j, s in enumerate(spec) if s]
    index = []
    for s in spec:
        if isinstance(s, numbers.Integral) and not isinstance(s, bool | np.bool_):
            j = int(s) + n_columns if s < 0 else int(s)
            if not 0 <= j < n_columns:
                raise ValueError(
                    f"{what} column {s} is out of range: {argument} has {n_columns} "
                    "columns."
                )
        elif isinstance(s, str):
            if names is None:
                raise ValueError(
                    f"{what} column {s!r} is named but {argument} is an array "
                    "without column names; give positions instead or pass a "
                    "DataFrame."
                )
            if s not in names:
                raise ValueError(
                    f"{what} column {s!r} is not a column of {argument}; its "
                    f"columns are {shown(names)}."
                )
            j = names.index(s)
        else:
            raise TypeError(
                f"{what} must hold column names (str) or positions (int), got {s!r} "
                f"of type {type(s).__name__}."
            )
        if j in index:
            raise ValueError(f"{what} column {s!r} is given twice.")
        index.append(j)
    return index


class ColumnSpec:
    """What the specifications of columns share: reading ``X`` and its features.

    Subclasses name the argument in ``argument`` and say in ``hint`` what
    else the user may do with a feature column that is not numeric.
    """

    hint = "or name it as protected"

    def _table(self, X):
        return X if isinstance(X, Table) else as_table(X, self.argument)

    def _resolve(self, spec, table, what):
        """Return the positions ``spec`` names; set the input names and features."""
        n_columns = table.shape[1]
        index = resolve_columns(
            spec, table.names, n_columns, what=what, argument=self.argument
        )
        chosen = set(index)
        self.feature_index_ = [j for j in range(n_columns) if j not in chosen]
        self.input_names_ = table.names or [f"x{j}" for j in range(n_columns)]
        return index

    @property
    def feature_names_(self):
        """Names of the other input columns (the features)."""
        return [self.input_names_[j] for j in self.feature_index_]

    def features(self, X, *, check=True, stack=False):
        """Return the features without copying where possible.

        Parameters
        ----------
        X : array-like or Table of shape (n_samples, n_features)
        check : bool, default=True
            Check a float ndarray for NaN and infinity. A fit that reduces every
            column anyway may skip it and check its sums instead.
        stack : bool, default=False
            With ``check=False``, for a frame whose features are float32 or
            float64 columns of one dtype, return them uncopied: a 2-D view
            where they lie in one buffer, else a
            :class:`~orthokit._inputs._frames.ColumnStack`; for callers that
            read ``source`` only in row blocks and check it themselves
            (missing values are NaN).

        Returns
        -------
        source : ndarray or ColumnStack
            ``X`` itself when it is a float ndarray, else (without ``stack``)
            a new float64 array of the features.
        columns : slice or list of int
            The feature columns within ``source``: ``source[:, columns]``.
        """
        table, index, names = self._table(X), self.feature_index_, self.input_names_
        data, argument = table.data, self.argument
        if not table.is_frame and data.dtype.kind in "fiub":
            if data.dtype.kind != "f":
                data = data.astype(np.float64)
            if check:
                check_finite(data, names, argument)
            contiguous = bool(index) and index == list(range(index[0], index[-1] + 1))
            return data, slice(index[0], index[-1] + 1) if contiguous else index
        for j in index:
            if column_kind(table, j, names[j], argument) != "numeric":
                raise _not_numeric(argument, names[j], self.hint)
        if stack and not check and table.is_frame:
            stacked = numeric_columns(table, index)
            if stacked is not None:
                return stacked, slice(None)
        F = None
        # Arrow columns are separate buffers: filling a column-major array is
        # one copy each, ten times faster than a row-major to_numpy of them all.
        if not (table.is_frame and data.implementation.is_pyarrow()):
            try:  # one conversion of the whole block (no copy where none is needed)
                block = data[:, index]
                F = np.asarray(
                    block.to_numpy() if table.is_frame else block, dtype=np.float64
                )
            except (TypeError, ValueError):  # nullable values, mixed objects
                pass
        if F is None:
            F = np.empty((table.shape[0], len(index)), order="F")
            for i, j in enumerate(index):
                F[:, i] = _to_float(table.column(j), names[j], argument, self.hint)
        if check:
            check_finite(F, [names[j] for j in index], argument)
        return F, slice(None)


class ProtectedColumns(ColumnSpec):
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
        Levels of label protected columns, by column name, first level the
        reference. Needed when fitting on a chunk that does not show every
        level (streaming); otherwise levels are learned from the data (sorted,
        or in the order of a categorical dtype). A key that is not a label
        protected column is an error.
    categorical : str, int or sequence of str or int, default=None
        Numeric protected columns that hold codes of levels (race coded
        1/2/3): encoded as labels, not used as numbers.

    Attributes
    ----------
    protected_index_ : list of int
        Positions of the protected columns in ``X``.
    feature_index_ : list of int
        Positions of the other columns.
    input_names_ : list of str
        Names of all input columns (``x0, x1, ...`` for arrays).
    categories_ : dict
        For each label protected column, its levels in order (the first is the
        dropped reference level).
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

    def __init__(self, protected, argument="X", categories=None, categorical=None):
        self.protected = protected
        self.argument = argument
        self.categories = categories
        self.categorical = categorical

    def fit(self, X):
        """Learn which columns are protected and the levels of label ones.

        Parameters
        ----------
        X : array-like or Table of shape (n_samples, n_features)

        Returns
        -------
        self
        """
        table = self._table(X)
        n_columns = table.shape[1]
        self.protected_index_ = self._resolve(self.protected, table, "protected")
        given = dict(self.categories or {})
        coded = set()
        if self.categorical is not None:
            coded = set(
                resolve_columns(
                    self.categorical, table.names, n_columns, what="categorical",
                    argument=self.argument,
                )
            )  # fmt: skip
        self.categories_ = {}
        self.encoded_names_ = []
        # Encoded in the order of X's columns, whatever the order of the spec.
        for j in sorted(self.protected_index_):
            name = self.input_names_[j]
            kind = column_kind(table, j, name, "protected")
            if kind == "numeric" and j not in coded:
                self.encoded_names_.append(name)
                continue
            levels = learn_levels(table, j, name, given.pop(name, None))
            self.categories_[name] = levels
            self.encoded_names_.extend(f"{name}_{level}" for level in levels[1:])
        if given:
            raise ValueError(
                f"categories names {sorted(given)}, which are not label protected "
                f"columns of {self.argument}; the label protected columns are "
                f"{sorted(self.categories_)}."
            )
        return self

    @property
    def group_columns_(self):
        """Names of the protected columns when every one holds labels, else ``[]``.

        Label columns alone are absorbed by group means (:meth:`group_codes`),
        with no one-hot matrix.
        """
        if self.categories_ and len(self.protected_index_) == len(self.categories_):
            return list(self.categories_)
        return []

    def group_codes(self, X):
        """Return the level codes of the label protected columns (all of them).

        Parameters
        ----------
        X : array-like or Table

        Returns
        -------
        ndarray of int of shape (n_samples, n_group_columns)
            Column ``j`` holds the codes of ``group_columns_[j]``.
        """
        table = self._table(X)
        index = sorted(self.protected_index_)
        codes = np.empty((table.shape[0], len(index)), dtype=np.intp)
        for k, (j, name) in enumerate(zip(index, self.group_columns_, strict=True)):
            codes[:, k] = column_codes(table, j, self.categories_[name], name)
        return codes

    def split(self, X, *, numeric_features=True):
        """Return the encoded protected columns and the remaining features.

        Parameters
        ----------
        X : array-like or Table of shape (n_samples, n_features)
            Same columns as in :meth:`fit`.
        numeric_features : bool, default=True
            Also convert the remaining features; with ``False`` the second
            value is ``None``.

        Returns
        -------
        S : ndarray of shape (n_samples, n_encoded)
            Encoded protected columns, float64.
        F : ndarray of shape (n_samples, n_other) or None
            The other columns.
        """
        table = self._table(X)
        # Column-major: the fits reduce S column by column (means, ranges).
        S = np.empty((table.shape[0], len(self.encoded_names_)), order="F")
        start = 0
        for j in sorted(self.protected_index_):
            name = self.input_names_[j]
            if name not in self.categories_:
                S[:, start] = _to_float(table.column(j), name, "protected")
                start += 1
                continue
            levels = self.categories_[name]
            stop = start + len(levels) - 1
            codes = column_codes(table, j, levels, name)
            one_hot(codes, len(levels), out=S[:, start:stop])
            start = stop
        check_finite(S, self.encoded_names_, "protected")
        if not numeric_features:
            return S, None
        source, columns = self.features(table)
        return S, source[:, columns]


def _to_float(values, name, argument, hint="or name it as protected"):
    """Convert one numeric column to float64 with an error that names it."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _not_numeric(argument, name, hint, f" ({exc})") from None


def _not_numeric(argument, name, hint, detail=""):
    return ValueError(
        f"{argument} column {name!r} is not numeric{detail}. Encode it first "
        f"(e.g. with OneHotEncoder in a ColumnTransformer) {hint}."
    )
