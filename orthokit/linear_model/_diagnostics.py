"""Detection of (quasi-)complete separation in a fitted classification GLM."""

import numpy as np
from sklearn.exceptions import ConvergenceWarning

#: A level is pinned at its class when every fitted probability of that class
#: there exceeds ``1 - PINNED``.
PINNED = 1e-3


class SeparationWarning(ConvergenceWarning):
    """The classes are (quasi-)separated: the likelihood has no finite maximum.

    Like statsmodels' ``PerfectSeparationWarning``; set ``alpha > 0``.
    """


def pure_levels(predictors, labels, w, one_hot=None):
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
    one_hot : OneHotGram, default=None
        The predictors' indicator columns: their levels' label counts by one
        bincount per factor instead of a scan of each column (where every
        row has positive weight).

    Returns
    -------
    list of tuple
        ``(column, value, rows, label)`` for every pure level, ``rows`` the
        indices of its rows of positive weight.
    """
    live = w > 0
    everywhere = bool(live.all())
    positions = None if everywhere else np.flatnonzero(live)
    live_labels = labels if everywhere else labels[live]
    # Count, sum and sum of squares of the labels: a level's rows are of one
    # class iff count x squares == sum², exact in integers. The other level of
    # a column is then read off the totals, without a pass over its rows.
    codes = live_labels.astype(np.int64)
    totals = np.array([codes.size, codes.sum(), (codes * codes).sum()])
    found = []
    known = one_hot.indicators() if one_hot is not None and everywhere else {}
    tallies = {}
    for j in range(predictors.shape[1]):
        if j in known:
            found.extend(_pure_indicator(j, *known[j], codes, tallies))
            continue
        # Rows of zero weight are ignored; the predictors are not copied
        # when there are none (the usual case).
        column = predictors[:, j] if everywhere else predictors[live, j]
        if np.unique(column[:64]).size > 2:
            continue  # not two-valued: a cheap test on a few rows first
        low, high = column.min(initial=0.0), column.max(initial=0.0)
        if low == high:
            continue
        is_high = column == high
        if np.count_nonzero(is_high | (column == low)) != column.size:
            continue  # not a two-valued column
        upper = np.flatnonzero(is_high)  # not empty: the column takes both values
        level = codes[upper]
        counts = np.array([level.size, level.sum(), (level * level).sum()])
        for value, (size, total, squares) in ((high, counts), (low, totals - counts)):
            if int(size) * int(squares) != int(total) ** 2:  # no int64 overflow
                continue  # more than one class
            index = upper if value == high else np.flatnonzero(~is_high)
            label = int(codes[index[0]])
            if positions is not None:
                index = positions[index]
            found.append((j, value, index, label))
    return found


def _pure_indicator(j, levels, level, labels, tallies):
    """:func:`pure_levels` of an indicator column ``levels == level``.

    The rows of every level of the column's factor counted by class in one
    bincount (kept in ``tallies``); a side of the column is pure where its
    rows are of one class.
    """
    if "classes" not in tallies:
        tallies["classes"] = np.bincount(labels)
    by_class = tallies["classes"]
    key = id(levels)
    if key not in tallies:
        k = by_class.size
        tallies[key] = np.bincount(
            levels * k + labels, minlength=(levels.max() + 1) * k
        ).reshape(-1, k)
    counts = tallies[key][level]
    found = []
    for value, side in ((1.0, counts), (0.0, by_class - counts)):
        if np.count_nonzero(side) == 1:
            index = np.flatnonzero((levels == level) == (value == 1.0))
            found.append((j, value, index, int(np.flatnonzero(side)[0])))
    return found


def separation_message(mu, Y, w, predictors, names, levels=None):
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
    levels : list of tuple, default=None
        :func:`pure_levels` of the data, when already known.

    Returns
    -------
    str or None
    """
    live = w > 0
    if mu.shape[1] == 1:  # binomial: the same, without (n, 2) arrays
        truth = (Y[:, 0] > 1 - Y[:, 0]).astype(np.intp)
        correct = (mu[:, 0] > 1 - mu[:, 0]) == truth
        fitted = np.where(truth == 1, mu[:, 0], 1 - mu[:, 0])
    else:
        scores = np.column_stack([1 - mu.sum(axis=1), mu])
        truth = np.column_stack([1 - Y.sum(axis=1), Y]).argmax(axis=1)
        correct = scores.argmax(axis=1) == truth
        fitted = scores[np.arange(len(truth)), truth]
    if np.all(correct[live]):
        return (
            "every training row is classified correctly: the classes are "
            "separable (complete separation)"
        )
    if not fitted[live].max(initial=0.0) > 1 - PINNED:
        return None  # no row is pinned at its class: no level can be
    if levels is None:
        levels = pure_levels(predictors, truth, w)
    pinned = [
        f"{names[j]}={value:.6g} ({rows.size} rows, all class {label})"
        for j, value, rows, label in levels
        if fitted[rows].min() > 1 - PINNED
    ]
    return quasi_separation(pinned)


def quasi_separation(pinned):
    """Return the warning for the pinned levels (``"name=value (...)"``), or None."""
    if not pinned:
        return None
    return (
        "quasi-complete separation: every row of "
        + ", ".join(pinned)
        + " has the same class, and the fitted probabilities of that class "
        "tend to 1 there"
    )
