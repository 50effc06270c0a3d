"""Noise statistics: the noise estimate, its autocorrelation, variance versus signal, spans.

The struct-mask span the autocorrelation suggests is :func:`propose_span`.

See :mod:`structnoise.datasets.analysis` (where these are importable too).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from structnoise._validate import as_stack, check_axis, check_same_shape
from structnoise.datasets.volume_noise import as_volumes

#: Sigma (pixels) of the Gaussian low-pass removed from a noisy image when no clean
#: image exists (see :func:`noise_residual`).
HIGHPASS_SIGMA = 3.0

#: Largest finite struct-mask span :func:`propose_span` proposes: the largest careamics
#: 0.3.5 validates (``StructMaskConfig.span <= 15``); longer correlations get ``"full"``.
CAREAMICS_MAX_SPAN = 15
#: Fraction of the peak autocorrelation below which a lag counts as uncorrelated
#: (see :func:`propose_span`).
SPAN_THRESHOLD = 0.1
#: Standard errors a correlation must exceed to count (see :func:`propose_span`).
SPAN_SIGNIFICANCE = 4.0


def check_max_lag(max_lag) -> int:
    """Validate a largest lag (a positive whole number) and return it as an int.

    Parameters
    ----------
    max_lag : int
        The lag.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        When it is not a positive whole number.
    """
    if int(max_lag) != max_lag or max_lag < 1:
        raise ValueError(f"max_lag must be a positive integer, got {max_lag}")
    return int(max_lag)


def noise_residual(noisy, clean=None, *, highpass_sigma: float = HIGHPASS_SIGMA) -> np.ndarray:
    """Estimate the noise of an image or stack.

    Parameters
    ----------
    noisy : array_like
        ``(Y, X)`` or ``(N, Y, X)`` noisy images.
    clean : array_like, optional
        Ground truth of the same shape. When given, the residual is ``noisy - clean``.
    highpass_sigma : float
        Without ``clean``: the residual is ``noisy - gaussian_filter(noisy, sigma)``
        per image, an isotropic high-pass that keeps short-range noise structure (the
        low-pass only adds a small, direction-independent negative correlation, about
        -0.01 at lag 1 for sigma 3) but also keeps edges and fine texture of the signal.
        Dark, signal-free regions give the cleanest estimate.

    Returns
    -------
    numpy.ndarray
        float32 residual of shape ``(N, Y, X)`` (a 2-D input gives ``(1, Y, X)``).
    """
    x, _ = as_stack(noisy, name="noisy")
    if clean is not None:
        c, _ = as_stack(clean, name="clean")
        check_same_shape(x, c, ("noisy", "clean"))
        return (x.astype(np.float64) - c).astype(np.float32)
    if not highpass_sigma > 0:
        raise ValueError(f"highpass_sigma must be > 0, got {highpass_sigma}")
    from scipy.ndimage import gaussian_filter

    x64 = x.astype(np.float64)
    low = gaussian_filter(x64, sigma=(0, highpass_sigma, highpass_sigma), mode="reflect")
    return (x64 - low).astype(np.float32)


def _lag_sums(residual: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of products and pair counts for lags ``-max_lag..max_lag`` (both axes)."""
    from scipy.signal import fftconvolve

    n, ny, nx = residual.shape
    size = 2 * max_lag + 1
    products = np.zeros((size, size))
    for img in residual:
        a = img.astype(np.float64) - img.mean()
        full = fftconvolve(a, a[::-1, ::-1], mode="full")  # full[ny-1+dy, nx-1+dx]
        products += full[ny - 1 - max_lag : ny + max_lag, nx - 1 - max_lag : nx + max_lag]
    lags_y = np.arange(-max_lag, max_lag + 1)
    lags_x = np.arange(-max_lag, max_lag + 1)
    counts = n * np.outer(ny - np.abs(lags_y), nx - np.abs(lags_x)).astype(np.float64)
    return products, counts


