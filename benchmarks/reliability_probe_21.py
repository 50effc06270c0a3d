"""Issue 21's scenarios for ``benchmarks/reliability_probe.py`` (run through it, not alone).

Every case of issue 21, in its order: the numbered cases 1-10, the tracebacks, the unclear
or unchecked messages and the ecosystem's tools on our outputs. Each runs the installed
command as a user would and records exit status, first line and the watched files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

EXE = [sys.executable, "-m", "structnoise.cli"]
NL, CR = b"\n", b"\r"
UNESCAPED_BAR = r"(?<!\\)\|"
UNESCAPED_TEX = r"(?<!\\)[\^~]"


@contextlib.contextmanager
def tmpfs(where: Path, size_kb: int):
    """A small tmpfs mounted at ``where`` (None when this user may not mount one)."""
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def remount_ro(where: Path) -> bool:
    """Make a mounted tmpfs read-only (binds root too)."""
    proc = subprocess.run(["mount", "-o", "remount,ro", str(where)], capture_output=True)
    return proc.returncode == 0


def fill(where: Path, leave_kb: int) -> None:
    """Fill the file system of ``where`` until about ``leave_kb`` KiB are free."""
    st = os.statvfs(where)
    free = st.f_bavail * st.f_frsize
    size = max(free - leave_kb * 1024, 0)
    with open(where / "filler.bin", "wb") as f:
        with contextlib.suppress(OSError):
            f.write(b"\0" * size)


def image(path: Path, shape=(2, 64, 64), seed=0, dtype=np.float32, scale=1.0) -> Path:
    """Write a random TIFF."""
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, (rng.random(shape) * scale).astype(dtype))
    return path


def magic(path: Path) -> str:
    """What a file's first bytes say it is."""
    if not path.exists():
        return "absent"
    head = path.read_bytes()[:8]
    for sig, name in (
        (b"\x89PNG", "PNG"),
        (b"\xff\xd8", "JPEG"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"\x93NUMPY", "NPY"),
        (b"PK", "zip"),
    ):
        if head.startswith(sig):
            return name
    return f"unknown {head[:4]!r}"


