"""Loaders of shipped public data sets and simulators from the papers."""

from orthokit.datasets._spirals import make_spirals

__all__ = ["make_spirals"]
