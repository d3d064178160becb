"""Remove a confounder inside a torch network
==========================================

orthokit's metadata layers (MDN, P-MDN, R-MDN) and Orthogonalize on a
confounded problem. A label ``y`` drives a main effect ``mf``; a confounder
``cf`` is correlated with ``y`` (higher in class 1) and also shifts the input.
A network that uses the confounder looks better than one that uses only ``mf``,
for the wrong reason. :class:`~orthokit.nn.MetadataNormClassifier` trains a
small MLP whose hidden layer is followed by one of orthokit's metadata layers,
which residualize the activations on ``cf`` (with the label in the design
during training, so the part of ``cf`` that the label explains survives). The
squared distance correlation between the hidden features and ``cf`` within each
class, the MDN papers' metric, measures what is left.

The second part shows the orthogonalization paper's point about ReLU
networks: the :class:`~orthokit.nn.Orthogonalize` projection must come
*after* the activation to protect the activated output.

From the shell::

    python examples/plot_torch_layers.py [--quick]
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from orthokit.evaluation import distance_correlation
from orthokit.nn import (
    MetadataNorm,
    MetadataNormClassifier,
    Orthogonalize,
    PenaltyMetadataNorm,
    RecursiveMetadataNorm,
)

parser = argparse.ArgumentParser(description="orthokit's torch layers.")
parser.add_argument(
    "--quick", action="store_true", help="fewer epochs (the docs' size)"
)
QUICK = parser.parse_args().quick or os.environ.get("ORTHOKIT_QUICK") == "1"

torch.set_num_threads(1)

# %%
# Confounded data
# ---------------
# Column 0 of ``X`` is the confounder itself, given to the network as
# metadata (``metadata=[0]``); columns 1 and 2 are the inputs.
rng = np.random.default_rng(0)
n = 1200
y = rng.integers(0, 2, size=n)
mf = rng.uniform(1, 4, size=n) + 2 * y
cf = rng.uniform(1, 4, size=n) + 2 * y
inputs = np.column_stack([mf + 0.3 * cf, cf]) + rng.normal(
    scale=0.3, size=(n, 2)
)
inputs = (inputs - inputs.mean(0)) / inputs.std(0)
X = np.column_stack([cf, inputs]).astype(np.float32)
train, test = np.arange(n) < n // 2, np.arange(n) >= n // 2
METADATA_LAYERS = (
    MetadataNorm,
    PenaltyMetadataNorm,
    RecursiveMetadataNorm,
    Orthogonalize,
)


def hidden_features(net, X):
    """Activations before the output layer, in eval mode."""
    module = net.module_.eval()
    x = torch.as_tensor(X[:, 1:])
    metadata = torch.as_tensor(X[:, :1])
    with torch.no_grad():
        for layer in list(module)[:-1]:
            x = (
                layer(x, metadata)
                if isinstance(layer, METADATA_LAYERS)
                else layer(x)
            )
    return x.numpy()


# %%
# One network per normalization
# ------------------------------
results = {}
for norm in ("none", "mdn", "pmdn", "rmdn", "orthogonalize"):
    net = MetadataNormClassifier(
        metadata=[0],
        module__hidden=(16,),
        module__norm=norm,
        max_epochs=20 if QUICK else 60,
        batch_size=100,
        optimizer=torch.optim.Adam,
        lr=0.01,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X[train], y[train])
    features = hidden_features(net, X[test])
    results[norm] = {
        "accuracy": net.score(X[test], y[test]),
        "dcor2": distance_correlation(features, cf[test], by=y[test]).value,
    }
    print(
        f"{norm:>13}: accuracy {results[norm]['accuracy']:.3f}, "
        f"dcor² with cf within classes {results[norm]['dcor2']:.3f}"
    )

# %%
# Orthogonalize before or after the ReLU (orthogonalization paper, Ex. 2)
# -----------------------------------------------------------------------
# After the activation, the output is orthogonal to ``[1, S]``; before it, the
# ReLU re-creates a dependence on ``S``.
torch.manual_seed(0)
S = torch.randn(256, 2)
pre_activation = S @ torch.randn(2, 8) + torch.randn(256, 8)
before_relu = torch.relu(Orthogonalize()(pre_activation, S))
after_relu = Orthogonalize()(torch.relu(pre_activation), S)
centred = S - S.mean(0)
leak = {
    "Orthogonalize, then ReLU": (centred.T @ before_relu).abs().max().item(),
    "ReLU, then Orthogonalize": (centred.T @ after_relu).abs().max().item(),
}
print(leak)

fig, (ax_acc, ax_dcor, ax_relu) = plt.subplots(
    1, 3, figsize=(11, 3.5), layout="constrained"
)
names = list(results)
ax_acc.bar(names, [results[k]["accuracy"] for k in names], color="C0")
ax_acc.set_ylim(0.5, 1)
ax_acc.set_ylabel("held-out accuracy")
ax_dcor.bar(names, [results[k]["dcor2"] for k in names], color="C1")
ax_dcor.set_ylabel("dcor²(hidden features, cf) within class")
for ax in (ax_acc, ax_dcor):
    ax.tick_params(axis="x", rotation=45)
ax_relu.bar(list(leak), list(leak.values()), color=["C3", "C2"])
ax_relu.set_yscale("log")
ax_relu.set_ylabel("max |S̃ᵀ output|")
ax_relu.tick_params(axis="x", rotation=15)
