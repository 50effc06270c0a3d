r"""Diagnose a trained DVLAE before tuning its recipe: noise model, latent levels, decoders, data.

Answers, for a model trained by ``benchmarks/dvlae_recipe.py`` (``--save-models``) on a
dataset with known clean images, and for real integer camera frames:

1. **Does the noise model absorb signal?** On the test tiles, the AR decoder draws new
   noisy images from the posterior's latent (``sample``), and the signal decoder gives the
   signal of the same latent (``s_hat``); the *sampled noise* ``sample - s_hat`` is
   compared with the real noise ``noisy - clean`` per signal level (quintiles of the clean
   intensity): variance and lag-1 correlation along and across the noise axis. A sampled
   noise with more variance than the real one, or correlated across the axis where the
   real noise is not, carries signal.
2. **Do latent levels collapse?** KL per level (nats per pixel, training batches, last
   epoch of each cell under ``--cells``) against the free-bits floor of the profile: a
   level held at the floor is not used beyond what the floor forces.
3. **How far is the signal decoder's output from the MMSE?** PSNR of the mean-latent
   pass, of one posterior sample, of the MMSE of 100 samples and of the direct denoiser,
   and the PSNR between the mean-latent pass and the MMSE.
4. **Does the normalisation of integer camera data lose anything?** For each real frame
   (``--real``, e.g. the two PPN2V frames, never committed): its range and levels, the
   normalisation the model would fit (``(x - mean) / std``), the round trip through
   float32, one count in normalised units against the noise model's smallest scale
   (``scale_floor``), and the noise variance against the signal level (variance of a
   high-pass residual per intensity decile, with a Poisson-Gaussian line ``a + b * mean``
   fitted to it: a real noise that depends on the signal, which a stationary model such as
   BM3D's misses).

Usage::

    python benchmarks/dvlae_diagnose.py --model runs/recipe-models/direct__embedded-stripe__s0 \
        --dataset embedded-stripe --cells results/dvlae-recipe/cells \
        --real ../shared/data/ppn2v/convallaria_b_frame0.tif \
        ../shared/data/ppn2v/mouse_actin_frame0.tif --out results/dvlae-recipe

(``../shared`` seen from the project's main checkout.) Writes ``diagnosis.json`` and
``diagnosis.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _lag1(a: np.ndarray, axis: int) -> float:
    """Lag-1 autocorrelation of a stack along ``axis`` (1: columns down, 2: along rows)."""
    a = a - a.mean(axis=(1, 2), keepdims=True)
    n = a.shape[axis]
    x = np.take(a, range(n - 1), axis=axis)
    y = np.take(a, range(1, n), axis=axis)
    return float((x * y).mean() / max(a.var(), 1e-20))


def noise_model(model, noisy: np.ndarray, clean: np.ndarray, axis: str, seed: int = 0) -> dict:
    """Sampled against real noise per signal level (item 1)."""
    import torch

    net = model.net.eval()
    norm = model.norm
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    sampled, signal = [], []
    with torch.inference_mode():
        for i in range(len(noisy)):
            x = torch.from_numpy(norm.apply(noisy[i : i + 1]).astype(np.float32))[:, None]
            s_code = net.vae(x).s_code
            sample = net.ar.sample(s_code, generator=gen)
            s_hat = net.sd(s_code)
            sampled.append(norm.invert(sample[0, 0].float().numpy()))
            signal.append(norm.invert(s_hat[0, 0].float().numpy()))
    sampled_a, signal_a = np.stack(sampled), np.stack(signal)
    real = noisy - clean
    synth = sampled_a - signal_a
    edges = np.quantile(clean, np.linspace(0, 1, 6))
    bins = []
    for k in range(5):
        sel = (clean >= edges[k]) & (clean <= edges[k + 1])
        bins.append(
            {
                "clean_range": [float(edges[k]), float(edges[k + 1])],
                "var_real": float(real[sel].var()),
                "var_sampled": float(synth[sel].var()),
                "ratio": float(synth[sel].var() / max(real[sel].var(), 1e-20)),
                "var_sample_minus_clean": float((sampled_a - clean)[sel].var()),
            }
        )
    along, across = (2, 1) if axis == "horizontal" else (1, 2)
    return {
        "bins": bins,
        "var_real": float(real.var()),
        "var_sampled": float(synth.var()),
        "lag1_real": {"along": _lag1(real, along), "across": _lag1(real, across)},
        "lag1_sampled": {"along": _lag1(synth, along), "across": _lag1(synth, across)},
        "signal_decoder_psnr_of_sample_latent": _psnr(clean, signal_a),
    }


def _psnr(clean: np.ndarray, est: np.ndarray) -> float:
    from structnoise.metrics import psnr_stack

    return float(psnr_stack(clean, est).mean())


def decoders(model, noisy: np.ndarray, clean: np.ndarray) -> dict:
    """PSNR of the mean-latent pass, one sample, MMSE-100 and direct (item 3)."""
    mean = model.denoise(noisy, mode="mean")
    one = model.denoise(noisy, mode="sample", seed=5)
    mmse = model.denoise(noisy, mode="mmse", n_samples=100, seed=6)
    out = {
        "mean_latent": _psnr(clean, mean),
        "one_sample": _psnr(clean, one),
        "mmse100": _psnr(clean, mmse),
        "mean_latent_vs_mmse100": _psnr(mmse, mean),
    }
    if model.has_direct:
        direct = model.denoise(noisy, mode="direct")
        out["direct"] = _psnr(clean, direct)
        out["direct_vs_mmse100"] = _psnr(mmse, direct)
    return out


def kl_levels(cells_dir: Path) -> list[dict]:
    """KL per level of each cell's last epoch (item 2)."""
    rows = []
    for p in sorted(cells_dir.glob("*.json")):
        c = json.loads(p.read_text())
        hist = [h for h in c.get("history", []) if h.get("train_kl_levels")]
        if not hist:
            continue
        rows.append(
            {
                "cell": p.stem,
                "steps": c["steps"],
                "free_bits": c["resolved"].get("free_bits"),
                "first_epoch": hist[0]["train_kl_levels"],
                "last_epoch": hist[-1]["train_kl_levels"],
            }
        )
    return rows


