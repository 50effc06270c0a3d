"""DVLAE's per-dataset paper settings, the step reading, validation crops, one truth for rf."""

import dataclasses

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from structnoise import methods
from structnoise.methods.dvlae import profiles
from structnoise.methods.dvlae.paper_settings import (
    PAPER_DATASETS,
    dataset_defaults,
    paper_max_steps,
)
from structnoise.methods.vae.data import RandomCrops, ResampledCrops, crops_that_fit
from structnoise.methods.vae.training import _validation_batches


def test_paper_table_follows_the_supplement():
    assert {n: d.n_gaussians for n, d in PAPER_DATASETS.items()} == {
        "convallaria-a": 3,
        "convallaria-b": 3,
        "mouse-actin": 3,
        "mouse-nuclei": 3,
        "stem": 5,
        "ffhq-stripe": 10,
        "ffhq-checkerboard": 10,
    }
    for name, d in PAPER_DATASETS.items():
        ffhq = name.startswith("ffhq")
        assert (d.crop, d.batch, d.accumulate) == ((128, 4, 16) if ffhq else (256, 4, 4))
    # 80k Lightning global steps, two optimisers: the same pixels for both kinds of data
    assert paper_max_steps(4) == 160_000 and paper_max_steps(16) == 640_000
    ffhq, micro = PAPER_DATASETS["ffhq-stripe"], PAPER_DATASETS["mouse-actin"]
    assert ffhq.max_steps * ffhq.batch * 128**2 == micro.max_steps * micro.batch * 256**2


def test_paper_profile_defaults_are_the_microscopy_row():
    micro, paper = PAPER_DATASETS["convallaria-a"], profiles.PAPER
    assert (paper.crop, paper.batch, paper.accumulate) == (
        micro.crop,
        micro.batch,
        micro.accumulate,
    )
    assert paper.max_steps == micro.max_steps
    assert paper.val_crops is None and paper.val_resample
    for quick in (profiles.QUICK, profiles.SMOKE):  # the CPU profiles keep fixed crops
        assert isinstance(quick.val_crops, int) and not quick.val_resample


def test_the_method_declares_the_paper_table_and_the_embedded_rf():
    info = methods.method_info("dvlae-large")
    assert info.dataset_defaults == dataset_defaults()
    assert set(info.dataset_defaults) == {"*", "paper"}
    assert info.dataset_defaults["*"] == {
        "embedded-stripe": {"rf": 6},
        "embedded-checkerboard": {"rf": 40},
    }
    row = info.dataset_defaults["paper"]["ffhq-checkerboard"]
    model = methods.create("dvlae-large", profile="paper", **row)
    settings = model.resolved_params()
    assert settings["n_gaussians"] == model.arch.n_gaussians == 10
    assert (settings["crop"], settings["batch"], settings["accumulate"]) == (128, 4, 16)
    assert settings["val_crops"] == "fit" and settings["val_resample"] is True


def _images(n=3, size=64):
    return [
        torch.arange(size * size, dtype=torch.float32).reshape(1, size, size) + i for i in range(n)
    ]


def test_validation_crops_as_the_authors_draw_them():
    paper = dataclasses.replace(profiles.PAPER, crop=32, batch=4)
    batches = _validation_batches(_images(), paper, seed=5, by_area=False)
    assert isinstance(batches, ResampledCrops)
    # as many crops as fit: 3 images x (64*64 // 32**2) = 12, in batches of 4
    assert crops_that_fit(RandomCrops(_images(), 32, 4, 1, 0)) == 12
    first = [b.clone() for b in batches]
    second = list(batches)
    assert [len(b) for b in first] == [4, 4, 4]
    assert not all(torch.equal(a, b) for a, b in zip(first, second, strict=True))  # redrawn


def test_fixed_validation_crops_of_the_cpu_profiles():
    quick = dataclasses.replace(profiles.QUICK, crop=32, batch=4, val_crops=6)
    batches = _validation_batches(_images(), quick, seed=5, by_area=False)
    assert isinstance(batches, list) and [len(b) for b in batches] == [4, 2]
    again = _validation_batches(_images(), quick, seed=5, by_area=False)
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))
    odd = ResampledCrops(RandomCrops(_images(), 32, 4, 1, 0), 6, 4)
    assert [len(odd[i]) for i in range(len(odd))] == [4, 2]
    with pytest.raises(IndexError):
        odd[2]


def test_fit_with_redrawn_validation_crops(monkeypatch):
    smoke = dataclasses.replace(profiles.SMOKE, val_crops=None, val_resample=True, val_fraction=0.5)
    monkeypatch.setitem(profiles.PROFILES, "smoke", smoke)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    noisy = rng.normal(size=(4, 32, 32)).astype(np.float32)
    model = methods.create("dvlae-small", profile="smoke", max_steps=4, rf=4).fit(noisy)
    assert model.train_summary["profile"]["val_resample"] is True
    assert all(np.isfinite(row["val_sd"]) for row in model.history)


def test_rf_help_states_the_profiles_defaults():
    from structnoise.cli import app
    from structnoise.methods.cli import PROFILE_RF, RF_HELP

    assert PROFILE_RF == {name: p.rf for name, p in profiles.PROFILES.items()}
    assert all(f"{name}: {rf}" in RF_HELP for name, rf in PROFILE_RF.items())
    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"}).output
    flat = " ".join(out.replace("│", " ").split())
    assert "Default: the profile's (quick: 40, paper: 40, smoke: 40)" in flat
    assert methods.create("dvlae-small", profile="quick").get_params()["rf"] == profiles.QUICK.rf


def test_dataset_axis_without_loading():
    from structnoise.datasets.catalog import CATALOG, dataset_axis
    from structnoise.datasets.real import REAL_DATASETS

    axes = {name: dataset_axis(name) for name in CATALOG}
    assert axes["ffhq-stripe"] == axes["embedded-stripe"] == "horizontal"
    assert axes["ffhq-checkerboard"] == axes["embedded-checkerboard"] == "vertical"
    assert axes["mouse-nuclei"] is None and axes["stem"] is None
    assert axes["embedded-volume"] == "z"
    assert all(axes[n] == d.axis for n, d in REAL_DATASETS.items())
