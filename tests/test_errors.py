"""One line, never a traceback: damaged model folders, hostile files, full disks (issue 21).

Each test drives the ``structnoise`` command in-process as a user would and checks the exit
status, that exactly one ``error:`` line names the file, key or value, and that no traceback
is printed. Faults the test machine cannot produce (a full disk; a read-only folder when the
tests run as root, where permissions do not bite) are raised by monkeypatching the call that
meets them.
"""

import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from structnoise.cli import app
from structnoise.methods import BaseDenoiser, MethodInfo, register, registry

runner = CliRunner()


def _cli(*args) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), f"traceback: {exc!r}\n{result.output}"
    return result.exit_code, result.output


def _error(output: str) -> str:
    """The one ``error:`` line of ``output`` (no traceback)."""
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output, output
    return lines[0]


def _tif(path: Path, shape=(2, 32, 32), seed=0, scale=1.0) -> Path:
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, (rng.random(shape) * scale).astype(np.float32))
    return path


class _TorchState(BaseDenoiser):
    """A learnt test method whose state is a torch file (``model.pt``), loaded safely."""

    info: ClassVar[MethodInfo] = MethodInfo(description="test: torch state")
    param_names: ClassVar[tuple[str, ...]] = ()

    def _fit(self, noisy, clean, val) -> None:
        self.offset = float(noisy.mean())

    def _denoise(self, noisy, **options: Any):
        return noisy - self.offset * 0.01

    def _save_state(self, path: Path) -> None:
        import torch

        torch.save({"offset": torch.tensor(self.offset)}, path / "model.pt")

    def _load_state(self, path: Path, extra: dict) -> None:
        import torch

        state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        self.offset = float(state["offset"])


@pytest.fixture(autouse=True)
def _test_methods():
    with registry.temporary():
        register("test-torchstate")(_TorchState)
        yield


@pytest.fixture
def model(tmp_path) -> Path:
    """A saved ``gaussian`` model."""
    src = _tif(tmp_path / "train.tif")
    code, out = _cli("train", "gaussian", src, "--out", tmp_path / "model", "--no-progress")
    assert code == 0, out
    return tmp_path / "model"


def _edit(model: Path, dst: Path, change) -> Path:
    shutil.copytree(model, dst)
    meta = json.loads((dst / "method.json").read_text())
    (dst / "method.json").write_text(json.dumps(change(meta)))
    return dst


# ------------------------------------------------------------------ damaged method.json
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: [1, 2], "expected a JSON object"),
        (lambda m: {**m, "params": [1]}, "params must be a JSON object"),
        (lambda m: {**m, "params": {**m["params"], "sigma": "abc"}}, "sigma must be a number"),
        (lambda m: {**m, "params": {**m["params"], "sigma": 1e12}}, "sigma must be a number"),
        (lambda m: {**m, "params": {**m["params"], "seed": "x"}}, "seed must be a whole number"),
        (lambda m: {**m, "params": {**m["params"], "max_minutes": "nan"}}, "max_minutes"),
        (lambda m: {**m, "data_range": [1]}, "data_range must be [min, max]"),
        (lambda m: {**m, "data_range": [2, 1]}, "data_range must be [min, max]"),
        (lambda m: {**m, "format": 99}, "format 99, newer than this structnoise reads"),
        (lambda m: {**m, "format": "1"}, "format must be a whole number"),
        (lambda m: {**m, "method": 5}, "method must be a method name"),
        (lambda m: {**m, "fitted": "yes"}, "fitted must be true or false"),
    ],
)
def test_damaged_method_json_is_one_line_naming_file_and_key(tmp_path, model, change, expected):
    bad = _edit(model, tmp_path / "bad", change)
    src = _tif(tmp_path / "a.tif")
    code, out = _cli("denoise", bad, src, tmp_path / "o.tif")
    line = _error(out)
    assert code == 1 and expected in line and "method.json" in line, line
    assert not (tmp_path / "o.tif").exists()


