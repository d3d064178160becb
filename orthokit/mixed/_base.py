"""What the ARMED classifier and regressor share: a skorch net of clustered data.

The net extends skorch where skorch means to be extended. ``__init__`` hands
skorch its parameters; ``initialize_module``, ``initialize_criterion`` and
``initialize_optimizer`` build the parts (one optimizer, with parameter groups
for the random effects and for the adversary); ``on_train_begin`` reads ``X``
and ``y`` through :mod:`orthokit._inputs`, seeds the fit's generator and, on a
fresh fit, rebuilds the parts for the layout of the data (skorch builds them
before it sees data, as its ``InputShapeSetter`` callback does);
``get_dataset`` hands skorch the encoded data; ``get_loss`` composes the loss;
``train_step_single`` turns the adversary's gradient into that of its own
loss; ``on_train_end`` trains the Z-predictor. skorch's own ``fit`` and
``partial_fit`` run the training.
"""

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_device, to_tensor
from torch.nn import functional as F

from orthokit._sklearn import (
    Interval,
    StrOptions,
    check_is_fitted,
    check_parameters,
)
from orthokit._skorch import PrivateInitStateMixin, SkopsStateMixin
from orthokit.mixed._backbone import build_backbone, check_adversary_layers
from orthokit.mixed._batches import TensorBatches
from orthokit.mixed._data import ARMEDData
from orthokit.mixed._device import check_device, fast_adam_options
from orthokit.mixed._effects import effect_names, summarise_random_effects
from orthokit.mixed._modules import ARMEDModule, child_generator
from orthokit.mixed._paper import paper_params

# Adam on large mini-batches for the Z-predictor (see ZPredictorMixin.fit_z_predictor).
_Z_PREDICTOR_OPTIONS = {"epochs": 30, "batch_size": 1024, "lr": 0.02}


