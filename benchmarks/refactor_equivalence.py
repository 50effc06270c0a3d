"""Check that a refactoring changed nothing: same seed, same losses, same outputs, old models load.

Runs the same fixed work with the package at an earlier commit (``--before``, checked out
into a temporary git worktree) and with the working tree (the "after" code), each in its
own Python process on one thread in float32, and compares:

* the training history (every logged loss) of ``dvlae-small``, ``hdn`` and ``n2v`` in the
  smoke profile with a step limit (no wall-clock budget, so load cannot change it);
* their denoised outputs (fixed seeds) and those of ``noisy``, ``gaussian`` and ``bm3d``;
* models saved by the *before* code, loaded by the *after* code: their outputs must match
  the before code's outputs for the same input and seed;
* a small benchmark run (:data:`RUN`: classical and learnt methods with curve marks on
  ``embedded-stripe``) through ``structnoise.benchmark.run``: its cell ids (so a run
  folder written before resumes after) and every value of its results table (each cell,
  metric and evaluation, curve marks included).

Writes ``equivalence.json`` and ``equivalence.md`` (with both commits, versions and the
machine) to ``--out`` (default ``results/architecture``).

Usage::

    python benchmarks/refactor_equivalence.py --before <commit> [--out DIR]

The child mode (``--child DIR``) is what each process runs; it is not meant to be used by
hand.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from structnoise.provenance import cpu_model

ROOT = Path(__file__).resolve().parents[1]

#: Learnt methods and their fixed, step-bound settings.
LEARNT = {
    "dvlae-small": {"axis": "horizontal", "rf": 6, "precision": "32"},
    "hdn": {},
    "n2v": {},
}
CLASSICAL = {"noisy": {}, "gaussian": {"sigma": 1.0}, "bm3d": {}}
#: The benchmark run compared (its results table and cell ids).
RUN = {
    "name": "equivalence",
    "profile": "smoke",
    "methods": [
        "noisy",
        {"name": "gaussian", "params": {"sigma": 1.0}},
        {"name": "n2v", "max_steps": 4},
        {"name": "dvlae-small", "max_steps": 4},
    ],
    "datasets": ["embedded-stripe"],
    "seeds": [0],
    "curve_marks": 1,
    "max_test_images": 2,
    "report": False,
    "save_denoised": False,
}


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small deterministic stripe-noise data (no download, no package code involved)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    clean = np.stack(
        [0.5 + 0.3 * np.sin(2 * np.pi * (yy * (1 + i) + xx * (2 - i))) for i in range(4)]
    ).astype(np.float32)
    white = rng.normal(0.0, 0.05, clean.shape)
    stripes = np.cumsum(rng.normal(0.0, 0.02, clean.shape), axis=2) * 0.2
    noisy = (clean + white + stripes - stripes.mean(axis=2, keepdims=True)).astype(np.float32)
    return noisy[:3], clean[:3], noisy[3:]


def child(out: Path, load_from: Path | None) -> None:
    """Fit, denoise and save with whatever ``structnoise`` is importable."""
    import torch

    torch.set_num_threads(1)
    from structnoise import methods

    train, clean, test = _data()
    result: dict = {"histories": {}}
    arrays: dict[str, np.ndarray] = {}
    models = out / "models"
    for name, params in CLASSICAL.items():
        m = methods.create(name, profile="smoke", seed=0, **params).fit(train)
        arrays[f"denoise/{name}"] = m.denoise(test)
    for name, params in LEARNT.items():
        m = methods.create(name, profile="smoke", seed=0, max_minutes=60.0, **params)
        m.fit(train, clean) if name.startswith("hdn") else m.fit(train)
        result["histories"][name] = [
            {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
            for row in getattr(m, "history", [])
        ]
        options = {"n_samples": 2} if name != "n2v" else {}
        arrays[f"denoise/{name}"] = m.denoise(test, **options)
        m.save(models / name)
    if load_from is not None:
        for name in LEARNT:
            m = methods.load(load_from / "models" / name)
            options = {"n_samples": 2} if name != "n2v" else {}
            arrays[f"loaded/{name}"] = m.denoise(test, **options)
    from structnoise.benchmark import run

    table = run(dict(RUN), out=str(out / "run"), progress=False).table
    result["run"] = {
        "cells": sorted(set(table["cell_id"])),
        "values": {
            f"{r.cell_id}/{r.metric}/{r.mark_step}/{r.final}": float(r.value)
            for r in table.itertuples()
        },
    }
    np.savez(out / "arrays.npz", **arrays)
    (out / "result.json").write_text(json.dumps(result))


def _run_child(pythonpath: Path, out: Path, load_from: Path | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", str(out)]
    if load_from is not None:
        cmd += ["--load-from", str(load_from)]
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": "1"}
    env["TQDM_DISABLE"] = "1"
    env["STRUCTNOISE_DATA"] = str(out.parent / "data")  # one dataset cache for both
    subprocess.run(cmd, check=True, env=env, cwd=out)


def _max_diff(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _history_diff(h1: list[dict], h2: list[dict]) -> float:
    if len(h1) != len(h2):
        return float("inf")
    worst = 0.0
    for r1, r2 in zip(h1, h2, strict=True):
        if set(r1) != set(r2):
            return float("inf")
        for k in r1:
            worst = max(worst, abs(r1[k] - r2[k]))
    return worst


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    """Compare the package at ``--before`` with the working tree."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="the commit before the refactoring")
    parser.add_argument("--out", default=str(ROOT / "results" / "architecture"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--load-from", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), Path(args.load_from) if args.load_from else None)
        return
    if not args.before:
        parser.error("--before COMMIT is required")
    before = _git("rev-parse", args.before)
    after = _git("rev-parse", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "structnoise"))
    with tempfile.TemporaryDirectory(prefix="structnoise-equiv-") as tmp:
        tmp = Path(tmp)
        tree = tmp / "before-tree"
        _git("worktree", "add", "--detach", str(tree), before)
        try:
            _run_child(tree, tmp / "before")
            _run_child(ROOT, tmp / "after", load_from=tmp / "before")
        finally:
            _git("worktree", "remove", "--force", str(tree))
        b = np.load(tmp / "before" / "arrays.npz")
        a = np.load(tmp / "after" / "arrays.npz")
        rb = json.loads((tmp / "before" / "result.json").read_text())
        ra = json.loads((tmp / "after" / "result.json").read_text())
        hb, ha = rb["histories"], ra["histories"]
    rows = []
    for name in [*CLASSICAL, *LEARNT]:
        rows.append(("output", name, _max_diff(b[f"denoise/{name}"], a[f"denoise/{name}"])))
    for name in LEARNT:
        rows.append(("losses", name, _history_diff(hb[name], ha[name])))
        rows.append(
            (
                "saved-before, loaded-after",
                name,
                _max_diff(b[f"denoise/{name}"], a[f"loaded/{name}"]),
            )
        )
    vb, va = rb["run"]["values"], ra["run"]["values"]
    same_cells = rb["run"]["cells"] == ra["run"]["cells"] and set(vb) == set(va)
    rows.append(("benchmark run: cell ids", "all", 0.0 if same_cells else float("inf")))
    worst = max((abs(vb[k] - va[k]) for k in vb if k in va and vb[k] == vb[k]), default=0.0)
    nan_moved = any((vb[k] != vb[k]) != (va.get(k) != va.get(k)) for k in vb)
    rows.append(
        ("benchmark run: results table values", "all", float("inf") if nan_moved else worst)
    )
    steps = {name: len(hb[name]) for name in LEARNT}
    import torch

    meta = {
        "before": before,
        "after": after,
        "after_package_code_modified": dirty,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "history_rows": steps,
        "benchmark_run_rows": len(vb),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "provenance": meta,
        "rows": [{"what": w, "method": m, "max_abs_diff": d} for w, m, d in rows],
    }
    (out / "equivalence.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        "# Refactoring equivalence",
        "",
        f"Written by `benchmarks/refactor_equivalence.py --before {before[:10]}` at commit "
        f"`{after[:10]}`{' (package code modified)' if dirty else ''}; torch {meta['torch']}, "
        f"Python {meta['python']}, {meta['machine']['cpu']} ({meta['machine']['cores']} cores), "
        f"{meta['date']}. One thread, float32, smoke profile, seed 0, step-bound training; "
        f"history rows compared: {steps}; benchmark run: {len(vb)} "
        f"result rows of {len(rb['run']['cells'])} cells.",
        "",
        "| check | method | max abs difference |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {w} | {m} | {d:.3g} |" for w, m, d in rows]
    (out / "equivalence.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if any(d != 0.0 for _, _, d in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
