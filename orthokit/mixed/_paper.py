"""The ARMED authors' configuration for their spirals (the paper's Table 1).

The estimators' defaults differ (wider layers, linear slopes, unit priors, a
larger step for the random effects): they do better on clustered data other
than the spirals (``benchmarks/results/armed_family.md``).
:meth:`~orthokit.mixed.ARMEDClassifier.from_paper` builds an estimator with
these settings.
"""

#: The authors' spiral settings (the ARMED paper, Table 1).
PAPER_SPIRALS_PARAMS = {
    "hidden_layer_sizes": (4, 4, 4),
    "adversary_layer_sizes": (8, 8, 4),
    "random_intercept": True,
    "linear_slopes": False,
    "nonlinear_slopes": True,
    "adversary_weight": 0.5,
    "kl_weight": 0.1,
    "intercept_prior_scale": 0.1,
    "slope_prior_scale": 0.3,
    "lr": 1e-3,
    "random_effect_lr": None,
    "batch_size": 32,
    "max_epochs": 50,
}


def paper_params(**params):
    """Return the authors' spiral settings, overridden by ``params``.

    Parameters
    ----------
    **params : dict
        Any estimator parameter (``cluster``, ``random_state``, ...).

    Returns
    -------
    dict

    Examples
    --------
    >>> paper_params(max_epochs=5)["max_epochs"], paper_params()["lr"]
    (5, 0.001)
    """
    return {**PAPER_SPIRALS_PARAMS, **params}
