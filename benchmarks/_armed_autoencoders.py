"""The autoencoder part of ``bench_armed_images.py`` (``--autoencoder``).

:class:`orthokit.mixed.ARMEDAutoencoder` against a plain autoencoder of the
same size (no adversary, no random effects), both fit on the training rows,
with a dense encoder and decoder on the flattened images and with a
convolutional one (the paper's image autoencoder, small). Scores: held-out
AUC of a logistic-regression probe of the cluster from the code (on the
seen clusters' held-out images, split in halves), reconstruction error
(mean squared error over the held-out images' variance; the mixed
reconstruction for ARMED), and the accuracy of a logistic regression of the
label on the code (trained on the training rows; held-out images of seen
clusters and unseen clusters). Also the shared split and interval helpers.
"""

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from skorch.helper import SliceDict
from torch import nn

from orthokit.datasets import make_cluster_images
from orthokit.mixed import ARMEDAutoencoder

# The ARMED autoencoder's settings here are the estimator's defaults.
AUTOENCODERS = {
    "plain autoencoder": {"adversary_weight": 0.0, "random_effects": False},
    "ARMED autoencoder": {},
}


class ConvEncoder(nn.Module):
    """Two conv-ReLU-pool blocks (``channels`` maps), flattened."""

    def __init__(self, channels=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )

    def forward(self, x):
        return self.net(x)


class ConvDecoder(nn.Module):
    """The encoder mirrored: dense to ``channels`` 4x4 maps, two up-convolutions."""

    def __init__(self, n_components=8, channels=16, size=16):
        super().__init__()
        side = size // 4
        self.net = nn.Sequential(
            nn.Linear(n_components, channels * side * side),
            nn.ReLU(),
            nn.Unflatten(1, (channels, side, side)),
            nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, 1, 4, stride=2, padding=1),
        )

    def forward(self, code):
        return self.net(code)


def architectures(cfg):
    """The dense and convolutional encoder/decoder settings of the models."""
    return {
        "dense": {
            "hidden_layer_sizes": (64,),
            "max_epochs": cfg.epochs,
        },
        "CNN": {
            "backbone": ConvEncoder,
            "decoder": ConvDecoder,
            "decoder__n_components": cfg.components,
            "max_epochs": cfg.cnn_epochs,
        },
    }


def split(cluster, seed):
    """Masks: training rows, held-out rows of seen clusters, unseen clusters."""
    rng = np.random.default_rng(seed)
    labels = np.unique(cluster)
    unseen_labels = rng.choice(labels, max(1, round(0.3 * len(labels))), replace=False)
    unseen = np.isin(cluster, unseen_labels)
    held = ~unseen & (rng.random(len(cluster)) < 0.25)
    return ~unseen & ~held, held, unseen


