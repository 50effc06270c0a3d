"""DVLAE: receptive field, sizes, training, inference, persistence, errors."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from structnoise import methods
from structnoise.methods.dvlae import DVLAE
from structnoise.methods.dvlae.ar_decoder import ARDecoder, ar_layout
from structnoise.methods.dvlae.network import Architecture, DVLAENet
from structnoise.methods.dvlae.profiles import PAPER, PRESETS, resolve_architecture
from structnoise.methods.summary import StopReason
from structnoise.methods.vae import Normalisation
from structnoise.methods.vae.network import count_parameters


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks run fastest (and steadiest on a shared CPU) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _stripes(n=4, size=64, seed=0, axis="horizontal"):
    """Smooth images plus noise blurred along ``axis`` (the paper's stripe recipe)."""
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    clean = np.stack(
        [0.5 + 0.3 * np.sin(2 * np.pi * (yy * (1 + i) + xx * (1.5 - i / 3))) for i in range(n)]
    )
    white = rng.normal(0, 0.08, clean.shape)
    corr = gaussian_filter1d(white, 1.0, axis=-1 if axis == "horizontal" else -2)
    noisy = clean + rng.normal(0, 0.02, clean.shape) + corr
    return noisy.astype(np.float32), clean.astype(np.float32)


def _receptive(ar, h=6, w=90, at=(3, 60)):
    """Pixels of x and s_code that the output at ``at`` depends on (gradients)."""
    torch.manual_seed(0)
    x = torch.randn(1, 1, h, w, requires_grad=True)
    s = torch.randn(1, ar.cond.in_channels, h, w, requires_grad=True)
    out = ar(x, s)
    out[0, :, at[0], at[1]].sum().backward()
    gx = x.grad[0, 0].abs() > 0
    gs = s.grad[0].abs().sum(0) > 0
    return gx.numpy(), gs.numpy()


@pytest.mark.parametrize("rf", [40, 6, 13])
def test_ar_receptive_field_is_rf_pixels_strictly_before_on_the_row(rf):
    ar = ARDecoder(8, rf=rf, axis="horizontal", n_filters=8)
    gx, gs = _receptive(ar, w=90, at=(3, 60))
    expected = np.zeros_like(gx)
    expected[3, 60 - rf : 60] = True
    np.testing.assert_array_equal(gx, expected)
    # the latent code is read on the same row only, never after the pixel
    rows, cols = np.nonzero(gs)
    assert set(rows.tolist()) == {3}
    assert cols.max() == 60 and cols.min() >= 60 - rf


def test_ar_vertical_is_the_transpose():
    ar = ARDecoder(8, rf=40, axis="vertical", n_filters=8)
    gx, gs = _receptive(ar, h=90, w=6, at=(60, 3))
    expected = np.zeros_like(gx)
    expected[20:60, 3] = True
    np.testing.assert_array_equal(gx, expected)
    assert set(np.nonzero(gs)[1].tolist()) == {3}
    # same weights, horizontal, on transposed inputs: transposed outputs
    hor = ARDecoder(8, rf=40, axis="horizontal", n_filters=8)
    hor.load_state_dict(ar.state_dict())
    x, s = torch.randn(2, 1, 30, 20), torch.randn(2, 8, 30, 20)
    torch.testing.assert_close(ar(x, s), hor(x.mT, s.mT).mT)


def test_ar_layout_paper_and_general():
    assert ar_layout(40) == [(5, 1), (5, 1), (5, 2), (5, 1), (5, 2), (5, 1), (5, 1), (5, 1)]
    for rf in (1, 6, 13, 40, 47, 120):
        assert sum((k - 1) * d for k, d in ar_layout(rf)) == rf
    with pytest.raises(ValueError, match="rf must be at least 1"):
        ar_layout(0)


def test_gmm_log_likelihood_matches_torch_distributions():
    ar = ARDecoder(4, rf=6, n_filters=8, n_gaussians=3)
    params = torch.randn(2, 9, 5, 7)
    x = torch.randn(2, 1, 5, 7)
    ours = ar.log_likelihood(x, params)
    log_w, loc, scale = ar.split_params(params)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=log_w[:, 0].movedim(1, -1)),
        torch.distributions.Normal(loc[:, 0].movedim(1, -1), scale[:, 0].movedim(1, -1)),
    )
    torch.testing.assert_close(ours[:, 0], mix.log_prob(x[:, 0]))
    # the floor keeps scales positive even for very negative raw values
    _, _, s = ar.split_params(torch.full((1, 9, 1, 1), -1e4))
    assert float(s.min()) >= ar.scale_floor


