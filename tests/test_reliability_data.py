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
from typing import Any, ClassVar

import numpy as np
import pytest
import tifffile
from typer.testing import CliRunner

from structnoise.cli import app
from structnoise.methods import BaseDenoiser, MethodInfo, register, registry

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
    # a model folder and a run folder behind a broken link
    link = tmp_path / "model-link"
    link.symlink_to(tmp_path / "store" / "m")
    code, out = _cli("train", "gaussian", src, "--out", link)
    assert code == 1 and "symbolic link" in _first_error(out)
    assert link.is_symlink() and not (tmp_path / "store" / "m").exists()
    code, out = _cli("train", "gaussian", src, "--out", link, "--overwrite")
    assert code == 0, out
    assert link.is_symlink() and (tmp_path / "store" / "m" / "method.json").is_file()
    link = tmp_path / "run-link"
    link.symlink_to(tmp_path / "nowhere" / "run")
    code, out = _cli("run", "--profile", "smoke", "--methods", "noisy", "--out", link, "-q")
    assert code == 2 and "symbolic link" in _first_error(out)
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


# ------------------------------------------------------------------ 3: pages of several shapes
def _pages(path: Path, shapes) -> Path:
    rng = np.random.default_rng(0)
    with tifffile.TiffWriter(path) as w:
        for shape in shapes:
            w.write(rng.random(shape).astype(np.float32))
    return path


def test_pages_of_different_shapes_are_refused_not_dropped(tmp_path, model):
    src = _pages(tmp_path / "pages.tif", [(64, 64), (32, 48), (64, 64)])
    out = tmp_path / "den.tif"
    code, text = _cli("denoise", model, src, out)
    assert code == 1
    line = _first_error(text)
    assert "3 images of different shapes (64 x 64, 32 x 48, 64 x 64)" in line
    assert not out.exists()
    code, text = _cli("analyze", src)
    assert code == 1 and "different shapes" in _first_error(text)


def test_pages_of_one_shape_written_one_by_one_are_all_read(tmp_path, model):
    src = _pages(tmp_path / "pages.tif", [(32, 32)] * 5)
    out = tmp_path / "den.tif"
    code, text = _cli("denoise", model, src, out)
    assert code == 0, text
    assert tifffile.imread(out).shape == (5, 32, 32)


# ------------------------------------------------------------------ 5: hostile names in Table 1
def _results(rows):
    import pandas as pd

    from structnoise.benchmark.results import COLUMNS

    records = []
    for i, (dataset, method, value) in enumerate(rows):
        rec = dict.fromkeys(COLUMNS)
        rec.update(
            run_id="r", cell_id=f"c{i}", method=method, params="{}", label=method,
            dataset=dataset, seed=0, cell_seed=i, profile="quick", metric="psnr", value=value,
            status="ok" if value is not None else "failed",
            reason="" if value is not None else "<b>boom</b> | x", fit_s=1.0,
            denoise_s=0.5, peak_rss_mb=1.0, device="cpu", n_images=1,
        )  # fmt: skip
        records.append(rec)
    return pd.DataFrame(records, columns=COLUMNS)


def test_table1_escapes_hostile_names():
    from structnoise.benchmark.tables import build_table1

    rows = [
        ("data|<script>alert(1)</script>", "noisy", 10.0),
        ("data|<script>alert(1)</script>", "gauss|ian*", 20.0),
        ("data|<script>alert(1)</script>", "x^2~_&%<y>", None),
        ("a_b^c", "noisy", 11.0),
        ("a_b^c", "gauss|ian*", 21.0),
    ]
    t1 = build_table1(_results(rows))
    md = t1.markdown.splitlines()
    header, first = md[0], md[2]
    # a column per method: the bars inside names do not split cells
    assert header.replace("\\|", "").count("|") == 5
    assert first.replace("\\|", "").count("|") == 5
    assert first.split(" | ")[2] == "**20.00**"  # the gaussian column shows gaussian's value
    assert "<script>" not in t1.markdown and "&lt;script&gt;" in t1.markdown
    assert "<b>" not in t1.markdown and "gauss\\|ian\\*" in header
    tex = t1.latex
    assert r"x\textasciicircum{}2\textasciitilde{}\_\&\%\textless{}y\textgreater{}" in tex
    assert r"data\textbar{}\textless{}script\textgreater{}" in tex
    assert r"a\_b\textasciicircum{}c" in tex
    body = [ln for ln in tex.splitlines() if ln.endswith(r"\\")]
    assert all(ln.count(" & ") == 3 for ln in body)  # dataset + three methods per row


