"""DVLAE's direct denoiser against MMSE-100 and the authors' 100 passes: quality, speed, memory.

Measures, each in its own process (peak resident memory per measurement):

* quality: ``dvlae-small`` at the ``quick`` profile with ``direct=True`` fitted on each
  embedded dataset (``--minutes`` of training, the dataset's ``rf``); PSNR on the test
  tiles of ``mode="direct"`` against the MMSE of ``--quality-samples`` posterior samples
  of the same fitted model, and their wall times;
* training cost: seconds per training step of the quick profile's network (batch 8 of
  64x64 crops, bfloat16 where native, channels-last) with and without the direct
  denoiser, alternating rounds, median;
* inference on one 512x512 image, small preset at the authors' sizes (``paper`` profile
  network, random weights: time does not depend on them): ``mode="direct"``, our MMSE of
  ``--samples`` posterior samples and ``--samples`` passes of the authors'
  ``predict_step`` (krulllab/DVLAE at ``acbab39``, pass its checkout with ``--authors``),
  all reported per 100 samples (the cost is linear in the samples);
* memory bound: ``mode="direct"`` (quick-profile network) on images of 1024x1024 and
  4096x4096 with 512 tiles.

Usage::

    python benchmarks/dvlae_direct.py --authors /path/to/DVLAE --out results/dvlae-direct
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from structnoise.provenance import commit_label, cpu_model, portable_command

HERE = Path(__file__).resolve()
DATASETS = {"embedded-stripe": 6, "embedded-checkerboard": 40}


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_quality(args) -> dict:
    """Fit with the direct denoiser; PSNR of direct and MMSE on the test tiles."""
    import numpy as np

    from structnoise import methods
    from structnoise.datasets import load_dataset
    from structnoise.metrics import psnr_stack

    ds = load_dataset(args.dataset)
    model = methods.create(
        "dvlae-small",
        axis=ds.axis,
        rf=DATASETS[args.dataset],
        profile="quick",
        max_minutes=args.minutes,
        seed=0,
        direct=True,
        **({"max_steps": args.train_steps} if args.train_steps else {}),
    )
    model.fit(ds.train_noisy)
    out = {"train": model.train_summary, "psnr": {}, "seconds": {}}
    out["psnr"]["noisy"] = float(np.mean(psnr_stack(ds.test_clean, ds.test_noisy)))
    for name, opts in (("direct", {"mode": "direct"}), ("mmse", {"n_samples": args.samples})):
        t0 = time.perf_counter()
        den = model.denoise(ds.test_noisy, **opts)
        out["seconds"][name] = time.perf_counter() - t0
        out["psnr"][name] = float(np.mean(psnr_stack(ds.test_clean, den)))
    out["samples"] = args.samples
    return out


def worker_stepcost(args) -> dict:
    """Seconds per quick-profile training step with and without the direct denoiser."""
    import torch

    from structnoise import methods
    from structnoise.methods.dvlae.direct import direct_loss
    from structnoise.methods.vae.device import autocast, resolve_precision

    nets, opts = {}, {}
    for direct in (False, True):
        m = methods.create("dvlae-small", profile="quick", rf=6, seed=0, direct=direct)
        net = m.build_network().train().to(memory_format=torch.channels_last)
        groups = [list(net.vae.parameters()) + list(net.ar.parameters()), net.sd.parameters()]
        if direct:
            groups.append(net.direct.parameters())
        nets[direct] = net
        opts[direct] = [torch.optim.Adamax(g, lr=2e-3) for g in groups]
    prec = resolve_precision("auto", "cpu")
    torch.manual_seed(0)
    x = torch.randn(8, 1, 64, 64).contiguous(memory_format=torch.channels_last)

    def step(direct: bool) -> None:
        net = nets[direct]
        with autocast(prec, "cpu"):
            losses = net.losses(x)
            total = losses.nll + losses.kl + losses.sd
            if direct:
                total = total + direct_loss(net.direct(x), losses.s_hat, "l2")
        total.backward()
        for o in opts[direct]:
            o.step()
            o.zero_grad(set_to_none=True)

    if args.threads:
        torch.set_num_threads(args.threads)
    times: dict[str, list[float]] = {"without": [], "with": []}
    cpu: dict[str, list[float]] = {"without": [], "with": []}
    for r in range(args.rounds):
        for direct in (False, True) if r % 2 == 0 else (True, False):
            for i in range(args.warmup + args.steps):
                t0, c0 = time.perf_counter(), time.process_time()
                step(direct)
                if i >= args.warmup:
                    key = "with" if direct else "without"
                    times[key].append(time.perf_counter() - t0)
                    cpu[key].append(time.process_time() - c0)
    return {
        "precision": str(prec),
        "threads": torch.get_num_threads(),
        "step_times": times,
        "cpu_times": cpu,
    }


def worker_infer(args) -> dict:
    """Time one denoising of a random ``size`` x ``size`` image."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    img = np.random.default_rng(0).normal(size=(args.size, args.size)).astype(np.float32)
    if args.impl == "theirs":
        sys.path.insert(0, str(HERE.parent))
        from dvlae_speed import _authors_model

        model = _authors_model(args.authors, "small", args.size).eval()
        model.vae.mode_pred = True
        batch = torch.from_numpy(img)[None, None]
        t0 = time.perf_counter()
        with torch.no_grad():
            acc = torch.zeros_like(batch)
            for _ in range(args.samples):  # their notebook: one pass per sample
                acc += model.predict_step(batch, 0)
            (acc / args.samples).numpy()
        seconds = time.perf_counter() - t0
    else:
        from structnoise import methods

        profile = "quick" if args.impl == "direct-quick" else "paper"
        method = methods.create("dvlae-small", profile=profile, direct=True, seed=0)
        method.net = method.build_network()
        method.fitted = True
        opts = {"n_samples": args.samples, "precision": "bf16"}
        if args.impl.startswith("direct"):
            opts = {"mode": "direct", "tile": args.tile}
        t0 = time.perf_counter()
        method.denoise(img, **opts)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb()}


