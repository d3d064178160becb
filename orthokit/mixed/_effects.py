"""The fitted random effects as tables: posterior means and sds by cluster."""

import numpy as np
import pandas as pd


def effect_names(feature_names, n_hidden):
    """Return the names of the random effects of each kind.

    Parameters
    ----------
    feature_names : sequence of str
        The features (every column of ``X`` but the cluster one).
    n_hidden : int
        Width of the backbone's feature vector (the last hidden layer of the
        dense backbone).

    Returns
    -------
    dict
        ``{"intercept": [...], "linear": [...], "nonlinear": [...]}``.

    Examples
    --------
    >>> effect_names(["x"], 2)["nonlinear"]
    ['hidden_slope:0', 'hidden_slope:1']
    """
    return {
        "intercept": ["intercept"],
        "linear": [f"slope:{name}" for name in feature_names],
        "nonlinear": [f"hidden_slope:{j}" for j in range(n_hidden)],
    }


def summarise_random_effects(module, names, clusters, cluster_name, outputs, unit):
    """Tabulate the posterior of every random effect of every cluster.

    Parameters
    ----------
    module : ARMEDModule
        The fitted module.
    names : dict
        From :func:`effect_names`.
    clusters : ndarray
        Cluster labels, in the order of the cluster indices.
    cluster_name : str
        Name of the cluster column (the index's name).
    outputs : list
        Name of each output (``[None]`` for a single one).
    unit : float or ndarray
        Scale of the output (``y_scale_`` of a regressor, 1 for logits).

    Returns
    -------
    effects : DataFrame
        One row per cluster, columns ``(effect, "mean" | "sd")``.
    variance : Series
        Across-cluster variance (ddof=1) of each effect's posterior mean.
    """
    columns, blocks = [], []
    for kind, effect in module.random_effects.items():
        mean = effect.mean.detach().to("cpu").numpy().astype(np.float64)
        sd = effect.sd.detach().to("cpu").numpy().astype(np.float64)
        # in units of the output: y for a regressor, the logit otherwise
        mean = mean.reshape(len(clusters), -1, len(outputs)) * unit
        sd = sd.reshape(mean.shape) * unit
        for j, base in enumerate(names[kind]):
            for k, output in enumerate(outputs):
                label = base if output is None else f"{base}[{output}]"
                columns += [(label, "mean"), (label, "sd")]
                blocks += [mean[:, j, k], sd[:, j, k]]
    index = pd.Index(clusters, name=cluster_name)
    if columns:
        frame = pd.DataFrame(
            np.column_stack(blocks),
            index=index,
            columns=pd.MultiIndex.from_tuples(columns, names=["effect", "stat"]),
        )
        variance = frame.xs("mean", axis=1, level="stat").var(axis=0, ddof=1)
    else:
        frame = pd.DataFrame(index=index)
        variance = pd.Series(dtype=np.float64)
    variance.name = "across_cluster_variance"
    return frame, variance
