"""ARMEDAutoencoder: the mixed-effects autoencoder (ARMED paper, section 2.5.3)."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.multiclass import check_classification_targets
from skorch import NeuralNet
from skorch.utils import to_tensor
from torch.nn import functional as F

from orthokit._inputs._target import read_labels
from orthokit._sklearn import (
    Interval,
    StrOptions,
    check_is_fitted,
    check_parameters,
)
from orthokit.mixed._autoencoder_module import AutoencoderModule, build_decoder
from orthokit.mixed._backbone import build_backbone
from orthokit.mixed._base import ARMEDBase, _check_layer_sizes
from orthokit.mixed._batches import TensorBatches
from orthokit.mixed._device import check_device


class ARMEDAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ARMEDBase):
    """Mixed-effects autoencoder: a latent code free of the cluster (batch).

    An encoder gives the fixed-effects code ``e_F(x)`` of ``n_components``;
    per-cluster random effects shift and scale it,
    ``e_M = e_F ⊙ (1 + s(z)) + b(z)`` (Gaussian posteriors, a KL term to
    their prior); a decoder reconstructs ``x`` from ``e_M``, plus a
    per-cluster intercept ``c(z)`` on the reconstruction. An adversary
    classifies the cluster from ``e_F`` and the encoder is trained to make
    its prediction uniform, so the batch effect is carried by the random
    effects rather than the code. With a label ``y``, a small head classifies it
    from ``e_F`` and is trained with the rest (the paper's
    autoencoder-classifier), so that the code keeps what predicts it.
    ``transform`` gives ``e_F``, the batch-corrected code;
    ``inverse_transform`` decodes a code without random effects (a
    batch-free reconstruction);
    :meth:`reconstruct` decodes ``e_M`` (the reconstruction of ``X`` with
    its batch). Clusters not seen in fit get the seen clusters' random
    effects averaged over the soft memberships of a Z-predictor (a network
    classifying the cluster from the inputs, trained after the rest), as in
    :class:`ARMEDClassifier`.
    ``adversary_weight=0, random_effects=False`` is a plain autoencoder of
    the same size. Built on skorch, as :class:`ARMEDClassifier`.

    Parameters
    ----------
    cluster : str or int
        Name or position of the cluster (batch) column of ``X``, or the key
        of the cluster labels in a mapping ``X`` (images), as in
        :class:`ARMEDClassifier`.
    backbone : torch module class or instance, default=None
        The encoder's network: any ``torch.nn.Module`` mapping a batch of
        inputs to a feature vector (or a tuple whose last is), built with
        the ``backbone__*`` parameters or copied; a linear layer maps its
        feature vector to the code. None: a dense ReLU network of
        ``hidden_layer_sizes``.
    decoder : torch module class or instance, default=None
        Maps a batch of codes ``(n, n_components)`` to a batch of
        reconstructions of ``n_features`` values each (reshaped to the
        inputs' shape); built with the ``decoder__*`` parameters or copied.
        None: a dense ReLU network of the reversed ``hidden_layer_sizes``
        with a linear output.
    n_components : int, default=8
        Width of the latent code.
    hidden_layer_sizes : tuple of int, default=(32,)
        Hidden layers of the dense encoder (and, reversed, decoder).
    adversary_layer_sizes : tuple of int, default=(16,)
        Hidden layers of the adversary that reads the code.
    classifier_layer_sizes : tuple of int, default=(16,)
        Hidden layers of the label head (with a ``y`` in fit).
    random_effects : bool, default=True
        Per-cluster shift and scale of the code and intercept of the
        reconstruction.
    adversary_weight : float, default=0.3
        Weight ``λ_g`` of the encoder's confusion term (the cross-entropy of
        the adversary's prediction to the uniform distribution); 0 removes
        the adversary. On simulated images (``make_cluster_images``) 0.1-0.3
        took the batch out of the code as well as 5 did, at a smaller
        reconstruction error (``benchmarks/results/armed_images.md``).
    classifier_weight : float, default=1.0
        Weight of the label's cross-entropy (with a ``y`` in fit).
    kl_weight : float, default=0.1
        Weight of the KL divergence of the random effects to their prior,
        divided by the number of training samples.
    intercept_prior_scale, slope_prior_scale : float, default=0.3, 0.3
        Prior sds of the per-cluster shifts (of the code and the
        reconstruction) and of the scale.
    unseen_clusters : {"z_predictor", "fixed", "error"}, default="z_predictor"
        Clusters not seen in fit (in :meth:`reconstruct`): their random
        effects are the seen clusters' averaged over the Z-predictor's soft
        memberships (a network of ``adversary_layer_sizes`` from the
        flattened inputs to the cluster), none (decoded without random
        effects), or an error. The code (:meth:`transform`) has no random
        effects and is the same for all three. Read again at each
        prediction, as :class:`ARMEDClassifier`'s.
    lr : float, default=1e-3
    random_effect_lr : float or None, default=1e-2
        Step of the random effects' Adam group (None: ``lr``).
    max_epochs : int, default=50
    batch_size : int, default=32
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, the batch order and the sampled effects.
    **kwargs : dict
        skorch's other parameters (``optimizer``, ``callbacks``,
        ``train_split``, ``device``, ``verbose``, prefixed ones).

    Attributes
    ----------
    clusters_ : ndarray
        Cluster labels seen in fit.
    n_clusters_ : int
    cluster_column_ : str or int
    classes_ : ndarray
        Labels of ``y`` (only when fit with ``y``).
    input_shape_ : tuple of int
        Shape of one input (its features, without the cluster).
    effect_feature_names_ : ndarray of str
        Names of the input features.
    module_ : AutoencoderModule
    history_ : skorch History
    z_predictor_loss_ : float
        Cross-entropy of the Z-predictor on the training inputs after its
        training (with ``unseen_clusters="z_predictor"`` and random effects).
    n_features_in_ : int
        Columns of ``X`` (a table ``X`` only).
    feature_names_in_ : ndarray of str
        Names of the columns of ``X`` (string column names only).

    See Also
    --------
    ARMEDClassifier : The mixed-effects network for labels.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.mixed import ARMEDAutoencoder
    >>> rng = np.random.default_rng(0)
    >>> batch = np.repeat([0, 1, 2], 20)
    >>> X = np.column_stack([batch, rng.normal(size=(60, 5)) + batch[:, None]])
    >>> ae = ARMEDAutoencoder(cluster=0, n_components=2, max_epochs=2,
    ...                       random_state=0).fit(X)
    >>> code = ae.transform(X)
    >>> code.shape, ae.inverse_transform(code).shape, ae.reconstruct(X).shape
    ((60, 2), (60, 5), (60, 5))
    >>> ae.get_feature_names_out()
    array(['armedautoencoder0', 'armedautoencoder1'], dtype=object)
    """

    prefixes_ = [*ARMEDBase.prefixes_, "decoder"]
    _requires_target = False

    _parameter_constraints: dict = {
        "cluster": [str, Integral, None],
        "backbone": [callable, None],
        "decoder": [callable, None],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Integral],
        "adversary_layer_sizes": ["array-like", Integral],
        "classifier_layer_sizes": ["array-like", Integral],
        "random_effects": ["boolean"],
        "adversary_weight": [Interval(Real, 0, None, closed="left")],
        "classifier_weight": [Interval(Real, 0, None, closed="left")],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
        "intercept_prior_scale": [Interval(Real, 0, None, closed="neither")],
        "slope_prior_scale": [Interval(Real, 0, None, closed="neither")],
        "unseen_clusters": [StrOptions({"z_predictor", "fixed", "error"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "random_effect_lr": [Interval(Real, 0, None, closed="neither"), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "callbacks": [list, StrOptions({"disable"}), None],
    }

    def __init__(
        self,
        *,
        cluster=None,
        backbone=None,
        decoder=None,
        n_components=8,
        hidden_layer_sizes=(32,),
        adversary_layer_sizes=(16,),
        classifier_layer_sizes=(16,),
        random_effects=True,
        adversary_weight=0.3,
        classifier_weight=1.0,
        kl_weight=0.1,
        intercept_prior_scale=0.3,
        slope_prior_scale=0.3,
        unseen_clusters="z_predictor",
        optimizer=torch.optim.Adam,
        lr=1e-3,
        random_effect_lr=1e-2,
        max_epochs=50,
        batch_size=32,
        train_split=None,
        callbacks=None,
        warm_start=False,
        verbose=0,
        device="cpu",
        random_state=None,
        module=AutoencoderModule,
        criterion=None,
        iterator_train=TensorBatches,
        iterator_valid=TensorBatches,
        **kwargs,
    ):
        # ARMEDBase's parameters are those of the predictors: skorch's own
        # constructor takes the shared ones, the rest are set here.
        NeuralNet.__init__(
            self,
            module=module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            train_split=train_split,
            callbacks=callbacks,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            **kwargs,
        )
        self.cluster = cluster
        self.backbone = backbone
        self.decoder = decoder
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.adversary_layer_sizes = adversary_layer_sizes
        self.classifier_layer_sizes = classifier_layer_sizes
        self.random_effects = random_effects
        self.adversary_weight = adversary_weight
        self.classifier_weight = classifier_weight
        self.kl_weight = kl_weight
        self.intercept_prior_scale = intercept_prior_scale
        self.slope_prior_scale = slope_prior_scale
        self.unseen_clusters = unseen_clusters
        self.random_effect_lr = random_effect_lr
        self.random_state = random_state

    @classmethod
    def from_paper(cls, **params):
        """Not offered: the paper's autoencoder is a convolutional one.

        Raises
        ------
        NotImplementedError
        """
        raise NotImplementedError(
            "ARMEDAutoencoder has no paper preset; pass a convolutional "
            "backbone and decoder for the paper's image autoencoder."
        )

    def set_params(self, **params):
        """Set parameters; ``decoder__*`` ones as ``backbone__*`` ones.

        Parameters
        ----------
        **params : dict

        Returns
        -------
        self : object
        """
        if getattr(self, "initialized_", False):
            for key in [k for k in params if k.startswith("decoder__")]:
                setattr(self, key, params.pop(key))
        return super().set_params(**params) if params else self

    def _check_params(self):
        check_parameters(self)
        check_device(self.device)
        self.hidden_layer_sizes_ = _check_layer_sizes(
            self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=True
        )
        for name in ("adversary_layer_sizes", "classifier_layer_sizes"):
            _check_layer_sizes(getattr(self, name), name, allow_empty=True)

    def initialize_module(self):
        """Build the ``AutoencoderModule`` for the layout read from ``X``.

        Returns
        -------
        self : object
        """
        seeded = getattr(self, "_generator_", None)
        generator = torch.Generator() if seeded is None else seeded
        input_shape = getattr(self, "input_shape_", None) or (1,)
        n_features = int(np.prod(input_shape))
        backbone = decoder = None
        if seeded is not None:
            if self.backbone is not None:
                backbone = build_backbone(self, generator, input_shape)
            if self.decoder is not None:
                decoder = build_decoder(self, generator, self.n_components)
        layout = {
            "n_features": n_features,
            "n_clusters": getattr(self, "n_clusters_", 2),
            "n_classes": len(getattr(self, "classes_", ())),
            "n_components": self.n_components,
            "hidden_layer_sizes": self.hidden_layer_sizes_,
            "adversary_layer_sizes": _check_layer_sizes(
                self.adversary_layer_sizes, "", allow_empty=True
            ),
            "classifier_layer_sizes": _check_layer_sizes(
                self.classifier_layer_sizes, "", allow_empty=True
            ),
            "random_effects": self.random_effects,
            "intercept_prior_scale": self.intercept_prior_scale,
            "slope_prior_scale": self.slope_prior_scale,
            "adversary": self.adversary_weight > 0,
            "z_predictor": self.unseen_clusters == "z_predictor",
            "generator": generator,
            "backbone": backbone,
            "decoder": decoder,
            "input_shape": input_shape,
        }
        kwargs = {**layout, **self.get_params_for("module")}
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def _default_criterion(self):
        return torch.nn.MSELoss

    def _encode_target(self, y, n_samples, *, reset):
        """Return the label's class indices (int64)."""
        y = read_labels(y, n_samples, type(self).__name__)
        check_classification_targets(y)
        if reset:
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    "y holds a single class; ARMEDAutoencoder's label head needs "
                    "samples of at least 2 classes (or fit without y)."
                )
        elif not hasattr(self, "classes_"):
            raise ValueError("ARMEDAutoencoder was fit without y; got a y now.")
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"y has classes {np.unique(y[unknown])} not seen in fit.")
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Read ``X`` (and the optional label) and size the parts, as ARMED.

        A fresh fit without ``y`` forgets the label of an earlier one.
        """
        if self._layout_pending_ and y is None and hasattr(self, "classes_"):
            del self.classes_
        super().on_train_begin(net, X=X, y=y, **kwargs)

    def finish_fit(self):
        """Train the Z-predictor (as ARMED's), then drop the fit's temporaries."""
        self._fit_z_predictor()
        effect = self.module_.random_effect
        if effect is not None:
            effect.generator = None
        del self._fit_inputs_, self._generator_, self._device_generator_

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Reconstruction, adversary, label and KL terms for one batch.

        ``MSE(x, x̂_M) + CCE(z, ẑ) + λ_g·CCE(uniform, ẑ) + λ_c·CCE(y, ŷ)
        + λ_K·KL/n_train``, where the adversary's ``CCE(z, ẑ)`` reads the
        detached code and the confusion term the adversary's detached
        weights. ARMED's own step (the encoder maximising ``CCE(z, ẑ)``)
        raised the batch's predictability on images: the encoder can make
        the adversary confidently wrong, and a wrong but sure prediction
        still tells the cluster apart.

        Returns
        -------
        loss : torch.Tensor
        """
        reconstruction, _, adversary_logit, class_logit, confusion_logit = y_pred
        features = to_tensor(X["features"], device=self.device)
        loss = self.criterion_(reconstruction, features)
        cluster = to_tensor(X["cluster"], device=self.device)
        if adversary_logit.shape[1]:
            # Each part sees one term: the adversary its cross-entropy (on
            # the detached code), the encoder the cross-entropy of the
            # adversary's prediction to the uniform distribution.
            confusion = -F.log_softmax(confusion_logit, dim=1).mean()
            loss = (
                loss
                + F.cross_entropy(adversary_logit, cluster)
                + self.adversary_weight * confusion
            )
        y_true = to_tensor(y_true, device=self.device)
        if class_logit.shape[1] and y_true.numel():
            loss = loss + self.classifier_weight * F.cross_entropy(
                class_logit, y_true.long()
            )
        if self.module_.random_effect is not None and self.kl_weight:
            loss = loss + self.kl_weight * self.module_.kl_divergence() / max(
                getattr(self, "n_train_samples_", 1), 1
            )
        return loss

    def train_step_single(self, batch, **fit_params):
        """Take skorch's step (the loss already gives each part its gradient).

        Returns
        -------
        step : dict
        """
        return NeuralNet.train_step_single(self, batch, **fit_params)

    # -- transformer ---------------------------------------------------------

    @property
    def _n_features_out(self):
        return self.n_components

    def transform(self, X):
        """Return the fixed-effects (batch-corrected) latent code of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features) or mapping
            Features and the cluster column, or (as in fit) a mapping of the
            cluster labels and the inputs.

        Returns
        -------
        code : ndarray of shape (n_samples, n_components)
        """
        return self._outputs(X, 1)

    def reconstruct(self, X):
        """Return the mixed reconstruction: ``X``'s code decoded with its batch.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features) or mapping

        Returns
        -------
        reconstruction : ndarray of shape ``(n_samples, *input_shape_)``
        """
        return self._outputs(X, 0)

    def inverse_transform(self, X):
        """Decode latent codes without random effects (batch-free inputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes, e.g. from :meth:`transform`.

        Returns
        -------
        reconstruction : ndarray of shape ``(n_samples, *input_shape_)``
        """
        check_is_fitted(self, "_cluster_spec_")
        code = check_array(X, dtype=np.float32, input_name="X")
        if code.shape[1] != self.n_components:
            raise ValueError(
                f"X must be codes of shape (n_samples, {self.n_components}), got "
                f"shape {code.shape}."
            )
        module = self.module_
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                out = module.decode(torch.as_tensor(code, device=self.device))
        finally:
            module.train(was_training)
        return out.to("cpu").numpy().astype(np.float64)
