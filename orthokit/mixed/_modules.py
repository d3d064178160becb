"""Torch modules of the ARMED network (docs/user_guide/armed.rst, 'The maths').

The fixed-effects MLP, the adversary that reads its hidden activations, the
Bayesian random effects (intercept, linear and nonlinear slopes) with a
mean-field Gaussian posterior, and the Z-predictor that gives soft cluster
memberships for clusters not seen in training.
"""

import torch
from torch import nn
from torch.nn import functional as F

from orthokit.mixed._backbone import backbone_latents, latent_widths
from orthokit.mixed._z_predictor import ZPredictorMixin

# σ = softplus(ρ) + 1e-5 keeps every posterior sd strictly positive.
_MIN_SD = 1e-5


def glorot_init_(module, generator=None):
    """Glorot-uniform weights and zero biases for every ``nn.Linear``.

    The ARMED authors' Keras layers start this way. torch's default
    (``U(±1/√fan_in)`` for weights and biases) shrinks the signal through the
    paper's narrow (4, 4, 4) ReLU layers, and on the spirals it often leaves
    the network stuck near chance for many epochs. ``generator`` (a
    ``torch.Generator``) draws the weights; None uses torch's global one.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight, generator=generator)
            nn.init.zeros_(layer.bias)
    return module


def child_generator(generator, device="cpu"):
    """Return a ``torch.Generator`` on ``device`` seeded by ``generator``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def _linear(n_in, n_out, generator):
    # skip_init: no draw from torch's global generator for the default init.
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out)
    return glorot_init_(layer, generator)


def _mlp(n_in, hidden_layer_sizes, n_out, generator):
    layers, width = [], n_in
    for size in hidden_layer_sizes:
        layers += [_linear(width, size, generator), nn.ReLU()]
        width = size
    layers.append(_linear(width, n_out, generator))
    return nn.Sequential(*layers)


class DenseBackbone(nn.Module):
    """The default fixed-effects backbone: a ReLU MLP returning every hidden layer.

    ``forward(x)`` returns the tuple of hidden activations (the adversary
    reads them all, the effects the last one); inputs of more than two
    dimensions (images) are flattened.

    Parameters
    ----------
    n_features : int or None, default=None
        Width of the (flattened) input; None: the first layer is an
        ``nn.LazyLinear`` sized by the first batch, with torch's default
        initialization (a backbone to pass as ``backbone=DenseBackbone``).
    hidden_layer_sizes : tuple of int, default=(32, 32)
    generator : torch.Generator or None, default=None
        Draws the Glorot-uniform weights (None: torch's global generator).
    """

    def __init__(self, n_features=None, hidden_layer_sizes=(32, 32), generator=None):
        super().__init__()
        self.layers = nn.ModuleList()
        width = n_features
        for size in hidden_layer_sizes:
            lazy = width is None
            self.layers.append(
                nn.LazyLinear(size) if lazy else _linear(width, size, generator)
            )
            width = size

    def forward(self, x):
        """Return the hidden activations, first to last (of ``x`` flattened)."""
        hidden, x = [], x.flatten(1)
        for layer in self.layers:
            x = F.relu(layer(x))
            hidden.append(x)
        return tuple(hidden)