def test_huge_sigma_is_refused_at_train_as_at_load(tmp_path):
    """sigma 1e12 asked for 58 TiB; the same check runs at train and at load."""
    src = _tif(tmp_path / "in.tif")
    for value in ("1e12", "abc", "-1", "nan"):
        code, out = _cli(
            "train", "gaussian", src, "--out", tmp_path / "m", "--set", f"sigma={value}"
        )
        assert code == 1 and "sigma must be a number of pixels in [0, 1000]" in _error(out)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-3"])
def test_max_minutes_must_be_a_positive_number(tmp_path, value):
    src = _tif(tmp_path / "in.tif")
    code, out = _cli("train", "gaussian", src, "--out", tmp_path / "m", "--max-minutes", value)
    line = _error(out)
    assert code == 1 and re.search(r"max[_-]minutes must be (a )?positive", line), line
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ hostile or damaged weights
def test_weights_naming_code_are_refused_as_such(tmp_path):
    import torch

    src = _tif(tmp_path / "in.tif")
    code, out = _cli("train", "test-torchstate", src, "--out", tmp_path / "m", "--no-progress")
    assert code == 0, out

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned > owned.txt",))

    torch.save({"offset": Evil()}, tmp_path / "m" / "model.pt")
    code, out = _cli("denoise", tmp_path / "m", src, tmp_path / "o.tif")
    line = _error(out)
    assert code == 1 and "names code" in line and "system" in line, line
    assert "corrupt" not in line
    assert not (tmp_path / "owned.txt").exists()
    # truncated: still "corrupt or truncated"
    (tmp_path / "m" / "model.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    code, out = _cli("denoise", tmp_path / "m", src, tmp_path / "o.tif")
    assert code == 1 and "corrupt or truncated" in _error(out)


@pytest.mark.parametrize(
    "content", [b"this is text\n", b"t\x00\x00", bytes(range(256)) * 2, b"\x80\x04K\x01."]
)
def test_import_authors_on_a_file_that_is_not_a_checkpoint(tmp_path, content):
    (tmp_path / "x.ckpt").write_bytes(content)
    code, out = _cli("import-authors", tmp_path / "x.ckpt", "--out", tmp_path / "m")
    line = _error(out)
    assert code == 1 and "x.ckpt" in line and ("not a torch checkpoint" in line or "holds" in line)
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ plugins
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = 1\nraise RuntimeError('boom')\n", "failed while being imported at line 2"),
        ("def f(:\n    pass\n", "has a syntax error (line 1"),
        ("import not_a_module_anywhere_xyz\n", "failed while being imported"),
    ],
)
def test_broken_plugin_file_is_one_line(tmp_path, source, expected):
    plugin = tmp_path / "myplugin.py"
    plugin.write_text(source)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"name: p\nprofile: smoke\nplugins: [{plugin}]\nmethods: [noisy]\n"
        "datasets: [embedded-stripe]\n"
    )
    code, out = _cli("run", cfg, "--plan")
    line = _error(out)
    assert code == 2 and "myplugin.py" in line and expected in line, line


# ------------------------------------------------------------------ values and files
def test_values_near_the_float32_limit_are_refused_by_name(tmp_path, model):
    big = _tif(tmp_path / "big.tif", scale=3.4e38)
    for args in (
        ("analyze", big),
        ("denoise", model, big, tmp_path / "o.tif"),
        ("train", "gaussian", big, "--out", tmp_path / "m"),
        ("synth", "stripe", big, tmp_path / "s.tif"),
    ):
        code, out = _cli(*args)
        line = _error(out)
        assert code == 1 and "big.tif: values reach 3.4e+38" in line, (args, line)
        assert "image is constant" not in line


def test_nan_pixels_are_counted_in_the_input_file(tmp_path, model):
    img = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    img.flat[[3, 70, 500, 900, 1000, 1500, 2000, 3000, 4000, 4095]] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", img)
    for args in (
        ("synth", "stripe", tmp_path / "nan.tif", tmp_path / "s.tif"),
        ("denoise", model, tmp_path / "nan.tif", tmp_path / "o.tif"),
        ("analyze", tmp_path / "nan.tif"),
    ):
        code, out = _cli(*args)
        line = _error(out)
        assert code == 1 and "nan.tif: contains 10 NaN value(s)" in line, (args, line)


