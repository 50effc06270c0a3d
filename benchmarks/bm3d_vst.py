"""``bm3d`` with and without the generalised Anscombe transform (``vst``), against a blur.

PSNR (dB, mean over test images) of ``bm3d`` with ``vst="none"`` (the former behaviour),
``"auto"`` (default) and ``"gat"``, beside a sigma-1 Gaussian blur and the noisy input, on:

* ``embedded-stripe`` and ``embedded-checkerboard`` test tiles (the stripe noise is
  Poisson-Gaussian: variance ``0.002 * s + const``; the checkerboard's is additive);
* ``poisson-gaussian``: 8 tiles of 128x128 cut from scikit-image's ``astronaut`` (grey),
  scaled to 20..400, with noise ``4 * Poisson(s / 4) + N(0, 3^2)`` (known parameters).

Usage::

    python benchmarks/bm3d_vst.py --out results/bm3d-vst

Writes ``vst.json`` and ``vst.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

GAIN, READ_SD = 4.0, 3.0


def poisson_gaussian_set(n: int = 8, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` with noise variance ``GAIN * y + READ_SD**2``."""
    import skimage.color
    import skimage.data

    img = skimage.color.rgb2gray(skimage.data.astronaut()).astype(np.float64)
    img = 20.0 + 380.0 * (img - img.min()) / (img.max() - img.min())
    tiles = [
        img[y : y + size, x : x + size]
        for y in range(0, img.shape[0] - size + 1, size)
        for x in range(0, img.shape[1] - size + 1, size)
    ]
    tiles.sort(key=lambda t: -float(t.std()))
    clean = np.stack(tiles[:n])
    rng = np.random.default_rng(0)
    noisy = GAIN * rng.poisson(clean / GAIN) + rng.normal(0, READ_SD, clean.shape)
    return noisy.astype(np.float32), clean.astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("results/bm3d-vst"))
    p.add_argument(
        "--datasets",
        nargs="+",
        default=["poisson-gaussian", "embedded-stripe", "embedded-checkerboard"],
    )
    args = p.parse_args(argv)
    from scipy.ndimage import gaussian_filter

    from structnoise import methods
    from structnoise.benchmark.results import _versions
    from structnoise.datasets import load_dataset
    from structnoise.metrics import psnr_stack
    from structnoise.provenance import commit_label, cpu_model, portable_command

    meta = {  # before the measurement: the code that ran, not the checkout at the end
        "command": portable_command(sys.argv),
        "commit": commit_label(),
        "cpu": cpu_model(),
        "packages": {**_versions(), "bm3d": version("bm3d")},
    }
    rows = []
    for name in args.datasets:
        if name == "poisson-gaussian":
            noisy, clean = poisson_gaussian_set()
        else:
            ds = load_dataset(name)
            noisy, clean = ds.test_noisy, ds.test_clean
        row = {
            "dataset": name,
            "images": len(noisy),
            "noisy": float(psnr_stack(clean, noisy).mean()),
            "blur1": float(
                psnr_stack(clean, np.stack([gaussian_filter(t, 1.0) for t in noisy])).mean()
            ),
        }
        for vst in ("none", "auto", "gat"):
            model = methods.create("bm3d", seed=0, vst=vst)
            t0 = time.process_time()
            out, applied = [], 0
            for t in noisy:
                out.append(model.denoise(t))
                applied += model.last_vst is not None
            row[f"bm3d_{vst}"] = float(psnr_stack(clean, np.stack(out)).mean())
            row[f"applied_{vst}"] = applied
            row[f"cpu_s_{vst}"] = time.process_time() - t0
            print(name, vst, row[f"bm3d_{vst}"], applied, flush=True)
        rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vst.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        "# bm3d with the generalised Anscombe transform (vst)",
        "",
        f"Written by `{meta['command']}` at commit {meta['commit']} on {meta['cpu']}; "
        f"bm3d {meta['packages'].get('bm3d')}, numpy {meta['packages'].get('numpy')}. "
        "PSNR in dB, mean over the images; `applied` = images where the transform ran.",
        "",
        "| dataset | images | noisy | blur sigma 1 | bm3d vst=none | bm3d vst=auto (applied) "
        "| bm3d vst=gat |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['images']} | {r['noisy']:.2f} | {r['blur1']:.2f} "
            f"| {r['bm3d_none']:.2f} | {r['bm3d_auto']:.2f} ({r['applied_auto']}) "
            f"| {r['bm3d_gat']:.2f} |"
        )
    (args.out / "vst.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
