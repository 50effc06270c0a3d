"""sn2v, n2v and care through careamics: masks, refusals, files, quietness, learning."""

import numpy as np
import pytest
import torch

from structnoise import methods
from structnoise.datasets.checkerboard_noise import checkerboard
from structnoise.datasets.noise_stats import propose_span
from structnoise.datasets.synthetic import structured_noise
from structnoise.methods.unet import PROFILES
from structnoise.metrics import psnr


def _smooth_stack(n=8, size=64):
    yy, xx = np.mgrid[0:size, 0:size] / size
    return np.stack(
        [0.5 + 0.3 * np.sin(2 * np.pi * (yy * (1 + i % 3) + xx * (1 + i // 3))) for i in range(n)]
    ).astype(np.float32)


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(5)
    clean = _smooth_stack(4)
    return (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32), clean


def _mask_pixels(n2v_config: dict, size=32, seed=0):
    """What the model's N2V manipulation changes on a random patch: (changed, centres)."""
    from careamics.config.algorithms.n2v_manipulation import N2VManipulateConfig

    from structnoise.methods.unet.struct_mask import StructMaskManipulate

    struct = dict(n2v_config.get("struct_mask") or {})
    span = struct.get("span", 0)
    if span > 15:  # beyond careamics' validator: build with 15, then set as the model does
        n2v_config = {**n2v_config, "struct_mask": {**struct, "span": 15}}
    config = N2VManipulateConfig(**n2v_config)
    if span > 15:
        config.struct_mask.span = span
    manip = StructMaskManipulate(config)
    patch = torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(seed)) + 5
    masked, _, centres = manip(patch.clone())
    changed = (masked != patch)[0, 0].numpy()
    centres = centres[0, 0].numpy().astype(bool)
    # struct-masked pixels hold zero-mean values in [-2, 2] (normalised units), as in the
    # structN2V authors' code; blind spots hold a neighbour's value (about 5 here)
    values = masked[0, 0].numpy()[changed & ~centres]
    assert values.size and np.all(np.abs(values) <= 2)
    return changed, centres


def test_care_refuses_without_clean(tiny):
    noisy, _ = tiny
    model = methods.create("care", profile="smoke")
    with pytest.raises(ValueError, match="care is supervised and needs clean targets"):
        model.fit(noisy)
    with pytest.raises(ValueError, match="needs clean targets"):
        model.fit(noisy, None)


@pytest.mark.parametrize("axis", ["horizontal", "vertical"])
def test_sn2v_mask_follows_axis(tiny, axis):
    noisy, _ = tiny
    model = methods.create("sn2v", profile="smoke", axis=axis, span=9, seed=1)
    model.fit(noisy)
    n2v_cfg = model.careamics_config["algorithm_config"]["n2v_config"]
    assert n2v_cfg["struct_mask"] == {"axes": axis, "span": 9}
    assert model.careamics_config["data_config"]["augmentations"][0]["flip_y"] is False
    # what careamics really masks with this configuration: a line of 9 along the axis
    changed, centres = _mask_pixels(n2v_cfg)
    allowed = np.zeros_like(changed)
    for y, x in zip(*np.nonzero(centres), strict=True):
        if axis == "horizontal":
            line = (y, slice(max(0, x - 4), x + 5))
        else:
            line = (slice(max(0, y - 4), y + 5), x)
        assert changed[line].all()
        allowed[line] = True
    assert centres.any() and not (changed & ~allowed).any()


def test_sn2v_full_span_masks_whole_columns(tiny):
    noisy, _ = tiny
    model = methods.create("sn2v", profile="smoke", axis="vertical", span="full")
    model.fit(noisy)
    patch = PROFILES["smoke"].patch
    n2v_cfg = model.careamics_config["algorithm_config"]["n2v_config"]
    assert n2v_cfg["struct_mask"]["span"] == 2 * patch - 1
    # careamics validates span <= 15 at creation; the model sets the whole line past that
    changed, centres = _mask_pixels(n2v_cfg, size=patch)
    cols = np.nonzero(centres.any(axis=0))[0]
    assert cols.size and changed[:, cols].all()  # whole columns
    assert changed.sum() <= cols.size * patch + centres.sum()


def test_sn2v_parameter_errors():
    with pytest.raises(ValueError, match="rotates patches"):
        methods.create("sn2v", augment="all")
    with pytest.raises(ValueError, match="span must be odd"):
        methods.create("sn2v", span=8)
    with pytest.raises(ValueError, match="use span='full'"):
        methods.create("sn2v", span=17)
    with pytest.raises(ValueError, match="unknown axis"):
        methods.create("sn2v", axis="diagonal")
    with pytest.raises(TypeError, match="unknown parameter"):
        methods.create("n2v", spam=1)
    with pytest.raises(ValueError, match="power of two"):
        methods.create("care", patch=48)


def test_propose_span_on_synthetic_noise():
    rng = np.random.default_rng(3)
    flat = np.full((8, 96, 96), 0.5)
    rows = structured_noise(
        flat, 0, axis="horizontal", correlation_length=2.0, read_std=0.01, correlated_std=0.05
    )
    span_blind = propose_span(rows, "horizontal")
    span_clean = propose_span(rows, "horizontal", clean=flat)
    # rho of a Gaussian blur of sigma 2 is exp(-k^2/16): 10 % of its peak near lag 6
    for span in (span_blind, span_clean):
        assert isinstance(span, int) and span % 2 == 1 and 9 <= span <= 15
    assert propose_span(rows, "vertical") == 1
    assert propose_span(rng.normal(size=(8, 96, 96)), "horizontal") == 1
    # a periodic pattern along columns never decays: a whole-column mask
    checker = checkerboard(np.full((4, 96, 96), 128.0), rng=0)
    assert propose_span(checker, "vertical") == "full"


def test_sn2v_without_span_uses_proposal(tiny):
    rng = np.random.default_rng(4)
    clean = _smooth_stack(4)
    noisy = structured_noise(
        clean, rng, axis="vertical", correlation_length=1.5, read_std=0.01, correlated_std=0.1
    )
    model = methods.create("sn2v", profile="smoke", axis="vertical")
    model.fit(noisy)
    assert model.span_used == propose_span(noisy, "vertical")
    assert model.span_used != 1
    struct = model.careamics_config["algorithm_config"]["n2v_config"]["struct_mask"]
    assert struct["axes"] == "vertical"


def test_no_stray_files_and_quiet(tiny, tmp_path, capfd):
    noisy, clean = tiny
    cwd_before = sorted(p.name for p in tmp_path.iterdir())
    state = np.random.get_state()  # noqa: NPY002 - the legacy global state careamics seeds
    capfd.readouterr()
    model = methods.create("care", profile="smoke", seed=3)
    model.fit(noisy, clean)
    model.denoise(noisy)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == cwd_before  # cwd is tmp_path
    for name in ("checkpoints", "csv_logs", "lightning_logs"):
        assert not (tmp_path / name).exists()
    # careamics seeds the global generators; the method restores them
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == state[0] and np.array_equal(after[1], state[1])
    # with a work_dir careamics' logs go there and only there
    work = tmp_path / "run"
    methods.create("n2v", profile="smoke", work_dir=str(work)).fit(noisy)
    assert (work / "csv_logs").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*cwd_before, "run"])


def test_different_seeds_differ(tiny):
    noisy, _ = tiny
    a = methods.create("n2v", profile="smoke", seed=1).fit(noisy).denoise(noisy[:1])
    b = methods.create("n2v", profile="smoke", seed=2).fit(noisy).denoise(noisy[:1])
    assert not np.array_equal(a, b)


def test_any_image_size_and_tiling(tiny):
    noisy, _ = tiny
    model = methods.create("n2v", profile="smoke").fit(noisy)
    odd = np.random.default_rng(0).normal(0.5, 0.1, (70, 53)).astype(np.float32)
    whole = model.denoise(odd)
    tiled = model.denoise(odd, tile=32, tile_overlap=8)
    assert whole.shape == odd.shape == tiled.shape
    assert np.isfinite(tiled).all()
    # seams only where tiles meet the network's receptive field: small against the noise
    assert np.abs(tiled - whole).mean() < 0.01 * odd.std()


def test_learnt_baselines_improve_psnr():
    """Tiny trainings: CARE (supervised) and N2V (white noise) beat the noisy input."""
    rng = np.random.default_rng(11)
    clean = _smooth_stack(8)
    noisy = (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)
    before = np.mean([psnr(c, x) for c, x in zip(clean, noisy, strict=True)])
    settings = {"profile": "smoke", "seed": 0, "max_steps": 40, "batch": 8, "n_filters": 16}
    settings["max_minutes"] = 30.0  # step-bound even on a loaded machine
    care = methods.create("care", **settings).fit(noisy, clean).denoise(noisy)
    n2v = methods.create("n2v", **settings).fit(noisy).denoise(noisy)
    for out in (care, n2v):
        after = np.mean([psnr(c, y) for c, y in zip(clean, out, strict=True)])
        assert after > before + 1.0


@pytest.mark.parametrize(
    ("method", "extra"),
    [("n2v", ["--profile", "smoke"]), ("gaussian", ["--set", "sigma=1.5"])],
)
def test_train_and_denoise_through_cli(tiny, tmp_path, method, extra):
    from typer.testing import CliRunner

    from structnoise.cli import app
    from structnoise.io import read_stack, write_tiff

    noisy, _ = tiny
    write_tiff(tmp_path / "noisy.tif", noisy)
    before = sorted(p.name for p in tmp_path.iterdir())
    runner = CliRunner()
    args = ["train", method, "noisy.tif", "--out", "model", "--no-progress", *extra]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model" / "method.json").is_file()
    result = runner.invoke(app, ["denoise", "model", "noisy.tif", "out.tif", "--no-progress"])
    assert result.exit_code == 0, result.output
    out = read_stack(tmp_path / "out.tif")
    assert out.shape == noisy.shape and out.dtype == np.float32
    expected = methods.load(tmp_path / "model").denoise(noisy)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "model", "out.tif"])
    if method == "n2v":  # careamics methods take --tile
        result = runner.invoke(
            app, ["denoise", "model", "noisy.tif", "t.tif", "--tile", "32", "--no-progress"]
        )
        assert result.exit_code == 0, result.output


