"""HDN / HDN_{3-6}: noise model, fit interface, the unconditional levels, prediction, storage."""

import json

import numpy as np
import pytest
import torch

from structnoise.methods import create, list_methods, load, method_info
from structnoise.methods.hdn import HDN, PROFILES
from structnoise.methods.hdn.noise import GMMNoiseModel
from structnoise.metrics import psnr_stack


def _clean(rng, n, size=64):
    """Smooth random images in [0, 1] (sums of Gaussian blobs)."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    out = np.zeros((n, size, size), np.float32)
    for i in range(n):
        for _ in range(6):
            cy, cx = rng.uniform(0, size, 2)
            w = rng.uniform(4, 12)
            out[i] += rng.uniform(0.3, 1.0) * np.exp(
                -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * w**2)
            )
    out -= out.min(axis=(1, 2), keepdims=True)
    out /= out.max(axis=(1, 2), keepdims=True)
    return out


def _noisy(rng, clean, *, white=0.05, gain=0.01, stripe=0.0):
    """Poisson-Gaussian noise plus optional noise correlated along rows."""
    x = gain * rng.poisson(clean / gain) + rng.normal(0, white, clean.shape)
    if stripe:
        raw = rng.normal(0, stripe, clean.shape)
        x += (raw + np.roll(raw, 1, -1) + np.roll(raw, -1, -1)) / 3
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    clean = _clean(rng, 6)
    return _noisy(rng, clean, stripe=0.05), clean


@pytest.fixture(scope="module")
def fitted(data):
    noisy, clean = data
    models = {}
    for name in ("hdn", "hdn36"):
        # a generous wall-clock limit: the step limit (8) must end training, on a busy machine too
        model = create(name, profile="smoke", seed=3, max_minutes=30)
        models[name] = model.fit(noisy[:4], clean[:4])
    return models


# ---------------------------------------------------------------------- registry
def test_registered_variants_and_info():
    assert list_methods("hdn*") == ["hdn", "hdn-large", "hdn36", "hdn36-large"]
    for name, z, uncond, paper in (
        ("hdn", 32, [], "HDN"),
        ("hdn36", 32, [0, 1], "HDN36"),
        ("hdn-large", 64, [], "HDN large"),
        ("hdn36-large", 64, [0, 1], "HDN36 large"),
    ):
        info = method_info(name)
        assert info.needs_clean and info.samples and info.learns and not info.uses_axis
        assert info.clean_use == "calibration" and info.extra_noisy
        assert info.paper_name == paper
        model = create(name, profile="smoke")
        assert model.z_dims == [z] * 6
        assert model.uncond_levels == uncond
        assert model.build_network().vae.uncond_levels == uncond
    # the paper profile is the HDN code's network: 64 filters, 5 blocks, ~7 M parameters
    n = create("hdn36", profile="paper").n_parameters()
    assert 5e6 < n < 9e6
    assert PROFILES["paper"].lr == 3e-4 and PROFILES["paper"].batch == 64


def test_bad_parameters_are_refused():
    with pytest.raises(TypeError, match="unknown HDN parameter"):
        create("hdn", profile="smoke", axis="horizontal")
    with pytest.raises(ValueError, match="n_samples"):
        create("hdn", n_samples=0)
    with pytest.raises(ValueError, match="min_sigma"):
        create("hdn", min_sigma=-1.0)
    with pytest.raises(ValueError, match="at least 3 levels"):
        create("hdn36", n_levels=2)


# ---------------------------------------------------------------------- HDN's network
#: Parameters of juglab/HDN's LadderVAE (6 levels, 64 filters, 5 blocks, 64x64 crops), counted
#: by instantiating the authors' code: 7,301,697 with 32 latent channels, 7,818,561 with 64.
HDN_CODE_PARAMETERS = {32: 7_301_697, 64: 7_818_561}
#: The one part not followed: the gate of the stem's residual block (1x1 conv, 64 -> 128).
STEM_GATE = 64 * 128 + 128


def test_paper_profile_is_hdn_codes_network():
    from structnoise.methods.vae.ladder import ResBlock

    for name, z in (("hdn", 32), ("hdn36", 32), ("hdn-large", 64)):
        model = create(name, profile="paper")
        assert model.n_parameters() == HDN_CODE_PARAMETERS[z] + STEM_GATE, name
    vae = create("hdn", profile="paper").build_network().vae
    assert isinstance(vae.top_down[0][0], torch.nn.ConvTranspose2d)
    assert sum(isinstance(m, ResBlock) for m in vae.final) == 5
    assert isinstance(vae.stem[1], torch.nn.ELU) and vae.stochastic[0].std_param == "exp"
    assert vae.stem[0].padding_mode == "zeros"
    # the other profiles keep the shared ladder (and the parameter counts they always had)
    assert create("hdn", profile="quick").n_parameters() == 277_233
    assert create("hdn", profile="smoke").n_parameters() == 103_161
    smoke = create("hdn", profile="smoke").build_network().vae
    assert isinstance(smoke.top_down[0][0], torch.nn.Upsample)


def test_hdn_network_options_build_and_run():
    from structnoise.methods.vae.ladder import LadderVAE

    c, z = 8, 4
    base = dict(n_filters=c, z_dims=[z] * 3)
    n0 = sum(p.numel() for p in LadderVAE(**base).parameters())
    hdn = dict(
        activation="elu",
        gate_activation="elu",
        upsample="transposed",
        std_param="exp",
        final_blocks=2,
        padding_mode="zeros",
    )
    vae = LadderVAE(**base, **hdn, uncond_levels=[0])
    block = 2 * (2 * c + 9 * c * c + c) + 2 * c * c + 2 * c  # one gated residual block
    # 3 transposed 3x3 convs instead of 3 1x1 convs, one more final block
    assert sum(p.numel() for p in vae.parameters()) == n0 + 3 * 8 * c * c + block
    torch.manual_seed(0)
    for size in ((64, 64), (37, 50)):
        x = torch.randn(2, 1, *size)
        out = vae(x)
        assert out.s_code.shape == (2, c, *size)
        padded = -(-size[1] // 8) * 8  # sides are padded to a multiple of 2**3
        assert [k.shape[-1] for k in out.kl] == [padded // 2**i for i in (1, 2, 3)]
        assert all(torch.isfinite(k).all() for k in out.kl) and float(out.kl[0].abs().sum()) == 0
        out.s_code.mean().backward()
    # std = exp(s / 2): the zero-initialised top prior is the standard normal
    assert vae.stochastic[-1]._normal(vae.top_prior)[1].eq(1.0).all()
    for key, bad in (("activation", "relu"), ("upsample", "bilinear"), ("std_param", "x")):
        with pytest.raises(ValueError, match=key):
            LadderVAE(**base, **{key: bad})
    with pytest.raises(ValueError, match="final_blocks"):
        LadderVAE(**base, final_blocks=0)


def test_hdn_options_fit_save_load(data, tmp_path):
    noisy, clean = data
    opts = dict(activation="elu", gate_activation="elu", upsample="transposed")
    model = create("hdn36", profile="smoke", seed=1, std_param="exp", final_blocks=2, **opts)
    model.fit(noisy[:3], clean[:3])
    assert isinstance(model.net.vae.top_down[0][0], torch.nn.ConvTranspose2d)
    model.save(tmp_path / "m")
    again = load(tmp_path / "m")
    np.testing.assert_array_equal(
        again.denoise(noisy[4], n_samples=2), model.denoise(noisy[4], n_samples=2)
    )


def test_paper_models_saved_before_the_options_load(data, fitted, tmp_path):
    """A paper-profile model saved before the options has the shared ladder's network."""
    noisy, _ = data
    model = fitted["hdn"]
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())
    # the smoke network's sizes under the paper profile, settings without the options
    meta["params"].update(profile="paper", n_filters=8, blocks_per_level=1, dropout=0.0)
    for key in ("activation", "gate_activation", "upsample", "std_param", "final_blocks"):
        del meta["extra"]["profile_settings"][key]
    del meta["extra"]["profile_settings"]["padding_mode"]
    (tmp_path / "m" / "method.json").write_text(json.dumps(meta))
    again = load(tmp_path / "m")
    assert again.profile == "paper"
    assert isinstance(again.net.vae.top_down[0][0], torch.nn.Upsample)
    np.testing.assert_array_equal(
        again.denoise(noisy[4], n_samples=2), model.denoise(noisy[4], n_samples=2)
    )


