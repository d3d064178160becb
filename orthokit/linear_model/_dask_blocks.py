"""OrthogonalGLM on dask: the statistics of row blocks.

The design follows dask-glm's ``newton`` and ``lbfgs`` (github.com/dask/dask-glm):
each evaluation of the model at a coefficient vector is one ``dask.compute`` of
sums over row blocks (loss, gradient, ``Xᵀ W X`` and the constraint Jacobian
together, as dask-glm computes its gradient and Hessian together), and the
small reduced system is solved locally. Unlike dask-glm the iterations are
not written again: :class:`~._dask_problem.BlockProblem` has the interface of
:class:`~orthokit.linear_model._problem.Problem`, so the in-memory solvers
(Newton-KKT, MDMM and its Newton polish) run on it unchanged and take the same
steps as in memory.

The units-free statement of the problem (:mod:`._scaling`,
:mod:`._standard_design`) is reproduced from three passes of small statistics
(ranges and classes; weighted means; centred cross-products), and each row
block is then standardized (:func:`_standard_columns`) for the solver's
passes (:mod:`._dask_problem`). Every block is read
through the input layer (:func:`~orthokit._inputs.read_design`,
``read_y``, ``read_weights``), so bad input raises the errors it raises in
memory.
"""

import numpy as np

from orthokit._dask import compute_relayed, placed, relayed
from orthokit._inputs import read_design
from orthokit._inputs._target import read_y
from orthokit._inputs._weights import read_weights
from orthokit.linear_model._diagnostics import quasi_separation
from orthokit.linear_model._families import FAMILIES
from orthokit.linear_model._row_blocks import weighted_gram


def _merge(first, second):
    """Add two blocks' statistics (``max_``/``min_``: extremes; ``None``: empty)."""
    if first is None or second is None:
        return second if first is None else first
    merged = {}
    for key, value in first.items():
        if key.startswith("max_"):
            merged[key] = np.maximum(value, second[key])
        elif key.startswith("min_"):
            merged[key] = np.minimum(value, second[key])
        elif key == "classes":
            merged[key] = np.union1d(value, second[key])
        elif key == "levels":
            merged[key] = _merge_levels(value, second[key])
        else:
            merged[key] = value + second[key]
    return merged


def reduce_blocks(blocks, func, *args, whole=None):
    """One pass: ``func(*block, *args)`` summed over the blocks.

    A block is a tuple of delayed objects: ``(X, y, weights)`` row blocks, or
    ``(prepared,)`` (see :func:`~._dask_problem.prepare_block`). With
    ``whole`` (the dask collection the blocks are the rows of) the input
    layer's messages name the row in ``whole``, as in memory. The warnings of
    blocks run on other processes reach the caller
    (:func:`~orthokit._dask.compute_relayed`).
    """
    import dask

    parts = [
        dask.delayed(relayed(func if whole is None else placed(func, whole, number)))(
            *block, *args
        )
        for number, block in enumerate(blocks)
    ]
    return compute_relayed(parts, _merge)


