"""Generalized linear models with orthogonality constraints."""
