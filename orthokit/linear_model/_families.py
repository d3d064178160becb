"""Canonical-link exponential families for OrthogonalGLM.

Only what the constrained solvers need: the inverse link ``h``, the negative
log-likelihood per row (up to terms free of the coefficients), and the first
and second derivatives of ``h``. For a canonical link the derivative of the
loss with respect to the linear predictor is ``μ - y``, and ``h'(η)`` equals the
family's variance function ``V(μ)`` (statsmodels' ``family.variance``). The
formulas are written out here, in their numerically stable forms
(softplus, ``expit``), rather than taken from statsmodels, whose logit
inverse overflows with a RuntimeWarning for large ``|η|``.

Every family works on an ``(n, m)`` array of linear predictors: ``m = 1`` for
the binomial, Poisson and Gaussian families and ``m = K - 1`` for a multinomial
model with ``K`` classes, whose first class is the reference (``η = 0``).
"""

import numpy as np
from scipy.special import expit, logit

#: Largest linear predictor passed to ``exp`` (beyond it the Poisson mean overflows).
_MAX_ETA = 700.0


class _Binomial:
    name = "binomial"
    is_classifier = True

    @staticmethod
    def mean(eta):
        return expit(eta)

    @staticmethod
    def loss(Y, eta):
        # log(1 + e^η), as np.logaddexp(0, η) computes it, from vectorized
        # ufuncs (logaddexp is an elementwise loop, 10x slower).
        softplus = np.maximum(eta, 0.0) + np.log1p(np.exp(-np.abs(eta)))
        return (softplus - Y * eta).sum(axis=1)

    @staticmethod
    def derivative(mu):
        return mu * (1.0 - mu)

    @staticmethod
    def curvature2(mu):
        return mu * (1.0 - mu) * (1.0 - 2.0 * mu)

    @staticmethod
    def start(mean_y):
        return logit(np.clip(mean_y, 1e-10, 1 - 1e-10))


class _Poisson:
    name = "poisson"
    is_classifier = False

    @staticmethod
    def mean(eta):
        return np.exp(np.minimum(eta, _MAX_ETA))

    @staticmethod
    def loss(Y, eta):
        return (np.exp(np.minimum(eta, _MAX_ETA)) - Y * eta).sum(axis=1)

    @staticmethod
    def derivative(mu):
        return mu

    @staticmethod
    def curvature2(mu):
        return mu

    @staticmethod
    def start(mean_y):
        return np.log(np.maximum(mean_y, 1e-10))


class _Gaussian:
    name = "gaussian"
    is_classifier = False

    @staticmethod
    def mean(eta):
        return eta

    @staticmethod
    def loss(Y, eta):
        return 0.5 * ((Y - eta) ** 2).sum(axis=1)

    @staticmethod
    def derivative(mu):
        return np.ones_like(mu)

    @staticmethod
    def curvature2(mu):
        return np.zeros_like(mu)

    @staticmethod
    def start(mean_y):
        return np.asarray(mean_y, dtype=float)


class _Multinomial:
    """Softmax over ``K`` classes with class 0 as reference.

    ``Y`` is one-hot for classes ``1..K-1``.
    """

    name = "multinomial"
    is_classifier = True

    @staticmethod
    def mean(eta):
        top = np.maximum(eta.max(axis=1, keepdims=True), 0.0)
        expo = np.exp(eta - top)
        return expo / (np.exp(-top) + expo.sum(axis=1, keepdims=True))

    @staticmethod
    def loss(Y, eta):
        top = np.maximum(eta.max(axis=1), 0.0)
        log_norm = top + np.log(np.exp(-top) + np.exp(eta - top[:, None]).sum(axis=1))
        return log_norm - (Y * eta).sum(axis=1)

    @staticmethod
    def start(mean_y):
        reference = max(1.0 - mean_y.sum(), 1e-10)
        return np.log(np.maximum(mean_y, 1e-10) / reference)


FAMILIES = {
    family.name: family for family in (_Binomial, _Poisson, _Gaussian, _Multinomial)
}
