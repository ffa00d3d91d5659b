"""A job's CPU thread count: the launcher's (``OMP_NUM_THREADS``), else by the work of one step."""

from __future__ import annotations

import pytest
import torch

from propensity.launch.threads import (
    MACS_PER_THREAD,
    macs_per_sample,
    set_training_threads,
    threads_for_step,
)
from propensity.models import MLP, Conv2, ViT
from propensity.pruning import total_weights


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_a_dense_models_work_per_sample_is_its_weight_count() -> None:
    for width in (0.1, 1.0):
        model = MLP(width, (1, 28, 28))
        assert macs_per_sample(model, (1, 28, 28)) == total_weights(model)


def test_a_convolutions_weights_count_once_per_output_pixel() -> None:
    # Table 1's Conv-2 formula without the 4 per filter: 1024*(27c + 9c^2) + 256c*d + d^2 + 10d
    c, d = 6, 25
    expected = 1024 * (27 * c + 9 * c * c) + 256 * c * d + d * d + 10 * d
    assert macs_per_sample(Conv2(0.1), (3, 32, 32)) == expected


def test_a_transformers_linear_layers_count_once_per_token() -> None:
    model = ViT(1.0, (1, 28, 28))
    assert macs_per_sample(model, (1, 28, 28)) > 49 * (total_weights(model) - 10 * 64) // 2
    assert model.training  # the count leaves the mode as it found it


@pytest.mark.parametrize(("macs", "available", "threads"), [
    (0, 8, 1), (MACS_PER_THREAD - 1, 8, 1), (MACS_PER_THREAD, 8, 1), (2 * MACS_PER_THREAD, 8, 2),
    (100 * MACS_PER_THREAD, 8, 8), (100 * MACS_PER_THREAD, 1, 1),
])
def test_one_thread_per_share_of_a_steps_work(macs: int, available: int, threads: int) -> None:
    assert threads_for_step(macs, available) == threads


def test_a_small_model_trains_on_one_thread(monkeypatch, restore_threads) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(2)
    assert set_training_threads(MLP(1.0, (1, 8, 8)), (1, 8, 8), samples_per_step=64) == 1
    assert torch.get_num_threads() == 1


def test_the_launchers_count_is_kept(monkeypatch, restore_threads) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(2)
    assert set_training_threads(MLP(1.0, (1, 8, 8)), (1, 8, 8), samples_per_step=64) == 2
    assert torch.get_num_threads() == 2
