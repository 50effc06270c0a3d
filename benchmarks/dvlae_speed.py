"""DVLAE speed against the authors' code, side by side on the same machine.

Measures, for the ``small`` and ``large`` presets at the same architecture:

* training: seconds per step (and images per second) for a batch of 8 random 64x64
  crops, ours (bfloat16 autocast where the CPU runs it natively, channels-last; the
  ``quick`` profile's arithmetic) and float32, against the authors' modules
  (krulllab/DVLAE at commit ``acbab39``) doing their training step;
* MMSE: seconds for the mean of ``--samples`` posterior samples of one 512x512 image,
  ours (one bottom-up pass, samples in batches) against ``--samples`` sequential passes of
  the authors' ``predict_step`` (what their prediction notebook does, without the
  Lightning trainer around it);
* peak memory (resident set size) of each measurement, each run in its own process.

Ours and theirs alternate (``--repeats`` rounds) so that a change in the machine's load
hits both; the median over rounds is reported, with every round in the JSON.

Nothing of the authors' code is in this repository: pass the path of a checkout of
krulllab/DVLAE at ``acbab39`` (``git clone`` it anywhere, ``git checkout acbab39``). Their
code imports ``pytorch_lightning``; when that package is missing, a two-line shim mapping
it to ``lightning.pytorch`` is written to a temporary folder at run time.

Usage::

    python benchmarks/dvlae_speed.py --authors /path/to/DVLAE --out results/dvlae-speed
    python benchmarks/dvlae_speed.py --authors /path/to/DVLAE --presets small --samples 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from structnoise.provenance import portable_command

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------------------- workers
def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _authors_modules(path: str):
    if not (Path(path) / "dvlae.py").is_file():
        raise SystemExit(f"{path} does not look like a checkout of krulllab/DVLAE (no dvlae.py)")
    try:
        import pytorch_lightning  # noqa: F401
    except ImportError:
        shim = Path(tempfile.mkdtemp(prefix="pl-shim-")) / "pytorch_lightning"
        shim.mkdir()
        (shim / "__init__.py").write_text(
            "import sys\nfrom lightning.pytorch import *  # noqa\n"
            "from lightning.pytorch import LightningModule, Trainer, callbacks  # noqa\n"
            "sys.modules['pytorch_lightning.callbacks'] = callbacks\n"
        )
        sys.path.insert(0, str(shim.parent))
    sys.path.insert(0, str(path))
    from dvlae import DVLAE
    from lvae.models.lvae import LadderVAE
    from noise_model.pixelcnn import PixelCNN
    from s_decoder import SDecoder

    return DVLAE, LadderVAE, PixelCNN, SDecoder


def _authors_model(path: str, preset: str, crop: int):
    DVLAE, LadderVAE, PixelCNN, SDecoder = _authors_modules(path)
    if preset == "small":
        c, z, levels, down = 64, 32, 6, [1] * 6
    else:
        c, z, levels, down = 128, 64, 14, [0, 1] * 7
    vae = LadderVAE(
        colour_channels=1,
        img_shape=(crop, crop),
        s_code_channels=c,
        n_filters=c,
        z_dims=[z] * levels,
        downsampling=down,
    )
    nm = PixelCNN(
        colour_channels=1,
        s_code_channels=c,
        kernel_size=5,
        RF_shape="horizontal",
        n_filters=64,
        n_layers=4,
        n_out_layers=1,
        n_gaussians=3,
    )
    sd = SDecoder(colour_channels=1, s_code_channels=c, n_filters=c)
    return DVLAE(vae=vae, noise_model=nm, s_decoder=sd, data_mean=0.0, data_std=1.0)


def _our_method(preset: str, precision: str, crop: int, batch: int):
    from structnoise import methods

    return methods.create(
        f"dvlae-{preset}",
        profile="paper",
        precision=precision,
        channels_last=precision == "bf16",
        threads="fixed",
        crop=crop,
        batch=batch,
        accumulate=1,
    )


def worker_train(args) -> dict:
    """Time training steps of one implementation."""
    import torch

    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.crop, args.crop)
    if args.impl == "theirs":
        model = _authors_model(args.authors, args.preset, args.crop).train()
        opt_vae = torch.optim.Adamax(
            list(model.vae.parameters()) + list(model.noise_model.parameters()), lr=2e-3
        )
        opt_sd = torch.optim.Adamax(model.s_decoder.parameters(), lr=2e-3)

        def step():
            # their DVLAE.training_step (n_grad_batches=1), without the Lightning trainer
            out = model(x)
            rec = -model.noise_model.loglikelihood(x, out["x_params"]).mean()
            (out["kl_loss"] + rec).backward()
            model.s_decoder.loss(x, out["s_hat"]).mean().backward()
            for o in (opt_vae, opt_sd):
                o.step()
                o.zero_grad()

    else:
        from structnoise.methods.dvlae.speed import autocast

        method = _our_method(args.preset, args.impl_precision, args.crop, args.batch)
        net = method.build_network().train()
        prof = method.training_profile
        fmt = torch.channels_last if prof.channels_last else torch.contiguous_format
        net.to(memory_format=fmt)
        opt_vae = torch.optim.Adamax(
            list(net.vae.parameters()) + list(net.ar.parameters()), lr=prof.lr
        )
        opt_sd = torch.optim.Adamax(net.sd.parameters(), lr=prof.lr)
        xb = x.contiguous(memory_format=fmt)

        def step():
            # the same computation as DVLAE's Lightning training_step
            with autocast(args.impl_precision, "cpu"):
                losses = net.losses(xb)
            (losses.nll + losses.kl + losses.sd).backward()
            for o in (opt_vae, opt_sd):
                o.step()
                o.zero_grad(set_to_none=True)

    rss0 = _peak_rss_mb()
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    return {
        "seconds_per_step": statistics.median(times),
        "step_times": times,
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": rss0,
    }


def worker_mmse(args) -> dict:
    """Time the MMSE of ``samples`` posterior samples of one image."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    img = np.random.default_rng(0).normal(size=(args.size, args.size)).astype(np.float32)
    if args.impl == "theirs":
        model = _authors_model(args.authors, args.preset, args.size).eval()
        model.vae.mode_pred = True
        batch = torch.from_numpy(img)[None, None]
        rss0 = _peak_rss_mb()
        t0 = time.perf_counter()
        with torch.no_grad():
            acc = torch.zeros_like(batch)
            for _ in range(args.samples):  # their notebook: one pass per sample
                acc += model.predict_step(batch, 0)
            (acc / args.samples).numpy()
        seconds = time.perf_counter() - t0
    else:
        method = _our_method(args.preset, args.impl_precision, 64, 8)
        method.net = method.build_network()
        method.mean, method.std, method.fitted = 0.0, 1.0, True
        rss0 = _peak_rss_mb()
        t0 = time.perf_counter()
        method.denoise(img, n_samples=args.samples, precision=args.impl_precision)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": rss0}


