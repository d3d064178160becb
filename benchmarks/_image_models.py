"""The seeds' CNN for the confounded-image benchmark, and its training loop."""

import math
import time

import dcor
import numpy as np
import torch
from torch import nn

from orthokit.nn import MetadataNorm, MetadataSequential, PenaltyMetadataNorm, make_norm

METHODS = ("baseline", "batchnorm", "mdn", "pmdn", "rmdn", "orthogonalize")
_NORM = {"baseline": "none"}


class ConfoundedCNN(nn.Module):
    """conv 16 (5x5), conv 32 (5x5), dense 84, dense 1 (P-MDN, R-MDN papers).

    BatchNorm, MDN, P-MDN (LayerNorm + P-MDN) and R-MDN sit after both
    convolutions and the pre-logits layer, before the ReLU, as in the papers.
    Orthogonalize sits after the ReLU of the same three layers: Rügamer et al.
    (Corollaries 6/7) only protects the activated output when the projection
    comes after the activation. ``pre_logits`` holds the 84 features that feed
    the output layer's ReLU (for Orthogonalize: the projected activations),
    where the papers measure dcor².
    """

    def __init__(self, method, norm_params=None, image_size=32):
        super().__init__()
        norm = _NORM.get(method, method)
        params = norm_params or {}
        self.after_relu = norm == "orthogonalize"
        s1, s2 = image_size - 4, image_size - 8
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.norm1 = MetadataSequential(*make_norm(norm, (16, s1, s1), 1, 1, **params))
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.norm2 = MetadataSequential(*make_norm(norm, (32, s2, s2), 1, 1, **params))
        self.fc = nn.Linear(32 * s2 * s2, 84)
        self.norm3 = MetadataSequential(*make_norm(norm, 84, 1, 1, **params))
        self.out = nn.Linear(84, 1)
        self.pre_logits = None

    def _block(self, layers, x, metadata, target):
        if not self.after_relu:
            x = torch.relu(layers(x, metadata, target))
        else:
            x = layers(torch.relu(x), metadata, target)
        return x

    def forward(self, x, metadata, target=None):
        x = self._block(self.norm1, self.conv1(x), metadata, target)
        x = self._block(self.norm2, self.conv2(x), metadata, target)
        x = self.fc(x.flatten(1))
        if self.after_relu:
            x = self.norm3(torch.relu(x), metadata, target)
            self.pre_logits = x.detach()
            return self.out(x).squeeze(1)
        x = self.norm3(x, metadata, target)
        self.pre_logits = x.detach()
        return self.out(torch.relu(x)).squeeze(1)


def _tensors(data):
    images = torch.as_tensor(data.images)
    metadata = torch.as_tensor(data.confounder, dtype=torch.float32)[:, None]
    target = torch.as_tensor(data.y, dtype=torch.float32)
    return images, metadata, target


