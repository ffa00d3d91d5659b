"""Fixtures of the analysis tests: hand-made result tables (see `synthetic`)."""

from types import SimpleNamespace

import matplotlib
import pytest

from tests.analysis.synthetic import degenerate_tables, make_tables

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def tables() -> SimpleNamespace:
    return make_tables()


@pytest.fixture(scope="session")
def degenerate() -> SimpleNamespace:
    return degenerate_tables()
