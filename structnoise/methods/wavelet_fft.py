"""``wavelet-fft``: the combined wavelet-Fourier stripe filter of Münch et al. (2009).

B. Münch, P. Trtik, F. Marone and M. Stampanoni, "Stripe and ring artifact removal with
combined wavelet-Fourier filtering", Optics Express 17(10), 8567-8591 (2009). Written
here from the paper's description; pystripe and tomopy offer the same method as their
wavelet-FFT ("fw") filter.

Our reading of the paper
------------------------
The paper removes *vertical* stripes, i.e. an additive pattern that is (nearly) constant
along Y and varies along X:

1. A discrete wavelet decomposition of the image to ``L`` levels (``pywt.wavedec2``).
   A pattern constant along Y lives in the *vertical* detail band of every level (the band
   high-passed along X and low-passed along Y; pywt's ``cV``); the horizontal and
   diagonal bands, high-passed along Y, hardly see it. Band-limiting the stripes this
   way keeps the damage to image structure small.
2. In each level's vertical detail band ``V_l`` (size ``h_l x w_l``) the stripes are still
   constant along Y, so a 1-D Fourier transform *along the stripes* (along Y, the
   columns of ``V_l``) concentrates them at and near the zero frequency ``k_y = 0`` of
   every column.
3. That transform is multiplied by the Gaussian notch
   ``g(k_y) = 1 - exp(-k_y^2 / (2 sigma^2))``, which removes ``k_y = 0`` (the column
   mean of the band: the stripe) entirely and damps the slowly varying neighbours; the
   frequency ``k_y`` is the integer index of the band's DFT (``-h_l/2 .. h_l/2``), so
   ``sigma`` is in frequency samples and the same at every level.
4. Inverse transform along Y, then the inverse wavelet transform of all levels gives the
   filtered image. The approximation band of the coarsest level is left alone: stripes
   wider than ``2^L`` pixels survive, so ``L`` sets the widest stripe that is removed.

The transform runs along the stripes, not across them: across them (along X) a stripe
pattern is broadband and no notch around one frequency would isolate it.

Direction in structnoise: ``axis="horizontal"`` (noise correlated along rows, i.e.
horizontal stripes, constant along X) transposes each image before and after the filter;
``axis="vertical"`` (stripes along Y) filters it as it is. The image is extended by
pywt's ``"symmetric"`` mode at the borders and the DFT along the stripes is periodic
(our choices).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from structnoise._validate import check_axis
from structnoise.methods.base import BaseDenoiser
from structnoise.methods.contract import PROFILES, MethodInfo
from structnoise.methods.registry import register

__all__ = ["WaveletFFT", "max_level", "wavelet_fft_filter"]

WAVELET_FFT_INFO = MethodInfo(
    description="wavelet-FFT stripe filter (Münch et al. 2009): Gaussian damping of the "
    "stripe direction's Fourier coefficients in each wavelet level; sigma, level, wavelet",
    learns=False,
    uses_axis=True,
    budgets=dict.fromkeys(PROFILES),
    clean_use="none",
    denoise_options=(),
)


def _wavelet(name: str):
    import pywt

    if name not in pywt.wavelist(kind="discrete"):
        raise ValueError(
            f"wavelet-fft: unknown wavelet {name!r}: expected a discrete wavelet of "
            "PyWavelets (pywt.wavelist(kind='discrete'), e.g. 'db5', 'sym8', 'haar')"
        )
    return pywt.Wavelet(name)


def max_level(shape: tuple[int, int], wavelet: str) -> int:
    """The deepest decomposition level pywt allows for an image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(Y, X)`` of the image.
    wavelet : str
        A discrete PyWavelets wavelet name.

    Returns
    -------
    int
        ``pywt.dwt_max_level`` of the shorter side (0 if even one level is too many).
    """
    import pywt

    return int(pywt.dwt_max_level(min(shape), _wavelet(wavelet).dec_len))


def _notch(n: int, sigma: float) -> np.ndarray:
    """``1 - exp(-k^2 / (2 sigma^2))`` on the integer DFT frequencies of length ``n``."""
    k = np.fft.fftfreq(n) * n
    return 1.0 - np.exp(-(k**2) / (2.0 * sigma**2))


def wavelet_fft_filter(
    image: np.ndarray, *, sigma: float, level: int, wavelet: str = "db5"
) -> np.ndarray:
    """Remove vertical stripes (constant along Y) from one 2-D image.

    See the module docstring for the algorithm; transpose the image for horizontal
    stripes.

    Parameters
    ----------
    image : numpy.ndarray
        ``(Y, X)`` image.
    sigma : float
        Width of the Gaussian notch in DFT frequency samples (> 0).
    level : int
        Wavelet decomposition levels (1 .. :func:`max_level`).
    wavelet : str
        A discrete PyWavelets wavelet.

    Returns
    -------
    numpy.ndarray
        float64 filtered image of the input's shape.

    Raises
    ------
    ValueError
        For a level the image is too small for.
    """
    import pywt

    img = np.asarray(image, dtype=np.float64)
    deepest = max_level(img.shape, wavelet)
    if not 1 <= level <= deepest:
        raise ValueError(
            f"wavelet-fft: level {level} is too large for {img.shape[0]}x{img.shape[1]} "
            f"images with wavelet {wavelet!r} (at most {deepest})"
        )
    coeffs = pywt.wavedec2(img, wavelet, mode="symmetric", level=level)
    filtered = [coeffs[0]]
    for c_h, c_v, c_d in coeffs[1:]:
        spectrum = np.fft.fft(c_v, axis=0) * _notch(c_v.shape[0], sigma)[:, None]
        filtered.append((c_h, np.real(np.fft.ifft(spectrum, axis=0)), c_d))
    out = pywt.waverec2(filtered, wavelet, mode="symmetric")
    return out[: img.shape[0], : img.shape[1]]


@register("wavelet-fft")
class WaveletFFT(BaseDenoiser):
    """The wavelet-FFT stripe filter of Münch et al. (2009), per image.

    Parameters
    ----------
    axis : {"horizontal", "vertical"}
        Direction the noise is correlated along, i.e. the stripes run along
        (``"horizontal"``: along X, each row offset); the benchmark passes the dataset's.
    sigma : float
        Width of the Gaussian notch ``1 - exp(-k^2 / (2 sigma^2))`` in DFT frequency
        samples of each band (> 0; default 0.5: the notch takes the mean along the
        stripes and little else). Larger removes stripes that vary more along their
        length, and more image structure. The defaults (``db5``, 0.5, the deepest level)
        remove most line stripes from picture crops
        (``benchmarks/destriping_defaults.py``, ``results/destriping/``).
    level : int, optional
        Wavelet decomposition levels (>= 1; default None: as many as the image allows,
        ``pywt.dwt_max_level`` of its shorter side). Stripes up to about ``2^level`` pixels
        wide are removed. A level the image is too small for is refused at ``denoise``.
    wavelet : str
        A discrete PyWavelets wavelet (default ``"db5"``).
    **common
        ``seed``, ``profile``, ``max_minutes``, ``progress``, ``work_dir`` (the filter is
        deterministic and learns nothing: they change nothing).
    """

    info: ClassVar[MethodInfo] = WAVELET_FFT_INFO
    param_names: ClassVar[tuple[str, ...]] = ("axis", "sigma", "level", "wavelet")

    def __init__(
        self,
        *,
        axis: str = "horizontal",
        sigma: float = 0.5,
        level: int | None = None,
        wavelet: str = "db5",
        **common: Any,
    ) -> None:
        try:
            sig = float(sigma)
        except (TypeError, ValueError):
            sig = math.nan
        if not math.isfinite(sig) or sig <= 0:
            raise ValueError(f"wavelet-fft: sigma must be a finite number > 0, got {sigma!r}")
        if level is not None and (
            isinstance(level, bool) or not isinstance(level, int | np.integer) or level < 1
        ):
            raise ValueError(f"wavelet-fft: level must be an integer >= 1 or None, got {level!r}")
        _wavelet(wavelet)
        super().__init__(
            axis=check_axis(axis),
            sigma=sig,
            level=None if level is None else int(level),
            wavelet=wavelet,
            **common,
        )

    def level_for(self, shape: tuple[int, int]) -> int:
        """The decomposition level used for images of ``shape``.

        Parameters
        ----------
        shape : tuple of int
            ``(Y, X)`` of the images as given (before any transposition).

        Returns
        -------
        int
            ``level``, or the deepest one the image allows when ``level`` is None.
        """
        if self.params["level"] is not None:
            return self.params["level"]
        return max(1, max_level(shape, self.params["wavelet"]))

    def _fit(self, noisy, clean, val) -> None:
        return None

    def _denoise(self, noisy: np.ndarray, **options: Any) -> np.ndarray:
        p = self.params
        horizontal = p["axis"] == "horizontal"
        level = self.level_for(noisy.shape[1:])
        deepest = max_level(noisy.shape[1:], p["wavelet"])
        if level > deepest:  # named with the image's own shape, before any transposition
            raise ValueError(
                f"wavelet-fft: level {level} is too large for {noisy.shape[1]}x{noisy.shape[2]} "
                f"images with wavelet {p['wavelet']!r} (at most {deepest})"
            )
        out = np.empty_like(noisy)
        for i, image in enumerate(noisy):
            img = image.T if horizontal else image
            res = wavelet_fft_filter(img, sigma=p["sigma"], level=level, wavelet=p["wavelet"])
            out[i] = res.T if horizontal else res
        return out
