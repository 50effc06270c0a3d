"""DVLAE's direct denoiser: network, loss, training beside the VAE, ``mode="direct"``."""

import json

import numpy as np
import pytest
import torch

from structnoise import methods
from structnoise.methods.dvlae.direct import DirectSpec, direct_loss, parse_loss
from structnoise.methods.dvlae.direct_net import DirectUNet


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _images(n=4, size=48, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    clean = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (yy + (i + 1) * xx)) for i in range(n)])
    rows = rng.normal(0, 0.05, (n, size, 1))  # row-correlated noise
    return (clean + rows + rng.normal(0, 0.03, clean.shape)).astype(np.float32)


def _fit(direct, **kw):
    model = methods.create(
        "dvlae-small",
        axis="horizontal",
        rf=4,
        profile="smoke",
        seed=3,
        direct=direct,
        max_steps=4,
        **kw,
    )
    model.fit(_images())
    return model


@pytest.fixture(scope="module")
def fitted_pair():
    return _fit(False), _fit(True)


def test_unet_keeps_any_size_and_compiles():
    net = DirectUNet(8, [True, False, True]).eval()
    x = torch.randn(2, 1, 23, 37)
    with torch.no_grad():
        y = net(x)
        scripted = torch.jit.script(net)
        assert y.shape == x.shape
        assert torch.allclose(scripted(x), y, atol=1e-6)
    assert net.multiple == 4
    with pytest.raises(ValueError, match="at least one level"):
        DirectUNet(8, [])


def test_loss_is_mse_or_mae_against_a_detached_target():
    pred = torch.tensor([0.0, 1.0, 3.0], requires_grad=True)
    target = torch.tensor([1.0, 1.0, 1.0], requires_grad=True)
    assert float(direct_loss(pred, target, "l2").detach()) == pytest.approx((1 + 0 + 4) / 3)
    loss = direct_loss(pred, target, "L1")
    assert float(loss.detach()) == pytest.approx((1 + 0 + 2) / 3)
    loss.backward()
    assert target.grad is None and pred.grad is not None
    with pytest.raises(ValueError, match="unknown direct_loss 'l3'.*l2, l1"):
        parse_loss("l3")


def test_sizes_follow_the_vae(fitted_pair):
    _, model = fitted_pair
    spec = model.direct_spec
    assert spec == DirectSpec(model.arch.n_filters, list(model.arch.downsample), "l2")
    wide = methods.create("dvlae-small", profile="smoke", direct=True, direct_filters=12)
    assert wide.direct_spec.n_filters == 12
    assert methods.create("dvlae-small", profile="smoke").direct_spec is None


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="direct must be true or false"):
        methods.create("dvlae-small", profile="smoke", direct="maybe")
    with pytest.raises(ValueError, match="unknown direct_loss"):
        methods.create("dvlae-small", profile="smoke", direct=True, direct_loss="l3")


def test_training_beside_the_vae_leaves_it_unchanged(fitted_pair):
    plain, with_direct = fitted_pair
    a, b = plain.net.state_dict(), with_direct.net.state_dict()
    direct_keys = [k for k in b if k.startswith("direct.")]
    assert direct_keys and not any(k.startswith("direct.") for k in a)
    for key, value in a.items():
        assert torch.equal(value, b[key]), key
    row = with_direct.history[-1]
    assert np.isfinite(row["train_direct"]) and np.isfinite(row["val_direct"])
    assert row["lr_direct"] > 0


def test_direct_mode_denoises_in_one_pass(fitted_pair):
    _, model = fitted_pair
    x = _images(2, 40, seed=5)
    out = model.denoise(x, mode="direct")
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()
    # the network's own output, denormalised: nothing else happens in direct mode
    norm = model.norm
    with torch.no_grad():
        ref = model.net.direct(torch.from_numpy(norm.apply(x))[:, None])[:, 0].numpy()
    np.testing.assert_allclose(out, norm.invert(ref), rtol=1e-5, atol=1e-5)
    # tiles are blended: a tiled prediction stays close to the whole-image one
    tiled = model.denoise(x, mode="direct", tile=24)
    assert np.abs(tiled - out).mean() < 0.2 * np.abs(out - x).mean() + 1e-3


def test_direct_mode_without_a_direct_denoiser_is_refused(fitted_pair):
    plain, _ = fitted_pair
    with pytest.raises(ValueError, match="no direct denoiser; train it with direct=True"):
        plain.denoise(_images(1), mode="direct")
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        plain.denoise(_images(1), mode="fast")


def test_saved_with_the_model(fitted_pair, tmp_path):
    _, model = fitted_pair
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())
    assert meta["extra"]["direct"]["loss"] == "l2" and meta["params"]["direct"] is True
    loaded = methods.load(tmp_path / "m")
    x = _images(1, 32, seed=7)
    np.testing.assert_array_equal(loaded.denoise(x, mode="direct"), model.denoise(x, mode="direct"))
    # a model saved before the direct denoiser existed (no "direct" entry) has none
    plain, _ = fitted_pair
    plain.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "method.json").read_text())
    del meta["extra"]["direct"]
    (tmp_path / "old" / "method.json").write_text(json.dumps(meta))
    assert methods.load(tmp_path / "old").direct_spec is None


def test_benchmark_runs_each_mode_from_one_fit(tmp_path):
    import tifffile
    from scipy import ndimage

    from structnoise.benchmark.runner import run

    x = _images(5, 32, seed=9)
    clean = ndimage.uniform_filter(x, (0, 5, 5))
    paths = {}
    for key, arr in (("train_noisy", x[:3]), ("test_noisy", x[3:]), ("test_clean", clean[3:])):
        paths[key] = str(tmp_path / f"{key}.tif")
        tifffile.imwrite(paths[key], arr)
    cfg = {
        "schema_version": 1,
        "profile": "smoke",
        "methods": ["dvlae-small[direct=true,max_steps=2,mode=mmse,direct]"],
        "datasets": [{"name": "tiny", "axis": "horizontal", **paths}],
        "seeds": [0],
        "out": str(tmp_path / "run"),
        "report": False,
    }
    table = run(cfg, progress=False).table
    table = table[table["metric"] == "psnr"]  # one row per cell
    assert sorted(table["label"]) == [
        "dvlae-small[direct=true,max_steps=2,mode=direct]",
        "dvlae-small[direct=true,max_steps=2,mode=mmse]",
    ]
    assert (table["status"] == "ok").all()
    recs = [
        json.loads((tmp_path / "run" / "cells" / f"{c}.json").read_text()) for c in table["cell_id"]
    ]
    by_mode = {r["denoise_options"]["mode"]: r for r in recs}
    assert by_mode["direct"]["method_kwargs"] == by_mode["mmse"]["method_kwargs"]
    assert "mode" not in by_mode["direct"]["method_kwargs"]
    assert by_mode["direct"]["cell_seed"] == by_mode["mmse"]["cell_seed"]
    assert [r.get("fit_shared", False) for r in recs].count(True) == 1
    assert by_mode["direct"]["metrics"]["psnr"] != by_mode["mmse"]["metrics"]["psnr"]
