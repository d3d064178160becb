"""One look for every coefficient plot: :class:`OrthogonalityDisplay`.

The demo, ``orthokit audit --plot``, :meth:`OrthogonalityReport.plot` and
:func:`plot_reports` all draw through it, as scikit-learn's ``*Display``
objects do: ``from_report`` / ``from_estimator`` compute and draw, ``plot``
redraws into any axes, and the artists are kept on the object.
"""

import numpy as np

from orthokit.evaluation._report import OrthogonalityReport


class OrthogonalityDisplay:
    """Evaluation coefficients with confidence intervals, one row per term.

    Terms run from top to bottom in the order of the report's table; each
    report is one marker series, its legend label says whether it passed,
    and the title gives the verdicts. Reference levels, when known, are
    named under the axis (each term compares a level with its reference).

    Parameters
    ----------
    reports : sequence of OrthogonalityReport
    labels : sequence of str, optional
        One legend label per report; ``report 1, report 2, ...`` by default.
    reference_levels : dict, optional
        Reference (dropped) level of each categorical protected column.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    errorbars_ : list of matplotlib containers
        One per report.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from orthokit.evaluation import OrthogonalityDisplay, check_orthogonality
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, 200)
    >>> before = check_orthogonality(rng.normal(size=200) + s, s)
    >>> after = check_orthogonality(rng.normal(size=200), s)
    >>> display = OrthogonalityDisplay.from_report(
    ...     before, after, labels=["before", "after"])
    >>> [t.get_text() for t in display.ax_.get_legend().get_texts()]
    ['before (failed)', 'after (passed)']
    >>> display.ax_.get_title()
    'before: FAIL, after: PASS'
    """

    def __init__(self, reports, labels=None, reference_levels=None):
        reports = list(reports)
        if not reports or not all(isinstance(r, OrthogonalityReport) for r in reports):
            raise TypeError("plotting needs one or more OrthogonalityReport objects.")
        if labels is None:
            labels = [f"report {i + 1}" for i in range(len(reports))]
        labels = [str(label) for label in labels]
        if len(labels) != len(reports):
            raise ValueError(
                f"labels has {len(labels)} entries but there are {len(reports)} "
                "reports."
            )
        self.reports = reports
        self.labels = labels
        self.reference_levels = dict(reference_levels or {})

    @classmethod
    def from_report(cls, *reports, labels=None, reference_levels=None, ax=None,
                    title=None):  # fmt: skip
        """Draw one or more reports side by side.

        Parameters
        ----------
        *reports : OrthogonalityReport
        labels : sequence of str, optional
        reference_levels : dict, optional
        ax : matplotlib Axes, optional
        title : str, optional
            Replaces the verdict title.

        Returns
        -------
        OrthogonalityDisplay
        """
        return cls(reports, labels, reference_levels).plot(ax=ax, title=title)

    @classmethod
    def from_estimator(cls, estimator, X, protected, *, label=None, ax=None,
                       title=None, **kwargs):  # fmt: skip
        """Check a fitted estimator's predictions and draw the report.

        Parameters
        ----------
        estimator : fitted estimator
        X : array-like or DataFrame
            Input of the estimator, with the protected columns.
        protected : str, int or sequence of str or int
        label : str, optional
            Legend label; the estimator's class name by default.
        ax : matplotlib Axes, optional
        title : str, optional
        **kwargs
            Passed to :func:`~orthokit.evaluation.check_estimator_orthogonality`.

        Returns
        -------
        OrthogonalityDisplay
        """
        from orthokit.evaluation._estimator import check_estimator_orthogonality

        report = check_estimator_orthogonality(estimator, X, protected, **kwargs)
        label = type(estimator).__name__ if label is None else label
        return cls.from_report(report, labels=[label], ax=ax, title=title)

    def plot(self, ax=None, title=None):
        """Draw into ``ax`` (a new figure when omitted).

        Parameters
        ----------
        ax : matplotlib Axes, optional
        title : str, optional
            Replaces the verdict title.

        Returns
        -------
        self
        """
        import matplotlib.pyplot as plt

        keys = []
        for report in self.reports:
            for row in report.table.itertuples(index=False):
                if (row.output, row.term) not in keys:
                    keys.append((row.output, row.term))
        if ax is None:
            _, ax = plt.subplots(figsize=(7.0, 1.6 + 0.45 * len(keys)))
        single_output = len({k[0] for k in keys}) == 1
        position = {k: i for i, k in enumerate(keys)}
        width = 0.6 / len(self.reports)
        self.errorbars_ = []
        for i, (report, label) in enumerate(
            zip(self.reports, self.labels, strict=True)
        ):
            table = report.table
            rows = zip(table["output"], table["term"], strict=True)
            y = np.array([position[k] for k in rows], dtype=float)
            y += (i - (len(self.reports) - 1) / 2) * width
            coef = table["coef"].to_numpy()
            err = np.vstack([coef - table["ci_lower"], table["ci_upper"] - coef])
            verdict = "passed" if report.passed else "failed"
            self.errorbars_.append(
                ax.errorbar(
                    coef, y, xerr=err, fmt="o", capsize=3, label=f"{label} ({verdict})"
                )
            )
        ax.axvline(0.0, color="0.5", linewidth=1, linestyle="--")
        ax.set_yticks(
            range(len(keys)),
            [k[1] if single_output else f"{k[0]}: {k[1]}" for k in keys],
        )
        ax.set_ylim(len(keys) - 0.5, -0.5)  # the table's first term on top
        report = self.reports[0]
        how = "inferred" if report.family_inferred else "given"
        xlabel = (
            f"{report.family} evaluation coefficient ({how}), "
            f"{100 * (1 - report.alpha):g}% confidence interval"
        )
        if self.reference_levels:
            levels = ", ".join(f"{k} = {v}" for k, v in self.reference_levels.items())
            xlabel += f"\nreference levels: {levels}"
        ax.set_xlabel(xlabel)
        verdicts = ", ".join(
            f"{label}: {'PASS' if r.passed else 'FAIL'}"
            for r, label in zip(self.reports, self.labels, strict=True)
        )
        ax.set_title(verdicts if title is None else title)
        ax.legend(loc="best", fontsize=8)
        self.ax_, self.figure_ = ax, ax.figure
        return self