def ci95(values):
    """Mean and 95 % t-interval half-width of ``values``."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return values.mean(), float("nan")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1)
    return values.mean(), half / np.sqrt(len(values))


def probe_auc(code, cluster, seed):
    """Held-out one-vs-rest AUC of a logistic-regression probe of the cluster."""
    a, b, za, zb = train_test_split(
        code, cluster, test_size=0.5, random_state=seed, stratify=cluster
    )
    scaler = StandardScaler().fit(a)
    probe = LogisticRegression(max_iter=5000).fit(scaler.transform(a), za)
    proba = probe.predict_proba(scaler.transform(b))
    return roc_auc_score(zb, proba, multi_class="ovr", labels=probe.classes_)


def scores(model, X, data, masks, seed):
    """Batch probe AUC, reconstruction error, label accuracy (seen, unseen)."""
    train, held, unseen = masks
    images = X["images"]
    code = model.transform(X)
    auc = probe_auc(code[held], data.cluster[held], seed)
    rec = model.reconstruct(X[held])
    error = np.mean((rec - images[held]) ** 2) / images[held].var()
    scaler = StandardScaler().fit(code[train])
    clf = LogisticRegression(max_iter=5000)
    clf.fit(scaler.transform(code[train]), data.y[train])
    accuracy = [clf.score(scaler.transform(code[m]), data.y[m]) for m in (held, unseen)]
    return [auc, error, *accuracy]


# The ablation (``--ablation``, dense only): what costs ARMED reconstruction.
ABLATION = {
    "plain": {"adversary_weight": 0.0, "random_effects": False},
    "random effects, no adversary": {"adversary_weight": 0.0},
    "adversary 5, no random effects": {
        "adversary_weight": 5.0, "random_effects": False,
    },
    "adversary 5 (the earlier benchmark setting)": {"adversary_weight": 5.0},
    "adversary 5, no KL": {"adversary_weight": 5.0, "kl_weight": 0.0},
    "adversary 1, prior sd 1 (the earlier defaults)": {
        "adversary_weight": 1.0, "intercept_prior_scale": 1.0,
    },
    "adversary 1": {"adversary_weight": 1.0},
    "adversary 0.3 (the defaults)": {},
    "adversary 0.1": {"adversary_weight": 0.1},
}  # fmt: skip


def autoencoder_repeat(cfg, seed, variants=None, archs=("dense", "CNN")):
    """Scores per architecture and model (``variants``: name to parameters)."""
    data = make_cluster_images(
        n_clusters=cfg.clusters,
        n_per_cluster=cfg.per_cluster,
        confounding=cfg.confounding,
        random_state=seed,
    )
    masks = split(data.cluster, seed)
    results = {}
    for arch in archs:
        arch_params = architectures(cfg)[arch]
        images = data.images if arch == "CNN" else data.images.reshape(len(data.y), -1)
        X = SliceDict(images=images, cluster=data.cluster)
        for name, params in (variants or AUTOENCODERS).items():
            model = ARMEDAutoencoder(
                cluster="cluster",
                n_components=cfg.components,
                lr=cfg.lr,
                batch_size=32,
                random_state=seed,
                **arch_params,
                **params,
            ).fit(X[masks[0]])
            results[f"{arch}: {name}"] = scores(model, X, data, masks, seed)
    return results


def autoencoder_report(results, cfg, seconds, loads, torch_version):
    """The results section (markdown) of the autoencoder comparison."""
    command = " ".join(["benchmarks/bench_armed_images.py", *cfg.argv.split()])
    lines = [
        "## ARMED autoencoder",
        "",
        f"`OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python {command}`: {cfg.repeats} "
        f"repeats (seeds 0-{cfg.repeats - 1}), the data and splits above "
        f"({cfg.clusters} clusters of {cfg.per_cluster}, confounding "
        f"{cfg.confounding}); codes of {cfg.components}. Dense: encoder "
        f"256-64-{cfg.components}, decoder {cfg.components}-64-256, "
        f"{cfg.epochs} epochs. CNN: encoder two conv(3x3, 16 maps)-ReLU-maxpool "
        f"blocks and a linear map to the code, decoder a dense layer to 16 4x4 "
        f"maps and two 4x4 stride-2 up-convolutions, {cfg.cnn_epochs} epochs. "
        f"ARMED at the estimator's defaults; Adam at lr {cfg.lr}, batches of 32; "
        f"torch {torch_version}, one thread. Wall time {seconds:.0f} s; load "
        f"average (1 min) {loads[0]:.2f} before, {loads[1]:.2f} after (2 cores, "
        "shared).",
        "",
        "Mean ± 95 % t-interval half-width over repeats; the paired difference "
        "is ARMED minus plain in the same repeat:",
        "",
        "| model | batch probe AUC (chance 0.5) | reconstruction error "
        "| label accuracy, seen | label accuracy, unseen |",
        "|---|---:|---:|---:|---:|",
    ]
    for arch in architectures(cfg):
        for name in AUTOENCODERS:
            key = f"{arch}: {name}"
            cells = [ci95([r[key][i] for r in results]) for i in range(4)]
            lines.append(
                f"| {key} | "
                + " | ".join(f"{m:.3f} ± {h:.3f}" for m, h in cells)
                + " |"
            )
        armed, plain = f"{arch}: ARMED autoencoder", f"{arch}: plain autoencoder"
        diffs = [ci95([r[armed][i] - r[plain][i] for r in results]) for i in range(4)]
        lines.append(
            f"| {arch}: paired difference | "
            + " | ".join(f"{m:+.3f} ± {h:.3f}" for m, h in diffs)
            + " |"
        )
    return "\n".join(lines) + "\n"


def ablation_report(results, cfg, seconds, loads, torch_version):
    """The ablation table (markdown): each variant's scores and error ratio."""
    command = " ".join(["benchmarks/bench_armed_images.py", *cfg.argv.split()])
    lines = [
        "### Ablation: what costs the ARMED autoencoder reconstruction",
        "",
        f"`OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python {command}`: dense "
        f"autoencoders as above, {cfg.epochs} epochs, seeds 0-{cfg.repeats - 1}, "
        "intercept prior sd 0.3 unless named; torch "
        f"{torch_version}, one thread. Wall time {seconds:.0f} s; load average "
        f"(1 min) {loads[0]:.2f} before, {loads[1]:.2f} after (2 cores, shared).",
        "",
        "Mean over seeds (the ratio: the variant's reconstruction error over the "
        "plain autoencoder's in the same seed, then averaged):",
        "",
        "| variant | batch probe AUC | reconstruction error | error / plain |",
        "|---|---:|---:|---:|",
    ]
    for name in ABLATION:
        key = f"dense: {name}"
        auc = np.mean([r[key][0] for r in results])
        error = np.mean([r[key][1] for r in results])
        ratio = np.mean([r[key][1] / r["dense: plain"][1] for r in results])
        lines.append(f"| {name} | {auc:.3f} | {error:.3f} | {ratio:.2f} |")
    return "\n".join(lines) + "\n"
