"""Destriping peers: ``destripe`` (the PyPI package, PDHG with TV) and ``wavelet-fft``.

Users with stripes reach for a destriping filter first; these two are the ones the
field uses, registered here as classical methods (no training, no budget):

- ``destripe``: the ``destripe`` package (MIT; a PyTorch port of Rottmayer et al.'s
  "General Stripe Removal"): an image is split by a primal-dual (PDHG) solver into a
  total-variation regularised clean part and five directional stripe components (one
  along the stripe direction, four diagonal) with an l2 penalty;
- ``wavelet-fft``: the combined wavelet-Fourier filter of Münch et al. (2009), written in
  :mod:`structnoise.methods.wavelet_fft`.

Both take the noise ``axis`` (``MethodInfo.uses_axis``): the benchmark passes the
dataset's, so the stripes are filtered along the direction the noise is correlated in.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from structnoise._validate import check_axis
from structnoise.methods.base import BaseDenoiser
from structnoise.methods.contract import PROFILES, MethodInfo
from structnoise.methods.registry import register

__all__ = ["Destripe"]

DESTRIPE_INFO = MethodInfo(
    description="destripe package (PDHG: TV-regularised image + directional l2 stripe "
    "components); mu1, mu2, iterations",
    learns=False,
    uses_axis=True,
    budgets=dict.fromkeys(PROFILES),
    clean_use="none",
    denoise_options=(),
)


def _positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"destripe: {name} must be a finite number {bound}, got {value!r}")
    return v


def _count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"destripe: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


@register("destripe")
class Destripe(BaseDenoiser):
    """Stripe removal by the ``destripe`` package (PDHG with total variation), per image.

    Each image is scaled to ``[0, 1]`` by its own minimum and maximum (the package does
    this), split into a clean part (TV weight ``mu1``) and stripe components (l2 weight
    ``mu2``), and scaled back. The package removes stripes that run along Y (plus four
    diagonals); images with ``axis="horizontal"`` are transposed before and after.

    Parameters
    ----------
    axis : {"horizontal", "vertical"}
        Direction the noise is correlated along, i.e. the stripes run along
        (``"horizontal"``: along X); the benchmark passes the dataset's.
    mu1 : float
        TV weight of the clean part (> 0; default 0.2). The package's default, 0.33,
        flattens textured images: 0.2 with ``mu2=0.03`` had the largest mean gain over
        the noisy input on the embedded test tiles and on picture crops with line
        stripes (``benchmarks/destriping_defaults.py``, ``results/destriping/``).
    mu2 : float
        l2 penalty of the stripe components (> 0; default 0.03; the package's: 0.003).
    iterations : int
        Maximum PDHG iterations (>= 1; default 300, 100 under ``profile="smoke"``).
    tol : float
        Relative-change tolerance for stopping early, checked every 20 iterations
        (>= 0; default 1e-5).
    tiles : int
        Tiles per side (>= 1; default 1: the whole image).
    overlap : int
        Blend width between tiles in pixels (>= 0; default 64, clamped by the package).
    proj : bool
        Keep the clean part within the image's own range (default True).
    device : str, optional
        Torch device; None or ``"auto"``: CUDA when present, else CPU.
    **common
        ``seed``, ``profile``, ``max_minutes``, ``progress``, ``work_dir``. The solver has
        nothing random: on a CPU the same input gives the same output; on CUDA its
        reductions are not bit-deterministic (as the package says).
    """

    info: ClassVar[MethodInfo] = DESTRIPE_INFO
    param_names: ClassVar[tuple[str, ...]] = (
        "axis",
        "mu1",
        "mu2",
        "iterations",
        "tol",
        "tiles",
        "overlap",
        "proj",
        "device",
    )

    def __init__(
        self,
        *,
        axis: str = "horizontal",
        mu1: float = 0.2,
        mu2: float = 0.03,
        iterations: int | None = None,
        tol: float = 1e-5,
        tiles: int = 1,
        overlap: int = 64,
        proj: bool = True,
        device: str | None = None,
        **common: Any,
    ) -> None:
        if not isinstance(proj, bool):
            raise ValueError(f"destripe: proj must be true or false, got {proj!r}")
        if device is not None and not isinstance(device, str):
            raise ValueError(f"destripe: device must be a string such as 'cpu', got {device!r}")
        super().__init__(
            axis=check_axis(axis),
            mu1=_positive("mu1", mu1),
            mu2=_positive("mu2", mu2),
            iterations=None if iterations is None else _count("iterations", iterations, 1),
            tol=_positive("tol", tol, allow_zero=True),
            tiles=_count("tiles", tiles, 1),
            overlap=_count("overlap", overlap, 0),
            proj=proj,
            device=device,
            **common,
        )

    @property
    def iterations(self) -> int:
        """PDHG iterations in use (``iterations``, else 100 for smoke, else 300)."""
        if self.params["iterations"] is not None:
            return self.params["iterations"]
        return 100 if self.profile == "smoke" else 300

    @property
    def device(self) -> str:
        """The torch device the solver runs on."""
        from structnoise.utils import pick_device

        return pick_device(self.params["device"])

    def _fit(self, noisy, clean, val) -> None:
        return None

    def _denoise(self, noisy: np.ndarray, **options: Any) -> np.ndarray:
        from destripe import destripe

        from structnoise.progress import progress_bar

        p = self.params
        horizontal = p["axis"] == "horizontal"
        device = self.device
        out = np.empty_like(noisy)
        for i in progress_bar(
            range(len(noisy)), desc="destripe", disable=not self.progress, leave=False
        ):
            img = noisy[i].astype(np.float64)
            res = destripe(
                img.T if horizontal else img,
                mu1=p["mu1"],
                mu2=p["mu2"],
                iterations=self.iterations,
                tol=p["tol"],
                tiles=p["tiles"],
                overlap=p["overlap"],
                proj=p["proj"],
                device=device,
            )
            out[i] = res.T if horizontal else res
        return out
