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


def push_pinned(problem, theta, state):
    """Move the pinned levels' rows towards their limit, the rest unchanged.

    The newton solver stops with the other classes' probabilities on a pinned
    level near ``PINNED``; their share of the loss and of the constraints
    shifts the rest of the fit by about as much. One step along each level's
    indicator (a direction in which only the level's rows move) takes them
    to ``_PUSHED``, and the polish that follows refits the rest: the answer
    is then that of the limit problem, as the first-order solver's is. Only
    for one linear predictor (binomial), and only where the indicator is in
    the span of the design (a one-hot level with an intercept).
    """
    if not getattr(problem, "levels", None) or problem.m != 1 or problem.gram is None:
        return theta, state
    eta, mu = state
    moved = False
    for rows, label in problem.levels:
        if not is_pinned(mu[rows], label):
            continue
        # Least squares: the coefficients whose linear predictor is closest
        # to the level's indicator (gram is X1ᵀWX1 of the problem's design).
        direction = scipy.linalg.lstsq(
            problem.gram, problem.weighted_sum(rows), cond=np.sqrt(RANK_RTOL)
        )[0]
        change = problem.linear_predictor(direction)
        indicator = np.zeros(len(change))
        indicator[rows] = 1.0
        if np.abs(change - indicator).max() > 1e-8:
            continue  # the level's rows cannot move alone
        other = mu[rows, 0] if label == 0 else 1.0 - mu[rows, 0]
        distance = np.log(other.max() / _PUSHED)
        theta = theta + (-distance if label == 0 else distance) * direction
        moved = True
    if moved:
        state = problem.state(theta)
    return theta, state
