"""Checks on columns: which kind of values they hold, finite, in float32 range."""

import datetime
import decimal
import numbers
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import pandas as pd

from orthokit._inputs._frames import nw

_TIME = (nw.Datetime, nw.Date, nw.Duration, nw.Time)
_LABELS = (nw.Boolean, nw.String, nw.Categorical, nw.Enum)
_ROW_NAME = ContextVar("orthokit_row_name", default=None)


def row_name(row):
    """How a message names ``row`` of the values being read: ``"row 7"``.

    Within :func:`naming_rows` (a block of a larger input, such as one of a
    dask collection) the name gives the row's place in the whole input.

    Examples
    --------
    >>> row_name(7)
    'row 7'
    >>> with naming_rows(start=5000):
    ...     row_name(7)
    'row 5007'
    """
    name = _ROW_NAME.get()
    return f"row {row}" if name is None else name(row)


@contextmanager
def naming_rows(name=None, start=0):
    """Within the block, :func:`row_name` gives ``name(start + row)``.

    ``name`` defaults to the enclosing naming: blocks of blocks add up.
    """
    outer = name or _ROW_NAME.get() or "row {}".format
    token = _ROW_NAME.set(lambda row: outer(start + row))
    try:
        yield
    finally:
        _ROW_NAME.reset(token)


def column_kind(table, j, name, argument="X"):
    """Return ``"numeric"`` or ``"labels"`` for column ``j`` of a table.

    Numbers are numeric; booleans, strings and categories are labels (to be
    one-hot encoded where they are protected). Datetimes, durations, Decimal
    and complex values are an error that names the column and says how to
    convert it; so is anything else (lists, structs, arbitrary objects).

    Parameters
    ----------
    table : Table
    j : int
    name : str
        The column's name, for messages.
    argument : str, default="X"

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> from orthokit._inputs._frames import as_table
    >>> table = as_table(pd.DataFrame({"a": [1.0], "b": ["x"]}))
    >>> column_kind(table, 0, "a"), column_kind(table, 1, "b")
    ('numeric', 'labels')
    """
    dtype = table.dtype(j)
    if table.is_frame:
        # Numbers first (most columns; a comparison of narwhals dtypes costs
        # microseconds): Decimal is the one numeric dtype refused.
        if dtype.is_numeric():
            if dtype == nw.Decimal:
                raise _decimal_error(argument, name)
            return "numeric"
        if isinstance(dtype, _TIME) or dtype in _TIME:
            raise _time_error(argument, name, str(dtype))
        if dtype in _LABELS or isinstance(dtype, _LABELS):
            return "labels"
        if dtype not in (nw.Object, nw.Unknown):
            raise TypeError(
                f"{argument} column {name!r} holds values of type {dtype}; orthokit "
                "reads numbers, booleans, strings and categories."
            )
        return _object_kind(table.column(j), name, argument)
    kind = dtype.kind
    if kind in "fiu":
        return "numeric"
    if kind in "bUS":
        return "labels"
    if kind in "Mm":
        raise _time_error(argument, name, str(dtype))
    if kind == "c":
        raise _complex_error(argument, name)
    if kind == "O":
        return _object_kind(table.column(j), name, argument)
    raise TypeError(f"{argument} column {name!r} has unsupported dtype {dtype}.")


def _object_kind(values, name, argument):
    """Numbers held in object columns are numbers; labels otherwise."""
    present = np.asarray(values)[~missing_mask(values)]
    for v in present:
        if isinstance(v, decimal.Decimal):
            raise _decimal_error(argument, name)
        if isinstance(v, datetime.date | datetime.timedelta | np.datetime64):
            raise _time_error(argument, name, type(v).__name__)
        if isinstance(v, complex | np.complexfloating):
            raise _complex_error(argument, name)
        if not isinstance(v, str | numbers.Number | np.bool_):
            # The wording scikit-learn's check_dtype_object looks for.
            raise TypeError(
                f"{argument} column {name!r} holds a {type(v).__name__}: argument "
                "must be a string or a number."
            )
    numeric = all(
        isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_)
        for v in present
    )
    return "numeric" if numeric else "labels"


