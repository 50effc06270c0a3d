"""No user file lost, nothing wrong written silently (issue 21: data loss, wrong results).

Each test drives the ``structnoise`` command (or the function a command calls) as a user
would and checks the exit status, the one line printed and the user's files (sha256
before and after).
"""

import errno
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from structnoise.cli import app

runner = CliRunner()


def _cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def _first_error(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output, output
    return lines[0]


def _sha(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (or of the file ``path``)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {
        str(p.relative_to(path.parent)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    }


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith("."))


def _tif(path: Path, shape=(2, 32, 32), seed=0) -> Path:
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, rng.random(shape).astype(np.float32))
    return path


@pytest.fixture
def model(tmp_path) -> Path:
    """A saved ``gaussian`` model in ``tmp_path/model``."""
    src = _tif(tmp_path / "train.tif")
    code, out = _cli("train", "gaussian", src, "--out", tmp_path / "model", "--no-progress")
    assert code == 0, out
    return tmp_path / "model"


# ------------------------------------------------------------------ 1: full disk on export
@pytest.fixture(scope="module")
def direct_model(tmp_path_factory):
    """A DVLAE with a direct denoiser, trained for 4 steps (exportable)."""
    root = tmp_path_factory.mktemp("direct")
    rng = np.random.default_rng(0)
    tifffile.imwrite(root / "noisy.tif", (rng.random((2, 32, 32)) * 1000).astype(np.uint16))
    args = ["train", "dvlae-small", root / "noisy.tif", "--out", root / "m", "--direct"]
    args += ["--axis", "horizontal", "--rf", "4", "--profile", "smoke", "--no-progress"]
    code, out = _cli(*args, "--set", "max_steps=4")
    assert code == 0, out
    return root / "m"


def test_export_on_a_full_disk_keeps_the_old_package(direct_model, tmp_path, monkeypatch):
    import bioimageio.spec

    old = tmp_path / "old.zip"
    code, out = _cli("export", direct_model, old)
    assert code == 0, out
    before = _sha(tmp_path)

    def full_disk(descr, *, output_path, **kw):
        Path(output_path).write_bytes(b"PK" + b"\0" * 131070)  # half a package, then ENOSPC
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bioimageio.spec, "save_bioimageio_package", full_disk)
    code, out = _cli("export", direct_model, old, "--overwrite")
    assert code == 1
    assert "No space left" in _first_error(out)
    assert _sha(tmp_path) == before  # the old zip byte-identical, nothing else written
    code, out = _cli("export", direct_model, tmp_path / "new.zip")
    assert code == 1
    assert _sha(tmp_path) == before and _hidden(tmp_path) == []  # no partial package


# ------------------------------------------------------------------ 2: --overwrite of a model
def test_overwrite_keeps_the_users_files_in_the_model_folder(tmp_path, model):
    src = tmp_path / "train.tif"
    (model / "notes.txt").write_text("sigma 1 was too strong")
    (model / "results").mkdir()
    _tif(model / "results" / "denoised_by_hand.tif", seed=4)
    (model / "empty").mkdir()
    users = {k: v for k, v in _sha(model).items() if "method.json" not in k}
    meta = json.loads((model / "method.json").read_text())
    assert meta["files"] == ["method.json"]  # the model lists its own files

    for sigma in (2, 3):
        code, out = _cli(
            "train", "gaussian", src, "--out", model, "--overwrite", "--set", f"sigma={sigma}"
        )
        assert code == 0, out
        assert "kept 2 file(s)" in out and "notes.txt" in out
        assert json.loads((model / "method.json").read_text())["params"]["sigma"] == sigma
        assert {k: v for k, v in _sha(model).items() if "method.json" not in k} == users
        assert (model / "empty").is_dir()
        assert _hidden(tmp_path) == [] and _hidden(model) == []

    # a model saved before the list existed: only what the new model writes is replaced
    meta = json.loads((model / "method.json").read_text())
    del meta["files"]
    (model / "method.json").write_text(json.dumps(meta))
    code, out = _cli("train", "gaussian", src, "--out", model, "--overwrite")
    assert code == 0, out
    assert {k: v for k, v in _sha(model).items() if "method.json" not in k} == users


def test_overwrite_through_a_symlink_keeps_the_link(tmp_path, model):
    src = tmp_path / "train.tif"
    link = tmp_path / "links" / "M"
    link.parent.mkdir()
    link.symlink_to(model)
    code, out = _cli("train", "gaussian", src, "--out", link, "--overwrite", "--set", "sigma=2")
    assert code == 0, out
    assert link.is_symlink() and os.readlink(link) == str(model)
    assert json.loads((model / "method.json").read_text())["params"]["sigma"] == 2
    assert _hidden(link.parent) == [] and _hidden(tmp_path) == []


# ------------------------------------------------------------------ broken symlink outputs
def test_broken_symlink_output_needs_overwrite(tmp_path, model):
    src = _tif(tmp_path / "in.tif", seed=2)
    target = tmp_path / "store" / "den.tif"
    target.parent.mkdir()
    link = tmp_path / "den.tif"
    link.symlink_to(target)  # dangling: the target does not exist
    code, out = _cli("denoise", model, src, link)
    assert code == 1
    assert "symbolic link" in _first_error(out) and "--overwrite" in out
    assert link.is_symlink() and not target.exists()
    code, out = _cli("denoise", model, src, link, "--overwrite")
    assert code == 0, out
    assert link.is_symlink() and target.is_file()  # written through the link
    assert tifffile.imread(target).shape == (2, 32, 32)
