"""The ``orthokit`` command against bad input and bad command lines.

``orthokit audit`` meets the cases of ``ENTRIES`` x ``CASES``
(``tests/bad_input.py``) that concern the CLI (files rather than frames);
``CLI_CASES`` are bad command lines.
"""

import os
import pathlib
import re

import pytest
from bad_input import check_bad_input, pairs
from bad_input_entries import valid_frame

from orthokit.cli import main as cli_main


@pytest.mark.parametrize("entry, case", pairs("cli"))
def test_bad_input(entry, case, tmp_path, record_property):
    check_bad_input(entry, case, tmp_path, record_property)


def _csv(tmp_path):
    X, _ = valid_frame()
    path = tmp_path / "predictions.csv"
    X.to_csv(path, index=False)
    return str(path)


CLI_CASES = [
    ("orthokit", lambda p: ["frobnicate"], "invalid choice"),
    ("orthokit demo", lambda p: ["demo", "--colour"], "unrecognized arguments"),
    ("orthokit audit", lambda p: ["audit"], "required: csv"),
    ("orthokit audit", lambda p: ["audit", p], "--protected"),
    (
        "orthokit audit",
        lambda p: ["audit", p, "--protected", "sex", "--alpha", "abc"],
        "invalid float value",
    ),
    (
        "orthokit audit",
        lambda p: [
            "audit",
            p,
            "--protected",
            "sex,race",
            "--prediction-column",
            "f1",
            "--alpha",
            "1.5",
        ],
        r"alpha must be a number in \(0, 1\)",
    ),  # fmt: skip
    (
        "orthokit audit",
        lambda p: ["audit", p, "--protected", "sex", "--family", "bogus"],
        "invalid choice",
    ),
    (
        "orthokit audit",
        lambda p: [
            "audit",
            p,
            "--protected",
            "sex,race",
            "--prediction-column",
            "f1",
            "--plot",
            str(pathlib.Path(p).parent / "no" / "x.png"),
        ],
        "cannot write plot",
    ),  # fmt: skip
    (
        "orthokit demo",
        lambda p: ["demo", "--plot", str(pathlib.Path(p).parent / "no" / "x.png")],
        "cannot write plot .* does not exist",
    ),
    (
        "orthokit audit",
        lambda p: ["audit", p, "--protected", "sex,sex"],
        r"--protected names 'sex' twice",
    ),
    (
        "orthokit audit",
        lambda p: ["audit", p, "--protected", " sex , sex"],
        r"--protected names 'sex' twice",
    ),
    (
        "orthokit audit",
        lambda p: ["audit", p, "--protected", "sex,,race"],
        r"--protected 'sex,,race' has an empty name \(name 2\)",
    ),
    (
        "orthokit audit",
        lambda p: ["audit", p, "--protected", "sex,race,"],
        r"--protected 'sex,race,' has an empty name \(name 3\)",
    ),
    (
        "orthokit audit",
        lambda p: ["audit", p, "--protected", "sex,race", "--categorical", "race,race"],
        r"--categorical names 'race' twice",
    ),
    (
        "orthokit audit",
        lambda p: ["audit", os.devnull, "--protected", "sex"],
        rf"{os.devnull!r} is not a regular file \(a character device\)",
    ),
    ("orthokit bench", lambda p: ["bench", "--folds", "1"], "--folds"),
    (
        "orthokit bench",
        lambda p: ["bench", "--methods", "lr,lr"],
        "--methods names 'lr' twice",
    ),
    (
        "orthokit bench",
        lambda p: ["bench", "--datasets", "compas,,adult"],
        r"--datasets 'compas,,adult' has an empty name \(name 2\)",
    ),
    ("orthokit bench", lambda p: ["bench", "--suite", "bogus"], "invalid choice"),
    (
        "orthokit bench",
        lambda p: ["bench", "--scheduler", "tcp://localhost:1"],
        "--scheduler needs --backend dask",
    ),
]


@pytest.mark.parametrize("command, argv, match", CLI_CASES)
def test_bad_command_line(command, argv, match, tmp_path, capsys, record_property):
    record_property("entry", command)
    pytest.importorskip("matplotlib")
    try:
        code = cli_main(argv(_csv(tmp_path)))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert re.search(match, capsys.readouterr().err)
