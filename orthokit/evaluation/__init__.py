"""Evaluation models: test whether predictions are free of protected attributes."""
