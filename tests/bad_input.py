"""Every public entry point against every kind of bad input: the runner.

``ENTRIES`` (``bad_input_entries.py``) lists the entry points that take data,
``CASES`` (``bad_input_cases.py``) the bad inputs. Every pair whose kinds and
stages meet runs, so a new entry point meets every case that applies to it and
a new case reaches every entry point. Each family of entry points (the
subpackage of ``orthokit`` it belongs to, or the CLI) runs its pairs in the
test folder of that subpackage (``FAMILIES``), through ``check_bad_input``.

A pair passes when the entry point raises a ValueError/TypeError (or
NotFittedError) whose message matches the case's pattern, or, where the case
allows it (pattern ``None``), returns finite output. A bare LinAlgError, a
statsmodels or torch traceback, NaN/inf output or a hang fail.

The terminal summary (``conftest.py``) counts the cases each entry point passed;
``tests/README.md`` explains how to add an entry point or a case.
"""

import re
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from bad_input_cases import CASES
from bad_input_entries import ENTRIES, Entry, _audit, valid_frame
from sklearn.exceptions import NotFittedError

# The test file (relative to tests/) that runs the pairs of each family.
FAMILIES = {
    "preprocessing": "preprocessing/test_preprocessing_bad_input.py",
    "linear_model": "linear_model/test_glm_bad_input.py",
    "evaluation": "evaluation/test_evaluation_bad_input.py",
    "mixed": "mixed/test_armed_bad_input.py",
    "nn": "nn/test_nn_bad_input.py",
    "cli": "test_cli_bad_input.py",
}


def applies(entry, case):
    """Whether ``case`` concerns ``entry``: a kind or trait shared, a stage it has."""
    return (
        bool(case.kinds & entry.tags)
        and not case.skip & entry.tags
        and case.stage in entry.stages
    )


def pairs(family):
    """The (entry, case) parameters of the entries of one family."""
    return [
        pytest.param(entry, case, id=f"{entry.name}-{case.name}")
        for entry in ENTRIES
        if entry.family == family
        for case in CASES
        if applies(entry, case)
    ]


def _finite(output):
    if isinstance(output, pd.DataFrame | pd.Series | pl.DataFrame):
        output = output.to_numpy()
    values = np.asarray(output)
    return values.size > 0 and np.isfinite(values.astype(float)).all()


def check_bad_input(entry, case, tmp_path, record_property):
    """Run one pair: the error it must raise, or its finite output."""
    record_property("entry", entry.name)
    torch_used = {"cluster", "torch"} & entry.tags
    torch = pytest.importorskip("torch") if torch_used else None
    if torch is not None:
        torch.set_num_threads(1)
    if entry.kind == "cli":
        entry = Entry(**{**vars(entry), "apply": lambda _, X, y: _audit(X, tmp_path)})
    X, y = valid_frame()
    X = X[entry.columns]
    bad_X, bad_y = case.spoil(X, y)
    expected = case.expected(entry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are allowed, errors are judged
        try:
            if case.stage == "unfitted":
                output = entry.apply(entry.build(), bad_X, bad_y)
            elif case.stage == "apply":
                output = entry.apply(entry.fit(X, y), bad_X, bad_y)
            else:
                output = entry.apply(entry.fit(bad_X, bad_y), bad_X, bad_y)
        except (ValueError, TypeError, NotFittedError) as exc:
            assert expected is not None, f"unexpected {type(exc).__name__}: {exc}"
            assert re.search(expected, str(exc)), str(exc)
            return
    assert expected is None, f"no error raised; expected /{expected}/"
    assert _finite(output), output
