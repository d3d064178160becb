"""The report of an evaluation model: a table, a verdict and a plot."""

_LINKS = {"binomial": "logit", "poisson": "log", "gaussian": "identity"}
_PASS, _FAIL = "\N{CHECK MARK}", "\N{BALLOT X}"


def _format_p(p):
    return "<0.001" if p < 0.001 else f"{p:.3f}"


class OrthogonalityReport:
    """Result of :func:`check_orthogonality`: coefficients, p-values, verdict.

    Parameters
    ----------
    table : DataFrame
        One row per output and encoded protected column.
    family : str
        Family of the evaluation GLM.
    family_inferred : bool
        Whether the family was inferred from the predictions.
    scale : {"response", "link"}
        Scale of the predictions.
    dispersion : {"family", "estimated"}
        How the dispersion was set.
    dispersions : dict
        The dispersion used for each output.
    statistic : {"z", "t"}
        The test statistic.
    alpha : float
        Significance level.
    max_effect : float or None
        Largest absolute coefficient that passes, if any.
    n_samples : int
        Number of predictions.
    nonlinear : bool
        Whether the random-forest check was run.
    reference_levels : dict, default=None
        The reference (dropped) level of each label protected column, by
        column name: a term ``sex_M`` is the effect of ``M`` against it.

    Attributes
    ----------
    passed : bool
        Whether every protected coefficient passes.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.evaluation import check_orthogonality
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, 200)
    >>> report = check_orthogonality(rng.normal(size=200), s)
    >>> print(report)  # doctest: +NORMALIZE_WHITESPACE
    Evaluation model: gaussian GLM (identity link, inferred), dispersion
    estimated, t-tests, n = 200
    term    y_pred
    s0      0.008 (0.958) ✓
    Verdict: PASS (alpha = 0.05; cells are coefficient (p-value))
    """

    def __init__(
        self,
        *,
        table,
        family,
        family_inferred,
        scale,
        dispersion,
        dispersions,
        statistic,
        alpha,
        max_effect,
        n_samples,
        nonlinear,
        reference_levels=None,
    ):
        self.table = table
        self.family = family
        self.family_inferred = family_inferred
        self.scale = scale
        self.dispersion = dispersion
        self.dispersions = dispersions
        self.statistic = statistic
        self.alpha = alpha
        self.max_effect = max_effect
        self.n_samples = n_samples
        self.nonlinear = nonlinear
        self.reference_levels = dict(reference_levels or {})

    @property
    def passed(self):
        """Whether every protected coefficient passes."""
        return bool(self.table["passed"].all())

    @property
    def failed_terms(self):
        """The ``(output, term)`` pairs that fail."""
        failed = self.table.loc[~self.table["passed"], ["output", "term"]]
        return list(failed.itertuples(index=False, name=None))

    def to_frame(self):
        """Return the table as a DataFrame (a copy).

        Returns
        -------
        DataFrame
            Columns ``output, term, coef, std_err, statistic, p_value,
            ci_lower, ci_upper`` (plus ``rf_importance, rf_p_value`` with the
            nonlinear check) and ``passed``.
        """
        return self.table.copy()

    def _header(self):
        how = "inferred" if self.family_inferred else "given"
        if self.family == "gaussian" or self.dispersion == "estimated":
            dispersion = "dispersion estimated"
        else:
            dispersion = "dispersion 1"
        scale = ", link-scale predictions" if self.scale == "link" else ""
        return (
            f"Evaluation model: {self.family} GLM ({_LINKS[self.family]} link, "
            f"{how}), {dispersion}, {self.statistic}-tests, n = {self.n_samples}"
            f"{scale}"
        )

    def _cells(self):
        cells = {}
        for row in self.table.itertuples(index=False):
            text = f"{row.coef:.3f} ({_format_p(row.p_value)})"
            if self.nonlinear:
                text += f" rf {row.rf_importance:.3f} ({_format_p(row.rf_p_value)})"
            mark = _PASS if row.passed else _FAIL
            if getattr(row, "note", ""):
                mark += " *"  # explained by a "Note" line under the table
            cells[(row.term, row.output)] = f"{text} {mark}"
        return cells

    def _notes(self):
        """``Note (output): ...`` lines, one per output that has a note."""
        if "note" not in self.table:
            return []
        notes = self.table.loc[self.table["note"] != "", ["output", "note"]]
        return [
            f"Note ({output}): {note}"
            for output, note in dict.fromkeys(notes.itertuples(index=False, name=None))
        ]

    def __str__(self):
        outputs = list(dict.fromkeys(self.table["output"]))
        terms = list(dict.fromkeys(self.table["term"]))
        cells = self._cells()
        rows = [["term", *outputs]]
        rows += [[t, *(cells.get((t, o), "") for o in outputs)] for t in terms]
        widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
        lines = [self._header()]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in rows
        ]
        if self.passed:
            verdict = "PASS"
        else:
            verdict = f"FAIL ({len(self.failed_terms)} of {len(self.table)} terms)"
        what = "coefficient (p-value)"
        if self.nonlinear:
            what += ", random-forest importance (permutation p-value)"
        limit = (
            f", |coef| <= {self.max_effect:g}" if self.max_effect is not None else ""
        )
        lines += self._notes()
        lines.append(
            f"Verdict: {verdict} (alpha = {self.alpha:g}{limit}; cells are {what})"
        )
        return "\n".join(lines)

    def __repr__(self):
        verdict = "passed" if self.passed else "failed"
        return (
            f"<OrthogonalityReport: {self.family} GLM, {len(self.table)} term(s), "
            f"{verdict}>"
        )

    def plot(self, *others, labels=None, ax=None):
        """Draw the coefficients with confidence intervals, beside other reports.

        Parameters
        ----------
        *others : OrthogonalityReport
            Further reports drawn side by side (e.g. after a correction).
        labels : sequence of str, optional
            One legend label per report (``self`` first).
        ax : matplotlib Axes, optional
            Axes to draw into; a new figure is made when omitted.

        Returns
        -------
        ax : matplotlib Axes
        """
        return plot_reports([self, *others], labels=labels, ax=ax)


def plot_reports(reports, *, labels=None, ax=None):
    """Draw the coefficients of several reports side by side.

    A shortcut for :class:`~orthokit.evaluation.OrthogonalityDisplay`.

    Parameters
    ----------
    reports : sequence of OrthogonalityReport
    labels : sequence of str, optional
        Legend labels; ``report 1, report 2, ...`` when omitted.
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from orthokit.evaluation import check_orthogonality, plot_reports
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, 200)
    >>> before = check_orthogonality(rng.normal(size=200) + s, s)
    >>> after = check_orthogonality(rng.normal(size=200), s)
    >>> ax = plot_reports([before, after], labels=["before", "after"])
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['before (failed)', 'after (passed)']
    """
    from orthokit.evaluation._display import OrthogonalityDisplay

    return OrthogonalityDisplay(reports, labels).plot(ax=ax).ax_