def autocorrelation(residual, max_lag: int = 20) -> np.ndarray:
    """Normalised spatial autocorrelation of a noise residual, averaged over a stack.

    For every image the mean is removed; the products ``r[y, x] * r[y + dy, x + dx]`` of
    all overlapping pixel pairs are summed over the images and divided by the number of
    pairs at that lag (as the DVLAE authors' ``utils.autocorrelation``), then by the
    lag-0 value, so the centre is exactly 1.

    Parameters
    ----------
    residual : array_like
        ``(Y, X)`` or ``(N, Y, X)`` noise (e.g. from :func:`noise_residual`).
    max_lag : int
        Largest lag in pixels, in each direction.

    Returns
    -------
    numpy.ndarray
        ``(2*max_lag + 1, 2*max_lag + 1)`` float64 array; ``ac[max_lag + dy, max_lag + dx]``
        is the correlation between pixels ``dy`` rows and ``dx`` columns apart. Row
        (horizontal) correlations are ``ac[max_lag, max_lag + k]``, column (vertical)
        ones ``ac[max_lag + k, max_lag]``.

    Raises
    ------
    ValueError
        On bad input, ``max_lag < 1``, images not larger than ``max_lag`` or a constant
        residual.
    """
    max_lag = check_max_lag(max_lag)
    r, _ = as_stack(residual, name="residual", min_size=max_lag + 1)
    products, counts = _lag_sums(r, max_lag)
    cov = products / counts
    centre = cov[max_lag, max_lag]
    if not centre > 0:
        raise ValueError("residual: every image is constant; the autocorrelation is undefined")
    return cov / centre


