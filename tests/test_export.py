"""``structnoise export``: BioImage Model Zoo packages that pass bioimageio.core's model test."""

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import yaml
from typer.testing import CliRunner

from structnoise import methods
from structnoise.cli import app
from structnoise.methods.export import ExportError, export_model, exportable
from structnoise.methods.export import test_package as run_model_test

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _noisy(n=3, size=48):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    clean = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (yy + i * xx)) for i in range(n)])
    return (clean + rng.normal(0, 0.05, (n, size, 1)) + rng.normal(0, 0.03, clean.shape)) * 1000


@pytest.fixture(scope="module")
def dvlae_direct(tmp_path_factory):
    """``structnoise train dvlae-small noisy.tif --out m --direct`` (smoke profile)."""
    root = tmp_path_factory.mktemp("dvlae")
    noisy = root / "noisy.tif"
    tifffile.imwrite(noisy, _noisy().astype(np.uint16))
    args = ["train", "dvlae-small", str(noisy), "--out", str(root / "m"), "--direct"]
    args += ["--axis", "horizontal", "--rf", "4", "--profile", "smoke", "--no-progress"]
    result = runner.invoke(app, [*args, "--set", "max_steps=4"])
    assert result.exit_code == 0, result.output
    return root


def _package(path):
    with zipfile.ZipFile(path) as z:
        rdf = yaml.safe_load(z.read("rdf.yaml"))
        arrays = {n: np.load(z.open(n)) for n in ("test_input.npy", "test_output.npy")}
        return rdf, arrays, set(z.namelist())


def test_train_direct_then_denoise_and_export(dvlae_direct, tmp_path):
    root = dvlae_direct
    out = tmp_path / "out.tif"
    result = runner.invoke(
        app, ["denoise", str(root / "m"), str(root / "noisy.tif"), str(out), "--mode", "direct"]
    )
    assert result.exit_code == 0, result.output
    denoised = tifffile.imread(out)
    assert denoised.shape == (3, 48, 48) and np.isfinite(denoised).all()

    package = tmp_path / "m.zip"
    result = runner.invoke(
        app, ["export", str(root / "m"), str(package), "--sample", str(root / "noisy.tif")]
    )
    assert result.exit_code == 0, result.output
    rdf, arrays, names = _package(package)
    assert set(rdf["weights"]) == {"pytorch_state_dict", "torchscript"}
    assert {"cover.png", "README.md", "direct_net.py"} <= names
    text = zipfile.ZipFile(package).read("README.md").decode()
    assert "dvlae-small" in text and "2310.07887" in text and "structnoise" in text
    assert "3 noisy image(s)" in text
    (pre,) = [p for p in rdf["inputs"][0]["preprocessing"] if p["id"] != "ensure_dtype"]
    assert pre["id"] == "fixed_zero_mean_unit_variance"
    meta = json.loads((root / "m" / "method.json").read_text())
    assert pre["kwargs"]["mean"] == pytest.approx(meta["extra"]["norm"]["mean"])
    (post,) = [p for p in rdf["outputs"][0]["postprocessing"] if p["id"] != "ensure_dtype"]
    assert post["kwargs"]["gain"] == pytest.approx(meta["extra"]["norm"]["std"])

    # the package's test output is what `structnoise denoise --mode direct` gives
    test_in = tmp_path / "test_input.tif"
    tifffile.imwrite(test_in, arrays["test_input.npy"][0, 0])
    result = runner.invoke(
        app, ["denoise", str(root / "m"), str(test_in), str(tmp_path / "t.tif"), "--mode", "direct"]
    )
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "t.tif"), arrays["test_output.npy"][0, 0], rtol=1e-5, atol=1e-3
    )

    summary = run_model_test(package)
    assert summary.status == "passed", summary.format() if hasattr(summary, "format") else summary


def test_care_package_passes_the_model_test(tmp_path):
    noisy = _noisy(4, 64).astype(np.float32) / 1000
    model = methods.create("care", profile="smoke", seed=0, max_steps=2)
    model.fit(noisy, np.clip(noisy, 0.3, 0.7))
    model.save(tmp_path / "care")
    package = export_model(tmp_path / "care", tmp_path / "care.zip", sample=noisy[0])
    rdf, arrays, _ = _package(package)
    assert rdf["weights"]["pytorch_state_dict"]["architecture"]["import_from"] == (
        "careamics.models.unet"
    )
    expected = model.denoise(arrays["test_input.npy"][0, 0])
    np.testing.assert_allclose(arrays["test_output.npy"][0, 0], expected, rtol=1e-5, atol=1e-6)
    assert run_model_test(package).status == "passed"
    _bioimageio_test_command_passes(package)


def _bioimageio_test_command_passes(package):
    """``bioimageio test PACKAGE`` exactly as a user runs it: its own process and command.

    Nothing of structnoise is imported there, so no patch of any library can help it: the
    installed ``bioimageio.spec`` / pydantic must work as they are (pyproject.toml's pin).
    """
    command = Path(sys.executable).with_name("bioimageio")
    assert command.exists(), f"bioimageio's command is not installed beside {sys.executable}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NO_COLOR": "1"}
    done = subprocess.run(
        [str(command), "test", str(package)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    status = re.findall(r"^\s*status\s+(\w+)", output, flags=re.MULTILINE)
    assert status == ["passed"], output[-3000:]


@pytest.mark.parametrize("name", ["hdn", "gaussian"])
def test_methods_without_a_one_pass_network_are_refused(name, tmp_path):
    methods.create(name, profile="smoke").save(tmp_path / name)
    result = runner.invoke(app, ["export", str(tmp_path / name), str(tmp_path / "x.zip")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {name} cannot be exported: it has no one-pass network")
    assert all(m in lines[0] for m in ("dvlae-small", "dvlae-large", "n2v", "sn2v", "care"))
    assert exportable() == ["care", "dvlae-large", "dvlae-small", "n2v", "sn2v"]
    assert not (tmp_path / "x.zip").exists()


def test_dvlae_without_direct_is_refused(tmp_path):
    model = methods.create("dvlae-small", profile="smoke", max_steps=1)
    model.fit(_noisy(2, 32).astype(np.float32))
    model.save(tmp_path / "m")
    with pytest.raises(ExportError, match="trained without the direct denoiser"):
        export_model(tmp_path / "m", tmp_path / "m.zip")
    with pytest.raises(ExportError, match="must be a .zip"):
        export_model(tmp_path / "m", tmp_path / "m.tar")


def test_export_asks_the_model_for_its_one_pass_network():
    from structnoise.methods.export import one_pass_network

    class Plugin:
        name = "plugin"

        def __init__(self, fitted):
            self.fitted = fitted

        def one_pass_network(self):
            if not self.fitted:
                raise ValueError("the model is not fitted")
            return "the network"

    assert one_pass_network(Plugin(True)) == "the network"  # no list of classes consulted
    with pytest.raises(ExportError, match="plugin cannot be exported: the model is not fitted"):
        one_pass_network(Plugin(False))
    with pytest.raises(ExportError, match="gaussian cannot be exported: it has no one-pass"):
        one_pass_network(methods.create("gaussian"))
