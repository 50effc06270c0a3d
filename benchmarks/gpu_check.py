"""One short check of the paper-size DVLAE models on a CUDA machine (at most 8 minutes).

Parts, each stopped at its share of the time budget (``--budget-s``, 480 s) and recording
what it did (time left by a part goes to the next ones):

* **train** (60 %): the ``paper`` profile's ``dvlae-small`` and ``dvlae-large`` networks,
  float32 and bfloat16, training steps on synthetic stripe-noise crops (the profile's
  crops and batches: 256x256, 4 accumulated batches of 4), up to ``--steps`` forward passes
  each (the paper's and the profile's "steps"; one optimiser step every 4): seconds per
  step (median over the timed steps, after warm-up), whether the losses stayed finite,
  peak GPU memory (allocated and reserved by torch's allocator) against the paper's
  6 GB (small) and 20 GB (large);
* **mmse** (25 %): the MMSE of ``--samples`` (100) posterior samples of one 512x512 image
  through :meth:`DVLAE.denoise` (one bottom-up pass, samples in batches), per model and
  precision; when 100 samples would not fit in the time left, the time of 10 samples is
  recorded and scaled (``extrapolated``);
* **equivalence** (15 %, only if ``benchmarks/authors_equivalence.py`` exists and
  ``--authors DIR`` is given): that script run on this machine with ``--authors DIR``
  (``--device cuda`` too when its ``--help`` offers it), its exit status, output tail and
  JSON results.

Writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out`` (default ``results/gpu-check``)
after every part, with the commit, the library versions and the GPU's name (no local
paths). ``--tiny`` runs tiny networks, crops and step counts, on the CPU when there is no
GPU: the test suite runs it to keep the script working until a GPU meets it.

Usage::

    python benchmarks/gpu_check.py                        # on a CUDA machine
    python benchmarks/gpu_check.py --authors /path/to/DVLAE
    python benchmarks/gpu_check.py --tiny --out /tmp/gpu-check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from structnoise.provenance import commit_label

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENCE_SCRIPT = ROOT / "benchmarks" / "authors_equivalence.py"

#: Paper (supplement): GPU memory to train with 256x256 crops, batch 16.
PAPER_MEMORY_GB = {"small": 6.0, "large": 20.0}
#: Shares of the budget per part.
SHARES = {"train": 0.60, "mmse": 0.25, "equivalence": 0.15}
PRESETS = ("small", "large")
PRECISIONS = ("32", "bf16")


@dataclass(frozen=True)
class Sizes:
    """What one run measures: network overrides, crops, steps and the MMSE image."""

    arch: dict
    crop: int | None
    batch: int | None
    accumulate: int | None
    steps: int
    warmup: int
    image: int
    samples: int


def sizes(tiny: bool, steps: int, samples: int) -> Sizes:
    """The paper's sizes, or tiny ones (seconds on a CPU).

    Parameters
    ----------
    tiny : bool
        Tiny networks (8 filters, 3 levels), 32x32 crops, 2 steps, a 64x64 image.
    steps : int
        Timed training steps per model and precision (paper sizes).
    samples : int
        MMSE samples (paper sizes).

    Returns
    -------
    Sizes
    """
    if tiny:
        arch = {"n_filters": 8, "n_levels": 3, "ar_filters": 8, "sd_filters": 8}
        return Sizes(arch, 32, 2, 2, steps=2, warmup=1, image=64, samples=4)
    return Sizes({}, None, None, None, steps=steps, warmup=5, image=512, samples=samples)


class Clock:
    """The budget: each part gets its share of the time, plus what earlier parts left."""

    def __init__(self, budget_s: float, parts: list[str]) -> None:
        self.start = time.monotonic()
        self.budget = float(budget_s)
        self.parts = parts
        self.used: dict[str, float] = {}

    def left(self) -> float:
        """Seconds left of the whole budget."""
        return self.budget - (time.monotonic() - self.start)

    def share(self, part: str) -> float:
        """Seconds for ``part``: its share of what is left among the parts still to run."""
        todo = [p for p in self.parts if p not in self.used]
        total = sum(SHARES[p] for p in todo)
        return max(0.0, self.left() * SHARES[part] / total)


# ---------------------------------------------------------------------------- helpers
def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _reset_memory(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _memory(device: str) -> dict:
    import torch

    if not device.startswith("cuda"):
        import resource

        return {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    return {
        "peak_allocated_gb": torch.cuda.max_memory_allocated() / 2**30,
        "peak_reserved_gb": torch.cuda.max_memory_reserved() / 2**30,
    }


def _error(exc: BaseException) -> str:
    tail = traceback.format_exception(exc)[-3:]
    return "".join(tail).strip()[-1500:]


def _method(preset: str, precision: str, device: str, sz: Sizes):
    from structnoise import methods

    params = {k: v for k, v in (("crop", sz.crop), ("batch", sz.batch)) if v is not None}
    if sz.accumulate is not None:
        params["accumulate"] = sz.accumulate
    return methods.create(
        f"dvlae-{preset}",
        profile="paper",
        precision=precision,
        device=device,
        seed=0,
        **params,
        **sz.arch,
    )


def _stripe_batches(n: int, batch: int, crop: int, device: str):
    """``n`` normalised batches of smooth images with row-correlated (stripe) noise."""
    import torch

    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(crop), torch.arange(crop), indexing="ij")
    out = []
    for _ in range(n):
        f = torch.rand(batch, 2, 1, 1, generator=g) * 0.2
        clean = torch.sin(f[:, :1] * yy + f[:, 1:] * xx)
        white = torch.randn(batch, 1, crop, crop, generator=g) * 0.2
        stripe = torch.randn(batch, 1, crop, 1, generator=g) * 0.3
        x = clean + white + stripe
        out.append(((x - x.mean()) / x.std()).to(device))
    return out


# ---------------------------------------------------------------------------- parts
def train_one(preset: str, precision: str, device: str, sz: Sizes, seconds: float) -> dict:
    """Training steps of one model in one precision, until ``sz.steps`` or ``seconds``.

    Parameters
    ----------
    preset : {"small", "large"}
        The DVLAE model.
    precision : {"32", "bf16"}
        Arithmetic.
    device : str
        Torch device.
    sz : Sizes
        Sizes and step counts.
    seconds : float
        Time limit (warm-up included).

    Returns
    -------
    dict
        Seconds per step, steps done, what stopped it, memory, finiteness.
    """
    import torch

    from structnoise.methods.vae.device import autocast

    t_start = time.monotonic()
    _reset_memory(device)
    method = _method(preset, precision, device, sz)
    prof = method.training_profile
    net = method.build_network().to(device).train()
    opt_vae = torch.optim.Adamax(list(net.vae.parameters()) + list(net.ar.parameters()), prof.lr)
    opt_sd = torch.optim.Adamax(net.sd.parameters(), prof.lr)
    batches = _stripe_batches(4, prof.batch, prof.crop, device)
    res: dict = {
        "parameters": sum(p.numel() for p in net.parameters()),
        "crop": prof.crop,
        "batch": prof.batch,
        "accumulate": prof.accumulate,
    }
    times: list[float] = []
    finite = True
    stopped = "steps"
    n = 0
    while n < sz.warmup + sz.steps:
        if time.monotonic() - t_start > seconds:
            stopped = "time"
            break
        _sync(device)
        t0 = time.perf_counter()
        with autocast(precision, device):  # DVLAE's training step, without Lightning
            losses = net.losses(batches[n % len(batches)])
        total = (losses.nll + losses.kl + losses.sd) / prof.accumulate
        total.backward()
        n += 1
        if n % prof.accumulate == 0:
            for o in (opt_vae, opt_sd):
                o.step()
                o.zero_grad(set_to_none=True)
        finite = finite and bool(torch.isfinite(total.detach()))
        _sync(device)
        if n > sz.warmup:
            times.append(time.perf_counter() - t0)
    res.update(
        steps=len(times),
        warmup_steps=min(n, sz.warmup),
        stopped_by=stopped,
        seconds_per_step=statistics.median(times) if times else None,
        seconds_per_optimiser_step=(statistics.median(times) * prof.accumulate if times else None),
        losses_finite=finite,
        last_loss=float(total.detach()) if n else None,
        seconds=round(time.monotonic() - t_start, 2),
        **_memory(device),
    )
    if device.startswith("cuda") and not sz.arch:  # the paper's sizes on a GPU
        res["paper_memory_gb"] = PAPER_MEMORY_GB[preset]
    del net, opt_vae, opt_sd, batches
    _reset_memory(device)
    return res


def mmse_one(preset: str, precision: str, device: str, sz: Sizes, seconds: float) -> dict:
    """MMSE of ``sz.samples`` samples of one ``sz.image``-sided image (or a scaled estimate).

    Parameters
    ----------
    preset : {"small", "large"}
        The DVLAE model.
    precision : {"32", "bf16"}
        Arithmetic.
    device : str
        Torch device.
    sz : Sizes
        Image side and samples.
    seconds : float
        Time limit.

    Returns
    -------
    dict
    """
    import numpy as np

    t_start = time.monotonic()
    _reset_memory(device)
    method = _method(preset, precision, device, sz)
    method.net = method.build_network()
    method.fitted = True
    img = np.random.default_rng(0).normal(size=(sz.image, sz.image)).astype(np.float32)
    method.denoise(img, n_samples=2, precision=precision)  # warm-up (kernels, allocator)
    probe = max(1, sz.samples // 10)
    t0 = time.perf_counter()
    method.denoise(img, n_samples=probe, precision=precision)
    probe_s = time.perf_counter() - t0
    estimate = probe_s * sz.samples / probe
    res: dict = {"image": sz.image, "samples": sz.samples, "probe_samples": probe}
    if estimate < seconds - (time.monotonic() - t_start):
        t0 = time.perf_counter()
        out = method.denoise(img, n_samples=sz.samples, precision=precision)
        res.update(seconds=time.perf_counter() - t0, extrapolated=False)
        res["finite"] = bool(np.isfinite(out).all())
    else:
        res.update(seconds=estimate, extrapolated=True)
    res.update(**_memory(device))
    del method
    _reset_memory(device)
    return res


def run_equivalence(authors: str, out: Path, seconds: float) -> dict:
    """Run ``benchmarks/authors_equivalence.py`` on this machine, within ``seconds``."""
    cmd = [sys.executable, str(EQUIVALENCE_SCRIPT)]
    try:
        help_text = subprocess.run(
            [*cmd, "--help"], capture_output=True, text=True, timeout=60
        ).stdout
    except subprocess.TimeoutExpired:
        help_text = ""
    args = ["--authors", authors]
    if "--out" in help_text:
        args += ["--out", str(out / "authors-equivalence")]
    if "--device" in help_text:
        args += ["--device", "cuda"]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [*cmd, *args], capture_output=True, text=True, timeout=max(1.0, seconds), cwd=ROOT
        )
        res = {"returncode": proc.returncode, "output_tail": (proc.stdout + proc.stderr)[-3000:]}
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-3000:]
        res = {"returncode": None, "timed_out": True, "output_tail": _text(tail)}
    res["seconds"] = round(time.monotonic() - t0, 1)
    local = {authors: "AUTHORS_DIR", str(out): "OUT", str(ROOT): "."}  # no local paths

    def public(text: str) -> str:
        for path, name in local.items():
            text = text.replace(path, name)
        return text

    res["args"] = [public(a) for a in args]
    res["output_tail"] = public(res["output_tail"])
    results = {}
    for f in sorted((out / "authors-equivalence").glob("*.json")):
        try:
            results[f.name] = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
    if results:
        res["results"] = results
    return res


class _Watchdog:
    """Raise ``TimeoutError`` in the main thread ``seconds`` from now.

    A stuck run is stopped and recorded; the runs after it find no time left and are skipped.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = max(1, int(seconds))
        self.previous = None

    def _fire(self, signum, frame):
        raise TimeoutError(f"gpu_check: the {self.seconds} s hard limit was reached")

    def __enter__(self):
        self.previous = signal.signal(signal.SIGALRM, self._fire)
        signal.alarm(self.seconds)
        return self

    def __exit__(self, *exc) -> None:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else str(data)


