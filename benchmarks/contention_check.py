"""Step budgets hold under contention: the same configuration run twice, once beside busy work.

Runs ``structnoise run CONFIG`` into two fresh run folders: first as it is, then with
``--busy`` processes spinning on the CPU beside it (pure-Python loops, one per core by
default). With step budgets (``max_steps``) every learnt cell must do the same number of
steps both times, and reach the same result (the cells are seeded); only the wall time
may differ. Writes ``contention.md`` / ``contention.json`` with, per cell: steps, stopped
by, PSNR, train wall and CPU seconds in both runs, plus the load average during each.

Usage::

    python benchmarks/contention_check.py --out results/contention
    python benchmarks/contention_check.py --config my.yaml --busy 2 --out /tmp/contention
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: A small configuration: three learnt methods with step budgets, one seed, 4 test tiles.
DEFAULT_CONFIG = """\
schema_version: 1
name: contention
description: step budgets under contention (benchmarks/contention_check.py)
profile: quick
methods:
  - gaussian
  - {name: n2v, max_steps: 60}
  - {name: hdn, max_steps: 20}
  - {name: dvlae-small, max_steps: 20}
datasets: [embedded-stripe]
seeds: [0]
curve_marks: 1
max_test_images: 4
n_samples: 4
report: false
"""


def _spin(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x = (x * 1103515245 + 12345) % 2**31


def run_once(config: Path, out: Path, busy: int) -> dict:
    """Run the configuration into ``out`` with ``busy`` spinning processes beside it."""
    procs = []
    if busy:
        stop_at = time.time() + 3600
        procs = [mp.Process(target=_spin, args=(stop_at,), daemon=True) for _ in range(busy)]
        for p in procs:
            p.start()
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    try:
        subprocess.run(
            [sys.executable, "-m", "structnoise.cli", "run", str(config), "--out", str(out)],
            check=True,
        )
    finally:
        for p in procs:
            p.terminate()
    wall = time.perf_counter() - t0
    cells = {}
    for f in sorted((out / "cells").glob("*.json")):
        rec = json.loads(f.read_text())
        cells[rec["label"]] = {
            "steps": rec.get("steps"),
            "max_steps": rec.get("max_steps"),
            "stopped_by": rec.get("stopped_by"),
            "short": rec.get("short"),
            "psnr": rec.get("metrics", {}).get("psnr"),
            "marks": [(m["mark_step"], m["metrics"].get("psnr")) for m in rec.get("marks", [])],
            "train_wall_s": rec.get("train_wall_s"),
            "train_cpu_s": rec.get("train_cpu_s"),
            "load_before": rec.get("load_before"),
            "load_after": rec.get("load_after"),
        }
    return {"busy": busy, "wall_s": wall, "load_at_start": load0, "cells": cells}


def main(argv: list[str] | None = None) -> int:
    """Run the check and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", type=Path, default=Path("results/contention"))
    args = parser.parse_args(argv)

    from structnoise.provenance import commit_label, cpu_model, package_versions, portable_command

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = args.config
        if config is None:
            config = tmp / "contention.yaml"
            config.write_text(DEFAULT_CONFIG)
        runs = [run_once(config, tmp / "quiet", 0), run_once(config, tmp / "busy", args.busy)]
        config_text = config.read_text()
    same = all(
        runs[0]["cells"][k]["steps"] == runs[1]["cells"].get(k, {}).get("steps")
        for k in runs[0]["cells"]
    )
    meta = {
        "command": portable_command(sys.argv),
        "commit": commit_label(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "config": config_text,
        "same_steps_every_cell": same,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "contention.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    quiet, busy = runs
    lines = [
        "# Step budgets under contention: one configuration, run alone and beside busy work",
        "",
        f"Written by `{meta['command']}` at commit {meta['commit']} on {meta['cpu']} "
        f"({meta['cpu_count']} cores), torch {meta['packages'].get('torch')}. Second run: "
        f"{args.busy} pure-Python busy loops beside it. Run wall time: "
        f"{quiet['wall_s']:.0f} s alone (load {quiet['load_at_start']:.1f} at start), "
        f"{busy['wall_s']:.0f} s beside the busy loops (load {busy['load_at_start']:.1f}). "
        "The machine was not otherwise idle: the load average before each cell is listed.",
        "",
        f"**Same steps in every cell: {'yes' if same else 'NO'}**",
        "",
        "| cell | steps (alone / busy) | budget | stopped by | PSNR alone | PSNR busy "
        "| train wall s alone / busy | train CPU s alone / busy | load before alone / busy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for label, a in quiet["cells"].items():
        b = busy["cells"].get(label, {})

        def f(x, d=2):
            return "-" if x is None else f"{x:.{d}f}"

        lines.append(
            f"| {label} | {a['steps']} / {b.get('steps')} | {a['max_steps'] or '-'} | "
            f"{a['stopped_by'] or '-'} / {b.get('stopped_by') or '-'} | {f(a['psnr'])} | "
            f"{f(b.get('psnr'))} | {f(a['train_wall_s'], 0)} / {f(b.get('train_wall_s'), 0)} | "
            f"{f(a['train_cpu_s'], 0)} / {f(b.get('train_cpu_s'), 0)} | "
            f"{f(a['load_before'], 1)} / {f(b.get('load_before'), 1)} |"
        )
    lines += ["", "Configuration:", "", "```yaml", config_text.rstrip(), "```"]
    (args.out / "contention.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'contention.md'}; same steps: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
