"""Per-run artifacts: the pure functions, and SaveArtifacts in a real (tiny) Lightning fit.

The callback's tests live here, not in tests/callbacks/test_artifacts.py: two test modules
named test_artifacts.py in package-less test folders collide under pytest's default import
mode ("import file mismatch")."""

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from propensity.engines.callbacks.save_artifacts import SaveArtifacts
from propensity.mechanisms.artifacts import (
    ACTIVATIONS,
    CORRECTNESS,
    WEIGHTS_FINAL,
    WEIGHTS_INIT,
    activation_statistics,
    artifact_path,
    correctness,
    hidden_layer_names,
    load_activation_statistics,
    load_correctness,
    load_weights,
    prunable_state,
    save_activation_statistics,
    save_correctness,
    save_weights,
)
from propensity.mechanisms.unit_statistics import class_means, hoyer_sparsity
from propensity.models import MLP, Conv2, ResNet, initialize


def test_weights_round_trip_bitwise(tmp_path):
    model = initialize(MLP(0.1, (1, 8, 8), 10), "he", 3)
    path = tmp_path / "artifacts" / "weights_init.safetensors"
    save_weights(path, prunable_state(model))
    loaded = load_weights(path)
    assert list(loaded) == ["fc1.weight", "fc2.weight", "proj.weight"]
    for name, weight in model.named_parameters():
        if name in loaded:
            assert torch.equal(loaded[name], weight.detach())
    assert not list(path.parent.glob(".*"))  # no temporary file left behind


def test_correctness_matches_argmax_and_packs_to_bits(tmp_path):
    model = initialize(MLP(0.1, (1, 8, 8), 10), "glorot", 0).train()
    x, y = torch.randn(37, 1, 8, 8), torch.randint(0, 10, (37,))
    correct, predicted = correctness(model, x, y, batch_size=8)
    assert model.training  # mode restored
    with torch.no_grad():
        expected = model(x).argmax(1)
    assert torch.equal(predicted, expected) and torch.equal(correct, expected == y)
    path = tmp_path / "correctness.npz"
    save_correctness(path, correct, predicted)
    bits, labels = load_correctness(path)
    np.testing.assert_array_equal(bits, correct.numpy())
    np.testing.assert_array_equal(labels, predicted.numpy())


def test_activation_statistics_equal_direct_computation(tmp_path):
    torch.manual_seed(0)
    model = initialize(Conv2(0.1, (1, 8, 8), 4), "he", 1)
    x, y = torch.randn(50, 1, 8, 8), torch.randint(0, 4, (50,))
    stats = activation_statistics(model, x, y, num_classes=4, batch_size=16)
    assert list(stats) == ["conv1", "conv2", "fc1", "fc2"]
    with torch.no_grad():
        hidden = model.hidden(x)
    for (name, per_unit), a in zip(stats.items(), hidden, strict=True):
        units = (a.flatten(2).mean(2) if a.dim() > 2 else a).double().numpy()  # channel means
        # float32 activations averaged in float64 here, float32 in the test: rtol 1e-5
        np.testing.assert_allclose(per_unit["hoyer"], hoyer_sparsity(units), rtol=1e-5,
                                   equal_nan=True)
        np.testing.assert_allclose(per_unit["class_means"], class_means(units, y.numpy(), 4),
                                   rtol=1e-5)
        assert per_unit["selectivity"].shape == (units.shape[1],), name
    path = tmp_path / "activations.npz"
    save_activation_statistics(path, stats)
    loaded = load_activation_statistics(path)
    assert list(loaded) == list(stats)
    np.testing.assert_allclose(loaded["fc1"]["selectivity_normalized"],
                               stats["fc1"]["selectivity_normalized"], rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize(
    ("model", "names"),
    [(MLP(0.1), ["fc1", "fc2"]), (ResNet(0.25), ["hidden1", "hidden2", "hidden3", "hidden4"]),
     (nn.Linear(3, 2), ["hidden1"])],
)
def test_hidden_layer_names(model, names):
    assert hidden_layer_names(model, len(names)) == names


class Classifier(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.model = initialize(MLP(0.1, (1, 4, 4), 3), "he", 0)

    def training_step(self, batch, _):
        x, y = batch
        return F.cross_entropy(self.model(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


class Data(L.LightningDataModule):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.x_train, self.y_train = torch.randn(64, 1, 4, 4, generator=g), torch.arange(64) % 3
        self.x_val, self.y_val = torch.randn(30, 1, 4, 4, generator=g), torch.arange(30) % 3
        self.num_classes = 3

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.x_train, self.y_train), batch_size=16)


def _trainer(tmp_path, callback, epochs):
    return L.Trainer(max_epochs=epochs, callbacks=[callback], logger=False,
                     enable_progress_bar=False, enable_model_summary=False,
                     enable_checkpointing=False, default_root_dir=tmp_path, accelerator="cpu")


def test_fit_writes_every_artifact(tmp_path):
    module = Classifier()
    initial = prunable_state(module.model)
    callback = SaveArtifacts(tmp_path / "run", weights=True, correctness=True, activations=True)
    data = Data()
    _trainer(tmp_path, callback, epochs=2).fit(module, datamodule=data)

    init, final = (load_weights(artifact_path(tmp_path / "run", n))
                   for n in (WEIGHTS_INIT, WEIGHTS_FINAL))
    assert list(init) == ["fc1.weight", "fc2.weight", "proj.weight"]
    assert all(torch.equal(init[k], initial[k]) for k in init)
    assert all(torch.equal(final[k], v) for k, v in prunable_state(module.model).items())
    assert not torch.equal(init["fc1.weight"], final["fc1.weight"])  # it trained

    bits, predicted = load_correctness(artifact_path(tmp_path / "run", CORRECTNESS))
    expected, expected_pred = correctness(module.model, data.x_val, data.y_val)
    np.testing.assert_array_equal(bits, expected.numpy())
    np.testing.assert_array_equal(predicted, expected_pred.numpy())

    stats = load_activation_statistics(artifact_path(tmp_path / "run", ACTIVATIONS))
    assert list(stats) == ["fc1", "fc2"]
    assert stats["fc1"]["hoyer"].shape == (30,)
    assert stats["fc2"]["class_means"].shape == (10, 3)


def test_flags_off_write_nothing(tmp_path):
    _trainer(tmp_path, SaveArtifacts(tmp_path / "run"), epochs=1).fit(Classifier(), Data())
    assert not (tmp_path / "run").exists()


def test_resume_keeps_the_first_attempts_init_weights(tmp_path):
    run = tmp_path / "run"
    module = Classifier()
    trainer = _trainer(tmp_path, SaveArtifacts(run, weights=True), epochs=1)
    trainer.fit(module, datamodule=Data())
    checkpoint = tmp_path / "epoch1.ckpt"
    trainer.save_checkpoint(checkpoint)
    first_init = load_weights(artifact_path(run, WEIGHTS_INIT))

    resumed = Classifier()  # fresh init, replaced by the checkpoint's trained weights
    _trainer(tmp_path, SaveArtifacts(run, weights=True), epochs=2).fit(
        resumed, datamodule=Data(), ckpt_path=checkpoint)
    init = load_weights(artifact_path(run, WEIGHTS_INIT))
    assert all(torch.equal(init[k], first_init[k]) for k in init)
    final = load_weights(artifact_path(run, WEIGHTS_FINAL))
    assert all(torch.equal(final[k], v) for k, v in prunable_state(resumed.model).items())
