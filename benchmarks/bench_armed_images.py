"""ARMED with a CNN backbone on clustered images with batch effects.

Data: :func:`orthokit.datasets.make_cluster_images` (16x16 images, the label
is a shape, per-cluster intensity, contrast and texture; ``confounding``
makes the clusters' class balances differ, so that within the training
clusters the batch effects predict the label and in unseen clusters they do
not). Two scenarios in one run: mild confounding (``--confounding``, sd 0.2
of the clusters' shares of class 1) and strong (``--strong-confounding``,
sd 1.0: most clusters hold 10 % or 90 % of class 1). In every repeat 30 % of
the clusters are held out whole (*unseen* clusters) and 25 % of the images
of every other cluster (*seen* clusters, held-out images); one fit per model
gives both scores.

Models, all with the same small CNN (two conv-ReLU-pool blocks, a dense
layer of 16) trained with Adam for the same epochs:

- plain CNN: ARMED without adversary or random effects;
- cluster-input CNN: the one-hot cluster concatenated to the CNN's features
  before the head (zeros for an unseen cluster), as the paper's baseline;
- DA-CNN: domain adversarial, ARMED without random effects;
- ARMED-CNN: ARMEDClassifier's defaults with the CNN as ``backbone``
  (adversary on the feature vector at weight 0.5, random intercept and
  slopes on the feature vector); unseen clusters through the Z-predictor
  (and, as a second row, fixed effects only).

Scores: accuracy, mean and 95 % t-interval over repeats, and paired
differences from the plain CNN.

``--ablation`` fits instead ARMED-CNN variants on the strongly confounded
scenario (adversary weight, the layers the adversary reads, which random
effects, training length, early stopping) next to the plain CNN.

``--autoencoder`` compares instead :class:`orthokit.mixed.ARMEDAutoencoder`
with a plain autoencoder of the same size, dense and convolutional (see
``benchmarks/_armed_autoencoders.py``): batch probe AUC, reconstruction
error, downstream label accuracy from the code; with ``--ablation``, the
dense autoencoder's settings.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_armed_images.py
        [--quick] [--repeats 5] [--epochs 20] [--per-cluster 100] [--out FILE]
        [--ablation] [--autoencoder [--cnn-epochs 30] [--components 8]]
"""

import argparse
import os
import time

import numpy as np
import torch
from skorch import NeuralNetBinaryClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from skorch.helper import SliceDict
from torch import nn

from benchmarks._armed_autoencoders import (
    ABLATION,
    autoencoder_repeat,
    autoencoder_report,
    ci95,
    split,
)
from benchmarks._armed_autoencoders import (
    ablation_report as autoencoder_ablation_report,
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
        **{
            "cluster": "cluster",
            "backbone": FeatureCNN,
            "max_epochs": cfg.epochs,
            "lr": cfg.lr,
            "batch_size": 32,
            "random_state": seed,
            **params,
        }
    )


NO_EFFECTS = {
    "random_intercept": False,
    "nonlinear_slopes": False,
    "unseen_clusters": "fixed",
}


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


def cluster_data(cfg, seed, confounding):
    """The repeat's images, its masks, and ``X`` as a SliceDict."""
    data = make_cluster_images(
        n_clusters=cfg.clusters,
        n_per_cluster=cfg.per_cluster,
        confounding=confounding,
        random_state=seed,
    )
    masks = split(data.cluster, seed)
    return data, masks, SliceDict(images=data.images, cluster=data.cluster)


def fit_scores(model, X, y, masks):
    """Fit on the training rows; accuracy on seen and on unseen clusters."""
    train, held, unseen = masks
    model.fit(X[train], y[train])
    return [model.score(X[m], y[m]) for m in (held, unseen)]


def run_repeat(cfg, seed, confounding):
    data, masks, X = cluster_data(cfg, seed, confounding)
    _, held, unseen = masks
    models = {
        "plain CNN": armed(cfg, seed, adversary_weight=0.0, **NO_EFFECTS),
        "DA-CNN": armed(cfg, seed, **NO_EFFECTS),
        "ARMED-CNN": armed(cfg, seed),
    }
    scores = {}
    for name, model in models.items():
        scores[name] = fit_scores(model, X, data.y, masks)
        if name == "ARMED-CNN":
            model.set_params(predict_effects="fixed")
            scores["ARMED-CNN, fixed effects"] = [
                model.score(X[m], data.y[m]) for m in (held, unseen)
            ]
    scores["cluster-input CNN"] = cluster_input_scores(cfg, data, masks, seed)
    return scores


def ablation_models(cfg, seed):
    """ARMED-CNN variants, one setting changed from the defaults each."""
    stop = [EarlyStopping(patience=5, load_best=True)]
    return {
        "plain CNN": armed(cfg, seed, adversary_weight=0.0, **NO_EFFECTS),
        "ARMED-CNN (defaults)": armed(cfg, seed),
        "no adversary": armed(cfg, seed, adversary_weight=0.0),
        "adversary weight 2": armed(cfg, seed, adversary_weight=2.0),
        "adversary on conv blocks and features": armed(
            cfg, seed, adversary_layers=["net.2", "net.5", "net.8"]
        ),
        "random intercept only": armed(cfg, seed, nonlinear_slopes=False),
        "plus random slopes on every pixel": armed(cfg, seed, linear_slopes=True),
        "twice the epochs": armed(cfg, seed, max_epochs=2 * cfg.epochs),
        "twice the epochs, plain CNN": armed(
            cfg, seed, max_epochs=2 * cfg.epochs, adversary_weight=0.0, **NO_EFFECTS
        ),
        "early stopping (20 % validation)": armed(
            cfg,
            seed,
            max_epochs=2 * cfg.epochs,
            train_split=ValidSplit(0.2, random_state=seed),
            callbacks=stop,
        ),
    }