def read_block(estimator, X, y, sample_weight, classes=None):
    """Read one row block through the input layer: ``(predictors, S, weights, y)``.

    ``weights`` are the block's raw weights (validated as in memory); ``y`` is
    the block's values, or, for a classifier, its labels (``classes=None``)
    or its class codes in ``classes``. ``None`` for an empty block. With
    ``classes`` (the passes after the first, which checked every block) the
    features, weights and target are only converted, not checked again:
    sorting each block's labels for ``np.unique`` cost a quarter of a fit.
    """
    if len(X) == 0:
        return None
    checked = classes is not None
    design = read_design(estimator, X, reset=False, check_features=not checked)
    S = design.S
    n_samples = S.shape[0]
    predictors = estimator._predictors(S, design.source, design.columns)
    if sample_weight is None:
        weights = np.ones(n_samples)
    elif checked:
        weights = np.asarray(sample_weight, dtype=np.float64).reshape(n_samples)
    else:
        values = np.asarray(sample_weight)
        # A block of zero weights is fine; only the total is checked.
        if not (values.dtype.kind in "biuf" and values.size and not values.any()):
            read_weights(values, n_samples)  # the in-memory checks and messages
        weights = np.asarray(values, dtype=np.float64).reshape(n_samples)
    name = type(estimator).__name__
    if checked and estimator._is_classifier():
        values = np.searchsorted(classes, np.asarray(y).reshape(n_samples))
    elif checked:
        values = np.asarray(y, dtype=np.float64).reshape(n_samples)
    elif estimator._is_classifier():
        labels, codes = read_y(y, n_samples, "classification", name, min_classes=1)
        values = labels[codes]
    else:
        task = "counts" if estimator._family_name() == "poisson" else "regression"
        values = read_y(y, n_samples, task, name)
    return predictors, S, weights, values


def _ranges(X, y, w, estimator):
    block = read_block(estimator, X, y, w)
    if block is None:
        return None
    predictors, S, weights, values = block
    stats = {
        "n": len(weights), "n_positive": np.count_nonzero(weights),
        "max_weight": weights.max(), "max_x": predictors.max(axis=0, initial=-np.inf),
        "min_x": predictors.min(axis=0, initial=np.inf), "max_s": S.max(axis=0),
        "min_s": S.min(axis=0),
    }  # fmt: skip
    if estimator._is_classifier():
        stats["classes"] = np.unique(values)
    else:
        stats["max_y"] = values.max(keepdims=True)
        stats["min_y"] = values.min(keepdims=True)
    return stats


def _encode(values, n_classes, family_name):
    if family_name in ("binomial", "multinomial"):
        return (values[:, None] == np.arange(1, n_classes)).astype(np.float64)
    return values[:, None]


def _means(X, y, w, estimator, scales):
    """Weighted sums of the scaled columns (the first of the two-pass means)."""
    block = read_block(estimator, X, y, w, scales["classes"])
    if block is None:
        return None
    predictors, S, weights, values = block
    w = weights / scales["max_weight"]
    Y = _encode(values, scales["n_classes"], scales["family"])
    return {
        "weight": w.sum(), "x": w @ (predictors * scales["x_power"]),
        "s": w @ (S * scales["s_power"]), "y": w @ (Y * scales["y_power"]),
        "weight_y": weights @ Y[:, 0],
    }  # fmt: skip


def _moments(X, y, w, estimator, scales):
    """Weighted sums and cross-products of the columns minus their first means.

    The centred predictors and protected columns are formed side by side in
    one array (no copy per step) and their weighted cross-products taken by
    the in-memory symmetric product (:func:`~._row_blocks.weighted_gram`).
    """
    block = read_block(estimator, X, y, w, scales["classes"])
    if block is None:
        return None
    predictors, S, weights, values = block
    w = weights / scales["max_weight"] / scales["total"]
    Y = _encode(values, scales["n_classes"], scales["family"])
    p = predictors.shape[1]
    both = np.empty((len(w), p + S.shape[1]))
    np.multiply(predictors, scales["x_power"], out=both[:, :p])
    both[:, :p] -= scales["x_high"]
    np.multiply(S, scales["s_power"], out=both[:, p:])
    both[:, p:] -= scales["s_high"]
    dy = Y * scales["y_power"] - scales["y_high"]
    sums = w @ both
    return {
        "x": sums[:p], "s": sums[p:], "y": w @ dy, "y2": w @ dy**2,
        "gram": weighted_gram(both, w),
    }  # fmt: skip


def _centre(A, power, high, low):
    """Return ``(A * power - high) - low`` in one new array (power: exact)."""
    out = A * power if np.any(power != 1.0) else np.array(A, dtype=np.float64)
    out -= high
    out -= low
    return out


