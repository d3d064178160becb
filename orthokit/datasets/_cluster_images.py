"""Clustered images with batch effects, for ARMED with a CNN backbone.

The ARMED paper's image applications (MRI across scanner sites, microscopy
across batches) have no public, download-free counterpart, so this simulator
makes their structure: a label carried by a shape, and per-cluster batch
effects (intensity, contrast, a cluster-specific texture) that carry no label
but make the clusters easy to tell apart.
"""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

from orthokit._sklearn import Interval, validate_params

__all__ = ["make_cluster_images"]


def _shapes(y, size, rng):
    """Masks of a filled square (class 0) or a plus sign (class 1) per image."""
    n = len(y)
    masks = np.zeros((n, size, size), dtype=bool)
    side = rng.randint(max(3, size // 3), size // 2 + 2, n)
    top = rng.randint(0, size - side + 1)
    left = rng.randint(0, size - side + 1)
    for i in range(n):
        s, t, l_ = side[i], top[i], left[i]
        if y[i] == 0:
            masks[i, t : t + s, l_ : l_ + s] = True
        else:
            arm = max(1, s // 3)
            start = (s - arm) // 2
            masks[i, t + start : t + start + arm, l_ : l_ + s] = True
            masks[i, t : t + s, l_ + start : l_ + start + arm] = True
    return masks


@validate_params(
    {
        "n_clusters": [Interval(Integral, 2, None, closed="left")],
        "n_per_cluster": [Interval(Integral, 1, None, closed="left")],
        "size": [Interval(Integral, 8, None, closed="left")],
        "batch_effect": [Interval(Real, 0, None, closed="left")],
        "confounding": [Interval(Real, 0, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_cluster_images(
    n_clusters=8,
    n_per_cluster=100,
    *,
    size=16,
    batch_effect=1.0,
    confounding=0.0,
    noise=0.1,
    random_state=None,
):
    """Clustered grey images whose label is a shape, with batch effects.

    Each image holds one shape at a random position and size (a side of
    ``max(3, size // 3)`` to ``size // 2 + 1`` pixels): a filled square
    (class 0) or a plus sign of the same extent (class 1). Its cluster ``c`` (a site, a
    batch) then shifts it: ``image = a_c · (shape + τ_c) + b_c + ε`` with

    - intensity ``b_c ~ N(0, (0.5·batch_effect)²)``,
    - contrast ``a_c = exp(N(0, (0.3·batch_effect)²))``,
    - texture ``τ_c``: a sinusoidal grating of the cluster's own orientation
      (``U(0, π)``), frequency (``U(0.15, 0.45)`` cycles per pixel) and
      amplitude (``U(0.2, 0.5)·batch_effect``), at a random phase per image,
    - noise ``ε ~ N(0, noise²)`` per pixel.

    The batch effects carry no label: the shape alone does. With
    ``confounding > 0`` the clusters' shares of class 1 differ
    (``p_c ~ N(0.5, confounding²)`` clipped to [0.1, 0.9]), so the batch
    effects predict the label within the seen clusters, as a site with more
    patients does; in clusters not seen in training they do not. At
    ``confounding=1.0`` most clusters hold 10 % or 90 % of class 1, and a
    plain CNN leans on the batch effects: in
    ``benchmarks/bench_armed_images.py`` (10 clusters of 100, 3 held out)
    its accuracy fell from 0.92 on held-out images of seen clusters to 0.67
    on unseen clusters, against 0.93 and 0.80 at ``confounding=0.2``.

    Parameters
    ----------
    n_clusters : int, default=8
    n_per_cluster : int, default=100
    size : int, default=16
        Images are ``size x size`` pixels, one channel.
    batch_effect : float, default=1.0
        Scale of the clusters' intensity, contrast and texture; 0 gives
        clusters that differ in nothing.
    confounding : float, default=0.0
        Sd of the clusters' shares of class 1 around 0.5 (clipped to
        [0.1, 0.9]); 0: every cluster is balanced.
    noise : float, default=0.1
        Sd of the pixel noise.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    data : Bunch
        ``images`` : ndarray of float32 of shape (n, 1, size, size), with
        ``n = n_clusters * n_per_cluster``;
        ``y`` : ndarray of int64 of shape (n,), the shape (0: square,
        1: plus sign);
        ``cluster`` : ndarray of object of shape (n,), labels ``"c0", ...``;
        ``shapes`` : ndarray of bool of shape (n, size, size), the shapes'
        masks before the batch effects;
        ``cluster_params`` : DataFrame, one row per cluster (``intensity``,
        ``contrast``, ``texture_angle``, ``texture_frequency``,
        ``texture_amplitude``, ``share_class_1``).

    See Also
    --------
    make_spirals : the ARMED paper's tabular simulation.

    Examples
    --------
    >>> from orthokit.datasets import make_cluster_images
    >>> data = make_cluster_images(n_clusters=3, n_per_cluster=10, random_state=0)
    >>> data.images.shape, data.y.shape, sorted(set(data.cluster))
    ((30, 1, 16, 16), (30,), ['c0', 'c1', 'c2'])

    With skorch's ``SliceDict`` the images and their cluster form an ``X``
    that ARMED and scikit-learn's splitters take
    (``ARMEDClassifier(cluster="cluster", backbone=...)``):

    >>> from skorch.helper import SliceDict
    >>> X = SliceDict(images=data.images, cluster=data.cluster)
    >>> X[:4]["images"].shape
    (4, 1, 16, 16)
    """
    rng = check_random_state(random_state)
    intensity = rng.normal(0.0, 0.5 * batch_effect, n_clusters)
    contrast = np.exp(rng.normal(0.0, 0.3 * batch_effect, n_clusters))
    angle = rng.uniform(0.0, np.pi, n_clusters)
    frequency = rng.uniform(0.15, 0.45, n_clusters)
    amplitude = rng.uniform(0.2, 0.5, n_clusters) * batch_effect
    share = np.clip(rng.normal(0.5, confounding, n_clusters), 0.1, 0.9)
    n_ones = np.rint(share * n_per_cluster).astype(np.int64)
    y = np.concatenate(
        [rng.permutation(np.arange(n_per_cluster) < k) for k in n_ones]
    ).astype(np.int64)
    cluster = np.repeat(np.arange(n_clusters), n_per_cluster)
    shapes = _shapes(y, size, rng)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    along = (
        np.cos(angle)[cluster, None, None] * cols
        + np.sin(angle)[cluster, None, None] * rows
    )
    phase = rng.uniform(0.0, 2 * np.pi, len(y))[:, None, None]
    texture = amplitude[cluster, None, None] * np.sin(
        2 * np.pi * frequency[cluster, None, None] * along + phase
    )
    images = (
        contrast[cluster, None, None] * (shapes + texture)
        + intensity[cluster, None, None]
        + rng.normal(0.0, noise, shapes.shape)
    )
    labels = np.array([f"c{c}" for c in range(n_clusters)], dtype=object)
    params = pd.DataFrame(
        {
            "intensity": intensity,
            "contrast": contrast,
            "texture_angle": angle,
            "texture_frequency": frequency,
            "texture_amplitude": amplitude,
            "share_class_1": n_ones / n_per_cluster,
        },
        index=pd.Index(labels, name="cluster"),
    )
    return Bunch(
        images=images[:, None].astype(np.float32),
        y=y,
        cluster=labels[cluster],
        shapes=shapes,
        cluster_params=params,
    )