def test_synth_warns_when_the_scaling_makes_the_noise_meaningless(tmp_path):
    u16 = tmp_path / "u16.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(u16, (rng.random((1, 64, 64)) * 60000).astype(np.uint16))
    unit = _tif(tmp_path / "unit.tif", shape=(1, 64, 64))
    for src, scale, effect in ((u16, "none", "negligible"), (unit, "8bit", "far stronger")):
        code, out = _cli("synth", "stripe", src, tmp_path / f"s_{scale}.tif", "--scale", scale)
        warnings = [ln for ln in out.splitlines() if ln.startswith("warning:")]
        assert code == 0 and len(warnings) == 1 and effect in warnings[0], out
    code, out = _cli("synth", "stripe", u16, tmp_path / "s_auto.tif")
    assert code == 0 and "warning:" not in out


def test_macos_resource_forks_in_an_input_folder_are_skipped(tmp_path, model):
    folder = tmp_path / "imgs"
    folder.mkdir()
    _tif(folder / "img0.tif", shape=(32, 32))
    (folder / "._img0.tif").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 200)
    code, out = _cli("denoise", model, folder, tmp_path / "o.tif")
    assert code == 0, out
    assert tifffile.imread(tmp_path / "o.tif").shape == (1, 32, 32)  # a folder is a stack


def test_export_name_is_checked_before_any_work(tmp_path, model, monkeypatch):
    import structnoise.methods.registry as reg

    loaded = []
    monkeypatch.setattr(reg, "load", lambda *a, **k: loaded.append(a))
    code, out = _cli("export", model, tmp_path / "x.zip", "--name", "../x")
    line = _error(out)
    assert code == 1 and "--name '../x'" in line and "5 to 128 characters" in line
    assert loaded == [] and not (tmp_path / "x.zip").exists()


# ------------------------------------------------------------------ run folders
@pytest.fixture
def run_dir(tmp_path) -> Path:
    out = tmp_path / "run"
    code, text = _cli(
        "run", "--profile", "smoke", "--methods", "noisy,gaussian", "--out", out, "--quiet"
    )
    assert code == 0, text
    return out


def test_report_on_a_missing_path_says_it_does_not_exist(tmp_path):
    code, out = _cli("report", tmp_path / "nowhere")
    assert code == 2 and "nowhere does not exist" in _error(out)


def test_report_on_a_read_only_run_folder(run_dir, monkeypatch):
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    if os.geteuid() == 0:  # root writes anyway: the folder refuses as a read-only one would
        real = os.access
        monkeypatch.setattr(
            os,
            "access",
            lambda p, mode, **kw: (
                False if mode == os.W_OK and Path(p) == run_dir else real(p, mode, **kw)
            ),
        )
        code, out = _cli("report", run_dir)
    else:
        run_dir.chmod(0o555)
        try:
            code, out = _cli("report", run_dir)
        finally:
            run_dir.chmod(0o755)
    assert code == 1 and "is not writable" in _error(out)
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_report_names_a_damaged_cell_record_and_drops_the_stale_figure(run_dir):
    figs = sorted(run_dir.glob("fig3_*.png"))
    assert figs
    record = next((run_dir / "cells").glob("gaussian__*.json"))
    record.write_text('{"cell_id": "gauss')
    code, out = _cli("report", run_dir)
    assert code == 0, out
    assert f"cells/{record.name} cannot be read" in out
    assert "no denoised images" in out and "no example image" not in out
    assert not any(f.exists() for f in figs)  # the old figure showed the damaged cell


@pytest.mark.parametrize(
    ("err", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
        (
            OSError("[Errno 28] Error writing bytes to file. Detail: No space left on device"),
            "the disk is full",
        ),
        (PermissionError(errno.EROFS, "Read-only file system"), "not writable"),
    ],
)
def test_a_full_or_read_only_disk_in_run_is_one_line(tmp_path, monkeypatch, err, words):
    import pandas as pd

    def refuse(*args, **kwargs):
        raise err

    monkeypatch.setattr(pd.DataFrame, "to_parquet", refuse)
    code, out = _cli(
        "run", "--profile", "smoke", "--methods", "noisy", "--out", tmp_path / "r", "--quiet"
    )
    assert code == 1 and words in _error(out), out


