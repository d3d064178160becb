"""scikit-learn's estimator checks on every public orthokit estimator.

Estimators are discovered from the public modules, so a new one cannot be
forgotten: it fails ``test_every_estimator_has_settings`` until it has an entry
in ``SETTINGS`` below.
"""

import importlib
import inspect
import pkgutil

from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import orthokit


def discover_estimators():
    """Every public estimator class exported by an orthokit subpackage."""
    found = {}
    for module_info in pkgutil.walk_packages(orthokit.__path__, "orthokit."):
        if any(part.startswith("_") for part in module_info.name.split(".")):
            continue
        module = importlib.import_module(module_info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found[name] = obj
    return found


ESTIMATORS = discover_estimators()

# Constructor settings for each estimator: protected columns are positions,
# because the common checks pass plain arrays.
SETTINGS = {
    "OrthogonalProjector": [
        {"protected": [0]},
        {"protected": [0], "keep_protected": True},
        {"protected": [0], "preserve_target": True},
    ],
    # A tiny R-MDN network, sized from the data; no validation split, so the
    # checks' small data sets are used whole.
    "MetadataNormClassifier": [
        {
            "metadata": [0],
            "max_epochs": 5,
            "lr": 0.05,
            "batch_size": 32,
            "train_split": None,
            "verbose": 0,
            "random_state": 0,
        },
    ],
}

# Checks an estimator is known to fail, with the reason.
EXPECTED_FAILURES = {
    "OrthogonalProjector": {},
    "MetadataNormClassifier": {
        "check_no_attributes_set_in_init": (
            "skorch's NeuralNet sets history_, initialized_ and virtual_params_ in "
            "__init__."
        ),
        "check_set_params": (
            "skorch validates callbacks and predict_nonlinearity when they are set, "
            "so setting them to arbitrary values raises."
        ),
    },
}


def _instances():
    for name, cls in sorted(ESTIMATORS.items()):
        for params in SETTINGS.get(name, []):
            yield cls(**params)


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


def test_every_estimator_has_settings():
    missing = sorted(set(ESTIMATORS) - set(SETTINGS))
    assert not missing, f"add constructor settings for {missing} to SETTINGS"
    assert "OrthogonalProjector" in ESTIMATORS


@parametrize_with_checks(
    list(_instances()), expected_failed_checks=_expected_failed_checks
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
