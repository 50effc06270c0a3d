"""How well the run's ETA (:mod:`structnoise.benchmark.eta`) predicts a finished run.

For a run folder written by ``structnoise run`` this plans its configuration
(``config.yaml`` in the folder) again, estimates every cell as ``structnoise run`` does
before the first cell finishes (calibrated steps per minute, no correction yet), and sets
the estimates beside what the cells took (``fit_s + denoise_s`` of each record) and the
wall time of the run command(s) (``provenance.json``), per method and in total.

Usage::

    python benchmarks/eta_check.py results/reference --out results/calibration/eta_check.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def check(run_dir: Path) -> tuple[list[dict], dict]:
    """Per method: cells, estimated and measured seconds; and the totals."""
    from structnoise.benchmark.cells import plan_cells
    from structnoise.benchmark.config import load_config
    from structnoise.benchmark.eta import CellTimeEstimator
    from structnoise.benchmark.runfolder import read_records

    cfg = load_config(run_dir / "config.yaml")
    records = {r["cell_id"]: r for r in read_records(run_dir).values()}
    est = CellTimeEstimator()
    per: dict[str, dict] = {}
    for plan in plan_cells(cfg):
        rec = records.get(plan.cell_id)
        if rec is None:  # recorded under another id (e.g. an earlier code's settings)
            rec = next(
                (
                    r
                    for r in records.values()
                    if r["label"] == plan.cell.label
                    and r["dataset"] == plan.cell.dataset
                    and int(r["seed"]) == plan.cell.seed
                ),
                None,
            )
        row = per.setdefault(
            plan.cell.method, {"method": plan.cell.method, "cells": 0, "est_s": 0.0, "took_s": 0.0}
        )
        row["cells"] += 1
        row["est_s"] += est.planned_seconds(plan)
        if rec is not None:
            row["took_s"] += float(rec.get("fit_s") or 0) + float(rec.get("denoise_s") or 0)
    prov = json.loads((run_dir / "provenance.json").read_text())
    wall = sum(c.get("wall_s") or 0 for c in prov.get("calls", []))
    rows = list(per.values())
    totals = {
        "est_min": sum(r["est_s"] for r in rows) / 60,
        "cells_min": sum(r["took_s"] for r in rows) / 60,
        "wall_min": wall / 60,
        "commit": (prov.get("git") or {}).get("commit"),
    }
    return rows, totals


def main(argv: list[str] | None = None) -> int:
    """Write the comparison as Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from structnoise.benchmark.step_rates import calibration
    from structnoise.provenance import commit_label, portable_command

    rows, t = check(args.run_dir)
    sources = ", ".join(
        f"{s.get('commit')} ({', '.join(s.get('methods') or [])})" for s in calibration()["sources"]
    )
    lines = [
        f"# The run ETA against a finished run: {args.run_dir.as_posix()}",
        "",
        f"Written by `{portable_command(sys.argv)}` at commit {commit_label()}. The run was "
        f"made at commit {t['commit']}; its configuration planned again with this code, each "
        "cell estimated as `structnoise run` does before the first cell finishes (calibrated "
        f"steps per minute from {sources}, plus 10 s per evaluation; a classical cell 5 s), "
        "against what the cells took (fit + denoise seconds of their records) and the wall "
        "time of the run command(s) (provenance.json).",
        "",
        "| method | cells | estimated min | cells took min | took / estimated |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: -r["est_s"]):
        ratio = r["took_s"] / r["est_s"] if r["est_s"] else float("nan")
        lines.append(
            f"| {r['method']} | {r['cells']} | {r['est_s'] / 60:.1f} | {r['took_s'] / 60:.1f} "
            f"| {ratio:.2f} |"
        )
    lines += [
        "",
        f"Total: estimated {t['est_min']:.1f} min before the first cell; the cells took "
        f"{t['cells_min']:.1f} min; the run command(s) {t['wall_min']:.1f} min of wall time "
        f"(estimate / wall = {t['est_min'] / t['wall_min']:.2f}).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