def variance_vs_signal(noisy, clean, n_bins: int = 30, min_count: int = 10):
    """Noise variance as a function of the clean signal (the paper's Fig. 3 side panels).

    Parameters
    ----------
    noisy, clean : array_like
        Noisy images and their ground truth, same shape.
    n_bins : int
        Number of equal-width bins between the smallest and largest clean value.
    min_count : int
        Bins with fewer pixels are left out.

    Returns
    -------
    pandas.DataFrame
        One row per bin, columns ``signal_pct`` (bin centre as a percentage of the clean
        maximum, the paper's horizontal axis), ``signal`` (bin centre in data units),
        ``variance`` (variance of ``noisy - clean`` in the bin) and ``count`` (pixels).
    """
    import pandas as pd

    x, _ = as_stack(noisy, name="noisy")
    c, _ = as_stack(clean, name="clean")
    check_same_shape(x, c, ("noisy", "clean"))
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    s = c.astype(np.float64).ravel()
    res = x.astype(np.float64).ravel() - s
    lo, hi = float(s.min()), float(s.max())
    if hi <= lo:
        hi = lo + 1e-12
    edges = np.linspace(lo, hi, n_bins + 1)
    idx = np.clip(np.digitize(s, edges) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    total = np.bincount(idx, weights=res, minlength=n_bins)
    total_sq = np.bincount(idx, weights=res**2, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        variance = (total_sq - count * mean**2) / np.maximum(count - 1, 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    scale = 100.0 / hi if hi != 0 else np.nan
    keep = count >= max(min_count, 2)
    return pd.DataFrame(
        {
            "signal_pct": centres[keep] * scale,
            "signal": centres[keep],
            "variance": variance[keep],
            "count": count[keep].astype(np.int64),
        }
    )


def propose_span(
    noisy,
    axis: Literal["horizontal", "vertical"] = "horizontal",
    *,
    clean=None,
    threshold: float = SPAN_THRESHOLD,
    max_lag: int = 20,
) -> int | Literal["full"]:
    """Propose a struct-mask span from the noise autocorrelation along ``axis``.

    Correlations along the axis, ``rho(k)`` for lags ``k = 1..max_lag``
    (:func:`autocorrelation`, ``rho(0) = 1``), of

    - ``noisy - clean`` when ``clean`` is given
      (:func:`noise_residual`);
    - otherwise (blind) the differences of neighbouring pixels *across* the axis (for
      ``"horizontal"``: ``x[y + 1] - x[y]``): differencing removes smooth signal and,
      for noise independent across the axis, keeps its correlation along the axis
      unchanged (the blind estimator of
      :func:`structnoise.datasets.axis_proposal.propose_axis`).

    Rule: with ``peak = max_k |rho(k)|``, the correlation length ``L`` is the largest lag
    with ``|rho(L)| >= max(threshold * peak, floor)`` -- the lag beyond which the
    correlation stays below ``threshold`` (10 %) of its peak. ``floor`` is
    :data:`SPAN_SIGNIFICANCE` (4) standard errors of a correlation estimate: the larger
    of ``1 / sqrt(pixels)`` (white noise) and the root-mean-square of the
    autocorrelation off both axes (lags with ``|dy|, |dx| >= 2``, which are zero in
    expectation for axis-aligned noise; this accounts for heavy-tailed noise and signal
    leakage). The span hides ``L`` pixels on each side: ``2 L + 1``. If no lag is
    significant the answer is ``1`` (a single-pixel mask: plain N2V); if ``L`` reaches
    ``max_lag`` (e.g. a periodic pattern that never decays) or ``2 L + 1`` exceeds
    careamics' largest span (15), it is ``"full"`` (a whole-line mask).

    The threshold is relative to the peak because the structured component is often a
    small part of the total noise (on FFHQ-Stripe the row lag-1 correlation of the whole
    residual is below 0.1, although the structured component's own is 0.78); the mask
    must cover the lags where the structured noise is still predictive. The paper chose
    its masks by eye from such autocorrelation plots; this rule gives 7 on the paper's
    stripe noise (blur sigma 1: ``rho`` falls to 2 % of its peak at lag 4) where the
    paper used 9.

    Parameters
    ----------
    noisy : array_like
        ``(Y, X)`` or ``(N, Y, X)`` noisy images.
    axis : {"horizontal", "vertical"}
        The noise axis: ``"horizontal"`` looks along rows (X), ``"vertical"`` along Y.
    clean : array_like, optional
        Clean images for an exact residual.
    threshold : float
        Relative level in (0, 1) (default :data:`SPAN_THRESHOLD` = 0.1).
    max_lag : int
        Largest lag examined (clipped to a third of the image side).

    Returns
    -------
    int or str
        An odd span ``1 .. 15``, or ``"full"``.
    """
    check_axis(axis)
    if not 0 < float(threshold) < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    x, _ = as_stack(noisy, name="noisy", min_size=8)
    max_lag = int(max(2, min(int(max_lag), min(x.shape[1:]) // 3)))
    if clean is not None:
        residual = noise_residual(x, clean)
    else:
        residual = np.diff(x.astype(np.float64), axis=1 if axis == "horizontal" else 2)
    acf = np.asarray(autocorrelation(residual, max_lag=max_lag))
    if axis == "horizontal":
        line = acf[max_lag, max_lag + 1 :]
    else:
        line = acf[max_lag + 1 :, max_lag]
    mag = np.abs(line)
    # sampling noise of the estimate: spread of the correlations off both axes
    off = np.abs(np.arange(-max_lag, max_lag + 1)) >= 2
    noise = float(np.sqrt(np.mean(acf[np.ix_(off, off)] ** 2)))
    floor = SPAN_SIGNIFICANCE * max(noise, 1.0 / math.sqrt(residual.size))
    level = max(threshold * float(mag.max()), floor)
    significant = np.nonzero(mag >= level)[0]
    if significant.size == 0:
        return 1
    half = int(significant.max()) + 1  # lags start at 1
    if half >= max_lag or 2 * half + 1 > CAREAMICS_MAX_SPAN:
        return "full"
    return 2 * half + 1


#: Names of the axes of :func:`volume_axis_correlations`, in array order.
VOLUME_AXES = ("z", "y", "x")
#: Sigma (voxels, along z, y and x) of the Gaussian low-pass :func:`volume_noise_residual`
#: removes when no clean volume exists.
VOLUME_HIGHPASS_SIGMA = 2.0
#: Fraction of each volume, its darkest voxels, that a blind estimate keeps
#: (:func:`dark_mask`).
DARK_FRACTION = 0.3


def volume_noise_residual(
    noisy, clean=None, *, highpass_sigma: float = VOLUME_HIGHPASS_SIGMA
) -> np.ndarray:
    """Estimate the noise of a volume or a stack of volumes.

    Parameters
    ----------
    noisy : array_like
        ``(Z, Y, X)`` or ``(N, Z, Y, X)`` noisy volumes.
    clean : array_like, optional
        Ground truth of the same shape; the residual is then ``noisy - clean``.
    highpass_sigma : float
        Without ``clean``: ``noisy - gaussian_filter(noisy, sigma)`` per volume, the
        Gaussian of sigma ``highpass_sigma`` along ``z``, ``y`` and ``x`` (the 3-D
        version of :func:`noise_residual`'s high-pass).

    Returns
    -------
    numpy.ndarray
        float64 residual ``(N, Z, Y, X)``.
    """
    x, _ = as_volumes(noisy, name="noisy")
    if clean is not None:
        c, _ = as_volumes(clean, name="clean")
        check_same_shape(x, c, ("noisy", "clean"))
        return x - c
    if not highpass_sigma > 0:
        raise ValueError(f"highpass_sigma must be > 0, got {highpass_sigma}")
    from scipy.ndimage import gaussian_filter

    sigma = (0, highpass_sigma, highpass_sigma, highpass_sigma)
    return x - gaussian_filter(x, sigma=sigma, mode="reflect")


def dark_mask(noisy, fraction: float = DARK_FRACTION) -> np.ndarray:
    """The darkest voxels of each volume, where little signal leaks into a noise estimate.

    Parameters
    ----------
    noisy : array_like
        ``(Z, Y, X)`` or ``(N, Z, Y, X)`` noisy volumes.
    fraction : float
        Fraction in ``(0, 1]`` of the voxels of each volume kept: those whose smoothed
        value (Gaussian of sigma 1 plane along ``z`` and 2 pixels along ``y`` and ``x``)
        is at most that quantile of the volume.

    Returns
    -------
    numpy.ndarray
        bool ``(N, Z, Y, X)``.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    from scipy.ndimage import gaussian_filter

    x, _ = as_volumes(noisy, name="noisy")
    smooth = gaussian_filter(x, sigma=(0, 1, 2, 2), mode="reflect")
    return smooth <= np.quantile(smooth, fraction, axis=(1, 2, 3), keepdims=True)


def volume_axis_correlations(residual, max_lag: int = 5, mask=None) -> dict[str, np.ndarray]:
    """Correlations of a volume noise residual along ``z``, ``y`` and ``x``.

    The mean of the (kept) voxels is removed; at lag ``k`` along an axis the products of
    all kept voxel pairs ``k`` apart along it are averaged and divided by the variance of
    the kept voxels (the 3-D version of :func:`autocorrelation`'s central row and
    column, with ``z`` added).

    Parameters
    ----------
    residual : array_like
        ``(Z, Y, X)`` or ``(N, Z, Y, X)`` noise (e.g. :func:`volume_noise_residual`).
    max_lag : int
        Largest lag; every axis must be longer than it.
    mask : array_like of bool, optional
        Voxels to use (e.g. :func:`dark_mask`), same shape; default all.

    Returns
    -------
    dict
        ``{"z": c_z, "y": c_y, "x": c_x}``, each a float64 array of the correlations at
        lags ``1..max_lag``.

    Raises
    ------
    ValueError
        On bad input, an axis not longer than ``max_lag``, a mask of another shape or
        keeping no pair, or a constant residual.
    """
    max_lag = check_max_lag(max_lag)
    r, _ = as_volumes(residual, name="residual")
    short = [a for a, n in zip(VOLUME_AXES, r.shape[1:], strict=True) if n <= max_lag]
    if short:
        raise ValueError(
            f"residual: the volumes are {'x'.join(map(str, r.shape[1:]))} (Z, Y, X); axis "
            f"{', '.join(short)} must be longer than max_lag {max_lag}"
        )
    m = np.ones(r.shape, bool) if mask is None else np.asarray(mask, bool).reshape(r.shape)
    if not m.any():
        raise ValueError("mask: keeps no voxel")
    r = np.where(m, r - r[m].mean(), 0.0)
    var = float(np.sum(r**2) / m.sum())
    if not var > 0:
        raise ValueError("residual: every volume is constant; the autocorrelation is undefined")
    out = {}
    for ax, name in enumerate(VOLUME_AXES, start=1):
        n = r.shape[ax]
        values = []
        for k in range(1, max_lag + 1):
            head, tail = range(n - k), range(k, n)
            pairs = np.take(m, head, axis=ax) & np.take(m, tail, axis=ax)
            if not pairs.any():
                raise ValueError(f"mask: keeps no voxel pair {k} apart along {name}")
            products = np.take(r, head, axis=ax) * np.take(r, tail, axis=ax)
            values.append(float(products[pairs].mean()) / var)
        out[name] = np.array(values)
    return out
