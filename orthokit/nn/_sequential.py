"""A sequential container that hands the metadata to the layers needing it."""

from torch import nn

from orthokit.nn._base import _MetadataLayer
from orthokit.nn._orthogonalize import Orthogonalize

__all__ = ["MetadataSequential"]


class MetadataSequential(nn.Sequential):
    """A sequential container that hands the metadata to the layers needing it.

    Called as ``model(x, metadata, target=None)``: the metadata layers of
    this module get ``(x, metadata, target)``, every other module gets ``x``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from orthokit.nn import MetadataSequential, Orthogonalize
    >>> model = MetadataSequential(nn.Linear(3, 4), nn.ReLU(), Orthogonalize())
    >>> tuple(model(torch.randn(10, 3), torch.randn(10, 2)).shape)
    (10, 4)
    """

    def forward(self, x, metadata, target=None):
        """Run the layers in order; see the class docstring."""
        for module in self:
            if isinstance(module, _MetadataLayer | Orthogonalize):
                x = module(x, metadata, target)
            else:
                x = module(x)
        return x
