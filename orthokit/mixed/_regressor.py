"""ARMEDRegressor: the ARMED net for one or several numeric targets."""

import numpy as np
import torch
from sklearn.base import RegressorMixin

from orthokit._inputs import (
    check_finite,
    check_float32_range,
    is_frame_like,
    read_target,
)
from orthokit.mixed._base import ARMEDBase
from orthokit.mixed._docs import SHARED_ATTRIBUTES, regressor_parameters


class ARMEDRegressor(RegressorMixin, ARMEDBase):
    __doc__ = (
        """Adversarially-regularized mixed-effects network regressor (ARMED).

    The regression counterpart of :class:`ARMEDClassifier` (mean squared
    error as the data term). By default a random intercept and random slopes
    on the features, no random slopes on the hidden layer, the KL term at
    full weight, and 50 epochs or 2,000 batches, whichever is more (the
    classifier: hidden-layer slopes, ``kl_weight=0.1``, 50 epochs): a
    nonlinear mixed model whose random effects are those of a linear mixed
    model, so their variances (``random_effects_variance_``) are identified.
    Their posterior means start at zero (not as draws from the priors, as
    with hidden-layer slopes), so that a short fit (``max_epochs=10``) does
    not start from, and end near, a random part larger than the target.
    On the clustered problems of ``benchmarks/bench_armed_family.py`` the
    classifier's defaults overfit the per-cluster weights in regression (32
    hidden-layer slopes per cluster: held-out R² 0.69-0.72 against
    0.86-0.88 for an MLP given the one-hot cluster, with 200 clusters of
    10-15 rows); these defaults match that MLP
    (``benchmarks/results/armed_family.md``). ``nonlinear_slopes=True`` adds
    cluster-specific effects of the learned features where the inputs'
    slopes are not enough. The network learns the standardized target
    ``(y - y_mean_) / y_scale_`` (learned in the first fit) and predictions
    are returned on the scale of ``y``, so a target of size 1e6, or offset by
    1e6, trains as well as one of size 1; ``random_effects_`` are in units
    of ``y``.

    Parameters
    ----------"""
        + regressor_parameters()
        + """
    Attributes
    ----------
    n_outputs_ : int
    y_mean_, y_scale_ : ndarray of shape (`n_outputs_`,)
        Mean and standard deviation (1 where it is 0) of each target column
        in the first fit; the network learns ``(y - y_mean_) / y_scale_``."""
        + SHARED_ATTRIBUTES
        + """
    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from orthokit.mixed import ARMEDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"site": np.repeat(["a", "b", "c"], 20),
    ...                   "x": rng.normal(size=60)})
    >>> y = 2 * X["x"] + X["site"].map({"a": -1.0, "b": 0.0, "c": 1.0})
    >>> reg = ARMEDRegressor(cluster="site", max_epochs=3, random_state=0).fit(X, y)
    >>> reg.predict(X).shape
    (60,)
    >>> list(reg.random_effects_variance_.index[:3])
    ['intercept', 'slope:x']
    """
    )

    def __init__(
        self, *, nonlinear_slopes=False, kl_weight=1.0, max_epochs="auto", **kwargs
    ):
        super().__init__(
            nonlinear_slopes=nonlinear_slopes,
            kl_weight=kl_weight,
            max_epochs=max_epochs,
            **kwargs,
        )

    def _default_criterion(self):
        return torch.nn.MSELoss

    @property
    def predict_proba(self):
        """Not available: a regressor has no class probabilities."""
        raise AttributeError("ARMEDRegressor has no predict_proba.")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @property
    def _n_outputs(self):
        return getattr(self, "n_outputs_", 1)

    def _output_names(self):
        return [None] if self.n_outputs_ == 1 else list(range(self.n_outputs_))

    def _logit_for_loss(self, logit):
        return logit

    def _target_for_loss(self, y):
        return y.float()

    def _encode_target(self, y, n_samples, *, reset):
        """Return the standardized target, float32 of shape (n, n_outputs)."""
        if y is None:
            raise ValueError(
                "ARMEDRegressor requires y to be passed, but the target y is None."
            )
        ndim = len(y.shape) if is_frame_like(y) else np.asarray(y).ndim
        if ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got {ndim} dimensions.")
        table = read_target(y, n_samples, needed_for="by ARMEDRegressor")
        try:
            y2 = np.column_stack(
                [np.asarray(table.column(j), dtype=np.float64) for j in
                 range(table.shape[1])]
            )  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must be numeric: {exc}.") from None
        check_finite(y2, table.names, "y")
        check_float32_range(y2, table.names, "y")
        if reset:
            self.n_outputs_ = y2.shape[1]
            self._y_is_1d_ = ndim == 1
            # float64 statistics of a float32-range y cannot overflow
            self.y_mean_ = y2.mean(axis=0)
            scale = y2.std(axis=0)
            self.y_scale_ = np.where(scale > 0, scale, 1.0)
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} targets but {self.n_outputs_} in fit."
            )
        return ((y2 - self.y_mean_) / self.y_scale_).astype(np.float32)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features) or mapping
            Features and the cluster column, or (as in fit) a mapping of the
            cluster labels and the inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        out = self._logits(X) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_is_1d_ else out