# ------------------------------------------------------------------ 6: mixed data types
def test_folder_of_mixed_dtypes_is_refused(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((32, 32)) * 255).astype(np.uint8)).save(folder / "a.png")
    tifffile.imwrite(folder / "b.tif", rng.random((32, 32)).astype(np.float32))
    tifffile.imwrite(folder / "c.tif", (rng.random((32, 32)) * 65535).astype(np.uint16))
    tifffile.imwrite(folder / "d.tif", (rng.random((32, 32)) * 65535).astype(np.uint16))
    code, text = _cli("analyze", folder)
    assert code == 1
    line = _first_error(text)
    assert "different data types" in line
    assert "uint8 (a.png)" in line and "float (b.tif)" in line
    assert "uint16 (c.tif and 1 more)" in line
    # one type (floats of any precision count as one): read as one stack
    (folder / "a.png").unlink()
    for f in ("c.tif", "d.tif"):
        tifffile.imwrite(folder / f, rng.random((32, 32)).astype(np.float64))
    code, text = _cli("analyze", folder)
    assert code == 0, text


# ------------------------------------------------------------------ 7: clean = noisy
def test_train_refuses_clean_identical_to_noisy(tmp_path):
    src = _tif(tmp_path / "noisy.tif")
    copy = tmp_path / "copy.tif"
    copy.write_bytes(src.read_bytes())
    for clean in (src, copy):
        code, text = _cli("train", "care", src, "--clean", clean, "--out", tmp_path / "m")
        assert code == 1
        assert "holds the same images as" in _first_error(text)
        assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------ 8: output format
def test_outputs_are_written_in_the_format_their_extension_names(tmp_path, model):
    src = _tif(tmp_path / "in.tif")
    for name in ("out.png", "out.jpg", "out", "out.PNG"):
        code, text = _cli("denoise", model, src, tmp_path / name)
        assert code == 1
        assert "structnoise writes float32 images as TIFF" in _first_error(text)
        assert not (tmp_path / name).exists()
    code, text = _cli("denoise", model, src, tmp_path / "out.npy")
    assert code == 0, text
    arr = np.load(tmp_path / "out.npy")  # a NumPy file, not TIFF bytes
    assert arr.shape == (2, 32, 32) and arr.dtype == np.float32
    code, text = _cli("synth", "stripe", src, tmp_path / "s.npy")
    assert code == 0, text
    assert np.load(tmp_path / "s.npy").shape == (2, 32, 32)
    code, text = _cli("synth", "stripe", src, tmp_path / "s.png")
    assert code == 1 and "TIFF" in _first_error(text)
    code, text = _cli("synth", "stripe", src, tmp_path / "s2.tif", "--write-clean", "c.jpg")
    assert code == 1 and not (tmp_path / "s2.tif").exists()
    # what was written reads back (.npy is an input too)
    code, text = _cli("denoise", model, tmp_path / "s.npy", tmp_path / "d.tif")
    assert code == 0, text
    assert tifffile.imread(tmp_path / "d.tif").shape == (2, 32, 32)


