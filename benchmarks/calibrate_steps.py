"""Calibrate the step budgets of the benchmark configurations: training steps per minute.

The benchmark configurations give each learnt method a budget in optimisation steps
(``max_steps``), so that another process on the machine cannot change how much a method
trains. The step counts are chosen so that the minutes the configurations used to give
(``--minutes``: ``quick.yaml``'s wall-clock budgets) hold on an idle 2-core machine: this
script trains each method for ``--seconds`` exactly as a benchmark cell does (the runner's
own :func:`~structnoise.benchmark.execute.execute_cell`, profile ``quick``, on
``embedded-stripe`` unless told otherwise, seed 0) and reports its steps per minute of
training, the machine load before and after (a measurement on a busy machine says so),
process CPU seconds, threads, and the step budget ``round(steps_per_minute * minutes)``.

Usage::

    python benchmarks/calibrate_steps.py --out results/calibration
    python benchmarks/calibrate_steps.py --methods n2v care --seconds 20

Writes ``steps.json`` and ``steps.md`` into ``--out`` with the commit, package versions,
machine (CPU model) and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

#: The quick configuration's wall-clock budgets (minutes) that the step budgets replace.
QUICK_MINUTES = {
    "n2v": 1.0,
    "sn2v": 2.0,
    "care": 1.5,
    "hdn": 2.0,
    "hdn36": 4.0,
    "dvlae-small": 8.0,
    "dvlae-large": 8.0,
    "hdn-large": 4.0,
    "hdn36-large": 4.0,
}


def measure(method: str, dataset: str, seconds: float, run_dir: Path) -> dict:
    """Train ``method`` for ``seconds`` as a benchmark cell does; its steps and times."""
    import torch

    from structnoise.benchmark.cells import plan_cells
    from structnoise.benchmark.config import load_config
    from structnoise.benchmark.execute import execute_cell
    from structnoise.benchmark.loading import load_dataset

    cfg = load_config(
        {
            "schema_version": 1,
            "name": "calibrate",
            "profile": "quick",
            "methods": [{"name": method, "max_minutes": seconds / 60.0}],
            "datasets": [dataset],
            "seeds": [0],
            "n_samples": 1,
            "max_test_images": 1,
            "save_denoised": False,
        }
    )
    (plan,) = plan_cells(cfg)
    data = load_dataset(cfg, dataset)
    load0 = os.getloadavg()
    cpu0 = time.process_time()
    rec = execute_cell(plan, cfg, data, run_dir)
    cpu = time.process_time() - cpu0
    load1 = os.getloadavg()
    steps, minutes = rec.get("steps"), rec.get("train_minutes")
    rate = steps / minutes if steps and minutes else None
    return {
        "method": method,
        "dataset": dataset,
        "status": str(rec["status"]),
        "reason": rec.get("reason"),
        "steps": steps,
        "train_minutes": minutes,
        "stopped_by": rec.get("stopped_by"),
        "fit_s": rec.get("fit_s"),
        "process_cpu_s": cpu,
        "threads": torch.get_num_threads(),
        "loadavg_1min_before": load0[0],
        "loadavg_1min_after": load1[0],
        "steps_per_minute": rate,
        "quick_minutes": QUICK_MINUTES.get(method),
        "step_budget": round(rate * QUICK_MINUTES[method])
        if rate and method in QUICK_MINUTES
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the calibration and write ``steps.json`` / ``steps.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(QUICK_MINUTES))
    parser.add_argument("--dataset", default="embedded-stripe")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=Path("results/calibration"))
    args = parser.parse_args(argv)

    from structnoise.benchmark.results import _versions
    from structnoise.provenance import commit_label, cpu_model, portable_command

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.methods:
            row = measure(name, args.dataset, args.seconds, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
    meta = {
        "command": portable_command(sys.argv),
        "commit": commit_label(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": _versions(),
        "seconds": args.seconds,
        "dataset": args.dataset,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "steps.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        "# Step budgets: training steps per minute of each learnt method (profile quick)",
        "",
        f"Written by `{meta['command']}` at commit {meta['commit']} on {meta['cpu']} "
        f"({meta['cpu_count']} cores); torch {meta['packages'].get('torch')}, careamics "
        f"{meta['packages'].get('careamics')}. Each method trained {args.seconds:g} s on "
        f"{args.dataset}, seed 0, as a benchmark cell (setup not counted in the rate). "
        "`step budget` = steps per minute x the quick configuration's former wall-clock "
        "minutes. A 1-minute load average above the core count means the machine was busy.",
        "",
        "| method | steps | train min | steps/min | process CPU s | threads | load before / after "
        "| quick minutes | step budget |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        rate = f"{r['steps_per_minute']:.1f}" if r["steps_per_minute"] else "-"
        lines.append(
            f"| {r['method']} | {r['steps']} | {r['train_minutes'] or 0:.2f} | {rate} | "
            f"{r['process_cpu_s']:.0f} | {r['threads']} | {r['loadavg_1min_before']:.2f} / "
            f"{r['loadavg_1min_after']:.2f} | {r['quick_minutes']} | {r['step_budget']} |"
        )
    (args.out / "steps.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'steps.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
