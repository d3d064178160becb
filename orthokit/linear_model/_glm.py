"""OrthogonalGLM: GLMs whose predictions carry no linear trace of protected columns."""

from sklearn.base import ClassifierMixin, RegressorMixin

from orthokit._sklearn import StrOptions
from orthokit.linear_model._families import FAMILIES
from orthokit.linear_model._glm_base import _OrthogonalGLMBase


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
    like statsmodels' ``PerfectSeparationWarning``) names the levels. The
    newton solver starts at the limit along such a level where its rows can
    move alone (a one-hot level with an intercept) and stops when the rest
    has converged, releasing the level if the constraints hold the maximum at
    a finite point; otherwise, once a level's fitted probabilities pass
    ``1 - 1e-3``, the solvers leave its rows out of their convergence test
    (the newton solver then moves them to their limit and refits the rest).
    The predictions on the other rows are those of the limit problem, in
    which the level is fitted exactly, and the two solvers
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