# ---------------------------------------------------------------------- noise model
def test_noise_model_learns_signal_dependent_noise_and_roundtrips(tmp_path):
    rng = np.random.default_rng(1)
    signal = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 64, 1))
    std = np.sqrt(0.0004 + 0.008 * signal)  # Poisson-Gaussian: variance linear in s
    obs = (signal + rng.normal(0, 1, signal.shape) * std).astype(np.float32)
    nm = GMMNoiseModel.fit(obs, signal, n_epochs=400, batch_size=5000, seed=0)
    # careamics clamps the variance at min_sigma; automatic: (0.1 * residual std)^2
    assert nm.meta["min_sigma_auto"]
    assert nm.meta["config"]["min_sigma"] == pytest.approx((0.1 * np.std(obs - signal)) ** 2)
    ll_all = nm.log_likelihood(torch.from_numpy(obs), torch.from_numpy(signal)).numpy()
    true_ll = -0.5 * np.log(2 * np.pi * std**2) - 0.5 * ((obs - signal) / std) ** 2
    sampled = nm.sample(signal, seed=2)
    for lo in (0.1, 0.8):
        sel = (signal > lo) & (signal < lo + 0.1)
        # as good as the true density, dark and bright
        assert ll_all[sel].mean() == pytest.approx(true_ll[sel].mean(), abs=0.02)
        # samples scatter like the data (robust spread: the fit may keep tiny wide tails)
        q75, q25 = np.percentile((sampled - signal)[sel], [75, 25])
        assert (q75 - q25) / 1.349 == pytest.approx(np.std((obs - signal)[sel]), rel=0.1)
    o, s = torch.from_numpy(obs[:2]), torch.from_numpy(signal[:2])
    ll = nm.log_likelihood(o, s)
    assert ll.mean() > nm.log_likelihood(o, s + 0.1).mean()  # the true signal explains best
    # the stable log density equals careamics' log(likelihood) where that is not floored ...
    careamics_ll = torch.log(nm.module.likelihood(o - nm.offset, s - nm.offset))
    assert torch.allclose(ll, careamics_ll, atol=1e-4)
    # ... and keeps a gradient far from the signal, where careamics' floor (1e-10) has none
    far = (s + 0.8).requires_grad_(True)
    nm.log_likelihood(o, far).sum().backward()
    assert bool((far.grad < 0).all())  # pulls the signal back towards the observations
    nm.save(tmp_path / "nm")
    again = GMMNoiseModel.load(tmp_path / "nm")
    assert torch.equal(again.log_likelihood(o, s), ll)
    # shifting the data shifts the model (careamics needs min_signal >= 0; we use an offset)
    fit = {"n_epochs": 100, "batch_size": 5000, "seed": 0}
    a = GMMNoiseModel.fit(obs[:2], signal[:2], **fit)
    b = GMMNoiseModel.fit(obs[:2] - 5, signal[:2] - 5, **fit)
    assert b.offset == -5
    assert torch.allclose(b.log_likelihood(o - 5, s - 5), a.log_likelihood(o, s), atol=1e-3)


