"""Loaders of shipped public data sets and simulators from the papers."""

from orthokit.datasets._cluster_images import make_cluster_images
from orthokit.datasets._images import (
    make_confounded_images,
    make_continual_confounded_images,
)
from orthokit.datasets._spirals import make_spirals
from orthokit.datasets._tabular import ADULT_PAPER_FEATURES, load_adult, load_compas
from orthokit.datasets._text import make_biographies

__all__ = [
    "ADULT_PAPER_FEATURES",
    "load_adult",
    "load_compas",
    "make_biographies",
    "make_cluster_images",
    "make_confounded_images",
    "make_continual_confounded_images",
    "make_spirals",
]