def worker(argv) -> int:
    """Entry point of one measurement process (prints one JSON line)."""
    p = argparse.ArgumentParser()
    p.add_argument("--task", choices=["train", "mmse"])
    p.add_argument("--impl", choices=["ours", "theirs"])
    p.add_argument("--impl-precision", default="bf16")
    p.add_argument("--preset", default="small")
    p.add_argument("--authors")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out = worker_train(args) if args.task == "train" else worker_mmse(args)
    out["threads"] = torch.get_num_threads()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


# ---------------------------------------------------------------------------- driver
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


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors", required=True, help="checkout of krulllab/DVLAE at acbab39")
    p.add_argument("--presets", nargs="+", default=["small", "large"])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed training steps per round")
    p.add_argument("--size", type=int, default=512, help="side of the MMSE test image")
    p.add_argument("--samples", type=int, default=100, help="MMSE samples (small preset)")
    p.add_argument(
        "--large-samples", type=int, default=10, help="MMSE samples for the large preset"
    )
    p.add_argument("--repeats", type=int, default=3, help="alternating rounds")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    p.add_argument("--skip-mmse", action="store_true")
    p.add_argument("--out", type=Path, default=Path("results/dvlae-speed"))
    args = p.parse_args(argv)
    authors = str(Path(args.authors).resolve())
    common = ["--threads", str(args.threads), "--authors", authors]
    impls = [("ours", "bf16"), ("ours", "32"), ("theirs", "32")]
    report: dict = {
        "meta": {
            "command": portable_command(sys.argv),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "load_start": os.getloadavg(),
        },
        "presets": {},
    }
    for preset in args.presets:
        res: dict = {"train": {}, "mmse": {}}
        samples = args.samples if preset == "small" else args.large_samples
        for r in range(args.repeats):
            for impl, prec in impls:
                key = f"{impl}-{prec}" if impl == "ours" else impl
                t = _run(
                    ["--task", "train", "--impl", impl, "--impl-precision", prec]
                    + ["--preset", preset, "--batch", str(args.batch), "--crop", str(args.crop)]
                    + ["--steps", str(args.steps), *common]
                )
                res["train"].setdefault(key, []).append(t)
                print(f"{preset} train {key} round {r}: {t['seconds_per_step']:.3f} s/step")
            if args.skip_mmse or r > 0:  # the MMSE is long: one round
                continue
            for impl, prec in impls:
                key = f"{impl}-{prec}" if impl == "ours" else impl
                t = _run(
                    ["--task", "mmse", "--impl", impl, "--impl-precision", prec]
                    + ["--preset", preset, "--size", str(args.size), "--samples", str(samples)]
                    + common
                )
                res["mmse"][key] = t
                print(f"{preset} MMSE{samples} {key}: {t['seconds']:.1f} s")
        summary = {}
        for key, rounds in res["train"].items():
            sps = statistics.median(x["seconds_per_step"] for x in rounds)
            summary[f"train_{key}"] = {
                "seconds_per_step": sps,
                "images_per_second": args.batch / sps,
                "peak_rss_mb": max(x["peak_rss_mb"] for x in rounds),
            }
        theirs = summary["train_theirs"]["seconds_per_step"]
        for key in ("ours-bf16", "ours-32"):
            summary[f"train_{key}"]["speedup_vs_authors"] = (
                theirs / summary[f"train_{key}"]["seconds_per_step"]
            )
        if res["mmse"]:
            for key, t in res["mmse"].items():
                summary[f"mmse_{key}"] = {
                    "samples": samples,
                    "seconds": t["seconds"],
                    "seconds_per_100_samples": t["seconds"] * 100 / samples,
                    "peak_rss_mb": t["peak_rss_mb"],
                }
            for key in ("ours-bf16", "ours-32"):
                summary[f"mmse_{key}"]["speedup_vs_authors"] = (
                    res["mmse"]["theirs"]["seconds"] / res["mmse"][key]["seconds"]
                )
        report["presets"][preset] = {"rounds": res, "summary": summary}
        print(json.dumps(summary, indent=1))
    report["meta"]["load_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(report, indent=1))
    (args.out / "speed.md").write_text(to_markdown(report, args))
    print(to_markdown(report, args))
    return 0


def to_markdown(report: dict, args) -> str:
    """Tables of the summary."""
    m = report["meta"]
    lines = [
        "# DVLAE speed against the authors' code (krulllab/DVLAE @ acbab39)",
        "",
        f"Command: `{m['command']}`  ",
        f"Machine: {m['machine']}; load average at the start "
        f"{[round(v, 2) for v in m['load_start']]}, at the end "
        f"{[round(v, 2) for v in m.get('load_end', [])]}.",
        "",
        f"Training: batch of {args.batch} crops of {args.crop}x{args.crop}, median over "
        f"{args.repeats} alternating rounds of {args.steps} steps.",
        "",
        "| preset | implementation | s/step | images/s | speed-up | peak RSS (MB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for preset, data in report["presets"].items():
        s = data["summary"]
        for key in ("theirs", "ours-32", "ours-bf16"):
            row = s[f"train_{key}"]
            lines.append(
                f"| {preset} | {key} | {row['seconds_per_step']:.3f} | "
                f"{row['images_per_second']:.1f} | {row.get('speedup_vs_authors', 1.0):.2f}x | "
                f"{row['peak_rss_mb']:.0f} |"
            )
    lines += [
        "",
        f"MMSE of one {args.size}x{args.size} image (theirs: one pass per sample):",
        "",
        "| preset | implementation | samples | seconds | s per 100 samples | speed-up | "
        "peak RSS (MB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for preset, data in report["presets"].items():
        s = data["summary"]
        for key in ("theirs", "ours-32", "ours-bf16"):
            row = s.get(f"mmse_{key}")
            if row is None:
                continue
            lines.append(
                f"| {preset} | {key} | {row['samples']} | {row['seconds']:.1f} | "
                f"{row['seconds_per_100_samples']:.1f} | "
                f"{row.get('speedup_vs_authors', 1.0):.2f}x | {row['peak_rss_mb']:.0f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        raise SystemExit(worker(sys.argv[2:]))
    raise SystemExit(main())