# ------------------------------------------------------------------ 4: resume after data changed
def _local_dataset(folder: Path, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy = np.linspace(0, 1, 32)[:, None] * np.ones((1, 32))
    clean = np.stack([yy * (i + 1) / 4 for i in range(6)]).astype(np.float32)
    noisy = (clean + rng.normal(0, 0.1, clean.shape)).astype(np.float32)
    paths = {}
    for key, arr in (
        ("train_noisy", noisy[:4]),
        ("test_noisy", noisy[4:]),
        ("test_clean", clean[4:]),
    ):
        paths[key] = str(folder / f"{key}.tif")
        tifffile.imwrite(paths[key], arr)
    return {"name": "mine", "axis": "horizontal", **paths}


def _run_config(tmp_path, methods, dataset) -> dict:
    return {
        "schema_version": 1,
        "name": "t",
        "profile": "smoke",
        "methods": methods,
        "datasets": [dataset],
        "seeds": [0],
        "out": str(tmp_path / "run"),
        "report": False,
    }


def _psnr_by_method(table) -> dict:
    rows = table[(table["metric"] == "psnr") & table["final"].astype(bool)]
    return dict(zip(rows["method"], rows["value"], strict=True))


def test_resume_reruns_cells_whose_data_or_settings_changed(tmp_path, capsys):
    from structnoise.benchmark.runfolder import read_records, record_path
    from structnoise.benchmark.runner import run

    data = _local_dataset(tmp_path / "data")
    cfg = _run_config(tmp_path, ["noisy", "gaussian"], data)
    first = run(cfg, progress=False)
    assert first.counts["ok"] == 2 and first.counts["reused"] == 0
    before = _psnr_by_method(first.table)

    # the user edits the test targets: the recorded scores no longer hold
    clean = tifffile.imread(data["test_clean"])
    tifffile.imwrite(data["test_clean"], (clean[:, ::-1] * 0.5).astype(np.float32))
    second = run(cfg, progress=True)
    assert "test images changed since they were recorded" in capsys.readouterr().err
    assert second.counts["reused"] == 0 and second.counts["ok"] == 2
    after = _psnr_by_method(second.table)
    assert all(abs(after[m] - before[m]) > 1 for m in before), (before, after)
    fresh = run({**cfg, "out": str(tmp_path / "fresh")}, progress=False)
    assert _psnr_by_method(fresh.table) == pytest.approx(after)  # as a fresh run
    prints = {r["dataset_fingerprint"] for r in read_records(second.run_dir).values()}
    assert len(prints) == 1

    third = run(cfg, progress=False)  # nothing changed: everything reused
    assert third.counts["reused"] == 2

    # a record whose settings are not this run's is not reused either
    path = next(p for p in (second.run_dir / "cells").glob("gaussian*.json"))
    rec = json.loads(path.read_text())
    rec["denoise_options"] = {"tile": 7}
    path.write_text(json.dumps(rec))
    fourth = run(cfg, progress=False)
    assert fourth.counts["reused"] == 1
    assert (
        json.loads(record_path(second.run_dir, rec["cell_id"]).read_text())["denoise_options"] == {}
    )


# ------------------------------------------------------------------ 9: nothing succeeded
def test_run_where_no_cell_succeeded_exits_1(tmp_path):
    import yaml

    data = _local_dataset(tmp_path / "data")  # no train_clean: care is skipped
    cfg = _run_config(tmp_path, ["care"], data)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    code, text = _cli("run", tmp_path / "c.yaml", "--quiet")
    assert code == 1
    assert "no cell succeeded (0 failed, 1 skipped)" in _first_error(text)
    cfg = _run_config(tmp_path, ["care", "noisy"], data)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    code, text = _cli("run", tmp_path / "c.yaml", "--quiet")
    assert code == 0, text  # one cell succeeded: the run is usable


# ------------------------------------------------------------------ stale temporary files
def test_interrupted_writes_are_cleaned_at_the_next_report(tmp_path):
    from structnoise.benchmark.runfolder import read_records
    from structnoise.benchmark.runner import run
    from structnoise.utils import _host_tag, _pid_alive

    cfg = _run_config(tmp_path, ["noisy"], _local_dataset(tmp_path / "data"))
    run_dir = run(cfg, progress=False).run_dir
    dead = 4_194_000
    assert not _pid_alive(dead)
    ghost = json.dumps({"cell_id": "ghost", "status": "ok", "metrics": {"psnr": 99.0}})
    stale = [
        run_dir / "cells" / ".ghost.json.k3j4h5g6.tmp.json",  # an earlier version's name
        run_dir / "cells" / f".ghost2.json.{_host_tag()}-{dead}.a1b2c3d4.tmp.json",
        run_dir / f".table1.md.{_host_tag()}-{dead}.zzzzzzzz.tmp.md",
    ]
    live = run_dir / f".results.csv.{_host_tag()}-{os.getpid()}.q1w2e3r4.tmp.csv"
    for p in stale + [live]:
        p.write_text(ghost)
    assert "ghost" not in read_records(run_dir)  # never counted as a result
    code, text = _cli("report", run_dir)
    assert code == 0, text
    assert not any(p.exists() for p in stale)
    assert live.exists()  # still being written by a live process
    assert "ghost" not in read_records(run_dir)
    # written on another machine: stale once older than an hour
    other = run_dir / f".results.csv.ffffff-{os.getpid()}.q1w2e3r4.tmp.csv"
    other.write_text(ghost)
    code, text = _cli("report", run_dir)
    assert code == 0 and other.exists()
    old = os.path.getmtime(other) - 2 * 3600
    for p in (other, live):
        os.utime(p, (old, old))
    run(cfg, progress=False)
    assert not other.exists() and live.exists()


# ------------------------------------------------------------------ 2: which files are the model's
class _Stateful(BaseDenoiser):
    """A learnt test method whose state file is named by its parameter ``state``."""

    info: ClassVar[MethodInfo] = MethodInfo(description="test: state file")
    param_names: ClassVar[tuple[str, ...]] = ("state",)

    def __init__(self, *, state: str = "a", **common: Any):
        super().__init__(state=state, **common)

    def _fit(self, noisy, clean, val) -> None:
        self.level = float(noisy.mean())

    def _denoise(self, noisy, **options):
        return noisy

    def _save_state(self, path: Path) -> None:
        np.save(path / f"{self.params['state']}.npy", np.arange(3))


def test_overwrite_replaces_the_old_models_files_and_refuses_a_clash(tmp_path):
    src = _tif(tmp_path / "in.tif")
    m = tmp_path / "m"
    with registry.temporary():
        register("test-stateful")(_Stateful)
        train = ("train", "test-stateful", src, "--out", m, "--no-progress")
        code, out = _cli(*train, "--set", "state=a")
        assert code == 0, out
        assert json.loads((m / "method.json").read_text())["files"] == ["a.npy", "method.json"]
        (m / "notes.txt").write_text("mine")
        code, out = _cli(
            "train", "test-stateful", src, "--out", m, "--overwrite", "--set", "state=b"
        )
        assert code == 0, out
        assert sorted(p.name for p in m.iterdir()) == ["b.npy", "method.json", "notes.txt"]
        # a file of the user's where the new model writes one: nothing is replaced
        (m / "c.npy").write_text("also mine")
        before = _sha(m)
        code, out = _cli(
            "train", "test-stateful", src, "--out", m, "--overwrite", "--set", "state=c"
        )
        assert code == 1
        assert "holds c.npy, which the saved model did not write" in _first_error(out)
        assert _sha(m) == before and _hidden(tmp_path) == []


def test_train_removes_the_folders_of_killed_saves(tmp_path, model):
    from structnoise.utils import _host_tag, _pid_alive

    dead = 4_194_000
    assert not _pid_alive(dead)
    killed = tmp_path / f".model.new-{_host_tag()}-{dead}-k3j4h5g6"
    live = tmp_path / f".model.new-{_host_tag()}-{os.getpid()}-q1w2e3r4"
    for folder in (killed, live):
        folder.mkdir()
        (folder / "method.json").write_text("{}")
    code, out = _cli("train", "gaussian", tmp_path / "train.tif", "--out", model, "--overwrite")
    assert code == 0, out
    assert not killed.exists() and live.exists()
