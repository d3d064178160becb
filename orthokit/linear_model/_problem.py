"""The orthogonality-constrained GLM problem: objective, constraints, derivatives.

The problem, on standardized predictors ``X1`` (with a leading column of ones
when there is an intercept) and coefficients ``Θ`` of shape ``(q, m)``::

    minimize   Σ wᵢ ℓ(yᵢ, ηᵢ) + ½ Σⱼ αⱼ ‖Θⱼ‖²         η = X1 Θ + offset
    subject to c(Θ) = Uᵀ (w ⊙ h(η)) = 0

with weights ``w`` summing to one and ``U`` an orthonormal (in the weighted
inner product) basis of the centred protected columns, so that ``c = 0`` iff
``S̃ᵀ W h(η) = 0``. Parameters are flattened class block by class block
(``Θ.ravel(order="F")``), and so are the constraints.

:class:`Problem` evaluates them on the data; the solvers
(:mod:`orthokit.linear_model._solvers`) only ask it for values and
derivatives. Nothing here knows about scikit-learn.
"""

import numpy as np

from orthokit.linear_model._row_blocks import (
    _CROSS_ROWS,
    cross_product,
    weighted_gram,
)
from orthokit.linear_model._separation import is_pinned

#: Largest coefficient of a whitened predictor (a principal component of unit
#: weighted variance, see ``principal_components``) before the data count as
#: separable: the linear predictor then spreads over 1e3 units.
DIVERGENCE_LIMIT = 1e3


