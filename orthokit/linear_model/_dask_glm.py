"""OrthogonalGLM's fit and predictions on dask arrays and data frames.

:func:`fit_dask` states the units-free problem of :mod:`._scaling` and
:mod:`._standard_design` from three passes of small statistics over the row
blocks (ranges, levels and classes; weighted means; centred cross-products),
runs the in-memory solvers on a :class:`~._dask_problem.BlockProblem` (one pass
per evaluation), and makes one last pass for the constraint violation and the
separation check. Everything it computes from the reduced statistics mirrors
:func:`._standard_design.standardize`, ``principal_components`` and
``scale_target`` step for step, so the fit equals the in-memory one to
rounding. :func:`predict_blocks` maps a prediction method over the blocks,
lazily.
"""

import numpy as np

from orthokit._dask import _is_frame, head, is_dask_collection, protected_levels
from orthokit._inputs import protected_names, read_design
from orthokit._linalg import kept_eigenvalues, range_power_of_two, whitening_basis
from orthokit.linear_model._dask_blocks import (
    _final,
    _means,
    _moments,
    _ranges,
    _separation,
    reduce_blocks,
)
from orthokit.linear_model._dask_problem import BlockProblem, block_passes, is_held
from orthokit.linear_model._families import FAMILIES
from orthokit.linear_model._scaling import (
    _CONSTANT_ULPS,
    _SAFE_RANGE,
    TargetScaling,
)
from orthokit.linear_model._standard_design import StandardDesign


def _row_blocks(X, y, sample_weight):
    """Delayed ``(X, y, weights)`` row blocks; ``y`` and weights checked and aligned."""
    if _is_frame(X):
        blocks = list(X.to_delayed())
        rows = X.to_dask_array(lengths=True).chunks[0] if (
            y is not None or sample_weight is not None
        ) else None  # fmt: skip
    else:
        X = X.rechunk({1: -1})
        blocks = list(X.to_delayed().ravel())
        rows = X.chunks[0]
    aligned = []
    for values, argument in ((y, "y"), (sample_weight, "sample_weight")):
        if values is None:
            aligned.append([None] * len(blocks))
            continue
        if not is_dask_collection(values):
            raise TypeError(
                f"{argument} must be a dask array or series when X is a dask "
                f"collection, got {type(values).__name__}."
            )
        if _is_frame(values):
            values = values.to_dask_array(lengths=True)
        if values.shape[0] != sum(rows):
            raise ValueError(
                f"{argument} has {values.shape[0]} rows but X has {sum(rows)}; they "
                "must match."
            )
        aligned.append(list(values.rechunk({0: rows}).to_delayed().ravel()))
    return list(zip(blocks, *aligned, strict=True))


def _centred_extremes(top, bottom, high, low, centred):
    """Largest and smallest centred values, and the columns they make constant."""
    # Subtracting a constant is monotone in floating point too: these are the
    # extremes of the centred column, without a pass over it.
    top_c, bottom_c = (top - high) - low, (bottom - high) - low
    largest = np.maximum(top_c, -bottom_c)
    return largest, (top_c == bottom_c) & centred