def real_frame(path: Path, scale_floor: float) -> dict:
    """Integer data, normalisation and signal-dependent noise of one real frame (item 4)."""
    import tifffile
    from scipy.ndimage import gaussian_filter

    from structnoise.methods.vae.data import Normalisation

    raw = tifffile.imread(path)
    x = raw.astype(np.float32)
    norm = Normalisation.fit(x[None])
    back = norm.invert(norm.apply(x).astype(np.float32))
    # noise level per intensity: a high-pass residual (x - blur(x, 1.5)) scaled to the
    # noise variance of white noise (1 / (1 - 2 * sum(g^2) + sum(g^2)) ~ a known factor
    # measured on white noise below), binned by the blurred intensity
    smooth = gaussian_filter(x, 1.5)
    resid = x - smooth
    white = np.random.default_rng(0).normal(size=x.shape).astype(np.float32)
    factor = 1.0 / float((white - gaussian_filter(white, 1.5)).var())
    edges = np.quantile(smooth, np.linspace(0, 1, 11))
    means, variances = [], []
    for k in range(10):
        sel = (smooth >= edges[k]) & (smooth <= edges[k + 1])
        means.append(float(smooth[sel].mean()))
        variances.append(float(resid[sel].var() * factor))
    b, a = np.polyfit(means, variances, 1)
    r = np.corrcoef(means, variances)[0, 1]
    return {
        "file": path.name,
        "dtype": str(raw.dtype),
        "shape": list(raw.shape),
        "min": int(raw.min()),
        "max": int(raw.max()),
        "distinct_values": int(np.unique(raw).size),
        "norm_mean": norm.mean,
        "norm_std": norm.std,
        "one_count_normalised": 1.0 / norm.std,
        "scale_floor": scale_floor,
        "round_trip_max_abs_error_counts": float(np.abs(back - x).max()),
        "bins": {"mean": means, "noise_var": variances},
        "poisson_gaussian_fit": {"a": float(a), "b": float(b), "r": float(r)},
        "noise_sd_low_high": [float(np.sqrt(variances[0])), float(np.sqrt(variances[-1]))],
        "noise_sd_low_normalised": float(np.sqrt(variances[0]) / norm.std),
    }