def test_noise_model_refuses_bad_pairs():
    with pytest.raises(ValueError, match="must match"):
        GMMNoiseModel.fit(np.zeros((2, 8, 8)), np.zeros((2, 8, 9)))
    with pytest.raises(ValueError, match="constant"):
        GMMNoiseModel.fit(np.random.default_rng(0).random((8, 8)), np.ones((8, 8)))
    with pytest.raises(ValueError, match="no noise"):
        GMMNoiseModel.fit(np.arange(64.0).reshape(8, 8), np.arange(64.0).reshape(8, 8))


# ---------------------------------------------------------------------- fit interface
def test_fit_needs_exactly_one_noise_model_source(data):
    noisy, clean = data
    model = create("hdn", profile="smoke")
    with pytest.raises(ValueError, match="needs clean targets .or a pseudo ground truth"):
        model.fit(noisy)
    with pytest.raises(ValueError, match="exactly one of clean, signal"):
        model.fit(noisy, clean, signal=clean)
    with pytest.raises(ValueError, match="signal"):
        model.fit(noisy, signal=clean[:, :32])
    with pytest.raises(ValueError, match="noisy"):
        model.fit(noisy[:, :4], clean[:, :4])
    with pytest.raises(TypeError, match="GMMNoiseModel"):
        model.fit(noisy, noise_model=42)
    with pytest.raises(RuntimeError, match="fit"):
        model.denoise(noisy)


