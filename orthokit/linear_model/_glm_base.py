"""What the orthogonal GLMs share: fit, solve, predict (see :mod:`._glm`)."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, d2_tweedie_score, r2_score
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if

from orthokit._base import ProtectedColumnsMixin
from orthokit._dask import is_dask_collection
from orthokit._inputs import fit_guard, protected_names, read_design
from orthokit._inputs._target import read_y
from orthokit._inputs._weights import read_weights
from orthokit._linalg import RANK_RTOL, CollinearityWarning, matrix_rank
from orthokit._sklearn import (
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
)
from orthokit.linear_model._dask_glm import fit_dask, predict_blocks
from orthokit.linear_model._diagnostics import (
    SeparationWarning,
    pure_levels,
    separation_message,
)
from orthokit.linear_model._families import FAMILIES
from orthokit.linear_model._one_hot import OneHotGram
from orthokit.linear_model._problem import Problem
from orthokit.linear_model._row_blocks import one_blas_thread
from orthokit.linear_model._scaling import scale_target
from orthokit.linear_model._solvers import (
    _solve_intercept_only,
    _solve_mdmm,
    _solve_newton,
)
from orthokit.linear_model._standard_design import (
    principal_components,
    standardize,
)


class _OrthogonalGLMBase(ProtectedColumnsMixin, BaseEstimator):
    """Everything but the constructor; subclasses say which family to fit."""

    _parameter_constraints: dict = {
        "protected": [list, tuple, str, "array-like", Integral, None],
        "solver": [StrOptions({"mdmm", "newton"})],
        "protected_as_predictors": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "damping": [Interval(Real, 0, None, closed="neither")],
        "basis": [HasMethods(["fit", "transform"]), None],
    }

    def __init__(
        self,
        protected=None,
        *,
        solver="newton",
        protected_as_predictors=False,
        alpha=0.0,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-8,
        damping=1.0,
        basis=None,
    ):
        self.protected = protected
        self.solver = solver
        self.protected_as_predictors = protected_as_predictors
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.damping = damping
        self.basis = basis

    def _family_name(self, n_classes=None):
        raise NotImplementedError

    def _is_classifier(self):
        return FAMILIES[self._family_name()].is_classifier

    # ----------------------------------------------------------------- fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the constrained GLM.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Numeric predictors and the protected columns.
        y : array-like of shape (n_samples,)
            Class labels (binomial, multinomial), counts (poisson) or values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; the constraint then holds in the weighted
            inner product (the weighted evaluation model finds zero effects).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with fit_guard(self):
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        if y is None:
            read_y(y, 0, "regression", type(self).__name__)
        if is_dask_collection(X):
            return fit_dask(self, X, y, sample_weight)
        shape = getattr(X, "shape", (0, 0))
        with one_blas_thread(shape[0], shape[1] if len(shape) == 2 else 0):
            return self._fit_in_memory(X, y, sample_weight)

    def _fit_in_memory(self, X, y, sample_weight):
        S, source, columns = self._split_protected(X, reset=True)
        n_samples = S.shape[0]
        weights = read_weights(sample_weight, n_samples)
        Y, family = self._encode_y(y, n_samples, weights)
        predictors = self._predictors(S, source, columns)
        self._name_predictors(n_samples, S.shape[1])
        names = protected_names(self)
        self._check_shape(family, predictors.shape[1], np.count_nonzero(weights))
        w = weights / weights.sum()
        one_hot = OneHotGram.find(predictors, int(self.fit_intercept))
        design = standardize(predictors, S, w, names, self.fit_intercept, one_hot)
        X1, transform, gram, axes, ones = principal_components(design, w)
        lead = design.lead
        constant_only = self._check_design(
            np.diag(design.gram)[lead:],
            design.basis_cross,
            axes.shape[1],
        )
        target = scale_target(family.name, Y, w)
        ridge, penalized, offset, theta = self._start(
            lead, axes, target, family, w @ target.y
        )
        # Pure levels, where the maximum is at infinity (unless the constraints
        # keep it finite): the solvers stop along them once the rest converged.
        levels = []
        if family.is_classifier and self.alpha == 0:
            labels = (Y * np.arange(1, Y.shape[1] + 1)).sum(axis=1).astype(np.intp)
            levels = pure_levels(predictors, labels, w, one_hot)
        problem = Problem(
            X1, target.y, w, design.basis, family, ridge, penalized, offset=offset,
            gram=gram, levels=[(rows, label) for _, _, rows, label in levels],
            transform=transform, ones=ones,
            # Hessians by level sums where the predictors are read in place.
            one_hot=one_hot if X1 is predictors else None,
        )  # fmt: skip
        solution = self._run_solver(problem, theta, constant_only)
        Theta = self._store_solution(solution, problem, design, axes, target)
        # [1, X_std] Θ is the linear predictor in the original units of y (the
        # target's scaling is undone in Θ).
        mu = family.mean(design.standard_product(Theta))
        self.constraint_violation_ = float(
            np.abs(design.s_centred.T @ (w[:, None] * mu)).max(initial=0.0)
        )
        separation = None
        if family.is_classifier and self.alpha == 0:
            separation = separation_message(
                mu, Y, w, predictors, list(self.predictor_names_), levels=levels
            )
        self._warn_convergence(solution, separation)
        return self

    def _start(self, lead, axes, target, family, mean_y):
        """Return ``(ridge, penalized, offset, theta)``: the solver's problem and start.

        ``mean_y`` is the weighted mean of the scaled target (one per column).
        """
        n_components = lead + axes.shape[1]
        penalized = np.arange(n_components) >= lead
        # α‖β‖² on the standardized slopes β = Aγ, in the principal components.
        norms = np.concatenate([np.zeros(lead), np.sum(axes**2, axis=0)])
        ridge = self.alpha * target.alpha_factor * norms
        # With an intercept the offset of the target's change of units is
        # folded into it afterwards: a large offset (y + 1e6) inside the linear
        # predictor would cost its digits.
        offset = 0.0 if self.fit_intercept else target.offset
        theta = np.zeros((n_components, np.size(mean_y)))
        if self.fit_intercept:
            theta[0] = family.start(mean_y)
        return ridge, penalized, offset, theta.ravel(order="F")

    def _run_solver(self, problem, theta, constant_only):
        if constant_only:
            return _solve_intercept_only(problem, theta)
        return self._solve(problem, theta)

    def _store_solution(self, solution, problem, design, axes, target):
        """Set the fitted coefficients from the solver's answer.

        Returns ``Θ`` on the standardized predictors (``design.X1``), in the
        original units of ``y``: the linear predictor is ``[1, X_std] Θ``.
        """
        self.n_iter_ = int(solution.n_iter)
        lead = design.lead
        components = problem.unpack(solution.theta)
        Theta = np.vstack([components[:lead], axes @ components[lead:]])
        if self.fit_intercept:
            Theta[0] -= target.offset
        Theta *= target.theta_factor
        with np.errstate(over="ignore"):
            slopes = (Theta[1:] if lead else Theta) / design.x_scale[:, None]
        self._check_representable(slopes, design)
        n_outputs = Theta.shape[1]
        centred_intercepts = Theta[0] if self.fit_intercept else np.zeros(n_outputs)
        multipliers = (
            design.basis_map
            @ solution.multipliers.reshape(design.basis_map.shape[1], -1, order="F")
            * target.multiplier_factor
        )
        centred_intercepts = centred_intercepts - design.x_low @ slopes
        self._set_coefficients(slopes, centred_intercepts, multipliers)
        # Predictions are computed from centred predictors, so that columns like
        # 1e12 + N(0, 1) keep their digits at predict time too.
        self._predictor_offset = design.x_high
        self._centred_intercept = self.intercept_
        self.intercept_ = self._centred_intercept - self.coef_ @ design.x_high
        return Theta

    def _solve(self, problem, theta):
        if self.solver == "newton":
            return _solve_newton(problem, theta, max_iter=self.max_iter, tol=self.tol)
        if self.solver == "mdmm":
            return _solve_mdmm(
                problem, theta, max_iter=self.max_iter, tol=self.tol,
                damping=self.damping,
            )  # fmt: skip
        raise ValueError(f"unknown solver {self.solver!r}")  # pragma: no cover

    def _encode_y(self, y, n_samples, weights):
        """Return ``(Y, family)``: ``Y`` one column per non-reference class."""
        name = type(self).__name__
        if self._is_classifier():
            self.classes_, codes = read_y(y, n_samples, "classification", name)
            n_classes = len(self.classes_)
            family = FAMILIES[self._family_name(n_classes)]
            Y = (codes[:, None] == np.arange(1, n_classes)).astype(np.float64)
            return Y, family
        family = FAMILIES[self._family_name()]
        task = "counts" if family.name == "poisson" else "regression"
        y = read_y(y, n_samples, task, name)
        if family.name == "poisson" and weights @ y <= 0:
            raise ValueError(
                "y is zero everywhere; a Poisson model of all-zero counts has no "
                "finite solution."
            )
        return y[:, None], family

    def _predictors(self, S, source, columns):
        features = np.asarray(source[:, columns], dtype=np.float64)
        if self.protected_as_predictors:
            return np.hstack([features, S])
        return features

    def _name_predictors(self, n_samples, n_protected):
        """Refuse as many protected columns as rows; set ``predictor_names_``.

        Shared by the in-memory and the dask fit.
        """
        if n_samples <= n_protected:
            raise ValueError(
                f"X has {n_samples} sample(s) but {n_protected} encoded protected "
                "columns: more protected columns than rows. At least one more row "
                "than protected columns is needed."
            )
        extra = list(protected_names(self)) if self.protected_as_predictors else []
        self.predictor_names_ = np.asarray(
            self.protected_.feature_names_ + extra, dtype=object
        )

    def _check_shape(self, family, n_predictors, n_rows):
        """Refuse a classifier with more coefficients than rows and no ridge.

        Such classes are separable (the likelihood has no finite maximum), and
        the solvers would chase coefficients to infinity: an error at once.
        Regression families take the minimum-norm solution instead (with a
        :class:`~orthokit._linalg.CollinearityWarning`).
        """
        n_coefficients = n_predictors + int(self.fit_intercept)
        if self.alpha == 0 and family.is_classifier and n_coefficients > n_rows:
            raise ValueError(
                f"X has {n_predictors} predictor(s) but only {n_rows} row(s) of "
                f"positive weight: with more coefficients ({n_coefficients}) than "
                "rows the classes are separable and, with alpha=0, the likelihood "
                "has no finite maximum. Set a ridge penalty alpha > 0 (e.g. "
                "alpha=1e-4) or use fewer predictors."
            )

    def _check_representable(self, slopes, design):
        """Refuse slopes beyond float64 (predictors too small for the units of y)."""
        bad = ~np.isfinite(slopes).all(axis=1)
        if bad.any():
            raise ValueError(
                f"the coefficients of X column(s) {list(self.predictor_names_[bad])} "
                "overflow float64: the columns are too small (standard deviation "
                f"{design.x_scale[bad].min():.3g}) for slopes in the units of y. "
                "Multiply them by a constant (e.g. 1e300) or rescale y."
            )

    def _check_design(self, diag, jacobian, rank):
        """Warn about collinear predictors and about a degenerate feasible set.

        ``diag`` holds ``Σ w x²`` of the standardized predictors, ``jacobian``
        their weighted products with the orthonormal constraint basis
        (``Uᵀ W X_std``) and ``rank`` their numerical rank (see
        :func:`~orthokit.linear_model._standard_design.principal_components`): small
        statistics, which a dask fit reduces over row blocks. Returns whether
        the constraints leave only the intercept-only model.
        """
        n_predictors = diag.size
        if n_predictors == 0:
            return True
        if self.alpha == 0 and rank < n_predictors:
            warnings.warn(
                f"the predictors are collinear (rank {rank} < {n_predictors}, "
                "constant columns included); the coefficients are not unique and "
                "the minimum-norm solution is used. Drop redundant predictors or set "
                "alpha > 0.",
                CollinearityWarning,
                stacklevel=3,
            )
        # Σ w r² of the residual of each column on the (orthonormal) basis,
        # from the Gram matrix, against the column's own Σ w x²: the rank rule.
        residual_square = diag - np.sum(jacobian**2, axis=0)
        if (residual_square <= RANK_RTOL * diag).all():
            warnings.warn(
                "every predictor is a linear function of the protected columns, so "
                "the only model whose predictions satisfy the orthogonality "
                "constraints is the constant (intercept-only) one: all slopes are 0.",
                UserWarning,
                stacklevel=3,
            )
            return True
        if matrix_rank(jacobian, scale=1.0) == rank:
            # The linearized constraints S̃ᵀWXβ = 0 admit only β = 0 in the
            # span of X (entries of the Jacobian are correlations).
            warnings.warn(
                f"{n_predictors} predictor(s) against {jacobian.shape[0]} "
                "orthogonality constraint(s): the constraints leave the slopes no "
                "freedom, so the fitted model is the intercept-only one (every "
                "slope 0). Use more predictors than encoded protected columns.",
                UserWarning,
                stacklevel=3,
            )
            return True
        return False

    def _set_coefficients(self, slopes, intercepts, multipliers):
        family = self._fitted_family
        if family == "multinomial":
            self.coef_ = np.vstack([np.zeros(slopes.shape[0]), slopes.T])
            self.intercept_ = np.concatenate([[0.0], intercepts])
            self.multipliers_ = multipliers.T
        elif family == "binomial":
            self.coef_ = slopes.T
            self.intercept_ = np.asarray(intercepts, dtype=float)
            self.multipliers_ = multipliers[:, 0]
        else:
            self.coef_ = slopes[:, 0]
            self.intercept_ = float(intercepts[0])
            self.multipliers_ = multipliers[:, 0]

    @property
    def _fitted_family(self):
        if hasattr(self, "classes_"):
            return self._family_name(len(self.classes_))
        return self._family_name()

    def _warn_convergence(self, solution, separation):
        if separation is not None or solution.diverged:
            reason = separation or (
                "the coefficients diverge (the linear predictor spreads over 1e3 units)"
            )
            warnings.warn(
                f"{reason}: the data are separable, so the likelihood has no finite "
                f"maximum and the coefficients are not unique (solver={self.solver!r} "
                f"stopped after {solution.n_iter} iterations, constraint violation "
                f"{self.constraint_violation_:.2e}). Set a small ridge, e.g. "
                "alpha=1e-4, for a finite and unique solution.",
                SeparationWarning,
                stacklevel=3,
            )
        elif not solution.converged:
            warnings.warn(
                f"solver={self.solver!r} did not converge: {solution.message} after "
                f"{solution.n_iter} iterations (constraint violation "
                f"{self.constraint_violation_:.2e}, Lagrangian gradient "
                f"{solution.stationarity:.2e}, tol={self.tol}). Increase max_iter"
                + (" or try solver='newton'." if self.solver == "mdmm" else "."),
                ConvergenceWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------- predict

    @available_if(lambda self: self._is_classifier())
    def decision_function(self, X):
        """Linear predictor ``β₀ + Xβ``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Same columns as in fit (protected values are ignored unless
            ``protected_as_predictors=True``).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column per class for multinomial models.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return predict_blocks(self, X, "decision_function")
        eta = self._linear_predictor(X)
        if eta.ndim == 2 and eta.shape[1] == 2:
            return eta[:, 1]
        return eta

    def _linear_predictor(self, X):
        check_is_fitted(self)
        # Predictions need the protected columns only as predictors.
        design = read_design(
            self, X, reset=False, encode_protected=self.protected_as_predictors
        )
        predictors = self._predictors(design.S, design.source, design.columns)
        centred = predictors - self._predictor_offset
        eta = centred @ self.coef_.T + self._centred_intercept
        if self._fitted_family == "binomial":
            return eta[:, 0]
        return eta

    def predict(self, X):
        """Predict class labels (classifiers) or the mean ``h(η)`` (regressors).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return predict_blocks(self, X, "predict")
        eta = self._linear_predictor(X)
        family = self._fitted_family
        if family == "binomial":
            return self.classes_[(eta > 0).astype(int)]
        if family == "multinomial":
            return self.classes_[np.argmax(eta, axis=1)]
        return FAMILIES[family].mean(eta)

    @available_if(lambda self: self._is_classifier())
    def predict_proba(self, X):
        """Class probabilities (binomial and multinomial families).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return predict_blocks(self, X, "predict_proba")
        eta = self._linear_predictor(X)
        family = self._fitted_family
        if family == "binomial":
            p = FAMILIES["binomial"].mean(eta)
            return np.column_stack([1 - p, p])
        p = FAMILIES["multinomial"].mean(eta[:, 1:])
        return np.column_stack([1 - p.sum(axis=1), p])

    @available_if(lambda self: self._is_classifier())
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return predict_blocks(self, X, "predict_log_proba")
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None):
        """Accuracy (classifiers), D² of the Poisson deviance, or R² (gaussian).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        prediction = self.predict(X)
        family = self._fitted_family
        if family in ("binomial", "multinomial"):
            return accuracy_score(y, prediction, sample_weight=sample_weight)
        if family == "poisson":
            return d2_tweedie_score(y, prediction, sample_weight=sample_weight, power=1)
        return r2_score(y, prediction, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = False
        tags.input_tags.categorical = True
        tags.target_tags.required = True
        tags.target_tags.positive_only = self._family_name() == "poisson"
        if self._is_classifier():
            tags.estimator_type = "classifier"
            tags.classifier_tags = tags.classifier_tags or ClassifierTags()
            # The constraint deliberately removes what the protected columns
            # explain, so accuracy on data driven by them can be poor.
            tags.classifier_tags.poor_score = True
            # family="binomial" fits two classes only (and says so on more).
            tags.classifier_tags.multi_class = self._family_name() != "binomial"
            tags.regressor_tags = None
        else:
            tags.estimator_type = "regressor"
            tags.regressor_tags = tags.regressor_tags or RegressorTags()
            tags.classifier_tags = None
        return tags
