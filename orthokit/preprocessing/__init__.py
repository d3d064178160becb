"""Transformers that residualize features on protected attributes."""

from orthokit.preprocessing._projector import OrthogonalProjector

__all__ = ["OrthogonalProjector"]
