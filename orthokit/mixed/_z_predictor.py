"""The Z-predictor: soft cluster memberships for clusters not seen in fit.

Shared by the ARMED network (:class:`~orthokit.mixed._modules.ARMEDModule`)
and the mixed-effects autoencoder
(:class:`~orthokit.mixed._autoencoder_module.AutoencoderModule`): a module
with a ``z_predictor`` (a network from the flattened inputs to the logits of
the ``n_clusters`` seen clusters, or None) and per-cluster random-effect
weights gets from :class:`ZPredictorMixin` the Z-predictor's training and the
per-sample weights of seen and unseen clusters.
"""

import torch
from torch.nn import functional as F

from orthokit.mixed._device import fast_adam_options


class ZPredictorMixin:
    """Train the Z-predictor; give each sample its cluster's random effects.

    For modules with the attributes ``z_predictor`` (``nn.Module`` or None)
    and ``n_clusters``.
    """

    #: Whether unseen clusters are mixed by the Z-predictor outside training;
    #: the estimator sets it from ``unseen_clusters`` before each prediction,
    #: so that the parameter set after fit applies.
    use_z_predictor = True

    def cluster_weights(self, weights, cluster, z_logit=None):
        """Per-sample random-effect weights, seen and unseen clusters alike.

        A seen cluster's samples get its weights; an unseen cluster's
        (index ``-1``) the weights of the seen clusters averaged over the
        Z-predictor's soft memberships (``softmax(z_logit)``), or zero where
        ``z_logit`` is None (fixed effects only).

        Parameters
        ----------
        weights : Tensor of shape ``(n_clusters, *shape)``
            One draw (or the posterior means) of every cluster's weights.
        cluster : Tensor of shape (n_samples,)
            Cluster indices, ``-1`` for a cluster not seen in fit.
        z_logit : Tensor of shape (n_samples, n_clusters) or None
            The Z-predictor's logits of the samples.

        Returns
        -------
        Tensor of shape ``(n_samples, *shape)``
        """
        unseen = cluster < 0
        if not bool(unseen.any()):
            return weights[cluster]
        memberships = F.one_hot(cluster.clamp(min=0), self.n_clusters).to(weights.dtype)
        soft = (
            F.softmax(z_logit, dim=1)
            if z_logit is not None
            else torch.zeros_like(memberships)
        )
        memberships = torch.where(unseen[:, None], soft, memberships)
        flat = weights.reshape(self.n_clusters, -1)
        return (memberships @ flat).reshape(len(memberships), *weights.shape[1:])

    def fit_z_predictor(
        self, features, cluster, *, epochs=30, batch_size=1024, lr=0.02, generator=None
    ):
        """Train the Z-predictor on its own, with Adam on large mini-batches.

        It classifies the cluster from the features and shares no weight
        with the rest of the network, so training it after the network gives
        the same network, and large batches cost a few hundred steps instead
        of one extra small step per batch of the network's training.

        Parameters
        ----------
        features : Tensor of shape (n_samples, ...)
            The inputs (flattened for the Z-predictor).
        cluster : Tensor of shape (n_samples,)
            Cluster indices (all seen).
        epochs : int, default=30
        batch_size : int, default=1024
        lr : float, default=0.02
        generator : torch.Generator or None, default=None
            Shuffles the batches (on ``features``' device; None: torch's
            global generator).

        Returns
        -------
        loss : float
            Cross-entropy of the Z-predictor on all of ``features`` afterwards
            (nan without a Z-predictor).
        """
        if self.z_predictor is None:
            return float("nan")
        features = features.flatten(1)
        params = list(self.z_predictor.parameters())
        optimizer = torch.optim.Adam(params, lr=lr, **fast_adam_options(params))
        was_training = self.z_predictor.training
        self.z_predictor.train()
        n = len(features)
        try:
            for _ in range(epochs):
                order = torch.randperm(n, device=features.device, generator=generator)
                for start in range(0, n, batch_size):
                    index = order[start : start + batch_size]
                    optimizer.zero_grad(set_to_none=True)
                    F.cross_entropy(
                        self.z_predictor(features[index]), cluster[index]
                    ).backward()
                    optimizer.step()
        finally:
            self.z_predictor.train(was_training)
        with torch.no_grad():
            return float(F.cross_entropy(self.z_predictor(features), cluster))
