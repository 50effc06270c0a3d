r"""Time to quality of DVLAE's training recipes: PSNR against idle CPU-minutes.

Each *recipe* is a set of ``dvlae-small`` parameters on top of the ``quick`` profile
(:data:`RECIPES`; ``current`` is the quick profile as it is). A *cell* (recipe, dataset,
seed) trains for a step budget, one thread, and at each curve mark (:func:`marks_for`)
pauses training and scores the test tiles:

* ``direct``: the direct denoiser (recipes that train one);
* ``mmse20``: the MMSE of 20 posterior samples (two independent halves of 10, seeds 1
  and 2), and from the two halves an estimate of the MMSE of 100 samples,
  ``mmse100_est``: the error of an N-sample mean is ``B + V / N`` (B: the error of the
  exact posterior mean, V: the posterior variance of the signal decoder's output), and
  the two halves differ by ``2 V / 10`` on average, so ``MSE_100 = MSE_20 - V / 20 +
  V / 100`` per image. At the last mark the real MMSE of 100 samples is computed too
  (``mmse100``), which checks the estimate.

``default`` is what ``structnoise denoise`` returns for that model: the direct denoiser
when the recipe trains one (``direct=True``), else the MMSE of 100 samples.

Time axis: training steps are converted to idle minutes of the suite's 2-core machine
with the calibrated rate of ``results/calibration/steps.json`` (dvlae-small, quick
profile: steps per idle minute on 2 cores), scaled by the recipe's measured cost per
step: ``rate(recipe) = rate_calibrated * c(current) / c(recipe)``, where ``c`` is the
process CPU seconds per training step measured in this benchmark's own cells on one
thread (the slope between the first and the last mark, so set-up and scoring are
excluded). So a recipe that makes steps cheaper or dearer is charged for it, and other
processes on the machine cannot change a number (steps are counted, CPU seconds of the
process are measured).

Baselines on the same test tiles: the noisy input, the best isotropic Gaussian blur
(sigma chosen on the test tiles against the clean images: an oracle, the strongest blur
there is) and ``bm3d`` (the suite's blind-PSD BM3D), drawn as lines.

Datasets: ``embedded-stripe`` (screening), ``embedded-checkerboard``, and
``unfamiliar-stripe`` (the stripe noise on 16 tiles of other scikit-image pictures never
used for choosing anything, from ``benchmarks/dvlae_quality.py``; fitted on those noisy
tiles, which are also the test tiles, as a user with a small stack would). The embedded
datasets are fitted on their training images only and scored on their test tiles.

Per (recipe, dataset) the report gives the idle minutes to pass the best blur (linear
interpolation between marks, per seed) and to come within 0.5 dB of the cell's own
plateau (read as the best mark; a curve still rising at its last doubling of steps is
marked budget-limited, the criterion of issue 18: gain over the last doubling larger
than max(0.2 dB, the seeds' standard deviation)).

Resumable: every cell is one JSON file under ``OUT/cells/``, written when the cell is
complete (temporary name, renamed in); a cell whose file exists with the same
parameters and budget is skipped. The recorded commit is ``RECIPE_CODE_COMMIT`` when set
(runs from an exported snapshot of a commit, so that editing the checkout cannot change
a running job), else the checkout's commit label.

Usage (exact commands of the committed results: ``OUT/README.md``)::

    # one cell, to try it (200 steps, embedded-stripe, seed 0)
    OMP_NUM_THREADS=1 python benchmarks/dvlae_recipe.py run --quick --recipes current
    # screening: every recipe at one seed on embedded-stripe
    OMP_NUM_THREADS=1 python benchmarks/dvlae_recipe.py run --recipes current direct \
        --datasets embedded-stripe --seeds 0 --steps 1000
    # confirmation: more seeds and datasets
    OMP_NUM_THREADS=1 python benchmarks/dvlae_recipe.py run --recipes current direct \
        --datasets embedded-stripe embedded-checkerboard unfamiliar-stripe --seeds 0 1 2
    # table and figure from the cells (no training)
    python benchmarks/dvlae_recipe.py report
    python benchmarks/dvlae_recipe.py list     # the recipes and their parameters
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

#: AR receptive field per dataset (as benchmarks/dvlae_quality.py: from the noise's
#: autocorrelation, stripe 6, checkerboard 40).
RF = {"embedded-stripe": 6, "embedded-checkerboard": 40, "unfamiliar-stripe": 6}

#: Recipes: dvlae-small parameters on top of the quick profile. Each candidate changes
#: one thing; combinations are named with "+". The names describe changes to the quick
#: profile of the screening (batch 8, no direct denoiser: commits up to bc38a4eaf7, the
#: commits recorded in the cells); since then the quick profile *is* ``direct+batch4``, so
#: ``current`` run at a later commit is that recipe (each cell records its resolved
#: parameters).
RECIPES: dict[str, dict] = {
    "current": {},
    "direct": {"direct": True},
    # candidates, each on top of "direct" (whose VAE trains exactly as "current": its MMSE
    # columns are the candidate alone, its direct column the candidate with the direct
    # denoiser)
    "direct+init": {"direct": True, "res_init": "scaled"},
    "direct+warmup": {"direct": True, "lr": 4e-3, "lr_warmup_steps": 100},
    "direct+batch4": {"direct": True, "batch": 4},
    "direct+f24": {"direct": True, "n_filters": 24, "ar_filters": 24, "sd_filters": 24},
    "direct+ema99": {"direct": True, "ema_decay": 0.99},
    "direct+cosine": {"direct": True, "lr_schedule": "cosine"},
    # the winners of the screening together
    "direct+batch4+init": {"direct": True, "batch": 4, "res_init": "scaled"},
}

#: Log-spaced curve marks (training steps); the budget is always the last one.
MARKS = (25, 50, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4800, 6400)

DEFAULT_OUT = ROOT / "results" / "dvlae-recipe"


def marks_for(steps: int, marks=MARKS) -> list[int]:
    """The curve marks of a budget: ``marks`` below it, then the budget."""
    return [int(m) for m in marks if m < steps] + [int(steps)]


# ---------------------------------------------------------------------------- data
def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """``(fit_noisy, test_noisy, test_clean, axis)`` of a dataset name."""
    if name.startswith("unfamiliar-"):
        from dvlae_quality import load as load_unfamiliar

        return load_unfamiliar(name)
    from structnoise.datasets import load_dataset

    ds = load_dataset(name)
    return ds.train_noisy, ds.test_noisy, ds.test_clean, ds.axis


def _psnr_from_mse(clean: np.ndarray, mse: np.ndarray) -> np.ndarray:
    """Per-image PSNR (the suite's convention: data range of the clean image)."""
    rng = clean.max(axis=(1, 2)) - clean.min(axis=(1, 2))
    return 10 * np.log10(rng**2 / np.maximum(mse, 1e-20))


def baselines(name: str, out: Path) -> dict:
    """Noisy input, best Gaussian blur (oracle sigma) and ``bm3d``; cached in ``OUT``."""
    path = out / "baselines" / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    from scipy.ndimage import gaussian_filter

    from structnoise import methods
    from structnoise.metrics import psnr_stack

    _, test_x, test_c, axis = load(name)
    res: dict = {"dataset": name, "noisy": float(psnr_stack(test_c, test_x).mean())}
    blur = {}
    for sigma in np.round(np.arange(0.4, 3.01, 0.1), 2):
        den = np.stack([gaussian_filter(t, float(sigma)) for t in test_x])
        blur[f"{sigma:.1f}"] = float(psnr_stack(test_c, den).mean())
    best = max(blur, key=blur.get)
    res.update(blur_grid=blur, blur_best_sigma=float(best), blur_best=blur[best])
    res["blur_sigma1"] = blur["1.0"]
    t0 = time.process_time()
    bm3d = methods.create("bm3d", seed=0)
    bm3d.fit(test_x)
    res["bm3d"] = float(psnr_stack(test_c, bm3d.denoise(test_x)).mean())
    res["bm3d_cpu_s"] = time.process_time() - t0
    res["meta"] = provenance()
    _write_json(path, res)
    return res


# ---------------------------------------------------------------------------- cells
def cell_path(out: Path, recipe: str, dataset: str, seed: int) -> Path:
    """Where a cell's JSON lives."""
    return out / "cells" / f"{recipe}__{dataset}__s{seed}.json"


def run_cell(recipe: str, dataset: str, seed: int, steps: int, args) -> dict:
    """Train one cell with curve marks; its record."""
    import torch

    from structnoise import methods
    from structnoise.metrics import psnr_stack

    torch.set_num_threads(1)
    fit_x, test_x, test_c, axis = load(dataset)
    params = {"rf": RF[dataset], **RECIPES[recipe]}
    model = methods.create(
        "dvlae-small",
        axis=axis,
        profile="quick",
        max_steps=int(steps),
        max_minutes=10_000,
        seed=int(seed),
        threads="fixed",
        **params,
    )
    rows: list[dict] = []
    clock = {"start": 0.0, "eval": 0.0}

    def score(m, info: dict, final: bool) -> None:
        c_in = time.process_time()
        train_cpu = c_in - clock["start"] - clock["eval"]
        row: dict = {"steps": int(info["steps"]), "train_cpu_s": train_cpu}
        if m.has_direct:
            den = m.denoise(test_x, mode="direct")
            row["direct"] = float(psnr_stack(test_c, den).mean())
        half = args.samples // 2
        a = m.denoise(test_x, mode="mmse", n_samples=half, seed=1)
        b = m.denoise(test_x, mode="mmse", n_samples=half, seed=2)
        m20 = (a + b) / 2
        mse20 = ((m20 - test_c) ** 2).mean(axis=(1, 2))
        var = half / 2 * ((a - b) ** 2).mean(axis=(1, 2))  # posterior variance V
        n = 2 * half
        mse100 = np.maximum(mse20 - var / n + var / 100, 1e-20)
        row[f"mmse{n}"] = float(_psnr_from_mse(test_c, mse20).mean())
        row["mmse100_est"] = float(_psnr_from_mse(test_c, mse100).mean())
        if final:
            den = m.denoise(test_x, mode="mean")
            row["mean_latent"] = float(psnr_stack(test_c, den).mean())
        if final and args.final_samples:
            den = m.denoise(test_x, mode="mmse", n_samples=args.final_samples, seed=3)
            row[f"mmse{args.final_samples}"] = float(psnr_stack(test_c, den).mean())
        row["eval_cpu_s"] = time.process_time() - c_in
        clock["eval"] += row["eval_cpu_s"]
        rows.append(row)
        if not final:  # a partial curve survives an interrupted cell
            partial = {**record(), "status": "partial"}
            _write_json(cell_path(args.out, recipe, dataset, seed), partial)
        shown = {k: round(v, 2) for k, v in row.items() if k not in ("steps",)}
        print(f"  {recipe} {dataset} s{seed} step {row['steps']}: {shown}", flush=True)

    def record() -> dict:
        return {
            "recipe": recipe,
            "params": params,
            "dataset": dataset,
            "seed": int(seed),
            "steps": int(steps),
            "marks": rows,
            "meta": provenance(),
        }

    model.snapshot_hook = (
        marks_for(steps, args.marks or MARKS)[:-1],
        lambda m, info: score(m, info, False),
        "steps",
    )
    clock["start"] = time.process_time()
    t0 = time.monotonic()
    model.fit(fit_x)
    wall = time.monotonic() - t0
    s = model.train_summary
    score(model, {"steps": s["steps"]}, True)
    if args.save_models:
        model.save(Path(args.save_models) / f"{recipe}__{dataset}__s{seed}")
    history = [
        {
            k: v
            for k, v in h.items()
            if k
            in (
                "epoch",
                "step",
                "train_kl_levels",
                "train_nll",
                "train_kl",
                "train_sd",
                "val_elbo",
                "val_sd",
                "lr",
                "train_direct",
            )
        }
        for h in (model.history or [])
    ]
    return {
        **record(),
        "status": "complete",
        "resolved": _jsonable(model.resolved_params()),
        "train_summary": _jsonable({k: v for k, v in s.items() if k != "profile"}),
        "history": _jsonable(history),
        "fit_wall_s": wall,
        "threads": torch.get_num_threads(),
    }


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def _write_json(path: Path, obj) -> None:
    from structnoise.utils import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))