def auto_epochs(n_samples, batch_size, *, epochs=50, min_steps=2000):
    """Epochs of ``max_epochs="auto"``: ``epochs``, more if that is < ``min_steps``.

    Parameters
    ----------
    n_samples, batch_size : int
    epochs : int, default=50
    min_steps : int, default=2000
        Fewest optimizer steps (batches) in all.

    Returns
    -------
    int

    Examples
    --------
    >>> auto_epochs(10_000, 32), auto_epochs(150, 32)
    (50, 400)
    """
    steps = -(-int(n_samples) // int(batch_size))  # batches per epoch
    return max(int(epochs), -(-int(min_steps) // max(steps, 1)))


class FinishFit(Callback):
    """Finish an ARMED fit once every other callback has ended training.

    skorch calls the net's own ``on_train_end`` before its callbacks'; a
    callback that restores weights there (``EarlyStopping(load_best=True)``)
    would otherwise replace the trained Z-predictor by an untrained one.
    """

    def on_train_end(self, net, **kwargs):
        """Call the net's ``finish_fit``."""
        net.finish_fit()


def _check_layer_sizes(sizes, name, *, allow_empty):
    sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
    if (not sizes and not allow_empty) or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(f"{name} must be a tuple of positive integers, got {sizes!r}.")
    return tuple(int(s) for s in sizes)


class ARMEDBase(PrivateInitStateMixin, SkopsStateMixin, ARMEDData, NeuralNet):
    """Everything the ARMED classifier and regressor share (see their docs)."""

    # The autoencoder's label is optional; the predictors' target is not.
    _requires_target = True

    # skorch's documented list of prefixes: ``backbone__*`` parameters are
    # passed to the backbone, as ``module__*`` ones to the module.
    prefixes_ = [*NeuralNet.prefixes_, "backbone"]

    _parameter_constraints: dict = {
        "cluster": [str, Integral, None],
        "backbone": [callable, None],
        "adversary_layers": ["array-like", None],
        "hidden_layer_sizes": ["array-like", Integral],
        "adversary_layer_sizes": ["array-like", Integral],
        "random_intercept": ["boolean"],
        "linear_slopes": ["boolean", StrOptions({"auto"})],
        "nonlinear_slopes": ["boolean"],
        "mixed_weight": [Interval(Real, 0, None, closed="left")],
        "fixed_weight": [Interval(Real, 0, None, closed="left")],
        "adversary_weight": [Interval(Real, 0, None, closed="left")],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
        "intercept_prior_scale": [Interval(Real, 0, None, closed="neither")],
        "slope_prior_scale": [Interval(Real, 0, None, closed="neither")],
        "unseen_clusters": [StrOptions({"z_predictor", "fixed", "error"})],
        "predict_effects": [StrOptions({"mixed", "fixed"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "random_effect_lr": [Interval(Real, 0, None, closed="neither"), None],
        "max_epochs": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
        ],
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
        adversary_layers=None,
        hidden_layer_sizes=(32, 32),
        adversary_layer_sizes=(8, 8, 4),
        random_intercept=True,
        linear_slopes="auto",
        nonlinear_slopes=True,
        mixed_weight=1.0,
        fixed_weight=1.0,
        adversary_weight=0.5,
        kl_weight=0.1,
        intercept_prior_scale=1.0,
        slope_prior_scale=1.0,
        unseen_clusters="z_predictor",
        predict_effects="mixed",
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
        module=ARMEDModule,
        criterion=None,
        iterator_train=TensorBatches,
        iterator_valid=TensorBatches,
        **kwargs,
    ):
        super().__init__(
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
        self.adversary_layers = adversary_layers
        self.hidden_layer_sizes = hidden_layer_sizes
        self.adversary_layer_sizes = adversary_layer_sizes
        self.random_intercept = random_intercept
        self.linear_slopes = linear_slopes
        self.nonlinear_slopes = nonlinear_slopes
        self.mixed_weight = mixed_weight
        self.fixed_weight = fixed_weight
        self.adversary_weight = adversary_weight
        self.kl_weight = kl_weight
        self.intercept_prior_scale = intercept_prior_scale
        self.slope_prior_scale = slope_prior_scale
        self.unseen_clusters = unseen_clusters
        self.predict_effects = predict_effects
        self.random_effect_lr = random_effect_lr
        self.random_state = random_state

    @classmethod
    def from_paper(cls, **params):
        """Build the estimator with the authors' spiral settings (ARMED paper).

        Fixed effects ``(4, 4, 4)``, adversary ``(8, 8, 4)`` at weight 0.5,
        a random intercept (prior sd 0.1) and random slopes on the last
        hidden layer only (prior sd 0.3), KL weight 0.1 on our per-sample
        scale (their ``1e-5`` on the summed KL), Adam at lr ``1e-3`` for
        every weight, batches of 32, 50 epochs: the configuration of
        ``benchmarks/bench_armed.py`` (Table 1). The defaults differ (wider
        layers, linear slopes, unit priors, a larger step for the random
        effects): they do better on clustered data other than the spirals
        (``benchmarks/results/armed_family.md``).

        Parameters
        ----------
        **params : dict
            Any other parameter (``cluster``, ``random_state``, ...); they
            override the paper's settings too.

        Returns
        -------
        estimator : ARMEDClassifier or ARMEDRegressor
            Unfitted.
        """
        return cls(**paper_params(**params))

    def get_params(self, deep=True, **kwargs):
        """Return the parameters: skorch's, without its own bookkeeping.

        skorch takes every attribute whose name does not end in ``_`` for a
        parameter, its private records included; those are not parameters
        (``clone`` would pass them to ``__init__``).

        Parameters
        ----------
        deep : bool, default=True
            Also the parameters of callbacks and other nested objects.
        **kwargs : dict
            Passed to skorch's ``get_params``.

        Returns
        -------
        params : dict
        """
        params = super().get_params(deep=deep, **kwargs)
        return {key: value for key, value in params.items() if key[:1] != "_"}

    def set_params(self, **params):
        """Set parameters as skorch does, with two exceptions.

        skorch rebuilds an initialized net's modules when parameters of theirs
        change, and refuses prefixed parameters of parts it does not build; the
        backbone is built at each fit, so ``backbone__*`` parameters of an
        initialized net are stored, as any other of the net's, and used by the
        next fit. skorch's ``set_params`` also builds the callbacks of the
        current list before it stores a new one, so that
        ``callbacks__<name>__<param>`` keys find them. Before the net is
        initialized, the new list alone needs nothing built (``initialize``
        builds the callbacks of the list it finds), so it is stored as given
        and checked in fit, as scikit-learn asks of ``set_params``.

        Parameters
        ----------
        **params : dict
            Parameters of the net, prefixed ones included.

        Returns
        -------
        self : object
        """
        initialized = getattr(self, "initialized_", False)
        backbone = {k: v for k, v in params.items() if k.startswith("backbone__")}
        if backbone and initialized:
            for key, value in backbone.items():
                setattr(self, key, value)
            params = {k: v for k, v in params.items() if k not in backbone}
        if "callbacks" in params and not initialized:
            callbacks = params.pop("callbacks")
            if params:
                super().set_params(**params)
            self.callbacks = callbacks
            return self
        return super().set_params(**params) if params else self

    # -- skorch's parts ------------------------------------------------------

    def initialize(self):
        """Check the parameters, then initialize as skorch does.

        The module built here has the layout of the last data read (or a
        placeholder); the first ``on_train_begin`` after it builds the parts
        anew for the layout of the training data.

        Returns
        -------
        self : object
        """
        self._check_params()
        self._layout_pending_ = True
        return super().initialize()

    def _check_params(self):
        check_parameters(self)
        check_device(self.device)
        self.hidden_layer_sizes_ = _check_layer_sizes(
            self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=False
        )
        self.adversary_layer_sizes_ = _check_layer_sizes(
            self.adversary_layer_sizes, "adversary_layer_sizes", allow_empty=True
        )

    def _use_linear_slopes(self):
        """Whether the module has linear slopes (``"auto"``: without a backbone)."""
        if isinstance(self.linear_slopes, str):
            return self.backbone is None
        return bool(self.linear_slopes)

    def initialize_module(self):
        """Build the :class:`ARMEDModule` for the layout read from ``X``.

        A ``backbone`` of the user's is built only in a fit, for the shape of
        the data read (seeded by ``random_state``); the placeholder module
        built outside a fit has the dense one, whose adversary reads every
        hidden layer.

        Returns
        -------
        self : object
        """
        seeded = getattr(self, "_generator_", None)
        # Outside a fit a generator of its own: torch's global one is
        # neither used nor changed.
        generator = torch.Generator() if seeded is None else seeded
        input_shape = getattr(self, "input_shape_", None)
        backbone = layers = None
        if self.backbone is None or seeded is not None:
            layers = check_adversary_layers(self.adversary_layers)
            if self.backbone is not None:
                backbone = build_backbone(self, generator, input_shape)
        layout = {
            "n_features": len(getattr(self, "effect_feature_names_", [None])),
            "n_clusters": getattr(self, "n_clusters_", 2),
            "n_outputs": self._n_outputs,
            "hidden_layer_sizes": self.hidden_layer_sizes_,
            "adversary_layer_sizes": self.adversary_layer_sizes_,
            "random_intercept": self.random_intercept,
            "linear_slopes": self._use_linear_slopes(),
            "nonlinear_slopes": self.nonlinear_slopes,
            "intercept_prior_scale": self.intercept_prior_scale,
            "slope_prior_scale": self.slope_prior_scale,
            "adversary": self.adversary_weight > 0,
            "z_predictor": self.unseen_clusters == "z_predictor",
            "generator": generator,
            "backbone": backbone,
            "adversary_layers": layers,
            "input_shape": input_shape,
            "zero_start": self._zero_start(),
        }  # fmt: skip
        kwargs = {**layout, **self.get_params_for("module")}
        self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def _zero_start(self):
        """Kinds of random effect whose posterior means start at zero."""
        if self.nonlinear_slopes:
            return ()
        return ("intercept", "linear")

    def initialize_criterion(self):
        """Use the data term of the task unless ``criterion`` names one.

        Returns
        -------
        self : object
        """
        criterion = self.criterion or self._default_criterion()
        kwargs = self.get_params_for("criterion")
        self.criterion_ = self.initialized_instance(criterion, kwargs)
        return self

    def initialize_optimizer(self, *args, **kwargs):
        """One optimizer: the network, the random effects, the adversary.

        The random effects are groups of their own at ``random_effect_lr``;
        the adversary's group (named ``"adversary"``) steps on the gradient
        of its own loss (see :meth:`train_step_single`).

        Returns
        -------
        self : object
        """
        adversary = self.module_.adversary
        rival = {id(p) for p in adversary.parameters()} if adversary else set()
        named = list(self.get_all_learnable_params())
        main = [(name, p) for name, p in named if id(p) not in rival]
        (groups,), options = self.get_params_for_optimizer("optimizer", main)
        groups = self._random_effect_groups(groups)
        if rival:
            adversarial = [(name, p) for name, p in named if id(p) in rival]
            (extra,), _ = self.get_params_for_optimizer("optimizer", adversarial)
            groups += [{**group, "name": "adversary"} for group in extra]
        options = self._fast_optimizer_options(options, [p for _, p in named])
        self.optimizer_ = self.optimizer(groups, **options)
        return self

    def _random_effect_groups(self, groups):
        """Give the per-cluster weights ``random_effect_lr`` (their own groups).

        A cluster's weights get a gradient only from its own samples, a
        small share of each epoch's steps when clusters are many or small;
        at the network's ``lr`` they barely leave their start. A parameter
        group of the user's (``optimizer__param_groups``) that sets ``lr``
        keeps it.
        """
        effect = self.module_.random_effect
        if self.random_effect_lr is None or effect is None:
            return groups
        ours = {id(p) for p in effect.parameters()}
        split = []
        for group in groups:
            rest = [p for p in group["params"] if id(p) not in ours]
            mine = [p for p in group["params"] if id(p) in ours]
            if rest:
                split.append({**group, "params": rest})
            if mine:
                split.append(
                    {"lr": self.random_effect_lr, **group, "params": mine,
                     "name": "random_effects"}
                )  # fmt: skip
        return split

    def _fast_optimizer_options(self, options, params):
        # torch's Adam/AdamW default to a Python loop over parameter tensors
        # on CPU; the fused kernel does the same update in one call. Only
        # when the user chose neither ``optimizer__fused`` nor ``__foreach``.
        if self.optimizer not in (torch.optim.Adam, torch.optim.AdamW) or (
            {"fused", "foreach"} & set(options)
        ):
            return options
        return {**options, **fast_adam_options(params)}

    # -- training ------------------------------------------------------------

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        """Read ``X`` and ``y``, seed the fit's generator, size the parts.

        After :meth:`initialize` (a fresh fit) the cluster column, labels,
        target encoding and the module's layout are learned from this data;
        otherwise (``partial_fit``, ``warm_start``) the data must fit them.
        The fit's own ``torch.Generator`` (seeded from ``random_state``;
        None: a draw from torch's global generator) draws the initial
        weights, the batch order and the sampled random effects, so fits in
        parallel threads give the same results as one after the other.
        """
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self._check_params()
        reset = self._layout_pending_
        if y is None and self._requires_target:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                "is None."
            )
        data, target = self._read_inputs(X, y, reset=reset)
        self._fit_inputs_ = (X, y, data, target)
        if self.random_state is None:
            seed = int(torch.randint(0, 2**62, (1,)))
        else:
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self._generator_ = torch.Generator().manual_seed(seed)
        device = torch.device(self.device or "cpu")
        self._device_generator_ = (
            self._generator_
            if device.type == "cpu"
            else child_generator(self._generator_, device)
        )
        if reset:
            self.initialize_module()
            module = to_device(self.module_, self.device)
            self.module_ = self.torch_compile(module, name="module")
            self.initialize_criterion()
            self.criterion_ = to_device(self.criterion_, self.device)
            self.initialize_optimizer()
            self._layout_pending_ = False

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """Run skorch's loop; ``max_epochs="auto"`` sized by the data.

        ``"auto"``: 50 epochs, or as many as make 2,000 batches of the rows
        given to fit where that is more (``auto_epochs``).

        Returns
        -------
        self : object
        """
        if epochs is None and self.max_epochs == "auto":
            epochs = auto_epochs(len(self._fit_inputs_[3]), self.batch_size)
        return super().fit_loop(X, y, epochs=epochs, **fit_params)

    def initialize_callbacks(self):
        """Initialize skorch's and the user's callbacks, then ``FinishFit``.

        Returns
        -------
        self : object
        """
        super().initialize_callbacks()
        self.callbacks_ = [*self.callbacks_, ("finish_fit", FinishFit())]
        return self

    def on_train_end(self, net, X=None, y=None, **kwargs):
        """Finish the fit here when callbacks are disabled (else in FinishFit)."""
        super().on_train_end(net, X=X, y=y, **kwargs)
        if not any(isinstance(cb, FinishFit) for _, cb in self.callbacks_):
            self.finish_fit()

    def finish_fit(self):
        """Train the Z-predictor on all the data, then tabulate the effects.

        The Z-predictor shares no weight with the network, so training it
        after the network gives the same network as training it alongside,
        in a few hundred large-batch steps instead of one extra small step
        per batch. ``FinishFit`` calls this after every other callback
        has ended training (one that restores weights then, such as
        ``EarlyStopping(load_best=True)``, restores the network's).
        """
        self._fit_z_predictor()
        effect = self.module_.random_effect
        if effect is not None:
            effect.generator = None
        del self._fit_inputs_, self._generator_, self._device_generator_
        names = effect_names(self.effect_feature_names_, self.module_.n_latent)
        self.random_effects_, self.random_effects_variance_ = (
            summarise_random_effects(
                self.module_, names, self.clusters_, self.cluster_column_,
                self._output_names(), getattr(self, "y_scale_", 1.0),
            )
        )  # fmt: skip

    def _fit_z_predictor(self):
        """Train the module's Z-predictor (if any) on the fit's inputs."""
        if self.module_.z_predictor is None:
            return
        data, device = self._fit_inputs_[2], self.device or "cpu"
        self.z_predictor_loss_ = self.module_.fit_z_predictor(
            torch.as_tensor(data["features"], device=device),
            torch.as_tensor(data["cluster"], dtype=torch.long, device=device),
            generator=self._device_generator_,
            **_Z_PREDICTOR_OPTIONS,
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """ARMED's loss for one batch.

        ``λ_M·L(y, ŷ_M) + λ_F·L(y, ŷ_F) − λ_g·CCE(Z, Ẑ) + λ_K·KL/n_train``
        (the Z-predictor, whose weights appear nowhere else, is trained
        after the network in :meth:`on_train_end`). The KL is divided by the
        number of training samples because the data terms are means over
        samples: with ``kl_weight=1`` the loss is the negative ELBO per
        sample (the default 0.1 matches the authors' ``1e-5`` on the
        undivided KL for about 10,000 training samples).

        Outside training (skorch's validation loss, ``valid_loss``) the
        adversarial term is left out: it rewards an adversary that fails,
        so a validation loss with it falls as the adversary loses track of
        the validation rows and is no criterion for early stopping.

        Returns
        -------
        loss : torch.Tensor
        """
        mixed_logit, fixed_logit, adversary_logit, _ = y_pred
        y_true = to_tensor(y_true, device=self.device)
        loss = self.mixed_weight * self.criterion_(
            self._logit_for_loss(mixed_logit), self._target_for_loss(y_true)
        ) + self.fixed_weight * self.criterion_(
            self._logit_for_loss(fixed_logit), self._target_for_loss(y_true)
        )
        if training and isinstance(X, Mapping):
            cluster = to_tensor(X["cluster"], device=self.device)
            if adversary_logit.shape[1]:
                loss = loss - self.adversary_weight * F.cross_entropy(
                    adversary_logit, cluster
                )
        if self.module_.random_effect is not None and self.kl_weight:
            loss = loss + self.kl_weight * self.module_.kl_divergence() / max(
                getattr(self, "n_train_samples_", 1), 1
            )
        return loss

    def train_step_single(self, batch, **fit_params):
        """Take skorch's step, the adversary's gradient made its own loss's.

        The adversary minimises its cross-entropy of the cluster from the
        fixed-effects hidden activations; the network's loss maximises it.
        Both gradients come from one backward pass: the adversary's weights
        appear in the network's loss only through ``−λ_g·CCE``, so their
        gradient there is ``−λ_g`` times the gradient of their own loss, and
        rescaling it by ``−1/λ_g`` gives the adversary's step.

        skorch's own step sets every module's mode, a walk over all their
        submodules, at each step; here the mode is set only when it is not
        already the training mode (every mode change in the package applies
        to a whole subtree), which is the same and cheaper.

        Returns
        -------
        step : dict
            ``{"loss": loss, "y_pred": y_pred}``.
        """
        for part in (self.module_, self.criterion_):
            if isinstance(part, torch.nn.Module) and not part.training:
                part.train(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        step = {"loss": loss, "y_pred": y_pred}
        adversary = self.module_.adversary
        if adversary is not None:
            for param in adversary.parameters():
                if param.grad is None:
                    continue
                if self.adversary_weight > 0:
                    param.grad.mul_(-1.0 / self.adversary_weight)
                else:  # set to 0 after fit: no adversarial objective
                    param.grad = None
        return step

    # -- prediction ----------------------------------------------------------

    def _outputs(self, X, which):
        """Output ``which`` of the module on ``X``, as float64 (no gradients)."""
        check_is_fitted(self, "_cluster_spec_")
        self.module_.use_z_predictor = self.unseen_clusters == "z_predictor"
        with torch.no_grad():
            outputs = [
                out[which].detach().to("cpu")
                for out in self.forward_iter(X, training=False)
            ]
        return torch.cat(outputs).numpy().astype(np.float64)

    def _logits(self, X):
        return self._outputs(X, 0 if self.predict_effects == "mixed" else 1)
