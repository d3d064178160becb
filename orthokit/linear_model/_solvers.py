"""Solvers of the orthogonality-constrained GLM problem (docs/user_guide/glm.rst).

The problem, on standardized predictors ``X1`` (with a leading column of ones
when there is an intercept) and coefficients ``Θ`` of shape ``(q, m)``::

    minimize   Σ wᵢ ℓ(yᵢ, ηᵢ) + ½ Σⱼ αⱼ ‖Θⱼ‖²         η = X1 Θ + offset
    subject to c(Θ) = Uᵀ (w ⊙ h(η)) = 0

with weights ``w`` summing to one and ``U`` an orthonormal (in the weighted
inner product) basis of the centred protected columns, so that ``c = 0`` iff
``S̃ᵀ W h(η) = 0``. Parameters are flattened class block by class block
(``Θ.ravel(order="F")``), and so are the constraints.

Nothing here knows about scikit-learn: the functions take arrays and return a
:class:`Solution`.
"""

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from orthokit._linalg import RANK_RTOL, solve_kkt
from orthokit.linear_model._row_blocks import (
    _CROSS_ROWS,
    cross_product,
    weighted_gram,
)
from orthokit.linear_model._separation import (
    is_pinned,
    limit_derivatives,
    limit_hessian,
    push_pinned,
)

#: Largest coefficient of a whitened predictor (a principal component of unit
#: weighted variance, see ``principal_components``) before the data count as
#: separable: the linear predictor then spreads over 1e3 units.
DIVERGENCE_LIMIT = 1e3

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


