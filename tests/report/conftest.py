"""Fixtures of the report tests: the analysis tests' hand-made result tables."""

from tests.analysis.conftest import degenerate, tables

__all__ = ["degenerate", "tables"]
