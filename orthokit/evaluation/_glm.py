"""The evaluation model: regress predictions on the protected columns.

A prediction is free of the protected attributes ``S`` when a GLM of the
prediction on ``[1, S]`` (same family and canonical link as the prediction
model) finds no effect of ``S``. statsmodels fits the GLM; this module picks the
family, validates the input, turns statsmodels' warnings and errors into
messages with context and collects the numbers into an
:class:`~orthokit.evaluation.OrthogonalityReport`.
"""

import numbers
import warnings

import numpy as np
import pandas as pd

from orthokit._dask import is_dask_collection
from orthokit._inputs import shown
from orthokit._inputs._paired import (
    check_estimable,
    check_pairing,
    encode_reference,
    read_outputs,
)
from orthokit._linalg import power_of_two_scale
from orthokit.evaluation._cells import (
    Cells,
    pearson,
    perfect_fit,
    saturated_start,
)
from orthokit.evaluation._dask_cells import read_dask
from orthokit.evaluation._dask_irls import DaskRows, dask_forest_table, fit_rows
from orthokit.evaluation._nonlinear import _nonlinear_table
from orthokit.evaluation._report import OrthogonalityReport

FAMILIES = ("binomial", "poisson", "gaussian")


class PerfectSeparationError(ValueError):
    """The protected columns determine the predictions exactly.

    Raised when the binomial or Poisson evaluation GLM has no finite maximum
    likelihood estimate. Such predictions are as far from orthogonal as they can
    be, so :func:`check_orthogonality` does not return a (misleading) report.
    """


def _family(name):
    import statsmodels.api as sm

    return {
        "binomial": sm.families.Binomial,
        "poisson": sm.families.Poisson,
        "gaussian": sm.families.Gaussian,
    }[name]()


def _infer_family(values, scale, integral=None):
    if scale == "link":
        return "gaussian"
    if ((values >= 0) & (values <= 1)).all():
        return "binomial"
    if integral is None:
        integral = (values == np.round(values)).all()
    if (values >= 0).all() and integral:
        return "poisson"
    return "gaussian"


def _check_family_domain(values, family, name):
    if family == "binomial" and not ((values >= 0) & (values <= 1)).all():
        low, high = values.min(), values.max()
        raise ValueError(
            f"predictions {name!r} must be probabilities in [0, 1] for "
            f"family='binomial', got values in [{low:.4g}, {high:.4g}]. Pass "
            "scale='link' for link-scale values or family='gaussian'."
        )
    if family == "poisson" and (values < 0).any():
        raise ValueError(
            f"predictions {name!r} must be non-negative for family='poisson', got a "
            f"minimum of {values.min():.4g}."
        )


# statsmodels flags perfect separation when every fitted value is within
# np.allclose's default 1e-8 of the response; a response whose spread is below
# twice that is fitted "perfectly" by its mean alone.
_SEPARATION_ATOL = 1e-8


def _resolution(y, family, link):
    """Spread below which predictions count as constant for the family."""
    relative = np.sqrt(np.finfo(np.float64).eps) * np.abs(y).max()
    if family == "gaussian" and not link:
        return relative  # arbitrary units: only relative rounding matters
    return max(2 * _SEPARATION_ATOL, relative)


def _constant_table(y, names, output, resolution):
    note = (
        f"predictions nearly constant (spread {np.ptp(y):.3g} <= the family's "
        f"resolution {resolution:.3g}): no dependence on the protected columns "
        "is measurable; coefficients reported as 0"
    )
    zeros = np.zeros(len(names))
    return pd.DataFrame(
        {
            "output": output,
            "term": names,
            "coef": zeros,
            "std_err": zeros,
            "statistic": zeros,
            "p_value": np.ones(len(names)),
            "ci_lower": zeros,
            "ci_upper": zeros,
            "note": note,
        }
    )


