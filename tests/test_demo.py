import sys

import numpy as np
import pytest

from orthokit._demo import _save_plot
from orthokit.cli import main
from orthokit.evaluation import check_orthogonality


def _cells(line):
    """Coefficient and p-value of each model from one evaluation-table row."""
    parts = line.split()[1:]
    coefs = [float(p) for p in parts[0::2]]
    # "<0.001" reads as 0.0 (below the printed precision)
    pvalues = [0.0 if "<" in p else float(p.strip("()")) for p in parts[1::2]]
    return coefs, pvalues


def test_demo_shows_leak_removed(capsys, tmp_path):
    plot = tmp_path / "demo.png"
    assert main(["demo", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
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
    assert f"Coefficient plot (before/after, 95% intervals): {plot}" in out
    assert plot.stat().st_size > 10_000


def test_demo_plot_needs_matplotlib_only_for_the_file(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    report = check_orthogonality(rng.uniform(0.2, 0.8, 100), rng.integers(0, 2, 100))
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    message = _save_plot({"model": report}, str(tmp_path / "x.png"))
    assert message == "(pip install matplotlib for the coefficient plot)"
    assert not (tmp_path / "x.png").exists()


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
