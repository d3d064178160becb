"""Detection of (quasi-)complete separation in a fitted classification GLM."""

import numpy as np
from sklearn.exceptions import ConvergenceWarning


class SeparationWarning(ConvergenceWarning):
    """The classes are (quasi-)separated: the likelihood has no finite maximum.

    Like statsmodels' ``PerfectSeparationWarning``; set ``alpha > 0``.
    """


def pure_levels(predictors, labels, w):
    """Levels of two-valued predictors whose rows all have the same label.

    Such a level (a one-hot category in which every row has ``y = 0``, say)
    is quasi-complete separation: moving its coefficient towards infinity
    always increases the likelihood, so the maximum likelihood estimate is not
    finite.

    Parameters
    ----------
    predictors : ndarray of shape (n, p)
    labels : ndarray of shape (n,)
        Integer class codes.
    w : ndarray of shape (n,)
        Row weights; rows of zero weight are ignored.

    Returns
    -------
    list of tuple
        ``(column, value, rows, label)`` for every pure level, ``rows`` a
        boolean mask over the rows of positive weight.
    """
    live = w > 0
    X, labels = predictors[live], labels[live]
    found = []
    for j in range(X.shape[1]):
        column = X[:, j]
        if np.unique(column[:64]).size > 2:
            continue  # not two-valued: a cheap test on a few rows first
        low, high = column.min(initial=0.0), column.max(initial=0.0)
        if low == high:
            continue
        is_high = column == high
        if np.count_nonzero(is_high | (column == low)) != column.size:
            continue  # not a two-valued column
        for value, rows in ((high, is_high), (low, ~is_high)):
            level = labels[rows]  # not empty: the column takes both values
            if level.min() == level.max():  # one class (no sort, as unique would)
                found.append((j, value, rows, int(level[0])))
    return found


def separation_message(mu, Y, w, predictors, names):
    """Describe the separation of a fit, or return ``None`` if there is none.

    Complete separation: every row of positive weight classified correctly.
    Quasi-complete separation: a level of a two-valued predictor whose rows all
    belong to one class and whose fitted probabilities went to that class.

    Parameters
    ----------
    mu : ndarray of shape (n, m)
        Fitted probabilities of classes ``1..m``.
    Y : ndarray of shape (n, m)
        One-hot labels of classes ``1..m``.
    w : ndarray of shape (n,)
    predictors : ndarray of shape (n, p)
    names : sequence of str

    Returns
    -------
    str or None
    """
    live = w > 0
    if mu.shape[1] == 1:  # binomial: the same, without (n, 2) arrays
        truth = (Y[:, 0] > 1 - Y[:, 0]).astype(np.intp)
        correct = (mu[:, 0] > 1 - mu[:, 0]) == truth
        fitted = np.where(truth == 1, mu[:, 0], 1 - mu[:, 0])[live]
    else:
        scores = np.column_stack([1 - mu.sum(axis=1), mu])
        truth = np.column_stack([1 - Y.sum(axis=1), Y]).argmax(axis=1)
        correct = scores.argmax(axis=1) == truth
        fitted = scores[np.arange(len(truth)), truth][live]
    if np.all(correct[live]):
        return (
            "every training row is classified correctly: the classes are "
            "separable (complete separation)"
        )
    if not fitted.max(initial=0.0) > 1 - 1e-3:
        return None  # no row is pinned at its class: no level can be
    pinned = [
        f"{names[j]}={value:.6g} ({int(rows.sum())} rows, all class {label})"
        for j, value, rows, label in pure_levels(predictors, truth, w)
        if fitted[rows].min() > 1 - 1e-3
    ]
    if pinned:
        return (
            "quasi-complete separation: every row of "
            + ", ".join(pinned)
            + " has the same class, and the fitted probabilities of that class "
            "tend to 1 there"
        )
    return None
