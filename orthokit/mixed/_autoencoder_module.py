"""The torch module of the mixed-effects autoencoder (ARMEDAutoencoder).

A fixed-effects encoder gives the latent code ``e_F(x)``; per-cluster random
effects shift and scale it, ``e_M = e_F ⊙ (1 + s(z)) + b(z)``; the decoder
reconstructs ``x`` from ``e_M``, and a per-cluster intercept ``c(z)`` (also a
random effect) is added to the reconstruction. The adversary classifies the
cluster from ``e_F``, and an optional head the label. The batch effect can thus live in
the random effects, and the encoder is trained to confuse the adversary.
"""

import copy

import torch
from torch import nn

from orthokit.mixed._backbone import backbone_latents, latent_widths
from orthokit.mixed._modules import (
    DenseBackbone,
    GaussianRandomEffect,
    _linear,
    _mlp,
    child_generator,
)
from orthokit.mixed._z_predictor import ZPredictorMixin


def build_decoder(net, generator, n_components):
    """Build ``net.decoder`` with its ``decoder__*`` parameters, seeded.

    As :func:`orthokit.mixed._backbone.build_backbone`: a class (or an
    instance with parameters) is built, an instance without parameters
    copied, under torch's global random state forked and seeded from
    ``generator``.

    Parameters
    ----------
    net : ARMEDAutoencoder
    generator : torch.Generator
    n_components : int
        Width of the latent code the decoder reads.

    Returns
    -------
    torch.nn.Module
    """
    kwargs = net.get_params_for("decoder")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(net.decoder, nn.Module) and not kwargs:
            decoder = copy.deepcopy(net.decoder)
        else:
            decoder = net.initialized_instance(net.decoder, kwargs)
        if not isinstance(decoder, nn.Module):
            raise TypeError(
                "decoder must be a torch.nn.Module class or instance, got "
                f"{type(decoder).__name__}."
            )
        with torch.no_grad():  # initializes lazy modules
            decoder(torch.zeros(2, n_components))
    return decoder