class GaussianRandomEffect(nn.Module):
    """Per-cluster weights with a mean-field Gaussian posterior ``N(μ, σ²)``.

    Parameters
    ----------
    n_clusters : int
    shape : tuple of int
        Shape of the weights of one cluster.
    prior_scale : float or array-like broadcastable to ``shape``
        Sd of the zero-mean Gaussian prior.
    generator : torch.Generator or None, default=None
        Draws the starting means (None: torch's global generator). The
        sampling noise of training comes from the attribute ``generator``
        (None: the global generator), set by the estimators during fit.
    start_scale : float or array-like broadcastable to ``shape``, default=1.0
        The starting means are draws from the prior times ``start_scale``
        (0: they start at zero; the draws are taken all the same, so the
        rest of a model starts alike).

    Notes
    -----
    As in the authors' layers, the posterior means start as draws from the
    prior (times ``start_scale``) and the posterior sds start small (a tenth
    of the prior's; the authors' start between 0.003 and 0.05). Means that all
    start at zero give the layers below no gradient through the random slopes
    at first; on simulation 2's spirals, whose fixed effects carry no signal,
    the adversary could then silence the hidden units before the slopes moved.
    Where a cluster has too few samples to move them, the KL term pulls its
    posterior back to the prior as training goes on.
    """

    def __init__(self, n_clusters, shape, prior_scale, generator=None, start_scale=1.0):
        super().__init__()
        self.generator = None
        prior = torch.as_tensor(prior_scale, dtype=torch.float32).expand(*shape)
        self.prior_scale = prior_scale
        self.register_buffer("prior_sd", prior.clone())
        self.register_buffer("log_prior_sd", torch.log(prior).clone())
        self.register_buffer("half_prior_precision", 0.5 / prior**2)
        self.mean = nn.Parameter(
            torch.randn(n_clusters, *shape, generator=generator)
            * (prior * torch.as_tensor(start_scale, dtype=torch.float32))
        )
        rho = torch.clamp(0.1 * prior - _MIN_SD, min=1e-6)
        rho = rho + torch.log(-torch.expm1(-rho))  # inverse softplus
        self.rho = nn.Parameter(rho.expand(n_clusters, *shape).clone())

    @property
    def sd(self):
        """Posterior sd of every weight."""
        return F.softplus(self.rho) + _MIN_SD

    def weights(self):
        """Return a reparameterized sample (training) or the posterior mean."""
        if self.training:
            noise = torch.randn(
                self.mean.shape,
                generator=self.generator,
                dtype=self.mean.dtype,
                device=self.mean.device,
            )
            return torch.addcmul(self.mean, self.sd, noise)
        return self.mean

    def kl_divergence(self):
        """Closed-form ``KL(q‖p)`` summed over every weight of every cluster.

        ``Σ log σ_p − log σ + (σ² + μ²)/(2σ_p²) − ½``
        """
        sd = self.sd
        return (
            (self.log_prior_sd - 0.5)
            - torch.log(sd)
            + torch.addcmul(sd * sd, self.mean, self.mean) * self.half_prior_precision
        ).sum()


class _EffectView:
    """One kind of random effect: rows of the merged per-cluster weights."""

    def __init__(self, effect, rows):
        self._effect = effect
        self._rows = rows

    @property
    def mean(self):
        return self._effect.mean[:, self._rows]

    @property
    def sd(self):
        return self._effect.sd[:, self._rows]


