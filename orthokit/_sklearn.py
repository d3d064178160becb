"""The one module that imports scikit-learn's private helpers.

scikit-learn keeps its declarative parameter validation and ``_fit_context``
private; importing them here only means a future rename is fixed in one place.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    "check_is_fitted",
    "validate_data",
    "validate_params",
]
