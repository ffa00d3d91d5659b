"""A run's configuration read once: validated (one-line errors) and typed settings."""
