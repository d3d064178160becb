from orthokit.cli import main


def test_demo_shows_leak_removed(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "probe AUC (held out)" in out
    sex_row = next(line for line in out.splitlines() if line.startswith("sex_Male"))
    corr_before, auc_before, corr_after, auc_after = map(float, sex_row.split()[1:])
    assert corr_before > 0.3 and auc_before > 0.85
    assert corr_after < 1e-10 and abs(auc_after - 0.5) < 0.06
