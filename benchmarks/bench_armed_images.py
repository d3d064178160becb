"""ARMED with a CNN backbone on clustered images with batch effects.

Data: :func:`orthokit.datasets.make_cluster_images` (16x16 images, the label
is a shape, per-cluster intensity, contrast and texture; ``confounding``
makes the clusters' class balances differ). In every repeat 30 % of the
clusters are held out whole (*unseen* clusters) and 25 % of the images of
every other cluster (*seen* clusters, held-out images); one fit per model
gives both scores.

Models, all with the same small CNN (two conv-ReLU-pool blocks, a dense
layer of 16) trained with Adam for the same epochs:

- plain CNN: ARMED without adversary or random effects;
- cluster-input CNN: the one-hot cluster concatenated to the CNN's features
  before the head (zeros for an unseen cluster), as the paper's baseline;
- DA-CNN: domain adversarial, ARMED without random effects;
- ARMED-CNN: adversary on the feature vector, random intercept and slopes on
  it; unseen clusters through the Z-predictor (and, as a second row, fixed
  effects only).

Scores: accuracy, mean and 95 % t-interval over repeats.

``--autoencoder`` compares instead :class:`orthokit.mixed.ARMEDAutoencoder`
with a plain autoencoder of the same size, dense and convolutional (see
``benchmarks/_armed_autoencoders.py``): batch probe AUC, reconstruction
error, downstream label accuracy from the code.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_armed_images.py
        [--quick] [--repeats 5] [--epochs 20] [--per-cluster 100] [--out FILE]
        [--autoencoder [--cnn-epochs 30] [--components 8]] [--ablation]
"""

import argparse
import os
import time

import numpy as np
import torch
from skorch import NeuralNetBinaryClassifier
from skorch.helper import SliceDict
from torch import nn

from benchmarks._armed_autoencoders import (
    ABLATION,
    ablation_report,
    autoencoder_repeat,
    autoencoder_report,
    ci95,
    split,
)
from orthokit.datasets import make_cluster_images
from orthokit.mixed import ARMEDClassifier