def scenarios_21(p, slow: bool, run, sha_tree) -> None:
    """Every case of issue 21 (``p``: the probe; ``run``/``sha_tree``: its helpers)."""
    w = p.work / "i21"
    w.mkdir()
    image(w / "in.tif")
    image(w / "clean.tif", seed=1)
    run(["train", "gaussian", "in.tif", "--out", "gm"], w)
    run(["train", "noisy", "in.tif", "--out", "nm"], w)

    def case(row, scenario, args, watch=(), cwd=None, note="", env=None):
        return p.case(f"21.{row}", scenario, args, list(watch), cwd=cwd or w, env=env, note=note)

    n2v = None
    if slow:
        code, _, _ = run(
            ["train", "n2v", "in.tif", "--out", "n2v", "--profile", "smoke", "--no-progress"], w
        )
        n2v = w / "n2v" if code == 0 else None

    # ---------------------------------------------------------------- 1 export on a full disk
    if n2v is not None:
        run(["export", "n2v", "ok.zip"], w)
        with tmpfs(w / "full1", 8192) as fs:
            if fs is None or not (w / "ok.zip").exists():
                p.note("21.1", "export --overwrite on a full disk", "not run: cannot mount tmpfs")
            else:
                shutil.copy(w / "ok.zip", fs / "old.zip")
                fill(fs, 8)
                case(
                    "1",
                    "export --overwrite onto a valid old.zip, disk nearly full",
                    ["export", "n2v", "full1/old.zip", "--overwrite"],
                    [fs / "old.zip"],
                    note=f"old.zip still a zip: {magic(fs / 'old.zip') == 'zip'}",
                )
                p.rows[-1]["files"] += f" -> {magic(fs / 'old.zip')}"
                case(
                    "1",
                    "export without --overwrite, disk nearly full",
                    ["export", "n2v", "full1/new.zip"],
                    [],
                )
                p.rows[-1]["files"] = f"new.zip {magic(fs / 'new.zip')}; leftovers: " + str(
                    sorted(x.name for x in fs.iterdir() if x.name not in ("old.zip", "filler.bin"))
                )
    # ---------------------------------------------------------------- 2 --overwrite, user files
    m2 = w / "m2"
    run(["train", "gaussian", "in.tif", "--out", "m2"], w)
    (m2 / "notes.txt").write_text("my notes\n")
    (m2 / "results").mkdir()
    image(m2 / "results" / "denoised_by_hand.tif", seed=7)
    case(
        "2",
        "train --overwrite on a model folder holding the user's files",
        ["train", "gaussian", "in.tif", "--out", "m2", "--overwrite"],
        [m2 / "notes.txt", m2 / "results"],
    )
    run(["train", "gaussian", "in.tif", "--out", "m2target"], w)
    (w / "m2link").symlink_to("m2target")
    case(
        "2",
        "train --overwrite with --out a symlink to a model",
        ["train", "gaussian", "in.tif", "--out", "m2link", "--overwrite"],
        [],
    )
    hidden = sorted(x.name for x in w.iterdir() if x.name.startswith(".m2link"))
    p.rows[-1]["files"] = (
        f"m2link is a symlink: {(w / 'm2link').is_symlink()}; hidden leftovers: {hidden or 'none'}"
    )
    # ---------------------------------------------------------------- 3 multi-page TIFF
    with tifffile.TiffWriter(w / "pages.tif") as tif:
        rng = np.random.default_rng(3)
        for shape in ((64, 64), (32, 48), (64, 64)):
            tif.write(rng.random(shape).astype(np.float32))
    code, _ = case(
        "3", "denoise pages 64x64, 32x48, 64x64", ["denoise", "gm", "pages.tif", "p.tif"]
    )
    if code == 0:
        p.rows[-1]["files"] = f"output shape {tifffile.imread(w / 'p.tif').shape}"
    case("3", "analyze the same file", ["analyze", "pages.tif"])
    # ---------------------------------------------------------------- 4 resume after data changed
    d4 = w / "d4"
    d4.mkdir()
    image(d4 / "train.tif", seed=4)
    image(d4 / "test_noisy.tif", seed=5)
    image(d4 / "test_clean.tif", seed=5, scale=0.9)
    (d4 / "c.yaml").write_text(
        "name: local\nprofile: smoke\nmethods: [noisy]\ndatasets:\n  - name: mine\n"
        "    train_noisy: train.tif\n    test_noisy: test_noisy.tif\n"
        "    test_clean: test_clean.tif\n"
    )
    run(["run", "c.yaml", "--out", "r4", "--quiet", "--no-report"], d4)
    image(d4 / "test_clean.tif", seed=99)
    case(
        "4",
        "resume after test_clean.tif was edited",
        ["run", "c.yaml", "--out", "r4", "--quiet", "--no-report"],
        cwd=d4,
    )
    # ---------------------------------------------------------------- 5 names in tables
    d5 = w / "d5"
    d5.mkdir()
    image(d5 / "t.tif", seed=6)
    image(d5 / "c.tif", seed=6, scale=0.9)
    name = "a|b <script>x</script> ^ ~"
    (d5 / "c.yaml").write_text(
        "name: names\nprofile: smoke\nmethods: [noisy, gaussian]\ndatasets:\n"
        f"  - name: {json.dumps(name)}\n    train_noisy: t.tif\n    test_noisy: t.tif\n"
        "    test_clean: c.tif\n"
    )
    code, _ = case(
        "5",
        "dataset named 'a|b <script>x</script> ^ ~'",
        ["run", "c.yaml", "--out", "r5", "--quiet"],
        cwd=d5,
    )
    md = d5 / "r5" / "table1.md"
    tex = d5 / "r5" / "table1.tex"
    if md.exists():
        rows = [ln for ln in md.read_text().splitlines() if ln.startswith("|")]
        cols = {len(re.split(UNESCAPED_BAR, ln)) for ln in rows}
        bare = bool(re.search(UNESCAPED_TEX, tex.read_text())) if tex.exists() else "-"
        p.rows[-1]["files"] = (
            f"table1.md rows with equal column counts: {len(cols) == 1}; raw <script> in "
            f"table1.md: {'<script>' in md.read_text()}; unescaped ^ or ~ in table1.tex: {bare}"
        )
    # ---------------------------------------------------------------- 6 mixed dtypes
    d6 = w / "mixed"
    d6.mkdir()
    rng = np.random.default_rng(6)
    import imageio.v3 as iio

    iio.imwrite(d6 / "a.png", (rng.random((64, 64)) * 255).astype(np.uint8))
    tifffile.imwrite(d6 / "b.tif", rng.random((64, 64)).astype(np.float32))
    tifffile.imwrite(d6 / "c.tif", (rng.random((64, 64)) * 65535).astype(np.uint16))
    case("6", "folder: uint8 PNG, float [0, 1] TIFF, uint16 TIFF", ["analyze", "mixed"], [d6])
    # ---------------------------------------------------------------- 7 clean == noisy
    case(
        "7",
        "train care in.tif --clean in.tif (smoke)",
        [
            "train",
            "care",
            "in.tif",
            "--clean",
            "in.tif",
            "--out",
            "m7",
            "--profile",
            "smoke",
            "--no-progress",
        ],
    )
    p.rows[-1]["files"] = f"m7 {'exists' if (w / 'm7').exists() else 'absent'}"
    # ---------------------------------------------------------------- 8 output formats
    iio.imwrite(w / "in.png", (rng.random((64, 64)) * 255).astype(np.uint8))
    for ext in ("png", "jpg"):
        code, _ = case("8", f"denoise to .{ext}", ["denoise", "gm", "in.png", f"out.{ext}"])
        p.rows[-1]["files"] = f"out.{ext} is {magic(w / f'out.{ext}')}"
    case("8", "synth to .npy", ["synth", "stripe", "in.tif", "s.npy"])
    p.rows[-1]["files"] = f"s.npy is {magic(w / 's.npy')}"
    # ---------------------------------------------------------------- 9 every cell failed
    d9 = w / "d9"
    d9.mkdir()
    (d9 / "fails.py").write_text(
        "from structnoise.methods import BaseDenoiser, MethodInfo, register\n"
        "@register('always-fails')\n"
        "class F(BaseDenoiser):\n"
        "    info = MethodInfo(description='fails')\n"
        "    param_names = ()\n"
        "    def _fit(self, noisy, clean, val):\n"
        "        raise RuntimeError('this method always fails')\n"
        "    def _denoise(self, noisy, **o):\n"
        "        return noisy\n"
    )
    (d9 / "c.yaml").write_text(
        "name: fails\nprofile: smoke\nplugins: [fails.py]\nmethods: [always-fails]\n"
        "datasets: [embedded-stripe]\n"
    )
    case("9", "a run where every cell failed", ["run", "c.yaml", "--out", "r9", "--quiet"], cwd=d9)
    # ---------------------------------------------------------------- 10 Ctrl-C
    if slow:
        interrupt(p, w)

    # ================================================================ tracebacks
    with tmpfs(w / "ro", 16384) as fs:
        if fs is None:
            p.note("21.T", "read-only run folder", "not run: cannot mount tmpfs")
        else:
            run(
                [
                    "run",
                    "--profile",
                    "smoke",
                    "--methods",
                    "noisy",
                    "--out",
                    "ro/run",
                    "--quiet",
                    "--no-report",
                ],
                w,
            )
            if remount_ro(fs):
                case("T", "report on a read-only run folder", ["report", "ro/run"], [fs / "run"])
                case(
                    "T",
                    "resume a run in a read-only folder",
                    [
                        "run",
                        "--profile",
                        "smoke",
                        "--methods",
                        "noisy,gaussian",
                        "--out",
                        "ro/run",
                        "--quiet",
                    ],
                    [fs / "run"],
                )
                case(
                    "T",
                    "run --out under a read-only parent",
                    [
                        "run",
                        "--profile",
                        "smoke",
                        "--methods",
                        "noisy",
                        "--out",
                        "ro/new",
                        "--quiet",
                    ],
                )
    with tmpfs(w / "full2", 1024) as fs:
        if fs is not None:
            fill(fs, 48)
            case(
                "T",
                "run on a full disk (results.parquet)",
                [
                    "run",
                    "--profile",
                    "smoke",
                    "--methods",
                    "noisy",
                    "--out",
                    "full2/run",
                    "--quiet",
                ],
            )
    if slow:
        with tmpfs(w / "full3", 1024) as fs:
            if fs is not None:
                fill(fs, 24)
                case(
                    "T",
                    "train n2v onto a full disk (torch.save)",
                    [
                        "train",
                        "n2v",
                        "in.tif",
                        "--out",
                        "full3/m",
                        "--profile",
                        "smoke",
                        "--no-progress",
                    ],
                )
    for label, source in (
        ("raises", "raise RuntimeError('boom')\n"),
        ("has a syntax error", "def f(:\n"),
    ):
        stem = "raises" if label == "raises" else "syntax"
        (w / f"plug_{stem}.py").write_text(source)
        (w / f"plug_{stem}.yaml").write_text(
            f"name: p\nprofile: smoke\nplugins: [plug_{stem}.py]\nmethods: [noisy]\n"
            "datasets: [embedded-stripe]\n"
        )
        case("T", f"a plugin file that {label}", ["run", f"plug_{stem}.yaml", "--plan"])
    (w / "text.ckpt").write_text("this is text, not a checkpoint\n")
    case("T", "import-authors on a text file", ["import-authors", "text.ckpt", "--out", "ia"])
    if n2v is not None:
        for label, edit in (
            (
                "truncated careamics_config.yml",
                lambda d: (d / "careamics_config.yml").write_text(
                    (d / "careamics_config.yml").read_text()[:200] + "\n  - ["
                ),
            ),
            (
                "!!python-tagged careamics_config.yml",
                lambda d: (d / "careamics_config.yml").write_text(
                    "x: !!python/object/apply:os.system ['echo owned']\n"
                ),
            ),
            (
                "unet.json without conv_dims",
                lambda d: _edit_json(
                    d / "unet.json", lambda j: {k: v for k, v in j.items() if k != "conv_dims"}
                ),
            ),
            ("model.pt naming os.system", _evil_weights),
        ):
            d = w / f"dmg{len(p.rows)}"
            shutil.copytree(n2v, d)
            edit(d)
            case("T", f"denoise with {label}", ["denoise", d.name, "in.tif", f"{d.name}.tif"], [d])
    for label, change in (
        ("data_range: [1]", lambda m: {**m, "data_range": [1]}),
        ("sigma: 1e12", lambda m: {**m, "params": {**m["params"], "sigma": 1e12}}),
        ("method.json a list", lambda m: [m]),
        ("params a list", lambda m: {**m, "params": [1]}),
        ('sigma: "abc"', lambda m: {**m, "params": {**m["params"], "sigma": "abc"}}),
        ('"format": 99', lambda m: {**m, "format": 99}),
    ):
        d = w / f"gdmg{len(p.rows)}"
        shutil.copytree(w / "gm", d)
        _edit_json(d / "method.json", change)
        case(
            "U", f"gaussian model with {label}", ["denoise", d.name, "in.tif", f"{d.name}.tif"], [d]
        )

    # ================================================================ unclear or unchecked
    image(w / "big.tif", scale=3.4e38)
    case("U", "values near 3.4e38 (analyze)", ["analyze", "big.tif"])
    nan = np.random.default_rng(8).random((64, 64)).astype(np.float32)
    nan.flat[:10] = np.nan
    tifffile.imwrite(w / "nan.tif", nan)
    case("U", "10 NaN pixels into synth", ["synth", "stripe", "nan.tif", "nan_s.tif"])
    with tmpfs(w / "full4", 256) as fs:
        if fs is not None:
            image(w / "large.tif", shape=(4, 256, 256), seed=9)
            fill(fs, 16)
            case("U", "synth on a full disk", ["synth", "stripe", "large.tif", "full4/s.tif"])
    case("U", "report on a missing path", ["report", "no-such-run"])
    if n2v is not None:
        t0 = time.perf_counter()
        case("U", "export --name '../x'", ["export", "n2v", "x.zip", "--name", "../x"])
        p.rows[-1]["files"] = f"answered in {time.perf_counter() - t0:.1f} s"
    r = w / "rc"
    run(["run", "--profile", "smoke", "--methods", "noisy,gaussian", "--out", "rc", "--quiet"], w)
    rec = next((r / "cells").glob("gaussian__*.json"), None)
    if rec is not None:
        rec.write_text('{"cell_id": "gauss')
        _, text = case("U", "report with a corrupt cell record", ["report", "rc"])
        said = [ln for ln in text.splitlines() if "cannot be read" in ln or "Fig. 3" in ln]
        p.rows[-1]["first_line"] = " / ".join(said)[:300] or p.rows[-1]["first_line"]
        p.rows[-1]["files"] = (
            f"fig3 files after: {sorted(x.name for x in r.glob('fig3_*')) or 'none'}"
        )
    case(
        "U",
        "--max-minutes nan",
        ["train", "gaussian", "in.tif", "--out", "mnan", "--max-minutes", "nan"],
    )
    p.rows[-1]["files"] = f"mnan {'exists' if (w / 'mnan').exists() else 'absent'}"
    (w / "huge.yaml").write_text(
        "name: huge\nprofile: smoke\ndatasets: [embedded-stripe]\n"
        "methods: ['gaussian[sigma=[1,2,3,4,5,6,7,8,9,10]]']\n"
        f"seeds: {json.dumps(list(range(100_000)))}\n"
    )
    t0 = time.perf_counter()
    case("U", "a 1,000,000-cell --plan (10 sigmas x 100,000 seeds)", ["run", "huge.yaml", "--plan"])
    p.rows[-1]["files"] = f"answered in {time.perf_counter() - t0:.1f} s"
    image(w / "u16.tif", dtype=np.uint16, scale=60000)
    case(
        "U",
        "synth --scale none on uint16 data",
        ["synth", "stripe", "u16.tif", "sn.tif", "--scale", "none"],
    )
    case(
        "U",
        "synth --scale 8bit on [0, 1] data",
        ["synth", "stripe", "in.tif", "s8.tif", "--scale", "8bit"],
    )
    rt = w / "rt"
    shutil.copytree(r, rt)
    # the temporary name an interrupted writer leaves (mkstemp's 8 random characters)
    fd, name = tempfile.mkstemp(prefix=".table1.md.", suffix=".tmp.md", dir=rt)
    os.write(fd, b"left by an interrupted report\n")
    os.close(fd)
    stale = Path(name)
    case("U", "report after an interrupted one left a .tmp file", ["report", "rt"])
    p.rows[-1]["files"] = f"stale .tmp file still there: {stale.exists()}"
    (w / "broken.tif").symlink_to("nowhere.tif")
    case(
        "U",
        "denoise onto a broken symlink, no --overwrite",
        ["denoise", "gm", "in.tif", "broken.tif"],
    )
    p.rows[-1]["files"] = f"broken.tif still a symlink: {(w / 'broken.tif').is_symlink()}"
    mac = w / "macdir"
    mac.mkdir()
    image(mac / "img0.tif", shape=(64, 64))
    (mac / "._img0.tif").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 200)
    case("U", "a macOS ._img0.tif in the input folder", ["denoise", "gm", "macdir", "mac.tif"])

    # ================================================================ the ecosystem's tools
    if n2v is not None and (w / "ok.zip").exists():
        code = "from bioimageio.core import test_model\ns = test_model('ok.zip')\nprint(s.status)\n"
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=w, capture_output=True, text=True, timeout=900
        )
        out = (proc.stdout.strip().splitlines() or [""])[-1]
        err = (proc.stderr.strip().splitlines() or [""])[-1]
        p.rows.append(
            {
                "row": "21.E",
                "scenario": "bioimageio.core.test_model on a package from structnoise export",
                "command": 'python -c "from bioimageio.core import test_model; '
                "print(test_model('ok.zip').status)\"",
                "exit": proc.returncode,
                "first_line": out or err[:300],
                "files": "-",
            }
        )
    if slow:
        progress_to_file(p, w)
    for command in ("train", "denoise", "run"):
        proc = subprocess.run([*EXE, command, "--help"], capture_output=True, text=True)
        p.rows.append(
            {
                "row": "21.E",
                "scenario": f"{command} offers --threads",
                "command": f"structnoise {command} --help",
                "exit": proc.returncode,
                "first_line": "--threads listed" if "--threads" in proc.stdout else "no --threads",
                "files": "-",
            }
        )


