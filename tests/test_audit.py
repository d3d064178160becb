import argparse
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from orthokit.evaluation._audit import add_audit_parser, audit_main


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_audit_parser(parser.add_subparsers())
    return parser.parse_args(["audit", *map(str, argv)])


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    sex = rng.choice(["F", "M"], n)
    race = rng.choice(["a", "b", "c"], n)
    fair = rng.uniform(0.2, 0.6, n)
    frame = pd.DataFrame(
        {"fair": fair, "biased": fair + 0.3 * (sex == "M"), "sex": sex, "race": race}
    )
    path = tmp_path / "predictions.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("column, code", [("fair", 0), ("biased", 1)])
def test_exit_code_and_table(csv, capsys, column, code):
    args = _args(csv, "--protected", "sex,race", "--prediction-column", column)
    assert audit_main(args) == code
    out = capsys.readouterr().out
    assert "binomial GLM" in out and "sex_M" in out and "race_c" in out
    assert ("Verdict: PASS" in out) is (code == 0)


def _write(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "content, extra, match",
    [
        (None, [], "does not exist"),
        ("", [], "is empty"),
        ("p,sex\n", [], "no rows"),
        ("p,sex\n0.1,F\n0.2,M\n", ["--prediction-column", "q"], "'q' not in"),
        ("p,sex\nhigh,F\nlow,M\n", [], "'p' is not numeric"),
        ("p,sex\n0.1,F\n1.7,M\n0.3,F\n", ["--family", "binomial"], r"\[0, 1\]"),
        ("p,q,sex\n0.1,1,F\n0.2,2,M\n", [], "name the predictions"),
        ('p,sex\n"0.1,F\n', [], "not a readable CSV|no rows|not numeric"),
        ("p,sex\n0.1,F\n0.2,F\n0.3,F\n", [], "constant"),
    ],
)
def test_bad_input_exits_2_with_message(tmp_path, capsys, content, extra, match):
    path = tmp_path / "missing.csv" if content is None else _write(tmp_path, content)
    assert audit_main(_args(path, "--protected", "sex", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("orthokit audit: error:")
    assert re.search(match, err), err


def test_missing_protected_column(csv, capsys):
    assert (
        audit_main(_args(csv, "--protected", "gender", "--prediction-column", "fair"))
        == 2
    )
    assert "['gender'] not in" in capsys.readouterr().err


def test_binary_file_is_bad_input(tmp_path, capsys):
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 4)
    assert audit_main(_args(path, "--protected", "sex")) == 2
    assert "orthokit audit: error:" in capsys.readouterr().err


def test_perfect_separation_fails(tmp_path, capsys):
    path = _write(tmp_path, "p,sex\n0,F\n0,F\n0,F\n1,M\n1,M\n1,M\n")
    assert audit_main(_args(path, "--protected", "sex")) == 1
    assert "perfect separation" in capsys.readouterr().err


def test_plot_is_written(csv, tmp_path, capsys):
    out = tmp_path / "coef.png"
    args = _args(
        csv, "--protected", "sex", "--prediction-column", "biased", "--plot", out
    )
    assert audit_main(args) == 1
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("column, code", [("fair", 0), ("biased", 1)])
def test_python_dash_m_orthokit_audit(csv, column, code):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orthokit",
            "audit",
            str(csv),
            "--protected",
            "sex,race",
            "--prediction-column",
            column,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == code, result.stderr
    assert "sex_M" in result.stdout


def test_python_dash_m_bad_input(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orthokit",
            "audit",
            str(tmp_path / "none.csv"),
            "--protected",
            "sex",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr
