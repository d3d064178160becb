"""The one module that imports scikit-learn's private helpers.

scikit-learn keeps its declarative parameter validation and ``_fit_context``
private; importing them here only means a future rename is fixed in one place.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
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
    "check_parameters",
    "validate_data",
    "validate_params",
]


def check_parameters(estimator):
    """Check ``estimator``'s parameters against its ``_parameter_constraints``.

    What ``_fit_context`` does before fit, for estimators whose fit is not
    their own (skorch nets, where ``_validate_params`` is skorch's check of
    prefixed arguments).

    Parameters
    ----------
    estimator : BaseEstimator
        Has a ``_parameter_constraints`` dict.
    """
    validate_parameter_constraints(
        estimator._parameter_constraints,
        estimator.get_params(deep=False),
        caller_name=type(estimator).__name__,
    )
