"""DVLAE recipe options: the scaled residual initialisation and the learning-rate warm-up."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from structnoise import methods
from structnoise.methods.dvlae.method import scale_residual_init
from structnoise.methods.dvlae.profiles import SMOKE
from structnoise.methods.dvlae.training import DVLAEModule


def _net(**params):
    return methods.create("dvlae-small", profile="smoke", seed=0, **params).build_network()


def test_scaled_init_scales_last_layer_of_each_residual_block():
    plain, scaled = _net(), _net(res_init="scaled")
    blocks = [m for m in plain.vae.modules() if type(m).__name__ == "ResBlock"]
    assert blocks
    factor = 1 / np.sqrt(len(blocks))
    last = {id(b): [m for m in b.modules() if isinstance(m, torch.nn.Conv2d)][-1] for b in blocks}
    names_last = {
        n for n, m in plain.vae.named_modules() if id(m) in {id(v) for v in last.values()}
    }
    p_plain = dict(plain.vae.named_parameters())
    p_scaled = dict(scaled.vae.named_parameters())
    n_scaled = 0
    for name, w in p_plain.items():
        module = name.rsplit(".", 1)[0]
        if module in names_last and name.endswith("weight"):
            torch.testing.assert_close(p_scaled[name], w * factor)
            n_scaled += 1
        else:
            torch.testing.assert_close(p_scaled[name], w)
    assert n_scaled == len(blocks)
    # the AR decoder and the signal decoder are untouched
    for a, b in zip(plain.ar.parameters(), scaled.ar.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_scaled_init_rejects_unknown_value():
    with pytest.raises(ValueError, match="res_init"):
        _net(res_init="zeros")
    with pytest.raises(ValueError, match="res_init"):
        scale_residual_init(torch.nn.Identity(), "zeros")
    assert scale_residual_init(torch.nn.Identity(), "default") == 0


def test_lr_warmup_rises_linearly_then_stops():
    net = _net()
    prof = replace(SMOKE, lr=2e-3, lr_warmup_steps=10)
    module = DVLAEModule(net, prof)
    opt = torch.optim.Adamax(net.sd.parameters(), lr=prof.lr)
    module.n_batches = 3
    module.warm_up_lr([opt])
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.3)
    module.n_batches = 10
    module.warm_up_lr([opt])
    assert opt.param_groups[0]["lr"] == pytest.approx(2e-3)
    opt.param_groups[0]["lr"] = 1e-4  # e.g. a plateau reduction later on: left alone
    module.n_batches = 11
    module.warm_up_lr([opt])
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_lr_warmup_in_training_history():
    model = methods.create("dvlae-small", profile="smoke", seed=0, lr_warmup_steps=100, max_steps=6)
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(4, 32, 32)).astype(np.float32))
    # one epoch of 6 steps: the rate at its end is 6 / 100 of the profile's
    assert model.history[0]["lr"] == pytest.approx(2e-3 * 6 / 100)


@pytest.fixture(scope="module")
def fitted_direct(tmp_path_factory):
    """A smoke model with a direct denoiser, its images and its saved copy."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 32, 32)).astype(np.float32)
    model = methods.create("dvlae-small", profile="smoke", seed=0, direct=True, max_steps=4)
    model.fit(x)
    path = tmp_path_factory.mktemp("direct") / "m"
    model.save(path)
    return model, x, path


def test_denoise_uses_the_direct_denoiser_when_present(fitted_direct):
    model, x, path = fitted_direct
    default = model.denoise(x)
    np.testing.assert_array_equal(default, model.denoise(x, mode="direct"))
    # and not the MMSE of the same model
    assert not np.array_equal(default, model.denoise(x, mode="mmse", n_samples=2))
    loaded = methods.load(path)
    np.testing.assert_array_equal(loaded.denoise(x), default)
    # asking for samples asks for the MMSE (benchmark rows and --samples keep the paper's)
    np.testing.assert_array_equal(
        model.denoise(x, n_samples=2, seed=3), model.denoise(x, mode="mmse", n_samples=2, seed=3)
    )


def test_denoise_without_direct_stays_mmse():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 32, 32)).astype(np.float32)
    model = methods.create("dvlae-small", profile="smoke", seed=0, max_steps=2)
    model.fit(x)
    np.testing.assert_array_equal(
        model.denoise(x, n_samples=2, seed=3), model.denoise(x, mode="mmse", n_samples=2, seed=3)
    )
