"""Section 5's mechanisms: the per-run artifacts and the statistics of hidden units."""
