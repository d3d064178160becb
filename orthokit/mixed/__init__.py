"""Mixed-effects networks (ARMED) for clustered data."""
