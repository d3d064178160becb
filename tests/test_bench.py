"""The cross-validated suite (`orthokit bench`): tables, backends, bad input."""

import sys

import numpy as np
import pandas as pd
import pytest

from orthokit._bench import (
    METHODS,
    fold_splits,
    load_bench_data,
    run_suite,
    run_task,
    summarize,
    table3,
)
from orthokit.cli import main

TINY = {
    "datasets": ["compas"],
    "methods": ["logistic regression", "OrthogonalProjector + LR",
                "OrthogonalLogisticRegression"],
    "folds": 2,
    "repeats": 1,
    "quick": True,
    "progress": False,
}  # fmt: skip


@pytest.mark.slow
def test_cli_quick_run_writes_tables_and_plot(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "--quick", "--folds", "2", "--repeats", "1", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "28/28 [" in captured.err  # tqdm's progress bar
    assert sorted(p.name for p in out.iterdir()) == [
        "folds.csv", "suite.csv", "suite.md", "tradeoff.png",
    ]  # fmt: skip
    folds = pd.read_csv(out / "folds.csv")
    assert folds.shape[0] == 2 * len(METHODS) * 2
    assert list(folds["method"].unique()) == list(METHODS)
    summary = pd.read_csv(out / "suite.csv").set_index(["dataset", "method"])
    # Held out, every fold of the uncorrected model with the protected columns
    # shows a significant protected effect; no fold of the constrained GLMs does.
    for dataset in ("adult", "compas"):
        assert summary.loc[(dataset, "logistic regression + protected"),
                           "folds p<0.05"] == 2  # fmt: skip
        for method in ("OrthogonalLogisticRegression",
                       "OrthogonalLogisticRegression + protected"):  # fmt: skip
            assert summary.loc[(dataset, method), "folds p<0.05"] == 0
        assert 0.5 < summary.loc[(dataset, "logistic regression"), "accuracy"] < 0.9
    markdown = (out / "suite.md").read_text()
    assert "## The paper's Table 3" in markdown
    assert "| adult |" in markdown and "0.854 → 0.833" in markdown
    assert "fairlearn ExponentiatedGradient(DP)" in markdown


@pytest.mark.slow
def test_dask_backend_gives_the_local_results():
    local = run_suite(**TINY, n_jobs=1)
    dask = run_suite(**TINY, n_jobs=1, backend="dask")
    assert local.shape == (6, dask.shape[1])
    pd.testing.assert_frame_equal(
        local.drop(columns="fit_seconds"), dask.drop(columns="fit_seconds")
    )


@pytest.mark.slow
def test_dask_backend_on_an_existing_scheduler():
    import dask.distributed as distributed

    local = run_suite(**TINY, n_jobs=1)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        remote = run_suite(**TINY, backend="dask", scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(
        local.drop(columns="fit_seconds"), remote.drop(columns="fit_seconds")
    )


def test_missing_fairlearn_skips_its_rows_with_a_notice(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "fairlearn", None)
    argv = ["bench", "--quick", "--datasets", "compas", "--folds", "2",
            "--repeats", "1", "--methods", "lr,fairlearn-cr,oglm,fairlearn-eg",
            "--out", str(tmp_path), "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert (
        "orthokit bench: notice: skipping ['fairlearn CorrelationRemover + LR', "
        "'fairlearn ExponentiatedGradient(DP)']: fairlearn is not installed." in err
    )
    folds = pd.read_csv(tmp_path / "folds.csv")
    assert folds["method"].unique().tolist() == [
        "logistic regression", "OrthogonalLogisticRegression",
    ]  # fmt: skip
    assert folds["dataset"].unique().tolist() == ["compas"]
    assert "--methods lr,fairlearn-cr" in (tmp_path / "suite.md").read_text()
    # Only fairlearn rows asked for: nothing to run is an error...
    assert main([*argv[:8], "--methods", "fairlearn-cr", "--out", str(tmp_path)]) == 2
    assert "no method left to run" in capsys.readouterr().err
    # ...and the library call still says what to install.
    with pytest.raises(ImportError, match=r"pip install -e '\.\[dev\]'"):
        run_suite(**{**TINY, "methods": ["fairlearn CorrelationRemover + LR"]})


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--methods", "lr,svm"], "--methods: unknown ['svm']; choose from ['lr',"),
        (["--datasets", "iris"], "unknown data set 'iris'"),
        (["--out", "s3://bucket/out"], "--out 's3://bucket/out' is a URL"),
    ],
)
def test_cli_rejects_unknown_selections(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--out", "out", *argv]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_summary_and_table3_from_known_rows():
    rows = pd.DataFrame(
        {
            "dataset": ["adult"] * 4,
            "method": ["logistic regression + protected"] * 2
            + ["OrthogonalLogisticRegression + protected"] * 2,
            "accuracy": [0.80, 0.82, 0.78, 0.80],
            "auc": [0.9, 0.9, 0.8, 0.8],
            "fit_seconds": [1.0, 3.0, 2.0, 2.0],
            "coef[sex_Male]": [1.0, 0.8, 0.01, -0.03],
            "p[sex_Male]": [1e-5, 1e-4, 0.5, 0.7],
        }
    )
    summary = summarize(rows)
    assert summary["accuracy"].round(6).tolist() == [0.81, 0.79]
    assert summary["fit s"].tolist() == [2.0, 2.0]
    assert summary["max |coef|"].round(6).tolist() == [0.9, 0.02]
    assert summary["folds p<0.05"].tolist() == [2, 0]
    assert summary["sex_Male"].tolist() == ["0.900 (<0.001)", "-0.010 (0.600)"]
    table = table3(summary)
    assert table["data"].tolist() == ["adult"]
    assert table["cost"].round(6).tolist() == [-0.02]
    assert table["paper without → with"].tolist() == ["0.854 → 0.833"]
    assert table["paper cost"].tolist() == [-0.021]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"suite": "tabular"}, ValueError, "suite must be one of"),
        ({"backend": "spark"}, ValueError, "backend must be 'loky' or 'dask'"),
        ({"folds": 1}, ValueError, "folds must be an integer >= 2"),
        ({"repeats": 0}, ValueError, "repeats must be an integer >= 1"),
        ({"folds": 2.5}, ValueError, "folds must be an integer >= 2"),
        ({"methods": ["svm"]}, ValueError, r"unknown methods \['svm'\]"),
        ({"scheduler": "tcp://x:1"}, ValueError, "only used with backend='dask'"),
        ({"datasets": ["iris"]}, ValueError, "unknown data set 'iris'"),
    ],
)
def test_run_suite_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        run_suite(**{**TINY, **kwargs})


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--folds", "1"], "invalid integer >= 2 value: '1'"),
        (["--folds", "x"], "invalid integer >= 2 value: 'x'"),
        (["--suite", "tabular"], "invalid choice: 'tabular'"),
        (["--backend", "spark"], "invalid choice: 'spark'"),
    ],
)
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_scheduler_needs_dask_backend(capsys):
    assert main(["bench", "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "--scheduler needs --backend dask" in capsys.readouterr().err


def test_compas_keeps_every_row_and_merges_rare_races():
    data = load_bench_data("compas")
    assert data.X.shape == (6172, 11)
    assert data.protected == [7, 8, 9, 10]
    assert "Native American" in data.description and "Asian" in data.description
    # the encoded protected columns are 0/1 indicators of the groups
    assert set(np.unique(data.X[:, data.protected])) == {0.0, 1.0}
    assert len(set(data.groups)) == 8


def test_a_level_absent_from_the_held_out_rows_is_left_out_with_a_note():
    data = load_bench_data("compas", quick=True)
    S = pd.DataFrame(data.X[:, data.protected], columns=data.protected_names)
    race = S.filter(like="race_")
    # held out: no African-American (the reference) and no Other rows
    eligible = np.flatnonzero(race.any(axis=1) & (race["race_Other"] == 0))
    test = eligible[::2]
    train = np.setdiff1d(np.arange(len(S)), test)
    row = run_task(data, "logistic regression", 0, 0, train, test)
    assert row["status"] == "ok" and row["error"] == ""
    assert row["note"] == (
        "no held-out rows of race_Other: left out; no held-out rows of the "
        "reference level of race: race_Caucasian is the reference of this fold"
    )
    assert np.isnan(row["coef[race_Other]"]) and np.isnan(row["coef[race_Caucasian]"])
    for term in ("race_Hispanic", "sex_Male"):  # estimated, not NaN
        assert np.isfinite(row[f"coef[{term}]"]) and 0 < row[f"p[{term}]"] <= 1


def test_a_failed_fit_is_reported_in_every_output_and_exits_2(
    tmp_path, monkeypatch, capsys
):
    from orthokit._bench import _methods

    calls, real = [], _methods.predict_positive

    def fails_the_second_time(estimator, X):
        calls.append(len(X))
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(estimator, X)

    monkeypatch.setattr(_methods, "predict_positive", fails_the_second_time)
    argv = ["bench", "--quick", "--datasets", "compas", "--methods", "lr",
            "--folds", "2", "--repeats", "1", "--out", str(tmp_path),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        "orthokit bench: error: 1 of 2 fits failed and are left out of the means "
        "(first: compas, logistic regression, repeat 0 fold 1: RuntimeError: boom);"
        f" see {tmp_path / 'suite.md'}."
    )
    assert "compas: 1,000 held-out rows per fold (1,000 training rows)" in captured.out
    folds = pd.read_csv(tmp_path / "folds.csv", keep_default_na=False)
    assert folds["status"].tolist() == ["ok", "failed"]
    assert folds["error"].tolist() == ["", "RuntimeError: boom"]
    assert folds.loc[1, "accuracy"] == ""  # a failed fit has no scores
    summary = pd.read_csv(tmp_path / "suite.csv")
    assert summary["folds"].tolist() == ["1 / 2, 1 failed"]
    assert summary["failed"].tolist() == [1]
    assert summary["accuracy"].tolist() == [float(folds.loc[0, "accuracy"])]
    markdown = (tmp_path / "suite.md").read_text()
    assert "| 1 / 2, 1 failed |" in markdown
    assert "## Failed fits (not in the means above)" in markdown
    assert "| compas | logistic regression | 0 | 1 | RuntimeError: boom |" in markdown
    assert "compas: 1,000 held-out rows per fold (1,000 training rows)." in markdown


def test_quick_subsample_and_folds_are_stratified_by_group_and_label():
    full, quick = load_bench_data("adult"), load_bench_data("adult", quick=True)

    def strata(data):
        return pd.Series(data.groups).str.cat(pd.Series(data.y).astype(str), "|")

    expected = strata(full).value_counts() * len(quick.y) / len(full.y)
    counts = strata(quick).value_counts().reindex(expected.index, fill_value=0)
    # every stratum gets its share, rounded down or up
    assert ((counts == np.floor(expected)) | (counts == np.ceil(expected))).all()
    levels = {g.split("/")[1] for g in full.groups}
    assert len(levels) == 5
    for _, _, _, test in fold_splits(quick, 5, 2):
        assert {g.split("/")[1] for g in quick.groups[test]} == levels