def worker(argv) -> int:
    """Entry point of one measurement process (prints one JSON line)."""
    p = argparse.ArgumentParser()
    p.add_argument("--task", choices=["quality", "stepcost", "infer"])
    p.add_argument("--dataset")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--train-steps", type=int, default=None)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--impl")
    p.add_argument("--authors")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    fn = {"quality": worker_quality, "stepcost": worker_stepcost, "infer": worker_infer}
    out = fn[args.task](args)
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def _run(cmd: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, str(HERE), "--worker", *cmd], capture_output=True, text=True
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[len("RESULT ") :])
            res["loadavg"] = os.getloadavg()
            return res
    raise RuntimeError(f"worker failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")


def _versions() -> dict:
    import numpy
    import torch

    import structnoise

    return {
        "structnoise": structnoise.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
    }


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors", help="checkout of krulllab/DVLAE at acbab39")
    p.add_argument("--minutes", type=float, default=20.0, help="training budget per dataset")
    p.add_argument(
        "--train-steps",
        type=int,
        default=None,
        help="step budget per dataset for the quality run (then --minutes is only a limit)",
    )
    p.add_argument("--quality-samples", type=int, default=100)
    p.add_argument("--samples", type=int, default=20, help="MMSE samples timed at 512x512")
    p.add_argument("--repeats", type=int, default=2, help="alternating inference rounds")
    p.add_argument(
        "--step-threads", type=int, default=0, help="threads of the step timing (0: torch's)"
    )
    p.add_argument("--step-rounds", type=int, default=4, help="alternating step-timing rounds")
    p.add_argument("--skip", nargs="*", default=[], choices=["quality", "stepcost", "infer"])
    p.add_argument("--out", type=Path, default=Path("results/dvlae-direct"))
    p.add_argument(
        "--markdown-only", action="store_true", help="rewrite OUT/direct.md from OUT/direct.json"
    )
    args = p.parse_args(argv)
    if args.markdown_only:
        report = json.loads((args.out / "direct.json").read_text())
        (args.out / "direct.md").write_text(to_markdown(report))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "meta": {
            "command": portable_command(sys.argv),
            "commit": commit_label(),
            "machine": f"{cpu_model()}, {os.cpu_count()} CPUs",
            "versions": _versions(),
            "load_start": os.getloadavg(),
        }
    }

    def save() -> None:
        (args.out / "direct.json").write_text(json.dumps(report, indent=1))

    if "stepcost" not in args.skip:
        t = _run(
            ["--task", "stepcost", "--threads", str(args.step_threads)]
            + ["--rounds", str(args.step_rounds)]
        )
        med = {k: statistics.median(v) for k, v in t["step_times"].items()}
        cpu = {k: statistics.median(v) for k, v in t.get("cpu_times", {}).items()}
        report["stepcost"] = {**t, "median": med, "ratio": med["with"] / med["without"]}
        if cpu:
            report["stepcost"]["median_cpu"] = cpu
            report["stepcost"]["ratio_cpu"] = cpu["with"] / cpu["without"]
        print("step cost", med, cpu, flush=True)
        save()
    if "infer" not in args.skip:
        rounds: dict[str, list] = {}
        impls = ["direct", "mmse"] + (["theirs"] if args.authors else [])
        common = ["--samples", str(args.samples)]
        if args.authors:
            common += ["--authors", str(Path(args.authors).resolve())]
        for r in range(args.repeats):
            for impl in impls if r % 2 == 0 else impls[::-1]:
                if impl != "direct" and r > 0:
                    continue  # the sampled ones are long: one round
                t = _run(["--task", "infer", "--impl", impl, *common])
                rounds.setdefault(impl, []).append(t)
                print(f"infer {impl} round {r}: {t['seconds']:.2f} s", flush=True)
        for size in (1024, 4096):
            t = _run(["--task", "infer", "--impl", "direct-quick", "--size", str(size)])
            rounds.setdefault(f"direct-quick-{size}", []).append(t)
            print(f"direct quick {size}: {t['seconds']:.1f} s {t['peak_rss_mb']:.0f} MB")
        report["infer"] = {"samples": args.samples, "rounds": rounds}
        save()
    if "quality" not in args.skip:
        report["quality"] = {}
        for name in DATASETS:
            t = _run(
                ["--task", "quality", "--dataset", name, "--minutes", str(args.minutes)]
                + ["--samples", str(args.quality_samples)]
                + (["--train-steps", str(args.train_steps)] if args.train_steps else [])
            )
            report["quality"][name] = t
            print(name, t["psnr"], t["seconds"], flush=True)
            save()
    report["meta"]["load_end"] = os.getloadavg()
    save()
    (args.out / "direct.md").write_text(to_markdown(report))
    print(to_markdown(report))
    return 0


