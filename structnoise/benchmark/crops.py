"""Image grids for ``report.html``: the same crop of one test image for every method.

The crop is chosen once per dataset, on the clean image (the noisy one when there is no
clean image): the square window with the most image detail (sum of squared gradients),
so that what a method keeps or blurs is visible. Every panel (noisy, each method, clean)
shows that window with one grey range (the 0.5 and 99.5 percentiles of the clean image,
else of the noisy one), as PNG data URIs that the page embeds.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from structnoise.benchmark.choices import Status
from structnoise.benchmark.runfolder import example_path

#: Side of the crop in pixels (smaller images: half their shorter side, at least 8).
CROP = 64


@dataclass
class Panel:
    """One image of a grid: a caption and a PNG data URI."""

    caption: str
    uri: str
    note: str = ""


@dataclass
class Grid:
    """A dataset's grid: where the crop is, the whole noisy image, and the panels."""

    dataset: str
    window: tuple[int, int, int]  # (y, x, side)
    shape: tuple[int, int]
    overview: str  # the whole noisy image, PNG data URI
    panels: list[Panel] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def png_uri(image: np.ndarray, lo: float, hi: float) -> str:
    """A grey image as a PNG data URI, ``lo`` black and ``hi`` white.

    Parameters
    ----------
    image : numpy.ndarray
        2-D image.
    lo, hi : float
        The grey range.

    Returns
    -------
    str
        ``data:image/png;base64,...``.
    """
    from PIL import Image

    scale = (hi - lo) if hi > lo else 1.0
    img = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=lo)
    grey = np.clip((img - lo) / scale, 0.0, 1.0) * 255.0
    buf = io.BytesIO()
    Image.fromarray(np.round(grey).astype(np.uint8), mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def choose_window(reference: np.ndarray, side: int = CROP) -> tuple[int, int, int]:
    """The square window of ``reference`` with the largest sum of squared gradients.

    Parameters
    ----------
    reference : numpy.ndarray
        2-D image (the clean one when available).
    side : int
        Wanted side; smaller images get half their shorter side (at least 8, at most
        the image).

    Returns
    -------
    tuple of int
        ``(y, x, side)``; ties go to the top-left window.
    """
    ref = np.asarray(reference, dtype=np.float64)
    h, w = ref.shape
    side = int(min(side, max(8, min(h, w) // 2), h, w))
    gy, gx = np.gradient(ref)
    energy = np.nan_to_num(gy**2 + gx**2)
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, side // 4)
    best, where = -1.0, (0, 0)
    for y in list(range(0, h - side + 1, step)):
        for x in list(range(0, w - side + 1, step)):
            total = (
                integral[y + side, x + side]
                - integral[y, x + side]
                - integral[y + side, x]
                + integral[y, x]
            )
            if total > best + 1e-12:
                best, where = float(total), (y, x)
    return where[0], where[1], side


def _first_image(path: Path) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as fh:
        img = fh.pages[0].asarray().astype(np.float64)
    return img[0] if img.ndim == 3 else img


def _root(rec: dict, run_dir: Path) -> Path:
    return Path(rec.get("_root") or run_dir)


def build_grids(run_dir: Path, records: list[dict], datasets: list[str]) -> list[Grid]:
    """One grid per dataset with a kept example image.

    For each method label the cell with the lowest seed that saved its denoised images
    is shown; labels without denoised images are listed in :attr:`Grid.missing`.

    Parameters
    ----------
    run_dir : pathlib.Path
        The run folder (records of other runs carry their own ``_root``).
    records : list of dict
        The cell records in table order.
    datasets : list of str
        Dataset order.

    Returns
    -------
    list of Grid
    """
    from structnoise.metrics import psnr

    grids = []
    for dataset in datasets:
        recs = [r for r in records if r.get("dataset") == dataset]
        example = next(
            (
                p
                for p in (example_path(root, dataset) for root in _roots(run_dir, recs))
                if p.exists()
            ),
            None,
        )
        if example is None:
            continue
        data = np.load(example)
        noisy = data["noisy"].astype(np.float64)
        clean = data["clean"].astype(np.float64) if "clean" in data.files else None
        ref = clean if clean is not None else noisy
        lo, hi = (float(v) for v in np.percentile(ref, [0.5, 99.5]))
        y, x, side = choose_window(ref)
        cut = (slice(y, y + side), slice(x, x + side))
        grid = Grid(dataset, (y, x, side), noisy.shape, png_uri(noisy, lo, hi))

        def add(caption: str, img: np.ndarray, grid=grid, cut=cut, clean=clean, lo=lo, hi=hi):
            note = ""
            if clean is not None and caption != "clean" and img.shape == clean.shape:
                note = f"{psnr(clean, img):.2f} dB (whole image)"
            grid.panels.append(Panel(caption, png_uri(img[cut], lo, hi), note))

        add("noisy", noisy)
        chosen: dict[str, dict] = {}
        for rec in recs:
            if rec.get("status") != Status.OK or rec.get("method") == "noisy":
                continue
            path = rec.get("denoised_path")
            if not path or not (_root(rec, run_dir) / path).exists():
                chosen.setdefault(rec["label"], {})
                continue
            old = chosen.get(rec["label"])
            if not old or int(rec["seed"]) < int(old.get("seed", math.inf)):
                chosen[rec["label"]] = rec
        for label, rec in chosen.items():
            if not rec:
                grid.missing.append(label)
                continue
            img = _first_image(_root(rec, run_dir) / rec["denoised_path"])
            run = f", {rec['_run']}" if rec.get("_run") else ""
            add(f"{label} (seed {rec['seed']}{run})", img)
        if clean is not None:
            add("clean", clean)
        grids.append(grid)
    return grids


def _roots(run_dir: Path, recs: list[dict]) -> list[Path]:
    roots = [Path(run_dir)]
    for rec in recs:
        root = _root(rec, run_dir)
        if root not in roots:
            roots.append(root)
    return roots
