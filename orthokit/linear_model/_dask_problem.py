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


def evaluate_block(prepared, scales, theta, multipliers):
    """Return the loss, gradient, constraints and derivatives of a block at theta.

    With ``multipliers`` (an array) also the Hessian of the Lagrangian at
    them (of the loss alone at zeros); with ``None`` the first order only.
    """
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
    if multipliers is not None:  # the in-memory Hessian of the Lagrangian
        stats["hessian"] = total * problem.hessian(state, multipliers)
    return stats


def read_and_evaluate(X, y, w, estimator, scales, theta, multipliers):
    """:func:`evaluate_block` of a block read and standardized afresh."""
    prepared = prepare_block(X, y, w, estimator, scales)
    return evaluate_block(prepared, scales, theta, multipliers)


def block_passes(blocks, estimator, scales, held, whole=None):
    """Return ``evaluate(theta, multipliers)``: one pass of block sums.

    ``multipliers``: those of the Hessian the pass computes, or ``None``
    (see :func:`evaluate_block`).

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

        def evaluate(theta, multipliers):
            return reduce_blocks(prepared, evaluate_block, scales, theta, multipliers)

        return evaluate

    def evaluate(theta, multipliers):
        return reduce_blocks(
            blocks,
            read_and_evaluate,
            estimator,
            scales,
            theta,
            multipliers,
            whole=whole,
        )

    return evaluate


def _warnings_of(pair):
    """Return a persisted block's warnings alone (its columns stay put)."""
    return None, pair[1]


class _BlockState:
    def __init__(self, theta, stats, multipliers):
        self.theta = theta
        self.stats = stats
        # The multipliers of the Lagrangian whose Hessian ``stats`` hold.
        self.multipliers = multipliers


class BlockProblem:
    """:class:`~orthokit.linear_model._problem.Problem` over dask row blocks.

    :meth:`state` is one pass over the data (``evaluate``, see
    :func:`block_passes`), which returns everything the solvers ask of that
    point: the loss, gradient, constraints and Jacobian, and
    (``second_order=True``, for Newton) the Hessian of the Lagrangian at the
    multipliers the solver will take there, so that an accepted step needs
    no further pass. The solver names them before it asks for the point
    (:meth:`expect_hessian`; the loss's Hessian where it has not); a Hessian
    asked for at other multipliers, or without ``second_order`` (MDMM's
    line searches), costs a pass of its own.
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
        self._expected = self._zeros()

    def _zeros(self):
        return np.zeros(self.r * self.m)

    def _pass(self, theta, multipliers):
        self.n_passes += 1
        return self.evaluate(theta, multipliers)

    def expect_hessian(self, multipliers):
        """Name the multipliers of the Hessian the solver will ask of the next state.

        ``None``: no Hessian will be asked there. The next call of
        :meth:`state` (only that one) computes it in its pass.
        """
        self._expected = None if multipliers is None else np.array(multipliers)

    def unpack(self, theta):
        return theta.reshape(self.q, self.m, order="F")

    def state(self, theta, first_order=True):
        # One pass computes the first order (and more) anyway: the flag of
        # Problem.state has nothing to choose here.
        theta = np.array(theta, dtype=np.float64)
        expected, self._expected = self._expected, self._zeros()
        if not self.second_order:
            expected = None
        # The solvers ask again for points they have seen (the polish starts
        # where Newton stopped): a pass over the data is worth a lookup.
        key = theta.tobytes()
        if key not in self._seen:
            if len(self._seen) >= 4:
                self._seen.pop(next(iter(self._seen)))
            stats = self._pass(theta, expected)
            self._seen[key] = _BlockState(theta, stats, expected)
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
        multipliers = self._zeros() if multipliers is None else multipliers
        held = state.multipliers
        if held is None or not np.array_equal(held, multipliers):
            state.stats.update(self._pass(state.theta, multipliers))
            state.multipliers = np.array(multipliers)
        H = state.stats["hessian"].copy()
        H[np.diag_indices_from(H)] += np.tile(self.ridge, self.m)
        return H

    def diverged(self, theta):
        coef = self.unpack(theta)[self.penalized]
        return coef.size > 0 and np.abs(coef).max() > DIVERGENCE_LIMIT
