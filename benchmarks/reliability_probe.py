"""Probe the ``structnoise`` command with the bad inputs of issues 9 and 21, as a user would.

Every scenario runs the installed ``structnoise`` command in a fresh temporary folder and
records the exact command, its exit status, the first line it printed and the state of the
user's files afterwards (sha256 of every file before and after, where a file could be lost).
The table goes to ``results/reliability/probe.md`` and ``probe.json`` with the commit,
package versions and machine.

Usage::

    python benchmarks/reliability_probe.py [--out results/reliability] [--skip-slow]

``--skip-slow`` leaves out the scenarios that train a network (divergence, range warning,
truncated weights, careamics models for export and damaged model folders, Ctrl-C, progress
on a file); they take about a minute each on 2 CPU cores.

Issue 21's full-disk and read-only cases run on a small tmpfs mounted under the temporary
folder (a full disk and a read-only folder that bind root too); without the rights to
mount one they are recorded as not run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.server
import json
import os
import platform
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reliability_probe_21 import scenarios_21  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "structnoise.cli"]


def sha_tree(path: Path) -> str:
    """One sha256 over every file under ``path`` (names and contents), or of one file."""
    path = Path(path)
    if not path.exists():
        return "(absent)"
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path.parent if path.is_file() else path)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16] + f" ({len(files)} files)"


def run(args: list[str], cwd: Path, env: dict | None = None) -> tuple[int, str, str]:
    """Run ``structnoise ARGS``; return exit status, first line printed, all output."""
    proc = subprocess.run(
        [*EXE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "2", **(env or {})},
        timeout=900,
    )
    text = (proc.stderr + proc.stdout).strip()
    lines = [ln for ln in text.splitlines() if ln.startswith(("error:", "warning:"))]
    # a library's own warning (``file.py:12: SomeWarning: ...``) is not what we printed
    ours = [ln for ln in text.splitlines() if ln.strip() and not LIBRARY_LINE.match(ln.strip())]
    first = lines[0] if lines else (ours[0] if ours else "")
    return proc.returncode, first, text


#: A line a library printed: its warnings (``path.py:12: UserWarning: ...``) and the source
#: line Python shows under them.
LIBRARY_LINE = re.compile(r"^(\S+\.py:\d+: \w*Warning|\S.*\.py\", line \d+|warnings\.warn)")
#: Machine-local absolute paths, kept out of the committed table.
LOCAL_PATH = re.compile(r"(?<![\w.])/(?:tmp|work|root|home|usr|opt)/[^\s'\"()\]]*")


def scrub(text: str, work: Path) -> str:
    """``text`` with the probe's folder as ``<tmp>`` and other local paths as ``<path>``."""
    return LOCAL_PATH.sub("<path>", str(text).replace(str(work), "<tmp>"))


def image(path: Path, shape=(2, 64, 64), scale=1.0, seed=0, **kw) -> Path:
    """Write a random float32 TIFF."""
    rng = np.random.default_rng(seed)
    tifffile.imwrite(path, (rng.random(shape) * scale).astype(np.float32), **kw)
    return path


