"""Measure the noise axis of the paper's real microscopy data from single noisy frames.

The real datasets' ``axis`` (``structnoise/datasets/real.py``) decides the direction of
DVLAE's autoregressive line and of SN2V's mask. Without ground truth the noise must be
told apart from the signal, so this script reports three estimates per frame, from the
most to the least exposed to signal:

1. ``structnoise analyze`` (:func:`structnoise.datasets.analysis.propose_axis`, blind):
   the high-pass residual (sigma 3) of the whole frame, correlations along rows measured
   on differences between rows and vice versa.
2. The autocorrelation of the same high-pass residual, on all 64x64 tiles and on the
   flattest 10 % of them (smallest mean gradient of the low-pass), with the diagonal lag
   (1, 1) beside it: a correlation as large on the diagonal as along the axes is signal
   (or isotropic noise), not an axis.
3. The spectrum at high frequencies, where the optics leave little signal: the mean
   periodogram of Hann-windowed tiles, restricted to vertical frequencies
   ``|ky| >= band`` (cycles per pixel), is a profile over ``kx`` whose cosine transform
   gives the lag-1 correlation along rows; likewise along columns from ``|kx| >= band``.
   For noise whose structure along rows does not depend on the vertical frequency (e.g.
   independent between rows) this is the noise's own row correlation; signal there
   (horizontal edges, elongated along rows) could only add positive row correlation.
   Reported for bands 0.3, 0.4, 0.45 and tiles of 64 and 128 pixels, with two controls
   built from the frame: its Gaussian-smoothed copy (sigma 1) with white Poisson noise
   (expect about 0 both ways), and the same plus noise correlated along rows (expect a
   positive row value).

Decision rule (for each frame): the axis is the direction whose lag-1 correlation is
larger in magnitude by at least 0.05 (``AXIS_MIN_DIFFERENCE`` of ``propose_axis``) in
estimate 3 at band 0.4, 128-pixel tiles, provided estimate 3 keeps that sign over all
its bands and tiles and the controls behave; estimates 1 and 2 are reported as
``structnoise analyze`` would show them, and where they disagree the flat-tile and
diagonal figures say whether signal explains it.

Usage::

    python benchmarks/real_axes.py FRAMES_DIR [--out results/fidelity]

``FRAMES_DIR`` holds ``convallaria_b_frame0.tif`` and ``mouse_actin_frame0.tif`` (the
first frames of the PPN2V stacks). Writes ``real_axes.md`` and ``real_axes.json`` to
``--out`` with the commit, package versions and machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from structnoise.provenance import cpu_model

ROOT = Path(__file__).resolve().parents[1]

#: The frames, by the dataset they come from.
FRAMES = {
    "convallaria-b": "convallaria_b_frame0.tif",
    "mouse-actin": "mouse_actin_frame0.tif",
}
LAGS = 5
TILE = 64
FLAT_FRACTION = 0.1
BANDS = (0.3, 0.4, 0.45)
SPECTRAL_TILES = (64, 128)
#: The estimate the decision uses.
DECISION = (0.4, 128)


def _tiles(a: np.ndarray, t: int) -> np.ndarray:
    ny, nx = a.shape[0] // t, a.shape[1] // t
    return a[: ny * t, : nx * t].reshape(ny, t, nx, t).swapaxes(1, 2).reshape(-1, t, t)


def tile_autocorrelation(x: np.ndarray) -> dict:
    """Estimate 2: the high-pass residual's correlations on all and on the flattest tiles."""
    from scipy.ndimage import gaussian_filter

    from structnoise.datasets.noise_stats import HIGHPASS_SIGMA, autocorrelation

    low = gaussian_filter(x, HIGHPASS_SIGMA, mode="reflect")
    tiles = _tiles(x - low, TILE)
    gy, gx = np.gradient(low)
    flatness = _tiles(np.hypot(gy, gx), TILE).mean(axis=(1, 2))
    flat = np.argsort(flatness)[: max(1, int(len(flatness) * FLAT_FRACTION))]
    out = {}
    for name, sel in (("all tiles", np.arange(len(tiles))), ("flattest 10 % of tiles", flat)):
        ac = autocorrelation(tiles[sel], LAGS)
        out[name] = {
            "rows": ac[LAGS, LAGS + 1 :].tolist(),
            "columns": ac[LAGS + 1 :, LAGS].tolist(),
            "diagonal_1_1": float(ac[LAGS + 1, LAGS + 1]),
            "tiles": int(len(sel)),
        }
    return out


def spectral_lag1(x: np.ndarray, band: float, t: int) -> tuple[float, float]:
    """Estimate 3: lag-1 correlation along rows and along columns at high frequencies."""
    window = np.outer(np.hanning(t), np.hanning(t))
    power = np.zeros((t, t))
    for i in range(0, x.shape[0] - t + 1, t):
        for j in range(0, x.shape[1] - t + 1, t):
            a = x[i : i + t, j : j + t]
            power += np.abs(np.fft.fft2((a - a.mean()) * window)) ** 2
    k = np.fft.fftfreq(t)
    high = np.abs(k) >= band
    along_rows = power[high, :].mean(axis=0)  # over kx, for high vertical frequencies
    along_cols = power[:, high].mean(axis=1)
    cos = np.cos(2 * np.pi * k)
    return (
        float((along_rows * cos).sum() / along_rows.sum()),
        float((along_cols * cos).sum() / along_cols.sum()),
    )


