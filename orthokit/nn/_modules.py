"""Small ready-made networks with metadata-normalization layers."""

from torch import nn

from orthokit.nn._mdn import MetadataNorm
from orthokit.nn._orthogonalize import Orthogonalize
from orthokit.nn._pmdn import PenaltyMetadataNorm
from orthokit.nn._rmdn import RecursiveMetadataNorm
from orthokit.nn._sequential import MetadataSequential

__all__ = ["NORMS", "MetadataMLP", "make_norm"]

#: Names accepted by :func:`make_norm`.
NORMS = ("none", "batchnorm", "mdn", "pmdn", "rmdn", "orthogonalize")


def make_norm(norm, n_features, n_metadata, n_targets, **norm_params):
    """Return the normalization block named ``norm`` for ``n_features`` features.

    Parameters
    ----------
    norm : {"none", "batchnorm", "mdn", "pmdn", "rmdn", "orthogonalize"}
        ``"pmdn"`` gives a ``LayerNorm`` followed by the P-MDN layer, as
        Vento et al. recommend. ``"batchnorm"`` expects ``n_features`` as an
        int (dense) or a ``(channels, height, width)`` shape (conv maps).
    n_features : int or tuple of int
        Features per sample, or their trailing shape.
    n_metadata : int
        Metadata columns.
    n_targets : int
        Label columns passed in training.
    **norm_params : dict
        Passed to the metadata layer.

    Returns
    -------
    list of torch.nn.Module
        Empty for ``"none"``.

    Examples
    --------
    >>> [type(m).__name__ for m in make_norm("pmdn", 8, 1, 1)]
    ['LayerNorm', 'PenaltyMetadataNorm']
    """
    shape = (n_features,) if isinstance(n_features, int) else tuple(n_features)
    if norm == "none":
        return []
    if norm == "batchnorm":
        return [
            nn.BatchNorm1d(shape[0]) if len(shape) == 1 else nn.BatchNorm2d(shape[0])
        ]
    if norm == "mdn":
        return [MetadataNorm(shape, n_metadata, n_targets=n_targets, **norm_params)]
    if norm == "pmdn":
        return [
            nn.LayerNorm(list(shape)),
            PenaltyMetadataNorm(shape, n_metadata, n_targets=n_targets, **norm_params),
        ]
    if norm == "rmdn":
        return [
            RecursiveMetadataNorm(shape, n_metadata, n_targets=n_targets, **norm_params)
        ]
    if norm == "orthogonalize":
        return [Orthogonalize(**norm_params)]
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}.")


class MetadataMLP(MetadataSequential):
    """A multilayer perceptron with a metadata layer after every hidden layer.

    Dense, normalization, ReLU, repeated; then a dense output layer. The
    default module of :class:`~orthokit.nn.MetadataNormClassifier`, which sets
    ``n_features``, ``n_metadata``, ``n_targets`` and ``n_outputs`` from the
    data.

    Parameters
    ----------
    n_features : int, default=1
        Input features (without the metadata).
    n_metadata : int, default=1
        Metadata columns.
    n_outputs : int, default=2
        Output units (logits).
    n_targets : int, default=0
        Label columns the metadata layers get in training.
    hidden : tuple of int, default=(32,)
        Hidden layer sizes.
    norm : str, default="rmdn"
        One of :data:`NORMS`.
    norm_params : dict, optional
        Parameters of every metadata layer.

    Examples
    --------
    >>> import torch
    >>> net = MetadataMLP(n_features=3, n_metadata=1, n_outputs=2, norm="rmdn")
    >>> tuple(net(torch.randn(4, 3), torch.randn(4, 1)).shape)
    (4, 2)
    """

    def __init__(
        self,
        n_features=1,
        n_metadata=1,
        n_outputs=2,
        n_targets=0,
        hidden=(32,),
        norm="rmdn",
        norm_params=None,
    ):
        layers = []
        width = n_features
        for size in hidden:
            layers.append(nn.Linear(width, size))
            layers.extend(
                make_norm(norm, size, n_metadata, n_targets, **(norm_params or {}))
            )
            layers.append(nn.ReLU())
            width = size
        layers.append(nn.Linear(width, n_outputs))
        super().__init__(*layers)

    def forward(self, X, metadata, target=None):
        """Return the logits; see :class:`MetadataSequential`."""
        return super().forward(X, metadata, target)
