"""Torch modules of the ARMED network (ALGORITHMS.md §6).

The fixed-effects MLP, the adversary that reads its hidden activations, the
Bayesian random effects (intercept, linear and nonlinear slopes) with a
mean-field Gaussian posterior, and the Z-predictor that gives soft cluster
memberships for clusters not seen in training.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

# σ = softplus(ρ) + 1e-5 keeps every posterior sd strictly positive.
_MIN_SD = 1e-5


def _mlp(n_in, hidden_layer_sizes, n_out):
    layers, width = [], n_in
    for size in hidden_layer_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _inverse_softplus(value):
    return value + math.log(-math.expm1(-value))


class GaussianRandomEffect(nn.Module):
    """Per-cluster weights with a mean-field Gaussian posterior ``N(μ, σ²)``.

    Parameters
    ----------
    n_clusters : int
    shape : tuple of int
        Shape of the weights of one cluster.
    prior_scale : float
        Sd of the zero-mean Gaussian prior, also the initial posterior sd.
    """

    def __init__(self, n_clusters, shape, prior_scale):
        super().__init__()
        self.prior_scale = float(prior_scale)
        self.mean = nn.Parameter(torch.zeros(n_clusters, *shape))
        rho = _inverse_softplus(max(self.prior_scale - _MIN_SD, 1e-6))
        self.rho = nn.Parameter(torch.full((n_clusters, *shape), rho))

    @property
    def sd(self):
        """Posterior sd of every weight."""
        return F.softplus(self.rho) + _MIN_SD

    def weights(self):
        """Return a reparameterized sample (training) or the posterior mean."""
        if self.training:
            return self.mean + self.sd * torch.randn_like(self.mean)
        return self.mean

    def kl_divergence(self):
        """Closed-form ``KL(q‖p)`` summed over every weight of every cluster."""
        sd = self.sd
        prior_var = self.prior_scale**2
        return (
            math.log(self.prior_scale)
            - torch.log(sd)
            + (sd**2 + self.mean**2) / (2.0 * prior_var)
            - 0.5
        ).sum()


class ARMEDModule(nn.Module):
    """Fixed-effects MLP with adversary, random effects and Z-predictor.

    ``forward(features, cluster)`` returns ``(mixed_logit, fixed_logit,
    adversary_logit, z_logit)``. ``cluster`` holds cluster indices, ``-1`` for
    a cluster not seen in training: its random effects are the posterior means
    averaged over the Z-predictor's soft memberships (or zero without a
    Z-predictor, i.e. fixed effects only).
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
    ):
        super().__init__()
        self.n_clusters = n_clusters
        self.n_outputs = n_outputs
        self.fixed_layers = nn.ModuleList()
        width = n_features
        for size in hidden_layer_sizes:
            self.fixed_layers.append(nn.Linear(width, size))
            width = size
        self.fixed_head = nn.Linear(width, n_outputs)
        self.adversary = (
            _mlp(sum(hidden_layer_sizes), adversary_layer_sizes, n_clusters)
            if adversary
            else None
        )
        self.z_predictor = (
            _mlp(n_features, adversary_layer_sizes, n_clusters) if z_predictor else None
        )
        self.random_effects = nn.ModuleDict()
        if random_intercept:
            self.random_effects["intercept"] = GaussianRandomEffect(
                n_clusters, (n_outputs,), intercept_prior_scale
            )
        if linear_slopes:
            self.random_effects["linear"] = GaussianRandomEffect(
                n_clusters, (n_features, n_outputs), slope_prior_scale
            )
        if nonlinear_slopes:
            self.random_effects["nonlinear"] = GaussianRandomEffect(
                n_clusters, (width, n_outputs), slope_prior_scale
            )

    def kl_divergence(self):
        """Closed-form KL of every random effect to its prior (a scalar)."""
        total = self.fixed_head.weight.new_zeros(())
        for effect in self.random_effects.values():
            total = total + effect.kl_divergence()
        return total

    def _cluster_weights(self, weights, cluster, memberships):
        """Per-sample weights: gather for seen clusters, mix for the others."""
        if memberships is None:
            return weights[cluster]
        flat = weights.reshape(self.n_clusters, -1)
        return (memberships @ flat).reshape(len(memberships), *weights.shape[1:])

    def forward(self, features, cluster):
        """Return mixed, fixed, adversary and Z-predictor logits."""
        hidden, h = [], features
        for layer in self.fixed_layers:
            h = F.relu(layer(h))
            hidden.append(h)
        fixed_logit = self.fixed_head(h)
        z_logit = (
            self.z_predictor(features)
            if self.z_predictor is not None
            else features.new_zeros((len(features), 0))
        )
        memberships = None
        unseen = cluster < 0
        if bool(unseen.any()):
            memberships = F.one_hot(cluster.clamp(min=0), self.n_clusters).to(h.dtype)
            soft = (
                F.softmax(z_logit, dim=1)
                if self.z_predictor is not None
                else torch.zeros_like(memberships)
            )
            memberships = torch.where(unseen[:, None], soft, memberships)
        mixed_logit = fixed_logit
        effects = self.random_effects
        if "intercept" in effects:
            weights = effects["intercept"].weights()
            mixed_logit = mixed_logit + self._cluster_weights(
                weights, cluster, memberships
            )
        if "linear" in effects:
            weights = effects["linear"].weights()
            slopes = self._cluster_weights(weights, cluster, memberships)
            mixed_logit = mixed_logit + torch.einsum("np,npk->nk", features, slopes)
        if "nonlinear" in effects:
            weights = effects["nonlinear"].weights()
            slopes = self._cluster_weights(weights, cluster, memberships)
            mixed_logit = mixed_logit + torch.einsum("nh,nhk->nk", h, slopes)
        adversary_logit = (
            self.adversary(torch.cat(hidden, dim=1))
            if self.adversary is not None
            else features.new_zeros((len(features), 0))
        )
        return mixed_logit, fixed_logit, adversary_logit, z_logit
