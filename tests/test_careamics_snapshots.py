"""``snapshot_hook`` of the careamics methods: marks during training, as for the VAEs."""

import numpy as np
import pytest
import torch

from structnoise import methods


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:48, 0:48] / 48
    clean = np.stack(
        [0.5 + 0.3 * np.sin(2 * np.pi * (yy * (1 + i) + xx * (2 - i))) for i in range(3)]
    ).astype(np.float32)
    return (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32), clean


def _fit(name, data, hook=None):
    noisy, clean = data
    model = methods.create(name, profile="smoke", seed=11, device="cpu")
    model.snapshot_hook = hook
    model.fit(noisy, clean if methods.method_info(name).needs_clean else None)
    return model


def _weights(model):
    return {k: v.detach().clone() for k, v in model.net.state_dict().items()}


@pytest.mark.parametrize(("name", "compare"), [("n2v", True), ("sn2v", False), ("care", False)])
def test_snapshot_marks_during_careamics_training(name, compare, tiny):
    noisy, _ = tiny
    calls = []

    def snap(method, info):
        assert method.net.training is False  # evaluation mode, as denoise after fit
        calls.append({**info, "out": method.denoise(noisy), "fitted": method.fitted})

    hooked = _fit(name, tiny, ([4, 2], snap, "steps"))  # marks in any order
    assert [c["steps"] for c in calls] == [2, 4] and [c["mark"] for c in calls] == [2, 4]
    assert all(c["fitted"] for c in calls) and all(c["minutes"] >= 0 for c in calls)
    assert hooked.train_summary["steps"] == 4
    # the last mark is the end of training: its output is what denoise gives after fit
    np.testing.assert_allclose(calls[-1]["out"], hooked.denoise(noisy), rtol=1e-5, atol=1e-6)
    # an earlier mark saw other weights
    assert np.abs(calls[0]["out"] - calls[1]["out"]).max() > 1e-6
    if not compare:  # one Lightning loop for all three: compared once (seconds saved)
        return
    # training is unaffected by the hook: same final weights as without it
    plain = _fit(name, tiny)
    for key, value in _weights(plain).items():
        torch.testing.assert_close(_weights(hooked)[key], value)


def test_snapshots_declared():
    for name in methods.list_methods():
        info = methods.method_info(name)
        expected = name in {"n2v", "sn2v", "care"} or name.startswith(("dvlae", "hdn"))
        assert info.snapshots is expected, name


def test_hook_time_is_not_charged_to_the_time_budget():
    """The hook's seconds come off Lightning's max_time timer."""
    from types import SimpleNamespace

    from lightning.pytorch.callbacks import Timer

    from structnoise.methods.unet.snapshots import _credit_timer

    timer = Timer(duration={"seconds": 60})
    timer.on_train_start(None, None)
    before = timer.time_elapsed()
    _credit_timer(SimpleNamespace(callbacks=[object(), timer]), 30.0)
    assert timer.time_elapsed() == pytest.approx(before - 30.0, abs=1.0)
    assert timer.time_remaining() > 85.0
