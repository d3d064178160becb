"""Paired inputs: predictions and protected columns given as two arguments.

The evaluation functions (the evaluation model, the nonlinear check, distance
correlation) take what is to be checked and the protected columns separately;
both are read here, paired by row, and the protected columns encoded either
with a reference level dropped (for a regression) or with every level (for
distances). ``categorical=`` marks numeric columns that code levels.
"""

import warnings

import numpy as np
import pandas as pd

from orthokit._inputs._checks import check_finite, integer_codes, shown
from orthokit._inputs._columns import ProtectedColumns
from orthokit._inputs._frames import as_table, is_frame_like, select
from orthokit._inputs._numeric import read_numeric
from orthokit._linalg import centred_rank


def read_outputs(
    values, argument="predictions", default="y_pred", prefix=None, *, allow_empty=False
):
    """Return ``(values (n, k) float64, names)`` of 1-D or 2-D numeric input.

    Read by :func:`~orthokit._inputs._numeric.read_numeric`, a frame's
    boolean columns as labels (hard decisions are not predictions).

    Parameters
    ----------
    values : array-like, Series or frame (pandas, polars, pyarrow)
    argument : str, default="predictions"
    default : str, default="y_pred"
        Name of an unnamed single column (``default_j`` for several).
    prefix : str, optional
        Name the columns of an array ``prefix0, prefix1, ...`` instead.
    allow_empty : bool, default=False
        Accept zero rows (a dask collection's ``_meta``).

    Returns
    -------
    values : ndarray of shape (n, k)
    names : list of str

    Examples
    --------
    >>> read_outputs([0.2, 0.4])[1]
    ['y_pred']
    """
    if type(values).__name__ == "OrthogonalityReport":
        raise TypeError(f"{argument} is already a report.")

    def names(k):
        if prefix is not None:
            return [f"{prefix}{j}" for j in range(k)]
        return [default] if k == 1 else [f"{default}_{j}" for j in range(k)]

    return read_numeric(
        values, argument, allow_empty=allow_empty, names=names, booleans=False
    )


def check_pairing(values, protected, argument="protected"):
    """Refuse two pandas objects whose indexes differ: rows are paired by position.

    Examples
    --------
    >>> import pandas as pd
    >>> check_pairing(pd.Series([1.0]), pd.Series(["a"], index=[5]))
    Traceback (most recent call last):
    ...
    ValueError: predictions and protected have different pandas indexes ...
    """
    index, other = getattr(values, "index", None), getattr(protected, "index", None)
    if not (isinstance(index, pd.Index) and isinstance(other, pd.Index)):
        return
    if not index.equals(other):
        raise ValueError(
            f"predictions and {argument} have different pandas indexes (rows are "
            "paired by position); align them first (e.g. "
            f"{argument}.loc[predictions.index]) or pass .to_numpy()."
        )


def read_protected(
    protected, n_samples, *, categorical=None, argument="protected", varying=False
):
    """Read the protected columns of an evaluation: ``(Table, ProtectedColumns)``.

    Arrays get the column names ``s0, s1, ...`` (a 1-D array is one column,
    an unnamed Series ``s``). Numeric columns that look like codes of levels
    and are not in ``categorical`` give a warning. With ``varying=True``
    constant columns are dropped first (``(None, None)`` if all are).
    """
    if not is_frame_like(protected):
        array = np.asarray(protected)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim == 2:
            protected = pd.DataFrame(
                array, columns=[f"s{j}" for j in range(array.shape[1])]
            )
    elif getattr(protected, "name", "") in (None, "") and not hasattr(
        protected, "columns"
    ):
        protected = protected.rename("s")
    table = as_table(protected, argument)
    if table.shape[0] != n_samples:
        raise ValueError(
            f"predictions have {n_samples} rows but {argument} has "
            f"{table.shape[0]}; they must match."
        )
    if varying:
        positions = [j for j in range(table.shape[1]) if table.series(j).n_unique() > 1]
        if not positions:
            return None, None
        table = as_table(select(table, positions), argument)
    columns = ProtectedColumns(None, argument=argument, categorical=categorical).fit(
        table
    )
    for j, name in enumerate(columns.input_names_):
        if name in columns.categories_:
            continue
        levels = integer_codes(table.column(j))
        if levels is not None:
            warn_integer_codes(name, levels, stacklevel=5)
    return table, columns


