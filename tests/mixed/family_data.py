"""A small clustered regression problem the ARMED regression tests share."""

import numpy as np
import pandas as pd


def clustered_regression(seed=0, n_clusters=12, n_per=60):
    """``y = x1 - 0.5 x2 + u0 + u1 x1 + noise``: random intercepts and slopes of sd 1.

    Returns ``X`` (cluster, x1, x2), ``y`` and a mask of about 25 % test rows.
    """
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), n_per)
    x = rng.normal(size=(len(cluster), 2))
    u0, u1 = rng.normal(0, 1.0, (2, n_clusters))
    noise = rng.normal(0, 0.5, len(cluster))
    y = x[:, 0] - 0.5 * x[:, 1] + u0[cluster] + u1[cluster] * x[:, 0] + noise
    X = pd.DataFrame(
        {"cluster": [f"c{c}" for c in cluster], "x1": x[:, 0], "x2": x[:, 1]}
    )
    test = rng.uniform(size=len(y)) < 0.25
    return X, y, test
