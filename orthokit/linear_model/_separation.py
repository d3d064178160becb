"""The limit problem of a quasi-separated fit, as the solvers see it.

A pure level (a category whose rows are all of one class, see
:func:`~._diagnostics.pure_levels`) puts the maximum of the likelihood at
infinity, and the rows' share of the derivatives decays only by a factor ``e``
per Newton step. Once the level's fitted probabilities pass ``1 - PINNED`` the
solvers work on the limit problem, in which those rows are fitted exactly:
its derivatives are the problem's minus the rows' share.
"""

import numpy as np
import scipy.linalg

from orthokit._linalg import RANK_RTOL
from orthokit.linear_model._diagnostics import PINNED

#: Probability of the other classes to which :func:`push_pinned` takes a pinned
#: level's rows: their share of the derivatives is then below rounding.
_PUSHED = 1e-14


def is_pinned(mu, label):
    """Whether the fitted probabilities of class ``label`` all exceed ``1 - PINNED``."""
    fitted = 1.0 - mu.sum(axis=1) if label == 0 else mu[:, label - 1]
    return bool(fitted.min(initial=1.0) > 1 - PINNED)


def pinned_rows(problem, state):
    """Return the pinned rows of ``problem`` (see ``Problem.pinned``), or None.

    Along a pure level (quasi-complete separation) the maximum is at infinity,
    and the level's share of the derivatives decays only by a factor ``e`` per
    Newton step: the solvers subtract it, so that they stop once the rest has
    converged (and :class:`~._diagnostics.SeparationWarning` names the level).
    Problems without pure levels (a dask ``BlockProblem`` has no ``levels``)
    keep every row.
    """
    return problem.pinned(state) if getattr(problem, "levels", None) else None


def limit_derivatives(problem, theta, state):
    """Gradient and constraint Jacobian of the limit problem, and its pinned rows."""
    gradient = problem.gradient(theta, state)
    J = problem.jacobian(state)
    pinned = pinned_rows(problem, state)
    if pinned is not None:
        rows, rows_state, share = pinned
        gradient = gradient - share * rows.gradient(theta, rows_state)
        J = J - share * rows.jacobian(rows_state)
    return gradient, J, pinned


def limit_hessian(problem, state, multipliers, pinned):
    """Hessian of the Lagrangian (of the loss without multipliers), limit problem."""
    H = problem.hessian(state, multipliers)
    if pinned is not None:
        rows, rows_state, share = pinned
        H -= share * rows.hessian(rows_state, multipliers)
    return H


def level_direction(problem, rows):
    """Return the coefficients that move only ``rows``' linear predictor, by one.

    Least squares: the coefficients whose linear predictor is closest to the
    level's indicator (``gram`` is ``X1ᵀWX1`` of the problem's design); ``None``
    where that is not the indicator (the level's rows cannot move alone, e.g.
    a level that is not a one-hot column with an intercept).
    """
    direction = scipy.linalg.lstsq(
        problem.gram, problem.weighted_sum(rows), cond=np.sqrt(RANK_RTOL)
    )[0]
    change = problem.linear_predictor(direction)
    indicator = np.zeros(len(change))
    indicator[rows] = 1.0
    if np.abs(change - indicator).max() > 1e-8:
        return None
    return direction


def _movable(problem):
    """Whether :func:`level_direction` applies: one linear predictor, ``gram`` known."""
    return (
        bool(getattr(problem, "levels", None))
        and problem.m == 1
        and (problem.gram is not None)
    )


def _at_limit(mu, rows, label, slack):
    """Whether ``rows`` are within a factor ``slack`` of ``_PUSHED`` (pushed)."""
    other = mu[rows, 0] if label == 0 else 1.0 - mu[rows, 0]
    return bool(other.max(initial=0.0) < slack * _PUSHED)


def _push(problem, theta, mu, rows, label, direction):
    """Return ``theta`` moved along ``direction`` so that ``rows`` reach ``_PUSHED``."""
    other = mu[rows, 0] if label == 0 else 1.0 - mu[rows, 0]
    distance = np.log(other.max() / _PUSHED)
    return theta + (-distance if label == 0 else distance) * direction