def ablation_repeat(cfg, seed):
    data, masks, X = cluster_data(cfg, seed, cfg.strong_confounding)
    return {
        name: fit_scores(model, X, data.y, masks)
        for name, model in ablation_models(cfg, seed).items()
    }


ORDER = [
    "plain CNN",
    "cluster-input CNN",
    "DA-CNN",
    "ARMED-CNN",
    "ARMED-CNN, fixed effects",
]


def classifier_repeat(cfg, seed):
    """Every model's scores in the mild and in the strongly confounded scenario."""
    return {c: run_repeat(cfg, seed, c) for c in scenarios(cfg)}


def scenarios(cfg):
    return [cfg.confounding, cfg.strong_confounding]


def accuracy_tables(results, order, reference="plain CNN"):
    """Accuracy per model and paired differences from ``reference``."""
    lines = [
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
        f"Paired differences from the {reference} (same data and split in each "
        "repeat), mean ± 95 % t-interval half-width, and the repeats above zero:",
        "",
        "| model | seen clusters | unseen clusters |",
        "|---|---:|---:|",
    ]
    for name in order:
        if name == reference:
            continue
        cells = []
        for part in (0, 1):
            d = [r[name][part] - r[reference][part] for r in results]
            m, h = ci95(d)
            cells.append(f"{m:+.3f} ± {h:.3f} ({sum(x > 0 for x in d)}/{len(d)})")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def setup(cfg, seconds, loads):
    command = " ".join(["benchmarks/bench_armed_images.py", *cfg.argv.split()])
    return (
        f"`OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python {command}` on "
        f"{time.strftime('%Y-%m-%d')}: {cfg.repeats} repeats "
        f"(seeds 0-{cfg.repeats - 1}), make_cluster_images with {cfg.clusters} "
        f"clusters of {cfg.per_cluster} 16x16 images; 30 % of the clusters held "
        f"out whole (unseen), 25 % of the images of the others held out (seen); "
        f"{cfg.epochs} epochs of Adam at lr {cfg.lr}, batches of 32; torch "
        f"{torch.__version__}, one thread. Wall time {seconds:.0f} s; load "
        f"average (1 min) {loads[0]:.2f} before, {loads[1]:.2f} after (2 cores, "
        "shared)."
    )


def report(results, cfg, seconds, loads):
    lines = [
        "# ARMED with a CNN backbone on clustered images",
        "",
        setup(cfg, seconds, loads),
    ]
    for c, title in zip(scenarios(cfg), ("Mild", "Strong"), strict=True):
        lines += ["", f"## {title} confounding (confounding={c})", ""]
        lines += accuracy_tables([r[c] for r in results], ORDER)
    return "\n".join(lines) + "\n"


def ablation_report(results, cfg, seconds, loads):
    lines = [
        "## Ablation: what ARMED-CNN needs under strong confounding",
        "",
        setup(cfg, seconds, loads),
        f"Strong confounding ({cfg.strong_confounding}); early stopping: "
        "skorch's ``EarlyStopping(patience=5, load_best=True)`` on the "
        "validation loss of a random 20 % of the training rows "
        f"(``ValidSplit(0.2, random_state=seed)``), at most {2 * cfg.epochs} epochs.",
        "",
    ]
    order = list(results[0])
    lines += accuracy_tables(results, order, reference="ARMED-CNN (defaults)")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, 60/cluster")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--per-cluster", dest="per_cluster", type=int, default=100)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--confounding", type=float, default=0.2)
    parser.add_argument(
        "--strong-confounding", dest="strong_confounding", type=float, default=1.0
    )
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--autoencoder", action="store_true", help="the autoencoders instead"
    )
    parser.add_argument(
        "--ablation",
        action="store_true",
        help="ARMED-CNN variants instead (with --autoencoder: the autoencoder's)",
    )
    parser.add_argument("--cnn-epochs", dest="cnn_epochs", type=int, default=30)
    parser.add_argument("--components", type=int, default=8)
    cfg = parser.parse_args(argv)
    shown = [a for a in (argv or []) if a != "--out" and a != cfg.out]
    cfg.argv = " ".join(shown)
    if cfg.quick:
        cfg.repeats, cfg.per_cluster, cfg.epochs = 3, 60, 15
    return cfg


def _autoencoder_ablation_repeat(cfg, seed):
    return autoencoder_repeat(cfg, seed, ABLATION, ("dense",))


MODES = {  # (--autoencoder, --ablation): (one repeat, the report)
    (False, False): (classifier_repeat, report),
    (False, True): (ablation_repeat, ablation_report),
    (True, False): (
        autoencoder_repeat,
        lambda *args: autoencoder_report(*args, torch.__version__),
    ),
    (True, True): (
        _autoencoder_ablation_repeat,
        lambda *args: autoencoder_ablation_report(*args, torch.__version__),
    ),
}


def main(argv=None):
    import sys

    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    before, start = os.getloadavg()[0], time.perf_counter()
    results = []
    repeat, write = MODES[cfg.autoencoder, cfg.ablation]
    for seed in range(cfg.repeats):
        results.append(repeat(cfg, seed))
        print(f"repeat {seed}: {results[-1]}", flush=True)
    seconds = time.perf_counter() - start
    text = write(results, cfg, seconds, (before, os.getloadavg()[0]))
    print(text)
    if cfg.out:
        with open(cfg.out, "w") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
