"""A run's configuration read once: validated (one-line errors), checked against the libraries
before any data loads (the pre-flight) and typed settings."""
