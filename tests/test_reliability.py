"""Nothing a user owns is lost, nothing wrong is written silently (issue 9).

Each test drives the ``structnoise`` command as a user would and checks exit status, the
one line printed and the state of the user's files (sha256 before and after).
"""

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from structnoise import methods
from structnoise.cli import app
from structnoise.methods import BaseDenoiser, MethodInfo, TrainingDivergedError, register, registry

runner = CliRunner()


# ------------------------------------------------------------------ test methods
class _MeanShift(BaseDenoiser):
    """A tiny learnt method: subtracts the training images' mean row profile.

    ``fail`` makes ``fit`` diverge; ``nan_output`` makes ``denoise`` return NaN (a broken
    model), so the CLI's guards can be tested without training a network.
    """

    info: ClassVar[MethodInfo] = MethodInfo(description="test: learnt mean shift")
    param_names: ClassVar[tuple[str, ...]] = ("fail", "nan_output")

    def __init__(self, *, fail: bool = False, nan_output: bool = False, **common: Any):
        super().__init__(fail=fail, nan_output=nan_output, **common)
        self.offset = 0.0

    def _fit(self, noisy, clean, val) -> None:
        if self.params["fail"]:
            raise TrainingDivergedError(17, float("nan"), method=self.name)
        self.offset = float(noisy.mean() * 0.01)

    def _denoise(self, noisy, **options):
        if self.params["nan_output"]:
            return np.full_like(noisy, np.nan)
        return noisy - self.offset

    def _extra_meta(self) -> dict:
        return {"offset": self.offset}

    def _load_state(self, path: Path, extra: dict) -> None:
        self.offset = float(extra["offset"])


@pytest.fixture(autouse=True)
def _meanshift_registered():
    """``test-meanshift`` exists during each test of this module only."""
    with registry.temporary():
        register("test-meanshift")(_MeanShift)
        yield


def _sha(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (or of the file ``path``)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {
        str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    }


def _tif(path: Path, shape=(2, 32, 32), seed=0, **kw) -> Path:
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, rng.random(shape).astype(np.float32), **kw)
    return path