class Problem:
    """Objective, constraints and their derivatives on standardized data.

    With a ``transform`` the problem's design is ``X1 @ transform`` (the
    whitened principal components of ``X1``, see ``principal_components``)
    without that product being formed: each pass goes over ``X1`` and the
    ``q x q`` transform is applied to its small results. With ``ones`` the
    design has that many columns of ones before ``X1`` (the predictors read
    in place, the transform holding their centring), which are not stored.
    """

    def __init__(
        self, X1, Y, weights, basis, family, alpha, penalized, offset=0.0, gram=None,
        levels=(), transform=None, ones=0, one_hot=None,
    ):  # fmt: skip
        self.X1 = X1
        # X1's indicator columns (a OneHotGram): Hessians by sums over levels.
        self.one_hot = one_hot
        self.ones = ones
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
        self.q = ones + X1.shape[1] if transform is None else transform.shape[1]
        self.m = Y.shape[1]
        self.r = basis.shape[1]
        # Pure levels (see _diagnostics.pure_levels) as (row indices, class):
        # along them the maximum is at infinity, and the solvers stop once the
        # rest has converged and the fitted probabilities there are pinned.
        self.levels = list(levels)
        # The last _first_order answer, with the means it was computed from,
        # and the last loss and constraints computed in a fused pass, with
        # their η and μ.
        self._first = (None, None)
        self._loss = (None, None)
        self._constraints = (None, None)

    def unpack(self, theta):
        return theta.reshape(self.q, self.m, order="F")

    def _times(self, block, coef, out=None):
        """Return ``[1, block] coef`` (the columns of ones implied by ``ones``)."""
        out = np.matmul(block, coef[self.ones :], out=out)
        if self.ones:
            out += coef[0]
        return out

    def linear_predictor(self, theta):
        """Return ``X1 Θ`` without the offset (``Θ`` of one class)."""
        coef = theta if self.transform is None else self.transform @ theta
        return self._times(self.X1, coef)

    def weighted_sum(self, rows):
        """Return ``Σ wᵢ xᵢ`` over ``rows`` of the problem's design."""
        total = self.X1[rows].T @ self.w[rows]
        if self.ones:
            total = np.concatenate([[self.w[rows].sum()], total])
        return total if self.transform is None else self.transform.T @ total

    def state(self, theta, first_order=False):
        """Return ``(η, μ)`` at ``theta``.

        With ``first_order`` the gradient and the constraint Jacobian there
        (see :meth:`_first_order`) are computed in the same pass, by blocks of
        rows of ``X1`` that are read once for both products: for the solver's
        steps, whose points are nearly always accepted. So is the loss and the
        constraints (see :meth:`objective`, :meth:`constraints`), while each
        block of ``η`` and ``μ`` is in cache, without temporaries of the size
        of the data.
        """
        coef = self.unpack(theta)
        if self.transform is not None:
            coef = self.transform @ coef
        n = self.X1.shape[0]
        if not first_order or n <= _CROSS_ROWS:
            eta = self._times(self.X1, coef) + self.offset
            state = eta, self.family.mean(eta)
            if first_order:
                self._first_order(state)
            return state
        eta = np.empty((n, self.m))
        mu = np.empty((n, self.m))
        ones = self.ones
        product = np.zeros((ones + self.X1.shape[1], self.m + self.r * self.m**2))
        loss = 0.0
        constraints = np.zeros((self.r, self.m))
        for start in range(0, n, _CROSS_ROWS):
            rows = slice(start, start + _CROSS_ROWS)
            block = self.X1[rows]
            self._times(block, coef, out=eta[rows])
            eta[rows] += self.offset
            mu[rows] = self.family.mean(eta[rows])
            loss += self.w[rows] @ self.family.loss(self.Y[rows], eta[rows])
            constraints += self.U[rows].T @ (self.w[rows, None] * mu[rows])
            columns = self._first_order_columns(mu[rows], rows)
            product[ones:] += (columns.T @ block).T  # see cross_product
            if ones:
                product[0] += columns.sum(axis=0)
        self._first = (mu, self._first_order_split(product))
        self._loss = (eta, loss)
        self._constraints = (mu, constraints.ravel(order="F"))
        return eta, mu

    def objective(self, theta, state):
        eta, _ = state
        if self._loss[0] is eta:
            loss = self._loss[1]
        else:
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
        product = cross_product(
            self.X1, self._first_order_columns(mu, slice(None)), ones=self.ones
        )
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
        if self._constraints[0] is mu:
            return self._constraints[1].copy()
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
        grad = cross_product(self.X1, self.w[:, None] * residual, ones=self.ones)
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
            The rows' problem (no ridge, its ``indices`` the rows' positions),
            its state and their share of the weight: a derivative of the rows
            is ``share ×`` that of the returned problem.
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
            transform=self.transform, ones=self.ones,
        )  # fmt: skip
        rows_problem.indices = rows
        return rows_problem, (state[0][rows], mu[rows]), share

    def _block_weights(self, mu, k, j):
        """Return the row weights of block ``(k, j)`` of ``∂μ/∂η``."""
        if self.family.name != "multinomial":
            return self.family.derivative(mu[:, 0])
        return mu[:, k] * ((k == j) - mu[:, j])

    def _constraint_curvature(self, mu, multipliers, k, j, rows=slice(None)):
        """Row weights of block ``(k, j)`` of ``∂²(λᵀc)/∂η²`` (before ``w``).

        ``mu`` holds the means of ``rows`` (a slice of the problem's rows).

        With ``z = U λ`` per class and softmax means ``p`` (classes 1..K-1;
        the reference class has no constraint), ``Σ_c z_c ∂²p_c/∂η_k∂η_j =
        δ_kj p_k (z_k - z̄) - p_k p_j (z_k + z_j - 2 z̄)``, ``z̄ = Σ_c p_c z_c``.
        """
        Z = self.U[rows] @ multipliers.reshape(self.r, self.m, order="F")
        if self.family.name != "multinomial":
            return self.family.curvature2(mu[:, 0]) * Z[:, 0]
        mean = (mu * Z).sum(axis=1)
        cross = mu[:, k] * mu[:, j] * (Z[:, k] + Z[:, j] - 2 * mean)
        return (k == j) * mu[:, k] * (Z[:, k] - mean) - cross

    def jacobian(self, state):
        return self._first_order(state)[1].copy()

    def _curvature(self, mu, multipliers, k, j, rows):
        """Row weights of block ``(k, j)`` of the Hessian on ``rows`` (before ``w``)."""
        curvature = self._block_weights(mu[rows], k, j)
        if multipliers is not None:
            curvature = curvature + self._constraint_curvature(
                mu[rows], multipliers, k, j, rows
            )
        return curvature

    def hessian(self, state, multipliers=None):
        """Hessian of the Lagrangian (of the loss alone without multipliers).

        The row weights are computed by blocks of rows, each used while in
        cache, without temporaries of the size of the data. Where they are
        the same on every row and ``gram`` is known, no pass over ``X1``.
        """
        _, mu = state
        H = np.empty((self.q * self.m, self.q * self.m))
        starts = range(0, mu.shape[0], _CROSS_ROWS)
        blocks = [slice(start, start + _CROSS_ROWS) for start in starts]
        for k in range(self.m):
            for j in range(k, self.m):
                constant = self._constant_curvature(mu, multipliers, k, j, blocks)
                if constant is not None:
                    block = constant * self.gram
                else:
                    block = self._weighted_gram(mu, multipliers, k, j, blocks)
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

    def _weighted_gram(self, mu, multipliers, k, j, blocks):
        """Return ``[1, X1]ᵀ diag(w ⊙ curvature) [1, X1]``, Hessian block ``(k, j)``."""
        if self.one_hot is not None:
            curvature = self._curvature(mu, multipliers, k, j, slice(None))
            return self.one_hot.gram(self.w * curvature)
        block = np.zeros((self.X1.shape[1] + self.ones,) * 2)
        for rows in blocks:
            curvature = self._curvature(mu, multipliers, k, j, rows)
            block += weighted_gram(
                self.X1[rows], self.w[rows] * curvature, ones=self.ones
            )
        return block

    def _constant_curvature(self, mu, multipliers, k, j, blocks):
        """Return the row weight of Hessian block ``(k, j)`` where it is constant.

        ``None`` where it differs between rows or ``gram`` is unknown. The
        test stops at the first block of rows whose weights differ (the usual
        case after the first step): one block's weights, not a pass.
        """
        if self.gram is None:
            return None
        value = None
        for rows in blocks:
            curvature = self._curvature(mu, multipliers, k, j, rows)
            low, high = curvature.min(initial=np.inf), curvature.max(initial=-np.inf)
            if low != high or (value is not None and low != value):
                return None
            value = low if value is None else value
        return value

    def diverged(self, theta):
        coef = self.unpack(theta)[self.penalized]
        return coef.size > 0 and np.abs(coef).max() > DIVERGENCE_LIMIT
