"""``orthokit audit``: reading, verdicts, messages (exit codes: tests/test_cli.py)."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from orthokit.cli import main
from orthokit.evaluation._audit import audit_csv


def audit(*argv):
    return main(["audit", *map(str, argv)])


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
    assert audit(csv, "--protected", "sex,race", "--prediction-column", column) == code
    out = capsys.readouterr().out
    assert "binomial GLM" in out and "sex_M" in out and "race_c" in out
    assert "Reference levels (each term compares a level with it): sex = 'F', " in out
    assert "race = 'a'" in out
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
        ("p,sex\nhigh,F\nlow,M\n", [], "column 'p' holds labels .*'high'"),
        ("p,sex\n0.1,F\n1.7,M\n0.3,F\n", ["--family", "binomial"], r"\[0, 1\]"),
        ("p,q,sex\n0.1,1,F\n0.2,2,M\n", [], "name the predictions"),
        ('p,sex\n"0.1,F\n', [], "not a readable CSV|no rows|must be numeric"),
        ("p,sex\n0.1,F\n0.2,F\n0.3,F\n", [], "constant"),
    ],
)
def test_bad_input_exits_2_with_message(tmp_path, capsys, content, extra, match):
    path = tmp_path / "missing.csv" if content is None else _write(tmp_path, content)
    assert audit(path, "--protected", "sex", *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("orthokit audit: error:")
    assert re.search(match, err), err


def test_missing_protected_column(csv, capsys):
    assert audit(csv, "--protected", "gender", "--prediction-column", "fair") == 2
    assert "['gender'] not in" in capsys.readouterr().err


def test_binary_file_is_bad_input(tmp_path, capsys):
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 4)
    assert audit(path, "--protected", "sex") == 2
    assert "orthokit audit: error:" in capsys.readouterr().err


def test_perfect_separation_fails(tmp_path, capsys):
    path = _write(tmp_path, "p,sex\n0,F\n0,F\n0,F\n1,M\n1,M\n1,M\n")
    assert audit(path, "--protected", "sex") == 1
    assert "perfect separation" in capsys.readouterr().err


def test_plot_is_written(csv, tmp_path, capsys):
    out = tmp_path / "coef.png"
    argv = [csv, "--protected", "sex", "--prediction-column", "biased", "--plot", out]
    assert audit(*argv) == 1
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


def _probabilities(n, rng):
    return np.round(rng.uniform(0.2, 0.6, n), 4)


@pytest.mark.parametrize(
    "values, match",
    [
        # one 1.7 among probabilities: not silently gaussian
        ("prob", r"60 of 61 values fit --family binomial, but row 3 \(line 4 of "),
        # one 2.5 among counts: not silently gaussian
        ("count", r"60 of 61 values fit --family poisson, but row 3 \(line 4 of "),
    ],
)
def test_ambiguous_family_names_the_row(tmp_path, capsys, values, match):
    rng = np.random.default_rng(1)
    good = _probabilities(61, rng) if values == "prob" else rng.integers(0, 5, 61)
    good = good.astype(float)
    good[2] = 1.7 if values == "prob" else 2.5
    path = tmp_path / "p.csv"
    pd.DataFrame({"p": good, "sex": rng.choice(["F", "M"], 61)}).to_csv(
        path, index=False
    )
    assert audit(path, "--protected", "sex") == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err
    assert "--family gaussian" in err and "--scale link" in err
    # Choosing the family explicitly runs the audit.
    assert audit(path, "--protected", "sex", "--family", "gaussian") in (0, 1)
    assert "gaussian GLM" in capsys.readouterr().out


def test_hints_are_flags_not_python(tmp_path, capsys):
    path = _write(tmp_path, "p,sex\n0.1,F\n1.7,M\n0.3,F\n0.4,M\n")
    assert audit(path, "--protected", "sex", "--family", "binomial") == 2
    err = capsys.readouterr().err
    assert "--scale link" in err and "--family gaussian" in err
    assert "scale=" not in err and "family=" not in err


@pytest.mark.parametrize(
    "content, match",
    [
        (
            "p,sex\n,F\n0.2,M\n0.3,F\n",
            r"'p' contains NaN or infinity .*row 1 \(line 2 of the file\)",
        ),
        ("p,sex\n0.1,F\ninf,M\n0.3,F\n", r"infinity.*row 2 \(line 3 of the file\)"),
        (
            "p,sex\n0.1,F\nNA,M\n",
            r"must be numeric.*row 2 \(line 3 of the file\) is 'NA'",
        ),
        (
            "p,sex\nTrue,F\nFalse,M\n",
            r"holds labels \(dtype Boolean; row 1 \(line 2 of the file\) is True",
        ),
        (
            "p,sex\n0.1,F\n0.2,\n0.3,M\n",
            r"'sex' contains missing values .*row 2 \(line 3",
        ),
        ("p,sex\n0.1,F\n0.2,M\n", r"--categorical column\(s\) \['age'\] are not"),
    ],
)
def test_rows_are_counted_from_one(tmp_path, capsys, content, match):
    path = _write(tmp_path, content)
    argv = ["--categorical", "age"] if "age" in match else []
    assert audit(path, "--protected", "sex", *argv) == 2
    assert re.search(match, capsys.readouterr().err)


def test_na_and_none_are_levels_not_missing(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n = 300
    sex = rng.choice(["NA", "None", "F"], n)
    p = _probabilities(n, rng)
    path = tmp_path / "p.csv"
    pd.DataFrame({"p": p, "sex": sex}).to_csv(path, index=False)
    assert audit(path, "--protected", "sex") == 0
    out = capsys.readouterr().out
    assert "sex_NA" in out and "sex_None" in out and "sex = 'F'" in out


def _race_coded(tmp_path):
    """Predictions that depend only on race == 2, race coded 1/2/3."""
    rng = np.random.default_rng(3)
    n = 900
    race = np.repeat([1, 2, 3], n // 3)
    p = np.clip(0.5 + 0.15 * (race == 2) - 0.075 + rng.normal(0, 0.05, n), 0, 1)
    path = tmp_path / "coded.csv"
    pd.DataFrame({"p": p, "race": race}).to_csv(path, index=False)
    return path, p, race


def test_integer_coded_race_warns_and_categorical_finds_the_effect(tmp_path, capsys):
    path, p, race = _race_coded(tmp_path)
    # As one linear term, the effect of race == 2 cancels: the audit passes...
    assert audit(path, "--protected", "race") == 0
    err = capsys.readouterr().err
    assert "3 distinct integer values [1, 2, 3]" in err
    assert "pass --categorical race" in err
    # ...as categories it fails, and the coefficients are statsmodels' own.
    assert audit(path, "--protected", "race", "--categorical", "race") == 1
    captured = capsys.readouterr()
    assert "warning" not in captured.err
    assert "race = '1'" in captured.out
    design = sm.add_constant(np.column_stack([race == 2, race == 3]).astype(float))
    reference = sm.GLM(p, design, family=sm.families.Binomial()).fit()
    terms = [line.split()[0] for line in captured.out.splitlines() if line.strip()]
    assert "race_2" in terms and "race_3" in terms
    table = audit_csv(path, "race", categorical="race").report.to_frame()
    np.testing.assert_allclose(table["coef"], reference.params[1:], rtol=1e-6)


def test_a_level_per_row_is_an_error_before_the_fit(tmp_path, capsys):
    n = 3000
    path = tmp_path / "ids.csv"
    pd.DataFrame(
        {"p": np.linspace(0.1, 0.9, n), "id": [f"u{i}" for i in range(n)]}
    ).to_csv(path, index=False)
    assert audit(path, "--protected", "id") == 2
    err = capsys.readouterr().err
    assert "encode to 2,999 terms for 3,000 rows" in err
    assert len(err) < 400  # the names are shortened, not listed by the thousand


def _frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"p": rng.uniform(0.2, 0.8, n), " sex": rng.choice(["F", "M"], n)}
    )


@pytest.mark.parametrize(
    "name, write",
    [
        ("p.tsv", lambda f, path: f.to_csv(path, sep="\t", index=False)),
        ("p.txt", lambda f, path: f.to_csv(path, sep=";", index=False)),
        ("p.csv.gz", lambda f, path: f.to_csv(path, index=False)),
        ("p.parquet", lambda f, path: f.to_parquet(path)),
    ],
    ids=["tsv", "semicolons", "gzip", "parquet"],
)
def test_real_files_are_read_like_the_csv(tmp_path, name, write):
    frame = _frame()
    write(frame, tmp_path / name)
    frame.to_csv(tmp_path / "plain.csv", index=False)
    expected = audit_csv(tmp_path / "plain.csv", " sex").report.to_frame()
    table = audit_csv(tmp_path / name, " sex").report.to_frame()
    pd.testing.assert_frame_equal(table, expected)


def test_a_name_with_spaces_is_matched_exactly_first(tmp_path):
    frame = _frame().assign(sex=lambda f: f["p"] > 0.5)  # 'sex' and ' sex'
    frame.to_csv(tmp_path / "p.csv", index=False)
    result = audit_csv(tmp_path / "p.csv", " sex", prediction_column="p")
    assert result.report.to_frame()["term"].tolist() == [" sex_M"]
    result = audit_csv(tmp_path / "p.csv", "sex ", prediction_column="p")
    assert result.report.to_frame()["term"].tolist() == ["sex_True"]


@pytest.mark.parametrize(
    "values, hint",
    [
        (lambda rng: rng.uniform(5, 95, 400), "percentages"),
        (lambda rng: rng.normal(0, 2, 400), "logits"),
        (lambda rng: rng.uniform(0, 1, 400), "probabilities"),
    ],
)
def test_the_inferred_family_is_explained(tmp_path, capsys, values, hint):
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"p": values(rng), "sex": rng.choice(["F", "M"], 400)})
    frame.to_csv(tmp_path / "p.csv", index=False)
    audit(tmp_path / "p.csv", "--protected", "sex")
    out = capsys.readouterr().out
    assert re.search(rf"Family '\w+' inferred: .*{hint}", out), out
