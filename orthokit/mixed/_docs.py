"""The parameters and attributes that ARMEDClassifier and ARMEDRegressor share.

Kept as text so that each estimator's docstring lists them in full (numpydoc).
"""

# The regressor's own defaults (see REGRESSOR_DEFAULTS_NOTE) replace these.
_REGRESSOR_DEFAULTS = {
    "    nonlinear_slopes : bool, default=True\n": (
        "    nonlinear_slopes : bool, default=False (classifier: True)\n"
    ),
    "    max_epochs : int, default=50\n": (
        '    max_epochs : int or "auto", default="auto" (classifier: 50)\n'
    ),
    "    kl_weight : float, default=0.1\n": (
        "    kl_weight : float, default=1.0 (classifier: 0.1)\n"
    ),
}

SHARED_PARAMETERS = """
    cluster : str or int
        Name (for data frames) or position of the cluster column of ``X``
        (site, batch, subject). Its values are labels of any one type; they
        are mapped to cluster indices in fit. Being a column of ``X``, it
        survives Pipelines, GridSearchCV and ``GroupKFold`` on it. Inputs
        without columns (images) come as a mapping ``X`` instead, as in
        skorch: the labels under the key ``cluster``, the inputs (an array
        or tensor of shape ``(n_samples, ...)``) under one other key, e.g.
        ``skorch.helper.SliceDict(images=images, site=sites)`` with
        ``cluster="site"`` (a ``SliceDict`` can be indexed by
        scikit-learn's splitters and searches).
    backbone : torch module class or instance, default=None
        The fixed-effects network ``h_F``: any ``torch.nn.Module`` mapping a
        batch of inputs to a feature vector (a CNN for images, a pretrained
        encoder). It returns the feature vector, or a tuple of latent
        tensors whose last is the feature vector; the fixed-effects head
        and the nonlinear random slopes act on the feature vector. A class
        is built with the ``backbone__*`` parameters, its initial weights
        seeded by ``random_state`` (torch's global random state is forked
        and restored); an instance is copied, so that every fit starts from
        its weights. None: a dense ReLU network of ``hidden_layer_sizes``
        that returns every hidden layer (the paper's network).
    adversary_layers : list of str or None, default=None
        Names of submodules of the backbone (as in ``named_modules()``)
        whose outputs, flattened and concatenated, the adversary reads;
        forward hooks capture them. None: the latents the backbone returns
        (every hidden layer of the dense backbone, as in the paper).
    hidden_layer_sizes : tuple of int, default=(32, 32)
        Hidden layers of the dense backbone (ReLU); unused with a
        ``backbone``. The authors' spirals used ``(4, 4, 4)``
        (:meth:`from_paper` gives all their settings), which underfits most
        other problems.
    adversary_layer_sizes : tuple of int, default=(8, 8, 4)
        Hidden layers of the adversary, which classifies the cluster from the
        concatenated latents of the backbone (``adversary_layers``), and of
        the Z-predictor, which classifies it from the (flattened) inputs.
    random_intercept : bool, default=True
        Per-cluster random intercept ``u₀(z)``.
    linear_slopes : bool or "auto", default="auto"
        Per-cluster random slopes on the features (where slopes of the
        inputs vary between clusters, as in a linear mixed model). ``"auto"``:
        with the dense backbone only. With a ``backbone`` they would be
        slopes on every input (every pixel of an image), which the paper's
        ARMED-CNN does not have (a random intercept and nonlinear slopes
        only) and which cost the CNN of
        ``benchmarks/bench_armed_images.py`` accuracy on seen and unseen
        clusters (``benchmarks/results/armed_images.md``).
    nonlinear_slopes : bool, default=True
        Per-cluster random slopes on the backbone's feature vector (the last
        hidden layer of the dense one).
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
        target is standardized internally, see ``y_mean_``). The posterior
        sds start at a tenth of the prior's sd. With ``nonlinear_slopes``
        the posterior means start as draws from the prior, as in the
        authors' layers; without, the means of the intercepts and of the
        linear slopes start at zero (draws from unit priors make a new
        network's random part several times the target's variance, more
        than a short fit undoes). The authors' 0.1 shrinks intercepts of
        sd 1 towards zero.
    slope_prior_scale : float, default=1.0
        Same for the slopes (the authors': 0.3).
    unseen_clusters : {"z_predictor", "fixed", "error"}, default="z_predictor"
        Clusters not seen in fit: random effects averaged over the soft
        memberships of a Z-predictor (an MLP of ``adversary_layer_sizes``
        classifying the cluster from the features, trained once the network
        is fit: 30 epochs of Adam on batches of 1024 at lr 0.02), fixed
        effects only (no Z-predictor is trained), or a ValueError. Read
        again at each prediction: a fit with the Z-predictor may predict
        with ``"fixed"`` or ``"error"`` after ``set_params``; the reverse
        needs a refit.
    predict_effects : {"mixed", "fixed"}, default="mixed"
        Predict with the mixed model or with the fixed-effects head only.
    optimizer : torch optimizer class, default=torch.optim.Adam
        One optimizer for every weight; the random effects and the adversary
        are parameter groups of their own (``random_effect_lr``; the
        adversary steps on the gradient of its own loss).
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
        ``"auto"``: 50, or more where 50 epochs make fewer than 2,000
        batches (small training sets: a cluster's weights learn only from
        its own rows), e.g. 400 epochs of 150 rows in batches of 32.
    batch_size : int, default=32
    train_split : callable or None, default=None
        skorch's internal validation split (e.g. ``skorch.dataset.ValidSplit``)
        for early stopping through ``skorch.callbacks.EarlyStopping``. Its
        ``valid_loss`` is the data terms and the KL term, without the
        adversarial term (see ``get_loss``). Split the rows at random
        (``ValidSplit(0.2, random_state=0)``): skorch's ``ValidSplit(5)``
        takes a block of rows in order, whole clusters where the rows are
        sorted by cluster, and leaves them no training rows.
    callbacks : list of skorch callbacks, "disable" or None, default=None
        Progress, checkpoints, early stopping, learning-rate schedules;
        ``"disable"`` turns skorch's default callbacks off. A list set with
        ``set_params`` before the first fit is checked in fit.
    warm_start : bool, default=False
    verbose : int, default=0
        skorch's progress table when positive.
    device : str, default="cpu"
        Torch device (``"cuda"`` for a GPU); one this machine lacks (or a
        misspelt one) is a ValueError at fit that lists those available.
    module : torch module class, default=ARMEDModule
        Built in ``initialize_module`` with the layout read from ``X`` (number
        of features, clusters and outputs) and the parameters above;
        ``module__*`` parameters are passed on.
    criterion : torch loss class or None, default=None
        The data term; None: binary cross-entropy on one logit or
        cross-entropy (classifier), mean squared error (regressor).
    iterator_train, iterator_valid : class, default=TensorBatches
        Mini-batches sliced from whole tensors (skorch's ``DataLoader`` works
        too, slower).
    random_state : int, RandomState instance or None, default=None
        Seeds the fit's own ``torch.Generator`` (initialisation, shuffling,
        sampled weights): torch's global random state is neither used nor
        changed, so fits in parallel threads equal sequential ones. None
        seeds it from torch's global generator.
    **kwargs : dict
        skorch's other parameters and its prefixed ones, e.g.
        ``optimizer__weight_decay=1e-4``, ``callbacks__print_log__sink=...``,
        ``iterator_train__shuffle=False``; they work with ``set_params`` and
        GridSearchCV as in any skorch net.
"""

