"""The loaders and simulators of ``orthokit.datasets`` against bad parameters.

``PARAMETER_ENTRIES`` x ``PARAMETER_CASES``: functions that take parameters
rather than data. Each parameter is declared with its type, and every bad value
of that type must raise an error that names the parameter.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from orthokit.datasets import (
    load_adult,
    load_compas,
    make_biographies,
    make_cluster_images,
    make_spirals,
)


@dataclass
class ParameterEntry:
    """A function of parameters: its valid call and each parameter's type."""

    name: str
    call: callable
    valid: dict
    parameters: dict  # name -> type ("count", "proportion", "choice", ...)


PARAMETER_ENTRIES = [
    ParameterEntry(
        "make_spirals",
        make_spirals,
        {"n_clusters": 3, "n_per_cluster": 10, "random_state": 0},
        {
            "simulation": "choice",
            "n_clusters": "count",
            "n_per_cluster": "count",
            "noise": "nonnegative",
            "confound_sd": "nonnegative",
            "random_state": "seed",
        },
    ),
    ParameterEntry(
        "make_cluster_images",
        make_cluster_images,
        {"n_clusters": 2, "n_per_cluster": 2, "random_state": 0},
        {
            "n_clusters": "count",
            "n_per_cluster": "count",
            "size": "count",
            "batch_effect": "nonnegative",
            "confounding": "nonnegative",
            "noise": "nonnegative",
            "random_state": "seed",
        },
    ),
    ParameterEntry(
        "make_biographies",
        make_biographies,
        {"n_samples": 5, "random_state": 0},
        {"n_samples": "count", "association": "proportion", "random_state": "seed"},
    ),
    ParameterEntry(
        "load_adult",
        load_adult,
        {"split": "test"},
        {"split": "choice", "drop_missing": "flag", "return_X_y": "flag"},
    ),
    ParameterEntry(
        "load_compas",
        load_compas,
        {},
        {"filters": "flag", "return_X_y": "flag"},
    ),
]

PARAMETER_CASES = {
    "count": [0, -3, 2.5, "10", None],
    "proportion": [-0.1, 1.5, np.nan, "half", None],
    "nonnegative": [-1.0, np.nan, np.inf, "x", None],
    "choice": ["bogus", 0, None, 4],
    "flag": ["yes", 2, None],
    "seed": ["seed", -1, 2.5],
}

PARAMETER_PAIRS = [
    pytest.param(entry, name, value, id=f"{entry.name}-{name}={value!r}")
    for entry in PARAMETER_ENTRIES
    for name, kind in entry.parameters.items()
    for value in PARAMETER_CASES[kind]
]


@pytest.mark.parametrize("entry, parameter, value", PARAMETER_PAIRS)
def test_bad_parameter(entry, parameter, value, record_property):
    record_property("entry", entry.name)
    with pytest.raises((ValueError, TypeError), match=parameter):
        entry.call(**{**entry.valid, parameter: value})


@pytest.mark.parametrize("entry", PARAMETER_ENTRIES, ids=lambda e: e.name)
def test_valid_parameters_work(entry):
    assert entry.call(**entry.valid) is not None
