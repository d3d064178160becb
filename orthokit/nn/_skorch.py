"""A skorch classifier that trains networks containing metadata layers."""

from collections.abc import Mapping

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.utils import is_dataset, to_device

from orthokit._inputs import (
    ProtectedColumns,
    as_table,
    check_float32_range,
    is_frame_like,
)
from orthokit._inputs._encode import level_codes
from orthokit._inputs._numeric import read_numeric
from orthokit._inputs._target import read_y
from orthokit._sklearn import check_is_fitted, validate_data
from orthokit._skorch import PrivateInitStateMixin, SkopsStateMixin
from orthokit.nn._mdn import MetadataNorm
from orthokit.nn._modules import MetadataMLP
from orthokit.nn._pmdn import PenaltyMetadataNorm

__all__ = ["MetadataNormClassifier"]


class MetadataNormClassifier(
    PrivateInitStateMixin, SkopsStateMixin, NeuralNetClassifier
):
    """A skorch classifier whose module gets the batch metadata (and labels).

    The module is called as ``module(X=features, metadata=S, target=labels)``
    in training and ``module(X=features, metadata=S)`` otherwise, where
    ``labels`` are the one-hot classes without the first (one column for a
    binary problem). Its metadata layers (:class:`MetadataNorm`,
    :class:`PenaltyMetadataNorm`, :class:`RecursiveMetadataNorm`,
    :class:`Orthogonalize`) use them; see :class:`MetadataSequential`.

    - Metadata is given either as named (or positional) columns of a 2-D
      ``X`` (an array or a pandas, polars or pyarrow frame;
      ``metadata=["age", "site"]``; categorical columns are one-hot encoded,
      first level dropped) or, with ``metadata=None``, as a dict
      ``X = {"X": features, "metadata": S}`` (for images: features of any
      trailing shape, metadata of numbers). Everything is read through
      :mod:`orthokit._inputs`, so bad input gets the package's messages.
    - Before training, every :class:`MetadataNorm` gets the metadata kernel of
      the training data (recomputed on each ``partial_fit``: stage-specific).
    - With :class:`PenaltyMetadataNorm` layers, each batch's forward pass
      gives both the task loss, which steps the network, and the summed
      penalties, which step ``beta`` with a second optimizer
      (``optimizer_beta``, learning rate ``lr_beta``); the penalty is logged
      as ``train_penalty``.
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

    def get_default_callbacks(self):
        """Skorch's default callbacks and the P-MDN penalty's epoch average."""
        callbacks = list(super().get_default_callbacks())
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

    def _module_inputs(self, X, *, reset):
        """Read ``X`` through :mod:`orthokit._inputs` into the module's inputs.

        Returns ``{"X": features, "metadata": S}``, float32. Named metadata
        columns are resolved (and their levels learned) when ``reset``.
        """
        if self.metadata is None:
            if not isinstance(X, Mapping) or not {"X", "metadata"} <= set(X):
                raise TypeError(
                    "with metadata=None, X must be a dict {'X': features, "
                    "'metadata': array of shape (n_samples, n_metadata)}; or name "
                    "the metadata columns of a 2-D X with metadata=[...]."
                )
            features, S = (_numbers(X[key], key) for key in ("X", "metadata"))
            if len(S) != len(features):
                raise ValueError(
                    f"metadata has {len(S)} rows but X has {len(features)}; they "
                    "must match."
                )
            self.metadata_columns_ = None
            return {"X": features, "metadata": S.astype(np.float32)}
        table = as_table(X)
        validate_data(self, table.native, skip_check_array=True, reset=reset)
        if reset:
            self.metadata_columns_ = ProtectedColumns(self.metadata).fit(table)
        columns = self.metadata_columns_
        S, F = columns.split(table)
        check_float32_range(F, columns.feature_names_, "X")
        check_float32_range(S, columns.encoded_names_, "metadata")
        return {"X": F.astype(np.float32), "metadata": S.astype(np.float32)}

    def _class_codes(self, y, n_samples, *, reset=False):
        """Read ``y`` through :mod:`orthokit._inputs`; return positions in ``classes_``.

        With ``reset`` (the first fit) the classes are learned, and ``y`` must
        hold two unless ``classes`` names them.
        """
        enough = 2 if reset and self.classes is None else 1
        classes, codes = read_y(
            y, n_samples, "classification", type(self).__name__, min_classes=enough
        )
        if reset:
            self.classes_inferred_ = classes
        position = level_codes(classes, list(self.classes_), "y", check=False)
        if (position < 0).any():
            raise ValueError(
                f"y has labels {classes[position < 0].tolist()} that are not among "
                f"the classes {list(self.classes_)}."
            )
        return position[codes].astype(np.int64)

    def get_dataset(self, X, y=None):
        """Turn ``X`` into the module's inputs and ``y`` into class indices."""
        if not is_dataset(X):
            check_is_fitted(self, "classes_inferred_")
            X = self._module_inputs(X, reset=False)
            if y is not None and not torch.is_tensor(y):
                y = self._class_codes(y, len(X["X"]))
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
        inputs = self._module_inputs(X, reset=first_call)
        n_samples = len(inputs["X"])
        if n_samples < 2:
            raise ValueError(f"X has {n_samples} sample(s); at least 2 are needed.")
        codes = self._class_codes(y, n_samples, reset=first_call)
        if first_call:
            self._seen_data = True
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
                self._rebuild_module()
        target = self._target_columns(torch.as_tensor(codes))
        for layer in self._metadata_layers(MetadataNorm):
            layer.set_metadata_kernel(
                torch.as_tensor(inputs["metadata"]),
                target[:, : layer.n_targets] if layer.n_targets else None,
            )

    def _rebuild_module(self):
        """Build the module and its optimizers anew, through skorch's public API."""
        self.initialize_module()
        module = to_device(self.module_, self.device)
        self.module_ = self.torch_compile(module, name="module")
        self.initialize_optimizer()

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

    def train_step_single(self, batch, **fit_params):
        """One forward pass with labels in ``target``: a task-loss and a P-MDN step.

        With :class:`PenaltyMetadataNorm` layers, their penalties in the same
        forward pass step ``beta`` with ``optimizer_beta_`` (so the loss of a
        batch sees ``beta`` before its step); the task loss never moves
        ``beta``, nor the penalty the network.

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
        self.module_.train()
        self.criterion_.train()
        Xi, yi = unpack_data(batch)
        target = self._target_columns(yi).to(self.device)
        y_pred = self.infer(Xi, target=target, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        layers = self._metadata_layers(PenaltyMetadataNorm)
        if not layers:
            loss.backward()
            return {"loss": loss, "y_pred": y_pred}
        # The penalties reach only beta and the loss only the network (see
        # PenaltyMetadataNorm): one backward pass serves both optimizers.
        penalty = sum(layer.penalty_ for layer in layers)
        (loss + penalty).backward()
        self.history.record_batch("train_penalty", penalty.item())
        self.optimizer_beta_.step()
        self.optimizer_beta_.zero_grad(set_to_none=True)
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


def _numbers(values, argument):
    """Read a block of numbers of any trailing shape as float32 through ``_inputs``."""
    if torch.is_tensor(values):
        values = values.detach().cpu().numpy()
    shape = None
    if not is_frame_like(values) and not isinstance(values, np.ma.MaskedArray):
        values = np.asarray(values)
        if values.ndim > 2:  # images: checked as rows of numbers
            shape = values.shape
            values = values.reshape(shape[0], -1)
    flat, names = read_numeric(values, argument)
    check_float32_range(flat, names, argument)
    flat = flat.astype(np.float32)
    return flat if shape is None else flat.reshape(shape)
