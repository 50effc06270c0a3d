"""Our DVLAE against the authors' code: the same weights on the same inputs give the same numbers.

For each preset (``small``, ``large``) and AR axis (``horizontal``, ``vertical``) the script
builds the authors' modules as their training notebook does (krulllab/DVLAE at
``acbab39``: ``LadderVAE``, ``PixelCNN`` with ``n_out_layers=1``, ``SDecoder``, wrapped
in their ``DVLAE`` LightningModule) and ours as the ``paper`` profile does
(:func:`structnoise.methods.dvlae.authors.paper_architecture`), copies the authors' weights
into ours with :func:`structnoise.methods.dvlae.authors.from_authors`, and compares:

* the parameter counts (and, at the paper's 256 crop, 3,104,778 and 25,941,386);
* the mapping: ours -> theirs -> ours gives back every tensor bit for bit, and a
  Lightning checkpoint of their module (``trainer.save_checkpoint``, as their notebook
  writes it) read by ``structnoise import-authors``'s reader gives our network the same
  tensors;
* the AR decoder's per-pixel log-likelihood and the signal decoder's output on the same
  ``(x, s_code)``;
* their training step and ours (:class:`structnoise.methods.dvlae.training.DVLAEModule`,
  run outside a Trainer) on the same ``--accumulate`` batches with the same random
  draws: the s_code, the KL per level, the reconstruction NLL, the ELBO, the
  signal-decoder loss and output, the accumulated gradients just before the optimiser
  step, the BatchNorm running statistics, and every parameter after one Adamax step of
  both optimisers.

What is set up to make the comparison exact, and why it is fair:

* Both networks run in float64 (``--dtype``), so summation-order differences stay near
  1e-15 and the tolerances can be tight. Tolerances (scale-relative, see below) are
  1e-9 in float64 and 1e-4 in float32; counts, the mapping and the import must be exact.
  In float32 the biases of convolutions followed by BatchNorm are left out of the
  parameters after the step: their gradient is zero analytically, float32 rounding
  leaves about 1e-8, and Adamax's step ``g / (|g| + 1e-8)`` turns that into a fraction of
  the learning rate in either implementation.
* Our two numerical floors are set to 0 for the check, as the authors have none:
  ``scale_floor`` of the mixture scales (1e-3 in our profiles) and ``std_floor`` of the
  latent standard deviations (1e-6). Everything else is our code as it trains.
* The authors' zero-initialised top prior and their BatchNorm affine parameters (1 and 0
  at initialisation) are perturbed before copying, so that they take part.
* Gradients are compared as the optimisers see them: summed over the accumulated
  batches in both (ours did average them before this check; Adamax is invariant to that
  scale except for its ``eps``, which moved parameters with gradients near 1e-8 by up to
  a third of the learning rate).
* Their first causal convolution zeroes the last tap of its stored weight in place at
  every forward pass, ours multiplies by the mask in the forward pass: that tap is read
  by neither, gets a gradient only in theirs, and is left out (masked on both sides).
* Their ``configure_optimizers`` passes ``verbose`` to ``ReduceLROnPlateau``, which
  recent torch removed; their two Adamax optimisers (defaults: lr 2e-3, as ours) are
  then built as that method builds them, without the schedulers (which do not act
  within a step).
* Inputs are ``--crop`` squares (the authors' top prior is sized for that crop, as their
  code sizes it for the training crop; ours follows the same rule), smaller than the
  paper's 256 so that float64 runs in minutes on a CPU. The network is the paper's
  otherwise (the parameter counts at 256 are checked separately).

"max rel diff" is ``max|a - b| / max|b|`` over the compared tensors (for gradients and
parameters: over all tensors of the check together, since some gradients are zero
analytically, e.g. of a convolution bias followed by BatchNorm, and only rounding noise
numerically), ``|a - b| / |b|`` for scalars.

Nothing of the authors' code is in this repository: pass the path of a checkout of
krulllab/DVLAE at ``acbab39`` (``--authors``); its commit is read with git and written
to the report. Their code imports ``pytorch_lightning``.

Usage::

    python benchmarks/authors_equivalence.py --authors /path/to/DVLAE [--out results/fidelity]

Writes ``authors_equivalence.md`` and ``authors_equivalence.json`` to ``--out`` and ends
with one line ``equivalent: yes (...)`` or ``equivalent: no (...)``; the exit status is 0
only when every check is within its tolerance.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from structnoise.provenance import cpu_model

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The paper's parameter counts (the authors' code, 256 crops).
PAPER_COUNTS = {"small": 3_104_778, "large": 25_941_386}
#: Scale-relative tolerance per dtype.
TOLERANCE = {"float64": 1e-9, "float32": 1e-4}
#: Default crop per preset (multiples of 2 ** downsamplings: 64 small, 128 large).
DEFAULT_CROP = {"small": 128, "large": 128}


@dataclass
class Check:
    """One compared quantity."""

    config: str
    quantity: str
    max_abs: float
    max_rel: float
    tolerance: str
    passed: bool
    note: str = ""


# ---------------------------------------------------------------------------- helpers
def _git(*args: str, cwd: Path) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.strip()


def _versions() -> dict[str, str]:
    import numpy
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__}
    out["numpy"] = numpy.__version__
    for name in ("lightning", "pytorch_lightning"):
        try:
            out[name] = __import__(name).__version__
        except ImportError:
            out[name] = "missing"
    return out


def _authors_modules(path: Path):
    if not (path / "dvlae.py").is_file():
        raise SystemExit(f"{path} does not look like a checkout of krulllab/DVLAE (no dvlae.py)")
    sys.path.insert(0, str(path))
    from dvlae import DVLAE
    from lvae.models.lvae import LadderVAE
    from noise_model.pixelcnn import PixelCNN
    from s_decoder import SDecoder

    return DVLAE, LadderVAE, PixelCNN, SDecoder


def _sizes(preset: str) -> tuple[int, int, list[int]]:
    """Filters, levels and downsampling of the authors' notebook for a preset."""
    if preset == "small":
        return 64, 6, [1] * 6
    return 128, 14, [0, 1] * 7


