"""Where DVLAE's time goes: torch.profiler tables of ours and the authors' code.

For one preset, profiles (in this process, one after the other) a few training steps of
the authors' modules (krulllab/DVLAE at ``acbab39``) and of ours at the same
architecture, and the MMSE of a few posterior samples of one image, and writes the top
operators by self CPU time of each to ``OUT/profile-<label>.md`` with the commit, the
machine and the command. The tables are the evidence behind the speed work: which
operators dominate and where ours spends more than theirs.

Usage::

    python benchmarks/dvlae_profile.py --authors /path/to/DVLAE --label before
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from dvlae_speed_workers import authors_model, authors_train_step, our_method, our_train_step

from structnoise.provenance import commit_label, cpu_model, portable_command


def _table(prof, rows: int) -> str:
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def _profile(fn, warmup: int, reps: int, rows: int) -> tuple[str, float]:
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        seconds = (time.perf_counter() - t0) / reps
    return _table(prof, rows), seconds


def profile_train(impl: str, args) -> tuple[str, float]:
    """Profile training steps of ``impl`` (``theirs``, ``ours-32`` or ``ours-bf16``)."""
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.crop, args.crop)
    if impl == "theirs":
        step = authors_train_step(authors_model(args.authors, args.preset, args.crop), x)
    else:
        method = our_method(
            args.preset, impl.split("-")[1], args.crop, args.batch, not args.contiguous
        )
        step = our_train_step(method, x)
    return _profile(step, 1, args.steps, args.rows)


def profile_mmse(impl: str, args) -> tuple[str, float]:
    """Profile the MMSE of ``args.samples`` samples of one ``args.size`` image."""
    torch.manual_seed(0)
    img = np.random.default_rng(0).normal(size=(args.size, args.size)).astype(np.float32)
    if impl == "theirs":
        model = authors_model(args.authors, args.preset, args.size).eval()
        model.vae.mode_pred = True
        batch = torch.from_numpy(img)[None, None]

        def fn():
            with torch.no_grad():
                acc = torch.zeros_like(batch)
                for _ in range(args.samples):
                    acc += model.predict_step(batch, 0)

    else:
        prec = impl.split("-")[1]
        method = our_method(args.preset, prec, 64, 8)
        method.net = method.build_network()
        method.mean, method.std, method.fitted = 0.0, 1.0, True

        def fn():
            method.denoise(img, n_samples=args.samples, precision=prec)

    return _profile(fn, 1, 1, args.rows)


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors", required=True, help="checkout of krulllab/DVLAE at acbab39")
    p.add_argument("--label", required=True, help="name of the output (e.g. before, after)")
    p.add_argument("--preset", default="small", choices=["small", "large"])
    p.add_argument("--impls", nargs="+", default=["theirs", "ours-32"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--steps", type=int, default=3, help="profiled training steps")
    p.add_argument("--size", type=int, default=256, help="side of the MMSE image")
    p.add_argument("--samples", type=int, default=4, help="MMSE samples")
    p.add_argument("--rows", type=int, default=25)
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: robust on a shared CPU)"
    )
    p.add_argument(
        "--contiguous",
        action="store_true",
        help="train ours in the contiguous layout (what the code before issue 14 timed)",
    )
    p.add_argument(
        "--code-label",
        default=None,
        help="what to call the code profiled (default: the commit of this checkout)",
    )
    p.add_argument("--out", type=Path, default=Path("results/dvlae-speed"))
    args = p.parse_args(argv)
    args.authors = str(Path(args.authors).resolve())
    torch.set_num_threads(args.threads)
    lines = [
        f"# Profiler tables, {args.preset} preset ({args.label})",
        "",
        f"Command: `{portable_command(sys.argv)}`  ",
        f"Code: {args.code_label or commit_label()}; torch {torch.__version__}; "
        f"CPU: {cpu_model()}, "
        f"{os.cpu_count()} CPUs, {torch.get_num_threads()} threads; "
        f"load average at the start {[round(v, 2) for v in os.getloadavg()]} "
        "(a CPU shared with other jobs).",
        "",
        f"Training: {args.steps} steps of a batch of {args.batch} crops of "
        f"{args.crop}x{args.crop} after one warm-up step. MMSE: {args.samples} samples of "
        f"one {args.size}x{args.size} image after one warm-up call. Top operators by "
        "self CPU time; times are the profiled ones (the profiler adds overhead).",
        "",
    ]
    for task, fn in (("training", profile_train), ("MMSE", profile_mmse)):
        for impl in args.impls:
            table, seconds = fn(impl, args)
            unit = "s/step" if task == "training" else "s per call"
            print(f"{task} {impl}: {seconds:.3f} {unit}", flush=True)
            lines += [f"## {task}, {impl}: {seconds:.3f} {unit}", "", "```", table, "```", ""]
    lines.append(f"Load average at the end: {[round(v, 2) for v in os.getloadavg()]}.")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"profile-{args.preset}-{args.label}.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
