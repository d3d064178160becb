"""Nonlinear check: random-forest permutation importance of ``S``.

A linear evaluation model only sees linear effects of the protected columns.
Following the orthogonalization paper (section 6), a random forest regresses the
predictions on the protected columns; the permutation importance of each column
on held-out rows measures how much the forest uses it. Its p-value comes from
refitting the forest to permuted predictions, which breaks every dependence on
``S``: ``p = (1 + #{null importance >= observed}) / (1 + n_permutations)``.
"""

import numbers

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.utils import check_random_state

from orthokit._inputs._paired import check_pairing, encode_reference, read_outputs
from orthokit._linalg import power_of_two_scale

_MAX_ROWS = 5000  # a subsample keeps the check to seconds on large data


def _importances(y, S, train, test, seed, n_repeats=3):
    forest = RandomForestRegressor(
        n_estimators=50, min_samples_leaf=5, random_state=seed, n_jobs=1
    ).fit(S[train], y[train])
    rng = np.random.default_rng(seed)
    base = np.mean((forest.predict(S[test]) - y[test]) ** 2)
    out = np.empty(S.shape[1])
    for j in range(S.shape[1]):
        losses = []
        for _ in range(n_repeats):
            permuted = S[test].copy()
            permuted[:, j] = rng.permutation(permuted[:, j])
            losses.append(np.mean((forest.predict(permuted) - y[test]) ** 2))
        # Relative to the variance, so the importance reads like a drop in R^2.
        out[j] = (np.mean(losses) - base) / max(np.var(y[test]), 1e-300)
    return out


def _nonlinear_table(y, S, names, output, n_permutations, random_state):
    # The forest's splits are invariant to rescaling each column and the
    # importance is relative to the variance: exact power-of-two scales keep
    # values of 1e300 or 1e-300 finite and nonzero in the forest's float32.
    scales = power_of_two_scale(y[:, None])[0], power_of_two_scale(S)
    return forest_table(
        lambda rows: (y[rows], S[rows]), len(y), scales, names, output,
        n_permutations, random_state,
    )  # fmt: skip


def forest_table(take, n, scales, names, output, n_permutations, random_state):
    """Run the nonlinear check of one output on the rows that ``take`` returns.

    ``take(rows)`` returns the predictions and encoded protected columns of
    the rows at the positions ``rows`` (in that order) of all ``n`` rows, so
    that rows held elsewhere (dask blocks) are read only when drawn;
    ``scales`` are the power-of-two scales of the predictions and of the
    columns over all rows.
    """
    if not isinstance(n_permutations, numbers.Integral) or n_permutations < 1:
        raise ValueError(
            f"n_permutations must be a positive integer, got {n_permutations!r}."
        )
    rng = check_random_state(random_state)
    y, S = take(rng.permutation(n)[:_MAX_ROWS])
    y, S = y * scales[0], S * scales[1]
    split = len(y) // 2
    train, test = np.arange(split), np.arange(split, len(y))
    if split < 10:
        raise ValueError(f"the nonlinear check needs at least 20 predictions, got {n}.")
    seeds = rng.randint(0, 2**31 - 1, size=n_permutations + 1)
    observed = _importances(y, S, train, test, seeds[0])
    null = np.array(
        [_importances(rng.permutation(y), S, train, test, s) for s in seeds[1:]]
    )
    p_values = (1 + (null >= observed).sum(axis=0)) / (1 + n_permutations)
    return pd.DataFrame(
        {
            "output": output,
            "term": names,
            "rf_importance": observed,
            "rf_p_value": p_values,
        }
    )


def nonlinear_check(predictions, protected, *, n_permutations=19, random_state=None):
    """Random-forest permutation importance of the protected columns.

    Parameters
    ----------
    predictions : array-like of shape (n_samples,) or (n_samples, n_outputs)
    protected : array-like or DataFrame of shape (n_samples, n_protected)
        Encoded like in :func:`check_orthogonality`.
    n_permutations : int, default=19
        Forests refitted to permuted predictions for the p-values; the
        smallest attainable p-value is ``1 / (1 + n_permutations)``.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    DataFrame
        Columns ``output, term, rf_importance`` (held-out increase in squared
        error when the column is permuted, relative to the variance of the
        predictions) and ``rf_p_value``.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.evaluation import nonlinear_check
    >>> rng = np.random.default_rng(0)
    >>> age = rng.uniform(20, 60, 400)
    >>> p = 0.5 + 0.3 * np.sin(age / 3)  # no linear trend, strong dependence
    >>> table = nonlinear_check(p, age, n_permutations=9, random_state=0)
    >>> float(table["rf_p_value"].iloc[0])
    0.1
    """
    values, outputs = read_outputs(predictions)
    check_pairing(predictions, protected)
    S, columns, _ = encode_reference(protected, values.shape[0])
    names = list(columns.encoded_names_)
    return pd.concat(
        [
            _nonlinear_table(values[:, j], S, names, o, n_permutations, random_state)
            for j, o in enumerate(outputs)
        ],
        ignore_index=True,
    )