def _standard_columns(block, scales):
    """Return ``(X_std, basis, Y, w, S, predictors)`` of a block, as in memory."""
    predictors, S, weights, values = block
    X = _centre(predictors, scales["x_power"], scales["x_high"], scales["x_low"])
    X /= scales["x_spread"]
    if scales["lead"]:
        X[:, scales["x_constant"]] = 0.0
    s_std = _centre(S, scales["s_power"], scales["s_high"], scales["s_low"])
    s_std /= scales["s_spread"]
    basis = s_std @ scales["basis_map"]
    Y = _encode(values, scales["n_classes"], scales["family"])
    w = weights / scales["max_weight"] / scales["total"]
    return X, basis, Y, w, S, predictors


def _final(X, y, w, estimator, scales, Theta, separation):
    """``S̃ᵀ W μ`` at the solution, and what the separation check needs."""
    block = read_block(estimator, X, y, w, scales["classes"])
    if block is None:
        return None
    X_std, _, _, w, S, predictors = _standard_columns(block, scales)
    lead = scales["lead"]
    eta = X_std @ Theta[lead:] + Theta[:lead].sum(axis=0)
    mu = FAMILIES[scales["family"]].mean(eta)
    s_centred = (S - scales["s_high_data"]) - scales["s_low_data"]
    stats = {"violation": s_centred.T @ (w[:, None] * mu)}
    if separation:
        labels = block[3]
        scores = np.column_stack([1 - mu.sum(axis=1), mu])
        fitted = scores[np.arange(len(labels)), labels]
        live = w > 0
        stats["wrong"] = np.count_nonzero((scores.argmax(axis=1) != labels) & live)
        stats["max_fitted"] = fitted[live].max(initial=0.0)
        stats["levels"] = _levels(predictors[live], labels[live], fitted[live])
    return stats


def _levels(predictors, labels, fitted):
    """Per column: ``{value: [rows, min label, max label, min fitted]}`` or ``None``.

    ``None`` marks a column with more than two values (it cannot be a
    two-valued predictor, whose levels can separate the classes).
    """
    out = []
    for column in predictors.T:
        if np.unique(column[:64]).size > 2:
            out.append(None)  # not two-valued: a cheap test on a few rows first
            continue
        values, codes = np.unique(column, return_inverse=True)
        if values.size > 2:
            out.append(None)
            continue
        out.append({
            value: np.array([np.sum(codes == i), labels[codes == i].min(),
                             labels[codes == i].max(), fitted[codes == i].min()])
            for i, value in enumerate(values)
        })  # fmt: skip
    return out


def _merge_levels(first, second):
    merged = []
    for a, b in zip(first, second, strict=True):
        if a is None or b is None or len(set(a) | set(b)) > 2:
            merged.append(None)
            continue
        both = dict(a)
        for value, row in b.items():
            old = both.get(value)
            both[value] = row if old is None else np.array([
                old[0] + row[0], min(old[1], row[1]), max(old[2], row[2]),
                min(old[3], row[3]),
            ])  # fmt: skip
        merged.append(both)
    return merged


def _separation(stats, names):
    """:func:`~._diagnostics.separation_message` from the reduced statistics."""
    if stats["wrong"] == 0:
        return (
            "every training row is classified correctly: the classes are "
            "separable (complete separation)"
        )
    if not stats["max_fitted"] > 1 - 1e-3:
        return None
    pinned = []
    for j, levels in enumerate(stats["levels"]):
        if not levels:
            continue
        low, high = min(min(levels), 0.0), max(max(levels), 0.0)
        if low == high or not set(levels) <= {low, high}:
            continue
        for value in (high, low):
            rows, first, last, fitted = levels.get(value, (0, 0, 1, 0))
            if rows and first == last and fitted > 1 - 1e-3:
                pinned.append(
                    f"{names[j]}={value:.6g} ({int(rows)} rows, all class {int(first)})"
                )
    return quasi_separation(pinned)