def start_hessian(problem, start, pinned):
    """Return the limit problem's Hessian after :func:`push_levels`, from the start.

    At the intercept-only start every row has the same curvature, and the
    Hessian is a multiple of ``gram`` (no pass over the data); the push moves
    only the pinned rows, whose share the limit problem leaves out, so the
    limit Hessian at the pushed point is that of the start less the pinned
    rows' share there (to rounding). ``start`` is the state before the push,
    ``pinned`` the pinned rows after it (see :func:`pinned_rows`).
    """
    rows, _, share = pinned
    eta, mu = start
    H = problem.hessian(start)
    H -= share * rows.hessian((eta[rows.indices], mu[rows.indices]))
    return H


def push_pinned(problem, theta, state, slack=1e4):
    """Move the pinned levels' rows towards their limit, the rest unchanged.

    The newton solver stops with the other classes' probabilities on a pinned
    level near ``PINNED``; their share of the loss and of the constraints
    shifts the rest of the fit by about as much. One step along each level's
    indicator (a direction in which only the level's rows move) takes them
    to ``_PUSHED``, and the polish that follows refits the rest: the answer
    is then that of the limit problem, as the first-order solver's is. Only
    for one linear predictor (binomial), and only where the indicator is in
    the span of the design (a one-hot level with an intercept). Levels whose
    rows are within a factor ``slack`` of ``_PUSHED`` are left as they are
    (the newton solver's, pushed at its start and moved since only by the
    rest of the fit); the first-order solver, whose descent followed them out
    to wherever it stopped, passes ``slack=1``.
    """
    if not _movable(problem):
        return theta, state
    eta, mu = state
    moved = False
    for rows, label in problem.levels:
        if not is_pinned(mu[rows], label) or _at_limit(mu, rows, label, slack):
            continue
        direction = level_direction(problem, rows)
        if direction is None:
            continue  # the level's rows cannot move alone
        theta = _push(problem, theta, mu, rows, label, direction)
        moved = True
    if moved:
        state = problem.state(theta)
    return theta, state


def push_levels(problem, theta, state):
    """Start the newton solver at the limit along every pure level that can move alone.

    Along such a level only its rows' linear predictor changes, and with no
    row of the other class there, the likelihood rises towards the limit in
    which they are fitted exactly: one step takes them to ``_PUSHED`` (they
    are then pinned), and the solver works on the limit problem from its
    first iteration, instead of following them out by a factor ``e`` of
    their probabilities per step. The constraints can make the maximum
    finite along a level after all: :func:`release_levels` checks that at the
    limit problem's solution and undoes the step where it is not so.

    Returns
    -------
    theta : ndarray
    pushed : list of tuple
        ``(level, step)`` for every level moved: its entry of
        ``problem.levels`` and the change of ``theta``.
    """
    if not _movable(problem):
        return theta, []
    _, mu = state
    pushed = []
    for level in problem.levels:
        rows, label = level
        direction = level_direction(problem, rows)
        if direction is None:
            continue
        step = _push(problem, theta, mu, rows, label, direction) - theta
        theta = theta + step
        pushed.append((level, step))
    return theta, pushed


def release_levels(problem, theta, state, multipliers, pushed):
    """Undo :func:`push_levels` along the levels where the limit is not optimal.

    At the limit problem's solution (``theta`` and ``multipliers``) the
    Lagrangian must keep falling outwards along each pushed level (its rows'
    linear predictor moving towards their class), for the limit to be the
    supremum: its derivative along that direction is, for rows of class 0,
    ``-Σ wᵢ μᵢ (1 + (1 - μᵢ) zᵢ)`` and for class 1 ``-Σ wᵢ (1 - μᵢ)(1 - μᵢ zᵢ)``,
    ``z = U λ``. Where it is not negative, the constraints hold the maximum at
    a finite point: the level's step is undone and it is no longer treated as
    pure (removed from ``problem.levels``), so that the solver goes on.

    Returns
    -------
    theta : ndarray
    released : bool
        Whether a level was released (``theta`` then changed).
    """
    if not pushed:
        return theta, False
    _, mu = state
    z = problem.U @ multipliers
    kept = []
    for level, step in pushed:
        rows, label = level
        w, p = problem.w[rows], mu[rows, 0]
        if label == 0:
            falling = w @ (p * (1.0 + (1.0 - p) * z[rows]))
        else:
            falling = w @ ((1.0 - p) * (1.0 - p * z[rows]))
        if falling > 0:
            kept.append((level, step))
            continue
        theta = theta - step
        problem.levels = [other for other in problem.levels if other is not level]
    released = len(kept) < len(pushed)
    pushed[:] = kept
    return theta, released