class Probe:
    """Collects rows of the table."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.rows: list[dict] = []

    def case(
        self, row: str, scenario: str, args: list[str], watch=None, cwd=None, env=None, note=""
    ):
        """Run one scenario and record its row."""
        cwd = cwd or self.work
        watch = watch or []
        before = {str(Path(w).relative_to(self.work)): sha_tree(w) for w in watch}
        code, first, text = run(args, cwd, env)
        after = {str(Path(w).relative_to(self.work)): sha_tree(w) for w in watch}
        shown = " ".join(shlex.quote(a) for a in args)
        if cwd != self.work:
            shown = f"(in {Path(cwd).relative_to(self.work)}/) " + shown
        state = "; ".join(
            f"{k}: {before[k]} -> {'unchanged' if before[k] == after[k] else after[k]}"
            for k in before
        )
        self.rows.append(
            {
                "row": row,
                "scenario": scenario,
                "command": "structnoise " + shown,
                "exit": code,
                "first_line": first[:300],
                "files": (state + ("; " if state and note else "") + note) or "-",
            }
        )
        self.rows[-1]["first_line"] = self.rows[-1]["first_line"].replace(str(self.work), "<tmp>")
        print(f"[{row}] exit {code}: {first[:160]}", flush=True)
        return code, text

    def note(self, row: str, scenario: str, why: str) -> None:
        """Record a scenario that could not run here, and why."""
        self.rows.append(
            {
                "row": row,
                "scenario": scenario,
                "command": "-",
                "exit": "-",
                "first_line": why,
                "files": "-",
            }
        )


@contextlib.contextmanager
def http_server(folder: Path):
    """Serve ``folder`` over plain http on 127.0.0.1 (a mirror, as a user might set up)."""
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(folder), **k
    )
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.shutdown()


def scenarios(p: Probe, slow: bool) -> None:
    """Every scenario of issue 9's table, in its order."""
    w = p.work
    src = image(w / "in.tif")
    # model to denoise with
    run(["train", "gaussian", "in.tif", "--out", "model"], w)

    # 1 --overwrite on user folders
    user = w / "userdata"
    user.mkdir()
    (user / "notes.txt").write_text("my thesis\n")
    image(user / "experiment.tif", seed=9)
    p.case(
        "1",
        "--overwrite on a folder of user files",
        ["train", "gaussian", "in.tif", "--out", "userdata", "--overwrite"],
        [user],
    )
    cwd = w / "workdir"
    cwd.mkdir()
    shutil.copy(src, cwd / "in.tif")
    p.case(
        "1",
        "--out . --overwrite (the working directory)",
        ["train", "gaussian", "in.tif", "--out", ".", "--overwrite"],
        [cwd],
        cwd=cwd,
    )
    p.case(
        "1",
        "--overwrite of a saved model (allowed, swapped in atomically)",
        ["train", "gaussian", "in.tif", "--out", "model", "--overwrite", "--set", "sigma=1.5"],
        [w / "model"],
    )

    # 2 own input, existing output
    a = image(w / "a.tif", seed=3)
    p.case(
        "2",
        "denoise writing over its input",
        ["denoise", "model", "a.tif", "a.tif", "--overwrite"],
        [a],
    )
    (w / "link.tif").symlink_to(a)
    p.case(
        "2",
        "denoise writing over its input through a symlink",
        ["denoise", "model", "a.tif", "link.tif", "--overwrite"],
        [a],
    )
    p.case("2", "synth writing over its input", ["synth", "stripe", "a.tif", "a.tif"], [a])
    existing = image(w / "existing.tif", seed=4)
    p.case(
        "2",
        "existing output without --overwrite",
        ["denoise", "model", "a.tif", "existing.tif"],
        [existing],
    )

    # 4 axes
    rgb = image(w / "rgb.tif", shape=(64, 64, 3), photometric="minisblack")
    p.case("4", "(H, W, 3) without --axes", ["denoise", "model", "rgb.tif", "rgb_out.tif"], [rgb])
    code, _ = p.case(
        "4",
        "(H, W, 3) with --axes YXC",
        ["denoise", "model", "rgb.tif", "rgb_out.tif", "--axes", "YXC"],
        [rgb],
    )
    if code == 0:
        p.rows[-1]["files"] += f"; output shape {tifffile.imread(w / 'rgb_out.tif').shape}"
    chw = image(w / "chw.tif", shape=(3, 64, 64), photometric="minisblack")
    p.case("4", "(3, H, W) without --axes", ["denoise", "model", "chw.tif", "chw_out.tif"], [chw])

    # 6 permissions
    old = os.umask(0o022)
    try:
        run(["denoise", "model", "a.tif", "perm.tif"], w)
    finally:
        os.umask(old)

    def mode(f: Path) -> str:
        return oct(f.stat().st_mode & 0o777)

    modes = (
        f"perm.tif {mode(w / 'perm.tif')}, model/ {mode(w / 'model')}, "
        f"model/method.json {mode(w / 'model' / 'method.json')} (umask 022)"
    )
    p.rows.append(
        {
            "row": "6",
            "scenario": "permissions of written files",
            "command": "structnoise denoise model a.tif perm.tif",
            "exit": 0,
            "first_line": "-",
            "files": modes,
        }
    )

    # 7 downloads: a bogus zip from a plain-http mirror
    mirror = w / "mirror"
    mirror.mkdir()
    with zipfile.ZipFile(mirror / "Mouse_actin.zip", "w") as z:
        z.writestr("something-else.txt", "not the data")
    cache = w / "cache"
    with http_server(mirror) as url:
        p.case(
            "7",
            "TOFU download of a file without published hash over plain http",
            ["datasets", "fetch", "mouse-actin", "--no-progress"],
            [cache],
            env={"STRUCTNOISE_BASE_URL": url, "STRUCTNOISE_DATA": str(cache)},
            note="recorded-hashes.txt "
            + ("absent" if not (cache / "recorded-hashes.txt").exists() else "present"),
        )
    p.rows[-1]["files"] = f"cache: {sha_tree(cache)}; recorded-hashes.txt " + (
        "present" if (cache / "recorded-hashes.txt").exists() else "absent"
    )

    # 8 one-line errors
    (w / "outdir").mkdir()
    p.case("8", "output path is a folder", ["denoise", "model", "a.tif", "outdir"], [w / "outdir"])
    (w / "blocker").write_text("x")
    p.case(
        "8",
        "output under a file (not writable)",
        ["denoise", "model", "a.tif", "blocker/o.tif"],
        [w / "blocker"],
    )
    p.case(
        "8",
        "--out pointing at a file",
        ["train", "gaussian", "in.tif", "--out", "blocker"],
        [w / "blocker"],
    )
    p.case(
        "8", "model folder that is not a model", ["denoise", "userdata", "a.tif", "o.tif"], [user]
    )

    # 9 run --out on a user folder
    mine = w / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("my: settings\n")
    (mine / "results.csv").write_text("sample,value\n1,2\n")
    p.case(
        "9",
        "run --out on a folder that is not a run",
        ["run", "--profile", "smoke", "--methods", "noisy", "--out", "mine", "--quiet"],
        [mine],
    )
    run(
        [
            "run",
            "--profile",
            "smoke",
            "--methods",
            "noisy,gaussian",
            "--out",
            "runA",
            "--quiet",
            "--no-report",
        ],
        w,
    )
    code, _ = p.case(
        "9",
        "re-run of a run folder with fewer methods",
        [
            "run",
            "--profile",
            "smoke",
            "--methods",
            "noisy",
            "--out",
            "runA",
            "--quiet",
            "--no-report",
        ],
        [],
    )
    import pandas as pd

    table = pd.read_csv(w / "runA" / "results.csv")
    p.rows[-1]["files"] = (
        f"results.csv methods after: {sorted(table['method'].unique())}, {len(table)} rows"
    )

    # 11 unknown parameter
    p.case(
        "11",
        "typo in a parameter",
        ["train", "gaussian", "in.tif", "--out", "m11", "--set", "sigm=3"],
        [],
        note="m11 " + "absent",
    )
    p.rows[-1]["files"] = f"m11 {'exists' if (w / 'm11').exists() else 'absent'}"

    # 10 the smoke profile runs every registered method
    code, _ = p.case(
        "10",
        "smoke profile, every registered method",
        ["run", "--profile", "smoke", "--out", "smoke", "--quiet", "--no-report"],
        [],
    )
    cells = pd.read_csv(w / "smoke" / "results.csv")
    status = cells.groupby("status")["label"].apply(lambda x: ", ".join(sorted(x)))
    p.rows[-1]["first_line"] = f"{len(cells)} cells"
    p.rows[-1]["files"] = "; ".join(f"{k}: {v}" for k, v in status.items())

    if not slow:
        return
    # 3 divergence
    for name in ("dvlae-small", "n2v"):
        p.case(
            "3",
            f"diverging training ({name}, lr=1e30)",
            [
                "train",
                name,
                "in.tif",
                "--out",
                f"div-{name}",
                "--set",
                "lr=1e30",
                "--profile",
                "smoke",
                "--no-progress",
            ],
            [],
        )
        p.rows[-1]["files"] = f"div-{name} {'exists' if (w / f'div-{name}').exists() else 'absent'}"
    # 5 range, with a learnt model
    code, _ = p.case(
        "5",
        "train n2v on [0, 1] (smoke profile)",
        ["train", "n2v", "in.tif", "--out", "n2v", "--profile", "smoke", "--no-progress"],
        [],
    )
    big = image(w / "big.tif", scale=1e6, seed=5)
    p.case(
        "5", "denoise values up to 1e6 with it", ["denoise", "n2v", "big.tif", "big_out.tif"], [big]
    )
    const = w / "const.tif"
    tifffile.imwrite(const, np.full((1, 64, 64), 0.5, np.float32))
    code, _ = p.case(
        "5", "denoise a constant image", ["denoise", "n2v", "const.tif", "const_out.tif"], [const]
    )
    if code == 0:
        out = tifffile.imread(w / "const_out.tif")
        p.rows[-1]["files"] += f"; output min {out.min():g} max {out.max():g}"
    # 8 truncated / missing weights
    weights = sorted((w / "n2v").glob("*.pt"))
    if weights:
        data = weights[0].read_bytes()
        weights[0].write_bytes(data[: len(data) // 2])
        p.case("8", f"truncated {weights[0].name}", ["denoise", "n2v", "a.tif", "t.tif"], [])
        weights[0].unlink()
        p.case("8", f"missing {weights[0].name}", ["denoise", "n2v", "a.tif", "t.tif"], [])


def provenance() -> dict:
    """Commit, versions and machine."""
    import structnoise

    def version(pkg):
        try:
            from importlib.metadata import version as v

            return v(pkg)
        except Exception:  # noqa: BLE001
            return None

    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = bool(
        subprocess.run(
            ["git", "status", "--porcelain", "--", "structnoise"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    from structnoise.provenance import cpu_model

    cpu = cpu_model()
    return {
        "commit": commit,
        "package_code_modified": dirty,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "structnoise": structnoise.__version__,
        "python": platform.python_version(),
        "versions": {
            k: version(k)
            for k in (
                "torch",
                "careamics",
                "numpy",
                "tifffile",
                "pooch",
                "typer",
                "pydantic",
                "pydantic-core",
                "bioimageio.core",
                "bioimageio.spec",
            )
        },
        "machine": {"cpu": cpu, "cores": os.cpu_count(), "system": platform.platform()},
        "user": "root" if os.geteuid() == 0 else "non-root",
    }


def main() -> None:
    """Run the probe and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "reliability"))
    parser.add_argument("--skip-slow", action="store_true")
    parser.add_argument(
        "--only-21", action="store_true", help="Only issue 21's scenarios (a quicker check)."
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="structnoise-probe-") as tmp:
        probe = Probe(Path(tmp))
        if not args.only_21:
            scenarios(probe, slow=not args.skip_slow)
        scenarios_21(probe, not args.skip_slow, run, sha_tree)
    meta = provenance()
    for row in probe.rows:
        for key in ("scenario", "command", "first_line", "files"):
            row[key] = scrub(row[key], Path(tmp))
    (out / "probe.json").write_text(
        json.dumps({"provenance": meta, "rows": probe.rows}, indent=2) + "\n"
    )
    lines = [
        "# Reliability probe (issues 9 and 21)",
        "",
        f"Written by `benchmarks/reliability_probe.py` at commit `{meta['commit'][:10]}`"
        f"{' (package code modified)' if meta['package_code_modified'] else ''}, "
        f"structnoise {meta['structnoise']}, torch {meta['versions']['torch']}, careamics "
        f"{meta['versions']['careamics']}, Python {meta['python']}, on {meta['machine']['cpu']} "
        f"({meta['machine']['cores']} cores), {meta['date']}. Each command ran in a fresh "
        "temporary folder; file state is a sha256 over the watched files before -> after. "
        "Rows 1-11: issue 9; rows 21.1-21.10: issue 21's numbered cases; 21.T: its "
        "tracebacks; 21.U: its unclear or unchecked messages; 21.E: the ecosystem's tools on "
        "our outputs. Full disks and read-only folders are small tmpfs mounts.",
        "",
        "| row | scenario | command | exit | first line printed | files afterwards |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in probe.rows:
        cells = [
            r["row"],
            r["scenario"].replace("|", "\\|"),
            f"`{r['command']}`".replace("|", "\\|"),
            str(r["exit"]),
            r["first_line"].replace("|", "\\|"),
            r["files"].replace("|", "\\|"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    (out / "probe.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'probe.md'}")


if __name__ == "__main__":
    main()