def controls(x: np.ndarray, seed: int = 0) -> dict:
    """Estimate 3 on the smoothed frame with white noise, and with row-correlated noise."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    smooth = gaussian_filter(x, 1.0)
    white = rng.poisson(np.clip(smooth - smooth.min() + 10.0, 0, None)).astype(np.float64)
    stripes = gaussian_filter(rng.normal(size=x.shape), (0, 1.0))
    stripes *= 0.5 * np.sqrt(smooth.mean()) / stripes.std()
    band, t = DECISION
    return {
        "smoothed frame + white Poisson noise": spectral_lag1(white, band, t),
        "the same + noise correlated along rows": spectral_lag1(white + stripes, band, t),
    }


def measure(path: Path) -> dict:
    """Every estimate for one frame."""
    import tifffile

    from structnoise.datasets.axis_proposal import AXIS_MIN_DIFFERENCE, propose_axis

    x = tifffile.imread(path).astype(np.float64)
    blind = propose_axis(x)
    spectral = {
        f"band {band}, tiles {t}": spectral_lag1(x, band, t)
        for band in BANDS
        for t in SPECTRAL_TILES
    }
    rows, cols = spectral[f"band {DECISION[0]}, tiles {DECISION[1]}"]
    signs = {(np.sign(r), abs(r) > abs(c)) for r, c in spectral.values()}
    axis = None
    if abs(rows) - abs(cols) >= AXIS_MIN_DIFFERENCE and len(signs) == 1:
        axis = "horizontal"
    elif abs(cols) - abs(rows) >= AXIS_MIN_DIFFERENCE and len(signs) == 1:
        axis = "vertical"
    return {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "shape": list(x.shape),
        "analyze": {
            "axis": blind.axis.value if blind.axis else None,
            "rows": blind.row_correlation.tolist(),
            "columns": blind.column_correlation.tolist(),
            "row_strength": blind.row_strength,
            "column_strength": blind.column_strength,
        },
        "tiles": tile_autocorrelation(x),
        "spectral": {k: {"rows": r, "columns": c} for k, (r, c) in spectral.items()},
        "controls": {k: {"rows": r, "columns": c} for k, (r, c) in controls(x).items()},
        "axis": axis,
    }


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def _f(values) -> str:
    return " ".join(f"{v:+.3f}" for v in values)


def report(results: dict, meta: dict) -> str:
    """The markdown report."""
    lines = [
        "# Noise axis of the real datasets, measured on single frames",
        "",
        f"Written by `python benchmarks/real_axes.py FRAMES_DIR` at commit "
        f"`{meta['commit'][:10]}`{' (modified)' if meta['dirty'] else ''}; structnoise "
        f"{meta['structnoise']}, numpy {meta['numpy']}, scipy {meta['scipy']}, Python "
        f"{meta['python']}, {meta['cpu']} ({meta['cores']} cores), {meta['date']}. The "
        "estimates and the decision rule are described in the script's documentation.",
        "",
        "Frames: one noisy frame each, no ground truth. The Convallaria B frame is frame 0 "
        "of the dataset's own stack (`20190520_tl_25um_50msec_05pc_488_130EM_Conv`); the "
        "Mouse Actin frame is frame 0 of `20190726_tl_50um_500msec_wf_130EM_FD`, the "
        "calibration stack in the same PPN2V archive, not of `sample_attempt2.tif` that the "
        "loader reads: same microscope and camera, so the camera's noise axis carries "
        "over, but it is not a frame of the benchmark's images.",
        "",
    ]
    for name, r in results.items():
        a = r["analyze"]
        lines += [
            f"## {name} (`{r['file']}`, {r['shape'][0]}x{r['shape'][1]}, sha256 "
            f"`{r['sha256'][:12]}...`)",
            "",
            "| estimate | along rows, lags 1..5 | along columns, lags 1..5 | diagonal (1,1) |",
            "| --- | --- | --- | --- |",
            f"| 1. `structnoise analyze` (proposes {a['axis'] or 'none'}) | {_f(a['rows'])} | "
            f"{_f(a['columns'])} | |",
        ]
        for tiles, v in r["tiles"].items():
            lines.append(
                f"| 2. high-pass residual, {tiles} ({v['tiles']}) | {_f(v['rows'])} | "
                f"{_f(v['columns'])} | {v['diagonal_1_1']:+.3f} |"
            )
        lines += [
            "",
            "| 3. high-frequency spectrum | lag-1 along rows | lag-1 along columns |",
            "| --- | --- | --- |",
        ]
        for key, v in r["spectral"].items():
            lines.append(f"| {key} | {v['rows']:+.3f} | {v['columns']:+.3f} |")
        for key, v in r["controls"].items():
            lines.append(f"| control: {key} | {v['rows']:+.3f} | {v['columns']:+.3f} |")
        lines += ["", f"**Measured axis: {r['axis'] or 'none'}.**", ""]
    return "\n".join(lines)


def main() -> None:
    """Measure every frame of FRAMES_DIR and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", help="folder with the frames (see the documentation)")
    parser.add_argument("--out", default=str(ROOT / "results" / "fidelity"))
    args = parser.parse_args()
    import scipy

    import structnoise

    results = {name: measure(Path(args.frames) / f) for name, f in FRAMES.items()}
    meta = {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "structnoise", "benchmarks")),
        "structnoise": structnoise.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = report(results, meta)
    (out / "real_axes.md").write_text(text + "\n")
    data = {"provenance": meta, "results": results}
    (out / "real_axes.json").write_text(json.dumps(data, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