def fit_dask(estimator, X, y, sample_weight):
    """Fit ``estimator`` (an OrthogonalGLM) on a dask collection; return it."""
    levels = protected_levels(X, estimator.protected)
    # The first rows fix the columns, names and encoding (levels from all of
    # X); every block is then read and checked against them.
    read_design(estimator, head(X), reset=True, categories=levels)
    blocks = _row_blocks(X, y, sample_weight)
    stats = reduce_blocks(blocks, _ranges, estimator, whole=X)
    if stats is None:
        raise ValueError("X is empty: every block of the dask collection is empty.")
    family = _read_target(estimator, stats)
    estimator._name_predictors(stats["n"], stats["max_s"].size)
    if not stats["max_weight"] > 0:
        raise ValueError(
            "sample_weight sums to zero: at least one weight must be positive."
        )
    n_predictors = stats["max_x"].size
    estimator._check_shape(family, n_predictors, stats["n_positive"])

    fit_intercept = estimator.fit_intercept
    scales = {
        "family": family.name, "lead": int(fit_intercept),
        "classes": getattr(estimator, "classes_", np.empty(0)),
        "n_classes": len(getattr(estimator, "classes_", [])),
        "max_weight": stats["max_weight"],
    }  # fmt: skip
    top, bottom = np.maximum(stats["max_x"], 0.0), np.minimum(stats["min_x"], 0.0)
    largest = np.maximum(top, -bottom)
    largest[(largest == 0) | ~np.isfinite(largest)] = 1.0
    x_power = range_power_of_two(top, bottom)
    x_power[(largest > _SAFE_RANGE[0]) & (largest < _SAFE_RANGE[1])] = 1.0
    gaussian = family.name == "gaussian"
    scales.update(
        x_power=x_power, s_power=range_power_of_two(stats["max_s"], stats["min_s"]),
        y_power=range_power_of_two(stats["max_y"], stats["min_y"]) if gaussian
        else np.ones(1),
    )  # fmt: skip

    means = reduce_blocks(blocks, _means, estimator, scales, whole=X)
    total = means["weight"]
    scales["total"] = total
    scales["x_high"] = means["x"] / total if fit_intercept else np.zeros(n_predictors)
    scales["s_high"] = means["s"] / total
    scales["y_high"] = means["y"] / total if gaussian else np.zeros(1)
    if family.name == "poisson" and means["weight_y"] <= 0:
        raise ValueError(
            "y is zero everywhere; a Poisson model of all-zero counts has no "
            "finite solution."
        )

    moments = reduce_blocks(blocks, _moments, estimator, scales, whole=X)
    design, axes, target, check = _standardize(estimator, stats, means, moments, scales)
    lead = design.lead
    constant_only = estimator._check_design(*check, axes.shape[1])
    ridge, penalized, offset, theta = estimator._start(
        lead, axes, target, family, target.y
    )
    scales.update(axes=axes, offset=offset, n_outputs=len(target.y))
    held = all(is_held(values) for values in (X, y, sample_weight))
    evaluate = block_passes(blocks, estimator, scales, held, whole=X)
    problem = BlockProblem(
        evaluate, scales, family, ridge, penalized,
        second_order=estimator.solver == "newton",
    )  # fmt: skip
    solution = estimator._run_solver(problem, theta, constant_only)
    Theta = estimator._store_solution(solution, problem, design, axes, target)
    separation = family.is_classifier and estimator.alpha == 0
    final = reduce_blocks(blocks, _final, estimator, scales, Theta, separation, whole=X)
    estimator.constraint_violation_ = float(np.abs(final["violation"]).max(initial=0.0))
    # For the benchmark: passes over the blocks, and those that read the data
    # (all but the solver's when the data are not held).
    estimator._n_passes = problem.n_passes + 4 + held
    estimator._n_reads = 4 + (1 if held else problem.n_passes)
    message = None
    if separation:
        message = _separation(final, list(estimator.predictor_names_))
    estimator._warn_convergence(solution, message)
    return estimator


def _read_target(estimator, stats):
    """Set ``classes_`` from every block's classes; return the family."""
    if not estimator._is_classifier():
        return FAMILIES[estimator._family_name()]
    classes = stats["classes"]
    if len(classes) < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs samples of at least 2 classes in the "
            f"data, but y contains only one class: {classes[0]!r}."
        )
    estimator.classes_ = classes
    return FAMILIES[estimator._family_name(len(classes))]


