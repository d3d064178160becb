"""Loaders of shipped public data sets and simulators from the papers."""
