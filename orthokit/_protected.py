"""Legacy converters of the callers not yet moved onto :mod:`orthokit._inputs`.

The evaluation functions and the torch estimators still take ``X`` as a pandas
or polars frame or an ndarray from :func:`check_array_like`; they move onto the
input layer in the next steps of its issue, and this module goes with them.
"""

from orthokit._inputs import (
    ProtectedColumns,
    as_table,
    check_finite,
    check_float32_range,
)

__all__ = [
    "ProtectedColumns",
    "check_array_like",
    "check_finite",
    "check_float32_range",
    "column_names",
]


def _is_polars(X):
    return type(X).__module__.split(".")[0] == "polars"


def column_names(X):
    """Return the column names of a pandas or polars frame as a list, or ``None``."""
    return as_table(X).names if hasattr(X, "columns") else None


def check_array_like(X, argument="X"):
    """Read ``X`` through the input layer; return a pandas or polars frame or ndarray.

    Parameters
    ----------
    X : array-like
    argument : str, default="X"

    Returns
    -------
    ndarray or DataFrame
    """
    table = as_table(X, argument)
    if not table.is_frame:
        if table.data.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {argument} must be real.")
        return table.data
    native = table.native
    if _is_polars(native) or type(native).__module__.split(".")[0] == "pandas":
        return native
    return table.data.to_pandas()
