"""Shared fixtures of the pruning tests."""

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run tiny models on one thread: on a loaded 2-core machine, intra-op threads spin and
    a 0.3 ms forward takes 50 ms."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
