"""Loaders of shipped public data sets and simulators from the papers."""

from orthokit.datasets._tabular import ADULT_PAPER_FEATURES, load_adult, load_compas

__all__ = ["ADULT_PAPER_FEATURES", "load_adult", "load_compas"]
