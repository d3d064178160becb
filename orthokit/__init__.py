"""orthokit: remove the influence of protected attributes, the scikit-learn way.

Every public estimator and function is importable from the top level
(``from orthokit import OrthogonalGLM, check_orthogonality``) as well as from
its subpackage. The names are resolved on first use (PEP 562), so
``import orthokit`` imports neither scikit-learn's estimators nor torch; the
names of :mod:`orthokit.nn` and :mod:`orthokit.mixed` need the ``torch`` extra.
"""

import importlib

__version__ = "0.1.0"

#: The public names of each subpackage, exported at the top level.
#: ``tests/test_imports.py`` checks these lists against the subpackages'
#: ``__all__``.
_SUBPACKAGE_NAMES = {
    "preprocessing": ("ConceptEraser", "OrthogonalProjector", "RecursiveResidualizer"),
    "linear_model": (
        "OrthogonalGLM",
        "OrthogonalLogisticRegression",
        "OrthogonalPoissonRegressor",
        "SeparationWarning",
        "make_posthoc_pipeline",
    ),
    "evaluation": (
        "DistanceCorrelation",
        "OrthogonalityDisplay",
        "OrthogonalityReport",
        "PerfectSeparationError",
        "check_estimator_orthogonality",
        "check_orthogonality",
        "distance_correlation",
        "nonlinear_check",
        "plot_reports",
    ),
    "datasets": (
        "ADULT_PAPER_FEATURES",
        "load_adult",
        "load_compas",
        "make_biographies",
        "make_cluster_images",
        "make_confounded_images",
        "make_continual_confounded_images",
        "make_spirals",
    ),
    "mixed": ("ARMEDAutoencoder", "ARMEDClassifier", "ARMEDRegressor"),
    "nn": (
        "NORMS",
        "MetadataMLP",
        "MetadataNorm",
        "MetadataNormClassifier",
        "MetadataSequential",
        "Orthogonalize",
        "PenaltyMetadataNorm",
        "RecursiveMetadataNorm",
        "make_norm",
    ),
}
_LAZY_NAMES = {
    name: subpackage
    for subpackage, names in _SUBPACKAGE_NAMES.items()
    for name in names
}

# Found by dumping every public estimator, fitted with the settings of
# tests/test_common.py (tests/test_persistence.py checks the list is exact).
_TRUSTED_TYPES = (
    # builtins.print is the default sink of skorch's PrintLog callback.
    "builtins.print",
    "orthokit._inputs._cluster.ClusterColumn",
    "orthokit._inputs._cluster_key.ClusterKey",
    "orthokit._inputs._columns.ProtectedColumns",
    "orthokit._linalg.Moments",
    "orthokit.linear_model._glm.OrthogonalGLM",
    "orthokit.linear_model._glm.OrthogonalLogisticRegression",
    "orthokit.linear_model._glm.OrthogonalPoissonRegressor",
    "orthokit.mixed._autoencoder.ARMEDAutoencoder",
    "orthokit.mixed._autoencoder_module.AutoencoderModule",
    "orthokit.mixed._base.FinishFit",
    "orthokit.mixed._batches.TensorBatches",
    "orthokit.mixed._classifier.ARMEDClassifier",
    "orthokit.mixed._modules.ARMEDModule",
    "orthokit.mixed._modules.DenseBackbone",
    "orthokit.mixed._regressor.ARMEDRegressor",
    "orthokit.nn._modules.MetadataMLP",
    "orthokit.nn._skorch.MetadataNormClassifier",
    "orthokit.preprocessing._eraser.ConceptEraser",
    "orthokit.preprocessing._projector.OrthogonalProjector",
    "orthokit.preprocessing._recursive.RecursiveResidualizer",
    "skorch.callbacks.logging.EpochTimer",
    "skorch.callbacks.logging.PrintLog",
    "skorch.callbacks.scoring.EpochScoring",
    "skorch.callbacks.scoring.PassthroughScoring",
    "skorch.dataset.Dataset",
    "skorch.history.History",
    "skorch.utils._indexing_other",
    "skorch.utils.to_numpy",
    "torch.nn.modules.loss.CrossEntropyLoss",
    "torch.optim.adam.Adam",
    "torch.optim.sgd.SGD",
    "torch.utils.data.dataloader.DataLoader",
)


def trusted_types():
    """Return the type names skops must trust to load orthokit's estimators.

    ``skops.io.load`` refuses every type it does not know unless the caller
    trusts it by name. These are the names that orthokit's estimators, with
    their default optimizers, criteria and callbacks, put in a file; a model
    built with other torch or skorch parts needs those names too (ask
    ``skops.io.get_untrusted_types`` and review them before trusting).

    Returns
    -------
    list of str

    Examples
    --------
    >>> import skops.io as sio
    >>> from orthokit import OrthogonalProjector, trusted_types
    >>> X = [[0, 1.0], [1, 3.0], [1, 2.0]]
    >>> model = OrthogonalProjector(protected=[0]).fit(X)
    >>> loaded = sio.loads(sio.dumps(model), trusted=trusted_types())
    >>> bool((loaded.transform(X) == model.transform(X)).all())
    True
    """
    return list(_TRUSTED_TYPES)


def __getattr__(name):
    """Import a public name, or a subpackage, on first use (PEP 562)."""
    if name in _LAZY_NAMES:
        module = importlib.import_module(f"orthokit.{_LAZY_NAMES[name]}")
        value = getattr(module, name)
    elif name in _SUBPACKAGE_NAMES:
        value = importlib.import_module(f"orthokit.{name}")
    else:
        raise AttributeError(f"module 'orthokit' has no attribute {name!r}")
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGE_NAMES))


# ``from orthokit import *`` takes the names that need no optional dependency;
# those of nn and mixed (torch, skorch) are imported by name.
__all__ = sorted(
    [
        *(name for name, sub in _LAZY_NAMES.items() if sub not in ("nn", "mixed")),
        "__version__",
        "trusted_types",
    ]
)