def test_windowed_sampling_evaluation_is_exact():
    """The sampler evaluates the decoder on the last rf+1 columns: same result."""
    ar = ARDecoder(8, rf=40, n_filters=8)
    x, s = torch.randn(1, 1, 3, 100), torch.randn(1, 8, 3, 100)
    full = ar.forward_rows(x, s)
    j = 77
    win = ar.forward_rows(x[..., j - 40 : j + 1], s[..., j - 40 : j + 1])
    torch.testing.assert_close(win[..., -1], full[..., j], rtol=1e-5, atol=1e-5)


def test_preset_parameter_counts_match_the_paper():
    small = count_parameters(DVLAENet(resolve_architecture("small", PAPER)))
    large = count_parameters(DVLAENet(resolve_architecture("large", PAPER)))
    assert (small, large) == (3_104_778, 25_941_386)  # the authors' code (tests/test_authors.py)
    # the registered presets build exactly these networks under the paper profile
    authors = {"gated_stem": False, "top_prior": "spatial", "prior_crop": 256}
    expected = replace(PRESETS["small"], shared_sd_middle=True, **authors)
    assert methods.create("dvlae-small", profile="paper").arch == expected
    assert methods.create("dvlae-large", profile="paper").arch.z_dims == [64] * 14


def test_registry_info():
    info = methods.method_info("dvlae-small")
    assert info.samples and info.uses_axis and not info.needs_clean
    assert info.paper_name == "Ours small"
    assert methods.method_info("dvlae-large").paper_name == "Ours large"
    assert info.budgets["paper"] is None and info.budgets["quick"] > 0
    m = methods.create("dvlae-small")
    assert m.get_params()["rf"] == 40 and m.get_params()["axis"] == "horizontal"
    assert m.get_params()["n_gaussians"] == 3 and m.get_params()["n_samples"] == 100


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    noisy, _ = _stripes(n=4, size=32)
    x = torch.from_numpy((noisy - noisy.mean()) / noisy.std())[:, None]
    net = DVLAENet(
        Architecture(
            n_filters=16, z_dims=[8, 8], downsample=[True, True], ar_filters=16, sd_filters=16, rf=6
        )
    )
    opt = torch.optim.Adamax(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        out = net.losses(x)
        loss = out.elbo + out.sd
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(out.elbo.detach()))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.05


@pytest.fixture(scope="module")
def fitted():
    noisy, clean = _stripes(n=4, size=64)
    model = methods.create("dvlae-small", profile="smoke", seed=3)
    model.fit(noisy)
    return model, noisy, clean


def test_fit_records_history_and_summary(fitted):
    model, _, _ = fitted
    assert model.train_summary["steps"] == 12
    assert model.train_summary["stopped_by"] == StopReason.MAX_STEPS == "max_steps"
    assert model.train_summary["minutes"] > 0 and model.train_summary["n_train_images"] == 4
    assert model.history and math.isfinite(model.history[-1]["val_elbo"])
    assert model.train_summary["final"]["val_elbo"] == model.history[-1]["val_elbo"]
    assert model.norm.std > 0