def _edit_json(path: Path, change) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _evil_weights(folder: Path) -> None:
    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned > owned.txt",))

    torch.save({"w": Evil()}, folder / "model.pt")


def interrupt(p, w: Path) -> None:
    """Ctrl-C (then SIGTERM) during a careamics training of the README's quick run."""
    args = ["run", "--profile", "quick", "--methods", "n2v", "--out", "r10"]
    proc = subprocess.Popen(
        [*EXE, *args],
        cwd=w,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    time.sleep(45)  # into the training
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
        how = f"ended {time.perf_counter() - t0:.1f} s after SIGINT"
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
            how = "SIGINT not honoured within 15 s; ended after SIGTERM"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            how = "neither SIGINT nor SIGTERM honoured; killed"
    text = proc.stdout.read() if proc.stdout else ""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    cells = list((w / "r10" / "cells").glob("*.json")) if (w / "r10").exists() else []
    status = [json.loads(c.read_text()).get("status") for c in cells]
    p.rows.append(
        {
            "row": "21.10",
            "scenario": "Ctrl-C during a careamics training (quick run, n2v)",
            "command": "structnoise " + " ".join(args) + "  (SIGINT after 45 s)",
            "exit": proc.returncode,
            "first_line": (lines[-1] if lines else "")[:300],
            "files": f"{how}; cell records: {status or 'none'}",
        }
    )


def progress_to_file(p, w: Path) -> None:
    """``structnoise train ... > log.txt 2>&1`` for 1,600 steps: lines of progress."""
    log = w / "log.txt"
    args = [
        "train",
        "n2v",
        "in.tif",
        "--out",
        "mlog",
        "--profile",
        "smoke",
        "--set",
        "max_steps=1600",
    ]
    with open(log, "w") as f:
        proc = subprocess.run(
            [*EXE, *args], cwd=w, stdout=f, stderr=subprocess.STDOUT, timeout=1800
        )
    text = log.read_bytes()
    p.rows.append(
        {
            "row": "21.E",
            "scenario": "progress of a 1,600-step training written to a file",
            "command": "structnoise " + " ".join(args) + " > log.txt 2>&1",
            "exit": proc.returncode,
            "first_line": (text.decode(errors="replace").splitlines() or [""])[0][:300],
            "files": f"log.txt: {text.count(NL)} lines, {text.count(CR)} carriage returns",
        }
    )