def warn_integer_codes(name, levels, stacklevel=4):
    """Warn that numeric protected column ``name`` looks like codes of levels."""
    warnings.warn(
        f"protected column {name!r} is numeric with only {len(levels)} "
        f"distinct integer values {[int(v) for v in levels[:5]]}"
        f"{'...' if len(levels) > 5 else ''}; it is used as a number (one "
        f"linear effect). If these are codes of levels (e.g. race coded "
        f"1/2/3), pass categorical=[{name!r}].",
        UserWarning,
        stacklevel=stacklevel,
    )


def encode_reference(
    protected, n_samples, *, categorical=None, argument="protected", groups=False
):
    """Encode the protected columns for a regression (first level dropped).

    Returns ``(S, columns, None)``, ``columns`` the fitted
    :class:`~orthokit._inputs.ProtectedColumns` (names and levels); constant
    and collinear columns (with each other or the intercept) are errors that
    name them. With ``groups=True`` and every protected column categorical,
    returns ``(None, columns, (codes, sizes))`` instead: the level codes of
    shape ``(n_samples, n_columns)`` and the number of levels of each column
    stand for the one-hot matrix (constant and collinear columns are left to
    the caller, who sees the distinct rows).
    """
    table, columns = read_protected(
        protected, n_samples, categorical=categorical, argument=argument
    )
    names = list(columns.encoded_names_)
    if len(names) + 1 >= n_samples:
        raise ValueError(
            f"{argument} columns {shown(columns.input_names_)} encode to "
            f"{len(names):,} terms for {n_samples:,} rows: the evaluation model "
            "would fit every row exactly (no residual degrees of freedom). Group "
            "rare levels first, or use more rows."
        )
    if groups and columns.group_columns_:
        # Every level occurs (levels are learned from these rows).
        sizes = [len(columns.categories_[name]) for name in columns.group_columns_]
        return None, columns, (columns.group_codes(table), sizes)
    S, _ = columns.split(table, numeric_features=False)
    check_estimable(S, names, argument)
    return S, columns, None


def check_estimable(S, names, argument="protected"):
    """Refuse constant or collinear encoded columns, naming them.

    ``S`` may hold the rows or only their distinct values (the rank of
    ``[1, S]`` is the same).
    """
    for j, name in enumerate(names):
        if np.ptp(S[:, j]) == 0:
            raise ValueError(
                f"{argument} column {name!r} is constant (every value is "
                f"{S[0, j]:.4g}); its effect cannot be estimated. Drop it."
            )
    rank = centred_rank(S)
    if rank < S.shape[1]:
        raise ValueError(
            f"{argument} columns {shown(names)} are collinear (with each other or the "
            f"intercept; rank {rank + 1} of {S.shape[1] + 1}); drop redundant columns."
        )


def encode_all_levels(protected, n_samples, *, categorical=None):
    """Encode the protected columns for distances: every level gets a column.

    With all levels one-hot encoded, two rows of different levels are
    ``sqrt(2)`` apart whatever the levels are called, so distances do not
    depend on a reference level. Constant columns add nothing to distances
    and are dropped; an all-constant input gives a single zero column.
    """
    table, columns = read_protected(
        protected, n_samples, categorical=categorical, varying=True
    )
    if table is None:
        return np.zeros((n_samples, 1))
    S, _ = columns.split(table, numeric_features=False)
    check_finite(S, columns.encoded_names_, "protected")
    blocks, start = [], 0
    for name in columns.input_names_:
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