class Problem:
    """Objective, constraints and their derivatives on standardized data.

    With a ``transform`` the problem's design is ``X1 @ transform`` (the
    whitened principal components of ``X1``, see ``principal_components``)
    without that product being formed: each pass goes over ``X1`` and the
    ``q x q`` transform is applied to its small results.
    """

    def __init__(
        self, X1, Y, weights, basis, family, alpha, penalized, offset=0.0, gram=None,
        levels=(), transform=None,
    ):  # fmt: skip
        self.X1 = X1
        self.transform = transform
        # X1ᵀ W X1, when known: the Hessian wherever the curvature is the same
        # on every row (the intercept-only start), without a pass over X1.
        self.gram = gram
        self.offset = offset
        self.Y = Y
        self.w = weights / weights.sum()
        self.U = basis
        self.family = family
        self.penalized = penalized  # (q,) boolean: the slope rows of Θ
        # (q,) ridge per row of Θ: α (a scalar or one per row) on the slopes.
        self.ridge = np.where(penalized, alpha, 0.0)
        self.q = X1.shape[1] if transform is None else transform.shape[1]
        self.m = Y.shape[1]
        self.r = basis.shape[1]
        # Pure levels (see _diagnostics.pure_levels) as (row indices, class):
        # along them the maximum is at infinity, and the solvers stop once the
        # rest has converged and the fitted probabilities there are pinned.
        self.levels = list(levels)
        # The last _first_order answer, with the means it was computed from.
        self._first = (None, None)

    def unpack(self, theta):
        return theta.reshape(self.q, self.m, order="F")

    def linear_predictor(self, theta):
        """Return ``X1 Θ`` without the offset (``Θ`` of one class)."""
        coef = theta if self.transform is None else self.transform @ theta
        return self.X1 @ coef

    def weighted_sum(self, rows):
        """Return ``Σ wᵢ xᵢ`` over ``rows`` of the problem's design."""
        total = self.X1[rows].T @ self.w[rows]
        return total if self.transform is None else self.transform.T @ total

    def state(self, theta, first_order=False):
        """Return ``(η, μ)`` at ``theta``.

        With ``first_order`` the gradient and the constraint Jacobian there
        (see :meth:`_first_order`) are computed in the same pass, by blocks of
        rows of ``X1`` that are read once for both products: for the solver's
        steps, whose points are nearly always accepted.
        """
        coef = self.unpack(theta)
        if self.transform is not None:
            coef = self.transform @ coef
        n = self.X1.shape[0]
        if not first_order or n <= _CROSS_ROWS:
            eta = self.X1 @ coef + self.offset
            state = eta, self.family.mean(eta)
            if first_order:
                self._first_order(state)
            return state
        eta = np.empty((n, self.m))
        mu = np.empty((n, self.m))
        product = np.zeros((self.X1.shape[1], self.m + self.r * self.m**2))
        for start in range(0, n, _CROSS_ROWS):
            rows = slice(start, start + _CROSS_ROWS)
            block = self.X1[rows]
            np.matmul(block, coef, out=eta[rows])
            eta[rows] += self.offset
            mu[rows] = self.family.mean(eta[rows])
            product += block.T @ self._first_order_columns(mu[rows], rows)
        self._first = (mu, self._first_order_split(product))
        return eta, mu

    def objective(self, theta, state):
        eta, _ = state
        loss = self.w @ self.family.loss(self.Y, eta)
        return loss + 0.5 * self.ridge @ np.sum(self.unpack(theta) ** 2, axis=1)

    def gradient(self, theta, state):
        grad = self._first_order(state)[0] + self.ridge[:, None] * self.unpack(theta)
        return grad.ravel(order="F")

    def _first_order(self, state):
        """Return ``(X1ᵀ W (μ - Y), J)``: the solvers ask for both at each point.

        One product of ``X1ᵀ`` with the ``m + r m²`` columns of the residuals
        and the weighted constraint basis reads ``X1`` once instead of
        ``1 + m²`` times. The answer for the last state is kept.
        """
        _, mu = state
        if self._first[0] is mu:
            return self._first[1]
        product = cross_product(self.X1, self._first_order_columns(mu, slice(None)))
        self._first = (mu, self._first_order_split(product))
        return self._first[1]

    def _first_order_columns(self, mu, rows):
        """Return the ``m + r m²`` columns whose products with ``X1`` give ∇f, J.

        ``mu`` holds the means of ``rows`` (a slice of the problem's rows).
        """
        m, r = self.m, self.r
        w = self.w[rows]
        columns = np.empty((mu.shape[0], m + r * m * m), order="F")
        columns[:, :m] = w[:, None] * (mu - self.Y[rows])
        for k in range(m):
            for j in range(m):
                start = m + (k * m + j) * r
                d = w * self._block_weights(mu, k, j)
                columns[:, start : start + r] = self.U[rows] * d[:, None]
        return columns

    def _first_order_split(self, product):
        """Return ``(∇f, J)`` from ``X1ᵀ`` times :meth:`_first_order_columns`."""
        m, q, r = self.m, self.q, self.r
        if self.transform is not None:
            product = self.transform.T @ product
        J = np.empty((r * m, q * m))
        for k in range(m):
            for j in range(m):
                start = m + (k * m + j) * r
                J[k * r : (k + 1) * r, j * q : (j + 1) * q] = product[
                    :, start : start + r
                ].T
        return product[:, :m], J

    def constraints(self, state):
        _, mu = state
        return (self.U.T @ (self.w[:, None] * mu)).ravel(order="F")

    def _mean_jacobian_apply(self, mu, Z):
        """Return ``A[:, j] = Σ_k ∂μ_k/∂η_j · Z[:, k]`` (the Jacobian is symmetric)."""
        if self.m == 1 and self.family.name != "multinomial":
            return self.family.derivative(mu) * Z
        return mu * Z - mu * (mu * Z).sum(axis=1, keepdims=True)

    def lagrangian_gradient(self, theta, state, v):
        """Return ``∇f + Jᵀ v`` with one pass over ``X1``: O(n (q + r) m)."""
        _, mu = state
        Z = self.U @ v.reshape(self.r, self.m, order="F")
        residual = mu - self.Y + self._mean_jacobian_apply(mu, Z)
        grad = cross_product(self.X1, self.w[:, None] * residual)
        if self.transform is not None:
            grad = self.transform.T @ grad
        grad += self.ridge[:, None] * self.unpack(theta)
        return grad.ravel(order="F")

    def pinned(self, state):
        """Return the pinned rows as a problem of their own (``None`` if none).

        Rows are pinned when they make up a pure level (all of one class) and
        every fitted probability of that class there exceeds ``1 - PINNED``
        (the rule by which :func:`~._diagnostics.separation_message` names the
        level): the likelihood rises without bound along the level's
        indicator, and the rows' share of the derivatives decays only like the
        probabilities of the other classes, ``exp(-coefficient)``. Without
        that share the derivatives are those of the limit problem, in which
        those rows are fitted exactly.

        Returns
        -------
        (Problem, state, float) or None
            The rows' problem (no ridge), its state and their share of the
            weight: a derivative of the rows is ``share ×`` that of the returned
            problem.
        """
        if not self.levels:
            return None
        _, mu = state
        pinned = [rows for rows, label in self.levels if is_pinned(mu[rows], label)]
        if not pinned:
            return None
        rows = np.concatenate(pinned)
        share = float(self.w[rows].sum())
        rows_problem = Problem(
            self.X1[rows], self.Y[rows], self.w[rows], self.U[rows], self.family,
            np.zeros(self.q), self.penalized, offset=self.offset,
            transform=self.transform,
        )  # fmt: skip
        return rows_problem, (state[0][rows], mu[rows]), share

    def _block_weights(self, mu, k, j):
        """Return the row weights of block ``(k, j)`` of ``∂μ/∂η``."""
        if self.family.name != "multinomial":
            return self.family.derivative(mu[:, 0])
        return mu[:, k] * ((k == j) - mu[:, j])

    def _constraint_curvature(self, mu, multipliers, k, j):
        """Row weights of block ``(k, j)`` of ``∂²(λᵀc)/∂η²`` (before ``w``).

        With ``z = U λ`` per class and softmax means ``p`` (classes 1..K-1;
        the reference class has no constraint), ``Σ_c z_c ∂²p_c/∂η_k∂η_j =
        δ_kj p_k (z_k - z̄) - p_k p_j (z_k + z_j - 2 z̄)``, ``z̄ = Σ_c p_c z_c``.
        """
        Z = self.U @ multipliers.reshape(self.r, self.m, order="F")
        if self.family.name != "multinomial":
            return self.family.curvature2(mu[:, 0]) * Z[:, 0]
        mean = (mu * Z).sum(axis=1)
        cross = mu[:, k] * mu[:, j] * (Z[:, k] + Z[:, j] - 2 * mean)
        return (k == j) * mu[:, k] * (Z[:, k] - mean) - cross

    def jacobian(self, state):
        return self._first_order(state)[1].copy()

    def hessian(self, state, multipliers=None):
        """Hessian of the Lagrangian (of the loss alone without multipliers)."""
        _, mu = state
        H = np.empty((self.q * self.m, self.q * self.m))
        for k in range(self.m):
            for j in range(k, self.m):
                curvature = self._block_weights(mu, k, j)
                if multipliers is not None:
                    curvature = curvature + self._constraint_curvature(
                        mu, multipliers, k, j
                    )
                if self.gram is not None and curvature.min() == curvature.max():
                    block = curvature[0] * self.gram
                else:
                    block = weighted_gram(self.X1, self.w * curvature)
                    if self.transform is not None:
                        block = self.transform.T @ block @ self.transform
                        block = 0.5 * (block + block.T)
                if k == j:
                    block[np.diag_indices_from(block)] += self.ridge
                H[k * self.q : (k + 1) * self.q, j * self.q : (j + 1) * self.q] = block
                H[j * self.q : (j + 1) * self.q, k * self.q : (k + 1) * self.q] = (
                    block.T
                )
        return H

    def diverged(self, theta):
        coef = self.unpack(theta)[self.penalized]
        return coef.size > 0 and np.abs(coef).max() > DIVERGENCE_LIMIT


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
    """
    multipliers = np.zeros(problem.r * problem.m)
    rho = 1.0
    state = problem.state(theta, first_order=True)
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
            converged = True
            break
        if n_iter == max_iter:
            break
        if problem.diverged(theta):
            diverged = True
            break
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
    (:func:`~orthokit.linear_model._scaling.principal_components`), which
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
