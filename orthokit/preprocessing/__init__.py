"""Transformers that residualize features on protected attributes."""

from orthokit.preprocessing._eraser import ConceptEraser
from orthokit.preprocessing._projector import OrthogonalProjector
from orthokit.preprocessing._recursive import RecursiveResidualizer

__all__ = ["ConceptEraser", "OrthogonalProjector", "RecursiveResidualizer"]
