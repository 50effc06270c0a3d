"""Diverging training stops with TrainingDivergedError; every learnt method fits in smoke."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from structnoise import methods
from structnoise.methods import TrainingDivergedError

MESSAGE = (
    r"training diverged at step \d+ \((non-finite weights, )?loss \S+\): lower the learning rate"
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks run fastest (and steadiest on a shared CPU) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pair(n=2, size=64, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    clean = np.stack(
        [0.5 + 0.3 * np.sin(2 * np.pi * (yy * (1 + i) + xx)) for i in range(n)]
    ).astype(np.float32)
    return (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32), clean


def _fit(model, name, noisy, clean):
    if name in ("care", "hdn", "hdn36"):
        return model.fit(noisy, clean)
    return model.fit(noisy)


@pytest.mark.parametrize("name", ["dvlae-small", "hdn", "n2v", "sn2v", "care"])
def test_huge_learning_rate_raises(name):
    noisy, clean = _pair()
    model = methods.create(name, profile="smoke", seed=0, lr=1e30)
    with pytest.raises(TrainingDivergedError, match=MESSAGE) as info:
        _fit(model, name, noisy, clean)
    err = info.value
    assert err.method == name and str(err).startswith(f"{name}: ")
    assert err.what in ("loss", "weights")
    assert 1 <= err.step <= 4  # the first update already blows the weights up
    assert err.what == "weights" or not math.isfinite(err.loss)
    assert not model.fitted


def test_persistent_nonfinite_loss_raises_at_its_first_step(monkeypatch):
    """DVLAE skips a non-finite batch but stops when the loss stays non-finite."""
    from structnoise.methods.dvlae.network import DVLAENet

    original = DVLAENet.losses
    calls = []

    def poisoned(self, x):
        out = original(self, x)
        if torch.is_grad_enabled():  # training batches only
            calls.append(1)
            if len(calls) >= 2:
                return dataclasses.replace(out, nll=out.nll * math.nan)
        return out

    monkeypatch.setattr(DVLAENet, "losses", poisoned)
    model = methods.create("dvlae-small", profile="smoke", seed=0)
    with pytest.raises(TrainingDivergedError, match=MESSAGE) as info:
        model.fit(_pair()[0])
    assert (info.value.step, info.value.what) == (2, "loss")
    assert math.isnan(info.value.loss)
    assert len(calls) == 4  # three non-finite batches in a row are tolerated: 2, 3, 4


def test_isolated_nonfinite_batch_is_skipped(monkeypatch):
    """HDN skips one non-finite batch (no optimiser step) and trains on."""
    from structnoise.methods.hdn import training as hdn_training

    original = hdn_training.hdn_losses
    calls = []

    def poisoned(net, log_likelihood, x, free_bits):
        out = original(net, log_likelihood, x, free_bits)
        if torch.is_grad_enabled():
            calls.append(1)
            if len(calls) == 3:
                return dataclasses.replace(out, loss=out.loss * math.inf)
        return out

    monkeypatch.setattr(hdn_training, "hdn_losses", poisoned)
    noisy, clean = _pair()
    model = methods.create("hdn", profile="smoke", seed=0).fit(noisy, clean)
    assert model.train_summary["skipped_batches"] == 1
    assert model.train_summary["steps"] == len(calls) == 8
    assert all(torch.isfinite(p).all() for p in model.net.parameters())


def test_care_smoke_when_max_steps_ends_the_first_epoch():
    """More patches than 4 smoke steps: no validation runs before training ends."""
    noisy, clean = _pair(n=2, size=128)
    model = methods.create("care", profile="smoke", seed=0).fit(noisy, clean)
    assert model.train_summary["steps"] == 4
    assert model.train_summary["stopped_by"] == "max_steps"
    out = model.denoise(noisy[0])
    assert out.shape == (128, 128) and np.isfinite(out).all()


def test_divergence_guard_alone():
    from types import SimpleNamespace

    import lightning.pytorch as pl

    from structnoise.methods.lightning_utils import DivergenceChecks, DivergenceGuard

    assert issubclass(DivergenceGuard, DivergenceChecks)
    assert issubclass(DivergenceGuard, pl.Callback)
    module = torch.nn.Linear(2, 2)
    module.step_loss = 1.0
    trainer = SimpleNamespace(should_stop=False)
    guard = DivergenceGuard("m", patience=1, loss_of=lambda mod, out: mod.step_loss)
    guard.on_train_batch_end(trainer, module, None, None, 0)
    module.step_loss = math.nan
    guard.on_train_batch_end(trainer, module, None, None, 1)  # tolerated (patience 1)
    with pytest.raises(TrainingDivergedError, match=MESSAGE) as info:
        guard.on_train_batch_end(trainer, module, None, None, 2)
    assert trainer.should_stop and (info.value.step, info.value.what) == (2, "loss")
    with pytest.raises(TrainingDivergedError):
        guard.finish(module.state_dict().values())
    fresh = DivergenceGuard("m")
    with torch.no_grad():
        module.weight.fill_(math.inf)
    with pytest.raises(TrainingDivergedError, match="non-finite weights"):
        fresh.finish(module.state_dict().values())
