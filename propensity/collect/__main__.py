"""Entry point of ``python -m propensity.collect``."""

from propensity.collect.cli import main

raise SystemExit(main())