def test_signal_extra_noisy_and_saved_noise_model(data, fitted, tmp_path):
    noisy, clean = data
    # pseudo ground truth instead of clean; extra noisy images train the VAE only
    model = create("hdn36", profile="smoke", seed=1)
    model.fit(noisy[:2], signal=clean[:2], extra_noisy=noisy[2:5, :48, :56])
    assert model.train_summary["noise_model_source"] == "signal"
    assert model.train_summary["n_train_images"] == 5
    assert model.noise_model.meta["n_pairs"] == 2 * 64 * 64  # the pairs only
    # a noise model saved with another HDN is reused as is
    fitted["hdn"].save(tmp_path / "hdn")
    reuse = create("hdn", profile="smoke", seed=1).fit(noisy[:3], noise_model=tmp_path / "hdn")
    assert reuse.train_summary["noise_model_source"] == "given"
    o, s = torch.from_numpy(noisy[:1]), torch.from_numpy(clean[:1])
    assert torch.equal(
        reuse.noise_model.log_likelihood(o, s), fitted["hdn"].noise_model.log_likelihood(o, s)
    )


# ---------------------------------------------------------------------- HDN_{3-6}
def _decode(model, x, perturb, seed=7):
    """Signal of one posterior sample after replacing the bottom-up features of some levels."""
    net = model.net.eval()
    xt = torch.from_numpy(model.norm.apply(x))[None, None]
    gen = torch.Generator().manual_seed(99)
    with torch.no_grad():
        bu = net.vae.encode_bottom_up(xt)
        bu = [
            b + 3 * torch.randn(b.shape, generator=gen) if i in perturb else b
            for i, b in enumerate(bu)
        ]
        torch.manual_seed(seed)
        return net.decode(bu, xt.shape[-2:])


def test_hdn36_ignores_the_input_at_the_two_lowest_levels(data, fitted):
    noisy, _ = data
    x = noisy[4]
    hdn, hdn36 = fitted["hdn"], fitted["hdn36"]
    ref36 = _decode(hdn36, x, ())
    # the same higher latents (same seed) and arbitrary features at levels 0-1: same output
    assert torch.equal(_decode(hdn36, x, (0, 1)), ref36)
    # ... while the features of level 2 do matter, and HDN uses those of levels 0-1
    assert not torch.allclose(_decode(hdn36, x, (2,)), ref36, atol=1e-4)
    assert not torch.allclose(_decode(hdn, x, (0, 1)), _decode(hdn, x, ()), atol=1e-4)
    # posterior = prior there: exactly zero KL at levels 0-1, positive elsewhere
    xt = torch.from_numpy(hdn36.norm.apply(noisy[:2]))[:, None]
    with torch.no_grad():
        kl36 = hdn36.net.eval()(xt)[1].kl_per_level()
        kl = hdn.net.eval()(xt)[1].kl_per_level()
    assert kl36[0] == 0 and kl36[1] == 0 and bool((kl36[2:] > 0).all())
    assert bool((kl > 0).all())


# ---------------------------------------------------------------------- prediction
def test_denoise_modes_shapes_determinism(data, fitted):
    noisy, _ = data
    model = fitted["hdn36"]
    odd = noisy[5, :50, :70].astype(np.float64)  # 2-D, not a multiple of 64, float64
    out = model.denoise(odd, n_samples=3)
    assert out.shape == odd.shape and out.dtype == np.float32 and np.isfinite(out).all()
    assert np.array_equal(out, model.denoise(odd, n_samples=3))  # seeded
    other = create("hdn36", profile="smoke", seed=4).fit(noisy[:4], data[1][:4])
    assert not np.array_equal(other.denoise(odd, n_samples=3), out)
    # one MMSE sample is the sample mode; the MMSE average is smoother than a sample
    assert np.array_equal(model.denoise(odd, mode="sample"), model.denoise(odd, n_samples=1))
    hdn = fitted["hdn"]
    s1 = hdn.denoise(noisy[5], mode="sample")
    m8 = hdn.denoise(noisy[5], n_samples=8)
    m16 = hdn.denoise(noisy[5], n_samples=16)
    assert np.abs(m8 - m16).mean() < np.abs(s1 - m16).mean()
    mean = hdn.denoise(noisy[5], mode="mean")
    assert mean.shape == (64, 64) and np.isfinite(mean).all()
    # tiles: seams blended, shape kept; tiles below the network's multiple are refused
    tiled = hdn.denoise(np.tile(noisy[5], (2, 2)), tile=64, n_samples=2)
    assert tiled.shape == (128, 128) and np.isfinite(tiled).all()
    with pytest.raises(ValueError, match="tile size"):
        hdn.denoise(noisy[5], tile=32)
    with pytest.raises(ValueError, match="unknown mode"):
        hdn.denoise(noisy[5], mode="median")
    with pytest.raises(ValueError, match="n_samples"):
        hdn.denoise(noisy[5], n_samples=0)


