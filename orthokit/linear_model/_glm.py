"""OrthogonalGLM: GLMs whose predictions carry no linear trace of protected columns."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, d2_tweedie_score, r2_score
from sklearn.pipeline import make_pipeline
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
        if n_samples <= S.shape[1]:
            raise ValueError(
                f"X has {n_samples} sample(s) but {S.shape[1]} encoded protected "
                "columns: more protected columns than rows. At least one more row "
                "than protected columns is needed."
            )
        names = protected_names(self)
        self.predictor_names_ = np.asarray(
            self.protected_.feature_names_
            + (list(names) if self.protected_as_predictors else []),
            dtype=object,
        )
        self._check_shape(family, predictors.shape[1], np.count_nonzero(weights))
        w = weights / weights.sum()
        design = standardize(predictors, S, w, names, self.fit_intercept)
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
            levels = pure_levels(predictors, labels, w)
        problem = Problem(
            X1, target.y, w, design.basis, family, ridge, penalized, offset=offset,
            gram=gram, levels=[(rows, label) for _, _, rows, label in levels],
            transform=transform, ones=ones,
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


class OrthogonalGLM(_OrthogonalGLMBase):
    """Generalized linear model whose predictions are orthogonal to protected columns.

    Fits ``μ = h(β₀ + Xβ)`` (canonical link ``h``) by maximum likelihood under
    the equality constraints ``S̃ᵀ W μ = 0``, one per encoded protected column
    (and, for a multinomial model, per class but one), where ``S̃`` are the
    centred protected columns. By the score equations of a canonical-link GLM,
    an evaluation model that regresses the training predictions on
    ``[1, S]`` with the same family then finds protected coefficients of
    exactly zero: the predictions carry no linear trace of the protected
    attributes. Predictions need only the features, not the protected values.

    Parameters
    ----------
    protected : str, int or list of str or int
        Names (for data frames) or positions of the protected columns of ``X``.
        Numeric columns are used as they are; boolean, categorical, string and
        object columns are one-hot encoded with the first level dropped. The
        other columns of ``X`` are the predictors and must be numeric (one-hot
        encode categorical features first, e.g. with a ``ColumnTransformer``).
    family : {"binomial", "multinomial", "poisson", "gaussian"}, default="binomial"
        Distribution of the target, with its canonical link (logit, softmax,
        log, identity). Binomial and multinomial models are classifiers.
    solver : {"newton", "mdmm"}, default="newton"
        ``"newton"``: Newton steps on the KKT system with a line search on an
        augmented-Lagrangian merit function. ``"mdmm"``: the modified
        differential multiplier method of the method's authors (descent on the
        coefficients of the augmented Lagrangian, ascent on one multiplier per
        constraint; its damping grows boundedly and a stall ends in a
        ``ConvergenceWarning`` that says what did not converge). Newton is the
        default on evidence: on the test table
        (``tests/linear_model/test_glm_robust.py``: units 1e-4..1e4, offsets
        1e12, Poisson counts up to 9,324, rank deficient one-hot designs)
        both solvers agree to 2e-6, but newton reaches constraint violations
        near 1e-13 in 1-8 iterations where mdmm stops at its tolerance after
        7-120 L-BFGS steps, and newton was as fast or faster (up to 10x) on
        every case timed.
    protected_as_predictors : bool, default=False
        Also use the encoded protected columns as predictors. The constraint
        still holds, so what they contribute is only what the features cannot.
        If ``False`` their values are ignored at prediction time (but the
        columns must be present).
    alpha : float, default=0.0
        Ridge penalty ``α/2 ‖β‖²`` on the standardized slopes (the intercept is
        not penalized). Set ``alpha=1e-4`` when a :class:`SeparationWarning`
        says the classes are (quasi-)separated; required by the classification
        families when there are more coefficients than rows of positive weight.
        With more predictors than rows the fit works in the row space of the
        predictors (``O(n² p)``).
    fit_intercept : bool, default=True
        Fit an unconstrained intercept.
    max_iter : int, default=1000
        Maximum number of Newton steps (``"newton"``) or of L-BFGS steps on
        the coefficients in total (``"mdmm"``).
    tol : float, default=1e-8
        Convergence when both the largest constraint ``|Uᵀ W μ| / Σw`` (on
        whitened protected columns) and the largest entry of the gradient of
        the Lagrangian (standardized scale) are below ``tol``.
    damping : float, default=1.0
        Initial damping ``c`` of MDMM's quadratic term (grown tenfold while the
        violation does not shrink); unused by ``"newton"``.
    basis : transformer, default=None
        A scikit-learn transformer applied to the encoded protected columns
        (``SplineTransformer``, a ``ColumnTransformer`` selecting them by
        name, ...): the constraints are ``Φ̃ᵀ W μ = 0`` for its centred output
        ``Φ̃``, so the predictions carry no trace of anything linear in the
        basis (a curve in age). A clone is fitted in fit and kept as
        ``basis_``; with ``protected_as_predictors=True`` its output is also
        what is used as predictors.

    Attributes
    ----------
    coef_ : ndarray
        Coefficients on the original scale of the predictors: shape
        ``(1, n_predictors)`` for binomial, ``(n_classes, n_predictors)`` for
        multinomial (the first class is the reference, its row is zero) and
        ``(n_predictors,)`` otherwise.
    intercept_ : ndarray or float
        Intercept(s), shaped like the first axis of ``coef_`` (a float for the
        regression families).
    multipliers_ : ndarray
        Lagrange multipliers of the constraints ``S̃ᵀ W μ / Σw = 0`` (objective
        the mean loss): shape ``(n_protected_encoded,)``, or
        ``(n_classes - 1, n_protected_encoded)`` for multinomial. With
        collinear protected columns the multipliers are not unique; the
        multipliers of a basis of their span, mapped back, are reported.
    constraint_violation_ : float
        ``max |S̃ᵀ W μ| / Σw`` on the training data at the solution.
    basis_ : transformer
        The fitted clone of ``basis`` (only with a ``basis``).
    n_iter_ : int
        Iterations the solver used (see ``max_iter``).
    classes_ : ndarray of shape (n_classes,)
        Class labels (binomial and multinomial families).
    predictor_names_ : ndarray of str
        Names of the predictors, in the order of the columns of ``coef_``.
    protected_ : ProtectedColumns
        The resolved protected columns: positions, categories, encoded names.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X`` seen in fit, when they are all strings.

    See Also
    --------
    OrthogonalLogisticRegression : The classifier with the family chosen from
        the number of classes.
    OrthogonalPoissonRegressor : The Poisson regressor.
    make_posthoc_pipeline : Dimension reduction of embeddings, then the model.

    Notes
    -----
    The predictors are standardized internally (weighted mean and standard
    deviation) and the constraints use an orthonormal basis of the centred
    protected columns, which has the same feasible set; coefficients and
    multipliers are reported on the original scale. The constrained problem is
    always feasible (a constant prediction satisfies it). When the predictors
    lie in the span of the protected columns only the intercept-only model is
    feasible, and a warning says so; collinear predictors or protected columns
    give a :class:`~orthokit._linalg.CollinearityWarning`. The solvers work on
    the whitened principal components of the standardized predictors: nearly
    collinear predictors are as well conditioned as any, directions below the
    rank cut-off are dropped (the minimum-norm solution), and with more
    predictors than rows the fit costs ``O(n² p)``, not ``O(p³)``.

    Separation: when every training row is classified correctly, or when a
    level of a two-valued predictor (a one-hot category) has rows of one class
    only and the fitted probabilities there go to 0 or 1, the likelihood has
    no finite maximum; a :class:`SeparationWarning` (a ``ConvergenceWarning``,
    like statsmodels' ``PerfectSeparationWarning``) names the levels. Once
    such a level's fitted probabilities pass ``1 - 1e-3`` the solvers leave
    its rows out of their convergence test and stop when the rest has
    converged (the newton solver then moves the level's rows to their limit
    and refits the rest): the predictions on the other rows are those of the
    limit problem, in which the level is fitted exactly, and the two solvers
    agree on them (binomial family). The coefficients are still arbitrary
    along the separating direction, and under complete separation the
    solvers stop at different points. Set a small ridge, ``alpha=1e-4`` (on
    the standardized slopes): the maximum becomes finite and unique, and both
    solvers agree to 1e-6. The constraint can keep the maximum finite (a pure
    level of a predictor the protected columns depend on); then nothing is
    warned.

    Units: ``X``, ``S`` and ``y`` (Gaussian: centred and scaled; Poisson:
    divided by its mean) are standardized internally, with means taken in two
    passes, so results do not depend on the units or offsets of the data.

    The evaluation model is fitted on the training data; on new data the
    protected effects are near zero but not exactly zero, as for any
    in-sample correction.

    Dask: ``X`` a dask array or data frame (``y`` and ``sample_weight`` dask
    arrays or series aligned with it) is fitted by block-wise reductions, one
    pass over the data per evaluation of the model (loss, gradient, Hessian
    and constraint Jacobian together), and equals the in-memory fit to
    rounding; ``solver="mdmm"`` costs a pass per L-BFGS evaluation, so
    ``"newton"`` suits a cluster. Predictions on dask input are lazy, block
    by block. A ``basis`` is fitted on the first 1,000 rows, as by the
    projector.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from orthokit.linear_model import OrthogonalGLM
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.integers(0, 2, size=500)
    >>> x = rng.normal(size=(500, 2)) + sex[:, None]
    >>> y = (x[:, 0] + x[:, 1] + rng.normal(size=500) > 1).astype(int)
    >>> X = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "sex": sex})
    >>> glm = OrthogonalGLM(protected=["sex"], solver="newton").fit(X, y)
    >>> bool(glm.constraint_violation_ < 1e-10)
    True
    >>> p = glm.predict_proba(X)[:, 1]
    >>> bool(abs(np.cov(sex, p)[0, 1]) < 1e-10)
    True
    """

    _parameter_constraints: dict = {
        **_OrthogonalGLMBase._parameter_constraints,
        "family": [StrOptions(set(FAMILIES))],
    }

    def __init__(
        self,
        protected=None,
        *,
        family="binomial",
        solver="newton",
        protected_as_predictors=False,
        alpha=0.0,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-8,
        damping=1.0,
        basis=None,
    ):
        super().__init__(
            protected,
            solver=solver,
            protected_as_predictors=protected_as_predictors,
            alpha=alpha,
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            damping=damping,
            basis=basis,
        )
        self.family = family

    def _family_name(self, n_classes=None):
        """Return the family to fit (``n_classes`` is known in a classifier's fit)."""
        if n_classes is not None and self.family == "binomial" and n_classes > 2:
            raise ValueError(
                "Only binary classification is supported. family='binomial' needs 2 "
                f"classes but y has {n_classes}; use family='multinomial'."
            )
        return self.family


class OrthogonalLogisticRegression(ClassifierMixin, _OrthogonalGLMBase):
    """Logistic regression with predictions orthogonal to protected columns.

    :class:`OrthogonalGLM` with the binomial family for two classes and the
    multinomial family (one constraint block per class but one) for more.
    See :class:`OrthogonalGLM` for the method, parameters and attributes.

    Parameters
    ----------
    protected : str, int or list of str or int
        Names or positions of the protected columns of ``X``.
    solver : {"newton", "mdmm"}, default="newton"
        Constrained solver.
    protected_as_predictors : bool, default=False
        Also use the encoded protected columns as predictors.
    alpha : float, default=0.0
        Ridge penalty on the standardized slopes.
    fit_intercept : bool, default=True
        Fit an unconstrained intercept.
    max_iter : int, default=1000
        Maximum number of solver iterations.
    tol : float, default=1e-8
        Tolerance on the constraint violation and the Lagrangian gradient.
    damping : float, default=1.0
        Initial MDMM damping.
    basis : transformer, default=None
        Transformer of the encoded protected columns; the constraints hold
        for its output (see :class:`OrthogonalGLM`).

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_predictors) or (n_classes, n_predictors)
        Coefficients on the original scale (first class zero for several).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    multipliers_ : ndarray
        Lagrange multipliers of the constraints.
    constraint_violation_ : float
        ``max |S̃ᵀ W μ| / Σw`` on the training data.
    n_iter_ : int
        Solver iterations.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    predictor_names_ : ndarray of str
        Names of the predictors.
    protected_ : ProtectedColumns
        The resolved protected columns.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X`` seen in fit, when they are all strings.

    See Also
    --------
    OrthogonalGLM : The general model.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.linear_model import OrthogonalLogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> s = rng.integers(0, 2, size=300)
    >>> X = np.column_stack([rng.normal(size=300) + s, s])
    >>> y = rng.choice(["a", "b", "c"], size=300)
    >>> clf = OrthogonalLogisticRegression(protected=[1], solver="newton").fit(X, y)
    >>> clf.predict_proba(X).shape, bool(clf.constraint_violation_ < 1e-10)
    ((300, 3), True)
    """

    def _family_name(self, n_classes=None):
        return "multinomial" if n_classes is not None and n_classes > 2 else "binomial"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # ClassifierMixin resets the classifier tags after the base class.
        tags.classifier_tags.poor_score = True
        return tags

    def score(self, X, y, sample_weight=None):
        """Accuracy.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        return _OrthogonalGLMBase.score(self, X, y, sample_weight)


class OrthogonalPoissonRegressor(RegressorMixin, _OrthogonalGLMBase):
    """Poisson regression (log link) with predictions orthogonal to protected columns.

    :class:`OrthogonalGLM` with ``family="poisson"``; :meth:`score` is D² of
    the Poisson deviance. ``y`` must be non-negative; non-integer values are
    accepted as rates (counts per unit exposure), as in scikit-learn's
    ``PoissonRegressor``, and negative values are an error.

    Parameters
    ----------
    protected : str, int or list of str or int
        Names or positions of the protected columns of ``X``.
    solver : {"newton", "mdmm"}, default="newton"
        Constrained solver.
    protected_as_predictors : bool, default=False
        Also use the encoded protected columns as predictors.
    alpha : float, default=0.0
        Ridge penalty on the standardized slopes.
    fit_intercept : bool, default=True
        Fit an unconstrained intercept.
    max_iter : int, default=1000
        Maximum number of solver iterations.
    tol : float, default=1e-8
        Tolerance on the constraint violation and the Lagrangian gradient.
    damping : float, default=1.0
        Initial MDMM damping.
    basis : transformer, default=None
        Transformer of the encoded protected columns; the constraints hold
        for its output (see :class:`OrthogonalGLM`).

    Attributes
    ----------
    coef_ : ndarray of shape (n_predictors,)
        Coefficients on the original scale.
    intercept_ : float
        Intercept.
    multipliers_ : ndarray of shape (n_protected_encoded,)
        Lagrange multipliers of the constraints.
    constraint_violation_ : float
        ``max |S̃ᵀ W μ| / Σw`` on the training data.
    n_iter_ : int
        Solver iterations.
    predictor_names_ : ndarray of str
        Names of the predictors.
    protected_ : ProtectedColumns
        The resolved protected columns.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X`` seen in fit, when they are all strings.

    See Also
    --------
    OrthogonalGLM : The general model.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.linear_model import OrthogonalPoissonRegressor
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 2))
    >>> s = 0.5 * x[:, 0] + rng.normal(size=400)
    >>> y = rng.poisson(np.exp(0.3 * x[:, 0] + 0.3 * x[:, 1]))
    >>> X = np.column_stack([x, s])
    >>> reg = OrthogonalPoissonRegressor(protected=[2], solver="newton").fit(X, y)
    >>> bool(abs(np.sum((s - s.mean()) * reg.predict(X))) / 400 < 1e-10)
    True
    """

    def _family_name(self, n_classes=None):
        return "poisson"

    def score(self, X, y, sample_weight=None):
        """D² of the Poisson deviance (1 is perfect, 0 the mean-only model).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        return _OrthogonalGLMBase.score(self, X, y, sample_weight)


