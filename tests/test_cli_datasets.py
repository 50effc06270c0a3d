"""CLI: datasets list/fetch, synth, analyze."""

import numpy as np
import pytest
import tifffile
from PIL import Image
from typer.testing import CliRunner

from structnoise.cli import app
from structnoise.datasets.catalog import CATALOG

runner = CliRunner()


@pytest.fixture
def clean_tif(tmp_path):
    y, x = np.mgrid[0:96, 0:96]
    frames = [0.5 + 0.4 * np.sin(x / 15 + i) * np.cos(y / 20) for i in range(6)]
    path = tmp_path / "clean.tif"
    tifffile.imwrite(path, (np.stack(frames) * 255).round().astype(np.uint8))
    return path


def test_datasets_list_shows_every_dataset():
    result = runner.invoke(app, ["datasets", "list"])
    assert result.exit_code == 0, result.output
    for name in CATALOG:
        assert name in result.output
    for status in ("downloadable", "needs a local path", "unavailable", "built on first use"):
        assert status in result.output
    assert "NVlabs/ffhq-dataset" in result.output


def test_datasets_fetch_embedded_and_errors():
    result = runner.invoke(app, ["datasets", "fetch", "embedded-checkerboard"])
    assert result.exit_code == 0, result.output
    assert "embedded-checkerboard-v1.npz" in result.output
    assert "cached" in runner.invoke(app, ["datasets", "list"]).output
    result = runner.invoke(app, ["datasets", "fetch", "stem"])
    assert result.exit_code == 1 and "unavailable" in result.output
    result = runner.invoke(app, ["datasets", "fetch", "nope"])
    assert result.exit_code == 1 and "Known datasets" in result.output


