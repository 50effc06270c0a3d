"""Choose the defaults of the destriping peers ``destripe`` and ``wavelet-fft``.

Both filters are run over a small parameter grid on three sets of 128 x 128 images and
scored by PSNR (the paper's convention, :func:`structnoise.metrics.psnr_stack`, mean over
the images):

- ``embedded-stripe`` and ``embedded-checkerboard``: every ``--every``-th test tile of the
  embedded datasets (the paper's stripe and checkerboard noise: short-range correlated
  along the dataset's axis, not line stripes);
- ``line-stripes``: four crops of scikit-image pictures (camera, moon, coins, text) with
  one Gaussian offset (std 0.05) per row, i.e. horizontal line stripes, plus white noise
  (std 0.01), seed 0: what destriping filters are made for.

Each filter gets the dataset's axis. Usage::

    python benchmarks/destriping_defaults.py [--out results/destriping] [--every 4]

Writes ``defaults.md`` (the tables) and ``defaults.json`` (every number) to ``--out``,
with the commit, package versions, machine and command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np

from structnoise import methods
from structnoise.metrics import psnr_stack
from structnoise.provenance import ROOT, commit_label, cpu_model, portable_command

WAVELET_GRID = [
    {"wavelet": w, "sigma": s, "level": lv}
    for w in ("db5", "sym8", "db2")
    for s in (0.5, 1.0, 2.0, 4.0)
    for lv in (1, 2, 3)
]
#: The package's default (0.33, 0.003) and the best of a wider exploration (mu1 0.05 to 0.33,
#: mu2 0.003 to 0.03) on the same sets; kept short: each setting takes minutes on 2 cores.
DESTRIPE_GRID = [
    {"mu1": 0.33, "mu2": 0.003},
    {"mu1": 0.05, "mu2": 0.003},
    {"mu1": 0.1, "mu2": 0.01},
    {"mu1": 0.2, "mu2": 0.03},
]


def line_stripes() -> tuple[np.ndarray, np.ndarray, str]:
    """Picture crops with one offset per row (horizontal line stripes) plus white noise."""
    from skimage import data

    rng = np.random.default_rng(0)
    pictures = [data.camera(), data.moon(), data.coins(), data.text()]
    clean = np.stack([p[20:148, 64:192] / 255.0 for p in pictures])
    offsets = rng.normal(0, 0.05, (len(pictures), 128, 1)) * np.ones((1, 1, 128))
    noisy = clean + offsets + rng.normal(0, 0.01, clean.shape)
    return noisy.astype(np.float32), clean.astype(np.float32), "horizontal"


def image_sets(every: int) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """``{name: (noisy, clean, axis)}`` of the three sets."""
    from structnoise.datasets import load_dataset

    sets = {}
    for name in ("embedded-stripe", "embedded-checkerboard"):
        ds = load_dataset(name)
        sets[name] = (ds.test_noisy[::every], ds.test_clean[::every], ds.axis)
    sets["line-stripes"] = line_stripes()
    return sets


def score(name: str, params: dict, sets: dict) -> dict:
    """PSNR (dB, mean over images) and seconds of one setting on every set."""
    row = {"params": params, "psnr": {}, "seconds": {}}
    for set_name, (noisy, clean, axis) in sets.items():
        device = {"device": "cpu"} if name == "destripe" else {}  # reproducible solver
        model = methods.create(name, axis=axis, **params, **device)
        start = time.perf_counter()
        out = model.denoise(noisy)
        row["seconds"][set_name] = round(time.perf_counter() - start, 2)
        row["psnr"][set_name] = round(float(psnr_stack(clean, out).mean()), 2)
    print(name, params, row["psnr"], flush=True)
    return row


def table(name: str, rows: list[dict], noisy: dict, sets: list[str]) -> list[str]:
    """A markdown table: parameters, PSNR per set with the gain over the noisy input."""
    keys = list(rows[0]["params"])
    lines = [
        f"| {' | '.join(keys)} | {' | '.join(sets)} | mean gain |",
        "| " + " | ".join(["---"] * (len(keys) + len(sets) + 1)) + " |",
    ]
    for row in rows:
        gains = [row["psnr"][s] - noisy[s] for s in sets]
        cells = [f"{row['psnr'][s]:.2f} ({g:+.2f})" for s, g in zip(sets, gains, strict=True)]
        values = [str(row["params"][k]) for k in keys]
        lines.append(f"| {' | '.join(values + cells)} | {np.mean(gains):+.2f} |")
    return [f"### `{name}`", "", *lines, ""]


def main() -> None:
    """Run both grids and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "destriping"))
    parser.add_argument("--every", type=int, default=4, help="use every n-th test tile")
    args = parser.parse_args()
    sets = image_sets(args.every)
    noisy = {s: round(float(psnr_stack(c, x).mean()), 2) for s, (x, c, _) in sets.items()}
    results = {
        "wavelet-fft": [score("wavelet-fft", p, sets) for p in WAVELET_GRID],
        "destripe": [score("destripe", p, sets) for p in DESTRIPE_GRID],
    }
    packages = ("numpy", "scipy", "torch", "PyWavelets", "destripe", "scikit-image")
    meta = {
        "commit": commit_label(paths=("structnoise", "benchmarks")),
        "command": portable_command(__import__("sys").argv),
        "versions": {p: version(p) for p in ("structnoise", *packages)},
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    names = list(sets)
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines = [
        "# Defaults of the destriping peers",
        "",
        f"Written by `{meta['command']}` at commit `{meta['commit']}`; {versions}, "
        f"Python {meta['python']}, {meta['cpu']} ({meta['cores']} cores), {meta['date']}. "
        "The image sets are described in the script's documentation; "
        f"images per set: {', '.join(f'{s} {len(sets[s][0])}' for s in names)}.",
        "",
        "PSNR in dB (mean over the images; gain over the noisy input in brackets). "
        f"Noisy input: {', '.join(f'{s} {noisy[s]:.2f}' for s in names)}.",
        "",
        *table("wavelet-fft", results["wavelet-fft"], noisy, names),
        *table("destripe", results["destripe"], noisy, names),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "defaults.md").write_text("\n".join(lines))
    data = {"provenance": meta, "noisy": noisy, "results": results}
    (out / "defaults.json").write_text(json.dumps(data, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