def make_posthoc_pipeline(reducer, estimator):
    """Reduce embedding features, pass the protected columns, fit the GLM.

    The post-hoc correction of pretrained representations (the paper's §4.2):
    ``reducer`` (e.g. ``PCA`` or ``TruncatedSVD``) is applied to every column
    of ``X`` except the protected ones, which pass through untouched so that
    the orthogonal GLM still finds them. The returned pipeline is
    ``make_pipeline(ColumnTransformer(...), estimator)``, with the
    estimator's ``protected`` re-pointed at the passed-through columns (the
    first columns of the reduced data).

    Parameters
    ----------
    reducer : estimator
        A transformer for the embedding columns (cloned).
    estimator : OrthogonalGLM
        The model (cloned); its ``protected`` names or positions refer to the
        columns of the raw ``X``.

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.decomposition import PCA
    >>> from orthokit.linear_model import OrthogonalGLM, make_posthoc_pipeline
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.integers(0, 2, size=300)
    >>> emb = rng.normal(size=(300, 20)) + sex[:, None]
    >>> X = pd.DataFrame(emb, columns=[f"e{j}" for j in range(20)]).assign(sex=sex)
    >>> y = (emb[:, 0] + emb[:, 1] > 1).astype(int)
    >>> pipe = make_posthoc_pipeline(
    ...     PCA(n_components=5), OrthogonalGLM(protected=["sex"], solver="newton")
    ... ).fit(X, y)
    >>> glm = pipe[-1]
    >>> list(glm.predictor_names_)
    ['pca0', 'pca1', 'pca2', 'pca3', 'pca4']
    >>> bool(glm.constraint_violation_ < 1e-10)
    True
    """
    protected = estimator.protected
    if protected is None:
        raise ValueError("estimator.protected must name the protected columns.")
    spec = [protected] if isinstance(protected, str | Integral) else list(protected)
    by_name = all(isinstance(s, str) for s in spec)
    columns = ColumnTransformer(
        [("protected", "passthrough", spec)],
        remainder=clone(reducer),
        verbose_feature_names_out=False,
    )
    model = clone(estimator)
    if by_name:
        columns.set_output(transform="pandas")
    else:
        model.set_params(protected=list(range(len(spec))))
    return make_pipeline(columns, model)