def test_save_load_roundtrip_with_weights_only(data, fitted, tmp_path):
    noisy, _ = data
    model = fitted["hdn36"]
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())
    assert meta["method"] == "hdn36" and meta["extra"]["uncond_levels"] == [0, 1]
    for f in ("hdn_net.pt", "noise_model.pt"):
        assert isinstance(torch.load(tmp_path / "m" / f, weights_only=True), dict)
    again = load(tmp_path / "m")
    assert isinstance(again, HDN) and again.variant == "hdn36"
    # the training range is kept for denoise's out-of-range warning
    train = noisy[:4]
    assert meta["data_range"] == pytest.approx([float(train.min()), float(train.max())], rel=1e-6)
    assert again.data_range == pytest.approx(tuple(meta["data_range"]))
    assert np.array_equal(
        again.denoise(noisy[4], n_samples=2), model.denoise(noisy[4], n_samples=2)
    )


def test_hdn_improves_psnr_on_small_data():
    rng = np.random.default_rng(5)
    clean = _clean(rng, 8)
    noisy = _noisy(rng, clean, white=0.15, gain=0.02)
    kw = {"n_filters": 8, "max_steps": 40, "batch": 4, "lr": 5e-3, "anneal": True}
    model = create("hdn", profile="smoke", seed=0, max_minutes=10, **kw)
    model.fit(noisy, clean)
    assert model.train_summary["steps"] == 40
    before = psnr_stack(clean, noisy).mean()
    after = psnr_stack(clean, model.denoise(noisy, n_samples=8)).mean()
    assert after > before + 5.0, (before, after)  # about 15.6 -> 24-27 dB


def test_train_summary_is_the_shared_one(fitted):
    from structnoise.methods.summary import StopReason, TrainSummary

    s = fitted["hdn"].train_summary
    assert s["stopped_by"] == StopReason.MAX_STEPS and s["steps"] == 8
    assert s["minutes"] > 0 and s["noise_model_source"] == "clean"
    assert s["n_train_images"] == 4 and s["n_val_images"] == 0
    assert s["final"]["val_loss"] == fitted["hdn"].history[-1]["val_loss"]
    assert TrainSummary.from_dict(s).to_dict() == s


def test_models_saved_by_earlier_versions_load(data, fitted, tmp_path):
    """data_mean/data_std and a summary without minutes, as the previous version saved."""
    noisy, _ = data
    model = fitted["hdn"]
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())
    extra = meta["extra"]
    norm = extra.pop("norm")
    extra.update(data_mean=norm["mean"], data_std=norm["std"])
    extra["train"] = {"noise_model_source": "clean", "steps": 8, "train_seconds": 3.0}
    extra["train"]["stopped_by"] = "max_steps"
    meta["params"]["device"] = None  # earlier versions saved it
    (tmp_path / "m" / "method.json").write_text(json.dumps(meta))
    again = load(tmp_path / "m")
    assert again.norm == model.norm
    assert again.train_summary["minutes"] == 0.05 and again.train_summary["steps"] == 8
    np.testing.assert_array_equal(
        again.denoise(noisy[4], n_samples=2), model.denoise(noisy[4], n_samples=2)
    )


def test_validation_images_given(data):
    noisy, clean = data
    model = create("hdn", profile="smoke", seed=0, max_steps=4)
    model.fit(noisy[:3], clean[:3], val=(noisy[3:5], clean[3:5]))
    assert model.train_summary["n_val_images"] == 2 and model.train_summary["steps"] == 4
