"""``structnoise train`` / ``structnoise denoise`` (generic over the registry)."""

import json

import numpy as np
import pytest
import tifffile
import torch
from typer.testing import CliRunner

from structnoise.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def noisy_tif(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48] / 48
    clean = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (yy + i * xx)) for i in range(3)])
    noisy = (clean + rng.normal(0, 0.05, clean.shape)) * 1000
    path = tmp_path / "noisy.tif"
    tifffile.imwrite(path, noisy.astype(np.uint16))
    tifffile.imwrite(tmp_path / "clean.tif", (clean * 1000).astype(np.uint16))
    return path


def _train(*args):
    return runner.invoke(app, ["train", *args, "--no-progress"])


def test_train_then_denoise_dvlae(noisy_tif, tmp_path):
    out = tmp_path / "model"
    result = _train(
        "dvlae-small",
        str(noisy_tif),
        "--out",
        str(out),
        "--axis",
        "vertical",
        "--rf",
        "10",
        "--profile",
        "smoke",
        "--seed",
        "2",
        "--max-minutes",
        "5",
    )
    assert result.exit_code == 0, result.output
    assert "saved dvlae-small" in result.output and "steps" in result.output
    meta = json.loads((out / "method.json").read_text())
    assert meta["method"] == "dvlae-small"
    assert meta["params"]["axis"] == "vertical" and meta["params"]["rf"] == 10
    assert meta["params"]["seed"] == 2 and meta["params"]["max_minutes"] == 5

    result = runner.invoke(
        app,
        ["denoise", str(out), str(noisy_tif), str(tmp_path / "den.tif"), "--samples", "3"]
        + ["--tile", "32", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    den = tifffile.imread(tmp_path / "den.tif")
    assert den.shape == (3, 48, 48) and den.dtype == np.float32 and np.isfinite(den).all()
    # values are back in the input's units (about 200..800), not normalised
    assert 100 < float(den.mean()) < 900

    # a single 2-D image in, a 2-D image out; other modes
    tifffile.imwrite(tmp_path / "one.tif", tifffile.imread(noisy_tif)[0])
    result = runner.invoke(
        app,
        ["denoise", str(out), str(tmp_path / "one.tif"), str(tmp_path / "one_out.tif")]
        + ["--mode", "mean", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert tifffile.imread(tmp_path / "one_out.tif").shape == (48, 48)


def test_train_refuses_options_the_method_does_not_take(noisy_tif, tmp_path):
    result = _train("gaussian", str(noisy_tif), "--out", str(tmp_path / "g"), "--axis", "vertical")
    assert result.exit_code == 1 and "does not model structured noise" in result.output
    result = _train("gaussian", str(noisy_tif), "--out", str(tmp_path / "g"), "--rf", "5")
    assert result.exit_code == 1 and "no receptive-field parameter" in result.output
    result = _train("care", str(noisy_tif), "--out", str(tmp_path / "c"))
    assert result.exit_code == 1 and "--clean" in result.output
    result = _train("nope", str(noisy_tif), "--out", str(tmp_path / "n"))
    assert result.exit_code == 1 and "unknown method 'nope'" in result.output
    assert "dvlae-small" in result.output
    result = _train("dvlae-small", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "m"))
    assert result.exit_code == 1 and "no such file" in result.output
    result = _train(
        "dvlae-small", str(noisy_tif), "--out", str(tmp_path / "m"), "--set", "n_filterz=3"
    )
    assert result.exit_code == 1 and "unknown DVLAE parameter" in result.output
    result = _train("dvlae-small", str(noisy_tif), "--out", str(tmp_path / "m"), "--rf", "far")
    assert result.exit_code == 1 and "--rf must be a whole number or 'auto'" in result.output


def test_train_generic_method_and_overwrite(noisy_tif, tmp_path):
    out = tmp_path / "gauss"
    result = _train("gaussian", str(noisy_tif), "--out", str(out), "--profile", "smoke")
    assert result.exit_code == 0, result.output
    assert "steps" not in result.output  # no train summary, nothing about steps
    result = _train("gaussian", str(noisy_tif), "--out", str(out), "--profile", "smoke")
    assert result.exit_code == 1 and "--overwrite" in result.output
    result = _train(
        "gaussian", str(noisy_tif), "--out", str(out), "--profile", "smoke", "--overwrite"
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["denoise", str(out), str(noisy_tif), str(tmp_path / "o.tif"), "--samples", "5"]
    )
    assert result.exit_code == 1 and "does not take --samples" in result.output
    result = runner.invoke(app, ["denoise", str(tmp_path), str(noisy_tif), str(tmp_path / "o.tif")])
    assert result.exit_code == 1 and "not a saved structnoise model" in result.output


def test_denoise_flags_of_a_method_that_does_not_declare_its_options(noisy_tif, tmp_path):
    from typing import ClassVar

    from structnoise.methods import BaseDenoiser, MethodInfo, registry

    class Undeclared(BaseDenoiser):
        info: ClassVar[MethodInfo] = MethodInfo(learns=False)  # denoise_options=None

        def _fit(self, noisy, clean, val):
            pass

        def _denoise(self, noisy, *, tile=None):
            return noisy

    with registry.temporary():
        registry.register("test-undeclared")(Undeclared)
        out = tmp_path / "model"
        assert _train("test-undeclared", str(noisy_tif), "--out", str(out)).exit_code == 0
        args = ["denoise", str(out), str(noisy_tif)]
        result = runner.invoke(app, [*args, str(tmp_path / "a.tif"), "--tile", "32"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, [*args, str(tmp_path / "b.tif"), "--samples", "3"])
        assert result.exit_code == 1 and "does not take --samples" in result.output
