"""ARMED estimators: skorch nets with the cluster as a named column of ``X``.

The nets extend skorch where skorch means to be extended: the module and both
optimizers are built in ``initialize_*``, the loss is composed in
``get_loss``, and the adversary takes its own optimizer step inside
``train_step_single``. ``fit``, ``partial_fit`` and the predict methods are
thin wrappers that read the cluster column and hand skorch a dict of tensors.
"""

import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from skorch import NeuralNet
from skorch.dataset import Dataset, unpack_data
from skorch.utils import is_dataset, to_tensor
from torch.nn import functional as F

from orthokit._protected import check_array_like, check_finite, check_float32_range
from orthokit._sklearn import (
    Interval,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from orthokit._skorch import SkopsStateMixin
from orthokit.mixed._batches import TensorBatches
from orthokit.mixed._clusters import (
    cluster_labels,
    encode_clusters,
    features,
    resolve_cluster_column,
)
from orthokit.mixed._modules import (
    ARMEDModule,
    child_generator,
    fast_adam_options,
)


class _Encoded(dict):
    """Features and cluster indices already read from ``X`` (skorch's input)."""


def _check_layer_sizes(sizes, name, *, allow_empty):
    sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
    if (not sizes and not allow_empty) or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise ValueError(f"{name} must be a tuple of positive integers, got {sizes!r}.")
    return tuple(int(s) for s in sizes)


#: The authors' spiral settings (the ARMED paper, Table 1); see ``from_paper``.
PAPER_SPIRALS_PARAMS = {
    "hidden_layer_sizes": (4, 4, 4),
    "adversary_layer_sizes": (8, 8, 4),
    "random_intercept": True,
    "linear_slopes": False,
    "nonlinear_slopes": True,
    "adversary_weight": 0.5,
    "kl_weight": 0.1,
    "intercept_prior_scale": 0.1,
    "slope_prior_scale": 0.3,
    "lr": 1e-3,
    "random_effect_lr": None,
    "batch_size": 32,
    "max_epochs": 50,
}


def _check_device(device):
    """Raise a ValueError naming ``device`` unless torch can use it here.

    Parameters
    ----------
    device : str, torch.device or None
        None leaves the tensors where they are (skorch's convention).
    """
    if device is None:
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is not None and parsed.type == "cpu":
        return
    if parsed is not None and parsed.type == "mps":
        usable = torch.backends.mps.is_available()
    else:
        backend = getattr(torch, getattr(parsed, "type", ""), None)  # cuda, xpu
        usable = (
            hasattr(backend, "is_available")
            and backend.is_available()
            and (parsed.index is None or parsed.index < backend.device_count())
        )
    if not usable:
        available = ["cpu"]
        if torch.cuda.is_available():
            available += ["cuda"] + [
                f"cuda:{i}" for i in range(torch.cuda.device_count())
            ]
        if torch.backends.mps.is_available():
            available.append("mps")
        raise ValueError(
            f"device={device!r} is not available on this machine; available: "
            f"{', '.join(available)}."
        )


class _ARMEDBase(SkopsStateMixin, NeuralNet):
    """Everything the ARMED classifier and regressor share."""

    # skorch reads these; they are fixed by the method rather than parameters.
    module = ARMEDModule
    criterion = torch.nn.MSELoss
    iterator_train = TensorBatches
    iterator_valid = TensorBatches
    dataset = Dataset
    predict_nonlinearity = None
    compile = False
    use_caching = "auto"
    torch_load_kwargs = None
    initialized_ = False
    history_ = None
    virtual_params_: dict = {}  # noqa: RUF012 - skorch replaces it per instance

    _parameter_constraints: dict = {
        "cluster": [str, Integral, None],
        "hidden_layer_sizes": ["array-like", Integral],
        "adversary_layer_sizes": ["array-like", Integral],
        "random_intercept": ["boolean"],
        "linear_slopes": ["boolean"],
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
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        cluster=None,
        hidden_layer_sizes=(32, 32),
        adversary_layer_sizes=(8, 8, 4),
        random_intercept=True,
        linear_slopes=True,
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
        **kwargs,
    ):
        self.cluster = cluster
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
        self.optimizer = optimizer
        self.lr = lr
        self.random_effect_lr = random_effect_lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.train_split = train_split
        self.callbacks = callbacks
        self.warm_start = warm_start
        self.verbose = verbose
        self.device = device
        self.random_state = random_state
        # skorch's prefixed parameters (optimizer__weight_decay=...,
        # callbacks__print_log__..., iterator_train__num_workers=...).
        self._params_to_validate = set(kwargs)
        vars(self).update(kwargs)

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
        return cls(**{**PAPER_SPIRALS_PARAMS, **params})

    # -- parameters -------------------------------------------------------

    def _get_param_names(self):
        # scikit-learn's signature-based names, plus skorch's prefixed ones.
        names = BaseEstimator._get_param_names.__func__(type(self))
        prefixed = [k for k in vars(self) if "__" in k and not k.endswith("_")]
        return sorted(set(names) | set(prefixed))

    def _validate_params(self):
        # scikit-learn's declarative constraints (fit's _fit_context and
        # skorch's initialize both call this).
        BaseEstimator._validate_params(self)
        _check_device(self.device)

    def initialize(self):
        """Initialize as skorch does, then check skorch's prefixed arguments.

        skorch knows the ``optimizer__*`` prefixes only once the optimizer is
        built, so its check of them runs here rather than before fit.
        """
        super().initialize()
        NeuralNet._validate_params(self)
        return self

    def _set_training(self, training=True):
        # skorch calls this every batch; module.train() walks every submodule.
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    # -- reading X ----------------------------------------------------------

    def _read_X(self, X, *, reset):
        """Return an ``_Encoded`` dict of float32 features and cluster indices."""
        X = check_array_like(X)
        validate_data(self, X, skip_check_array=True, reset=reset)
        if reset:
            if self.cluster is None:
                raise ValueError(
                    f"{type(self).__name__} needs cluster=...: the name or position "
                    "of the cluster column of X."
                )
            self._cluster_position, self.cluster_column_ = resolve_cluster_column(
                X, self.cluster
            )
            if X.shape[1] < 2:
                raise ValueError(
                    f"X has {X.shape[1]} feature(s): only its cluster column. "
                    "At least one more column is needed."
                )
            self.hidden_layer_sizes_ = _check_layer_sizes(
                self.hidden_layer_sizes, "hidden_layer_sizes", allow_empty=False
            )
            self.adversary_layer_sizes_ = _check_layer_sizes(
                self.adversary_layer_sizes, "adversary_layer_sizes", allow_empty=True
            )
        labels = cluster_labels(X, self._cluster_position, self.cluster_column_)
        values, names = features(X, self._cluster_position, self.cluster_column_)
        if reset:
            self.effect_feature_names_ = np.asarray(names, dtype=object)
            if len(labels) < 2:
                raise ValueError(
                    f"X has {len(labels)} sample(s), but at least 2 are required by "
                    f"{type(self).__name__}."
                )
            unique = pd.unique(labels)
            try:
                unique = sorted(unique)
            except TypeError:
                unique = list(unique)
            if len(unique) < 2:
                raise ValueError(
                    f"cluster column {self.cluster_column_!r} holds a single cluster "
                    f"({unique[0]!r}); a mixed-effects model needs at least 2 "
                    "clusters. Use a plain network for unclustered data."
                )
            self.clusters_ = np.asarray(unique, dtype=object)
            self.n_clusters_ = len(unique)
        if pd.api.types.is_numeric_dtype(labels.dtype):
            check_finite(
                labels.to_numpy(dtype=np.float64)[:, None],
                [self.cluster_column_],
                "cluster",
            )
        index = encode_clusters(
            labels,
            self.clusters_,
            self.cluster_column_,
            allow_unseen=not reset and self.unseen_clusters != "error",
        )
        if reset and (index < 0).any():
            raise ValueError("internal error: a training label was not mapped.")
        return _Encoded(features=values, cluster=index)

    # -- skorch extension points ------------------------------------------

    def initialize_module(self):
        """Build the :class:`ARMEDModule` for the layout read in fit."""
        self.module_ = ARMEDModule(
            n_features=len(self.effect_feature_names_),
            n_clusters=self.n_clusters_,
            n_outputs=self._n_outputs,
            hidden_layer_sizes=self.hidden_layer_sizes_,
            adversary_layer_sizes=self.adversary_layer_sizes_,
            random_intercept=self.random_intercept,
            linear_slopes=self.linear_slopes,
            nonlinear_slopes=self.nonlinear_slopes,
            intercept_prior_scale=self.intercept_prior_scale,
            slope_prior_scale=self.slope_prior_scale,
            adversary=self.adversary_weight > 0,
            z_predictor=self.unseen_clusters == "z_predictor",
            generator=getattr(self, "_generator", None),
        )
        return self

    def initialize_criterion(self):
        """Use the data term of the task (BCE, cross-entropy or MSE)."""
        self.criterion_ = self._make_criterion()
        return self

    def initialize_optimizer(self, *args, **kwargs):
        """One optimizer for the network, a separate one for the adversary."""
        adversary = self.module_.adversary
        adversary_params = set(adversary.parameters()) if adversary else set()
        main = [
            (name, p)
            for name, p in self.module_.named_parameters()
            if p not in adversary_params
        ]
        pgroups, options = self.get_params_for_optimizer("optimizer", main)
        options = self._fast_optimizer_options(options, main)
        self.optimizer_ = self.optimizer(
            self._random_effect_groups(*pgroups), **options
        )
        if adversary is None:
            if "adversary_optimizer_" in vars(self):
                del self.adversary_optimizer_
            return self
        named = list(adversary.named_parameters())
        pgroups, options = self.get_params_for_optimizer("optimizer", named)
        options = self._fast_optimizer_options(options, named)
        self.adversary_optimizer_ = self.optimizer(*pgroups, **options)
        # skorch steps every registered optimizer with the main loss's closure;
        # the adversary's optimizer steps on its own loss in train_step_single.
        self._optimizers = [n for n in self._optimizers if n != "adversary_optimizer"]
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
                split.append({"lr": self.random_effect_lr, **group, "params": mine})
        return split

    def _fast_optimizer_options(self, options, named_params):
        # torch's Adam/AdamW default to a Python loop over parameter tensors
        # on CPU; the fused kernel does the same update in one call. Only
        # when the user chose neither ``optimizer__fused`` nor ``__foreach``.
        if self.optimizer not in (torch.optim.Adam, torch.optim.AdamW) or (
            {"fused", "foreach"} & set(options)
        ):
            return options
        return {**options, **fast_adam_options([p for _, p in named_params])}

    def get_iterator(self, dataset, training=False):
        """Shuffle training batches unless ``iterator_train__shuffle`` says not."""
        if not training:
            return super().get_iterator(dataset, training=False)
        options = self.get_params_for("iterator_train")
        options.setdefault("shuffle", True)
        options.setdefault("batch_size", self.batch_size)
        options.setdefault("generator", getattr(self, "_generator", None))
        effect = self.module_.random_effect
        if effect is not None:
            effect.generator = getattr(self, "_device_generator", None)
        return self.iterator_train(dataset, **options)

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split as skorch does and remember the training size (for the KL)."""
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        self.n_train_samples_ = len(dataset_train)
        return dataset_train, dataset_valid

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """ARMED's loss for one batch.

        ``λ_M·L(y, ŷ_M) + λ_F·L(y, ŷ_F) − λ_g·CCE(Z, Ẑ) + λ_K·KL/n_train``
        (the Z-predictor, whose weights appear nowhere else, is trained
        after the network by :meth:`_fit_z_predictor`). The KL is
        divided by the number of training samples because the data terms are
        means over samples: with ``kl_weight=1`` the loss is the negative
        ELBO per sample (the default 0.1 matches the authors' ``1e-5`` on the
        undivided KL for about 10,000 training samples).
        """
        mixed_logit, fixed_logit, adversary_logit, _ = y_pred
        y_true = to_tensor(y_true, device=self.device)
        loss = self.mixed_weight * self.criterion_(
            self._logit_for_loss(mixed_logit), self._target_for_loss(y_true)
        ) + self.fixed_weight * self.criterion_(
            self._logit_for_loss(fixed_logit), self._target_for_loss(y_true)
        )
        if isinstance(X, Mapping):
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
        """One step of the network and, on the same batch, one of the adversary.

        The adversary minimises its cross-entropy of the cluster from the
        fixed-effects hidden activations; the network's loss maximises it.
        Both gradients come from one backward pass: the adversary's weights
        appear in the network's loss only through ``−λ_g·CCE``, so their
        gradient there is ``−λ_g`` times the gradient of their own loss, and
        rescaling it by ``−1/λ_g`` gives the adversary's step. The network's
        optimizer never sees the adversary's weights.
        """
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        adversary = self.module_.adversary
        if adversary is not None and not self.adversary_weight > 0:
            adversary = None  # set to 0 after fit: no adversarial objective
        if adversary is not None:
            params = list(adversary.parameters())
            for param in params:
                param.grad = None
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        if adversary is not None:
            scale = -1.0 / self.adversary_weight
            for param in params:
                if param.grad is not None:
                    param.grad.mul_(scale)
            self.adversary_optimizer_.step()
        return {"loss": loss, "y_pred": y_pred}

    # -- fitting --------------------------------------------------------------

    @contextmanager
    def _seeded(self):
        """Hold this fit's own ``torch.Generator`` (no global random state).

        Seeded from ``random_state`` (None: a draw from torch's global
        generator), it draws the initial weights, the batch order and the
        sampled random effects, so fits in parallel threads give the same
        results as one after the other.
        """
        if self.random_state is None:
            seed = int(torch.randint(0, 2**62, (1,)))
        else:
            seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        self._generator = torch.Generator().manual_seed(seed)
        device = torch.device(self.device or "cpu")
        self._device_generator = (
            self._generator
            if device.type == "cpu"
            else child_generator(self._generator, device)
        )
        try:
            yield
        finally:
            effect = getattr(getattr(self, "module_", None), "random_effect", None)
            if effect is not None:
                effect.generator = None
            del self._generator, self._device_generator

    def _fit_encoded(self, data, target, partial, **fit_params):
        with self._seeded():
            if partial:
                NeuralNet.partial_fit(self, data, target, **fit_params)
            else:
                NeuralNet.fit(self, data, target, **fit_params)
            self._fit_z_predictor(data)
        self._summarise_random_effects()
        return self

    # Adam on large mini-batches for the Z-predictor (see fit_z_predictor).
    _z_predictor_options = {"epochs": 30, "batch_size": 1024, "lr": 0.02}

    def _fit_z_predictor(self, data):
        """Train the Z-predictor on all of ``data`` once the network is fit.

        It shares no weight with the network, so this gives the same network
        as training it alongside, in a few hundred large-batch steps instead
        of one extra small step per batch.
        """
        if self.module_.z_predictor is None:
            return
        device = self.device or "cpu"
        features = torch.as_tensor(data["features"], device=device)
        cluster = torch.as_tensor(data["cluster"], dtype=torch.long, device=device)
        self.z_predictor_loss_ = self.module_.fit_z_predictor(
            features,
            cluster,
            generator=getattr(self, "_device_generator", None),
            **self._z_predictor_options,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, **fit_params):
        """Fit the network (from scratch unless ``warm_start``).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and the cluster column named by ``cluster``.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target.
        **fit_params : dict
            Passed to skorch's ``fit`` (and on to ``train_split``).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        reset = not (self.warm_start and self.initialized_)
        data = self._read_X(X, reset=reset)
        target = self._read_y(y, len(data["cluster"]), reset=reset)
        return self._fit_encoded(data, target, partial=False, **fit_params)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs without re-initializing.

        The first call fixes the clusters, features and (for classifiers) the
        classes; later calls must use the same clusters.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and the cluster column.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Target.
        classes : array-like, default=None
            All classes (classifiers, first call only); default: those in ``y``.
        **fit_params : dict
            Passed to skorch's ``partial_fit``.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        if isinstance(X, _Encoded):  # skorch's fit calls partial_fit
            return NeuralNet.partial_fit(self, X, y, **fit_params)
        reset = not self.initialized_
        data = self._read_X(X, reset=reset)
        if not reset and (data["cluster"] < 0).any():
            raise ValueError(
                f"partial_fit got clusters of {self.cluster_column_!r} not seen in "
                "the first call; their random effects cannot be added later."
            )
        target = self._read_y(y, len(data["cluster"]), reset=reset, classes=classes)
        return self._fit_encoded(data, target, partial=True, **fit_params)

    # -- prediction -----------------------------------------------------------

    def _logits(self, X):
        check_is_fitted(self)
        # skorch's scoring callbacks pass the already encoded training data.
        encoded = is_dataset(X) or isinstance(X, Mapping)
        data = X if encoded else self._read_X(X, reset=False)
        which = 0 if self.predict_effects == "mixed" else 1
        with torch.no_grad():
            outputs = [
                out[which].detach().to("cpu")
                for out in self.forward_iter(data, training=False)
            ]
        return torch.cat(outputs).numpy().astype(np.float64)

    # -- interpretation -----------------------------------------------------

    def _effect_names(self):
        names = {"intercept": ["intercept"]}
        names["linear"] = [f"slope:{n}" for n in self.effect_feature_names_]
        names["nonlinear"] = [
            f"hidden_slope:{j}" for j in range(self.hidden_layer_sizes_[-1])
        ]
        return names

    def _summarise_random_effects(self):
        columns, blocks = [], []
        output_names = self._output_names()
        unit = getattr(self, "y_scale_", 1.0)
        names = self._effect_names()
        for kind, effect in self.module_.random_effects.items():
            mean = effect.mean.detach().to("cpu").numpy().astype(np.float64)
            sd = effect.sd.detach().to("cpu").numpy().astype(np.float64)
            # in units of the output: y for a regressor, the logit otherwise
            mean = mean.reshape(self.n_clusters_, -1, len(output_names)) * unit
            sd = sd.reshape(mean.shape) * unit
            for j, base in enumerate(names[kind]):
                for k, output in enumerate(output_names):
                    label = base if output is None else f"{base}[{output}]"
                    columns += [(label, "mean"), (label, "sd")]
                    blocks += [mean[:, j, k], sd[:, j, k]]
        index = pd.Index(self.clusters_, name=self.cluster_column_)
        if columns:
            frame = pd.DataFrame(
                np.column_stack(blocks),
                index=index,
                columns=pd.MultiIndex.from_tuples(columns, names=["effect", "stat"]),
            )
            means = frame.xs("mean", axis=1, level="stat")
            variance = means.var(axis=0, ddof=1)
        else:
            frame = pd.DataFrame(index=index)
            variance = pd.Series(dtype=np.float64)
        variance.name = "across_cluster_variance"
        self.random_effects_ = frame
        self.random_effects_variance_ = variance


_SHARED_PARAMETERS_DOC = """
    cluster : str or int
        Name (for data frames) or position of the cluster column of ``X``
        (site, batch, subject). Its values are labels of any one type; they
        are mapped to cluster indices in fit. Being a column of ``X``, it
        survives Pipelines, GridSearchCV and ``GroupKFold`` on it.
    hidden_layer_sizes : tuple of int, default=(32, 32)
        Hidden layers of the fixed-effects MLP (ReLU). The authors' spirals
        used ``(4, 4, 4)`` (:meth:`from_paper` gives all their settings),
        which underfits most other problems.
    adversary_layer_sizes : tuple of int, default=(8, 8, 4)
        Hidden layers of the adversary, which classifies the cluster from the
        concatenated hidden activations of the fixed-effects MLP, and of the
        Z-predictor, which classifies it from the features.
    random_intercept : bool, default=True
        Per-cluster random intercept ``u₀(z)``.
    linear_slopes : bool, default=True
        Per-cluster random slopes on the features (where slopes of the
        inputs vary between clusters, as in a linear mixed model).
    nonlinear_slopes : bool, default=True
        Per-cluster random slopes on the last hidden layer.
    mixed_weight, fixed_weight : float, default=1.0
        Weights ``λ_M`` and ``λ_F`` of the mixed and fixed-effects data terms.
    adversary_weight : float, default=0.5
        Weight ``λ_g`` of the adversarial term; 0 removes the adversary.
    kl_weight : float, default=0.1
        Weight ``λ_K`` of the closed-form KL divergence of the random effects
        to their prior, divided by the number of training samples (so that
        1.0 gives the negative ELBO per sample). The authors' ``λ_K = 1e-5``
        multiplied the undivided KL, i.e. ``1e-5 · n`` on this scale: 0.09
        for their 9000 training spirals, hence the default 0.1.
    intercept_prior_scale : float, default=1.0
        Sd of the zero-mean Gaussian prior of the intercepts, on the scale of
        the logit (classifier) or of the standardized ``y`` (regressor: the
        target is standardized internally, see ``y_mean_``). As in the
        authors' layers, the posterior means start as draws from the prior
        and the posterior sds at a tenth of its sd. The authors' 0.1 shrinks
        intercepts of sd 1 towards zero.
    slope_prior_scale : float, default=1.0
        Same for the slopes (the authors': 0.3).
    unseen_clusters : {"z_predictor", "fixed", "error"}, default="z_predictor"
        Clusters not seen in fit: random effects averaged over the soft
        memberships of a Z-predictor (an MLP of ``adversary_layer_sizes``
        classifying the cluster from the features, trained once the network
        is fit: 30 epochs of Adam on batches of 1024 at lr 0.02), fixed
        effects only (no Z-predictor is trained), or a ValueError.
    predict_effects : {"mixed", "fixed"}, default="mixed"
        Predict with the mixed model or with the fixed-effects head only.
    optimizer : torch optimizer class, default=torch.optim.Adam
        Used for the network and, separately, for the adversary.
    lr : float, default=1e-3
    random_effect_lr : float or None, default=1e-2
        Learning rate of the random effects (None: ``lr``). Each cluster's
        weights learn only from its own samples; at ``lr`` they stay near
        their start where clusters are many or small (200 clusters of 10-15
        samples: held-out R² 0.41 at ``lr``, 0.79 at 1e-2,
        ``benchmarks/results/armed_family.md``). The authors used one
        rate for all (:meth:`from_paper`). ``set_params(lr=...)`` on a fitted
        net sets both.
    max_epochs : int, default=50
    batch_size : int, default=32
    train_split : callable or None, default=None
        skorch's internal validation split (e.g. ``skorch.dataset.ValidSplit``)
        for early stopping through ``skorch.callbacks.EarlyStopping``.
    callbacks : list of skorch callbacks or None, default=None
        Progress, checkpoints, early stopping, learning-rate schedules.
    warm_start : bool, default=False
    verbose : int, default=0
        skorch's progress table when positive.
    device : str, default="cpu"
        Torch device (``"cuda"`` for a GPU); one this machine lacks (or a
        misspelt one) is a ValueError at fit that lists those available.
    random_state : int, RandomState instance or None, default=None
        Seeds the fit's own ``torch.Generator`` (initialisation, shuffling,
        sampled weights): torch's global random state is neither used nor
        changed, so fits in parallel threads equal sequential ones. None
        seeds it from torch's global generator.
    **kwargs : dict
        skorch's prefixed parameters, e.g. ``optimizer__weight_decay=1e-4``.
"""

_SHARED_ATTRIBUTES_DOC = """
    clusters_ : ndarray of shape (`n_clusters_`,)
        Cluster labels seen in fit, in the order of the cluster indices.
    n_clusters_ : int
    cluster_column_ : str
        Name of the cluster column.
    effect_feature_names_ : ndarray of str
        Names of the features (every column of ``X`` but the cluster one).
    random_effects_ : DataFrame
        Posterior mean and sd of every random effect of every cluster: one row
        per cluster, columns ``(effect, "mean" | "sd")`` with effects named
        ``intercept``, ``slope:<feature>`` and ``hidden_slope:<unit>``.
    random_effects_variance_ : Series
        Across-cluster variance (ddof=1) of the posterior mean of each random
        effect: which inputs vary most between clusters.
    module_ : ARMEDModule
    optimizer_, adversary_optimizer_ : torch optimizers
    history_ : skorch History
    n_train_samples_ : int
    z_predictor_loss_ : float
        Cross-entropy of the trained Z-predictor on the training data (only with
        ``unseen_clusters="z_predictor"``).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
"""


class ARMEDClassifier(ClassifierMixin, _ARMEDBase):
    __doc__ = (
        """Adversarially-regularized mixed-effects network classifier (ARMED).

    A fixed-effects MLP is penalised for encoding cluster membership (an
    adversary reads its hidden activations), while Bayesian random effects
    (intercept, linear and nonlinear slopes) model what is specific to each
    cluster. Seen clusters are predicted with the mixed model, unseen ones
    with random effects averaged over a Z-predictor's soft memberships.
    Binary targets use one logit and BCE, several classes a softmax and
    cross-entropy. Built on skorch: callbacks, ``history_`` and prefixed
    parameters work as in any skorch net.

    Parameters
    ----------"""
        + _SHARED_PARAMETERS_DOC
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)"""
        + _SHARED_ATTRIBUTES_DOC
        + """
    Notes
    -----
    Every linear layer starts with Glorot-uniform weights and zero biases, as
    the authors' Keras layers do (torch's default leaves the narrow (4, 4, 4)
    network stuck near chance on the spirals in many seeds). Training batches
    are sliced from whole tensors (``iterator_train=TensorBatches``) instead
    of skorch's per-sample ``DataLoader`` collation; the adversary takes its
    step from the same backward pass as the network; Adam and AdamW use
    torch's fused kernel unless ``optimizer__fused`` or ``optimizer__foreach``
    is given; the Z-predictor is trained after the network, in large batches.

    A cluster with a single sample is accepted: its random effects stay near
    their prior (the KL term shrinks them). A single cluster is rejected.
    Labels of mixed types in the cluster column (e.g. ``1`` and ``"1"``)
    raise a TypeError, missing or non-finite labels a ValueError.

    Examples
    --------
    >>> import torch
    >>> from orthokit.datasets import make_spirals
    >>> from orthokit.mixed import ARMEDClassifier
    >>> X, y = make_spirals(simulation=1, n_per_cluster=50, random_state=0)
    >>> clf = ARMEDClassifier(cluster="cluster", max_epochs=2, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.predict_proba(X.head(3)).shape
    (3, 2)
    >>> clf.random_effects_.shape  # mean and sd of 1 + 2 + 32 effects
    (10, 70)
    >>> ARMEDClassifier.from_paper(cluster="cluster").hidden_layer_sizes
    (4, 4, 4)
    """
    )

    def _make_criterion(self):
        if len(self.classes_) == 2:
            return torch.nn.BCEWithLogitsLoss()
        return torch.nn.CrossEntropyLoss()

    @property
    def _n_outputs(self):
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _output_names(self):
        return [None] if len(self.classes_) == 2 else list(self.classes_)

    def _logit_for_loss(self, logit):
        return logit[:, 0] if len(self.classes_) == 2 else logit

    def _target_for_loss(self, y):
        return y.float() if len(self.classes_) == 2 else y.long()

    def _read_y(self, y, n_samples, *, reset, classes=None):
        if y is None:
            raise ValueError(
                "ARMEDClassifier requires y to be passed, but the target y is None."
            )
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it is "
                "ravelled.",
                DataConversionWarning,
                stacklevel=3,
            )
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (n_samples,), got shape {y.shape}.")
        if len(y) != n_samples:
            raise ValueError(
                f"y has {len(y)} rows but X has {n_samples}; they must match."
            )
        check_classification_targets(y)
        if reset:
            encoder = LabelEncoder().fit(y if classes is None else classes)
            if len(encoder.classes_) < 2:
                raise ValueError(
                    "y holds a single class; ARMEDClassifier needs samples of at "
                    "least 2 classes."
                )
            self.classes_ = encoder.classes_
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"y has classes {np.unique(y[unknown])} not seen in fit.")
        codes = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            return codes.astype(np.float32)
        return codes.astype(np.int64)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and the cluster column.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        logits = self._logits(X)
        if len(self.classes_) == 2:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1.0 - p, p])
        logits -= logits.max(axis=1, keepdims=True)
        expd = np.exp(logits)
        return expd / expd.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and the cluster column.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]


class ARMEDRegressor(RegressorMixin, _ARMEDBase):
    __doc__ = (
        """Adversarially-regularized mixed-effects network regressor (ARMED).

    The regression counterpart of :class:`ARMEDClassifier` (mean squared
    error as the data term). With no hidden-slope effects and linear slopes it
    is a nonlinear mixed model whose random-effect variances can be read from
    ``random_effects_variance_``. The network learns the standardized target
    ``(y - y_mean_) / y_scale_`` (learned in the first fit) and predictions
    are returned on the scale of ``y``, so a target of size 1e6, or offset by
    1e6, trains as well as one of size 1; ``random_effects_`` are in units
    of ``y``.

    Parameters
    ----------"""
        + _SHARED_PARAMETERS_DOC
        + """
    Attributes
    ----------
    n_outputs_ : int
    y_mean_, y_scale_ : ndarray of shape (`n_outputs_`,)
        Mean and standard deviation (1 where it is 0) of each target column
        in the first fit; the network learns ``(y - y_mean_) / y_scale_``."""
        + _SHARED_ATTRIBUTES_DOC
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
    ['intercept', 'slope:x', 'hidden_slope:0']
    """
    )

    def _make_criterion(self):
        return torch.nn.MSELoss()

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
        return self.n_outputs_

    def _output_names(self):
        return [None] if self.n_outputs_ == 1 else list(range(self.n_outputs_))

    def _logit_for_loss(self, logit):
        return logit

    def _target_for_loss(self, y):
        return y.float()

    def _read_y(self, y, n_samples, *, reset, classes=None):
        if y is None:
            raise ValueError(
                "ARMEDRegressor requires y to be passed, but the target y is None."
            )
        y = np.asarray(y)
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}.")
        if len(y) != n_samples:
            raise ValueError(
                f"y has {len(y)} rows but X has {n_samples}; they must match."
            )
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"y must be numeric: {exc}.") from None
        y2 = y.reshape(len(y), -1)
        check_finite(y2, [f"y{j}" for j in range(y2.shape[1])], "y")
        check_float32_range(y2, [f"y{j}" for j in range(y2.shape[1])], "y")
        if reset:
            self.n_outputs_ = y2.shape[1]
            self._y_is_1d = y.ndim == 1
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
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and the cluster column.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        out = self._logits(X) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self._y_is_1d else out
