import pathlib
import re
import sys

import pytest

from orthokit.cli import main


def _cells(line):
    """Coefficient and p-value of each model from one evaluation-table row."""
    parts = line.split()[1:]
    coefs = [float(p) for p in parts[0::2]]
    # "<0.001" reads as 0.0 (below the printed precision)
    pvalues = [0.0 if "<" in p else float(p.strip("()")) for p in parts[1::2]]
    return coefs, pvalues


def test_demo_shows_leak_removed(capsys, tmp_path, monkeypatch):
    # The default plot goes to the working directory, replacing (never
    # following) whatever link is planted under its name.
    monkeypatch.chdir(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    plot = tmp_path / "orthokit-demo.png"
    plot.symlink_to(victim)
    assert main(["demo"]) == 0
    assert victim.read_text() == "precious" and not plot.is_symlink()
    out = capsys.readouterr().out
    # It says why 3 of the 5 encoded protected columns are in the leak table.
    text = " ".join(out.split())
    assert "(5 encoded columns: race_Asian-Pac-Islander, race_Black," in text
    assert (
        "The leak table shows sex_Male, race_White, race_Black, the largest groups; "
        "the other 2 encoded columns (race_Asian-Pac-Islander 3.0%, race_Other 0.8% "
        "of people) are corrected too, but are too small for a stable probe AUC. "
        "Reference levels (dropped): sex 'Female', race 'Amer-Indian-Eskimo'."
    ) in text
    assert "probe AUC (held out)" in out
    sex_rows = [line for line in out.splitlines() if line.startswith("sex_Male")]
    corr_before, auc_before, corr_after, auc_after = map(float, sex_rows[0].split()[1:])
    assert corr_before > 0.3 and auc_before > 0.85
    assert corr_after < 1e-10 and abs(auc_after - 0.5) < 0.06

    # The evaluation table: uncorrected, projector + LR, OrthogonalLogisticRegression.
    coefs, pvalues = _cells(sex_rows[1])
    assert coefs[0] > 0.8 and pvalues[0] < 0.001
    assert abs(coefs[2]) < 0.05 and pvalues[2] > 0.05
    verdicts = next(line for line in out.splitlines() if line.startswith("verdict"))
    assert verdicts.split()[1] == "FAIL" and verdicts.split()[-1] == "PASS"
    accuracy = next(line for line in out.splitlines() if line.startswith("held-out"))
    before, _, after = map(float, accuracy.split()[2:])
    assert 0.8 < after < before < 0.9
    assert "Coefficient plot (before/after, 95% intervals): orthokit-demo.png" in out
    assert plot.read_bytes()[:4] == b"\x89PNG" and plot.stat().st_size > 10_000


def _no_matplotlib(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_demo_asked_for_a_plot_without_matplotlib_exits_2(
    monkeypatch, tmp_path, capsys
):
    _no_matplotlib(monkeypatch)
    assert main(["demo", "--plot", str(tmp_path / "x.png")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before any work
    assert captured.err == (
        "orthokit demo: error: --plot needs matplotlib, which is not installed: "
        "pip install 'orthokit[plot]' (from a source checkout: pip install -e "
        "'.[plot]').\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_demo_without_matplotlib_runs_and_says_so(monkeypatch, tmp_path, capsys):
    _no_matplotlib(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "(no plot: matplotlib is not installed; for the before/after plot: " in out
    assert "verdict" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--plot"], "argument --plot: expected one argument"),
        (["demo", "--nope"], "unrecognized arguments: --nope"),
    ],
)
def test_demo_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_readme_keeps_two_set_up_commands_and_the_demo_one_plots():
    root = pathlib.Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme.split("## Set up on a fresh machine")[1].split("\n## ")[0]
    demo, tests = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)
    assert demo.endswith(".venv/bin/orthokit demo") and '-e ".[plot]"' in demo
    ci = (root / ".ci" / "run").read_text().splitlines()
    assert tests in ci  # CI runs the README's test command verbatim
