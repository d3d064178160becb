"""Loaders of shipped public data sets and simulators from the papers."""

from orthokit.datasets._images import *  # noqa: F403