class AutoencoderModule(ZPredictorMixin, nn.Module):
    """Encoder, random effects on the code, decoder, adversary, label head.

    ``forward(features, cluster)`` returns ``(reconstruction, code,
    adversary_logit, class_logit, confusion_logit)``: the mixed
    reconstruction (of the shape of ``features``), the fixed-effects code,
    logits of the cluster (from the detached code) and of the label, and
    the cluster's logits again from the adversary's detached weights (empty
    where there is no adversary or label). A cluster index of ``-1`` (not
    seen in training) gets the random effects of the seen clusters averaged
    over the Z-predictor's soft memberships (a network of
    ``adversary_layer_sizes`` from the flattened inputs to the cluster,
    trained after the rest by ``fit_z_predictor``), or none without a
    Z-predictor.

    Parameters
    ----------
    n_features : int
        Flattened size of one input.
    n_clusters, n_classes : int
        ``n_classes=0``: no label head.
    n_components : int
        Width of the latent code.
    hidden_layer_sizes : tuple of int
        Hidden layers of the dense encoder, reversed for the dense decoder.
    adversary_layer_sizes, classifier_layer_sizes : tuple of int
    random_effects : bool
        Per-cluster shift and scale of the code and intercept of the
        reconstruction.
    intercept_prior_scale, slope_prior_scale : float
        Prior sds of the shifts (code and reconstruction) and of the scale.
    adversary : bool
    z_predictor : bool
        Build a Z-predictor for unseen clusters (only with random effects:
        without them there is nothing to mix).
    generator : torch.Generator or None
    backbone, decoder : torch.nn.Module or None
        The encoder's backbone (a linear layer maps its feature vector to
        the code) and the decoder; None: dense ones.
    input_shape : tuple of int or None
        Shape of one input; None: ``(n_features,)``.
    """

    def __init__(
        self,
        n_features,
        n_clusters,
        n_classes=0,
        n_components=8,
        hidden_layer_sizes=(32,),
        adversary_layer_sizes=(16,),
        classifier_layer_sizes=(16,),
        random_effects=True,
        intercept_prior_scale=0.3,
        slope_prior_scale=0.3,
        adversary=True,
        generator=None,
        backbone=None,
        decoder=None,
        input_shape=None,
        z_predictor=True,
    ):
        super().__init__()
        if generator is None:
            generator = child_generator(None)
        self.n_clusters = n_clusters
        self.input_shape = tuple(input_shape or (n_features,))
        if backbone is None:
            backbone = DenseBackbone(n_features, hidden_layer_sizes, generator)
        self.backbone = backbone
        _, width = latent_widths(backbone, self.input_shape)
        self.code_head = _linear(width, n_components, generator)
        if decoder is None:
            decoder = _mlp(
                n_components, tuple(reversed(hidden_layer_sizes)), n_features, generator
            )
        self.decoder = decoder
        self.adversary = (
            _mlp(n_components, adversary_layer_sizes, n_clusters, generator)
            if adversary
            else None
        )
        self.classifier = (
            _mlp(n_components, classifier_layer_sizes, n_classes, generator)
            if n_classes
            else None
        )
        # One posterior for the code's shift and scale (rows 0 and 1) and
        # the reconstruction's per-cluster intercept (the rest).
        self.n_components = n_components
        n_rows = 2 * n_components + n_features
        scales = torch.cat(
            [
                torch.full((n_components,), float(intercept_prior_scale)),
                torch.full((n_components,), float(slope_prior_scale)),
                torch.full((n_features,), float(intercept_prior_scale)),
            ]
        )
        self.random_effect = (
            GaussianRandomEffect(n_clusters, (n_rows,), scales, generator)
            if random_effects
            else None
        )
        # Drawn last, whether or not built: the rest starts alike.
        z_generator = child_generator(generator)
        self.z_predictor = (
            _mlp(n_features, adversary_layer_sizes, n_clusters, z_generator)
            if z_predictor and random_effects
            else None
        )

    def kl_divergence(self):
        """Closed-form KL of the random effects to their prior (a scalar)."""
        if self.random_effect is None:
            return self.code_head.weight.new_zeros(())
        return self.random_effect.kl_divergence()

    def encode(self, features):
        """Return the fixed-effects code ``e_F`` of ``features``."""
        _, h = backbone_latents(self.backbone, features)
        return self.code_head(h)

    def decode(self, code):
        """Return the reconstruction of ``code``, of the inputs' shape."""
        return self.decoder(code).reshape(len(code), *self.input_shape)

    def mixed_reconstruction(self, code, cluster, features):
        """Decode ``e_M`` and add the cluster's intercept.

        An unseen cluster's effects are mixed by the Z-predictor's soft
        memberships of ``features`` outside training (none without a
        Z-predictor, or in training).
        """
        if self.random_effect is None:
            return self.decode(code)
        z_logit = None
        if (
            self.z_predictor is not None
            and self.use_z_predictor
            and not self.training
            and bool((cluster < 0).any())
        ):
            z_logit = self.z_predictor(features.flatten(1))
        weights = self.cluster_weights(self.random_effect.weights(), cluster, z_logit)
        k = self.n_components
        shift, scale = weights[:, :k], weights[:, k : 2 * k]
        intercept = weights[:, 2 * k :]
        out = self.decoder(code * (1.0 + scale) + shift).flatten(1) + intercept
        return out.reshape(len(code), *self.input_shape)

    def forward(self, features, cluster):
        """Return the mixed reconstruction, code, adversary and label logits."""
        code = self.encode(features)
        empty = code.new_zeros((len(code), 0))
        reconstruction = self.mixed_reconstruction(code, cluster, features)
        adversary_logit = confusion_logit = empty
        if self.adversary is not None:
            # The adversary learns from the detached code; the encoder from
            # the adversary's weights detached (see ARMEDAutoencoder.get_loss).
            adversary_logit = self.adversary(code.detach())
            frozen = {k: v.detach() for k, v in self.adversary.named_parameters()}
            confusion_logit = torch.func.functional_call(
                self.adversary, frozen, (code,)
            )
        class_logit = self.classifier(code) if self.classifier is not None else empty
        return reconstruction, code, adversary_logit, class_logit, confusion_logit
