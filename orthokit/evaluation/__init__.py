"""Evaluation models: test whether predictions are free of protected attributes."""

from orthokit.evaluation._dcor import DistanceCorrelation, distance_correlation
from orthokit.evaluation._display import OrthogonalityDisplay
from orthokit.evaluation._estimator import check_estimator_orthogonality
from orthokit.evaluation._glm import PerfectSeparationError, check_orthogonality
from orthokit.evaluation._nonlinear import nonlinear_check
from orthokit.evaluation._report import OrthogonalityReport, plot_reports

__all__ = [
    "DistanceCorrelation",
    "OrthogonalityDisplay",
    "OrthogonalityReport",
    "PerfectSeparationError",
    "check_estimator_orthogonality",
    "check_orthogonality",
    "distance_correlation",
    "nonlinear_check",
    "plot_reports",
]
