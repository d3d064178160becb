"""Encoding of label columns: levels, integer codes, one-hot with a reference."""

import numpy as np
import pandas as pd

from orthokit._inputs._checks import missing_mask, row_name
from orthokit._inputs._frames import nw


def learn_levels(table, j, name, given=None):
    """Return the levels of label column ``j``, the first being the reference.

    Levels are ``given`` (validated), else a categorical column's categories
    that occur, in their order, else the sorted distinct values.

    Parameters
    ----------
    table : Table
    j : int
    name : str
    given : sequence, optional
        Levels declared by the user (``categories=``).

    Returns
    -------
    list

    Examples
    --------
    >>> import pandas as pd
    >>> from orthokit._inputs._frames import as_table
    >>> learn_levels(as_table(pd.DataFrame({"s": ["M", "F", "M"]})), 0, "s")
    ['F', 'M']
    """
    dictionary = _dictionary(table, j)
    if given is None and dictionary is not None:
        categories, codes = dictionary
        _reject_missing(codes < 0, name)  # the code of a missing value is -1
        present = np.bincount(codes, minlength=len(categories)) > 0
        levels = [c for c, seen in zip(categories, present, strict=True) if seen]
        return _at_least_two(levels, name)
    values = labels(table.column(j), name)
    if given is not None:
        levels = list(given)
        if len(set(map(_key, levels))) != len(levels):
            raise ValueError(
                f"categories[{name!r}] lists a level twice: {levels}; each level "
                "must appear once."
            )
    elif table.is_frame and isinstance(table.dtype(j), nw.Categorical | nw.Enum):
        present = set(pd.unique(values))
        categories = table.series(j).cat.get_categories().to_list()
        levels = [c for c in categories if c in present]
    else:
        levels = sorted(pd.unique(values), key=_key)
    return _at_least_two(levels, name)


def _at_least_two(levels, name):
    if len(levels) < 2:
        raise ValueError(
            f"protected column {name!r} is constant (a single level {levels!r}); a "
            "constant column cannot be regressed out. Drop it, or pass its levels "
            "in categories= when fitting by chunks."
        )
    return levels


def _dictionary(table, j):
    """Return ``(categories, codes)`` of a pandas categorical column, or ``None``.

    Its codes make the level codes of every row with one lookup per category
    instead of a hash of every row's label.
    """
    if not (table.is_frame and isinstance(table.dtype(j), nw.Categorical)):
        return None
    native = table.series(j).to_native()
    codes = getattr(getattr(native, "cat", None), "codes", None)
    if codes is None or not hasattr(native.cat, "categories"):
        return None
    return list(native.cat.categories), np.asarray(codes)


def column_codes(table, j, levels, name):
    """Return the level codes of label column ``j`` (see :func:`level_codes`)."""
    dictionary = _dictionary(table, j)
    if dictionary is None:
        return level_codes(table.column(j), levels, name)
    categories, codes = dictionary
    _reject_missing(codes < 0, name)
    lookup = level_codes(categories, levels, name, check=False)
    result = lookup[codes]
    if (result < 0).any():
        unseen = sorted({str(categories[c]) for c in codes[result < 0]})
        raise _unseen(name, unseen, levels)
    return result


def _key(value):
    return (str(type(value)), value)


def labels(values, name, what="protected"):
    """Return a label column as an ndarray, rejecting missing values."""
    values = np.asarray(values)
    _reject_missing(missing_mask(values), name, what)
    return values


def _reject_missing(missing, name, what="protected"):
    if missing.any():
        first = row_name(int(np.flatnonzero(missing)[0]))
        raise ValueError(
            f"{what} column {name!r} contains missing values (NaN or None, first "
            f"in {first}); impute or drop them first."
        )


def level_codes(values, levels, name, check=True):
    """Return the position of every value in ``levels``; unseen values are an error.

    With ``check=False`` unseen values get ``-1`` and missing ones pass.

    Examples
    --------
    >>> level_codes(["b", "a", "b"], ["a", "b"], "s").tolist()
    [1, 0, 1]
    """
    values = np.asarray(values, dtype=object if isinstance(values, list) else None)
    if check:
        labels(values, name)
    # An index lookup, not pd.Categorical: pandas 3 warns (and will raise) on
    # values outside the categories, which are the error here.
    codes = pd.Index(levels).get_indexer(values)
    if check and (codes < 0).any():
        raise _unseen(name, sorted({str(v) for v in values[codes < 0]}), levels)
    return codes


def _unseen(name, unseen, levels):
    return ValueError(
        f"protected column {name!r} has categories {unseen} that were not seen in "
        f"fit (seen: {[str(v) for v in levels]})."
    )


def one_hot(codes, n_levels, out=None):
    """Return the indicators of levels ``1..n_levels-1`` (0 is the reference).

    With ``out`` (float64, ``(n, n_levels - 1)``) they are written into it.

    Examples
    --------
    >>> one_hot(np.array([0, 2, 1]), 3).tolist()
    [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]
    """
    if out is None:
        out = np.empty((len(codes), n_levels - 1))
    out[...] = codes[:, None] == np.arange(1, n_levels)
    return out
