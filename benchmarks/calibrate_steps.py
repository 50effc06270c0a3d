"""Calibrate the step budgets of the benchmark configurations: training steps per minute.

The benchmark configurations give each learnt method a budget in optimisation steps
(``max_steps``), so that another process on the machine cannot change how much a method
trains. The step counts are chosen so that the minutes the configurations used to give
(:data:`QUICK_MINUTES`, ``quick.yaml``'s former wall-clock budgets) hold on an idle
2-core machine.

Measurement: each method is trained twice exactly as a benchmark cell trains it (the
runner's own :func:`~structnoise.benchmark.execute.execute_cell`, profile ``quick``,
``embedded-stripe``, seed 0), once for ``--steps A`` and once for ``--steps B`` steps;
the difference removes the set-up (model building, HDN's noise-model fit, data
loading). The rate is read from **process CPU time**, which other processes on the
machine change far less than wall time:

    steps per idle minute = (B - A) / (cpu_B - cpu_A) * threads * 60

i.e. the assumption that on an idle machine the process keeps its ``threads`` cores busy
(an upper bound: imperfect parallel efficiency makes a real idle minute hold somewhat
fewer steps). The wall-clock rate of the same two runs and the machine's load average
are reported beside it, so a reader sees how busy the machine was.

Usage::

    python benchmarks/calibrate_steps.py --out results/calibration
    python benchmarks/calibrate_steps.py --methods n2v care

Writes ``steps.json`` and ``steps.md`` into ``--out`` with the commit, package versions,
machine (CPU model) and the command, and the rates as the package's data
(``structnoise/benchmark/steps_per_minute.json``, read by the run's ETA and by the step
budgets of methods a profile does not list; ``--no-package-data`` leaves it alone).
``--from-json results/calibration/steps.json`` writes only the package data from an
earlier measurement, measuring nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
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


#: (A, B) training steps per method: B - A steps of pure training are timed.
STEPS = {
    "n2v": (20, 100),
    "sn2v": (20, 100),
    "care": (20, 100),
    "hdn": (5, 30),
    "hdn36": (5, 30),
    "dvlae-small": (5, 30),
    "dvlae-large": (2, 8),
    "hdn-large": (2, 8),
    "hdn36-large": (2, 8),
}


def run_cell(method: str, dataset: str, steps: int, run_dir: Path) -> dict:
    """Train ``method`` for ``steps`` steps as a benchmark cell does; its record."""
    from structnoise.benchmark.cells import plan_cells
    from structnoise.benchmark.config import load_config
    from structnoise.benchmark.execute import execute_cell
    from structnoise.benchmark.loading import load_dataset

    cfg = load_config(
        {
            "schema_version": 1,
            "name": "calibrate",
            "profile": "quick",
            "methods": [{"name": method, "max_steps": steps}],
            "datasets": [dataset],
            "seeds": [0],
            "n_samples": 1,
            "max_test_images": 1,
            "save_denoised": False,
        }
    )
    (plan,) = plan_cells(cfg)
    rec = execute_cell(plan, load_dataset(cfg, dataset), run_dir)
    if rec["status"] != "ok":
        raise RuntimeError(f"{method} at {steps} steps: {rec.get('reason')}")
    return rec


def measure(method: str, dataset: str, run_dir: Path) -> dict:
    """The marginal training rate of ``method`` from two runs (see the module doc)."""
    a, b = STEPS[method]
    ra = run_cell(method, dataset, a, run_dir)
    rb = run_cell(method, dataset, b, run_dir)
    steps = int(rb["steps"]) - int(ra["steps"])
    cpu = rb["train_cpu_s"] - ra["train_cpu_s"]
    wall = rb["train_wall_s"] - ra["train_wall_s"]
    threads = int(rb.get("threads") or 1)
    idle = steps / cpu * threads * 60.0 if cpu > 0 else None
    minutes = QUICK_MINUTES.get(method)
    return {
        "method": method,
        "dataset": dataset,
        "steps_a": int(ra["steps"]),
        "steps_b": int(rb["steps"]),
        "cpu_s_a": ra["train_cpu_s"],
        "cpu_s_b": rb["train_cpu_s"],
        "wall_s_a": ra["train_wall_s"],
        "wall_s_b": rb["train_wall_s"],
        "threads": threads,
        "load": [ra.get("load_before"), rb.get("load_after")],
        "cpu_s_per_step": cpu / steps if steps else None,
        "wall_steps_per_minute": steps / wall * 60.0 if wall > 0 else None,
        "idle_steps_per_minute": idle,
        "quick_minutes": minutes,
        "step_budget": round(idle * minutes) if idle and minutes else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the calibration and write ``steps.json`` / ``steps.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(QUICK_MINUTES))
    parser.add_argument(
        "--note", default="", help="a sentence on the machine's state, written into steps.md"
    )
    parser.add_argument("--dataset", default="embedded-stripe")
    parser.add_argument("--out", type=Path, default=Path("results/calibration"))
    parser.add_argument(
        "--package-data",
        type=Path,
        default=PACKAGE_DATA,
        help="where the rates go as package data (default: the package's file)",
    )
    parser.add_argument("--no-package-data", action="store_true")
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="write the package data from this steps.json; measure nothing",
    )
    args = parser.parse_args(argv)
    if args.from_json is not None:
        write_package_data(json.loads(args.from_json.read_text()), args.package_data)
        return 0

    from structnoise.provenance import commit_label, cpu_model, package_versions, portable_command

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.methods:
            row = measure(name, args.dataset, Path(tmp))
            print(json.dumps(row), flush=True)
            rows.append(row)
    meta = {
        "command": portable_command(sys.argv),
        "commit": commit_label(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "dataset": args.dataset,
        "note": args.note,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "steps.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        "# Step budgets: training steps per idle minute of each learnt method (profile quick)",
        "",
        f"Written by `{meta['command']}` at commit {meta['commit']} on {meta['cpu']} "
        f"({meta['cpu_count']} cores); torch {meta['packages'].get('torch')}, careamics "
        f"{meta['packages'].get('careamics')}. Each method trained as a benchmark cell on "
        f"{args.dataset} (seed 0) for A and for B steps; the rate is (B - A) over the "
        "difference of process CPU seconds, times threads (the rate of an idle machine "
        "whose cores the process keeps busy); the wall-clock rate and the 1-minute load "
        "average are shown beside it. `step budget` = idle steps per minute x the quick "
        "configuration's former wall-clock minutes (rounded in the configurations).",
        "",
        *([args.note, ""] if args.note else []),
        "| method | A / B steps | CPU s per step | threads | idle steps/min | wall steps/min "
        "| load | former minutes | step budget |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        load = " / ".join(f"{x:.1f}" for x in r["load"] if x is not None)
        lines.append(
            f"| {r['method']} | {r['steps_a']} / {r['steps_b']} | {r['cpu_s_per_step']:.3f} | "
            f"{r['threads']} | {r['idle_steps_per_minute']:.0f} | "
            f"{r['wall_steps_per_minute']:.0f} | {load} | {r['quick_minutes']} | "
            f"{r['step_budget']} |"
        )
    (args.out / "steps.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out / 'steps.md'}")
    if not args.no_package_data:
        write_package_data({"meta": meta, "rows": rows}, args.package_data)
    return 0


#: The package data file the rates are written to.
PACKAGE_DATA = (
    Path(__file__).resolve().parent.parent / "structnoise" / "benchmark" / "steps_per_minute.json"
)


def write_package_data(steps_json: dict, path: Path) -> None:
    """Write the measured rates as the package's ``steps_per_minute.json`` (atomically).

    Methods measured before and not in this measurement keep their earlier rate (and
    their measurement stays listed in ``sources``).
    """
    from structnoise.benchmark.step_rates import rates_from_measurement
    from structnoise.utils import atomic_path

    data = rates_from_measurement(steps_json)
    if path.exists():
        old = json.loads(path.read_text())
        data["rates"] = {**(old.get("rates") or {}), **data["rates"]}
        kept = []
        for src in old.get("sources") or []:
            methods = [
                m for m in src.get("methods") or [] if m not in data["sources"][0]["methods"]
            ]
            if methods:
                kept.append(dict(src, methods=methods))
        data["sources"] = kept + data["sources"]
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
