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
(dense, on the flattened images) with a plain autoencoder of the same size
(no adversary, no random effects), both fit on the training rows: held-out
AUC of a logistic-regression probe of the cluster from the code (on the
seen clusters' held-out images, split in halves), reconstruction error
(mean squared error over the held-out images' variance; the mixed
reconstruction for ARMED), and the accuracy of a logistic regression of
the label on the code (trained on the training rows; held-out images of
seen clusters and unseen clusters).

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_armed_images.py
        [--quick] [--repeats 5] [--epochs 20] [--per-cluster 100] [--out FILE]
        [--ablation | --autoencoder]
"""

import argparse
import os
import time

import numpy as np
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetBinaryClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from skorch.helper import SliceDict
from torch import nn

from orthokit.datasets import make_cluster_images
from orthokit.mixed import ARMEDAutoencoder, ARMEDClassifier


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


def split(cluster, seed):
    """Masks: training rows, held-out rows of seen clusters, unseen clusters."""
    rng = np.random.default_rng(seed)
    labels = np.unique(cluster)
    unseen_labels = rng.choice(labels, max(1, round(0.3 * len(labels))), replace=False)
    unseen = np.isin(cluster, unseen_labels)
    held = ~unseen & (rng.random(len(cluster)) < 0.25)
    return ~unseen & ~held, held, unseen


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


AUTOENCODERS = {
    "plain autoencoder": {"adversary_weight": 0.0, "random_effects": False},
    "ARMED autoencoder": {"adversary_weight": 5.0, "intercept_prior_scale": 0.3},
}


def autoencoder_repeat(cfg, seed):
    """Batch probe AUC, reconstruction error and label accuracy per model."""
    data = make_cluster_images(
        n_clusters=cfg.clusters,
        n_per_cluster=cfg.per_cluster,
        confounding=cfg.confounding,
        random_state=seed,
    )
    train, held, unseen = split(data.cluster, seed)
    X = SliceDict(images=data.images.reshape(len(data.y), -1), cluster=data.cluster)
    flat = X["images"]
    scores = {}
    for name, params in AUTOENCODERS.items():
        model = ARMEDAutoencoder(
            cluster="cluster",
            n_components=8,
            hidden_layer_sizes=(64,),
            max_epochs=cfg.epochs,
            lr=cfg.lr,
            batch_size=32,
            random_state=seed,
            **params,
        ).fit(X[train])
        code = model.transform(X)
        a, b, za, zb = train_test_split(
            code[held], data.cluster[held], test_size=0.5,
            random_state=seed, stratify=data.cluster[held],
        )  # fmt: skip
        scaler = StandardScaler().fit(a)
        probe = LogisticRegression(max_iter=5000).fit(scaler.transform(a), za)
        proba = probe.predict_proba(scaler.transform(b))
        auc = roc_auc_score(zb, proba, multi_class="ovr", labels=probe.classes_)
        rec = model.reconstruct(X[held])
        error = np.mean((rec - flat[held]) ** 2) / flat[held].var()
        scaler = StandardScaler().fit(code[train])
        clf = LogisticRegression(max_iter=5000)
        clf.fit(scaler.transform(code[train]), data.y[train])
        accuracy = [
            clf.score(scaler.transform(code[m]), data.y[m]) for m in (held, unseen)
        ]
        scores[name] = [auc, error, *accuracy]
    return scores


def autoencoder_report(results, cfg, seconds, loads):
    command = " ".join(["benchmarks/bench_armed_images.py", *cfg.argv.split()])
    lines = [
        "## ARMED autoencoder",
        "",
        f"`{command}`: {cfg.repeats} repeats (seeds 0-{cfg.repeats - 1}), the "
        f"data and splits above ({cfg.clusters} clusters of {cfg.per_cluster}, "
        f"confounding {cfg.confounding}); dense autoencoders on the flattened "
        "images (encoder 256-64-8, decoder 8-64-256), ARMED at adversary "
        "weight 5 and intercept prior sd 0.3; "
        f"{cfg.epochs} epochs of Adam at lr {cfg.lr}, batches of 32. "
        f"Wall time {seconds:.0f} s; load average (1 min) {loads[0]:.2f} "
        f"before, {loads[1]:.2f} after (2 cores, shared).",
        "",
        "Mean ± 95 % t-interval half-width over repeats:",
        "",
        "| model | batch probe AUC (chance 0.5) | reconstruction error "
        "| label accuracy, seen | label accuracy, unseen |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in AUTOENCODERS:
        cells = [ci95([r[name][i] for r in results]) for i in range(4)]
        lines.append(
            f"| {name} | " + " | ".join(f"{m:.3f} ± {h:.3f}" for m, h in cells) + " |"
        )
    diffs = [
        ci95([r["ARMED autoencoder"][i] - r["plain autoencoder"][i] for r in results])
        for i in range(4)
    ]
    lines.append(
        "| paired difference | "
        + " | ".join(f"{m:+.3f} ± {h:.3f}" for m, h in diffs)
        + " |"
    )
    return "\n".join(lines) + "\n"


def ci95(values):
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return values.mean(), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1)
    return values.mean(), half / np.sqrt(len(values))


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
        "--ablation", action="store_true", help="ARMED-CNN variants instead"
    )
    cfg = parser.parse_args(argv)
    shown = [a for a in (argv or []) if a != "--out" and a != cfg.out]
    cfg.argv = " ".join(shown)
    if cfg.quick:
        cfg.repeats, cfg.per_cluster, cfg.epochs = 3, 60, 15
    return cfg


MODES = {
    "": (classifier_repeat, report),
    "ablation": (ablation_repeat, ablation_report),
    "autoencoder": (autoencoder_repeat, autoencoder_report),
}


def main(argv=None):
    import sys

    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    before, start = os.getloadavg()[0], time.perf_counter()
    results = []
    mode = "autoencoder" if cfg.autoencoder else "ablation" if cfg.ablation else ""
    repeat, write = MODES[mode]
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
