"""The ``orthokit`` command's contract: exit 0 pass, 1 fail, 2 anything else.

Every failure class exits 2 with one line on stderr and no traceback; plots
are written safely (never through a planted link, never to a folder).
"""

import builtins
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import orthokit
from orthokit import cli
from orthokit.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    sex = rng.choice(["F", "M"], n)
    fair = rng.uniform(0.2, 0.6, n)
    path = tmp_path / "predictions.csv"
    pd.DataFrame(
        {"fair": fair, "biased": fair + 0.3 * (sex == "M"), "sex": sex}
    ).to_csv(path, index=False)
    return path


def _audit(csv, *extra, column="fair"):
    argv = ["audit", csv, "--protected", "sex", "--prediction-column", column, *extra]
    return main([str(a) for a in argv])


def _one_error_line(err, command="audit"):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"orthokit {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("column, code", [("fair", 0), ("biased", 1)])
def test_pass_and_fail(csv, column, code):
    assert _audit(csv, column=column) == code


def _no_matplotlib(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def _permission_denied(monkeypatch):
    real_open = builtins.open

    def deny(path, *args, **kwargs):
        if str(path).endswith(".csv"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("orthokit.evaluation._audit.open", deny, raising=False)


def _out_of_memory(monkeypatch):
    def fail(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("orthokit.evaluation._audit.check_orthogonality", fail)


def _a_bug(monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("orthokit.evaluation._audit.check_orthogonality", fail)


@pytest.mark.parametrize(
    "break_it, extra, message",
    [
        (_no_matplotlib, ["--plot", "{tmp}/c.png"],
         "--plot needs the package 'matplotlib', which is not installed: pip install "
         "'orthokit[plot]' (from a source checkout: pip install -e '.[plot]')."),
        (_permission_denied, [], "permission denied: '{csv}'."),
        (_out_of_memory, [], "out of memory (too many rows, columns or levels"),
        (_a_bug, [], "unexpected RuntimeError: boom (please report this)."),
    ],
)  # fmt: skip
def test_every_failure_class_exits_2(
    csv, tmp_path, monkeypatch, capsys, break_it, extra, message
):
    break_it(monkeypatch)
    extra = [e.format(tmp=tmp_path) for e in extra]
    assert _audit(csv, *extra, column="biased") == 2
    line = _one_error_line(capsys.readouterr().err)
    assert message.format(csv=csv) in line
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org/p.csv",
        "https://example.org/p.csv",
        "s3://bucket/p.csv",
        "ftp://host/p.csv",
        "file:///etc/passwd",
    ],
)
def test_a_url_is_refused_before_pandas_sees_it(url, monkeypatch, capsys):
    def never(*args, **kwargs):
        raise AssertionError("pandas was asked to read a URL")

    monkeypatch.setattr(pd, "read_csv", never)
    assert main(["audit", url, "--protected", "sex"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert f"the CSV file {url!r} is a URL; orthokit reads local files only" in line


@pytest.mark.parametrize(
    "argv, message",
    [
        (["audit", "http://example.org/p.csv", "--protected", "sex"], "is a URL"),
        (["audit", "none.csv", "--protected", "sex"], "does not exist"),
        (["demo", "--plot", "."], "is a folder"),
    ],
)
def test_no_traceback_from_the_installed_command(tmp_path, argv, message):
    completed = subprocess.run(
        [sys.executable, "-m", "orthokit", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 2
    assert message in _one_error_line(completed.stderr, argv[0])


@pytest.mark.parametrize(
    "plot, message",
    [
        ("{tmp}", "is a folder; name a file in it"),
        ("{tmp}/coefficients", "has no extension, which picks the format"),
        ("{tmp}/coefficients.docx", "unknown plot format 'docx'"),
        ("{tmp}/no/such/folder/c.png", "does not exist"),
        ("https://example.org/c.png", "is a URL"),
    ],
)
@pytest.mark.parametrize("command", ["audit", "demo"])
def test_bad_plot_paths_exit_2_before_any_work(
    csv, tmp_path, capsys, command, plot, message
):
    plot = plot.format(tmp=tmp_path)
    before = sorted(os.listdir(tmp_path))
    if command == "audit":
        code = _audit(csv, "--plot", plot)
    else:
        code = main(["demo", "--plot", plot])
    assert code == 2
    captured = capsys.readouterr()
    assert message in _one_error_line(captured.err, command)
    assert captured.out == ""  # nothing was run
    assert sorted(os.listdir(tmp_path)) == before


def test_plot_replaces_a_planted_symlink_instead_of_following_it(csv, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "coef.png"
    link.symlink_to(victim)
    assert _audit(csv, "--plot", link, column="biased") == 1
    assert victim.read_text() == "precious"
    assert not link.is_symlink()
    assert link.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert oct(link.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".orthokit")] == []


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"orthokit {orthokit.__version__}\n"


@pytest.mark.parametrize(
    "command, expected",
    [
        ("bench", ["--suite {fairness,embeddings,all}", "(default: fairness)",
                   "fairness: adult, compas", "--repeats REPEATS", "(default: 2)",
                   "--backend {loky,dask}", "(default: loky)", "(default: 5)",
                   "(default: orthokit-bench)", "lr = logistic regression",
                   "--methods", "--datasets"]),
        ("demo", ["leak sex and race", "orthokit-demo.png in the working directory"]),
        ("audit", ["(default: response)", "(default: 0.05)", "--categorical",
                   "'NA' and 'None' are levels"]),
    ],
)  # fmt: skip
def test_help_shows_defaults(command, expected, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in expected:
        assert " ".join(text.split()) in out, text
    assert "(default: None)" not in out and "(default: False)" not in out


def test_every_flag_has_help():
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}"


def test_a_fifo_is_refused_without_blocking(tmp_path):
    # Opening a FIFO with no writer blocks; the command must refuse it first.
    fifo = tmp_path / "predictions.csv"
    os.mkfifo(fifo)
    completed = subprocess.run(
        [sys.executable, "-m", "orthokit", "audit", str(fifo), "--protected", "sex"],
        capture_output=True,
        text=True,
        timeout=120,  # a regression fails here instead of hanging the suite
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 2
    line = _one_error_line(completed.stderr)
    assert f"{str(fifo)!r} is not a regular file (a FIFO); " in line
