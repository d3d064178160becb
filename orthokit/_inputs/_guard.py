"""The fit guard: a fit starts from nothing and a failed fit changes nothing."""

from contextlib import contextmanager

import numpy as np


def fitted_attributes(estimator):
    """Names of everything a fit has set.

    Public fitted attributes end with ``_`` (scikit-learn's convention);
    private ones are those that :func:`fit_guard` saw a fit add. What
    scikit-learn itself keeps on an estimator (``set_output``'s configuration,
    metadata requests, callback contexts) is neither.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> sorted(fitted_attributes(StandardScaler().fit([[0.0], [1.0]])))[:2]
    ['mean_', 'n_features_in_']
    """
    private = set(getattr(estimator, "_fitted_private", ()))
    return [
        name
        for name in vars(estimator)
        if (name.endswith("_") and not name.startswith("__"))
        or name in private | {"_fitted_private"}
    ]


def _parameter_values(estimator, names):
    return {name: repr(getattr(estimator, name)) for name in names}


@contextmanager
def fit_guard(estimator, *, reset=True, stream=()):
    """Reset an estimator's fitted state on entry; restore it all if the block raises.

    With ``reset=True`` (a fit from scratch) every fitted attribute is deleted
    first, so that nothing of an earlier fit survives a refit with other
    parameters; with ``reset=False`` (a further ``partial_fit`` chunk) the
    state is kept. Either way, an exception restores every attribute as it
    was: fitted state is only ever replaced by new objects, never modified in
    place, so a shallow snapshot is complete. NumPy's overflow and
    invalid-value warnings are silenced inside: the callers check their
    statistics for finiteness and raise a clear ValueError.

    Parameters
    ----------
    estimator : BaseEstimator
    reset : bool, default=True
    stream : sequence of str, default=()
        Parameters the fitted state is built on: a fit records their values,
        and a further chunk (``reset=False``) after one of them changed
        (``set_params`` between ``partial_fit`` calls) is an error, not
        silently fitted with the old value.
    """
    saved = dict(vars(estimator))
    private = set(getattr(estimator, "_fitted_private", ()))
    try:
        if reset:
            for name in fitted_attributes(estimator):
                delattr(estimator, name)
            estimator._stream_parameters = _parameter_values(estimator, stream)
        else:
            before = getattr(estimator, "_stream_parameters", {})
            now = _parameter_values(estimator, before)
            changed = [name for name in before if now[name] != before[name]]
            if changed:
                raise ValueError(
                    f"{changed} changed (set_params) since this "
                    f"{type(estimator).__name__} started its fit; its state was "
                    "built with the old value. Call fit, or partial_fit on a new "
                    "estimator, to start over with the new one."
                )
        present = set(vars(estimator))
        with np.errstate(over="ignore", invalid="ignore"):
            yield
        added = {name for name in vars(estimator) if name not in present}
        estimator._fitted_private = sorted(
            (private if not reset else set()) | added - {"_fitted_private"}
        )
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        raise