def _cell_model(cells, family, scale):
    """Return the evaluation GLM on one row per cell, and its fixed scale.

    The score and information of the GLM on the cell means weighted by the
    cell counts (statsmodels' ``freq_weights``) are those of all rows, with the
    residual degrees of freedom ``n - p`` (see :mod:`._cells`). With one
    categorical column the model is saturated: the fitted mean of a level is
    the mean of its predictions, known in closed form (the start of IRLS), and
    so are a perfect fit and the Pearson statistic. Otherwise ``scale`` is
    ``"X2"`` when it must be estimated after the fit.
    """
    means = cells.mean[:, 0]
    saturated = len(cells.sizes) == 1 and len(means) == cells.sizes[0]
    if not saturated:
        fixed = "X2" if scale is None and family == "gaussian" else scale
        return means, cells.design(), cells.n, fixed, None, None
    separated = family != "gaussian" and perfect_fit(cells, means)
    if scale is None and family != "gaussian":
        fixed = None
    elif isinstance(scale, float):
        fixed = scale
    else:  # Pearson's statistic of the saturated fit, over the rows
        variance = _family(family).variance(means) if family != "gaussian" else 1.0
        fixed = pearson(cells, means, variance) / max(cells.n_total - len(means), 1)
    start = saturated_start(cells, family, _family(family).link)
    return means, cells.design(), cells.n, fixed, separated, start


def _fit_glm(y, S, names, family, dispersion, alpha, output, link=False, cells=None):
    """Fit one evaluation GLM; return its table and the statistic's name.

    ``cells`` (a :class:`~._cells.Cells` of one output) stand for ``y`` and
    ``S`` when every protected column is categorical: the GLM is then fitted
    on one row per cell (:func:`_cell_model`). Dask rows with numeric
    protected columns (a :class:`~._dask_irls.DaskRows` of one output) stand
    for them otherwise: the GLM is fitted by block reductions
    (:func:`~._dask_irls.fit_rows`).
    """
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    rows = cells if isinstance(cells, DaskRows) else None
    cells = None if rows is not None else cells
    if rows is not None or cells is not None:
        y = (rows or cells).extremes()[:, 0]  # all the checks below need of the rows
    resolution = _resolution(y, family, link)
    if np.ptp(y) <= resolution:
        return _constant_table(y, names, output, resolution), None, 0.0
    # Exact power-of-two rescaling keeps columns (and Gaussian responses) of
    # size 1e300 or 1e-300 from overflowing or underflowing inside statsmodels;
    # coefficients, errors and intervals are scaled back, statistics unchanged.
    # A Gaussian response is also centred (the slopes do not change), so a
    # small spread around a large mean is not mistaken for a perfect fit.
    # Poisson responses (counts near 1e300) are rescaled too: the slopes do not
    # change, and fixing the dispersion at the scale factor keeps the
    # covariance of the original problem (the variance is linear in the mean).
    if rows is not None:
        s_pow = rows.s_pow
    else:
        s_pow = power_of_two_scale(S) if cells is None else np.ones(len(names))
    scale = "X2" if dispersion == "estimated" else None
    y_pow, unscale, variance_power = 1.0, s_pow, 0
    if family == "gaussian":
        first = power_of_two_scale(y[:, None])[0]
        response = y * first
        centre = (
            response.mean()
            if cells is None and rows is None
            else (rows or cells).grand_mean()[0] * first
        )
        response = response - centre
        second = power_of_two_scale(response[:, None])[0]
        response, y_pow = response * second, first * second
        if cells is not None:
            cells = cells.affine(y_pow, -centre * second)
        unscale, variance_power = s_pow / y_pow, 2
    elif family == "poisson" and not 2.0**-300 < y.max() < 2.0**300:
        y_pow, variance_power = power_of_two_scale(y[:, None])[0], 1
        response, scale = y * y_pow, scale or y_pow
        cells = None if cells is None else cells.affine(y_pow, 0.0)
    else:
        response = y
        cells = None if cells is None else cells.affine(1.0, 0.0)
    weights, separated, start = None, False, None
    if rows is not None:  # the response, as computed above, row by row
        affine = (first, centre, second) if family == "gaussian" else (y_pow, 0, 1)
    elif cells is None:
        design = np.column_stack([np.ones(len(y)), S * s_pow])
    else:
        response, design, weights, scale, separated, start = _cell_model(
            cells, family, scale
        )
    use_t = family == "gaussian" or dispersion == "estimated"
    context = f"evaluation GLM (family={family!r}) of {output!r} on {shown(names)}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # On one row per level the inner least squares of IRLS has no
            # residual degree of freedom; its scale (0/0) is not used.
            with np.errstate(divide="ignore", invalid="ignore"):
                if rows is not None:
                    result, scale, separated = fit_rows(
                        rows, _family(family), scale, use_t, affine
                    )
                else:
                    result, scale, separated = _fit_model(
                        response, design, family, weights, scale, use_t, start,
                        cells, separated,
                    )  # fmt: skip
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:
            raise ValueError(f"the {context} could not be fitted: {exc}") from None
    if cells is None and rows is None:
        separated = any(
            issubclass(w.category, PerfectSeparationWarning) for w in caught
        )
    caught = [w for w in caught if not issubclass(w.category, PerfectSeparationWarning)]
    if separated or not np.isfinite(result.bse).all():
        raise PerfectSeparationError(
            f"the {context} shows perfect separation: the protected columns "
            "determine the predictions exactly (e.g. one level always predicts "
            "0), so the coefficients have no finite estimate. The predictions are "
            "not free of the protected attributes."
        )
    for w in caught:
        warnings.warn(f"{context}: {w.message}", UserWarning, stacklevel=4)
    ci = np.asarray(result.conf_int(alpha=alpha))
    table = pd.DataFrame(
        {
            "output": output,
            "term": names,
            "coef": np.asarray(result.params)[1:] * unscale,
            "std_err": np.asarray(result.bse)[1:] * unscale,
            "statistic": np.asarray(result.tvalues)[1:],
            "p_value": np.asarray(result.pvalues)[1:],
            "ci_lower": ci[1:, 0] * unscale,
            "ci_upper": ci[1:, 1] * unscale,
            "note": "",
        }
    )
    # The dispersion of responses of size 1e300 is 1e600: inf, not a warning.
    with np.errstate(over="ignore", divide="ignore"):
        dispersion = float(result.scale) / y_pow**variance_power
    return table, ("t" if use_t else "z"), dispersion


