"""How much progress output ``structnoise train ... > log.txt 2>&1`` writes into a log file.

Trains each method for ``--steps`` steps (smoke profile, step-bound: ``--max-minutes``
large) on a small seeded stack, with stdout and stderr redirected to a file as in CI,
``nohup`` or SLURM, and counts the log's lines, its carriage returns and its progress
lines. ``--before COMMIT`` runs the same with the ``structnoise`` package of an earlier
commit (extracted with ``git archive``) for comparison. Writes ``lines.md`` and
``lines.json`` into ``--out``.

Usage::

    python benchmarks/progress_lines.py --out results/progress
    python benchmarks/progress_lines.py --before 2d1e3fb --out results/progress
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import tifffile

from structnoise.provenance import ROOT, commit_label, cpu_model, portable_command

PROGRESS_LINE = re.compile(r"^(.+?): (\d+)/(\d+) steps? \(\d+%\)")


def _noisy(path: Path) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64] / 64
    clean = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (yy + i * xx)) for i in range(4)])
    noisy = clean + rng.normal(0, 0.05, (4, 64, 1)) + rng.normal(0, 0.03, clean.shape)
    tifffile.imwrite(path, (noisy * 1000).astype(np.uint16))


def measure(method: str, steps: int, work: Path, pythonpath: Path) -> dict:
    """Train into a log file; count its lines, carriage returns and progress lines."""
    log = work / f"{method}.log"
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    env.pop("STRUCTNOISE_PROGRESS", None)
    args = [sys.executable, "-m", "structnoise.cli", "train", method, "noisy.tif"]
    args += ["--out", f"m-{method}", "--profile", "smoke", "--max-minutes", "600"]
    args += ["--set", f"max_steps={steps}", "--overwrite"]
    with open(log, "w") as fh:
        rc = subprocess.run(args, cwd=work, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
    raw = log.read_bytes()
    text = raw.decode("utf-8", "replace")
    lines = text.splitlines()
    return {
        "method": method,
        "steps": steps,
        "exit": rc,
        "lines": len(lines),
        "carriage_returns": raw.count(b"\r"),
        "progress_lines": sum(bool(PROGRESS_LINE.match(line)) for line in lines),
        "bytes": len(raw),
    }


def main() -> None:  # noqa: D103
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="n2v,dvlae-small")
    ap.add_argument("--steps", type=int, default=1600)
    ap.add_argument("--before", help="also measure the structnoise package of this commit")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="progress-lines-") as tmp:
        work = Path(tmp)
        _noisy(work / "noisy.tif")
        trees = [("this commit", ROOT)]
        if args.before:
            old = work / "before"
            old.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.before, "structnoise"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
            trees.insert(0, (f"before ({args.before})", old))
        for label, tree in trees:
            for method in args.methods.split(","):
                row = measure(method, args.steps, work, tree)
                row["code"] = label
                rows.append(row)
                print(row, flush=True)
    versions = {p: metadata.version(p) for p in ("torch", "lightning", "careamics", "tqdm")}
    info = {
        "commit": commit_label(),
        "command": portable_command(sys.argv),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "versions": versions,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lines.json").write_text(json.dumps(info, indent=2) + "\n")
    md = [
        "# Progress output of `structnoise train ... > log.txt 2>&1`",
        "",
        f"Written by `{info['command']}` at commit {info['commit']} on {info['cpu']}, "
        f"Python {info['python']}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ". Smoke profile, a 4x64x64 stack, step-bound training; stdout and stderr "
        "redirected to one file.",
        "",
        "| code | method | steps | exit | log lines | progress lines | carriage returns | bytes |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        md.append(
            f"| {r['code']} | {r['method']} | {r['steps']} | {r['exit']} | {r['lines']} | "
            f"{r['progress_lines']} | {r['carriage_returns']} | {r['bytes']} |"
        )
    (args.out / "lines.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
