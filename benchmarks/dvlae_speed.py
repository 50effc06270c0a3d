"""DVLAE speed against the authors' code, side by side on the same machine.

Measures, for the ``small`` and ``large`` presets at the same architecture:

* training: seconds per step (wall clock and the process's CPU time) and images per
  second for a batch of 8 random 64x64 crops, ours in each arithmetic of
  ``--precisions`` (``32``; ``bf16``: bfloat16 autocast, what ``precision="auto"``
  picks where the CPU runs it natively), channels-last, against the authors' modules
  (krulllab/DVLAE at commit ``acbab39``) doing their training step;
* MMSE: seconds for the mean of ``--samples`` posterior samples of one image of each
  ``--size``, ours (``denoise``: one bottom-up pass, then ``chunk`` samples per top-down
  pass, recorded) against ``--samples`` sequential passes of the authors'
  ``predict_step`` (what their prediction notebook does, without the Lightning trainer
  around it);
* peak memory (resident set size) of each measurement, each run in its own process.

Every report names the commit, the package versions, the CPU model and the CPU flags
that decide the arithmetic's speed (avx2, avx512f, avx512_bf16, amx).

Ours and theirs alternate (``--repeats`` training rounds, ``--mmse-repeats`` MMSE
rounds, in alternating order) so that a change in the machine's load hits both; the
median over rounds is reported, with every round and the load average before and after
each measurement in the JSON. On a CPU shared with other jobs, ``--threads 1`` and the
CPU-time columns are the robust comparison.

Nothing of the authors' code is in this repository: pass the path of a checkout of
krulllab/DVLAE at ``acbab39`` (``git clone`` it anywhere, ``git checkout acbab39``). Their
code imports ``pytorch_lightning``; when that package is missing, a two-line shim mapping
it to ``lightning.pytorch`` is written to a temporary folder at run time.

Usage::

    python benchmarks/dvlae_speed.py --authors /path/to/DVLAE --out results/dvlae-speed
    python benchmarks/dvlae_speed.py --authors /path/to/DVLAE --presets small --samples 20
    python benchmarks/dvlae_speed.py --authors /path/to/DVLAE --precisions 32 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from dvlae_speed_report import to_markdown

from structnoise.provenance import commit_label, cpu_model, portable_command

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------------------- driver
#: CPU flags that decide the arithmetic's speed (bfloat16 natively: avx512_bf16, amx_bf16).
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def cpu_flags() -> dict[str, bool]:
    """Which of :data:`CPU_FLAGS` this CPU has (``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return {f: f in flags for f in CPU_FLAGS}


def versions() -> dict[str, str]:
    """Versions of the packages the measurement depends on."""
    import numpy
    import torch

    import structnoise

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "structnoise": getattr(structnoise, "__version__", "unknown"),
        "torch_threads": str(torch.get_num_threads()),
    }


def _run(cmd: list[str]) -> dict:
    load = os.getloadavg()
    proc = subprocess.run(
        [sys.executable, str(HERE), "--worker", *cmd], capture_output=True, text=True
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[len("RESULT ") :])
            res["load_before"] = load
            res["load_after"] = os.getloadavg()
            return res
    raise RuntimeError(f"worker failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")


def _impls(precisions: list[str]) -> list[tuple[str, str, str]]:
    """``(key, impl, precision)`` of every implementation measured, theirs first."""
    return [("theirs", "theirs", "32")] + [(f"ours-{p}", "ours", p) for p in precisions]


