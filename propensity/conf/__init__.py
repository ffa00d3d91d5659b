"""Hydra configs of propensity, shipped inside the package (``pkg://propensity.conf``)."""