def _fit_model(
    response, design, family, weights, scale, use_t, start, cells, separated
):
    """Fit the GLM on the rows or the cells; return ``(result, scale, separated)``."""
    import statsmodels.api as sm

    model = sm.GLM(response, design, family=_family(family), freq_weights=weights)
    if separated is None:  # cells of several columns
        result, scale = _fit_cells(model, cells, scale, use_t)
        separated = family != "gaussian" and perfect_fit(cells, result.fittedvalues)
        return result, scale, separated
    return model.fit(scale=scale, use_t=use_t, start_params=start), scale, separated


def _fit_cells(model, cells, scale, use_t):
    """IRLS on cells of several columns; an estimated scale from the rows.

    The coefficients do not depend on the scale: a first fit gives the fitted
    cell means, hence Pearson's statistic of the rows, and a second fit from
    the estimate fixes that scale for the inference.
    """
    result = model.fit(tol=_CELLS_TOL, use_t=use_t)
    if not isinstance(scale, str):
        return (result if scale is None else model.fit(
            scale=scale, use_t=use_t, tol=_CELLS_TOL, start_params=result.params
        )), scale  # fmt: skip
    fitted = np.asarray(result.fittedvalues)
    variance = model.family.variance(fitted)
    fixed = pearson(cells, fitted, variance) / max(
        cells.n_total - len(result.params), 1
    )
    result = model.fit(
        scale=fixed, use_t=use_t, tol=_CELLS_TOL, start_params=result.params
    )
    return result, fixed