def _summary(res: dict, args, samples: int) -> dict:
    summary: dict = {}
    for key, rounds in res["train"].items():
        sps = statistics.median(x["seconds_per_step"] for x in rounds)
        summary[f"train_{key}"] = {
            "seconds_per_step": sps,
            "cpu_seconds_per_step": statistics.median(x["cpu_seconds_per_step"] for x in rounds),
            "images_per_second": args.batch / sps,
            "peak_rss_mb": max(x["peak_rss_mb"] for x in rounds),
            "rounds": len(rounds),
        }
    theirs = summary["train_theirs"]
    for key, row in summary.items():
        if key != "train_theirs":
            row["speedup_vs_authors"] = theirs["seconds_per_step"] / row["seconds_per_step"]
            row["cpu_speedup_vs_authors"] = (
                theirs["cpu_seconds_per_step"] / row["cpu_seconds_per_step"]
            )
    for size, by_impl in res["mmse"].items():
        rows = {}
        for key, rounds in by_impl.items():
            sec = statistics.median(x["seconds"] for x in rounds)
            rows[key] = {
                "size": int(size),
                "samples": samples,
                "seconds": sec,
                "cpu_seconds": statistics.median(x["cpu_seconds"] for x in rounds),
                "seconds_per_100_samples": sec * 100 / samples,
                "peak_rss_mb": max(x["peak_rss_mb"] for x in rounds),
                "chunk": rounds[0].get("chunk"),
                "rounds": len(rounds),
            }
        for key, row in rows.items():
            if key != "theirs":
                row["speedup_vs_authors"] = rows["theirs"]["seconds"] / row["seconds"]
                row["cpu_speedup_vs_authors"] = rows["theirs"]["cpu_seconds"] / row["cpu_seconds"]
                row["memory_vs_authors"] = row["peak_rss_mb"] / rows["theirs"]["peak_rss_mb"]
            summary[f"mmse{size}_{key}"] = row
            if int(size) == args.size[0]:
                summary[f"mmse_{key}"] = row
    return summary


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors", required=True, help="checkout of krulllab/DVLAE at acbab39")
    p.add_argument("--presets", nargs="+", default=["small", "large"])
    p.add_argument(
        "--precisions",
        nargs="+",
        choices=["32", "bf16"],
        default=["32", "bf16"],
        help="our arithmetics to measure (theirs is always float32)",
    )
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed training steps per round")
    p.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    p.add_argument(
        "--size", type=int, nargs="+", default=[512], help="sides of the MMSE test images"
    )
    p.add_argument("--samples", type=int, default=100, help="MMSE samples (small preset)")
    p.add_argument(
        "--large-samples", type=int, default=10, help="MMSE samples for the large preset"
    )
    p.add_argument("--repeats", type=int, default=3, help="alternating training rounds")
    p.add_argument("--mmse-repeats", type=int, default=1, help="alternating MMSE rounds")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument("--skip-mmse", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/dvlae-speed"))
    args = p.parse_args(argv)
    authors = str(Path(args.authors).resolve())
    common = ["--threads", str(args.threads), "--authors", authors]
    impls = _impls(args.precisions)
    report: dict = {
        "meta": {
            "command": portable_command(sys.argv),
            "commit": commit_label(),
            "versions": versions(),
            "authors_code": "krulllab/DVLAE @ acbab39",
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "cpu_flags": cpu_flags(),
            "shared_machine": True,
            "threads": args.threads or "torch's default",
            "load_start": os.getloadavg(),
        },
        "presets": {},
    }
    for preset in args.presets:
        res: dict = {"train": {}, "mmse": {}}
        samples = args.samples if preset == "small" else args.large_samples
        for r in range(args.repeats):
            # alternate the order too, so that no implementation always runs first
            for key, impl, prec in impls if r % 2 == 0 else impls[::-1]:
                t = _run(
                    ["--task", "train", "--impl", impl, "--impl-precision", prec]
                    + ["--preset", preset, "--batch", str(args.batch), "--crop", str(args.crop)]
                    + ["--steps", str(args.steps), "--warmup", str(args.warmup), *common]
                )
                res["train"].setdefault(key, []).append(t)
                print(f"{preset} train {key} round {r}: {t['seconds_per_step']:.3f} s/step")
        for r in range(0 if args.skip_mmse else args.mmse_repeats):
            for size in args.size:
                for key, impl, prec in impls if r % 2 == 0 else impls[::-1]:
                    t = _run(
                        ["--task", "mmse", "--impl", impl, "--impl-precision", prec]
                        + ["--preset", preset, "--size", str(size), "--samples", str(samples)]
                        + common
                    )
                    res["mmse"].setdefault(str(size), {}).setdefault(key, []).append(t)
                    print(f"{preset} MMSE{samples} {size}px {key} round {r}: {t['seconds']:.1f} s")
        summary = _summary(res, args, samples)
        report["presets"][preset] = {"rounds": res, "summary": summary}
        print(json.dumps(summary, indent=1), flush=True)
    report["meta"]["load_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(report, indent=1))
    text = to_markdown(report, args)
    (args.out / "speed.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        from dvlae_speed_workers import worker

        raise SystemExit(worker(sys.argv[2:]))
    raise SystemExit(main())