SHARED_ATTRIBUTES = """
    clusters_ : ndarray of shape (`n_clusters_`,)
        Cluster labels seen in fit, in the order of the cluster indices.
    n_clusters_ : int
    cluster_column_ : str
        Name of the cluster column.
    effect_feature_names_ : ndarray of str
        Names of the features (every column of ``X`` but the cluster one;
        ``<key>[<index>]`` for the flattened inputs of a mapping ``X``).
    input_shape_ : tuple of int
        Shape of one sample of the inputs: ``(n_features,)`` for ``X`` with
        columns.
    random_effects_ : DataFrame
        Posterior mean and sd of every random effect of every cluster: one row
        per cluster, columns ``(effect, "mean" | "sd")`` with effects named
        ``intercept``, ``slope:<feature>`` and ``hidden_slope:<unit>``.
    random_effects_variance_ : Series
        Across-cluster variance (ddof=1) of the posterior mean of each random
        effect: which inputs vary most between clusters.
    module_ : ARMEDModule
    optimizer_ : torch optimizer
        Parameter groups: the network's, the random effects' (named
        ``"random_effects"``) and the adversary's (named ``"adversary"``).
    history_ : skorch History
    n_train_samples_ : int
    z_predictor_loss_ : float
        Cross-entropy of the trained Z-predictor on the training data (only with
        ``unseen_clusters="z_predictor"``).
    n_features_in_ : int
        Only for ``X`` with columns (not for a mapping).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
"""


def regressor_parameters():
    """Return SHARED_PARAMETERS with the regressor's own defaults."""
    text = SHARED_PARAMETERS
    for old, new in _REGRESSOR_DEFAULTS.items():
        if old not in text:  # the shared text changed: keep them in step
            raise RuntimeError(f"{old.strip()!r} is not in SHARED_PARAMETERS.")
        text = text.replace(old, new)
    return text
