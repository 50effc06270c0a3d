"""DVLAE quality on 2 CPU cores: PSNR after 5, 10 and 20 minutes of the ``quick`` profile.

For each dataset, ``dvlae-small`` (profile ``quick``) is fitted on the noisy training and
test images together (unsupervised methods may see the images they denoise, as the
authors' code does), for ``--minutes`` of training; at each of ``--marks`` minutes the
training clock is paused and the test images are denoised (MMSE of ``--samples``
posterior samples, and the single mean-latent pass). The AR receptive field is set per
noise model (:data:`RF`: stripe 6, checkerboard 40), as a user reads it from the noise
autocorrelation (``structnoise analyze``). Baselines on the same test images:
the noisy input and an untuned Gaussian blur (sigma 1).

Datasets:

* ``embedded-stripe`` (axis horizontal) and ``embedded-checkerboard`` (axis vertical):
  the suite's embedded datasets (test tiles cut from held-out scikit-image photographs);
* ``unfamiliar-stripe`` and ``unfamiliar-checkerboard``: the same noise models on tiles of
  other images bundled with scikit-image (moon, hubble_deep_field, shepp_logan_phantom,
  page) that were never used while choosing the quick profile; fitted on those 16 noisy
  tiles alone, like a user with a small stack of their own.

Usage::

    python benchmarks/dvlae_quality.py --out results/dvlae-quality
    python benchmarks/dvlae_quality.py --datasets embedded-stripe --minutes 5 --marks 5

Writes ``quality.json`` and ``quality.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from structnoise.provenance import commit_label, cpu_model, portable_command

#: AR receptive field per noise model, read from the noise autocorrelation as the paper read
#: its SN2V masks: the stripe noise's correlation (a sigma-1 blur) is gone after ~3 pixels,
#: twice that is 6; the checkerboard's column pattern never decays: the paper's 40.
RF = {"stripe": 6, "checkerboard": 40}

UNFAMILIAR_SOURCES = ("moon", "hubble_deep_field", "shepp_logan_phantom", "page")
TILE = 128


def unfamiliar_clean(per_source: int = 4) -> np.ndarray:
    """Clean 128x128 tiles in [0, 1] of scikit-image images not used for tuning.

    Parameters
    ----------
    per_source : int
        Tiles per source image (the ones with the largest standard deviation).

    Returns
    -------
    numpy.ndarray
        ``(N, 128, 128)`` float32.
    """
    import skimage.data

    tiles = []
    for name in UNFAMILIAR_SOURCES:
        img = np.asarray(getattr(skimage.data, name)(), dtype=np.float64)
        if img.ndim == 3:
            img = img[..., :3].mean(-1)
        img = (img - img.min()) / max(img.max() - img.min(), 1e-12)
        ny, nx = img.shape[0] // TILE, img.shape[1] // TILE
        cands = [
            img[i * TILE : (i + 1) * TILE, j * TILE : (j + 1) * TILE]
            for i in range(ny)
            for j in range(nx)
        ]
        cands.sort(key=lambda t: -float(t.std()))
        tiles.extend(cands[:per_source])
    return np.stack(tiles).astype(np.float32)


def load(name: str):
    """``(fit_noisy, test_noisy, test_clean, axis)`` for a benchmark dataset name."""
    from structnoise.datasets import load_dataset
    from structnoise.datasets.checkerboard_noise import checkerboard
    from structnoise.datasets.synthetic import stripe

    if name.startswith("unfamiliar-"):
        kind = name.split("-", 1)[1]
        clean = unfamiliar_clean()
        noise, axis = (stripe, "horizontal") if kind == "stripe" else (checkerboard, "vertical")
        noisy = noise(clean, np.random.default_rng(20241125)).astype(np.float32)
        return noisy, noisy, clean, axis
    ds = load_dataset(name)
    fit = np.concatenate([ds.train_noisy, ds.test_noisy])
    return fit, ds.test_noisy, ds.test_clean, ds.axis


def run_dataset(name: str, args) -> dict:
    """Train with snapshots and return the measurements for one dataset."""
    from scipy.ndimage import gaussian_filter

    from structnoise import methods
    from structnoise.metrics import psnr_stack

    fit_x, test_x, test_c, axis = load(name)
    noisy_psnr = float(psnr_stack(test_c, test_x).mean())
    blur = np.stack([gaussian_filter(t, 1.0) for t in test_x])
    gauss_psnr = float(psnr_stack(test_c, blur).mean())
    print(f"{name}: {len(fit_x)} fit / {len(test_x)} test images, axis {axis}", flush=True)
    print(f"  noisy {noisy_psnr:.2f} dB, gaussian(1) {gauss_psnr:.2f} dB", flush=True)
    params = {"rf": RF["stripe" if "stripe" in name else "checkerboard"], **args.set}
    print(f"  rf {params['rf']}", flush=True)
    model = methods.create(
        "dvlae-small",
        axis=axis,
        profile="quick",
        max_minutes=args.minutes,
        seed=args.seed,
        progress=args.progress,
        **params,
    )
    rows = []

    def evaluate(m, info) -> None:
        t0 = time.monotonic()
        mmse = m.denoise(test_x, n_samples=args.samples)
        mean = m.denoise(test_x, mode="mean")
        row = {
            "minutes": round(info["minutes"], 2),
            "mark": info.get("mark"),
            "steps": info["steps"],
            "psnr_mmse": float(psnr_stack(test_c, mmse).mean()),
            "psnr_mean": float(psnr_stack(test_c, mean).mean()),
            "eval_seconds": round(time.monotonic() - t0, 1),
            "loadavg": os.getloadavg(),
        }
        rows.append(row)
        print(
            f"  {row['minutes']:.1f} min, {row['steps']} steps: MMSE{args.samples} "
            f"{row['psnr_mmse']:.2f} dB, mean latent {row['psnr_mean']:.2f} dB "
            f"(load {row['loadavg'][0]:.1f})",
            flush=True,
        )

    marks = [m for m in args.marks if m < args.minutes]
    model.snapshot_hook = (marks, evaluate)
    t0 = time.monotonic()
    model.fit(fit_x)
    wall = time.monotonic() - t0
    s = model.train_summary
    evaluate(model, {"minutes": s["minutes"], "steps": s["steps"], "mark": args.minutes})
    final = rows[-1]
    return {
        "dataset": name,
        "axis": axis,
        "rf": params["rf"],
        "fit_images": int(len(fit_x)),
        "test_images": int(len(test_x)),
        "psnr_noisy": noisy_psnr,
        "psnr_gaussian": gauss_psnr,
        "snapshots": rows,
        "train_summary": {k: v for k, v in s.items() if k != "profile"},
        "fit_wall_minutes": wall / 60,
        "gain_over_noisy": final["psnr_mmse"] - noisy_psnr,
        "beats_gaussian": final["psnr_mmse"] > gauss_psnr,
        "meets_bar": final["psnr_mmse"] >= noisy_psnr + 3 and final["psnr_mmse"] > gauss_psnr,
    }


def to_markdown(results: list[dict], meta: dict) -> str:
    """A table of the results."""
    lines = [
        "# DVLAE quick profile: PSNR (dB) on 2 CPU cores",
        "",
        f"Command: `{meta['command']}`  ",
        f"Code: commit {meta.get('commit', 'unknown')}; torch "
        f"{meta.get('packages', {}).get('torch')}, lightning "
        f"{meta.get('packages', {}).get('lightning')}  ",
        f"Machine: {meta.get('cpu', '')} {meta['machine']}; load average at the start "
        f"{meta['load_start']}, at the end {meta['load_end']}.",
        "",
        "| dataset | noisy | Gaussian(1) | minutes | steps | MMSE | mean latent | gain |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        for s in r["snapshots"]:
            lines.append(
                f"| {r['dataset']} | {r['psnr_noisy']:.2f} | {r['psnr_gaussian']:.2f} | "
                f"{s['minutes']:.1f} | {s['steps']} | {s['psnr_mmse']:.2f} | "
                f"{s['psnr_mean']:.2f} | {s['psnr_mmse'] - r['psnr_noisy']:+.2f} |"
            )
    lines.append("")
    for r in results:
        verdict = "meets" if r["meets_bar"] else "does NOT meet"
        lines.append(
            f"- {r['dataset']}: {verdict} the bar (MMSE >= noisy + 3 dB and > Gaussian); "
            f"final gain {r['gain_over_noisy']:+.2f} dB."
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--datasets",
        nargs="+",
        default=[
            "embedded-stripe",
            "embedded-checkerboard",
            "unfamiliar-stripe",
            "unfamiliar-checkerboard",
        ],
    )
    p.add_argument("--minutes", type=float, default=20.0, help="training budget per dataset")
    p.add_argument("--marks", type=float, nargs="*", default=[5.0, 10.0])
    p.add_argument("--samples", type=int, default=100, help="posterior samples of the MMSE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[], help="extra DVLAE parameters KEY=VALUE")
    p.add_argument("--out", type=Path, default=Path("results/dvlae-quality"))
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    args.set = dict(_parse_kv(kv) for kv in args.set)
    from structnoise.provenance import package_versions

    meta = {
        "command": portable_command(sys.argv),
        "commit": commit_label(),
        "cpu": cpu_model(),
        "packages": package_versions(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_start": [round(v, 2) for v in os.getloadavg()],
    }
    results = [run_dataset(name, args) for name in args.datasets]
    meta["load_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quality.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (args.out / "quality.md").write_text(to_markdown(results, meta))
    print(to_markdown(results, meta))
    return 0


def _parse_kv(kv: str) -> tuple[str, object]:
    key, _, value = kv.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


if __name__ == "__main__":
    raise SystemExit(main())