def test_train_summary_and_older_saved_summary(tiny, tmp_path):
    import json

    from structnoise.methods.summary import StopReason, TrainSummary

    noisy, _ = tiny
    model = methods.create("n2v", profile="smoke", seed=0).fit(noisy)
    summary = TrainSummary.from_dict(model.train_summary)
    assert summary.steps == 4 and summary.stopped_by is StopReason.MAX_STEPS
    assert set(summary.final) == {"train_loss", "val_loss"}
    assert summary.extra["patch"] == PROFILES["smoke"].patch
    # the time budget, not the steps, ends this one
    timed = methods.create("n2v", profile="smoke", max_steps=10**6, max_minutes=1e-3)
    timed.fit(noisy)
    assert timed.train_summary["stopped_by"] == StopReason.TIME_BUDGET
    assert timed.train_summary["steps"] < 10**6
    # a model saved by an earlier version, with its summary layout, loads and converts
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "method.json").read_text())
    meta["extra"]["train_summary"] = {
        "steps": 4,
        "epochs": 2,
        "patch": 32,
        "seconds": 0.4,
        "minutes": 0.007,
        "stopped_by": "max_minutes",
    }
    (tmp_path / "m" / "method.json").write_text(json.dumps(meta))
    loaded = methods.load(tmp_path / "m")
    assert loaded.train_summary["stopped_by"] == "time_budget"
    assert loaded.train_summary["epochs"] == 2 and loaded.train_summary["final"] == {}
    np.testing.assert_array_equal(loaded.denoise(noisy[:1]), model.denoise(noisy[:1]))


def test_care_declares_clean_targets():
    info = methods.create("care").info
    assert info.needs_clean and info.clean_use == "target"
    for name in ("n2v", "sn2v"):
        assert methods.create(name).info.clean_use == "none"


def test_augment_names():
    from structnoise.methods.unet.config import Augment

    model = methods.create("sn2v", augment="flips")
    assert model.augment is Augment.FLIPS and model.get_params()["augment"] == "flips"
    assert methods.create("n2v").augment == "all"
    with pytest.raises(ValueError, match="unknown augment 'spin': expected one of none, x_flip"):
        methods.create("n2v", augment="spin")
