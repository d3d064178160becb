"""Torch layers that remove confounders inside networks."""
