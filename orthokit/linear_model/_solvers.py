"""Solvers of the orthogonality-constrained GLM problem (docs/user_guide/glm.rst).

The problem, on standardized predictors ``X1`` (with a leading column of ones
when there is an intercept) and coefficients ``Θ`` of shape ``(q, m)``::

    minimize   Σ wᵢ ℓ(yᵢ, ηᵢ) + ½ Σⱼ αⱼ ‖Θⱼ‖²         η = X1 Θ + offset
    subject to c(Θ) = Uᵀ (w ⊙ h(η)) = 0

with weights ``w`` summing to one and ``U`` an orthonormal (in the weighted
inner product) basis of the centred protected columns, so that ``c = 0`` iff
``S̃ᵀ W h(η) = 0``. Parameters are flattened class block by class block
(``Θ.ravel(order="F")``), and so are the constraints.

The solvers take a :class:`~orthokit.linear_model._problem.Problem` (the
data's values and derivatives) and return a :class:`Solution`; nothing here
knows about scikit-learn.
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from orthokit._linalg import RANK_RTOL, solve_kkt
from orthokit.linear_model._separation import (
    limit_derivatives,
    limit_hessian,
    push_levels,
    push_pinned,
    release_levels,
    start_hessian,
)

#: Bound on MDMM's damping relative to the loss curvature: beyond it the
#: curvature ``H + ρJᵀJ`` loses the digits of ``H`` and Cholesky breaks down.
DAMPING_LIMIT = 1e10

#: Multiplier steps at the damping bound without progress before MDMM stops.
_STALLS = 3

#: Most Newton-KKT steps that polish MDMM's answer (each must halve the
#: residual: quadratic convergence takes 2-3, the multinomial family's linear
#: one more).
_POLISH_STEPS = 20

#: The polish stops once the KKT residuals are this many times below ``tol``
#: (1e-13 at the default): a further step would move the answer by about that
#: residual over the curvature of the (whitened, unit-scale) problem, far below
#: any accuracy the fit promises, at the price of one or two passes over X.
_POLISH_DEPTH = 1e-5


@dataclass
class Solution:
    """What a solver returns."""

    theta: np.ndarray
    multipliers: np.ndarray
    n_iter: int
    converged: bool
    diverged: bool
    violation: float
    stationarity: float
    message: str = ""


def _expect_hessian(problem, multipliers):
    """Name the next state's Hessian multipliers (``None``: none) to a dask problem.

    A ``BlockProblem`` then computes that Hessian in the state's pass over the
    data; the in-memory ``Problem`` computes it when asked (no such hook).
    """
    if hasattr(problem, "expect_hessian"):
        problem.expect_hessian(multipliers)


def _kkt_residuals(problem, theta, state, multipliers):
    gradient, J, _ = limit_derivatives(problem, theta, state)
    stationarity = np.abs(gradient + J.T @ multipliers).max(initial=0.0)
    violation = np.abs(problem.constraints(state)).max(initial=0.0)
    return stationarity, violation


def _solve_newton(problem, theta, *, max_iter, tol):
    """Newton steps on the KKT system, line search on an augmented Lagrangian.

    The merit ``φ(Θ, λ) = f + λᵀc + ρ/2 ‖c‖²`` is searched along the joint
    step ``(p, λ⁺ - λ)``; ``ρ`` grows until the step is a descent direction
    (Nocedal & Wright, §18.5). Near the solution full steps are accepted and
    convergence is quadratic (for the multinomial family, whose constraint
    curvature is left out, fast linear).

    Along a pure level that can move alone (quasi-complete separation, see
    :func:`~._separation.push_levels`) the solver starts at the limit, where
    the level's rows are fitted exactly, and works on the limit problem: it
    stops once the rest has converged, instead of following the level out by
    a factor ``e`` of its probabilities per step. A level along which the limit
    is not optimal at the solution (the constraints hold the maximum at a
    finite point) is released (:func:`~._separation.release_levels`) and the
    steps go on from where it was.
    """
    multipliers = np.zeros(problem.r * problem.m)
    rho = 1.0
    # The start, and the limit along the pure levels that can move alone.
    levels = bool(getattr(problem, "levels", None))
    start = problem.state(theta, first_order=not levels)
    theta, pushed = push_levels(problem, theta, start)
    state = problem.state(theta, first_order=True) if levels else start
    value = problem.objective(theta, state)
    constraint = problem.constraints(state)
    n_iter = 0
    converged = diverged = False
    H = None
    for n_iter in range(max_iter + 1):
        gradient, J, pinned = limit_derivatives(problem, theta, state)
        stationarity = np.abs(gradient + J.T @ multipliers).max(initial=0.0)
        violation = np.abs(constraint).max(initial=0.0)
        if stationarity <= tol and violation <= tol:
            theta, released = release_levels(problem, theta, state, multipliers, pushed)
            if not released:
                converged = True
                break
            state = problem.state(theta, first_order=True)
            value = problem.objective(theta, state)
            constraint = problem.constraints(state)
            gradient, J, pinned = limit_derivatives(problem, theta, state)
        if n_iter == max_iter:
            break
        if problem.diverged(theta):
            diverged = True
            break
        if n_iter == 0 and pushed and pinned is not None:
            # At the start the Hessian needs no pass over the data.
            H = start_hessian(problem, start, pinned)
        else:
            H = limit_hessian(problem, state, multipliers, pinned)
        step, new_multipliers = solve_kkt(H, J, gradient, constraint)
        curvature = step @ H @ step
        if curvature <= 0:
            # The Lagrangian is not convex along the step: fall back on the
            # (positive semi-definite) Gauss-Newton matrix of the loss.
            H = limit_hessian(problem, state, None, pinned)
            step, new_multipliers = solve_kkt(H, J, gradient, constraint)
            curvature = step @ H @ step
        delta = new_multipliers - multipliers
        lagrangian_gradient = gradient + J.T @ multipliers
        slope_free = lagrangian_gradient @ step + constraint @ delta
        squared = constraint @ constraint
        if squared > 0 and slope_free - rho * squared > -0.5 * max(curvature, 0.0):
            rho = max(2 * rho, (slope_free + 0.5 * max(curvature, 0.0)) / squared * 2)
        slope = slope_free - rho * squared
        merit = value + multipliers @ constraint + 0.5 * rho * squared
        step_size = 1.0
        while True:
            trial = theta + step_size * step
            trial_multipliers = multipliers + step_size * delta
            _expect_hessian(problem, trial_multipliers)
            trial_state = problem.state(trial, first_order=True)
            trial_value = problem.objective(trial, trial_state)
            trial_constraint = problem.constraints(trial_state)
            trial_merit = (
                trial_value
                + trial_multipliers @ trial_constraint
                + 0.5 * rho * trial_constraint @ trial_constraint
            )
            if np.isfinite(trial_merit) and (
                trial_merit <= merit + 1e-4 * step_size * min(slope, 0.0)
            ):
                break
            step_size *= 0.5
            if step_size < 1e-12:
                break
        if step_size < 1e-12:
            # No progress is possible at this precision; report what we have.
            break
        theta, multipliers, state = trial, trial_multipliers, trial_state
        value, constraint = trial_value, trial_constraint
    if converged:
        # One or two more steps take the residuals from just below tol to
        # rounding; the last Hessian, one step old, serves them (a new one
        # would cost a pass of O(n q²), more than all the rest of a step).
        theta, state = push_pinned(problem, theta, state)
        theta, multipliers, state = _polish(
            problem, theta, multipliers, state=state, hessian=H,
            floor=_POLISH_DEPTH * tol,
        )  # fmt: skip
    stationarity, violation = _kkt_residuals(problem, theta, state, multipliers)
    return Solution(
        theta, multipliers, n_iter, converged, diverged, violation, stationarity
    )


def _solve_mdmm(problem, theta, *, max_iter, tol, damping):
    """Solve by the modified differential multiplier method (Platt & Barr, 1987).

    Descent on the coefficients of ``ℒ = f + λᵀc + (ρ/2)‖c‖²`` by L-BFGS steps
    (warm started), then ascent on the multipliers ``λ ← λ + ρ c``. The damping
    ``ρ`` starts at ``damping`` times the ratio of the loss curvature to the
    constraint curvature (so that ``damping=1`` balances the two whatever the
    scale of the data) and grows tenfold when the violation does not shrink by
    4, up to ``DAMPING_LIMIT`` times the loss curvature; a violation that
    stops shrinking at the bound ends the run (not converged). Each descent
    runs in coordinates whitened by the curvature of ``ℒ`` at its start,
    ``H + ρJᵀJ`` (a preconditioner, one O(n q²) product per multiplier step),
    without which one-hot predictors with rare levels make first-order steps
    crawl; it stops at a gradient tolerance tied to the current violation (an
    inexact augmented-Lagrangian scheme).
    """
    multipliers = np.zeros(problem.r * problem.m)
    n_iter = stalls = 0
    previous_violation = np.inf
    converged = diverged = False
    message = "the iteration limit was reached"
    state = problem.state(theta)
    hessian = problem.hessian(state)
    J = problem.jacobian(state)
    loss_curvature = max(np.trace(hessian), 1e-300)
    rho_limit = DAMPING_LIMIT * loss_curvature
    # Constraints that are (numerically) identically zero have a Jacobian of
    # rounding noise: the bound keeps the damping finite for them.
    rho = min(damping * loss_curvature / max(np.sum(J**2), 1e-300), rho_limit)
    violation = np.inf  # the first descent need not be precise

    def augmented(phi, origin, factor, multipliers_, rho_):
        theta_ = origin + scipy.linalg.solve_triangular(
            factor, phi, lower=True, trans="T"
        )
        state_ = problem.state(theta_)
        constraint_ = problem.constraints(state_)
        value_ = (
            problem.objective(theta_, state_)
            + multipliers_ @ constraint_
            + 0.5 * rho_ * constraint_ @ constraint_
        )
        grad_ = problem.lagrangian_gradient(
            theta_, state_, multipliers_ + rho_ * constraint_
        )
        if not (np.isfinite(value_) and np.isfinite(grad_).all()):
            # A trial point beyond the finite range: the line search backs off.
            return np.inf, np.zeros_like(phi)
        return value_, scipy.linalg.solve_triangular(factor, grad_, lower=True)

    while n_iter < max_iter:
        curvature = hessian + rho * (J.T @ J)
        curvature[np.diag_indices_from(curvature)] += 1e-10 * np.trace(curvature)
        try:
            factor = scipy.linalg.cholesky(curvature, lower=True)
        except (ValueError, np.linalg.LinAlgError):
            message = "the curvature of the augmented Lagrangian is not finite"
            break
        gtol = max(0.1 * tol, min(1e-3, 0.1 * violation))
        with np.errstate(over="ignore", invalid="ignore"):
            result = scipy.optimize.minimize(
                augmented,
                np.zeros_like(theta),
                args=(theta, factor, multipliers, rho),
                jac=True,
                method="L-BFGS-B",
                options={
                    "maxiter": max_iter - n_iter,
                    "gtol": gtol,
                    "ftol": 0.0,
                    "maxcor": 20,
                },
            )
        n_iter += max(int(result.nit), 1)
        trial = theta + scipy.linalg.solve_triangular(
            factor, result.x, lower=True, trans="T"
        )
        trial_state = problem.state(trial)
        constraint = problem.constraints(trial_state)
        if not (np.isfinite(trial).all() and np.isfinite(constraint).all()):
            message = "a descent step left the finite range"
            break
        theta, state = trial, trial_state
        multipliers = multipliers + rho * constraint
        stationarity, violation = _kkt_residuals(problem, theta, state, multipliers)
        if problem.diverged(theta):
            diverged = True
            break
        # The violation is cheap to shrink further once the gradient is small
        # (a multiplier step): a margin keeps it below tol in the units of S too.
        if violation <= 0.1 * tol and stationarity <= tol:
            converged = True
            break
        # A violation at the level of rounding (below 0.1 tol) need not shrink:
        # the descent then only has the gradient left to reduce.
        if violation > max(0.25 * previous_violation, 0.1 * tol):
            if rho >= rho_limit:
                stalls += 1
                if stalls >= _STALLS:
                    message = (
                        f"the constraint violation stopped shrinking with the "
                        f"damping at its bound ({DAMPING_LIMIT:.0e} times the loss "
                        "curvature)"
                    )
                    break
            rho = min(10.0 * rho, rho_limit)
        previous_violation = violation
        hessian = problem.hessian(state)
        J = problem.jacobian(state)
    if converged:
        # As the newton solver: the pinned levels' rows to their limit, so that
        # the answer does not depend on how far the descent followed them out.
        theta, state = push_pinned(problem, theta, state, slack=1.0)
        theta, multipliers, state = _polish(
            problem, theta, multipliers, state=state, floor=_POLISH_DEPTH * tol
        )
    stationarity, violation = _kkt_residuals(problem, theta, state, multipliers)
    return Solution(
        theta, multipliers, n_iter, converged, diverged, violation, stationarity,
        message,
    )  # fmt: skip


def _polish(
    problem, theta, multipliers, *, state=None, hessian=None, floor=0.0,
    max_steps=_POLISH_STEPS,
):  # fmt: skip
    """Refine a first-order solution by full Newton-KKT steps.

    An inexact augmented-Lagrangian run stops with KKT residuals just below
    its tolerance; near the optimum a Newton step on the KKT system converges
    quadratically, so a few of them reach the precision of the newton solver
    (and make the answer independent of how the first-order run got there,
    e.g. weights against repeated rows). A step is kept only while it shrinks
    the larger of the two residuals by half, and the steps stop once it is
    at most ``floor``. The optimum is a point, not a
    set, even for collinear predictors or more predictors than rows: the
    solvers work on the whitened principal components of the predictors
    (:func:`~orthokit.linear_model._standard_design.principal_components`), which
    have full column rank on the rows of positive weight.

    Every step uses one Hessian: ``hessian`` (the newton solver's last, from
    a point one step away) or that of the Lagrangian at ``theta``. So close
    to the optimum the steps still shrink the residuals by orders of
    magnitude, and each costs a few passes over the data instead of the
    ``O(n q²)`` of a new Hessian.
    """
    if state is None:
        state = problem.state(theta)
    residual = max(_kkt_residuals(problem, theta, state, multipliers))
    H = hessian
    for _ in range(max_steps):
        if residual <= floor:
            break
        gradient, J, pinned = limit_derivatives(problem, theta, state)
        if H is None:
            H = limit_hessian(problem, state, multipliers, pinned)
        step, trial_multipliers = solve_kkt(H, J, gradient, problem.constraints(state))
        trial = theta + step
        if not np.isfinite(trial).all():
            break
        _expect_hessian(problem, None)  # the steps keep one Hessian
        trial_state = problem.state(trial, first_order=True)
        with np.errstate(over="ignore", invalid="ignore"):
            trial_residual = max(
                _kkt_residuals(problem, trial, trial_state, trial_multipliers)
            )
        if not trial_residual <= 0.5 * residual:
            break
        theta, multipliers, state = trial, trial_multipliers, trial_state
        residual = trial_residual
    return theta, multipliers, state


def _solve_intercept_only(problem, theta):
    """Return the constant model, when the constraints leave the slopes no freedom.

    ``theta`` holds the intercept-only maximum likelihood estimate (the
    family's start from the weighted mean of ``y``), which is feasible: a
    constant prediction is orthogonal to centred columns. The multipliers are
    the least-squares solution of stationarity.
    """
    state = problem.state(theta)
    gradient = problem.gradient(theta, state)
    J = problem.jacobian(state)
    multipliers = scipy.linalg.lstsq(J.T, -gradient, cond=np.sqrt(RANK_RTOL))[0]
    stationarity, violation = _kkt_residuals(problem, theta, state, multipliers)
    return Solution(theta, multipliers, 1, True, False, violation, stationarity)


def _solve_slsqp(problem, theta, *, max_iter, tol):
    """Solve with scipy's SLSQP: a reference for tests and benchmarks."""

    def fun(theta_):
        state_ = problem.state(theta_)
        return problem.objective(theta_, state_), problem.gradient(theta_, state_)

    def constraint_fun(theta_):
        return problem.constraints(problem.state(theta_))

    def constraint_jac(theta_):
        return problem.jacobian(problem.state(theta_))

    result = scipy.optimize.minimize(
        fun,
        theta,
        jac=True,
        method="SLSQP",
        constraints=[{"type": "eq", "fun": constraint_fun, "jac": constraint_jac}],
        options={"maxiter": max_iter, "ftol": tol},
    )
    state = problem.state(result.x)
    multipliers = np.zeros(problem.r * problem.m)
    violation = np.abs(problem.constraints(state)).max(initial=0.0)
    return Solution(
        result.x, multipliers, int(result.nit), bool(result.success), False, violation,
        np.nan,
    )  # fmt: skip