class ARMEDModule(ZPredictorMixin, nn.Module):
    """Fixed-effects backbone with adversary, random effects and Z-predictor.

    The backbone (by default :class:`DenseBackbone` of
    ``hidden_layer_sizes``; any module mapping a batch of inputs to a
    feature vector, see :mod:`orthokit.mixed._backbone`) gives ``h_F(x)``;
    a linear head gives the fixed-effects logit, the adversary reads the
    backbone's latents, the random slopes and the Z-predictor read the
    flattened inputs. ``forward(features, cluster)`` returns
    ``(mixed_logit, fixed_logit, adversary_logit, z_logit)``. ``cluster``
    holds cluster indices, ``-1`` for a cluster not seen in training: its
    random effects are the posterior means averaged over the Z-predictor's
    soft memberships (or zero without a Z-predictor, i.e. fixed effects
    only). In training mode every cluster index must be a seen one and
    ``z_logit`` is empty: the Z-predictor is trained on its own
    (``fit_z_predictor``, from
    :class:`~orthokit.mixed._z_predictor.ZPredictorMixin`).

    ``backbone`` (an ``nn.Module`` instance; None: the dense one),
    ``adversary_layers`` (names of its submodules whose outputs the
    adversary reads; None: the latents it returns) and ``input_shape`` (of
    one sample; None: ``(n_features,)``, where ``n_features`` is the
    flattened size) set the fixed-effects part.

    The random intercept, linear slopes and nonlinear slopes of a cluster are
    the rows of one ``(d, n_outputs)`` weight matrix (one Gaussian posterior,
    with the prior sd of each row), applied to the per-sample design
    ``[1, x, h_F(x)]``: one sample, one gather and one batched product per
    step instead of one per kind of effect. ``random_effects`` gives each
    kind's rows. The posterior means of the kinds named in ``zero_start``
    start at zero, the others as draws from their prior: an intercept or a
    linear slope needs no random start (its design, ``1`` or ``x``, does not
    depend on the weights), and draws from unit priors give a new network
    a random part of about ``1 + n_features`` times the variance of a
    standardized target, which a short fit cannot undo.
    """

    def __init__(
        self,
        n_features,
        n_clusters,
        n_outputs,
        hidden_layer_sizes=(4, 4, 4),
        adversary_layer_sizes=(8, 8, 4),
        random_intercept=True,
        linear_slopes=False,
        nonlinear_slopes=True,
        intercept_prior_scale=0.1,
        slope_prior_scale=0.3,
        adversary=True,
        z_predictor=True,
        generator=None,
        backbone=None,
        adversary_layers=None,
        input_shape=None,
        zero_start=(),
    ):
        super().__init__()
        if generator is None:  # follow torch.manual_seed, as torch's modules do
            generator = child_generator(None)
        self.n_clusters = n_clusters
        self.n_outputs = n_outputs
        if backbone is None:
            backbone = DenseBackbone(n_features, hidden_layer_sizes, generator)
        self.backbone = backbone
        self.adversary_layers = (
            None if adversary_layers is None else tuple(adversary_layers)
        )
        widths, width = latent_widths(
            backbone, tuple(input_shape or (n_features,)), self.adversary_layers
        )
        self.n_latent = width
        self.fixed_head = _linear(width, n_outputs, generator)
        self.adversary = (
            _mlp(sum(widths), adversary_layer_sizes, n_clusters, generator)
            if adversary
            else None
        )
        # Drawn from a generator of its own, seeded whether or not it is
        # built: with or without a Z-predictor the rest starts alike.
        z_generator = child_generator(generator)
        self.z_predictor = (
            _mlp(n_features, adversary_layer_sizes, n_clusters, z_generator)
            if z_predictor
            else None
        )
        self.random_intercept = bool(random_intercept)
        self.linear_slopes = bool(linear_slopes)
        self.nonlinear_slopes = bool(nonlinear_slopes)
        rows, scales, starts, start = {}, [], [], 0
        for kind, on, size, scale in (
            ("intercept", random_intercept, 1, intercept_prior_scale),
            ("linear", linear_slopes, n_features, slope_prior_scale),
            ("nonlinear", nonlinear_slopes, width, slope_prior_scale),
        ):
            if on:
                rows[kind] = slice(start, start + size)
                scales += [float(scale)] * size
                starts += [0.0 if kind in zero_start else 1.0] * size
                start += size
        self._rows = rows
        self.random_effect = (
            GaussianRandomEffect(
                n_clusters,
                (start, n_outputs),
                torch.tensor(scales, dtype=torch.float32)[:, None],
                generator,
                torch.tensor(starts, dtype=torch.float32)[:, None],
            )
            if rows
            else None
        )

    @property
    def random_effects(self):
        """Each kind of random effect (``mean`` and ``sd`` per cluster)."""
        return {
            kind: _EffectView(self.random_effect, rows)
            for kind, rows in self._rows.items()
        }

    def kl_divergence(self):
        """Closed-form KL of every random effect to its prior (a scalar)."""
        if self.random_effect is None:
            return self.fixed_head.weight.new_zeros(())
        return self.random_effect.kl_divergence()

    def forward(self, features, cluster):
        """Return mixed, fixed, adversary and Z-predictor logits."""
        hidden, h = backbone_latents(self.backbone, features, self.adversary_layers)
        fixed_logit = self.fixed_head(h)
        features = features.flatten(1)
        # The Z-predictor shares nothing with the rest and is trained after
        # the network (ARMEDClassifier.fit): training steps skip it, and
        # every training sample belongs to a seen cluster.
        z_logit = (
            self.z_predictor(features)
            if self.z_predictor is not None and not self.training
            else features.new_zeros((len(features), 0))
        )
        mixed_logit = fixed_logit
        if self.random_effect is not None:
            parts = []
            if self.random_intercept:
                parts.append(features.new_ones((len(features), 1)))
            if self.linear_slopes:
                parts.append(features)
            if self.nonlinear_slopes:
                parts.append(h)
            design = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
            weights = self.random_effect.weights()
            # In training every cluster is a seen one (and no Z-predictor).
            weights = (
                weights[cluster]
                if self.training
                else self.cluster_weights(
                    weights,
                    cluster,
                    z_logit
                    if self.z_predictor is not None and self.use_z_predictor
                    else None,
                )
            )
            mixed_logit = fixed_logit + torch.bmm(design[:, None, :], weights)[:, 0]
        adversary_logit = (
            self.adversary(torch.cat(hidden, dim=1))
            if self.adversary is not None
            else features.new_zeros((len(features), 0))
        )
        return mixed_logit, fixed_logit, adversary_logit, z_logit
