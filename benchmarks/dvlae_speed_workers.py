"""The measurements of ``dvlae_speed.py``: models, training steps and MMSE, ours and theirs.

Each function here runs inside one measurement process (``dvlae_speed.py --worker``) or
in the profiler (``dvlae_profile.py``). Nothing of the authors' code is in this
repository: :func:`authors_modules` imports it from a checkout of krulllab/DVLAE at
``acbab39`` given at run time (with a two-line shim mapping ``pytorch_lightning`` to
``lightning.pytorch`` when that package is missing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident set size of this process (MB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def authors_modules(path: str):
    """``DVLAE, LadderVAE, PixelCNN, SDecoder`` from the authors' checkout ``path``."""
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


def authors_model(path: str, preset: str, crop: int):
    """The authors' DVLAE of ``preset`` (``small`` or ``large``) for ``crop`` crops."""
    DVLAE, LadderVAE, PixelCNN, SDecoder = authors_modules(path)
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


def authors_train_step(model, x):
    """Their ``DVLAE.training_step`` (``n_grad_batches=1``) without the Lightning trainer."""
    import torch

    model.train()
    opt_vae = torch.optim.Adamax(
        list(model.vae.parameters()) + list(model.noise_model.parameters()), lr=2e-3
    )
    opt_sd = torch.optim.Adamax(model.s_decoder.parameters(), lr=2e-3)

    def step():
        out = model(x)
        rec = -model.noise_model.loglikelihood(x, out["x_params"]).mean()
        (out["kl_loss"] + rec).backward()
        model.s_decoder.loss(x, out["s_hat"]).mean().backward()
        for o in (opt_vae, opt_sd):
            o.step()
            o.zero_grad()

    return step


def our_method(preset: str, precision: str, crop: int, batch: int, channels_last: bool = True):
    """Our ``dvlae-<preset>`` with the authors' architecture (``paper`` profile).

    Channels-last in every arithmetic by default (as the ``quick`` profile trains;
    oneDNN's convolutions are faster in it on CPUs, float32 included).
    """
    from structnoise import methods

    return methods.create(
        f"dvlae-{preset}",
        profile="paper",
        precision=precision,
        channels_last=channels_last,
        threads="fixed",
        crop=crop,
        batch=batch,
        accumulate=1,
    )


def our_train_step(method, x):
    """The computation of our Lightning ``training_step`` on batch ``x``."""
    import torch

    from structnoise.methods.vae.device import autocast

    precision = method.params["precision"]
    net = method.build_network().train()
    prof = method.training_profile
    fmt = torch.channels_last if prof.channels_last else torch.contiguous_format
    net.to(memory_format=fmt)
    opt_vae = torch.optim.Adamax(list(net.vae.parameters()) + list(net.ar.parameters()), lr=prof.lr)
    opt_sd = torch.optim.Adamax(net.sd.parameters(), lr=prof.lr)
    xb = x.contiguous(memory_format=fmt)

    def step():
        with autocast(precision, "cpu"):
            losses = net.losses(xb)
        (losses.nll + losses.kl + losses.sd).backward()
        for o in (opt_vae, opt_sd):
            o.step()
            o.zero_grad(set_to_none=True)

    return step


def worker_train(args) -> dict:
    """Time training steps of one implementation."""
    import torch

    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.crop, args.crop)
    if args.impl == "theirs":
        step = authors_train_step(authors_model(args.authors, args.preset, args.crop), x)
    else:
        method = our_method(args.preset, args.impl_precision, args.crop, args.batch)
        step = our_train_step(method, x)
    rss0 = peak_rss_mb()
    times, cpu = [], []
    for i in range(args.warmup + args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {
        "seconds_per_step": statistics.median(times),
        "cpu_seconds_per_step": statistics.median(cpu),
        "step_times": times,
        "step_cpu_times": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss0,
    }


def worker_mmse(args) -> dict:
    """Time the MMSE of ``samples`` posterior samples of one image."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    img = np.random.default_rng(0).normal(size=(args.size, args.size)).astype(np.float32)
    extra: dict = {}
    if args.impl == "theirs":
        model = authors_model(args.authors, args.preset, args.size).eval()
        model.vae.mode_pred = True
        batch = torch.from_numpy(img)[None, None]
        rss0 = peak_rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.no_grad():
            acc = torch.zeros_like(batch)
            for _ in range(args.samples):  # their notebook: one pass per sample
                acc += model.predict_step(batch, 0)
            (acc / args.samples).numpy()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    else:
        method = our_method(args.preset, args.impl_precision, 64, 8)
        method.net = method.build_network()
        method.mean, method.std, method.fitted = 0.0, 1.0, True
        rss0 = peak_rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        method.denoise(img, n_samples=args.samples, precision=args.impl_precision)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        extra["chunk"] = getattr(method, "last_mmse_chunk", None)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss0,
        **extra,
    }


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