def _cli(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _first_error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output, output
    return lines[0]


@pytest.fixture
def model(tmp_path) -> Path:
    """A saved ``gaussian`` model."""
    src = _tif(tmp_path / "train.tif")
    code, out = _cli("train", "gaussian", src, "--out", tmp_path / "model", "--no-progress")
    assert code == 0, out
    return tmp_path / "model"


# ------------------------------------------------------------------ row 1: --overwrite
def test_overwrite_refuses_a_folder_of_user_files(tmp_path):
    src = _tif(tmp_path / "in.tif")
    user = tmp_path / "userdata"
    user.mkdir()
    (user / "notes.txt").write_text("my thesis")
    _tif(user / "experiment.tif", seed=3)
    before = _sha(user)
    code, out = _cli("train", "gaussian", src, "--out", user, "--overwrite")
    assert code == 1
    assert "not a saved structnoise model" in _first_error(out)
    assert _sha(user) == before


def test_overwrite_refuses_the_working_directory_and_input_folders(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    src = _tif(work / "in.tif")
    (work / "method.json").write_text("{}")  # even if it looks like a model
    monkeypatch.chdir(work)
    before = _sha(work)
    code, out = _cli("train", "gaussian", "in.tif", "--out", ".", "--overwrite")
    assert code == 1 and "current directory" in _first_error(out)
    code, out = _cli("train", "gaussian", "in.tif", "--out", "..", "--overwrite")
    assert code == 1 and "current directory" in _first_error(out)
    assert _sha(work) == before
    # a model folder that holds the input
    monkeypatch.chdir(tmp_path)
    code, out = _cli("train", "gaussian", src, "--out", work, "--overwrite")
    assert code == 1 and "contains the input" in _first_error(out)
    assert _sha(work) == before


def test_out_is_a_file(tmp_path):
    src = _tif(tmp_path / "in.tif")
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    code, out = _cli("train", "gaussian", src, "--out", target, "--overwrite")
    assert code == 1 and "is a file" in _first_error(out)
    assert target.read_text() == "keep me"


def test_overwrite_replaces_a_model_atomically(tmp_path, model, monkeypatch):
    src = tmp_path / "train.tif"
    old = _sha(model)
    code, out = _cli("train", "gaussian", src, "--out", model)
    assert code == 1 and "--overwrite" in _first_error(out)
    assert _sha(model) == old

    # a save that fails half-way leaves the old model intact and no stray folders
    def broken_save(self, path):
        (Path(path) / "half.bin").write_bytes(b"x")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BaseDenoiser, "_save_state", broken_save)
    code, out = _cli("train", "gaussian", src, "--out", model, "--overwrite", "--set", "sigma=2")
    assert code == 1 and "could not save the model" in _first_error(out)
    assert _sha(model) == old
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)

    code, out = _cli("train", "gaussian", src, "--out", model, "--overwrite", "--set", "sigma=2")
    assert code == 0, out
    assert json.loads((model / "method.json").read_text())["params"]["sigma"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# ------------------------------------------------------------------ row 2: own input
def test_denoise_and_synth_never_write_over_their_input(tmp_path, model):
    a = _tif(tmp_path / "a.tif", seed=5)
    link = tmp_path / "link.tif"
    link.symlink_to(a)
    hard = tmp_path / "hard.tif"
    os.link(a, hard)
    before = _sha(a)
    for target in (a, link, hard):
        for cmd in (("denoise", model, a, target), ("synth", "stripe", a, target)):
            code, out = _cli(*cmd, "--overwrite")
            assert code == 1, (cmd, out)
            assert "is the input" in _first_error(out)
    assert _sha(a) == before
    # denoise writing into the model folder's files is refused too
    before_model = _sha(model)
    code, out = _cli("denoise", model, a, model / "method.json", "--overwrite")
    assert code == 1 and "inside the input folder" in _first_error(out)
    assert _sha(model) == before_model


def test_existing_output_is_kept_without_overwrite(tmp_path, model):
    a = _tif(tmp_path / "a.tif", seed=5)
    existing = _tif(tmp_path / "existing.tif", seed=6)
    before = _sha(existing)
    for cmd in (("denoise", model, a, existing), ("synth", "stripe", a, existing)):
        code, out = _cli(*cmd)
        assert code == 1 and "pass --overwrite" in _first_error(out)
        assert _sha(existing) == before
    code, out = _cli("denoise", model, a, existing, "--overwrite")
    assert code == 0, out
    assert _sha(existing) != before
    plot = tmp_path / "fig.png"
    plot.write_bytes(b"mine")
    code, out = _cli("analyze", a, "--plot", plot)
    assert code == 1 and "pass --overwrite" in _first_error(out)
    assert plot.read_bytes() == b"mine"


# ------------------------------------------------------------------ row 3: divergence
def test_diverging_training_writes_no_model(tmp_path):
    src = _tif(tmp_path / "in.tif")
    out_dir = tmp_path / "m"
    code, out = _cli("train", "test-meanshift", src, "--out", out_dir, "--set", "fail=true")
    assert code == 1
    line = _first_error(out)
    assert "training diverged at step 17 (loss nan): lower the learning rate" in line
    assert not out_dir.exists()


def test_denoise_refuses_to_write_nan(tmp_path):
    src = _tif(tmp_path / "in.tif")
    code, out = _cli(
        "train", "test-meanshift", src, "--out", tmp_path / "m", "--set", "nan_output=true"
    )
    assert code == 0, out
    code, out = _cli("denoise", tmp_path / "m", src, tmp_path / "out.tif")
    assert code == 1 and "NaN/infinite" in _first_error(out)
    assert not (tmp_path / "out.tif").exists()


# ------------------------------------------------------------------ row 4: axes
def test_rgb_input_needs_axes_and_keeps_its_layout(tmp_path, model):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(2)
    rgb = rng.random((40, 48, 3)).astype(np.float32)
    plain = tmp_path / "rgb_plain.tif"
    tifffile.imwrite(plain, rgb, photometric="minisblack")  # the file does not say
    code, out = _cli("denoise", model, plain, tmp_path / "o.tif")
    assert code == 1
    assert "ambiguous" in _first_error(out) and "--axes" in out
    assert not (tmp_path / "o.tif").exists()

    code, out = _cli("denoise", model, plain, tmp_path / "o.tif", "--axes", "YXC")
    assert code == 0, out
    got = tifffile.imread(tmp_path / "o.tif")
    assert got.shape == rgb.shape
    for c in range(3):  # each channel denoised on its own, nothing averaged
        want = gaussian_filter(rgb[..., c], 1.0, mode="reflect")
        np.testing.assert_allclose(got[..., c], want, atol=1e-5)

    # a TIFF that says it is RGB needs no --axes; the output keeps (Y, X, C)
    said = tmp_path / "rgb.tif"
    tifffile.imwrite(said, (rgb * 255).astype(np.uint8), photometric="rgb")
    code, out = _cli("denoise", model, said, tmp_path / "o2.tif")
    assert code == 0, out
    assert tifffile.imread(tmp_path / "o2.tif").shape == (40, 48, 3)

    # channels first: (3, Y, X) without metadata is ambiguous; CYX keeps the layout
    first = tmp_path / "cyx.tif"
    tifffile.imwrite(first, np.moveaxis(rgb, -1, 0), photometric="minisblack")
    code, out = _cli("denoise", model, first, tmp_path / "o3.tif")
    assert code == 1 and "ambiguous" in _first_error(out)
    code, out = _cli("denoise", model, first, tmp_path / "o3.tif", "--axes", "CYX")
    assert code == 0, out
    np.testing.assert_allclose(
        tifffile.imread(tmp_path / "o3.tif"), np.moveaxis(got, -1, 0), atol=1e-6
    )
    code, out = _cli("denoise", model, first, tmp_path / "o4.tif", "--axes", "XYC")
    assert code == 1 and "Y must come before X" in _first_error(out)
    code, out = _cli("denoise", model, first, tmp_path / "o4.tif", "--axes", "YX")
    assert code == 1 and "has 2 letter(s) but the image has 3" in _first_error(out)


def test_python_api_axes(model):
    m = methods.load(model)
    rgb = np.random.default_rng(0).random((20, 24, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="ambiguous"):
        m.denoise(rgb)
    out = m.denoise(rgb, axes="YXC")
    assert out.shape == rgb.shape and out.dtype == np.float32
    tzyx = np.random.default_rng(1).random((2, 3, 20, 24))
    assert m.denoise(tzyx, axes="TZYX").shape == tzyx.shape
    with pytest.raises(ValueError, match="4-D"):
        m.denoise(tzyx)


# ------------------------------------------------------------------ row 5: range
def test_input_far_outside_training_range_warns(tmp_path):
    src = _tif(tmp_path / "in.tif")  # values in [0, 1]
    code, out = _cli("train", "test-meanshift", src, "--out", tmp_path / "m")
    assert code == 0, out
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, np.random.default_rng(0).random((2, 32, 32)).astype(np.float32) * 1e6)
    result = runner.invoke(app, ["denoise", str(tmp_path / "m"), str(big), "o.tif"])
    assert result.exit_code == 0, result.output
    warns = [ln for ln in result.output.splitlines() if ln.startswith("warning:")]
    assert len(warns) == 1 and "far outside the training data's [" in warns[0]
    assert "1e+06" in warns[0] or "9.99" in warns[0]
    # in range: no warning
    result = runner.invoke(app, ["denoise", str(tmp_path / "m"), str(src), "o2.tif"])
    assert result.exit_code == 0 and "warning:" not in result.output


def test_constant_image_is_returned_unchanged(tmp_path):
    src = _tif(tmp_path / "in.tif")
    m = methods.create("test-meanshift").fit(tifffile.imread(src))
    stack = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    stack[1] = 0.25
    with pytest.warns(UserWarning, match=r"1 constant image\(s\) \(index 1\) returned unchanged"):
        out = m.denoise(stack)
    np.testing.assert_array_equal(out[1], 0.25)
    assert not np.allclose(out[0], stack[0])


# ------------------------------------------------------------------ row 6: permissions
def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        src = _tif(tmp_path / "in.tif")
        code, out = _cli("train", "gaussian", src, "--out", tmp_path / "m")
        assert code == 0, out
        code, out = _cli("denoise", tmp_path / "m", src, tmp_path / "d.tif")
        assert code == 0, out
        code, out = _cli("synth", "stripe", src, tmp_path / "s.tif")
        assert code == 0, out
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o755
    for f in (tmp_path / "m" / "method.json", tmp_path / "d.tif", tmp_path / "s.tif"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


# ------------------------------------------------------------------ row 8: clarity
def test_output_problems_are_one_line_errors_before_any_work(tmp_path, model, monkeypatch):
    a = _tif(tmp_path / "a.tif")
    folder = tmp_path / "outdir"
    folder.mkdir()
    code, out = _cli("denoise", model, a, folder)
    assert code == 1 and "is a folder" in _first_error(out)
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    code, out = _cli("denoise", model, a, blocker / "o.tif")
    assert code == 1 and "is a file, not a folder" in _first_error(out)

    calls = []
    monkeypatch.setattr(methods, "load", lambda p: calls.append(p))
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: mode != os.W_OK and real_access(p, mode, **kw)
    )
    code, out = _cli("denoise", model, a, tmp_path / "o.tif")
    assert code == 1 and "not writable" in _first_error(out), out
    assert calls == []  # refused before the model was even loaded


def test_missing_or_truncated_model_files(tmp_path, model):
    a = _tif(tmp_path / "a.tif")
    code, out = _cli("denoise", tmp_path / "nowhere", a, "o.tif")
    assert code == 1 and "not a saved structnoise model" in _first_error(out)
    (model / "method.json").write_text('{"method": "gaussian", "par')
    code, out = _cli("denoise", model, a, "o.tif")
    assert code == 1 and "corrupt" in _first_error(out)


@pytest.mark.slow
def test_missing_or_truncated_state_dict(tmp_path):
    """A network model (n2v, smoke profile) with its weights file cut or gone."""
    src = _tif(tmp_path / "in.tif", shape=(4, 64, 64))
    code, out = _cli(
        "train", "n2v", src, "--out", tmp_path / "m", "--profile", "smoke", "--no-progress"
    )
    assert code == 0, out
    weights = sorted((tmp_path / "m").glob("*.pt")) + sorted((tmp_path / "m").glob("*.ckpt"))
    assert weights, sorted((tmp_path / "m").iterdir())
    w = weights[0]
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    code, out = _cli("denoise", tmp_path / "m", src, "o.tif")
    assert code == 1
    assert "corrupt or truncated" in _first_error(out)
    w.unlink()
    code, out = _cli("denoise", tmp_path / "m", src, "o.tif")
    assert code == 1
    line = _first_error(out)
    assert ("incomplete" in line or f"{w.name} is missing" in line) and "error: 2" not in out


# ------------------------------------------------------------------ row 11: parameters
def test_typo_in_a_parameter_is_refused(tmp_path):
    src = _tif(tmp_path / "in.tif")
    code, out = _cli("train", "gaussian", src, "--out", tmp_path / "m", "--set", "sigm=3")
    assert code == 1
    line = _first_error(out)
    assert "unknown parameter(s) ['sigm']" in line and "sigma" in line
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", [n for n in methods.list_methods() if not n.startswith("test-")])
def test_every_builtin_method_rejects_unknown_parameters(name):
    with pytest.raises(TypeError, match=r"unknown .*parameter.*'not_a_parameter'"):
        methods.create(name, not_a_parameter=1)