def _standardize(estimator, stats, means, moments, scales):
    """Return the :class:`StandardDesign` (without the data), axes and target scaling.

    Fills ``scales`` with what standardizes a block; returns ``(design, axes,
    target, check)`` with ``check`` the arguments of ``_check_design``.
    """
    lead, p = scales["lead"], stats["max_x"].size
    x_low = moments["x"] if lead else np.zeros(p)
    s_low = moments["s"]
    low = np.concatenate([x_low, s_low])
    gram = moments["gram"] - np.outer(low, low)
    spread = np.sqrt(np.diag(gram))
    x_spread, s_spread = spread[:p], spread[p:]
    largest, flat = _centred_extremes(
        stats["max_x"] * scales["x_power"], stats["min_x"] * scales["x_power"],
        scales["x_high"], x_low, bool(lead),
    )  # fmt: skip
    x_constant = flat | (x_spread <= _CONSTANT_ULPS * np.finfo(float).eps * largest)
    x_spread[x_constant] = 1.0
    names = protected_names(estimator)
    s_largest, s_flat = _centred_extremes(
        stats["max_s"] * scales["s_power"], stats["min_s"] * scales["s_power"],
        scales["s_high"], s_low, True,
    )  # fmt: skip
    s_constant = s_flat | (s_spread <= _CONSTANT_ULPS * np.finfo(float).eps * s_largest)
    if s_constant.any():
        bad = [names[j] for j in np.flatnonzero(s_constant)]
        raise ValueError(
            f"protected column(s) {bad} are constant; a constant column carries no "
            "information and cannot be regressed out or constrained. Drop it."
        )
    standard = gram / np.outer(
        np.concatenate([x_spread, s_spread]), np.concatenate([x_spread, s_spread])
    )
    if lead:
        zero = np.flatnonzero(x_constant)
        standard[zero, :] = 0.0
        standard[:, zero] = 0.0
    basis_map = whitening_basis(standard[p:, p:], names)
    s_scale = s_spread / scales["s_power"]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        original_map = basis_map / s_scale[:, None]
    tiny = ~np.isfinite(original_map).all(axis=1)
    if tiny.any():
        bad = [names[j] for j in np.flatnonzero(tiny)]
        size = np.maximum(np.abs(stats["max_s"]), np.abs(stats["min_s"]))[tiny].max()
        raise ValueError(
            f"protected column(s) {bad} are too small for float64 (largest "
            f"magnitude {size:.3g}): the multipliers of their constraints "
            "(multipliers_) would overflow. Multiply them by a constant, e.g. "
            "1e300; the fit does not depend on their scale."
        )
    eigenvalues, vectors = np.linalg.eigh(standard[:p, :p])
    keep = kept_eigenvalues(eigenvalues)
    axes = vectors[:, keep] / np.sqrt(eigenvalues[keep])
    check = (np.diag(standard)[:p], basis_map.T @ standard[p:, :p])
    power = scales["x_power"]
    design = StandardDesign(
        None, lead, None, scales["x_high"] / power, x_low / power, x_spread / power,
        None, original_map, None,
    )  # fmt: skip
    scales.update(
        x_low=x_low, x_spread=x_spread, x_constant=x_constant, s_low=s_low,
        s_spread=s_spread, basis_map=basis_map,
        s_high_data=scales["s_high"] / scales["s_power"],
        s_low_data=s_low / scales["s_power"],
    )  # fmt: skip
    return design, axes, _target(scales, means, moments), check


def _target(scales, means, moments):
    """Return the :class:`TargetScaling` of ``scale_target``; its ``y``: mean of y'."""
    total, family = scales["total"], scales["family"]
    mean = means["y"] / total
    scales.update(y_low=np.zeros(1), y_spread=np.ones(1))
    if family == "gaussian":
        power = scales["y_power"]
        low = moments["y"]
        spread = np.sqrt(moments["y2"] - low**2)
        if not spread[0] > 0:
            spread = np.ones(1)
        scales.update(y_low=low, y_spread=spread)
        shift = float((scales["y_high"][0] + low[0]) / power[0])
        factor = float(spread[0] / power[0])
        return TargetScaling(np.zeros(1), -shift / factor, factor, factor, 1.0)
    if family == "poisson":
        scales["y_spread"] = mean
        return TargetScaling(np.ones(1), -float(np.log(mean[0])), 1.0, 1.0, 1 / mean[0])
    return TargetScaling(mean, 0.0, 1.0, 1.0, 1.0)


def _output(estimator, method):
    """``(n_columns, dtype)`` of a prediction method; ``None`` columns: 1-D."""
    classes = getattr(estimator, "classes_", None)
    if method in ("predict_proba", "predict_log_proba"):
        return len(classes), np.float64
    if method == "decision_function":
        return (None if len(classes) == 2 else len(classes)), np.float64
    return None, (classes.dtype if classes is not None else np.float64)


def predict_blocks(estimator, X, method):
    """Apply ``estimator.<method>`` lazily to every row block of ``X``.

    A dask array gives a dask array (1-D for labels, means and the binomial
    decision function), a dask data frame a dask series or data frame (one
    column per class) with the partitions' index. An empty block gives an
    empty block.
    """
    func = getattr(estimator, method)
    n_columns, dtype = _output(estimator, method)
    shape = (0,) if n_columns is None else (0, n_columns)

    def apply(block):
        return np.empty(shape, dtype=dtype) if len(block) == 0 else func(block)

    if _is_frame(X):
        import pandas as pd

        if n_columns is None:
            meta = pd.Series(np.empty(0, dtype=dtype))
            return X.map_partitions(
                lambda part: pd.Series(apply(part), index=part.index), meta=meta
            )
        names = [str(c) for c in estimator.classes_]
        meta = pd.DataFrame(np.empty(shape), columns=names)
        return X.map_partitions(
            lambda part: pd.DataFrame(apply(part), columns=names, index=part.index),
            meta=meta,
        )
    X = X.rechunk({1: -1})
    if n_columns is None:
        return X.map_blocks(apply, drop_axis=1, dtype=dtype, chunks=(X.chunks[0],))
    return X.map_blocks(apply, dtype=dtype, chunks=(X.chunks[0], (n_columns,)))