def to_markdown(rep: dict) -> str:
    """The findings as tables."""
    m = rep["meta"]
    lines = [
        "# DVLAE diagnosis before tuning",
        "",
        f"Written by `{m['command']}` at commit {m['commit']}; CPU {m['cpu']}; torch "
        f"{m['versions']['torch']}. Model: cell `{rep['model']}` (quick profile + that "
        f"recipe, {rep.get('model_steps')} steps), scored on the {rep['dataset']} test tiles.",
        "",
    ]
    nm = rep.get("noise_model")
    if nm:
        lines += [
            "## 1. Sampled noise against the real noise, per signal level",
            "",
            "Sampled noise = AR decoder's draw minus the signal decoder's output of the same "
            "posterior latent; real noise = noisy minus clean (data units).",
            "",
            "| clean intensity | var real | var sampled | ratio | var(sample - clean) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for b in nm["bins"]:
            lo, hi = b["clean_range"]
            lines.append(
                f"| {lo:.3f} - {hi:.3f} | {b['var_real']:.2e} | {b['var_sampled']:.2e} "
                f"| {b['ratio']:.2f} | {b['var_sample_minus_clean']:.2e} |"
            )
        lines += [
            "",
            f"All pixels: var real {nm['var_real']:.2e}, sampled {nm['var_sampled']:.2e} "
            f"({nm['var_sampled'] / nm['var_real']:.2f}x); lag-1 correlation along the axis "
            f"real {nm['lag1_real']['along']:+.2f} / sampled {nm['lag1_sampled']['along']:+.2f}, "
            f"across real {nm['lag1_real']['across']:+.2f} / sampled "
            f"{nm['lag1_sampled']['across']:+.2f}.",
            "",
        ]
    kl = rep.get("kl_levels")
    if kl:
        lines += [
            "## 2. KL per latent level (nats per pixel, bottom level first; training batches)",
            "",
            "| cell | steps | free bits | first epoch | last epoch |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in kl:
            f = " ".join(f"{v:.3f}" for v in r["first_epoch"])
            la = " ".join(f"{v:.3f}" for v in r["last_epoch"])
            lines.append(f"| {r['cell']} | {r['steps']} | {r['free_bits']} | {f} | {la} |")
        lines.append("")
    dec = rep.get("decoders")
    if dec:
        lines += [
            "## 3. Signal decoder output against the MMSE (PSNR, dB, test tiles)",
            "",
            "| mean latent | one sample | MMSE-100 | direct | mean latent vs MMSE | "
            "direct vs MMSE |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| {dec['mean_latent']:.2f} | {dec['one_sample']:.2f} | {dec['mmse100']:.2f} "
            f"| {dec.get('direct', float('nan')):.2f} | {dec['mean_latent_vs_mmse100']:.2f} "
            f"| {dec.get('direct_vs_mmse100', float('nan')):.2f} |",
            "",
        ]
    real = rep.get("real")
    if real:
        lines += [
            "## 4. Real integer frames: normalisation and signal-dependent noise",
            "",
            "| frame | dtype | range | levels | norm mean / std | 1 count (norm. units) "
            "| scale floor | round trip max error | noise sd low / high decile | "
            "var = a + b * mean (r) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in real:
            pg = r["poisson_gaussian_fit"]
            lo, hi = r["noise_sd_low_high"]
            lines.append(
                f"| {r['file']} | {r['dtype']} | {r['min']}..{r['max']} | "
                f"{r['distinct_values']} | {r['norm_mean']:.1f} / {r['norm_std']:.1f} | "
                f"{r['one_count_normalised']:.2e} | {r['scale_floor']:.0e} | "
                f"{r['round_trip_max_abs_error_counts']:.2e} | {lo:.1f} / {hi:.1f} | "
                f"{pg['a']:.0f} + {pg['b']:.2f} mean ({pg['r']:.2f}) |"
            )
        lines.append("")
    if rep.get("findings"):
        lines += ["## Findings", "", *[f"- {f}" for f in rep["findings"]], ""]
    return "\n".join(lines) + "\n"


def findings(rep: dict) -> list[str]:
    """Sentences derived from the numbers (no hand-written values)."""
    out = []
    nm = rep.get("noise_model")
    if nm:
        ratio = nm["var_sampled"] / nm["var_real"]
        worst = max(nm["bins"], key=lambda b: b["ratio"])
        verdict = "absorbs signal" if ratio > 1.5 else "is close to the real noise in variance"
        out.append(
            f"Noise model: the sampled noise has {ratio:.2f}x the real noise's variance "
            f"(worst signal quintile {worst['ratio']:.2f}x); it {verdict}. Lag-1 across the "
            f"axis: sampled {nm['lag1_sampled']['across']:+.2f} vs real "
            f"{nm['lag1_real']['across']:+.2f}."
        )
    for r in rep.get("kl_levels", []):
        fb = r["free_bits"] or 0.0
        last = r["last_epoch"]
        below = [i for i, v in enumerate(last) if fb > 0 and v <= fb * 1.02]
        unused = [i for i, v in enumerate(last) if v < 0.01]
        out.append(
            f"KL ({r['cell']}, {r['steps']} steps): levels {below} (0 = bottom) are at or "
            f"below the free-bits floor {fb} nats/px (the floor, not the data, sets their "
            f"rate: no KL gradient below it); levels {unused} carry under 0.01 nats/px "
            "(collapsed at this budget)."
        )
    dec = rep.get("decoders")
    if dec:
        out.append(
            f"Decoders: MMSE-100 {dec['mmse100']:.2f} dB, mean latent {dec['mean_latent']:.2f},"
            f" one sample {dec['one_sample']:.2f}"
            + (f", direct {dec['direct']:.2f}" if "direct" in dec else "")
            + "."
        )
    for r in rep.get("real", []):
        step = r["one_count_normalised"]
        sd = r["noise_sd_low_normalised"]
        ok = (
            step < sd / 10
            and r["scale_floor"] < sd / 10
            and r["round_trip_max_abs_error_counts"] < 0.01
        )
        pg = r["poisson_gaussian_fit"]
        out.append(
            f"{r['file']}: one count is {step:.1e} normalised units and the scale floor "
            f"{r['scale_floor']:.0e}, against a noise sd of {sd:.1e} normalised units in the "
            "darkest decile; float32 round trip error "
            f"{r['round_trip_max_abs_error_counts']:.1e} counts: "
            + (
                "normalisation loses nothing measurable (quantisation and floor both below "
                "a tenth of the noise sd)"
                if ok
                else (
                    "the scale floor is "
                    f"{r['scale_floor'] / sd:.2f} of the darkest decile's noise sd in "
                    "normalised units (the std normalisation of a wide dynamic range squeezes "
                    "the dark noise): not binding, but within a factor of 10"
                )
            )
            + f". Noise variance rises with the signal ({pg['b']:.2f} per count, r "
            f"{pg['r']:.2f}): signal-dependent."
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, help="a model saved by dvlae_recipe.py --save-models")
    p.add_argument("--dataset", default="embedded-stripe")
    p.add_argument("--cells", type=Path, default=Path("results/dvlae-recipe/cells"))
    p.add_argument("--real", type=Path, nargs="*", default=[])
    p.add_argument("--out", type=Path, default=Path("results/dvlae-recipe"))
    args = p.parse_args(argv)
    import torch
    from dvlae_recipe import _command, _write_json, load, provenance

    torch.set_num_threads(1)
    rep: dict = {"dataset": args.dataset, "model": args.model.name if args.model else None}
    scale_floor = 1e-3
    if args.model:
        from structnoise.methods.registry import load as load_method

        model = load_method(args.model)
        scale_floor = model.arch.scale_floor
        rep["model_steps"] = (getattr(model, "train_summary", None) or {}).get("steps")
        _, test_x, test_c, axis = load(args.dataset)
        rep["noise_model"] = noise_model(model, test_x, test_c, axis)
        rep["decoders"] = decoders(model, test_x, test_c)
    rep["kl_levels"] = kl_levels(args.cells)
    rep["real"] = [real_frame(f, scale_floor) for f in args.real]
    rep["findings"] = findings(rep)
    rep["meta"] = {**provenance(), "command": _command()}
    _write_json(args.out / "diagnosis.json", rep)
    (args.out / "diagnosis.md").write_text(to_markdown(rep))
    print(to_markdown(rep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
