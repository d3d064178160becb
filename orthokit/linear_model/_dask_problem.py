"""OrthogonalGLM on dask: the solver's problem as one pass of block sums per point.

:class:`BlockProblem` has the interface of
:class:`~orthokit.linear_model._problem.Problem`: the in-memory solvers
(Newton-KKT, MDMM and its Newton polish) run on it unchanged. Each point the
solvers evaluate is one pass over the row blocks, each block returning its
loss, gradient, constraints, Jacobian and (for Newton) Hessian and constraint
curvature together.

What a pass reads depends on where the data are. When the collections are
held in memory (persisted, on the workers of a cluster or in this process),
each block is standardized once into its solver's columns
(:func:`prepare_block`), which are persisted beside it, and every pass reads
those: the blocks are neither read through the input layer nor standardized
again between iterations. Otherwise (data generated or read block by block,
out of core) every pass reads and standardizes each block afresh and nothing
of the size of the data is held.
"""

import numpy as np

from orthokit._dask import compute_relayed, placed, relayed
from orthokit.linear_model._dask_blocks import (
    _standard_columns,
    read_block,
    reduce_blocks,
)
from orthokit.linear_model._families import FAMILIES
from orthokit.linear_model._problem import DIVERGENCE_LIMIT, Problem
from orthokit.linear_model._row_blocks import weighted_gram

#: Rows of a chunk in the fused second-order products (a few hundred KB).
_ROWS = 4096


def is_held(collection):
    """Whether a dask collection's blocks are held in memory (``None``: yes).

    Held: no task of the collection's graph computes a block (each is a
    value: persisted, or made from an in-memory array or frame; an alias of
    one key for another is no computation). Data generated or read block by
    block, or any operation on held data, are not held.
    """
    if collection is None:
        return True
    from dask.core import istask

    try:
        from dask.task_spec import Alias
    except ImportError:  # dask before 2024.12: tuple tasks, no aliases
        Alias = ()
    return not any(
        istask(value) and not isinstance(value, Alias)
        for value in collection.__dask_graph__().values()
    )


def prepare_block(X, y, w, estimator, scales):
    """Return a block's solver columns ``(Z, Y, w)`` and basis, or ``None``.

    ``Z`` are the standardized predictors on the principal axes (without the
    column of ones), ``Y`` the scaled target and ``w`` the weights (a share
    of the total): what :func:`evaluate_block` needs at every point.
    """
    block = read_block(estimator, X, y, w, scales["classes"])
    if block is None:
        return None
    X_std, basis, Y, w, _, _ = _standard_columns(block, scales)
    if w.sum() == 0:
        return None
    Z = X_std @ scales["axes"]
    Y = ((Y * scales["y_power"] - scales["y_high"]) - scales["y_low"]) / scales[
        "y_spread"
    ]
    return Z, Y, w, basis


def evaluate_block(prepared, scales, theta, second_order):
    """Return the loss, gradient, constraints and derivatives of a block at theta."""
    if prepared is None:
        return None
    Z, Y, w, basis = prepared
    total = w.sum()
    lead = scales["lead"]
    q = lead + Z.shape[1]
    problem = Problem(
        Z, Y, w, basis, FAMILIES[scales["family"]], np.zeros(q),
        np.zeros(q, dtype=bool), offset=scales["offset"], ones=lead,
    )  # fmt: skip
    state = problem.state(theta, first_order=True)
    # The block's Problem normalizes its weights to sum to one; its sums are
    # scaled back to the block's share of the total weight.
    stats = {
        "loss": total * problem.objective(theta, state),
        "gradient": total * problem.gradient(theta, state),
        "constraints": total * problem.constraints(state),
        "jacobian": total * problem.jacobian(state),
    }
    if second_order:
        hessian, curvature = _second_order(problem, state, Z, lead)
        stats["hessian"] = total * hessian
        stats["curvature"] = total * curvature
    return stats


def _second_order(problem, state, Z, lead):
    """Return the loss Hessian and ``∂²c_i/∂θ²`` for every constraint ``i``.

    ``∂²(λᵀc)/∂θ²`` is linear in ``λ``: one matrix per multiplier. With one
    linear predictor they are ``[1, Z]ᵀ diag(d) [1, Z]`` for ``1 + r`` row
    weights ``d``: the Hessian's (non-negative) by the in-memory symmetric
    product (:func:`~._row_blocks.weighted_gram`), the ``r`` curvatures' in one
    product per chunk of rows (:func:`_signed_grams`).
    """
    if problem.m > 1:
        hessian = problem.hessian(state)
        unit = np.eye(problem.r * problem.m)
        curvature = [problem.hessian(state, row) - hessian for row in unit]
        return hessian, np.stack(curvature)
    mu = state[1][:, 0]
    family, w = problem.family, problem.w
    hessian = weighted_gram(Z, w * family.derivative(mu), ones=lead)
    weights = problem.U * (w * family.curvature2(mu))[:, None]
    return hessian, _signed_grams(Z, weights, lead)


