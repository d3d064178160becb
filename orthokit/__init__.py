"""orthokit: remove the influence of protected attributes, the scikit-learn way."""

from orthokit.preprocessing import OrthogonalProjector

__version__ = "0.1.0"

# Found by dumping every public estimator, fitted with the settings of
# tests/test_common.py (tests/test_persistence.py checks the list is exact).
_TRUSTED_TYPES = (
    # builtins.print is the default sink of skorch's PrintLog callback.
    "builtins.print",
    "orthokit._inputs._columns.ProtectedColumns",
    "orthokit._linalg.Moments",
    "orthokit.linear_model._glm.OrthogonalGLM",
    "orthokit.linear_model._glm.OrthogonalLogisticRegression",
    "orthokit.linear_model._glm.OrthogonalPoissonRegressor",
    "orthokit.mixed._estimators.ARMEDClassifier",
    "orthokit.mixed._estimators.ARMEDRegressor",
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
    >>> from orthokit import trusted_types
    >>> X = [[0, 1.0], [1, 3.0], [1, 2.0]]
    >>> model = OrthogonalProjector(protected=[0]).fit(X)
    >>> loaded = sio.loads(sio.dumps(model), trusted=trusted_types())
    >>> bool((loaded.transform(X) == model.transform(X)).all())
    True
    """
    return list(_TRUSTED_TYPES)


__all__ = ["OrthogonalProjector", "__version__", "trusted_types"]