def to_markdown(report: dict) -> str:
    """The tables of ``direct.json``."""
    m = report["meta"]
    lines = [
        "# DVLAE's direct denoiser against MMSE and the authors' passes",
        "",
        f"Command: `{m['command']}`  ",
        f"Commit: {m['commit']}; machine: {m['machine']}; versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + f"; load average at the start {m['load_start']}, at the end {m.get('load_end')}.",
        "",
    ]
    q = report.get("quality")
    if q:
        lines += [
            "Quality: `dvlae-small`, quick profile, `direct=True`, PSNR (dB) on the test tiles "
            "of the same fitted model:",
            "",
            "| dataset | train steps | minutes | noisy | MMSE | direct | direct - MMSE "
            "| MMSE s | direct s | speed-up |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, t in q.items():
            ps, sec = t["psnr"], t["seconds"]
            lines.append(
                f"| {name} | {t['train'].get('steps')} | {t['train'].get('minutes') or 0:.1f} "
                f"| {ps['noisy']:.2f} | {ps['mmse']:.2f} ({t['samples']} samples) "
                f"| {ps['direct']:.2f} | {ps['direct'] - ps['mmse']:+.2f} | {sec['mmse']:.1f} "
                f"| {sec['direct']:.2f} | {sec['mmse'] / sec['direct']:.0f}x |"
            )
        lines.append("")
    s = report.get("stepcost")
    if s:
        med = s["median"]
        lines += [
            "Training cost: quick-profile network, batch 8 of 64x64, precision "
            f"{s['precision']}, channels-last; median s/step without the direct denoiser "
            f"{med['without']:.3f}, with it {med['with']:.3f}: **{s['ratio']:.2f}x** "
            f"({len(s['step_times']['with'])} steps each, alternating rounds, "
            f"{s.get('threads', '?')} thread(s))"
            + (
                f"; CPU seconds per step {s['median_cpu']['without']:.3f} and "
                f"{s['median_cpu']['with']:.3f}: **{s['ratio_cpu']:.2f}x**."
                if "ratio_cpu" in s
                else "."
            ),
            "",
        ]
    inf = report.get("infer")
    if inf:
        r = inf["rounds"]
        n = inf["samples"]
        direct = statistics.median(x["seconds"] for x in r["direct"])
        lines += [
            "Inference, one 512x512 image, small preset at the authors' sizes (random weights):",
            "",
            "| implementation | measured s | s for 100 samples | direct speed-up | peak RSS (MB) |",
            "| --- | --- | --- | --- | --- |",
            f"| direct (one pass, float32) | {direct:.2f} | - | 1x "
            f"| {max(x['peak_rss_mb'] for x in r['direct']):.0f} |",
        ]
        for impl, label in (("mmse", "ours, MMSE (bf16)"), ("theirs", "authors' passes")):
            if impl in r:
                sec = r[impl][0]["seconds"]
                per100 = sec * 100 / n
                lines.append(
                    f"| {label}, {n} samples | {sec:.1f} | {per100:.1f} | {per100 / direct:.0f}x "
                    f"| {r[impl][0]['peak_rss_mb']:.0f} |"
                )
        lines += ["", "Memory bound (direct, quick-profile network, 512 tiles):", ""]
        for size in (1024, 4096):
            key = f"direct-quick-{size}"
            if key in r:
                t = r[key][0]
                lines.append(
                    f"- {size}x{size}: {t['seconds']:.1f} s, peak RSS {t['peak_rss_mb']:.0f} MB"
                )
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        sys.exit(worker(sys.argv[2:]))
    sys.exit(main())