def _signed_grams(Z, weights, lead):
    """Return ``[1, Z]ᵀ diag(weights[:, k]) [1, Z]`` for every column ``k``.

    One product per chunk of rows, ``[1, Z]ᵀ`` by the chunk times each
    weight, reading ``Z`` once. The chunk and its weighted copies live in
    two buffers made once: nothing of the size of a chunk is allocated in
    the loop (a worker of a dask cluster returns every freed temporary to
    the system and faults its pages in again at the next allocation).
    """
    n, r = weights.shape
    q = lead + Z.shape[1]
    total = np.zeros((q, r * q))
    buffer = np.empty((min(n, _ROWS), q))
    buffer[:, :lead] = 1.0
    weighted = np.empty((min(n, _ROWS), r, q))
    for start in range(0, n, _ROWS):
        rows = slice(start, start + _ROWS)
        size = len(weights[rows])
        block = buffer[:size]
        block[:, lead:] = Z[rows]
        np.multiply(block[:, None, :], weights[rows, :, None], out=weighted[:size])
        total += block.T @ weighted[:size].reshape(size, r * q)
    matrices = total.reshape(q, r, q).transpose(1, 0, 2)
    return 0.5 * (matrices + matrices.transpose(0, 2, 1))


def read_and_evaluate(X, y, w, estimator, scales, theta, second_order):
    """:func:`evaluate_block` of a block read and standardized afresh."""
    prepared = prepare_block(X, y, w, estimator, scales)
    return evaluate_block(prepared, scales, theta, second_order)


def block_passes(blocks, estimator, scales, held, whole=None):
    """Return ``evaluate(theta, second_order)``: one pass of block sums.

    With ``held`` the blocks' solver columns are computed once and persisted
    (on the workers of a distributed cluster), and each pass reads them.
    ``whole`` is the dask collection the blocks are the rows of (messages
    name its rows).
    """
    if held:
        import dask

        # The blocks' warnings come back once, with the first pass (each
        # persisted part is a block's columns and what reading it warned of).
        pairs = dask.persist(
            *[
                dask.delayed(relayed(placed(prepare_block, whole, number)))(
                    *block, estimator, scales
                )
                for number, block in enumerate(blocks)
            ]
        )
        compute_relayed([dask.delayed(_warnings_of)(pair) for pair in pairs])
        prepared = [(part[0],) for part in pairs]

        def evaluate(theta, second_order):
            return reduce_blocks(prepared, evaluate_block, scales, theta, second_order)

        return evaluate

    def evaluate(theta, second_order):
        return reduce_blocks(
            blocks,
            read_and_evaluate,
            estimator,
            scales,
            theta,
            second_order,
            whole=whole,
        )

    return evaluate


def _warnings_of(pair):
    """Return a persisted block's warnings alone (its columns stay put)."""
    return None, pair[1]


class _BlockState:
    def __init__(self, theta, stats):
        self.theta = theta
        self.stats = stats


class BlockProblem:
    """:class:`~orthokit.linear_model._problem.Problem` over dask row blocks.

    :meth:`state` is one pass over the data (``evaluate``, see
    :func:`block_passes`), which returns everything the solvers ask of that
    point: the loss, gradient, constraints and Jacobian, and
    (``second_order=True``, for Newton) the Hessian and the curvature of each
    constraint, so that an accepted step needs no further pass. Without
    ``second_order`` (MDMM's line searches) the Hessian costs a pass of its
    own when asked for.
    """

    def __init__(self, evaluate, scales, family, ridge, penalized, *, second_order):
        self.evaluate = evaluate
        self.family = family
        self.penalized = penalized
        self.ridge = np.where(penalized, ridge, 0.0)
        self.second_order = second_order
        self.q = len(ridge)
        self.m = scales["n_outputs"]
        self.r = scales["basis_map"].shape[1]
        self.n_passes = 0
        self._seen = {}

    def _pass(self, theta, second_order):
        self.n_passes += 1
        return self.evaluate(theta, second_order)

    def unpack(self, theta):
        return theta.reshape(self.q, self.m, order="F")

    def state(self, theta, first_order=True):
        # One pass computes the first order (and more) anyway: the flag of
        # Problem.state has nothing to choose here.
        theta = np.array(theta, dtype=np.float64)
        # The solvers ask again for points they have seen (the polish starts
        # where Newton stopped): a pass over the data is worth a lookup.
        key = theta.tobytes()
        if key not in self._seen:
            if len(self._seen) >= 4:
                self._seen.pop(next(iter(self._seen)))
            self._seen[key] = _BlockState(theta, self._pass(theta, self.second_order))
        return self._seen[key]

    def objective(self, theta, state):
        penalty = 0.5 * self.ridge @ np.sum(self.unpack(theta) ** 2, axis=1)
        return state.stats["loss"] + penalty

    def gradient(self, theta, state):
        ridge = self.ridge[:, None] * self.unpack(theta)
        return state.stats["gradient"] + ridge.ravel(order="F")

    def constraints(self, state):
        return state.stats["constraints"]

    def jacobian(self, state):
        return state.stats["jacobian"]

    def lagrangian_gradient(self, theta, state, v):
        return self.gradient(theta, state) + self.jacobian(state).T @ v

    def hessian(self, state, multipliers=None):
        if "hessian" not in state.stats:
            state.stats.update(self._pass(state.theta, True))
        H = state.stats["hessian"].copy()
        if multipliers is not None:
            H += np.tensordot(multipliers, state.stats["curvature"], axes=1)
        H[np.diag_indices_from(H)] += np.tile(self.ridge, self.m)
        return H

    def diverged(self, theta):
        coef = self.unpack(theta)[self.penalized]
        return coef.size > 0 and np.abs(coef).max() > DIVERGENCE_LIMIT