_CELLS_TOL = 1e-13


def _validate_options(family, scale, dispersion, alpha, max_effect):
    if scale not in ("response", "link"):
        raise ValueError(f"scale must be 'response' or 'link', got {scale!r}.")
    if family is not None and family not in FAMILIES:
        raise ValueError(
            f"family must be None (inferred) or one of {list(FAMILIES)}, got "
            f"{family!r}."
        )
    if scale == "link" and family not in (None, "gaussian"):
        raise ValueError(
            f"scale='link' values are regressed with family='gaussian', got "
            f"family={family!r}; use scale='response' for probabilities or counts."
        )
    if dispersion not in ("family", "estimated"):
        raise ValueError(
            f"dispersion must be 'family' or 'estimated', got {dispersion!r}."
        )
    if (
        not isinstance(alpha, numbers.Real)
        or isinstance(alpha, bool)
        or not 0 < alpha < 1
    ):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}.")
    if max_effect is not None and (
        not isinstance(max_effect, numbers.Real) or not max_effect >= 0
    ):
        raise ValueError(
            f"max_effect must be None or a non-negative number, got {max_effect!r}."
        )


def check_orthogonality(
    predictions,
    protected,
    *,
    family=None,
    scale="response",
    dispersion="family",
    alpha=0.05,
    max_effect=None,
    nonlinear=False,
    n_permutations=19,
    random_state=None,
    categorical=None,
):
    """Test whether predictions are free of the protected attributes.

    Fits the evaluation model of the papers: a GLM of each prediction on an
    intercept and the encoded protected columns (categorical columns one-hot
    encoded with the first level dropped, as the transformers do), with the
    family of the prediction model and its canonical link. A protected
    coefficient passes when it is not significant at ``alpha`` (and, with
    ``max_effect``, is also at most that large in absolute value).

    Parameters
    ----------
    predictions : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Probabilities, counts or values; or link-scale values with
        ``scale="link"``. Each column gets its own evaluation model.
    protected : array-like or DataFrame of shape (n_samples, n_protected)
        The protected columns: numeric columns are used as they are; boolean,
        categorical and string columns are one-hot encoded.
    family : {"binomial", "poisson", "gaussian"} or None, default=None
        Family of the evaluation GLM. ``None`` infers it: binomial (fractional
        response, logit link) for values in [0, 1], Poisson (log link) for
        non-negative integers, Gaussian otherwise and for ``scale="link"``.
    scale : {"response", "link"}, default="response"
        Whether ``predictions`` are on the response scale or the link scale
        (then the evaluation model is ordinary least squares).
    dispersion : {"family", "estimated"}, default="family"
        ``"family"`` uses the family's own dispersion (1 for binomial and
        Poisson) with z-tests, as R's ``glm`` does; ``"estimated"`` estimates it
        from the Pearson statistic (quasi-likelihood) and uses t-tests.
        Gaussian models always estimate it.
    alpha : float, default=0.05
        Significance level of the tests and ``1 - alpha`` confidence intervals.
    max_effect : float or None, default=None
        If given, a coefficient also needs ``|coef| <= max_effect`` to pass.
    nonlinear : bool, default=False
        Also run the random-forest permutation-importance check (see
        :func:`nonlinear_check`) and require its p-values to exceed ``alpha``.
    n_permutations : int, default=19
        Permutations of the nonlinear check.
    random_state : int, RandomState instance or None, default=None
        Seed of the nonlinear check.
    categorical : str, int or sequence of str or int, optional
        Numeric protected columns holding codes of levels (e.g. race coded
        1/2/3), by name or position in ``protected``: they are one-hot
        encoded (first level dropped). A numeric column with 3 to 10
        distinct integer values not named here gives a UserWarning.

    Returns
    -------
    report : OrthogonalityReport
        One row per output and encoded protected column; ``print(report)``
        shows the papers' table, ``report.passed`` the verdict. Predictions
        whose spread is below the family's resolution (``sqrt(eps)`` times
        their largest magnitude; at least ``2e-8``, the tolerance of
        statsmodels' separation check, except for response-scale Gaussian
        values) pass with coefficients 0 and an explanation in the table's
        ``note`` column (empty otherwise).

    Raises
    ------
    PerfectSeparationError
        When the protected columns determine binomial or Poisson predictions
        exactly.

    See Also
    --------
    check_estimator_orthogonality : The same, from a fitted estimator and X.
    distance_correlation : A nonlinear measure of dependence.

    Notes
    -----
    Dask arrays and data frames (both arguments) are reduced over their
    blocks, the rows never gathered: to one summary per combination of
    levels when every protected column is categorical, else by IRLS with one
    pass of block-wise reductions per iteration, statsmodels giving the
    inference on the reduced system. The report equals the in-memory one to
    1e-8; the nonlinear check draws and reads the same rows as in memory.
    Only one argument on dask computes both into memory, with a warning.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.evaluation import check_orthogonality
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.integers(0, 2, 500)
    >>> p_fair = rng.uniform(0.2, 0.8, 500)
    >>> report = check_orthogonality(p_fair, sex)
    >>> report.family, report.passed
    ('binomial', True)
    >>> p_biased = np.clip(p_fair + 0.2 * sex, 0, 1)
    >>> check_orthogonality(p_biased, sex).passed
    False
    """
    _validate_options(family, scale, dispersion, alpha, max_effect)
    cells = None
    if is_dask_collection(predictions) or is_dask_collection(protected):
        predictions, protected, cells, outputs, columns = read_dask(
            predictions, protected, categorical, nonlinear
        )
    if cells is None:
        values, outputs = read_outputs(predictions)
        check_pairing(predictions, protected)
        S, columns, codes = encode_reference(
            protected, values.shape[0], categorical=categorical, groups=not nonlinear
        )
        if codes is not None:
            cells = Cells.from_rows(*codes, values)
            check_estimable(cells.design()[:, 1:], columns.encoded_names_)
        extremes, integral, n_samples = values, None, values.shape[0]
    else:
        values = S = None
        extremes, integral = cells.extremes(), bool(cells.integral.all())
        n_samples = cells.n_total
    names = list(columns.encoded_names_)
    if family is None:
        family = _infer_family(extremes, scale, integral)
        inferred = True
    else:
        inferred = False
    tables = []
    dispersions = {}
    for j, output in enumerate(outputs):
        _check_family_domain(extremes[:, j], family, output)
        table, _, fitted_scale = _fit_glm(
            None if values is None else values[:, j], S, names, family, dispersion,
            alpha, output, scale == "link", None if cells is None else cells.output(j),
        )  # fmt: skip
        tables.append(table)
        dispersions[output] = fitted_scale
    statistic = "t" if family == "gaussian" or dispersion == "estimated" else "z"
    table = pd.concat(tables, ignore_index=True)
    passed = table["p_value"] > alpha
    if max_effect is not None:
        passed &= table["coef"].abs() <= max_effect
    nonlinear_table = None
    if nonlinear:
        nonlinear_table = pd.concat(
            [
                _nonlinear_table(
                    values[:, j], S, names, output, n_permutations, random_state
                )
                if values is not None
                else dask_forest_table(
                    cells.output(j), names, output, n_permutations, random_state
                )
                for j, output in enumerate(outputs)
            ],
            ignore_index=True,
        )
        table = table.merge(nonlinear_table, on=["output", "term"], how="left")
        passed &= table["rf_p_value"] > alpha
    table["passed"] = passed.to_numpy()
    return OrthogonalityReport(
        table=table,
        family=family,
        family_inferred=inferred,
        scale=scale,
        dispersion=dispersion,
        dispersions=dispersions,
        statistic=statistic,
        alpha=alpha,
        max_effect=max_effect,
        n_samples=n_samples,
        nonlinear=nonlinear,
        reference_levels={n: levels[0] for n, levels in columns.categories_.items()},
    )
