"""Classical references: ``noisy`` (identity), ``gaussian`` and ``bm3d``.

These need no training and set the floor every learnt method must beat:

- ``noisy`` returns its input (the PSNR of the raw data);
- ``gaussian`` is a Gaussian low-pass filter (``sigma`` in pixels);
- ``bm3d`` is BM3D for correlated noise (Mäkinen, Azzari & Foi 2020, the ``bm3d``
  package) with the noise power spectrum (PSD) estimated blindly from each image, so
  that stripe noise gets a non-flat PSD and is removed, not kept as texture.

The ``bm3d`` method and its blind PSD estimator live in
:mod:`structnoise.methods.blind_bm3d`; every method registers itself with
``@register`` on its class.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from structnoise.methods.base import BaseDenoiser
from structnoise.methods.contract import MethodInfo, classical_info
from structnoise.methods.registry import register

__all__ = ["GaussianFilter", "Identity"]


# ---------------------------------------------------------------------------- noisy
@register("noisy")
class Identity(BaseDenoiser):
    """Return the noisy input unchanged (the PSNR floor of a benchmark).

    Parameters
    ----------
    **common
        ``seed``, ``profile``, ``max_minutes``, ``progress``, ``work_dir`` (ignored).
    """

    info: ClassVar[MethodInfo] = classical_info(
        "identity: the noisy input itself (floor every method must beat)"
    )
    param_names: ClassVar[tuple[str, ...]] = ()

    def _fit(self, noisy, clean, val) -> None:
        return None

    def _denoise(self, noisy: np.ndarray, **options: Any) -> np.ndarray:
        return noisy.copy()


# ---------------------------------------------------------------------------- gaussian
#: Largest ``sigma`` the Gaussian filter takes, in pixels (its kernel spans 8 sigma; a
#: larger one only blurs every image to its mean, and 1e12 would need terabytes).
MAX_SIGMA = 1000.0


@register("gaussian")
class GaussianFilter(BaseDenoiser):
    """Gaussian low-pass filter of each image.

    Parameters
    ----------
    sigma : float
        Standard deviation of the Gaussian in pixels (default 1.0), the same along both
        axes; ``sigma_y``/``sigma_x`` override it per axis.
    sigma_y, sigma_x : float, optional
        Per-axis standard deviations.
    **common
        ``seed``, ``profile``, ``max_minutes``, ``progress``, ``work_dir`` (ignored).
    """

    info: ClassVar[MethodInfo] = classical_info(
        "Gaussian low-pass filter (sigma in pixels); a floor for learnt methods"
    )
    param_names: ClassVar[tuple[str, ...]] = ("sigma", "sigma_y", "sigma_x")

    def __init__(
        self,
        *,
        sigma: float = 1.0,
        sigma_y: float | None = None,
        sigma_x: float | None = None,
        **common: Any,
    ) -> None:
        for name, value in (("sigma", sigma), ("sigma_y", sigma_y), ("sigma_x", sigma_x)):
            if value is None and name != "sigma":
                continue
            number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
            if not number or not np.isfinite(value) or not 0 <= value <= MAX_SIGMA:
                raise ValueError(
                    f"gaussian: {name} must be a number of pixels in [0, {MAX_SIGMA:g}], "
                    f"got {value!r}"
                )
        sy = float(sigma if sigma_y is None else sigma_y)
        sx = float(sigma if sigma_x is None else sigma_x)
        super().__init__(sigma=float(sigma), sigma_y=sigma_y, sigma_x=sigma_x, **common)
        self.sigmas = (sy, sx)

    def _fit(self, noisy, clean, val) -> None:
        return None

    def _denoise(self, noisy: np.ndarray, **options: Any) -> np.ndarray:
        from scipy.ndimage import gaussian_filter

        return gaussian_filter(noisy, sigma=(0.0, *self.sigmas), mode="reflect")