def build_authors(mods, preset: str, axis: str, crop: int, *, mean, std, accumulate):
    """The authors' DVLAE module as their training notebook builds it."""
    DVLAE, LadderVAE, PixelCNN, SDecoder = mods
    c, levels, down = _sizes(preset)
    vae = LadderVAE(
        colour_channels=1,
        img_shape=(crop, crop),
        s_code_channels=c,
        n_filters=c,
        z_dims=[c // 2] * levels,
        downsampling=down,
    )
    noise_model = PixelCNN(
        colour_channels=1,
        s_code_channels=c,
        kernel_size=5,
        RF_shape=axis,
        n_filters=64,
        n_layers=4,
        n_out_layers=1,
        n_gaussians=3,
    )
    s_decoder = SDecoder(colour_channels=1, s_code_channels=c, n_filters=c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # their save_hyperparameters warns about modules
        return DVLAE(
            vae=vae,
            noise_model=noise_model,
            s_decoder=s_decoder,
            data_mean=mean,
            data_std=std,
            n_grad_batches=accumulate,
        )


def _authors_optimizers(model):
    import torch

    try:
        optimizers, _ = model.configure_optimizers()
        return list(optimizers)
    except TypeError:  # ReduceLROnPlateau(verbose=...) is gone from recent torch
        vae_params = list(model.vae.parameters()) + list(model.noise_model.parameters())
        return [torch.optim.Adamax(vae_params), torch.optim.Adamax(model.s_decoder.parameters())]


def _perturb(model, seed: int) -> None:
    """Make the zero-initialised top prior and the BatchNorm affine parameters random."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("top_prior_params"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


def _images(n: int, crop: int, *, mean: float, std: float, seed: int, dtype):
    """``n`` noisy images: a smooth signal plus noise correlated along rows and columns."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    signal = torch.randn(n, 1, crop // 8, crop // 8, generator=gen, dtype=torch.float64)
    signal = F.interpolate(signal, size=(crop, crop), mode="bicubic", align_corners=False)
    white = torch.randn(n, 1, crop, crop, generator=gen, dtype=torch.float64)
    rows = torch.cumsum(torch.randn(n, 1, crop, crop, generator=gen, dtype=torch.float64), -1)
    cols = torch.cumsum(torch.randn(n, 1, crop, crop, generator=gen, dtype=torch.float64), -2)
    noisy = signal + 0.3 * white + 0.05 * (rows - rows.mean(-1, keepdim=True))
    noisy = noisy + 0.05 * (cols - cols.mean(-2, keepdim=True))
    return (mean + std * noisy).to(dtype)


def _diff(a, b) -> tuple[float, float]:
    a = a.detach().double()
    b = b.detach().double()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    d = float((a - b).abs().max()) if a.numel() else 0.0
    scale = float(b.abs().max()) if b.numel() else 0.0
    rel = 0.0 if d == 0 else (d / scale if scale > 0 else math.inf)
    return d, rel


def _diff_dict(a: dict, b: dict) -> tuple[float, float, str]:
    """Largest difference over all tensors, relative to the largest value of ``b``."""
    if set(a) != set(b):
        raise ValueError(f"different keys: {sorted(set(a) ^ set(b))[:5]}")
    worst_abs, scale, where = 0.0, 0.0, ""
    for k in a:
        d, _ = _diff(a[k], b[k])
        scale = max(scale, float(b[k].detach().double().abs().max()) if b[k].numel() else 0.0)
        if d > worst_abs or not where:
            worst_abs, where = d, k
    rel = 0.0 if worst_abs == 0 else (worst_abs / scale if scale > 0 else math.inf)
    return worst_abs, rel, where


class _Recording:
    """An optimiser that snapshots every gradient of ``model`` at its first ``step``."""

    def __init__(self, opt, snapshot) -> None:
        self.opt = opt
        self.snapshot = snapshot

    @property
    def param_groups(self):  # noqa: D102
        return self.opt.param_groups

    def step(self, *args, **kwargs):  # noqa: D102
        self.snapshot()
        return self.opt.step(*args, **kwargs)

    def zero_grad(self, set_to_none: bool = True):  # noqa: D102
        return self.opt.zero_grad(set_to_none=set_to_none)


# ---------------------------------------------------------------------------- one config
def run_config(mods, preset: str, axis: str, args, tol: float) -> list[Check]:
    """All checks of one (preset, axis)."""
    import torch

    from structnoise.methods.dvlae import authors as A
    from structnoise.methods.dvlae.network import DVLAENet
    from structnoise.methods.dvlae.profiles import PAPER
    from structnoise.methods.dvlae.training import DVLAEModule
    from structnoise.methods.vae.network import count_parameters

    dtype = getattr(torch, args.dtype)
    crop = args.crop or DEFAULT_CROP[preset]
    config = f"{preset}/{axis}"
    checks: list[Check] = []

    def add(quantity, d, r, *, exact=False, note=""):
        ok = d == 0 if exact else (r <= tol and math.isfinite(r))
        checks.append(
            Check(config, quantity, d, r, "exact" if exact else f"rel <= {tol:g}", ok, note)
        )
        mark = "ok" if ok else "FAIL"
        print(f"  {config:18s} {quantity:44s} abs {d:.3g} rel {r:.3g} {mark}", flush=True)

    mean, std = 431.5, 27.25
    torch.manual_seed(args.seed)
    theirs = build_authors(mods, preset, axis, crop, mean=mean, std=std, accumulate=args.accumulate)
    _perturb(theirs, args.seed + 1)
    arch = A.paper_architecture(preset, axis, crop=crop)
    ours = DVLAENet(arch)

    # -- parameter counts and the mapping (float32, as built)
    n_theirs = sum(p.numel() for p in theirs.parameters())
    n_ours = count_parameters(ours)
    add(
        "parameters (theirs vs ours)",
        float(abs(n_theirs - n_ours)),
        0.0,
        exact=True,
        note=f"{n_ours:,}",
    )
    state = theirs.state_dict()
    mapped = A.from_authors(state, arch)
    ours.load_state_dict(mapped, strict=True)
    back = A.to_authors(ours.state_dict(), arch)
    worst = max(
        (float((back[k].double() - state[k].double()).abs().max()) for k in state),
        default=0.0,
    )
    same_keys = set(back) == set(state)
    add(
        "mapping theirs -> ours -> theirs",
        worst if same_keys else math.inf,
        0.0,
        exact=True,
        note=f"{len(state)} tensors",
    )
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "model.ckpt"
        _save_lightning_checkpoint(theirs, ckpt)
        if args.keep_checkpoints:
            args.keep_checkpoints.mkdir(parents=True, exist_ok=True)
            target = args.keep_checkpoints / f"authors-{preset}-{axis}-crop{crop}.ckpt"
            target.write_bytes(ckpt.read_bytes())
        imported = A.import_checkpoint(ckpt)
    got = imported.net.state_dict()
    worst = max(float((got[k] - mapped[k]).abs().max()) for k in got)
    same_arch = imported.arch == arch
    norm_ok = (imported.norm.mean, imported.norm.std) == (mean, std)
    add(
        "Lightning checkpoint via import-authors",
        worst if same_arch and norm_ok else math.inf,
        0.0,
        exact=True,
        note=f"{len(imported.imported['placeholders'])} classes read as placeholders",
    )

    # -- float64 (or --dtype) copies with our floors off
    theirs = theirs.to(dtype)
    ours = DVLAENet(replace(arch, scale_floor=0.0)).to(dtype)
    ours.load_state_dict(A.from_authors(theirs.state_dict(), arch), strict=True)
    for layer in ours.vae.stochastic:
        layer.std_floor = 0.0
    theirs.train()
    ours.train()
    b, c = args.batch, arch.n_filters
    batches = [
        _images(b, crop, mean=mean, std=std, seed=args.seed + 10 + i, dtype=dtype)
        for i in range(args.accumulate)
    ]
    normed = [(x - mean) / std for x in batches]

    # -- AR decoder and signal decoder on the same (x, s_code)
    gen = torch.Generator().manual_seed(args.seed + 2)
    s_code = torch.randn(b, c, crop, crop, generator=gen, dtype=torch.float64).to(dtype)
    with torch.no_grad():
        ll_theirs = theirs.noise_model.loglikelihood(
            normed[0], theirs.noise_model(normed[0], s_code)
        )
        ll_ours = ours.ar.log_likelihood(normed[0], ours.ar(normed[0], s_code))
        add("AR decoder log-likelihood per pixel", *_diff(ll_ours, ll_theirs[..., 0]))
        add("signal decoder output", *_diff(ours.sd(s_code), theirs.s_decoder(s_code)))

    # -- the training step of each, on the same batches and draws
    rec_t: dict = {"kl": [], "s_code": [], "s_hat": [], "logged": []}
    rec_o: dict = {"losses": [], "s_code": [], "s_hat": []}
    kl_levels: list = []
    n_levels = len(arch.z_dims)
    for i, layer in enumerate(theirs.vae.top_down_layers):
        layer.register_forward_hook(
            lambda m, inp, out, i=i: kl_levels.append((i, out[1].detach().sum()))
        )
    theirs.vae.register_forward_hook(lambda m, i, o: rec_t["s_code"].append(o["s_code"].detach()))
    theirs.s_decoder.register_forward_hook(lambda m, i, o: rec_t["s_hat"].append(o.detach()))
    ours.vae.register_forward_hook(lambda m, i, o: rec_o["s_code"].append(o.s_code.detach()))
    ours.sd.register_forward_hook(lambda m, i, o: rec_o["s_hat"].append(o.detach()))

    logged: dict = {}
    theirs.log = lambda name, value, **kw: logged.__setitem__(name, value.detach())
    theirs.manual_backward = lambda loss, *a, **kw: loss.backward()
    grads_t: dict = {}

    def snap_theirs():
        if grads_t:
            return
        for k, v in theirs.state_dict(keep_vars=True).items():
            if not isinstance(v, torch.nn.Parameter):  # buffers: their values
                grads_t[k] = v.detach().clone()
            else:
                grads_t[k] = torch.zeros_like(v) if v.grad is None else v.grad.detach().clone()

    opts_t = [_Recording(o, snap_theirs) for o in _authors_optimizers(theirs)]
    theirs.optimizers = lambda *a, **kw: opts_t

    module = DVLAEModule(ours, replace(PAPER, accumulate=args.accumulate))
    opts_o_raw = module.configure_optimizers()
    grads_o: dict = {}

    def snap_ours():
        if grads_o:
            return
        for k, p in ours.named_parameters():
            grads_o[k] = torch.zeros_like(p) if p.grad is None else p.grad.detach().clone()

    opts_o = [_Recording(o, snap_ours) for o in opts_o_raw]
    module.optimizers = lambda *a, **kw: opts_o
    module.manual_backward = lambda loss, *a, **kw: loss.backward()
    net_losses = module.losses

    def losses(batch):
        out = net_losses(batch)
        rec_o["losses"].append(out)
        return out

    module.losses = losses
    t0 = time.perf_counter()
    for i in range(args.accumulate):
        logged.clear()
        kl_levels.clear()
        torch.manual_seed(args.seed + 100 + i)
        theirs.training_step(batches[i], i)
        n_pix = batches[i].numel()
        per_level = [None] * n_levels
        for level, total in kl_levels:
            per_level[level] = total / n_pix
        rec_t["kl"].append(torch.stack(per_level))
        rec_t["logged"].append(dict(logged))
        torch.manual_seed(args.seed + 100 + i)
        module.training_step(normed[i], i)
    seconds = time.perf_counter() - t0

    def scalars(values_o, values_t):
        worst_abs = worst_rel = 0.0
        for vo, vt in zip(values_o, values_t, strict=True):
            d = float((vo.detach().double() - vt.detach().double()).abs().max())
            r = float(
                (
                    (vo.detach().double() - vt.detach().double()).abs()
                    / vt.detach().double().abs().clamp_min(1e-300)
                ).max()
            )
            worst_abs, worst_rel = max(worst_abs, d), max(worst_rel, r)
        return worst_abs, worst_rel

    note = f"{args.accumulate} batches of {b}x{crop}x{crop}"
    add("s_code (encoder output)", *_max_pairs(rec_o["s_code"], rec_t["s_code"]), note=note)
    add(
        "KL per level",
        *scalars([lo.kl_levels for lo in rec_o["losses"]], rec_t["kl"]),
        note=f"{n_levels} levels x {args.accumulate} batches",
    )
    add(
        "KL (sum over levels)",
        *scalars(
            [lo.kl for lo in rec_o["losses"]], [lg["train/kl_loss"] for lg in rec_t["logged"]]
        ),
    )
    add(
        "reconstruction NLL (AR decoder)",
        *scalars(
            [lo.nll for lo in rec_o["losses"]],
            [lg["train/reconstruction_loss"] for lg in rec_t["logged"]],
        ),
    )
    add(
        "ELBO loss (KL + NLL)",
        *scalars([lo.elbo for lo in rec_o["losses"]], [lg["train/elbo"] for lg in rec_t["logged"]]),
    )
    add("signal decoder output (training step)", *_max_pairs(rec_o["s_hat"], rec_t["s_hat"]))
    add(
        "signal decoder loss",
        *scalars(
            [lo.sd for lo in rec_o["losses"]], [lg["train/sd_loss"] for lg in rec_t["logged"]]
        ),
    )

    # gradients: theirs in our layout, the dead tap masked
    first = f"noise_model.layers.layers.{1 if axis == 'vertical' else 0}.in_conv.conv.weight"
    grads_t[first] = grads_t[first].clone()
    grads_t[first][..., -1] = 0
    mapped_grads = A.from_authors(grads_t, arch)
    g_o = grads_o
    g_t = {k: mapped_grads[k] for k in g_o}
    enc = {k for k in g_o if not k.startswith("sd.")}
    d, r, where = _diff_dict({k: g_o[k] for k in enc}, {k: g_t[k] for k in enc})
    add(f"gradients, VAE + AR decoder ({args.accumulate} batches)", d, r, note=f"largest: {where}")
    sd = set(g_o) - enc
    d, r, where = _diff_dict({k: g_o[k] for k in sd}, {k: g_t[k] for k in sd})
    add(f"gradients, signal decoder ({args.accumulate} batches)", d, r, note=f"largest: {where}")

    # after the step: parameters (effective weights) and BatchNorm statistics
    after_t = A.from_authors(theirs.state_dict(), arch)
    after_o = ours.state_dict()
    for side in (after_t, after_o):
        side["ar.blocks.0.in_conv.weight"] = (
            side["ar.blocks.0.in_conv.weight"] * ours.ar.blocks[0].in_conv.mask
        )
    params = {k for k, _ in ours.named_parameters()}
    stats = {k for k in after_o if "running_" in k}
    counts = {k for k in after_o if k.endswith("num_batches_tracked")}
    d, r, where = _diff_dict({k: after_o[k] for k in stats}, {k: after_t[k] for k in stats})
    same_counts = all(torch.equal(after_o[k], after_t[k]) for k in counts)
    add("BatchNorm running statistics", d if same_counts else math.inf, r, note=f"largest: {where}")
    note = ""
    if args.dtype != "float64":
        # biases of convolutions followed by BatchNorm: zero gradient analytically, so their
        # Adamax step g / (|g| + 1e-8) follows rounding noise, which float32 makes ~1e-8
        zero = {k for k in params if k.endswith("body.2.bias")}
        params -= zero
        note = f"; {len(zero)} biases before BatchNorm left out (zero gradient analytically)"
    d, r, where = _diff_dict({k: after_o[k] for k in params}, {k: after_t[k] for k in params})
    add("parameters after one Adamax step", d, r, note=f"largest: {where}{note}")
    print(f"  {config}: training steps {seconds:.0f} s", flush=True)
    return checks


def _max_pairs(ours_list, theirs_list) -> tuple[float, float]:
    worst_abs = worst_rel = 0.0
    for a, b in zip(ours_list, theirs_list, strict=True):
        d, r = _diff(a, b)
        worst_abs, worst_rel = max(worst_abs, d), max(worst_rel, r)
    return worst_abs, worst_rel


def _save_lightning_checkpoint(model, path: Path) -> None:
    """Write ``model`` as their notebook does (``trainer.save_checkpoint``), no training."""
    import logging

    import pytorch_lightning as pl

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = pl.Trainer(
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator="cpu",
        )
        trainer.strategy.connect(model)
        trainer.save_checkpoint(str(path))


def paper_counts(mods) -> list[Check]:
    """The parameter counts of both presets at the paper's 256 crop."""
    from structnoise.methods.dvlae import authors as A
    from structnoise.methods.dvlae.network import DVLAENet
    from structnoise.methods.vae.network import count_parameters

    checks = []
    for preset, expected in PAPER_COUNTS.items():
        theirs = build_authors(mods, preset, "horizontal", 256, mean=0.0, std=1.0, accumulate=4)
        n_theirs = sum(p.numel() for p in theirs.parameters())
        n_ours = count_parameters(DVLAENet(A.paper_architecture(preset)))
        d = float(abs(n_theirs - expected) + abs(n_ours - expected))
        checks.append(
            Check(
                f"{preset}/256 crop",
                "parameters = paper count",
                d,
                0.0,
                "exact",
                d == 0,
                f"theirs {n_theirs:,}, ours {n_ours:,}, expected {expected:,}",
            )
        )
        print(f"  {preset}: theirs {n_theirs:,}, ours {n_ours:,} (expected {expected:,})")
    return checks


# ---------------------------------------------------------------------------- report
def to_markdown(report: dict) -> str:
    """The report as markdown."""
    m = report["meta"]
    s = report["summary"]
    lines = [
        "# DVLAE against the authors' code (krulllab/DVLAE)",
        "",
        f"Written by `{m['command']}` at structnoise commit `{m['commit']}`"
        + (" (with uncommitted changes)" if m["dirty"] else "")
        + f"; authors' code at commit `{m['authors_commit']}`. {m['machine']}, "
        + f"{m['threads']} thread(s), {m['date']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
        + ".",
        "",
        f"Arithmetic {m['dtype']}; inputs: {m['accumulate']} accumulated batches of "
        f"{m['batch']} crops per configuration ({m['crops']}); seed {m['seed']}; "
        f'{m["seconds"]:.0f} s in all. "max rel diff" is max|ours - theirs| / max|theirs| '
        "over the compared tensors (gradients, parameters: all tensors of the check together; "
        "the note names the tensor of the largest difference); |ours - theirs| / |theirs| "
        "for the losses. Our numerical floors (mixture "
        "scale 1e-3, latent std 1e-6) are off for the comparison, as the authors have none. "
        "What is compared and how: the docstring of `benchmarks/authors_equivalence.py`.",
        "",
        "| configuration | quantity | max abs diff | max rel diff | tolerance | pass | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in report["checks"]:
        lines.append(
            f"| {c['config']} | {c['quantity']} | {c['max_abs']:.3g} | {c['max_rel']:.3g} | "
            f"{c['tolerance']} | {'yes' if c['passed'] else '**no**'} | {c['note']} |"
        )
    lines += [
        "",
        f"Worst relative difference of a toleranced check: {s['worst_rel']:.3g} "
        f"({s['worst_rel_check']}); worst absolute: {s['worst_abs']:.3g} "
        f"({s['worst_abs_check']}).",
        "",
        s["line"],
    ]
    return "\n".join(lines) + "\n"


def _command(args) -> str:
    """The command line, without local paths."""
    parts = ["python benchmarks/authors_equivalence.py --authors DIR"]
    if not args.out.is_absolute():
        parts.append(f"--out {args.out.as_posix()}")
    for flag, value, default in (
        ("--presets", " ".join(args.presets), "small large"),
        ("--axes", " ".join(args.axes), "horizontal vertical"),
        ("--dtype", args.dtype, "float64"),
        ("--batch", str(args.batch), "2"),
        ("--accumulate", str(args.accumulate), "4"),
        ("--crop", str(args.crop), "None"),
        ("--seed", str(args.seed), "0"),
        ("--threads", str(args.threads), "1"),
    ):
        if value != default:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--authors", type=Path, required=True, help="checkout of krulllab/DVLAE")
    p.add_argument("--out", type=Path, default=Path("results/fidelity"))
    p.add_argument("--presets", nargs="+", choices=["small", "large"], default=["small", "large"])
    p.add_argument(
        "--axes", nargs="+", choices=["horizontal", "vertical"], default=["horizontal", "vertical"]
    )
    p.add_argument("--dtype", choices=sorted(TOLERANCE), default="float64")
    p.add_argument("--batch", type=int, default=2, help="crops per batch")
    p.add_argument("--accumulate", type=int, default=4, help="batches per optimiser step")
    p.add_argument(
        "--crop", type=int, default=None, help="crop side (default: 128; a multiple of 64/128)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--keep-checkpoints",
        type=Path,
        default=None,
        help="also write the authors' Lightning checkpoints made for the import check here",
    )
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    authors = args.authors.resolve()
    mods = _authors_modules(authors)
    tol = TOLERANCE[args.dtype]
    t0 = time.perf_counter()
    print("parameter counts at the paper's 256 crop:", flush=True)
    checks = paper_counts(mods)
    for preset in args.presets:
        for axis in args.axes:
            print(f"{preset}, {axis}:", flush=True)
            checks += run_config(mods, preset, axis, args, tol)
    seconds = time.perf_counter() - t0
    failed = [c for c in checks if not c.passed]
    toleranced = [c for c in checks if c.tolerance != "exact"]
    worst_rel = max(toleranced, key=lambda c: c.max_rel, default=None)
    worst_abs = max(toleranced, key=lambda c: c.max_abs, default=None)
    if failed:
        line = f"equivalent: no ({len(failed)} of {len(checks)} checks outside tolerance)"
    else:
        line = f"equivalent: yes (all {len(checks)} checks within tolerance)"
    crops = ", ".join(f"{p}: {args.crop or DEFAULT_CROP[p]}" for p in args.presets)
    report = {
        "meta": {
            "command": _command(args),
            "commit": _git("rev-parse", "--short=10", "HEAD", cwd=ROOT),
            "dirty": bool(
                _git("status", "--porcelain", "--", "structnoise", "benchmarks", cwd=ROOT)
            ),
            "authors_repo": "krulllab/DVLAE",
            "authors_commit": _git("rev-parse", "--short=10", "HEAD", cwd=authors),
            "machine": f"{cpu_model()} ({os.cpu_count()} CPUs), {platform.system()}",
            "threads": torch.get_num_threads(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "versions": _versions(),
            "dtype": args.dtype,
            "tolerance_rel": tol,
            "batch": args.batch,
            "accumulate": args.accumulate,
            "crops": crops,
            "seed": args.seed,
            "seconds": seconds,
        },
        "checks": [asdict(c) for c in checks],
        "summary": {
            "n_checks": len(checks),
            "n_failed": len(failed),
            "worst_rel": worst_rel.max_rel if worst_rel else 0.0,
            "worst_rel_check": f"{worst_rel.config} {worst_rel.quantity}" if worst_rel else "",
            "worst_abs": worst_abs.max_abs if worst_abs else 0.0,
            "worst_abs_check": f"{worst_abs.config} {worst_abs.quantity}" if worst_abs else "",
            "line": line,
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(report)
    (args.out / "authors_equivalence.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "authors_equivalence.md").write_text(md)
    print()
    print("| configuration | quantity | max abs diff | max rel diff | tolerance | pass |")
    print("| --- | --- | --- | --- | --- | --- |")
    for c in checks:
        print(
            f"| {c.config} | {c.quantity} | {c.max_abs:.3g} | {c.max_rel:.3g} | {c.tolerance} "
            f"| {'yes' if c.passed else 'NO'} |"
        )
    print()
    print(line)
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