def test_save_load_round_trip_same_output(fitted, tmp_path):
    model, noisy, _ = fitted
    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "model.pt").is_file()
    state = torch.load(tmp_path / "m" / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loaded = methods.load(tmp_path / "m")
    assert isinstance(loaded, DVLAE) and loaded.norm == model.norm
    assert loaded.train_summary == model.train_summary and loaded.history == model.history
    for mode in ("mmse", "sample", "mean"):
        a = model.denoise(noisy[:2], mode=mode, n_samples=4)
        b = loaded.denoise(noisy[:2], mode=mode, n_samples=4)
        np.testing.assert_array_equal(a, b)


def test_modes_and_sample_statistics(fitted):
    model, noisy, _ = fitted
    one = model.denoise(noisy[:1], mode="mmse", n_samples=1)
    np.testing.assert_array_equal(one, model.denoise(noisy[:1], mode="sample"))
    s1 = model.denoise(noisy[:1], mode="sample", seed=1)
    s2 = model.denoise(noisy[:1], mode="sample", seed=2)
    assert not np.array_equal(s1, s2)
    mmse = model.denoise(noisy[:1], n_samples=16)
    mean = model.denoise(noisy[:1], mode="mean")
    for out in (mmse, mean):
        assert out.shape == (1, 64, 64) and out.dtype == np.float32
    # averaging samples removes sample-to-sample variation
    assert np.std(mmse - mean) < np.std(s1 - s2)


def test_tiled_and_untiled_agree_away_from_borders():
    """Tiling is a property of the network function: checked on a random network."""
    noisy, _ = _stripes(n=1, size=160)
    model = methods.create("dvlae-small", profile="smoke", seed=0, n_filters=16, n_levels=3)
    model.net = model.build_network()
    with torch.no_grad():  # a random network whose output varies visibly with the input
        model.net.sd.net[-1].weight.mul_(1e3)
    model.norm, model.fitted = Normalisation(float(noisy.mean()), float(noisy.std())), True
    whole = model.denoise(noisy, mode="mean", tile=160, precision="32")
    tiled = model.denoise(noisy, mode="mean", tile=96, precision="32")
    assert whole.std() > 1e-2  # the network's output follows the input
    inner = (slice(None), slice(32, 128), slice(32, 128))
    diff = np.abs(whole - tiled)[inner]
    assert diff.mean() < 0.03 * whole.std(), (diff.mean(), whole.std())
    # no seam: even the worst 1 % of pixels are close
    assert np.percentile(diff, 99) < 0.25 * whole.std()


def test_sample_noisy_draws_new_noise(fitted):
    model, noisy, _ = fitted
    a = model.sample_noisy(noisy[0], seed=1)
    b = model.sample_noisy(noisy[0], seed=1)
    c = model.sample_noisy(noisy[0], seed=2)
    assert a.shape == noisy[0].shape and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.allclose(a, noisy[0])
    assert model.sample_noisy(noisy[:2]).shape == (2, 64, 64)


def test_vertical_axis_fits_and_samples():
    noisy, _ = _stripes(n=4, size=64, axis="vertical")
    model = methods.create("dvlae-small", profile="smoke", axis="vertical", rf=10, max_steps=3)
    model.fit(noisy)
    assert model.net.ar.axis == "vertical" and model.net.ar.rf == 10
    assert model.sample_noisy(noisy[0]).shape == (64, 64)


def test_time_budget_stops_cleanly():
    noisy, _ = _stripes(n=4, size=64)
    model = methods.create("dvlae-small", profile="smoke", max_minutes=0.002, max_steps=10_000)
    model.fit(noisy)
    assert model.train_summary["stopped_by"] == StopReason.TIME_BUDGET
    assert 1 <= model.train_summary["steps"] < 10_000
    assert np.isfinite(model.denoise(noisy[:1], n_samples=2)).all()


def test_fit_is_deterministic_on_cpu():
    noisy, _ = _stripes(n=4, size=64)
    outs = []
    for _ in range(2):
        model = methods.create("dvlae-small", profile="smoke", seed=11, max_steps=5)
        model.fit(noisy)
        outs.append(model.denoise(noisy[:1], mode="mean"))
    np.testing.assert_array_equal(*outs)


@pytest.mark.parametrize(
    ("arr", "match"),
    [
        (np.zeros(64, np.float32), "1-D"),
        (np.zeros((1, 2, 64, 64), np.float32), "4-D"),
        (np.full((2, 64, 64), np.nan, np.float32), "NaN"),
        (np.zeros((2, 8, 8), np.float32), "smaller than the minimum 16x16"),
    ],
)
def test_bad_input_gives_clear_errors(fitted, arr, match):
    model, _, _ = fitted
    with pytest.raises(ValueError, match=match):
        methods.create("dvlae-small", profile="smoke").fit(arr)
    with pytest.raises(ValueError, match=match):
        model.denoise(arr)
    with pytest.raises(ValueError, match=match):
        model.sample_noisy(arr)


def test_bad_parameters_give_clear_errors(fitted):
    model, noisy, _ = fitted
    with pytest.raises(ValueError, match="unknown axis 'diagonal'"):
        methods.create("dvlae-small", axis="diagonal")
    with pytest.raises(ValueError, match="rf must be at least 1"):
        methods.create("dvlae-small", rf=0)
    with pytest.raises(ValueError, match="rf must be a number of pixels or 'auto'"):
        methods.create("dvlae-small", rf="long")
    with pytest.raises(TypeError, match="unknown DVLAE parameter"):
        methods.create("dvlae-small", n_filterz=3)
    with pytest.raises(ValueError, match="unknown profile"):
        methods.create("dvlae-small", profile="fast")
    with pytest.raises(ValueError, match="unknown mode"):
        model.denoise(noisy[:1], mode="median")
    with pytest.raises(ValueError, match="n_samples must be at least 1"):
        model.denoise(noisy[:1], n_samples=0)
    with pytest.raises(ValueError, match="constant"):
        methods.create("dvlae-small", profile="smoke").fit(np.ones((2, 32, 32)))
    with pytest.raises(RuntimeError, match="call fit"):
        methods.create("dvlae-small", profile="smoke").denoise(noisy)


def test_thread_tuner_keeps_the_faster_setting(monkeypatch):
    from structnoise.methods.vae import device

    before = torch.get_num_threads()
    clock = {"t": 0.0}
    monkeypatch.setattr(device.time, "perf_counter", lambda: clock["t"])
    tuner = device.ThreadTuner(2, probe=3, every=10)
    try:
        cost = {2: 1.0, 1: 0.25}  # a busy machine: one thread is faster
        for _ in range(40):
            tuner.start_step()
            clock["t"] += cost[torch.get_num_threads()]
            tuner.end_step()
        assert tuner.best == 1
        assert tuner.steps_at[1] > tuner.steps_at[2]
        cost.update({2: 0.1})  # the machine became idle: two threads win again
        for _ in range(40):
            tuner.start_step()
            clock["t"] += cost[torch.get_num_threads()]
            tuner.end_step()
        assert tuner.best == 2
    finally:
        tuner.restore()
    assert torch.get_num_threads() == 1  # the fixture's setting is restored
    torch.set_num_threads(before)


def test_bfloat16_prediction_is_close_to_float32(fitted):
    model, noisy, _ = fitted
    a = model.denoise(noisy[:1], mode="mean", precision="32")
    b = model.denoise(noisy[:1], mode="mean", precision="bf16")
    assert b.dtype == np.float32
    # relative error of bfloat16 arithmetic: well below the noise of any real image
    assert np.abs(a - b).max() < 0.02 * (np.abs(a).max() + 1e-6) + 0.01 * noisy.std()


def test_signal_decoder_finishing_phase_and_weight_average():
    noisy, _ = _stripes(n=4, size=64)
    model = methods.create(
        "dvlae-small", profile="smoke", max_steps=12, sd_finish=0.5, ema_decay=0.9
    )
    frozen = {}

    def snap(m, info):  # the encoder at the start of the finishing phase
        frozen.update({k: v.clone() for k, v in m.net.vae.state_dict().items()})

    model.snapshot_hook = ([7], snap, "steps")
    model.fit(noisy)
    assert model.train_summary["signal_decoder_only_from_step"] == 6
    # the encoder did not change while the signal decoder trained alone
    for k, v in model.net.vae.state_dict().items():
        torch.testing.assert_close(v, frozen[k])
    assert all(p.requires_grad for p in model.net.parameters())
    assert np.isfinite(model.denoise(noisy[:1], n_samples=2)).all()


def test_auto_rf_follows_the_noise_correlation_length():
    """Stripe noise (a sigma-1 blur) gives a short field, a non-decaying pattern the max."""
    from structnoise.methods.dvlae import auto_rf

    rng = np.random.default_rng(0)
    flat = np.full((8, 96, 96), 0.5)
    stripes = flat + gaussian_blur_rows(rng.normal(0, 0.05, flat.shape))
    rf = auto_rf(stripes, "horizontal")
    assert 2 <= rf <= 12
    # the same noise seen across its axis is uncorrelated: the smallest field
    assert auto_rf(stripes, "vertical") == 2
    assert auto_rf(np.swapaxes(stripes, 1, 2), "vertical") == rf
    # a column pattern that never decays along the column (checkerboard-like)
    pattern = np.tile(np.repeat([0.1, 0.1, -0.1, -0.1], 24), (8, 96, 1))
    cols = flat + pattern + rng.normal(0, 0.02, flat.shape)
    assert auto_rf(cols, "vertical") == 40
    assert auto_rf(cols, "vertical", max_rf=25) == 25


def test_auto_rf_is_resolved_at_fit_and_saved(tmp_path):
    noisy, _ = _stripes(n=3, size=48)
    model = methods.create("dvlae-small", profile="smoke", rf="auto", max_steps=2)
    assert model.get_params()["rf"] == "auto"
    model.fit(noisy)
    expected = __import__("structnoise.methods.dvlae", fromlist=["auto_rf"]).auto_rf(noisy)
    assert model.net.ar.rf == model.arch.rf == expected == model.train_summary["rf"]
    model.save(tmp_path / "m")
    again = methods.load(tmp_path / "m")
    assert again.arch.rf == expected
    np.testing.assert_allclose(
        again.denoise(noisy, mode="mean"), model.denoise(noisy, mode="mean"), atol=1e-5
    )


def test_profile_default_rf():
    assert methods.create("dvlae-small", profile="paper").arch.rf == 40
    assert methods.create("dvlae-small", profile="quick").get_params()["rf"] == 40
    assert methods.create("dvlae-small", rf=6).arch.rf == 6


def gaussian_blur_rows(a):
    """Blur along rows with a Gaussian of sigma 1 (the stripe recipe)."""
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(a, 1.0, axis=-1)


def test_models_saved_by_earlier_versions_load(fitted, tmp_path):
    """``mean``/``std`` and the old stop reason spelling, as the previous version saved."""
    import json

    model, noisy, _ = fitted
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())
    norm = meta["extra"].pop("norm")
    meta["extra"].update(mean=norm["mean"], std=norm["std"])
    meta["extra"]["train"]["stopped_by"] = "time budget"
    (tmp_path / "m" / "method.json").write_text(json.dumps(meta))
    again = methods.load(tmp_path / "m")
    assert again.norm == model.norm
    assert again.train_summary["stopped_by"] == StopReason.TIME_BUDGET
    a = again.denoise(noisy[:1], n_samples=2, precision="32")
    np.testing.assert_array_equal(a, model.denoise(noisy[:1], n_samples=2, precision="32"))


