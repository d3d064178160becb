"""orthokit: remove the influence of protected attributes, the scikit-learn way."""

from orthokit.preprocessing import OrthogonalProjector

__version__ = "0.1.0"

__all__ = ["OrthogonalProjector", "__version__"]
