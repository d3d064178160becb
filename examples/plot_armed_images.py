"""ARMED on images: a CNN backbone and clusters with batch effects
================================================================

Images from several sites (scanners, microscopes, batches) differ in
brightness, contrast and texture for reasons that have nothing to do with
the label. :func:`~orthokit.datasets.make_cluster_images` simulates such
data: the label is a shape (a filled square or a plus sign) and every
cluster has its own intensity, contrast and texture.
:class:`~orthokit.mixed.ARMEDClassifier` takes any torch module as its
fixed-effects ``backbone`` (here a small CNN); the images and their cluster
labels are given together as a mapping (skorch's ``SliceDict``, which
scikit-learn's splitters can index). Rows of unseen clusters are predicted
by the fixed effects (or the Z-predictor): a cluster whose look none of the
training clusters shares is the hard case.

The quick size here shows the API, not accuracies: those are measured in
``benchmarks/results/armed_images.md``.

From the shell::

    python examples/plot_armed_images.py [--quick]
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from skorch.helper import SliceDict
from torch import nn

from orthokit.datasets import make_cluster_images
from orthokit.mixed import ARMEDClassifier

parser = argparse.ArgumentParser(description="ARMEDClassifier with a CNN.")
parser.add_argument(
    "--quick", action="store_true", help="fewer images and epochs (docs' size)"
)
QUICK = parser.parse_args().quick or os.environ.get("ORTHOKIT_QUICK") == "1"

torch.set_num_threads(1)

# %%
# Clustered images: the label is the shape, the cluster changes the look
# ----------------------------------------------------------------------
data = make_cluster_images(
    n_clusters=6, n_per_cluster=200 if QUICK else 400, random_state=0
)
print(data.cluster_params.round(2))

fig, axes = plt.subplots(2, 6, figsize=(9, 3.4), layout="constrained")
for j, label in enumerate(np.unique(data.cluster)):
    for row, shape in enumerate((0, 1)):
        first = np.flatnonzero((data.cluster == label) & (data.y == shape))[0]
        image = data.images[first, 0]
        axes[row, j].imshow(image, cmap="gray", vmin=-3, vmax=3)
        axes[row, j].set_xticks([])
        axes[row, j].set_yticks([])
    axes[0, j].set_title(label)
axes[0, 0].set_ylabel("square")
axes[1, 0].set_ylabel("plus sign")
fig.suptitle("One image of each shape per cluster (same grey scale)")

# %%
# A CNN backbone; the last clusters are held out whole
# ----------------------------------------------------
X = SliceDict(images=data.images, cluster=data.cluster)
seen = np.isin(data.cluster, ["c0", "c1", "c2", "c3", "c4"])
train = seen & (np.arange(len(data.y)) % 4 != 0)
test_seen = seen & ~train


class SmallCNN(nn.Module):
    """Two conv-ReLU-pool blocks and a dense layer: the feature vector."""

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


armed = ARMEDClassifier(
    cluster="cluster",
    backbone=SmallCNN,
    backbone__channels=8,
    unseen_clusters="fixed",
    max_epochs=30 if QUICK else 40,
    random_state=0,
).fit(X[np.flatnonzero(train)], data.y[train])
for name, mask in (("seen clusters", test_seen), ("unseen cluster c5", ~seen)):
    rows = np.flatnonzero(mask)
    accuracy = armed.score(X[rows], data.y[rows])
    print(f"held-out accuracy, {name}:", round(accuracy, 3))

# %%
# Random effects: an intercept and slopes on the CNN's features per cluster
# -------------------------------------------------------------------------
print(armed.random_effects_variance_.sort_values(ascending=False).head())
