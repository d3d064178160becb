"""Generalized linear models with orthogonality constraints."""

from orthokit.linear_model._diagnostics import SeparationWarning
from orthokit.linear_model._glm import (
    OrthogonalGLM,
    OrthogonalLogisticRegression,
    OrthogonalPoissonRegressor,
)
from orthokit.linear_model._posthoc import make_posthoc_pipeline

__all__ = [
    "OrthogonalGLM",
    "OrthogonalLogisticRegression",
    "OrthogonalPoissonRegressor",
    "SeparationWarning",
    "make_posthoc_pipeline",
]
