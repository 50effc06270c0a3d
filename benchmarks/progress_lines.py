"""How much progress output ``structnoise train ... > log.txt 2>&1`` writes into a log file.

Trains each method for ``--steps`` steps (smoke profile, step-bound: ``--max-minutes``
large) on a small seeded stack, with stdout and stderr redirected to a file as in CI,
``nohup`` or SLURM, and counts the log's lines, its carriage returns and its progress
lines. The ``structnoise`` package measured is that of a commit (``--commit``, default
``HEAD``), extracted with ``git archive``, so that edits of the working tree during the
measurement do not enter it; ``--before COMMIT`` measures an earlier commit too, for
comparison. Writes ``lines.md`` and ``lines.json`` into ``--out``.

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

from structnoise.provenance import ROOT, cpu_model, portable_command

PROGRESS_LINE = re.compile(r"^(.+?): (\d+)/(\d+) steps? \(\d+%\)")


def _noisy(path: Path) -> None:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64] / 64
    clean = np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (yy + i * xx)) for i in range(4)])
    noisy = clean + rng.normal(0, 0.05, (4, 64, 1)) + rng.normal(0, 0.03, clean.shape)
    tifffile.imwrite(path, (noisy * 1000).astype(np.uint16))


def _rev(rev: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short=10", rev],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _extract(rev: str, into: Path) -> Path:
    """The ``structnoise`` package of commit ``rev``, extracted under ``into``."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "structnoise"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


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
    lines = raw.decode("utf-8", "replace").split("\n")
    return {
        "method": method,
        "steps": steps,
        "exit": rc,
        "lines": raw.count(b"\n"),  # as ``wc -l`` counts them
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
    ap.add_argument("--commit", default="HEAD", help="the commit measured (default HEAD)")
    args = ap.parse_args()
    commit = _rev(args.commit)
    rows = []
    with tempfile.TemporaryDirectory(prefix="progress-lines-") as tmp:
        work = Path(tmp)
        _noisy(work / "noisy.tif")
        trees = [(f"before ({args.before})", args.before)] if args.before else []
        trees.append((f"after ({commit})", commit))
        trees = [(label, _extract(rev, work / f"tree-{i}")) for i, (label, rev) in enumerate(trees)]
        for label, tree in trees:
            for method in args.methods.split(","):
                row = measure(method, args.steps, work, tree)
                row["code"] = label
                rows.append(row)
                print(row, flush=True)
    versions = {p: metadata.version(p) for p in ("torch", "lightning", "careamics", "tqdm")}
    info = {
        "commit": commit,
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
        f"Written by `{info['command']}` (code of commit {info['commit']}) on {info['cpu']}, "
        f"Python {info['python']}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + ". Smoke profile, a 4x64x64 stack, step-bound training; stdout and stderr "
        "redirected to one file. Progress lines: plain lines `LABEL: N/TOTAL step(s) (P%)...`; "
        "the carriage returns are the live bar's in-place updates written into the file.",
        "",
        "| code | method | steps | exit | log lines (`wc -l`) | progress lines | "
        "carriage returns | bytes |",
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