def test_synth_writes_tiff_and_analyze_finds_axis(clean_tif, tmp_path):
    out = tmp_path / "noisy.tif"
    unit = tmp_path / "clean01.tif"
    result = runner.invoke(
        app,
        ["synth", "stripe", str(clean_tif), str(out), "--seed", "3", "--write-clean", str(unit)],
    )
    assert result.exit_code == 0, result.output
    noisy = tifffile.imread(out)
    clean = tifffile.imread(unit)
    assert noisy.shape == (6, 96, 96) and noisy.dtype == np.float32
    np.testing.assert_allclose(clean, tifffile.imread(clean_tif) / 255, atol=1e-6)
    assert 0.02 < np.std(noisy - clean) < 0.06
    # same seed, same noise
    runner.invoke(app, ["synth", "stripe", str(clean_tif), str(tmp_path / "b.tif"), "--seed", "3"])
    np.testing.assert_array_equal(noisy, tifffile.imread(tmp_path / "b.tif"))

    result = runner.invoke(app, ["analyze", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "axis: horizontal"
    assert "row (horizontal) correlation" in lines[1]
    transposed = tmp_path / "noisy_t.tif"
    tifffile.imwrite(transposed, noisy.transpose(0, 2, 1))
    assert runner.invoke(app, ["analyze", str(transposed)]).output.splitlines()[0] == (
        "axis: vertical"
    )
    plot = tmp_path / "fig.png"
    result = runner.invoke(app, ["analyze", str(out), "--clean", str(unit), "--plot", str(plot)])
    assert result.output.splitlines()[0] == "axis: horizontal"
    assert plot.exists() and (tmp_path / "fig.svg").exists()


def test_synth_checkerboard_from_folder_and_white_noise(tmp_path, rng):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        img = rng.integers(40, 220, size=(64, 64, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"{i}.png")
    out = tmp_path / "cb.tif"
    result = runner.invoke(
        app, ["synth", "checkerboard", str(folder), str(out), "--seed", "1", "--gray"]
    )
    assert result.exit_code == 0, result.output
    assert tifffile.imread(out).shape == (3, 64, 64)
    assert runner.invoke(app, ["analyze", str(out)]).output.startswith("axis: vertical\n")
    white = tmp_path / "white.tif"
    tifffile.imwrite(white, rng.normal(0, 1, size=(4, 64, 64)).astype(np.float32))
    assert runner.invoke(app, ["analyze", str(white)]).output.startswith("axis: none\n")


def test_cli_bad_input(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["synth", "stripe", str(empty), str(tmp_path / "o.tif")])
    assert result.exit_code == 1 and "holds no images" in result.output
    result = runner.invoke(app, ["synth", "stripe", str(tmp_path / "missing.tif"), "o.tif"])
    assert result.exit_code == 1 and "no such file" in result.output
    bad = tmp_path / "nan.tif"
    tifffile.imwrite(bad, np.full((32, 32), np.nan, np.float32))
    result = runner.invoke(app, ["analyze", str(bad)])
    assert result.exit_code == 1 and "NaN" in result.output
    four_d = tmp_path / "4d.tif"
    tifffile.imwrite(four_d, np.zeros((2, 2, 16, 16), np.float32))
    result = runner.invoke(app, ["analyze", str(four_d)])
    assert result.exit_code == 1 and "4-D" in result.output
    result = runner.invoke(app, ["synth", "stripes", str(four_d), "o.tif"])
    assert result.exit_code == 2  # not a noise kind


@pytest.fixture
def clean_volume_tif(tmp_path):
    from structnoise.datasets.embedded_3d import clean_volume

    path = tmp_path / "vol.tif"
    tifffile.imwrite(path, clean_volume(0))  # (16, 64, 64), no axes metadata
    return path


def test_synth_readout_volume_and_analyze_z(clean_volume_tif, tmp_path):
    out, unit = tmp_path / "noisy_zyx.tif", tmp_path / "clean01.tif"
    args = ["synth", "readout", str(clean_volume_tif), str(out), "--axes", "ZYX", "--seed", "2"]
    result = runner.invoke(app, [*args, "--write-clean", str(unit)])
    assert result.exit_code == 0, result.output
    assert "readout noise, 3-D" in result.output
    noisy, clean = tifffile.imread(out), tifffile.imread(unit)
    assert noisy.shape == clean.shape == (16, 64, 64) and noisy.dtype == np.float32
    np.testing.assert_allclose(clean, tifffile.imread(clean_volume_tif), atol=1e-6)
    r = noisy.astype(np.float64) - clean
    z1 = np.mean((r[1:] - r.mean()) * (r[:-1] - r.mean())) / r.var()
    assert z1 > 0.5
    for extra in ([], ["--clean", str(unit)]):
        result = runner.invoke(app, ["analyze", str(out), "--ndim", "3", *extra])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == "axis: z"
        assert lines[1].startswith("z (between planes)")
    # the same seed gives the same noise; the 2-D analysis is unchanged without --ndim
    again = tmp_path / "again.tif"
    runner.invoke(app, [*args[:3], str(again), "--axes", "ZYX", "--seed", "2"])
    np.testing.assert_array_equal(tifffile.imread(again), noisy)
    result = runner.invoke(app, ["analyze", str(out), "--clean", str(unit)])
    assert result.output.splitlines()[0] == "axis: none"
    assert "row (horizontal) correlation" in result.output


def test_synth_volume_layouts_and_errors(clean_volume_tif, tmp_path):
    vols = np.stack([tifffile.imread(clean_volume_tif)[:8]] * 2)  # (2, 8, 64, 64)
    czyx = tmp_path / "czyx.tif"
    tifffile.imwrite(czyx, vols.transpose(1, 0, 2, 3))  # Z first, then C
    out = tmp_path / "out.tif"
    args = ["synth", "stripe", str(czyx), str(out), "--axes", "ZCYX", "--ndim", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    noisy = tifffile.imread(out)
    assert noisy.shape == (8, 2, 64, 64)  # the input's layout
    assert not np.array_equal(noisy[:, 0], noisy[:, 1])  # each channel its own noise
    # stripe with --ndim 3 is the 3-D generator on the (C, Z, Y, X) volumes
    from structnoise.datasets.volume_noise import stripe_volume

    # (auto scaling keeps data already in [0, 1])
    expected = stripe_volume(vols, np.random.default_rng(0))
    np.testing.assert_allclose(noisy.transpose(1, 0, 2, 3), expected, atol=1e-6)
    # the default for stripe stays plane by plane (2-D), as before
    planes = tmp_path / "planes.tif"
    runner.invoke(app, ["synth", "stripe", str(czyx), str(planes), "--axes", "ZCYX"])
    assert not np.allclose(tifffile.imread(planes), noisy)
    # errors: one line, exit 1 (2 for an out-of-range option)
    result = runner.invoke(
        app, ["synth", "readout", str(czyx), str(tmp_path / "a.tif"), "--axes", "SCYX"]
    )
    assert result.exit_code == 1 and "--ndim 3 needs volumes" in result.output
    result = runner.invoke(
        app, ["synth", "readout", str(clean_volume_tif), "b.tif", "--axes", "ZYX", "--ndim", "2"]
    )
    assert result.exit_code == 1 and "needs --ndim 3" in result.output
    result = runner.invoke(app, ["analyze", str(clean_volume_tif), "--ndim", "3"])
    assert result.exit_code == 1 and "axes are SYX" in result.output
    result = runner.invoke(app, ["analyze", str(clean_volume_tif), "--ndim", "4"])
    assert result.exit_code == 2
    nan = tmp_path / "nan.tif"
    tifffile.imwrite(nan, np.full((8, 16, 16), np.nan, np.float32))
    result = runner.invoke(app, ["analyze", str(nan), "--axes", "ZYX", "--ndim", "3"])
    assert result.exit_code == 1 and "NaN" in result.output
    assert "Traceback" not in result.output
