"""Does bfloat16 training cost quality? An A/B against float32 at the same number of steps.

``dvlae-small`` with the ``quick`` profile is trained on ``embedded-stripe`` (all noisy
images, axis horizontal, ``rf`` 6 as the quality benchmark sets it) for ``--steps``
steps, once with ``precision="bf16"`` and once with ``precision="32"``, for each seed;
the test tiles are then denoised in float32 (MMSE of ``--samples`` samples) so that only
the training arithmetic differs, and scored with the paper's PSNR. The question is
whether ``precision="auto"`` (bfloat16 where the CPU runs it natively) trades quality
for speed: the issue's bar is the same PSNR within 0.2 dB.

Usage::

    python benchmarks/dvlae_precision_ab.py --steps 200 --seeds 0 1 --out results/dvlae-speed

Writes ``precision_ab.json`` and ``precision_ab.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from structnoise.provenance import commit_label, cpu_model, portable_command


def run_one(ds, precision: str, seed: int, args) -> dict:
    """Train one model and score it on the test tiles."""
    from structnoise import methods
    from structnoise.metrics import psnr_stack

    model = methods.create(
        "dvlae-small",
        profile="quick",
        axis=ds.axis,
        rf=6,
        seed=seed,
        precision=precision,
        max_steps=args.steps,
        max_minutes=10_000,
    )
    noisy = np.concatenate([ds.train_noisy, ds.test_noisy])
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(noisy)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    den = model.denoise(ds.test_noisy, n_samples=args.samples, precision="32")
    psnr = float(np.mean(psnr_stack(ds.test_clean, den)))
    return {
        "precision": precision,
        "seed": seed,
        "steps": args.steps,
        "psnr": psnr,
        "fit_seconds": fit_s,
        "fit_cpu_seconds": fit_cpu,
        "summary": {k: v for k, v in model.train_summary.items() if np.isscalar(v)},
    }


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--samples", type=int, default=10, help="MMSE samples at the test")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", type=Path, default=Path("results/dvlae-speed"))
    args = p.parse_args(argv)
    import torch

    from structnoise.datasets import load_dataset

    torch.set_num_threads(args.threads)
    ds = load_dataset("embedded-stripe")
    runs = []
    for seed in args.seeds:
        for precision in ("bf16", "32"):
            r = run_one(ds, precision, seed, args)
            runs.append(r)
            print(f"seed {seed} {precision}: {r['psnr']:.2f} dB", flush=True)
    diffs = []
    for seed in args.seeds:
        by = {r["precision"]: r["psnr"] for r in runs if r["seed"] == seed}
        diffs.append(by["bf16"] - by["32"])
    meta = {
        "command": portable_command(sys.argv),
        "commit": commit_label(),
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_end": os.getloadavg(),
    }
    report = {"meta": meta, "runs": runs, "bf16_minus_32_db": diffs}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "precision_ab.json").write_text(json.dumps(report, indent=1))
    lines = [
        "# bfloat16 against float32 training, same steps (dvlae-small, quick, embedded-stripe)",
        "",
        f"Command: `{meta['command']}`  ",
        f"Commit: {meta['commit']}; torch {meta['torch']}; CPU: {meta['cpu']}, "
        f"{meta['cpu_count']} CPUs (shared with other jobs); {args.threads} torch thread(s).",
        "",
        f"{args.steps} training steps each; test tiles denoised in float32, MMSE of "
        f"{args.samples} samples; PSNR averaged over the test tiles.",
        "",
        "| seed | bfloat16 (dB) | float32 (dB) | difference (dB) | fit CPU s bf16 | "
        "fit CPU s fp32 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for seed, d in zip(args.seeds, diffs, strict=True):
        by = {r["precision"]: r for r in runs if r["seed"] == seed}
        lines.append(
            f"| {seed} | {by['bf16']['psnr']:.2f} | {by['32']['psnr']:.2f} | {d:+.2f} | "
            f"{by['bf16']['fit_cpu_seconds']:.0f} | {by['32']['fit_cpu_seconds']:.0f} |"
        )
    worst = max(abs(d) for d in diffs)
    lines += [
        "",
        f"Largest difference: {worst:.2f} dB (bar: 0.2 dB): "
        f"{'within' if worst <= 0.2 else '**outside**'}.",
    ]
    (args.out / "precision_ab.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