def provenance() -> dict:
    """Commit, package versions, CPU model and flags that matter here."""
    import torch

    import structnoise
    from structnoise.provenance import commit_label, cpu_model

    flags = ""
    try:
        flags = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        pass
    native = sorted({f for f in flags.split() if f in ("avx512_bf16", "amx_bf16", "avx2")})
    return {
        "commit": os.environ.get("RECIPE_CODE_COMMIT") or commit_label(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_flags": native,
        "versions": {
            "structnoise": structnoise.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
        "torch_threads": torch.get_num_threads(),
        "loadavg": [round(v, 2) for v in os.getloadavg()],
    }


def cmd_run(args) -> int:
    """Train the missing cells, one at a time, in the order given."""
    out = args.out
    if args.quick:
        args.datasets = args.datasets or ["embedded-stripe"]
        args.seeds = args.seeds or [0]
        args.steps = args.steps or 200
    datasets = args.datasets or ["embedded-stripe"]
    seeds = args.seeds if args.seeds is not None else [0]
    steps = args.steps or 1000
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        print(f"unknown recipe(s) {unknown}: choose from {sorted(RECIPES)}", file=sys.stderr)
        return 2
    for d in datasets:
        baselines(d, out)
    for seed in seeds:
        for dataset in datasets:
            for recipe in args.recipes:
                path = cell_path(out, recipe, dataset, seed)
                if path.exists():
                    old = json.loads(path.read_text())
                    same = old.get("params") == {"rf": RF[dataset], **RECIPES[recipe]}
                    done = old.get("status", "complete") == "complete"
                    if same and done and old.get("steps", 0) >= steps:
                        print(f"skip {path.name} (done)", flush=True)
                        continue
                print(f"cell {recipe} {dataset} seed {seed}: {steps} steps", flush=True)
                rec = run_cell(recipe, dataset, seed, steps, args)
                rec["command"] = _command()
                _write_json(path, rec)
    return 0


def _command() -> str:
    from structnoise.provenance import portable_command

    return portable_command(sys.argv)


# ---------------------------------------------------------------------------- report
def calibrated_rate() -> float:
    """dvlae-small's calibrated steps per idle minute (2 cores, quick profile)."""
    data = json.loads((ROOT / "results" / "calibration" / "steps.json").read_text())
    for row in data["rows"]:
        if row["method"] == "dvlae-small":
            return float(row["idle_steps_per_minute"])
    raise KeyError("dvlae-small missing from results/calibration/steps.json")


def cpu_per_step(cell: dict) -> float:
    """Process CPU seconds per training step between the first and the last mark."""
    m = cell["marks"]
    if len(m) < 2:
        return m[-1]["train_cpu_s"] / max(1, m[-1]["steps"])
    return (m[-1]["train_cpu_s"] - m[0]["train_cpu_s"]) / max(1, m[-1]["steps"] - m[0]["steps"])


def default_metric(cell: dict) -> str:
    """The key of what ``denoise`` returns by default for the cell's model."""
    return "direct" if cell["params"].get("direct") else "mmse100_est"


def _cross(steps: list[int], values: list[float], level: float) -> float | None:
    """First step (linear interpolation) at which ``values`` exceed ``level``."""
    prev = None
    for s, v in zip(steps, values, strict=True):
        if v > level:
            if prev is None:
                return float(s)
            s0, v0 = prev
            return s0 + (s - s0) * (level - v0) / (v - v0)
        prev = (s, v)
    return None


def summarise(out: Path) -> dict:
    """Group the cells and compute the per-(recipe, dataset) numbers.

    A recipe with the direct denoiser gives two rows: its default (direct) and its MMSE-100
    estimate. The ``direct`` recipe's VAE trains exactly as ``current`` (the direct
    denoiser learns from it, detached), so its MMSE row is the current recipe's curve at
    steps beyond the ``current`` cell's, charged at ``current``'s cost per step.
    """
    cells = [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.json"))]
    cells = [c for c in cells if len(c.get("marks", [])) >= 2]
    rate0 = calibrated_rate()
    cost: dict[tuple, list[float]] = {}
    for c in cells:
        cost.setdefault((c["recipe"], c["dataset"]), []).append(cpu_per_step(c))
    ref = cost.get(("current", "embedded-stripe"))
    c_ref = float(np.median(ref)) if ref else None
    groups: dict[tuple, list[dict]] = {}
    for c in cells:
        groups.setdefault((c["recipe"], c["dataset"]), []).append(c)
    rows = []
    for (recipe, dataset), cs in sorted(groups.items()):
        base = json.loads((out / "baselines" / f"{dataset}.json").read_text())
        c_rec = float(np.median(cost[(recipe, dataset)]))
        key = default_metric(cs[0])
        variants = [(recipe, key, c_rec)]
        if key == "direct":
            if recipe == "direct" and c_ref is not None:
                variants.append(("current (VAE of the direct cell)", "mmse100_est", c_ref))
            else:
                variants.append((f"{recipe} [MMSE-100, cost incl. direct]", "mmse100_est", c_rec))
        for label, metric, c_cost in variants:
            rows.append(_row(label, recipe, dataset, cs, metric, c_cost, c_ref, rate0, base))
    return {"rows": rows, "calibrated_rate": rate0, "c_ref": c_ref, "n_cells": len(cells)}


def _row(label, recipe, dataset, cs, key, c_rec, c_ref, rate0, base) -> dict:
    """One table row: a recipe's curve in one metric over its seeds."""
    rate = rate0 * c_ref / c_rec if c_ref else None
    per_seed = []
    for c in cs:
        steps = [m["steps"] for m in c["marks"]]
        vals = [m[key] for m in c["marks"]]
        best = max(vals)
        per_seed.append(
            {
                "seed": c["seed"],
                "steps": steps,
                "values": vals,
                "final": vals[-1],
                "best": best,
                "blur_step": _cross(steps, vals, base["blur_best"]),
                "plateau_step": next(
                    s for s, v in zip(steps, vals, strict=True) if v >= best - 0.5
                ),
                "mmse100": c["marks"][-1].get("mmse100"),
                "mmse100_est": c["marks"][-1].get("mmse100_est"),
                "direct": c["marks"][-1].get("direct"),
            }
        )
    common = sorted(set.intersection(*(set(p["steps"]) for p in per_seed)))
    mean_curve = [
        float(np.mean([p["values"][p["steps"].index(s)] for p in per_seed])) for s in common
    ]
    # at the largest budget every seed reached (seeds may have different budgets)
    finals = [p["values"][p["steps"].index(common[-1])] for p in per_seed]
    spread = float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0
    verdict, gain = "n/a", None
    last = common[-1]
    half = [s for s in common if s <= last / 2]
    if half:
        gain = mean_curve[-1] - mean_curve[common.index(half[-1])]
        verdict = "budget-limited" if gain > max(0.2, spread) else "plateau"
    blur_steps = [p["blur_step"] for p in per_seed]
    return {
        "recipe": label,
        "cells_recipe": recipe,
        "dataset": dataset,
        "partial": any(c.get("status") == "partial" for c in cs),
        "metric": key,
        "seeds": [p["seed"] for p in per_seed],
        "cpu_s_per_step_1thread": c_rec,
        "idle_steps_per_minute": rate,
        "budget_steps": last,
        "budget_minutes": _to_min(last, rate),
        "final_mean": float(np.mean(finals)),
        "final_sd": spread,
        "finals": finals,
        "mean_curve": {"steps": common, "psnr": mean_curve},
        "blur_best": base["blur_best"],
        "bm3d": base["bm3d"],
        "noisy": base["noisy"],
        "blur_steps": blur_steps,
        "blur_minutes": [_to_min(s, rate) for s in blur_steps],
        "plateau_steps": [p["plateau_step"] for p in per_seed],
        "plateau_minutes": [_to_min(p["plateau_step"], rate) for p in per_seed],
        "last_doubling_gain": gain,
        "verdict": verdict,
        "per_seed": per_seed,
    }


def _to_min(s, rate):
    return None if s is None or rate is None else s / rate


def _fmt(v, spec=".2f") -> str:
    return "-" if v is None else format(v, spec)


def _fmt_list(vs, spec=".1f") -> str:
    return ", ".join("never" if v is None else format(v, spec) for v in vs)


def to_markdown(summary: dict, meta: dict) -> str:
    """The table of the report."""
    lines = [
        "# DVLAE training recipes: time to quality (dvlae-small, quick profile + recipe)",
        "",
        f"Written by `{meta['command']}` from {summary['n_cells']} cells (each cell's "
        "commit, versions and CPU are in its JSON under `cells/`). Report at commit "
        f"{meta['commit']}; CPU {meta['cpu']} ({meta['cpu_count']} cores, flags "
        f"{', '.join(meta['cpu_flags'])}); torch {meta['versions']['torch']}.",
        "",
        f"Idle minutes = steps / rate, rate = {summary['calibrated_rate']:.0f} steps per idle "
        "2-core minute (results/calibration/steps.json, dvlae-small) x c(current) / "
        "c(recipe), c = one-thread process CPU seconds per step measured in the cells "
        f"(current on embedded-stripe: {_fmt(summary['c_ref'], '.3f')} s). PSNR in dB on the "
        "test tiles; `default` = what `denoise` returns for the model (direct denoiser "
        "when trained, else MMSE of 100 samples, estimated from 2 x 10 samples at the "
        "marks and measured at the last mark). Blur = best isotropic Gaussian (oracle "
        "sigma). Minutes per seed; `never` = not within the budget.",
        "",
        "| recipe | dataset | seeds | metric | s/step (1 thr) | idle steps/min | budget steps "
        "| budget min | final PSNR | blur / BM3D | min to pass blur | min to plateau-0.5 "
        "| last doubling | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in summary["rows"]:
        finals = " / ".join(f"{v:.2f}" for v in r["finals"])
        plateau = (
            "unknown (still rising)"
            if r["verdict"] == "budget-limited"
            else _fmt_list(r["plateau_minutes"])
        )
        lines.append(
            f"| {r['recipe']}{' (partial)' if r['partial'] else ''} | {r['dataset']} "
            f"| {len(r['seeds'])} | {r['metric']} "
            f"| {r['cpu_s_per_step_1thread']:.3f} | {_fmt(r['idle_steps_per_minute'], '.0f')} "
            f"| {r['budget_steps']} | {_fmt(r['budget_minutes'], '.1f')} "
            f"| {r['final_mean']:.2f} +- {r['final_sd']:.2f} ({finals}) "
            f"| {r['blur_best']:.2f} / {r['bm3d']:.2f} | {_fmt_list(r['blur_minutes'])} "
            f"| {plateau} | {_fmt(r['last_doubling_gain'], '+.2f')} "
            f"| {r['verdict']} |"
        )
    lines += ["", "Curves (mean over seeds, default metric, PSNR at steps):", ""]
    for r in summary["rows"]:
        pts = ", ".join(
            f"{s}: {v:.2f}"
            for s, v in zip(r["mean_curve"]["steps"], r["mean_curve"]["psnr"], strict=True)
        )
        lines.append(f"- {r['recipe']} / {r['dataset']}: {pts}")
    lines += ["", "Last mark of every cell (all scores):", ""]
    lines += [
        "| recipe | dataset | seed | steps | direct | MMSE-10/20 | MMSE-100 est. | MMSE-100 "
        "| mean latent |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in sorted((Path(meta["out"]) / "cells").glob("*.json")):
        c = json.loads(p.read_text())
        m = c["marks"][-1]
        lines.append(
            f"| {c['recipe']} | {c['dataset']} | {c['seed']} | {m['steps']} "
            f"| {_fmt(m.get('direct'))} | {_fmt(m.get('mmse20', m.get('mmse10')))} "
            f"| {_fmt(m.get('mmse100_est'))} "
            f"| {_fmt(m.get('mmse100'))} | {_fmt(m.get('mean_latent'))} |"
        )
    return "\n".join(lines) + "\n"


def plot(summary: dict, out: Path) -> None:
    """PSNR against idle minutes, one panel per dataset; PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in summary["rows"]})
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.2), squeeze=False)
    for ax, d in zip(axes[0], datasets, strict=True):
        rows = [r for r in summary["rows"] if r["dataset"] == d]
        for r in rows:
            rate = r["idle_steps_per_minute"]
            if rate is None:
                continue
            for p in r["per_seed"]:
                ax.plot(np.array(p["steps"]) / rate, p["values"], lw=0.6, alpha=0.35)
            x = np.array(r["mean_curve"]["steps"]) / rate
            ax.plot(x, r["mean_curve"]["psnr"], marker="o", ms=3, label=f"{r['recipe']}")
        base = rows[0]
        ax.axhline(base["blur_best"], color="k", ls="--", lw=1, label="best Gaussian blur")
        ax.axhline(base["bm3d"], color="k", ls=":", lw=1, label="BM3D")
        ax.axhline(base["noisy"], color="0.6", ls="-", lw=0.8, label="noisy")
        ax.set_xscale("log")
        ax.set_xlabel("idle 2-core minutes of training")
        ax.set_ylabel("PSNR (dB), default denoise mode")
        ax.set_title(d)
        ax.legend(fontsize=7)
    fig.tight_layout()
    for ext in ("png", "svg"):
        from structnoise.utils import atomic_path

        with atomic_path(out / f"curves.{ext}") as tmp:
            fig.savefig(tmp, dpi=110, format=ext)
    plt.close(fig)


def cmd_report(args) -> int:
    """Write ``summary.json``, ``recipes.md`` and the figure from the cells."""
    out = args.out
    if not list((out / "cells").glob("*.json")):
        print(f"no cells under {out / 'cells'}: run `run` first", file=sys.stderr)
        return 1
    summary = summarise(out)
    meta = {**provenance(), "command": _command(), "out": str(out)}
    _write_json(out / "summary.json", {"meta": {**meta, "out": None}, **summary})
    (out / "recipes.md").write_text(to_markdown(summary, meta))
    plot(summary, out)
    print((out / "recipes.md").read_text())
    return 0


def cmd_list(args) -> int:
    """Print the recipes."""
    for name, params in RECIPES.items():
        print(f"{name}: {json.dumps(params)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train the missing cells")
    r.add_argument("--recipes", nargs="+", default=["current"])
    r.add_argument("--datasets", nargs="+", default=None, choices=sorted(RF))
    r.add_argument("--seeds", nargs="+", type=int, default=None)
    r.add_argument("--steps", type=int, default=None, help="step budget per cell (1000)")
    r.add_argument("--samples", type=int, default=20, help="MMSE samples at the marks")
    r.add_argument("--marks", type=int, nargs="*", default=None, help="curve marks (steps)")
    r.add_argument("--final-samples", type=int, default=100, help="MMSE samples at the end")
    r.add_argument(
        "--save-models", default=None, help="folder to save each cell's model in (for diagnosis)"
    )
    r.add_argument("--quick", action="store_true", help="embedded-stripe, seed 0, 200 steps")
    r.add_argument("--out", type=Path, default=DEFAULT_OUT)
    rep = sub.add_parser("report", help="table and figure from the cells")
    rep.add_argument("--out", type=Path, default=DEFAULT_OUT)
    sub.add_parser("list", help="the recipes")
    args = p.parse_args(argv)
    return {"run": cmd_run, "report": cmd_report, "list": cmd_list}[args.cmd](args)


if __name__ == "__main__":
    raise SystemExit(main())
