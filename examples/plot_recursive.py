"""Follow a drifting relation in a stream
======================================

A stream arrives in chunks; the effect of a protected column ``s`` on a
feature changes sign halfway through.
:class:`~orthokit.preprocessing.RecursiveResidualizer` updates its recursive
least-squares state with every ``partial_fit`` call.
With ``forgetting_factor=1`` it converges to the coefficient of
:class:`~orthokit.preprocessing.OrthogonalProjector` on all rows seen (an
average of the two regimes, right for neither); with ``forgetting_factor < 1``
old chunks are down-weighted and the correction follows the drift, so each new
chunk is corrected with the current relation.

From the shell::

    python examples/plot_recursive.py [--quick]
"""

import argparse
import os

import matplotlib.pyplot as plt
import numpy as np

from orthokit.preprocessing import OrthogonalProjector, RecursiveResidualizer

parser = argparse.ArgumentParser(
    description="RecursiveResidualizer on a drift."
)
parser.add_argument(
    "--quick", action="store_true", help="fewer chunks (the docs' size)"
)
QUICK = parser.parse_args().quick or os.environ.get("ORTHOKIT_QUICK") == "1"

# %%
# A stream whose confounding effect changes sign
# ----------------------------------------------
# Column 0 is the protected ``s``; column 1 is ``b(t) * s + noise`` with
# ``b = 2`` in the first half of the stream and ``b = -1`` in the second.
rng = np.random.default_rng(0)
n_chunks, chunk_size = (60, 200) if QUICK else (200, 500)
true_slope = np.where(np.arange(n_chunks) < n_chunks // 2, 2.0, -1.0)
chunks = []
for slope in true_slope:
    s = rng.normal(size=chunk_size)
    chunks.append(
        np.column_stack([s, slope * s + rng.normal(size=chunk_size)])
    )

# %%
# Two residualizers, updated chunk by chunk
# -----------------------------------------
# Each chunk is corrected *before* it updates the state (as a stream would
# be), and we record the correlation left between the corrected feature and
# ``s`` in that chunk.
models = {
    "forgetting_factor=1": RecursiveResidualizer(protected=[0]),
    "forgetting_factor=0.8": RecursiveResidualizer(
        protected=[0], forgetting_factor=0.8
    ),
}
slopes = {name: [] for name in models}
left_over = {name: [] for name in models}
for index, chunk in enumerate(chunks):
    for name, model in models.items():
        if index > 0:
            corrected = model.transform(chunk)[:, 0]
            left_over[name].append(np.corrcoef(corrected, chunk[:, 0])[0, 1])
        model.partial_fit(chunk)
        slopes[name].append(model.coef_[0, 0])

# %%
# Without forgetting, the stream equals one batch fit
# ---------------------------------------------------
everything = np.vstack(chunks)
batch = OrthogonalProjector(protected=[0]).fit(everything)
print("projector on all rows:", batch.coef_[0, 0])
print("RLS, forgetting 1:    ", models["forgetting_factor=1"].coef_[0, 0])
print("RLS, forgetting 0.8:  ", models["forgetting_factor=0.8"].coef_[0, 0])

fig, (ax_slope, ax_left) = plt.subplots(
    1, 2, figsize=(9, 3.5), layout="constrained"
)
ax_slope.step(
    np.arange(n_chunks), true_slope, where="post", color="black", label="true"
)
for name in models:
    ax_slope.plot(slopes[name], label=name)
ax_slope.set_xlabel("chunk")
ax_slope.set_ylabel("coefficient of s")
ax_slope.legend()
for name in models:
    ax_left.plot(np.arange(1, n_chunks), left_over[name], label=name)
ax_left.axhline(0, color="black", linewidth=0.8)
ax_left.set_xlabel("chunk (corrected before its update)")
ax_left.set_ylabel("corr(corrected feature, s)")
ax_left.legend()
