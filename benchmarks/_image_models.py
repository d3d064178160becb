"""The seeds' CNN for the confounded-image benchmark, and its training loop."""

import time

import dcor
import numpy as np
import torch
from torch import nn

from orthokit.nn import MetadataNorm, Orthogonalize, PenaltyMetadataNorm, make_norm
from orthokit.nn._layers import _MetadataLayer

METHODS = ("baseline", "batchnorm", "mdn", "pmdn", "rmdn", "orthogonalize")
_NORM = {"baseline": "none"}


class ConfoundedCNN(nn.Module):
    """conv 16 (5x5), conv 32 (5x5), dense 84, dense 1; a norm after each of the
    first three (before the ReLU, as in seeds 000 and 003)."""

    def __init__(self, method, norm_params=None):
        super().__init__()
        norm = _NORM.get(method, method)
        params = norm_params or {}
        self.conv1 = nn.Conv2d(1, 16, 5)
        self.norm1 = nn.ModuleList(make_norm(norm, (16, 28, 28), 1, 1, **params))
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.norm2 = nn.ModuleList(make_norm(norm, (32, 24, 24), 1, 1, **params))
        self.fc = nn.Linear(32 * 24 * 24, 84)
        self.norm3 = nn.ModuleList(make_norm(norm, 84, 1, 1, **params))
        self.out = nn.Linear(84, 1)
        self.pre_logits = None

    @staticmethod
    def _run(layers, x, metadata, target):
        for layer in layers:
            if isinstance(layer, _MetadataLayer | Orthogonalize):
                x = layer(x, metadata, target)
            else:
                x = layer(x)
        return x

    def forward(self, x, metadata, target=None):
        x = torch.relu(self._run(self.norm1, self.conv1(x), metadata, target))
        x = torch.relu(self._run(self.norm2, self.conv2(x), metadata, target))
        x = self._run(self.norm3, self.fc(x.flatten(1)), metadata, target)
        self.pre_logits = x.detach()
        return self.out(torch.relu(x)).squeeze(1)


def _batches(n, batch_size, rng, min_rows=3):
    order = rng.permutation(n)
    chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    # Orthogonalize needs b > k + 1 rows; a tiny remainder batch is dropped.
    return [c for c in chunks if len(c) >= min_rows]


class Trainer:
    """Adam on the task loss; P-MDN's beta on its penalty with a second Adam."""

    def __init__(self, model, lr, lr_beta=0.045, decay=None):
        self.model = model
        self.pmdn = [m for m in model.modules() if isinstance(m, PenaltyMetadataNorm)]
        betas = {id(m.beta) for m in self.pmdn}
        params = [p for p in model.parameters() if id(p) not in betas]
        self.optimizer = torch.optim.Adam(params, lr=lr)
        self.optimizer_beta = (
            torch.optim.Adam([m.beta for m in self.pmdn], lr=lr_beta)
            if self.pmdn
            else None
        )
        self.schedulers = []
        if decay is not None:
            step, gamma = decay
            for opt in filter(None, (self.optimizer, self.optimizer_beta)):
                self.schedulers.append(
                    torch.optim.lr_scheduler.StepLR(opt, step, gamma=gamma)
                )
        self.loss = nn.BCEWithLogitsLoss()

    def set_kernels(self, metadata, target):
        for m in self.model.modules():
            if isinstance(m, MetadataNorm):
                m.set_metadata_kernel(metadata, target)

    def step(self, x, metadata, target):
        self.model.train()
        if self.pmdn:
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
        return loss.detach()

    def epoch(self, data, batch_size, rng):
        images = torch.as_tensor(data.images)
        metadata = torch.as_tensor(data.confounder, dtype=torch.float32)[:, None]
        target = torch.as_tensor(data.y, dtype=torch.float32)
        for index in _batches(len(target), batch_size, rng):
            index = torch.as_tensor(index)
            self.step(images[index], metadata[index], target[index])
        for scheduler in self.schedulers:
            scheduler.step()


@torch.no_grad()
def evaluate(model, data, batch_size):
    """Accuracy, and dcor^2 of pre-logits vs confounder within each group."""
    model.eval()
    images = torch.as_tensor(data.images)
    metadata = torch.as_tensor(data.confounder, dtype=torch.float32)[:, None]
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
    images = torch.as_tensor(data.images)
    metadata = torch.as_tensor(data.confounder, dtype=torch.float32)[:, None]
    target = torch.as_tensor(data.y, dtype=torch.float32)
    times = []
    for _ in range(n_steps):
        index = torch.as_tensor(rng.choice(len(target), batch_size, replace=False))
        start = time.perf_counter()
        trainer.step(images[index], metadata[index], target[index])
        times.append(time.perf_counter() - start)
    return float(np.median(times))
