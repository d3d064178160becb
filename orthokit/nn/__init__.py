"""Torch layers that remove confounders inside networks, and a skorch estimator.

This subpackage needs the optional dependencies torch and skorch
(``pip install orthokit[torch]``); ``import orthokit`` does not import it.
"""

try:
    import skorch  # noqa: F401
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "orthokit.nn needs torch and skorch: pip install 'orthokit[torch]'."
    ) from exc

from orthokit.nn._layers import (
    MetadataNorm,
    MetadataSequential,
    Orthogonalize,
    PenaltyMetadataNorm,
    RecursiveMetadataNorm,
)
from orthokit.nn._modules import NORMS, MetadataMLP, make_norm
from orthokit.nn._skorch import MetadataNormClassifier

__all__ = [
    "NORMS",
    "MetadataMLP",
    "MetadataNorm",
    "MetadataNormClassifier",
    "MetadataSequential",
    "Orthogonalize",
    "PenaltyMetadataNorm",
    "RecursiveMetadataNorm",
    "make_norm",
]
