"""Torch layers that remove confounders inside networks, and a skorch estimator.

This subpackage needs the optional dependencies torch and skorch (the ``torch``
extra; the README says how to get the CPU wheel); ``import orthokit`` does not
import it.
"""

try:
    import skorch  # noqa: F401
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    from orthokit._optional import install_hint

    raise ImportError(
        f"orthokit.nn needs torch and skorch: {install_hint('torch')}."
    ) from exc

from orthokit.nn._mdn import MetadataNorm
from orthokit.nn._modules import NORMS, MetadataMLP, make_norm
from orthokit.nn._orthogonalize import Orthogonalize
from orthokit.nn._pmdn import PenaltyMetadataNorm
from orthokit.nn._rmdn import RecursiveMetadataNorm
from orthokit.nn._sequential import MetadataSequential
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
