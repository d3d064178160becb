"""Tables and plots of the suite's results."""

import os

import numpy as np
import pandas as pd

from orthokit._bench._methods import METHODS
from orthokit._files import save_figure

#: The orthogonalization paper's Table 3 (accuracy without -> with correction).
PAPER_TABLE3 = {"adult": (0.854, 0.833), "compas": (0.739, 0.724)}


def _format_p(p):
    return "–" if np.isnan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def summarize(rows):
    """Mean over folds per data set and method; coefficient cells as text.

    Returns
    -------
    DataFrame
        ``accuracy`` and ``auc`` (mean and standard deviation over folds),
        ``fit_seconds`` (mean), ``max |coef|`` (mean over folds of the largest
        held-out evaluation coefficient) and one ``coef (median p)`` cell per
        protected term.

    Examples
    --------
    >>> from orthokit._bench import run_suite
    >>> rows = run_suite(datasets=["compas"], methods=["logistic regression"],
    ...                  folds=2, repeats=1, quick=True, progress=False)
    >>> list(summarize(rows).columns[:4])
    ['dataset', 'method', 'accuracy', 'accuracy sd']
    """
    out = []
    for (dataset, method), group in rows.groupby(["dataset", "method"], sort=False):
        coefs = group.filter(like="coef[").dropna(axis=1, how="all")
        row = {
            "dataset": dataset,
            "method": method,
            "accuracy": group["accuracy"].mean(),
            "accuracy sd": group["accuracy"].std(ddof=1) if len(group) > 1 else 0.0,
            "auc": group["auc"].mean(),
            "fit s": group["fit_seconds"].mean(),
            "max |coef|": coefs.abs().max(axis=1).mean(),
            "folds p<0.05": int((group.filter(like="p[").min(axis=1) < 0.05).sum()),
            "folds": len(group),
        }
        for column in coefs.columns:
            term = column[len("coef[") : -1]
            row[term] = (
                f"{group[column].mean():.3f} "
                f"({_format_p(group[f'p[{term}]'].median())})"
            )
        out.append(row)
    return pd.DataFrame(out)


def _markdown(frame, digits=3):
    def cell(value):
        if isinstance(value, float | np.floating):
            return "–" if np.isnan(value) else f"{value:.{digits}g}"
        return str(value)

    def escape(text):
        return str(text).replace("|", "\\|")

    lines = ["| " + " | ".join(escape(c) for c in frame.columns) + " |"]
    lines.append("|" + "---|" * frame.shape[1])
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(escape(cell(v)) for v in row) + " |")
    return "\n".join(lines)


def table3(summary):
    """Put the paper's Table 3 beside ours: accuracy without and with correction.

    Protected columns are predictors in both; "without" is logistic
    regression on features and protected columns, "with" is
    ``OrthogonalLogisticRegression(protected_as_predictors=True)``.

    Examples
    --------
    >>> table3(pd.DataFrame(columns=["dataset", "method"])).shape[0]
    0
    """
    rows = []
    for dataset, (paper_before, paper_after) in PAPER_TABLE3.items():
        part = summary[summary["dataset"] == dataset].set_index("method")
        before_name = "logistic regression + protected"
        after_name = "OrthogonalLogisticRegression + protected"
        if before_name not in part.index or after_name not in part.index:
            continue
        before, after = part.loc[before_name], part.loc[after_name]
        rows.append(
            {
                "data": dataset,
                "accuracy without": before["accuracy"],
                "accuracy with": after["accuracy"],
                "cost": after["accuracy"] - before["accuracy"],
                "max |coef| without": before["max |coef|"],
                "max |coef| with": after["max |coef|"],
                "paper without → with": f"{paper_before} → {paper_after}",
                "paper cost": round(paper_after - paper_before, 3),
            }
        )
    return pd.DataFrame(rows)


def plot_tradeoff(summary, path):
    """Accuracy against the largest held-out evaluation coefficient, per data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False
    )
    markers = dict(zip(METHODS, "osDX^v*P", strict=True))
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = summary[summary["dataset"] == dataset]
        for row in part.itertuples(index=False):
            ax.errorbar(
                row[part.columns.get_loc("max |coef|")], row.accuracy,
                yerr=row[part.columns.get_loc("accuracy sd")],
                marker=markers.get(row.method, "o"), linestyle="none",
                label=row.method, capsize=3,
            )  # fmt: skip
        ax.set_title(dataset)
        ax.set_xlabel("max |held-out evaluation coefficient| (0: orthogonal)")
        ax.set_ylabel("held-out accuracy")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    try:
        save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)
    return path


def write_results(rows, out, *, settings=""):
    """Write ``suite.md``, ``suite.csv`` (summary), ``folds.csv`` and a plot to ``out``.

    Returns
    -------
    dict
        Paths of the written files, by kind.
    """
    os.makedirs(out, exist_ok=True)
    summary = summarize(rows)
    paths = {
        "markdown": os.path.join(out, "suite.md"),
        "summary": os.path.join(out, "suite.csv"),
        "folds": os.path.join(out, "folds.csv"),
    }
    rows.to_csv(paths["folds"], index=False)
    summary.to_csv(paths["summary"], index=False)
    lines = ["# orthokit bench: cross-validated suite", "", settings, ""]
    for dataset, part in summary.groupby("dataset", sort=False):
        part = part.drop(columns="dataset").dropna(axis=1, how="all")
        lines += [f"## {dataset}", "", _markdown(part), ""]
    table = table3(summary)
    if len(table):
        lines += [
            "## The paper's Table 3 (protected columns also predictors)",
            "",
            _markdown(table),
            "",
        ]
    try:
        paths["plot"] = plot_tradeoff(summary, os.path.join(out, "tradeoff.png"))
        lines += ["![accuracy against evaluation coefficient](tradeoff.png)", ""]
    except ImportError:
        lines += ["(install matplotlib for the accuracy/coefficient plot)", ""]
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return paths
