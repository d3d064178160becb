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
    """Mean over the folds that ran, per data set and method; coefficients as text.

    Failed folds (``status`` not ``"ok"``) are counted, never averaged.

    Returns
    -------
    DataFrame
        ``accuracy`` and ``auc`` (mean and standard deviation over folds),
        ``fit_seconds`` (mean), ``max |coef|`` (mean over folds of the largest
        held-out evaluation coefficient), ``folds`` (``"10 / 10"``, or e.g.
        ``"9 / 10, 1 failed"``), ``failed`` and ``error`` (the first failed
        fold's), ``notes`` (folds whose evaluation left a level out) and one
        ``coef (median p)`` cell per protected term (with the number of
        folds where fewer estimated it).

    Examples
    --------
    >>> from orthokit._bench import run_suite
    >>> rows = run_suite(datasets=["compas"], methods=["logistic regression"],
    ...                  folds=2, repeats=1, quick=True, progress=False)
    >>> list(summarize(rows).columns[:4])
    ['dataset', 'method', 'accuracy', 'accuracy sd']
    >>> summarize(rows)["folds"].tolist()
    ['2 / 2']
    """
    out = []
    for (dataset, method), group in rows.groupby(["dataset", "method"], sort=False):
        status = group["status"] if "status" in group else pd.Series("ok", group.index)
        ran, failed = group[status == "ok"], group[status != "ok"]
        coefs = ran.filter(like="coef[").dropna(axis=1, how="all")
        row = {
            "dataset": dataset,
            "method": method,
            "accuracy": ran["accuracy"].mean(),
            "accuracy sd": ran["accuracy"].std(ddof=1) if len(ran) != 1 else 0.0,
            "auc": ran["auc"].mean(),
            "fit s": ran["fit_seconds"].mean(),
            "max |coef|": coefs.abs().max(axis=1).mean(),
            "folds p<0.05": int((ran.filter(like="p[").min(axis=1) < 0.05).sum()),
            "folds": f"{len(ran)} / {len(group)}"
            + (f", {len(failed)} failed" if len(failed) else ""),
            "failed": len(failed),
            "error": failed["error"].iloc[0] if len(failed) else "",
            "notes": int((ran["note"].fillna("") != "").sum()) if "note" in ran else 0,
        }
        for column in coefs.columns:
            term = column[len("coef[") : -1]
            estimated = int(ran[column].notna().sum())
            count = f"; {estimated} folds" if estimated < len(ran) else ""
            row[term] = (
                f"{ran[column].mean():.3f} "
                f"({_format_p(ran[f'p[{term}]'].median())}{count})"
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
    """Accuracy against the largest held-out evaluation coefficient, per data set.

    Means over the folds that ran; a method with failed folds says so in the
    legend (e.g. "OrthogonalLogisticRegression (9 / 10, 1 failed)").
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(summary["dataset"]))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False
    )
    markers = dict(zip(METHODS, "osD^v*P", strict=True))
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for row in summary[summary["dataset"] == dataset].to_dict("records"):
            failed = row.get("failed", 0)  # failed folds are not in the means
            ax.errorbar(
                row["max |coef|"], row["accuracy"], yerr=row["accuracy sd"],
                marker=markers.get(row["method"], "o"), linestyle="none",
                label=row["method"] + (f" ({row['folds']})" if failed else ""),
                capsize=3,
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


def fold_sizes(rows, dataset):
    """Say how many held-out and training rows the folds of a data set have.

    Examples
    --------
    >>> rows = pd.DataFrame({"dataset": ["a", "a"], "n_test": [400, 401],
    ...                      "n_train": [1601, 1600]})
    >>> fold_sizes(rows, "a")
    'a: 400-401 held-out rows per fold (1,600-1,601 training rows)'
    """

    def span(values):
        low, high = values.min(), values.max()
        return f"{low:,}" if low == high else f"{low:,}-{high:,}"

    part = rows[rows["dataset"] == dataset]
    return (
        f"{dataset}: {span(part['n_test'])} held-out rows per fold "
        f"({span(part['n_train'])} training rows)"
    )


def write_results(rows, out, *, settings=""):
    """Write ``suite.md``, ``suite.csv`` (summary), ``folds.csv`` and a plot to ``out``.

    ``folds.csv`` has one row per fit with its ``status``, ``error`` and
    evaluation ``note``; the summaries and the plot average the folds that
    ran, and ``suite.md`` lists the failed fits and the notes.

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
        part = part.drop(columns=["dataset", "failed"]).dropna(axis=1, how="all")
        part = part.drop(columns=[c for c in ("error", "notes") if not part[c].any()])
        lines += [f"## {dataset}", "", fold_sizes(rows, dataset) + ".", ""]
        lines += [_markdown(part), ""]
    failed = rows[rows["status"] != "ok"]
    if len(failed):
        columns = ["dataset", "method", "repeat", "fold", "error"]
        lines += ["## Failed fits (not in the means above)", ""]
        lines += [_markdown(failed[columns]), ""]
    notes = rows[rows["note"] != ""].drop_duplicates(["dataset", "repeat", "fold"])
    if len(notes):
        lines += ["## Evaluation notes (held-out folds without some level)", ""]
        lines += [_markdown(notes[["dataset", "repeat", "fold", "note"]]), ""]
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
