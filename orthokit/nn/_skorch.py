"""A skorch classifier that trains networks containing metadata layers."""

from collections.abc import Mapping

import numpy as np
import torch
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from skorch import NeuralNetClassifier
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.utils import is_dataset

from orthokit._protected import (
    ProtectedColumns,
    check_array_like,
    check_finite,
    check_float32_range,
)
from orthokit._sklearn import check_is_fitted, validate_data
from orthokit._skorch import SkopsStateMixin
from orthokit.nn._mdn import MetadataNorm
from orthokit.nn._modules import MetadataMLP
from orthokit.nn._pmdn import PenaltyMetadataNorm

__all__ = ["MetadataNormClassifier"]


def _as_float32(values, name):
    if torch.is_tensor(values):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if values.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {values.dtype}.")
    columns = values.reshape(len(values), -1)
    check_float32_range(columns, [f"{name}{j}" for j in range(columns.shape[1])], name)
    values = values.astype(np.float32)
    if values.ndim == 1 and name == "metadata":
        values = values[:, None]
    return values


class MetadataNormClassifier(SkopsStateMixin, NeuralNetClassifier):
    """A skorch classifier whose module gets the batch metadata (and labels).

    The module is called as ``module(X=features, metadata=S, target=labels)``
    in training and ``module(X=features, metadata=S)`` otherwise, where
    ``labels`` are the one-hot classes without the first (one column for a
    binary problem). Its metadata layers (:class:`MetadataNorm`,
    :class:`PenaltyMetadataNorm`, :class:`RecursiveMetadataNorm`,
    :class:`Orthogonalize`) use them; see :class:`MetadataSequential`.

    - Metadata is given either as named (or positional) columns of a 2-D
      ``X`` (``metadata=["age", "site"]``; categorical columns are one-hot
      encoded, first level dropped) or, with ``metadata=None``, as a dict
      ``X = {"X": features, "metadata": S}`` (for images).
    - Before training, every :class:`MetadataNorm` gets the metadata kernel of
      the training data (recomputed on each ``partial_fit``: stage-specific).
    - With :class:`PenaltyMetadataNorm` layers, each batch first steps their
      ``beta`` on the summed penalties with a second optimizer
      (``optimizer_beta``, learning rate ``lr_beta``), then the network on
      the task loss; the penalty is logged as ``train_penalty``.
    - The default module, :class:`MetadataMLP`, is sized from the data.

    Parameters
    ----------
    module : torch module class or instance, default=MetadataMLP
        Its ``forward`` takes ``X``, ``metadata`` and ``target=None`` and
        returns logits.
    metadata : str, int, sequence of str or int, or None, default=None
        Metadata columns of ``X``; ``None`` means ``X`` is a dict holding the
        ``"metadata"`` array.
    criterion : torch loss class, default=torch.nn.CrossEntropyLoss
    optimizer_beta : torch optimizer class, default=torch.optim.Adam
        Optimizer of the P-MDN coefficients.
    lr_beta : float, default=0.045
        Its learning rate (Vento et al.'s value).
    random_state : int or None, default=None
        If set, torch's global generator is seeded with it when the module is
        built and when training starts (weights and batch order then repeat).
    **kwargs
        Any parameter of :class:`skorch.NeuralNetClassifier` (``lr``,
        ``max_epochs``, ``batch_size``, ``optimizer``, ``module__*``, ...).

    Attributes
    ----------
    metadata_columns_ : ProtectedColumns or None
        The resolved metadata columns (``None`` for dict input).
    classes_ : ndarray
        Class labels.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.nn import MetadataNormClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)).astype(np.float32)
    >>> y = (X[:, 1] + X[:, 2] > 0).astype(np.int64)
    >>> clf = MetadataNormClassifier(metadata=[0], max_epochs=5, lr=0.05,
    ...                              train_split=None, verbose=0)
    >>> clf.fit(X, y).predict(X).shape
    (200,)
    """

    prefixes_ = NeuralNetClassifier.prefixes_ + ["optimizer_beta"]

    def __init__(
        self,
        module=MetadataMLP,
        *args,
        metadata=None,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer_beta=torch.optim.Adam,
        lr_beta=0.045,
        random_state=None,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, **kwargs)
        self.metadata = metadata
        self.optimizer_beta = optimizer_beta
        self.lr_beta = lr_beta
        self.random_state = random_state

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        callbacks.insert(
            -1, ("train_penalty", PassthroughScoring("train_penalty", on_train=True))
        )
        return callbacks

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The metadata columns are regressed out of the hidden features, so
        # the accuracy thresholds of scikit-learn's checks on toy data (which
        # use every column) need not be reached.
        tags.classifier_tags.poor_score = True
        return tags

    # -- data -----------------------------------------------------------------

    def _inputs(self, X, *, fit):
        """Return ``{"X": float32 features, "metadata": float32 S}``."""
        if self.metadata is None:
            if not isinstance(X, Mapping) or not {"X", "metadata"} <= set(X):
                raise TypeError(
                    "with metadata=None, X must be a dict {'X': features, "
                    "'metadata': array of shape (n_samples, n_metadata)}; or name "
                    "the metadata columns of a 2-D X with metadata=[...]."
                )
            features = _as_float32(X["X"], "X")
            S = _as_float32(X["metadata"], "metadata")
            if S.ndim != 2 or len(S) != len(features):
                raise ValueError(
                    f"metadata must have shape (n_samples, n_metadata) with "
                    f"n_samples={len(features)}, got {S.shape}."
                )
            check_finite(S, [f"m{j}" for j in range(S.shape[1])], "metadata")
            self.metadata_columns_ = None
            return {"X": features, "metadata": S}
        X = check_array_like(X)
        validate_data(self, X, skip_check_array=True, reset=fit)
        if fit:
            self.metadata_columns_ = ProtectedColumns(self.metadata).fit(X)
        S, F = self.metadata_columns_.split(X)
        columns = self.metadata_columns_
        check_float32_range(F, columns.feature_names_, "X")
        check_float32_range(S, columns.encoded_names_, "metadata")
        return {"X": F.astype(np.float32), "metadata": S.astype(np.float32)}

    def _class_index(self, y):
        y = column_or_1d(y, warn=True)
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        if not np.array_equal(self.classes_[index], y):
            raise ValueError("y holds labels that were not seen in fit.")
        return index.astype(np.int64)

    def get_dataset(self, X, y=None):
        """Turn ``X`` into the module's inputs and ``y`` into class indices."""
        if not is_dataset(X):
            check_is_fitted(self, "classes_inferred_")
            X = self._inputs(X, fit=False)
            if y is not None and not torch.is_tensor(y):
                y = self._class_index(y)
        return super().get_dataset(X, y)

    def _n_label_columns(self):
        return max(len(self.classes_), 2) - 1

    def _target_columns(self, yi):
        """One-hot labels without the first class: the layers' ``target``."""
        n_classes = self._n_label_columns() + 1
        onehot = torch.nn.functional.one_hot(yi.long(), n_classes)
        return onehot[:, 1:].to(torch.float32)

    # -- training -------------------------------------------------------------

    def _metadata_layers(self, kind):
        return [m for m in self.module_.modules() if isinstance(m, kind)]

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Resolve the metadata, size the default module, set MDN kernels."""
        super().on_train_begin(net, X=X, y=y, **kwargs)
        first_call = not getattr(self, "_seen_data", False)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        inputs = self._inputs(X, fit=first_call)
        if len(y) != len(inputs["X"]):
            raise ValueError(f"X has {len(inputs['X'])} rows but y has {len(y)}.")
        if len(y) < 2:
            raise ValueError(f"X has {len(y)} sample(s); at least 2 are needed.")
        if first_call:
            self._seen_data = True
            self.classes_inferred_ = np.unique(y)
            if self.classes is None and len(self.classes_inferred_) < 2:
                raise ValueError(
                    "y has 1 class; a classifier needs at least two classes."
                )
        if first_call:
            self._seed()
        if self.module is MetadataMLP:
            sizes = {
                "n_features": int(np.prod(inputs["X"].shape[1:])),
                "n_metadata": inputs["metadata"].shape[1],
                "n_targets": self._n_label_columns(),
                "n_outputs": self._n_label_columns() + 1,
            }
            if sizes != getattr(self, "_module_sizes", None):
                self._module_sizes = sizes
                self._initialize_module()
                self._initialize_optimizer()
        target = self._target_columns(torch.as_tensor(self._class_index(y)))
        for layer in self._metadata_layers(MetadataNorm):
            layer.set_metadata_kernel(
                torch.as_tensor(inputs["metadata"]),
                target[:, : layer.n_targets] if layer.n_targets else None,
            )

    def initialize_module(self):
        """Build the module; the default one is sized from the training data."""
        kwargs = self.get_params_for("module")
        if self.module is MetadataMLP:
            kwargs = {**getattr(self, "_module_sizes", {}), **kwargs}
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def initialize_optimizer(self, *args, **kwargs):
        """Network optimizer for all but the P-MDN ``beta``; a second for them."""
        betas = {id(m.beta) for m in self._metadata_layers(PenaltyMetadataNorm)}
        named = [
            (name, p)
            for name, p in self.get_all_learnable_params()
            if id(p) not in betas
        ]
        args, kwargs = self.get_params_for_optimizer("optimizer", named)
        self.optimizer_ = self.optimizer(*args, **kwargs)
        named_betas = [
            (name, p) for name, p in self.get_all_learnable_params() if id(p) in betas
        ]
        if named_betas:
            args, kwargs = self.get_params_for_optimizer("optimizer_beta", named_betas)
            if "lr" not in self.get_params_for("optimizer_beta"):
                kwargs["lr"] = self.lr_beta
            self.optimizer_beta_ = self.optimizer_beta(*args, **kwargs)
        return self

    def initialize(self):
        """Initialize the net; the metadata columns are resolved anew in fit."""
        self.metadata_columns_ = None
        self._seen_data = False
        self._seed()
        return super().initialize()

    def _seed(self):
        if self.random_state is not None:
            torch.manual_seed(self.random_state)

    def check_data(self, X, y=None):
        """Do nothing: ``on_train_begin`` has checked ``X`` and ``y``."""

    def _penalty_step(self, Xi, target, fit_params):
        """Step 1 of P-MDN: forward with labels, step only ``beta`` on the penalty."""
        layers = self._metadata_layers(PenaltyMetadataNorm)
        self.infer(Xi, target=target, **fit_params)
        penalty = sum(layer.penalty_ for layer in layers)
        betas = [layer.beta for layer in layers]
        grads = torch.autograd.grad(penalty, betas)
        for beta, grad in zip(betas, grads, strict=True):
            beta.grad = grad
        self.optimizer_beta_.step()
        for beta in betas:
            beta.grad = None
        return penalty.detach()

    def train_step_single(self, batch, **fit_params):
        """P-MDN step (if any), then a task-loss step with labels in ``target``.

        Parameters
        ----------
        batch : tuple
            ``(Xi, yi)`` from the data loader.
        **fit_params : dict
            Passed to the module.

        Returns
        -------
        dict
            ``{"loss": loss, "y_pred": y_pred}``.
        """
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        target = self._target_columns(yi).to(self.device)
        if self._metadata_layers(PenaltyMetadataNorm):
            penalty = self._penalty_step(Xi, target, fit_params)
            self.history.record_batch("train_penalty", penalty.item())
        y_pred = self.infer(Xi, target=target, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        for layer in self._metadata_layers(PenaltyMetadataNorm):
            # beta is only moved by its own optimizer, on the penalty.
            layer.beta.grad = None
        return {"loss": loss, "y_pred": y_pred}

    # -- prediction -------------------------------------------------------------

    def predict(self, X):
        """Return the predicted class labels.

        Parameters
        ----------
        X : array-like, DataFrame or dict
            As in fit.

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "classes_inferred_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def predict_proba(self, X):
        """Return the class probabilities.

        Parameters
        ----------
        X : array-like, DataFrame or dict
            As in fit.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "classes_inferred_")
        return super().predict_proba(X)
