"""The one input path: every estimator and function reads user input through it.

One idea per module: :mod:`._frames` (narwhals adapters for pandas, polars
eager and lazy, pyarrow, Series; NumPy arrays, masked arrays, matrices),
:mod:`._columns` (column specifications and the protected columns),
:mod:`._encode` (levels, codes, one-hot), :mod:`._checks` (kinds of values,
finite, float32 range), :mod:`._target`, :mod:`._guard` (the fit guard),
:mod:`._basis` (an estimator's ``basis`` of the protected columns) and
:mod:`._design` (the :class:`Design` of an estimator's input).
"""

from orthokit._inputs._basis import has_basis, protected_names
from orthokit._inputs._checks import (
    check_finite,
    check_float32_range,
    column_kind,
    naming_rows,
    shown,
)
from orthokit._inputs._columns import ProtectedColumns, resolve_columns
from orthokit._inputs._design import Design, read_design
from orthokit._inputs._frames import Table, as_table, is_frame_like
from orthokit._inputs._guard import fit_guard, fitted_attributes
from orthokit._inputs._target import read_target

__all__ = [
    "Design",
    "ProtectedColumns",
    "Table",
    "as_table",
    "check_finite",
    "check_float32_range",
    "column_kind",
    "fit_guard",
    "fitted_attributes",
    "has_basis",
    "is_frame_like",
    "naming_rows",
    "protected_names",
    "read_design",
    "read_target",
    "resolve_columns",
    "shown",
]