class FeatureCNN(nn.Module):
    """Two conv-ReLU-pool blocks and a dense ReLU layer: the feature vector."""

    def __init__(self, channels=8, n_latent=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.LazyLinear(n_latent),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.net(x)


class ClusterInputCNN(nn.Module):
    """The CNN's features and the one-hot cluster, then a linear head."""

    def __init__(self, n_clusters, n_latent=16):
        super().__init__()
        self.cnn = FeatureCNN(n_latent=n_latent)
        self.head = nn.Linear(n_latent + n_clusters, 1)

    def forward(self, images, onehot):
        return self.head(torch.cat([self.cnn(images), onehot], dim=1))[:, 0]


def armed(cfg, seed, **params):
    return ARMEDClassifier(
        cluster="cluster",
        backbone=FeatureCNN,
        linear_slopes=False,
        max_epochs=cfg.epochs,
        lr=cfg.lr,
        batch_size=32,
        random_state=seed,
        **params,
    )


def cluster_input_scores(cfg, data, masks, seed):
    train, held, unseen = masks
    seen_labels = np.unique(data.cluster[train])
    onehot = (data.cluster[:, None] == seen_labels[None, :]).astype(np.float32)
    X = SliceDict(images=data.images, onehot=onehot)
    torch.manual_seed(seed)
    net = NeuralNetBinaryClassifier(
        ClusterInputCNN,
        module__n_clusters=len(seen_labels),
        optimizer=torch.optim.Adam,
        lr=cfg.lr,
        max_epochs=cfg.epochs,
        batch_size=32,
        train_split=None,
        verbose=0,
    )
    net.fit(X[train], data.y[train].astype(np.float32))
    return [float(np.mean(net.predict(X[m]) == data.y[m])) for m in (held, unseen)]


def run_repeat(cfg, seed):
    data = make_cluster_images(
        n_clusters=cfg.clusters,
        n_per_cluster=cfg.per_cluster,
        confounding=cfg.confounding,
        random_state=seed,
    )
    masks = split(data.cluster, seed)
    train, held, unseen = masks
    X = SliceDict(images=data.images, cluster=data.cluster)
    no_effects = {
        "random_intercept": False,
        "nonlinear_slopes": False,
        "unseen_clusters": "fixed",
    }
    models = {
        "plain CNN": armed(cfg, seed, adversary_weight=0.0, **no_effects),
        "DA-CNN": armed(cfg, seed, **no_effects),
        "ARMED-CNN": armed(cfg, seed),
    }
    scores = {}
    for name, model in models.items():
        model.fit(X[train], data.y[train])
        scores[name] = [model.score(X[m], data.y[m]) for m in (held, unseen)]
        if name == "ARMED-CNN":
            model.set_params(predict_effects="fixed")
            scores["ARMED-CNN, fixed effects"] = [
                model.score(X[m], data.y[m]) for m in (held, unseen)
            ]
    scores["cluster-input CNN"] = cluster_input_scores(cfg, data, masks, seed)
    return scores


def report(results, cfg, seconds, loads):
    order = [
        "plain CNN",
        "cluster-input CNN",
        "DA-CNN",
        "ARMED-CNN",
        "ARMED-CNN, fixed effects",
    ]
    command = " ".join(["benchmarks/bench_armed_images.py", *cfg.argv.split()])
    lines = [
        "# ARMED with a CNN backbone on clustered images",
        "",
        f"`{command}`: {cfg.repeats} repeats "
        f"(seeds 0-{cfg.repeats - 1}), make_cluster_images with {cfg.clusters} "
        f"clusters of {cfg.per_cluster} 16x16 images, confounding "
        f"{cfg.confounding}; 30 % of the clusters held out whole (unseen), 25 % "
        f"of the images of the others held out (seen); {cfg.epochs} epochs of "
        f"Adam at lr {cfg.lr}, batches of 32; torch {torch.__version__}, one "
        f"thread. Wall time {seconds:.0f} s; load average (1 min) "
        f"{loads[0]:.2f} before, {loads[1]:.2f} after (2 cores, shared).",
        "",
        "Accuracy, mean ± 95 % t-interval half-width over repeats (chance about 0.5):",
        "",
        "| model | seen clusters (held-out images) | unseen clusters |",
        "|---|---:|---:|",
    ]
    for name in order:
        seen = ci95([r[name][0] for r in results])
        new = ci95([r[name][1] for r in results])
        lines.append(
            f"| {name} | {seen[0]:.3f} ± {seen[1]:.3f} | {new[0]:.3f} ± {new[1]:.3f} |"
        )
    lines += [
        "",
        "Paired differences from the plain CNN (same data and split in each "
        "repeat), mean ± 95 % t-interval half-width:",
        "",
        "| model | seen clusters | unseen clusters |",
        "|---|---:|---:|",
    ]
    for name in order[1:]:
        diffs = [
            ci95([r[name][part] - r["plain CNN"][part] for r in results])
            for part in (0, 1)
        ]
        lines.append(
            f"| {name} | {diffs[0][0]:+.3f} ± {diffs[0][1]:.3f} "
            f"| {diffs[1][0]:+.3f} ± {diffs[1][1]:.3f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, 60/cluster")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--per-cluster", dest="per_cluster", type=int, default=100)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--confounding", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--autoencoder", action="store_true", help="the autoencoders instead"
    )
    parser.add_argument(
        "--ablation", action="store_true", help="the dense autoencoder's ablation"
    )
    parser.add_argument("--cnn-epochs", dest="cnn_epochs", type=int, default=30)
    parser.add_argument("--components", type=int, default=8)
    cfg = parser.parse_args(argv)
    shown = [a for a in (argv or []) if a != "--out" and a != cfg.out]
    cfg.argv = " ".join(shown)
    if cfg.quick:
        cfg.repeats, cfg.per_cluster, cfg.epochs = 3, 60, 15
    return cfg


def main(argv=None):
    import sys

    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    before, start = os.getloadavg()[0], time.perf_counter()
    results = []
    for seed in range(cfg.repeats):
        if cfg.ablation:
            results.append(autoencoder_repeat(cfg, seed, ABLATION, ("dense",)))
        elif cfg.autoencoder:
            results.append(autoencoder_repeat(cfg, seed))
        else:
            results.append(run_repeat(cfg, seed))
        print(f"repeat {seed}: {results[-1]}", flush=True)
    seconds = time.perf_counter() - start
    loads = (before, os.getloadavg()[0])
    if cfg.ablation:
        text = ablation_report(results, cfg, seconds, loads, torch.__version__)
    elif cfg.autoencoder:
        text = autoencoder_report(results, cfg, seconds, loads, torch.__version__)
    else:
        text = report(results, cfg, seconds, loads)
    print(text)
    if cfg.out:
        with open(cfg.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