def first_non_number(values):
    """Row and value of the first entry of ``values`` that is not a real number.

    Booleans count as non-numbers; ``(None, None)`` if every entry is a number.

    Examples
    --------
    >>> first_non_number(["0.5", 1.0, "x"])
    (2, 'x')
    """
    for row, v in enumerate(values):
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real | str):
            return row, v.item() if isinstance(v, np.generic) else v
        if isinstance(v, str):
            try:
                float(v)
            except ValueError:
                return row, v
    return None, None


def shown(names, limit=8):
    """Return a list of names for a message, shortened when long.

    Examples
    --------
    >>> shown(["a", "b"])
    "['a', 'b']"
    >>> shown([f"c{j}" for j in range(100)], limit=4)
    "['c0', 'c1', 'c2', ..., 'c99'] (100 names)"
    """
    names = list(names)
    if len(names) <= limit:
        return str(names)
    head = ", ".join(repr(n) for n in names[: limit - 1])
    return f"[{head}, ..., {names[-1]!r}] ({len(names):,} names)"


def missing_mask(values):
    """Boolean mask of missing values (None, NaN, pandas NA) in a label column."""
    return np.asarray(pd.isna(values), dtype=bool)


def _time_error(argument, name, dtype):
    return ValueError(
        f"{argument} column {name!r} holds dates or times ({dtype}); orthokit does "
        "not guess their units. Convert it to numbers first, e.g. "
        f"(X[{name!r}] - X[{name!r}].min()).dt.days, or to categories such as "
        f"X[{name!r}].dt.year."
    )


def _decimal_error(argument, name):
    return ValueError(
        f"{argument} column {name!r} holds Decimal values; convert it to float "
        f"first, e.g. X[{name!r}].astype(float)."
    )


def _complex_error(argument, name):
    # "Complex data not supported" is the wording scikit-learn's checks expect.
    return ValueError(
        f"Complex data not supported: {argument} column {name!r} holds complex "
        "numbers. Split it into its real and imaginary parts (np.real, np.imag)."
    )


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
    ValueError: X column 'b' contains NaN or infinity (1 value(s), the first in row 0).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # finite huge values
        total = values.sum(dtype=np.float64)
    if values.size == 0 or np.isfinite(total):
        return
    finite = np.isfinite(values)
    bad = ~finite.all(axis=0)
    if not bad.any():  # the sum overflowed but every value is finite
        return
    bad_names = [names[j] for j in np.flatnonzero(bad)]
    what = (
        f"column {bad_names[0]!r}"
        if len(bad_names) == 1
        else f"columns {shown(bad_names)}"
    )
    row = int(np.flatnonzero(~finite.all(axis=1))[0])
    raise ValueError(
        f"{argument} {what} contains NaN or infinity "
        f"({int(values.size - finite.sum())} value(s), the first in {row_name(row)})."
    )


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


#: A numeric protected column with this few distinct integer values (but more
#: than two, where any coding is equivalent) looks like coded levels.
_MAX_CODES = 10


def integer_codes(values):
    """Return the distinct values of a column that looks like integer codes.

    A numeric, non-boolean column whose finite values are 3 to 10 distinct
    integers (race coded 1/2/3) probably codes categories; used as a number it
    is one linear effect, and an effect of one level can pass unseen.

    Parameters
    ----------
    values : array-like or pandas.Series

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
    dtype = getattr(values, "dtype", np.asarray(values).dtype)
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return None
    try:
        numbers_ = pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(numbers_).all() or (numbers_ != np.round(numbers_)).any():
        return None
    levels = np.unique(numbers_)
    return levels if 3 <= len(levels) <= _MAX_CODES else None