def test_a_model_without_its_weights_is_incomplete(fitted, tmp_path):
    model, _, _ = fitted
    model.save(tmp_path / "m")
    (tmp_path / "m" / "model.pt").unlink()
    with pytest.raises(FileNotFoundError, match="incomplete"):
        methods.load(tmp_path / "m")


def test_importing_the_methods_does_not_import_lightning():
    import subprocess
    import sys

    code = (
        "import sys; from structnoise import methods; methods.list_methods(); "
        "m = methods.create('dvlae-small', profile='smoke'); m.build_network(); "
        "methods.create('hdn36', profile='smoke').build_network(); "
        "print('lightning' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_random_crops_and_validation_split_alone():
    from structnoise.methods.vae import RandomCrops, split_validation
    from structnoise.methods.vae.data import epoch_length

    images = [torch.arange(48 * 40, dtype=torch.float32).reshape(1, 48, 40)] * 3
    a = RandomCrops(images, 32, batch=4, length=2, seed=1)
    b = RandomCrops(images, 32, batch=4, length=2, seed=1)
    assert (a.ch, a.cw) == (32, 32) and len(a) == 2
    torch.testing.assert_close(a[0], b[0])
    assert a[0].shape == (4, 1, 32, 32)
    assert epoch_length(a, None, None) == 1  # one crop per image, 3 < a batch: one step
    assert epoch_length(RandomCrops(images, 16, 2, 1, 0), None, None) == 3 * 7 // 2
    assert epoch_length(a, 9, None) == 9 and epoch_length(a, 9, 5) == 5
    mixed = [images[0], torch.zeros(1, 20, 64)]
    c = RandomCrops(mixed, 32, batch=3, length=1, seed=0, by_area=True, augment=True)
    assert c.draw(5).shape == (5, 1, 20, 20)
    stack = np.zeros((10, 8, 8))
    train, val, held_out = split_validation(stack, None, 0.2, seed=0)
    assert held_out and len(train) == 8 and len(val) == 2
    assert split_validation(stack, None, 0.0, seed=0)[2] is False


def test_budget_callback_alone():
    import time
    from types import SimpleNamespace

    from structnoise.methods.vae.callbacks import Budget, Snapshots

    calls = []
    snaps = Snapshots([2], lambda steps, seconds, mark: calls.append((steps, mark)), by_steps=True)
    budget = Budget(max_steps=3, max_seconds=None, t0=time.monotonic(), snapshots=snaps)
    module = SimpleNamespace(
        n_batches=0, last_train={}, training=True, averaged_weights=lambda: None
    )
    module.eval = lambda: None
    module.train = lambda flag=True: None
    trainer = SimpleNamespace(should_stop=False)
    for step in range(1, 4):
        module.n_batches = step
        budget.on_train_batch_end(trainer, module, None, None, step - 1)
        assert trainer.should_stop == (step == 3)
    assert budget.stopped_by == StopReason.MAX_STEPS and calls == [(2, 2)]
    assert budget.fraction(3) == 1.0
    budget.close()


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_budget_learning_rate_schedules(schedule):
    noisy, _ = _stripes(n=4, size=64)
    model = methods.create("dvlae-small", profile="smoke", lr_schedule=schedule, max_steps=12)
    model.fit(noisy)
    lrs = [row["lr"] for row in model.history]
    assert lrs[-1] < lrs[0] < 2e-3
    with pytest.raises(ValueError, match="unknown lr_schedule 'steep'"):
        methods.create("dvlae-small", profile="smoke", lr_schedule="steep").fit(noisy)