# ---------------------------------------------------------------------------- report
def environment(device: str) -> dict:
    """Commit, versions and the machine (no local paths)."""
    import lightning
    import numpy
    import torch

    commit = commit_label(ROOT, ("structnoise", "benchmarks"))
    env = {
        "commit": commit,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": device,
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "gpu": None,
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        env["gpu"] = props.name
        env["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
        env["bf16_supported"] = torch.cuda.is_bf16_supported()
    return env


def to_markdown(report: dict) -> str:
    """The report as markdown."""
    e, m = report["environment"], report["meta"]
    lines = [
        "# GPU check: the paper-size DVLAE models" + (" (tiny mode)" if m["tiny"] else ""),
        "",
        f"Commit `{e['commit']}`, {m['started']}; GPU: {e['gpu'] or 'none'}"
        + (f" ({e.get('gpu_memory_gb')} GB)" if e["gpu"] else f" (device {e['device']})")
        + f"; torch {e['torch']} (CUDA {e['cuda']}, cuDNN {e['cudnn']}), Lightning "
        f"{e['lightning']}, Python {e['python']}.",
        f"Command: `{m['command']}`; budget {m['budget_s']:.0f} s, used "
        f"{m.get('seconds', 0):.0f} s.",
        "",
    ]
    train = report.get("train", {})
    if train:
        lines += [
            "## Training (synthetic stripe-noise crops, the paper profile's batches)",
            "",
            "| model | precision | parameters | crop x batch x accumulate | steps (stopped by) "
            "| s/step | s/optimiser step | peak GB (allocated / reserved) | paper GB | finite |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key, r in train.items():
            preset, prec = key.split("/")
            if "error" in r or "skipped" in r:
                lines.append(f"| {preset} | {prec} | {_not_measured(r)} |")
                continue
            sps = r["seconds_per_step"]
            step = "-" if sps is None else f"{sps:.3f}"
            opt_step = "-" if sps is None else f"{r['seconds_per_optimiser_step']:.3f}"
            mem = (
                f"{r['peak_allocated_gb']:.2f} / {r['peak_reserved_gb']:.2f}"
                if "peak_allocated_gb" in r
                else f"RSS {r['peak_rss_gb']:.2f}"
            )
            lines.append(
                f"| {preset} | {prec} | {r['parameters']:,} | {r['crop']} x {r['batch']} x "
                f"{r['accumulate']} | {r['steps']} ({r['stopped_by']}) | "
                f"{step} | {opt_step} | {mem} | "
                f"{r.get('paper_memory_gb', '-')} | {r['losses_finite']} |"
            )
        lines.append("")
    mmse = report.get("mmse", {})
    if mmse:
        lines += [
            "## MMSE of one image",
            "",
            "| model | precision | image | samples | seconds | extrapolated | peak GB |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key, r in mmse.items():
            preset, prec = key.split("/")
            if "error" in r or "skipped" in r:
                lines.append(f"| {preset} | {prec} | {_not_measured(r)} |")
                continue
            mem = r.get("peak_allocated_gb", r.get("peak_rss_gb"))
            lines.append(
                f"| {preset} | {prec} | {r['image']} | {r['samples']} | {r['seconds']:.2f} | "
                f"{r['extrapolated']} | {mem:.2f} |"
            )
        lines.append("")
    eq = report.get("equivalence")
    lines += ["## Equivalence with the authors' code", ""]
    if eq is None or "skipped" in (eq or {}):
        lines.append(f"Skipped: {(eq or {}).get('skipped', 'not run')}.")
    else:
        lines.append(
            f"`authors_equivalence.py {' '.join(eq.get('args', []))}`: exit status "
            f"{eq.get('returncode')}, {eq.get('seconds')} s"
            + (" (stopped at its time share)" if eq.get("timed_out") else "")
            + "."
        )
        if eq.get("output_tail"):
            lines += ["", "```", eq["output_tail"][-1500:].strip(), "```"]
    lines.append("")
    return "\n".join(lines)


def _not_measured(r: dict) -> str:
    """One line for a run that failed or was skipped."""
    if "error" in r:
        return "error: " + (r["error"].splitlines() or [""])[-1]
    return "skipped: " + r["skipped"]


def _write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    (out / "gpu_check.md").write_text(to_markdown(report))


def _command(argv: list[str]) -> str:
    words, hide = (
        ["python", "benchmarks/gpu_check.py"],
        {"--authors": "AUTHORS_DIR", "--out": "OUT"},
    )
    for i, w in enumerate(argv):
        words.append(hide[argv[i - 1]] if i and argv[i - 1] in hide else w)
    return " ".join(words)


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def _run_parts(report: dict, runs: list, device: str, sz: Sizes, clock: Clock, out: Path):
    """The training and MMSE parts, each run within its share; the report written after each."""
    for part, fn in (("train", train_one), ("mmse", mmse_one)):
        t0 = time.monotonic()
        share = clock.share(part)
        for i, (preset, prec) in enumerate(runs):
            left = share - (time.monotonic() - t0)
            each = left / (len(runs) - i)
            key = f"{preset}/{prec}"
            if each <= 0 or clock.left() <= 0:
                report[part][key] = {"skipped": "no time left in this part's share"}
                continue
            try:
                report[part][key] = fn(preset, prec, device, sz, each)
            except Exception as exc:  # one failing run must not lose the others
                report[part][key] = {"error": _error(exc)}
                _reset_memory(device)
            print(f"{part} {key}: {json.dumps(report[part][key])[:300]}", flush=True)
            report["meta"]["seconds"] = round(time.monotonic() - clock.start, 1)
            _write(report, out)
        clock.used[part] = time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0, or 2 without a GPU outside ``--tiny`` mode.
    """
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "results" / "gpu-check")
    p.add_argument("--tiny", action="store_true", help="tiny sizes and steps; CPU allowed")
    p.add_argument("--authors", help="checkout of krulllab/DVLAE for the equivalence check")
    p.add_argument("--budget-s", type=float, default=480.0, help="time for all parts")
    p.add_argument("--steps", type=int, default=300, help="timed training steps per run")
    p.add_argument("--samples", type=int, default=100, help="MMSE samples")
    p.add_argument("--device", help="torch device (default: cuda, or cpu with --tiny)")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    args.out = args.out.resolve()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if not device.startswith("cuda") and not args.tiny:
        print("gpu_check: no CUDA device; use --tiny for the CPU path", file=sys.stderr)
        return 2
    sz = sizes(args.tiny, args.steps, args.samples)
    parts = ["train", "mmse"]
    equivalence = bool(args.authors) and EQUIVALENCE_SCRIPT.is_file()
    if equivalence:
        parts.append("equivalence")
    clock = Clock(args.budget_s, parts)
    report: dict = {
        "meta": {
            "command": _command(sys.argv[1:] if argv is None else argv),
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "tiny": args.tiny,
            "budget_s": args.budget_s,
            "shares": {k: SHARES[k] for k in parts},
            "steps_requested": sz.steps,
            "samples_requested": sz.samples,
        },
        "environment": environment(device),
        "train": {},
        "mmse": {},
    }
    runs = [(preset, prec) for preset in PRESETS for prec in PRECISIONS]
    # a hard stop one minute after the training and MMSE parts' time (not with --tiny: the
    # test runner may own the alarm signal there)
    hard = args.budget_s * (1 - (SHARES["equivalence"] if equivalence else 0)) + 60
    guard = _Watchdog(hard) if not args.tiny and hasattr(signal, "SIGALRM") else None
    with guard or _nothing():
        _run_parts(report, runs, device, sz, clock, args.out)
    if equivalence:
        t0 = time.monotonic()
        authors = str(Path(args.authors).resolve())
        report["equivalence"] = run_equivalence(authors, args.out, clock.share("equivalence"))
        clock.used["equivalence"] = time.monotonic() - t0
    elif args.authors:
        report["equivalence"] = {"skipped": "benchmarks/authors_equivalence.py does not exist"}
    else:
        report["equivalence"] = {"skipped": "no --authors DIR given"}
    report["meta"]["seconds"] = round(time.monotonic() - clock.start, 1)
    report["meta"]["part_seconds"] = {k: round(v, 1) for k, v in clock.used.items()}
    _write(report, args.out)
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