def test_run_out_under_a_read_only_parent(tmp_path, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if self.parent == parent:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    if os.geteuid() == 0:
        monkeypatch.setattr(Path, "mkdir", mkdir)
    else:
        parent.chmod(0o555)
    try:
        code, out = _cli(
            "run", "--profile", "smoke", "--methods", "noisy", "--out", parent / "r", "--quiet"
        )
    finally:
        parent.chmod(0o755)
    line = _error(out)
    assert code == 1 and "not writable" in line and "ro/r" in line, line


def test_resume_in_a_read_only_run_folder(run_dir, monkeypatch):
    import structnoise.benchmark.runfolder as rf

    def refuse(path, data):
        raise PermissionError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(rf, "write_json", refuse)
    code, out = _cli(
        "run", "--profile", "smoke", "--methods", "noisy,gaussian,bm3d", "--out", run_dir
    )
    assert code == 1 and "not writable" in _error(out), out


def test_train_on_a_full_disk_is_one_line_and_keeps_no_model(tmp_path, monkeypatch):
    """torch.save on a full disk raises a RuntimeError ("unexpected pos"), not an OSError."""
    src = _tif(tmp_path / "in.tif")

    def full(self, path):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0")

    monkeypatch.setattr(_TorchState, "_save_state", full)
    code, out = _cli("train", "test-torchstate", src, "--out", tmp_path / "m", "--no-progress")
    line = _error(out)
    assert code == 1 and "disk" in line and "full" in line, line
    assert not (tmp_path / "m").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".m.")]


def test_unexpected_errors_are_one_line_and_the_traceback_is_opt_in(tmp_path, monkeypatch):
    src = _tif(tmp_path / "in.tif")

    def bug(self, noisy, clean, val):
        raise IndexError("list index out of range")

    monkeypatch.setattr(_TorchState, "_fit", bug)
    code, out = _cli("train", "test-torchstate", src, "--out", tmp_path / "m")
    line = _error(out)
    assert code == 1 and "unexpected IndexError" in line and "STRUCTNOISE_TRACEBACK=1" in line
    monkeypatch.setenv("STRUCTNOISE_TRACEBACK", "1")
    result = runner.invoke(
        app, ["train", "test-torchstate", str(src), "--out", str(tmp_path / "m")]
    )
    assert isinstance(result.exception, IndexError)


def test_a_million_cell_plan_is_refused_at_once(tmp_path):
    seeds = ",".join(map(str, range(1000)))
    code, out = _cli(
        "run",
        "--profile",
        "smoke",
        "--methods",
        "gaussian[sigma=[1,2,3,4,5,6,7,8,9,10,11]]",
        "--seeds",
        seeds,
        "--plan",
    )
    line = _error(out)
    assert code == 2 and "11,000 cells" in line and "10,000 one run takes" in line, line


def test_synth_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    """numpy's short write carries no errno ("100000 requested and 7096 written")."""
    src = _tif(tmp_path / "c.tif", shape=(64, 64))

    def short(*args, **kwargs):
        raise OSError("100000 requested and 7096 written")

    monkeypatch.setattr(tifffile, "imwrite", short)
    code, out = _cli("synth", "stripe", src, tmp_path / "s.tif")
    line = _error(out)
    assert code == 1 and "the disk is full" in line, line
    assert not (tmp_path / "s.tif").exists()