class Trainer:
    """Adam on the task loss; P-MDN's beta on its penalty with a second Adam.

    ``total_steps`` gives a cosine decay of both learning rates to 1% over
    that many optimizer steps (stepped per batch); ``decay=(every, gamma)``
    a step decay per epoch (the R-MDN paper's protocol) instead.
    """

    def __init__(
        self, model, lr, lr_beta=0.045, decay=None, total_steps=None, two_pass=False
    ):
        self.model = model
        self.two_pass = two_pass  # P-MDN as the authors: a forward pass for beta
        self.pmdn = [m for m in model.modules() if isinstance(m, PenaltyMetadataNorm)]
        betas = {id(m.beta) for m in self.pmdn}
        params = [p for p in model.parameters() if id(p) not in betas]
        self.optimizer = torch.optim.Adam(params, lr=lr)
        self.optimizer_beta = (
            torch.optim.Adam([m.beta for m in self.pmdn], lr=lr_beta)
            if self.pmdn
            else None
        )
        optimizers = [o for o in (self.optimizer, self.optimizer_beta) if o]
        self.epoch_schedulers, self.step_schedulers = [], []
        if decay is not None:
            every, gamma = decay
            self.epoch_schedulers = [
                torch.optim.lr_scheduler.StepLR(o, every, gamma=gamma)
                for o in optimizers
            ]
        if total_steps is not None:

            def factor(t):
                t = min(t, total_steps)
                return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t / total_steps))

            self.step_schedulers = [
                torch.optim.lr_scheduler.LambdaLR(o, factor) for o in optimizers
            ]
        self.loss = nn.BCEWithLogitsLoss()

    def set_kernels(self, metadata, target):
        for m in self.model.modules():
            if isinstance(m, MetadataNorm):
                m.set_metadata_kernel(metadata, target)

    def step(self, x, metadata, target):
        self.model.train()
        if self.pmdn and self.two_pass:
            return self._step_two_passes(x, metadata, target)
        # One forward pass with the labels as ``target``: MDN/R-MDN use them to
        # estimate beta; P-MDN's output never subtracts its label part, and its
        # penalty in this same pass steps only beta (no second forward pass:
        # the penalty reaches beta alone and the loss the network alone).
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x, metadata, target), target)
        penalty = sum(m.penalty_ for m in self.pmdn) if self.pmdn else 0
        (loss + penalty).backward()
        self.optimizer.step()
        if self.pmdn:
            self.optimizer_beta.step()
            self.optimizer_beta.zero_grad(set_to_none=True)
        for scheduler in self.step_schedulers:
            scheduler.step()
        return loss.detach()

    def _step_two_passes(self, x, metadata, target):
        """The authors' P-MDN step: beta on a first pass, the network on a second."""
        self.model(x, metadata, target)
        penalty = sum(m.penalty_ for m in self.pmdn)
        grads = torch.autograd.grad(penalty, [m.beta for m in self.pmdn])
        for m, g in zip(self.pmdn, grads, strict=True):
            m.beta.grad = g
        self.optimizer_beta.step()
        self.optimizer_beta.zero_grad(set_to_none=True)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(self.model(x, metadata, target), target)
        loss.backward()
        for m in self.pmdn:
            m.beta.grad = None
        self.optimizer.step()
        for scheduler in self.step_schedulers:
            scheduler.step()
        return loss.detach()

    def run_steps(self, data, batch_size, n_steps, rng):
        """``n_steps`` optimizer steps on batches drawn as shuffled epochs."""
        images, metadata, target = _tensors(data)
        n = len(target)
        batch_size = min(batch_size, n)
        done = 0
        while done < n_steps:
            order = rng.permutation(n)
            for start in range(0, n - batch_size + 1, batch_size):
                # full batches only: MDN's N/b scaling and Orthogonalize's
                # b > k + 1 need no special case for a short last batch.
                index = torch.as_tensor(order[start : start + batch_size])
                self.step(images[index], metadata[index], target[index])
                done += 1
                if done == n_steps:
                    break

    def epoch(self, data, batch_size, rng):
        """One pass over ``data`` (full batches), then the epoch schedulers."""
        n = len(data.y)
        self.run_steps(data, batch_size, max(1, n // min(batch_size, n)), rng)
        for scheduler in self.epoch_schedulers:
            scheduler.step()


@torch.no_grad()
def evaluate(model, data, batch_size):
    """Accuracy, and dcor^2 of pre-logits vs confounder within each group."""
    model.eval()
    images, metadata, _ = _tensors(data)
    n = len(data.y)
    bounds = list(range(0, n, batch_size)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < 3:
        del bounds[-2]  # Orthogonalize needs b > k + 1: merge a tiny remainder
    logits, features = [], []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        logits.append(model(images[start:stop], metadata[start:stop]))
        features.append(model.pre_logits)
    logits = torch.cat(logits).numpy()
    features = torch.cat(features).double().numpy()
    accuracy = float(np.mean((logits > 0) == data.y))
    dcors = []
    for group in (0, 1):
        rows = data.y == group
        with np.errstate(all="ignore"):
            value = dcor.u_distance_correlation_sqr(
                features[rows], data.confounder[rows].astype(np.float64)
            )
        dcors.append(float(value))
    return accuracy, dcors


def time_steps(trainer, data, batch_size, n_steps, rng):
    """Median seconds per training step over ``n_steps`` steps."""
    images, metadata, target = _tensors(data)
    times = []
    for _ in range(n_steps):
        index = torch.as_tensor(rng.choice(len(target), batch_size, replace=False))
        start = time.perf_counter()
        trainer.step(images[index], metadata[index], target[index])
        times.append(time.perf_counter() - start)
    return float(np.median(times))