@pytest.fixture(scope="module")
def n2v_model(tmp_path_factory) -> Path:
    """A saved n2v model (smoke profile: a few steps)."""
    root = tmp_path_factory.mktemp("n2v")
    src = _tif(root / "in.tif", shape=(4, 64, 64))
    code, out = _cli(
        "train", "n2v", src, "--out", root / "m", "--profile", "smoke", "--no-progress"
    )
    assert code == 0, out
    return root / "m"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda d: _edit_file(
                d / "unet.json",
                lambda t: json.dumps({k: v for k, v in json.loads(t).items() if k != "conv_dims"}),
            ),
            "unet.json: not the settings of careamics' UNet",
        ),
        (lambda d: _edit_file(d / "unet.json", lambda t: "[1]"), "unet.json: expected a JSON"),
        (
            lambda d: _edit_file(d / "careamics_config.yml", lambda t: t[:200] + "\n  - ["),
            "careamics_config.yml: not plain YAML",
        ),
        (
            lambda d: _edit_file(
                d / "careamics_config.yml",
                lambda t: "x: !!python/object/apply:os.system ['echo owned']\n",
            ),
            "careamics_config.yml: not plain YAML",
        ),
        (
            lambda d: _edit_file(
                d / "method.json",
                lambda t: json.dumps(
                    {**json.loads(t), "extra": {**json.loads(t)["extra"], "norm": {"std": 0}}}
                ),
            ),
            "extra.norm.std must be > 0",
        ),
    ],
)
def test_damaged_careamics_model_folder(tmp_path, n2v_model, damage, expected):
    model = tmp_path / "m"
    shutil.copytree(n2v_model, model)
    damage(model)
    src = _tif(tmp_path / "a.tif", shape=(64, 64))
    code, out = _cli("denoise", model, src, tmp_path / "o.tif")
    line = _error(out)
    assert code == 1 and expected in line, line
    assert not (tmp_path / "owned").exists()


def _edit_file(path: Path, change) -> None:
    path.write_text(change(path.read_text()))


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ('max_steps="abc"', "max_steps must be a positive whole number, got 'abc'"),
        ("batch=2.5", "batch must be a positive whole number, got 2.5"),
        ("patch=1073741824", "patch must be at most 4096"),
        ("lr=NaN", "lr must be a positive number, got nan"),
    ],
)
def test_careamics_settings_are_checked_by_type_and_range(tmp_path, setting, expected):
    src = _tif(tmp_path / "in.tif", shape=(2, 64, 64))
    code, out = _cli("train", "n2v", src, "--out", tmp_path / "m", "--set", setting)
    line = _error(out)
    assert code == 1 and expected in line, line
    assert not (tmp_path / "m").exists()


def test_a_temporary_file_is_reported_as_its_folder():
    """A read-only folder met while writing ``.name.XXXX.tmp.ext`` names the folder."""
    from structnoise._cli_util import describe_unhandled

    exc = PermissionError(errno.EROFS, "Read-only file system", "run/.config.1.yaml.ab12.tmp.yaml")
    line = describe_unhandled(exc)
    assert line.startswith("run: Read-only file system") and ".tmp" not in line, line


@pytest.mark.parametrize(
    ("name", "setting", "expected"),
    [
        ("dvlae-small", "lr=-1", "lr must be a finite number >= 0, got -1"),
        ("dvlae-small", 'max_steps="x"', "max_steps must be a whole number >= 0, got 'x'"),
        ("dvlae-small", "batch=1000000000", "batch must be at most 4096"),
        ("dvlae-small", 'lr="1e-3"', "write 0.001"),
        ("hdn", "max_steps=-5", "max_steps must be a whole number >= 0, got -5"),
    ],
)
def test_ladder_vae_settings_are_checked_by_type_and_range(tmp_path, name, setting, expected):
    src = _tif(tmp_path / "in.tif", shape=(2, 64, 64))
    extra = ["--clean", src] if name == "hdn" else []  # hdn calibrates on clean images
    code, out = _cli("train", name, src, "--out", tmp_path / "m", "--set", setting, *extra)
    line = _error(out)
    assert code == 1 and expected in line, line
    assert not (tmp_path / "m").exists()


def test_denoise_on_a_full_disk_says_so_and_keeps_the_old_output(tmp_path, model, monkeypatch):
    src = _tif(tmp_path / "a.tif")
    old = _tif(tmp_path / "o.tif", seed=5)
    before = old.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tifffile, "imwrite", full)
    code, out = _cli("denoise", model, src, old, "--overwrite")
    line = _error(out)
    assert code == 1 and "o.tif" in line and "the disk is full" in line, line
    assert old.read_bytes() == before
