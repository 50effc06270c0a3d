"""Noise analysis: spatial autocorrelation, variance versus signal, and the noise axis.

These are the side panels of the paper's Fig. 3 and the evidence for choosing the
orientation of DVLAE's autoregressive receptive field (and SN2V's mask):

* :func:`noise_residual` - the noise estimate (``noisy - clean``, or a high-pass
  residual when no clean image exists);
* :func:`autocorrelation` - its normalised 2-D spatial autocorrelation;
* :func:`variance_vs_signal` - noise variance per clean-signal bin;
* :func:`propose_axis` - "horizontal", "vertical" or None, with the correlation figures;
* :func:`plot_noise_analysis` - the figure (PNG and SVG).

Examples
--------
>>> import numpy as np
>>> from structnoise.datasets.synthetic import stripe
>>> from structnoise.datasets.analysis import propose_axis
>>> clean = np.full((4, 96, 96), 0.5)
>>> print(propose_axis(stripe(clean, rng=0), clean).axis)
horizontal
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from structnoise._validate import as_stack, check_same_shape

#: Sigma (pixels) of the Gaussian low-pass removed from a noisy image when no clean
#: image exists (see :func:`noise_residual`).
HIGHPASS_SIGMA = 3.0
#: Lags (1..K) whose correlations :func:`propose_axis` weighs.
AXIS_MAX_LAG = 5
#: Smallest difference of correlation strengths (root-sum-square over lags, rows minus
#: columns) that :func:`propose_axis` accepts as evidence for an axis.
AXIS_MIN_DIFFERENCE = 0.05
#: Multiple of the sampling error ``1/sqrt(pixels)`` the difference must also exceed.
AXIS_NOISE_FACTOR = 5.0


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
    if int(max_lag) != max_lag or max_lag < 1:
        raise ValueError(f"max_lag must be a positive integer, got {max_lag}")
    max_lag = int(max_lag)
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


@dataclass
class AxisProposal:
    """Which way the structured noise runs, with the evidence.

    Attributes
    ----------
    axis : {"horizontal", "vertical"} or None
        ``"horizontal"``: noise correlated along rows (an AR receptive field / SN2V mask
        along the row); ``"vertical"``: along columns; None: no axis stands out.
    row_correlation : numpy.ndarray
        Correlations at lags ``1..K`` along rows (``ac[0, k]``).
    column_correlation : numpy.ndarray
        Correlations at lags ``1..K`` along columns (``ac[k, 0]``).
    row_strength, column_strength : float
        Root-sum-squares of those correlations.
    threshold : float
        The smallest ``|row_strength - column_strength|`` accepted as evidence.
    residual : str
        How the noise was estimated (``"noisy - clean"`` or, blind, from differences of
        neighbouring pixels of the high-pass residual).
    n_pixels : int
        Pixels that went into the estimate.
    notes : list of str
        Extra remarks printed after the figures.
    """

    axis: str | None
    row_correlation: np.ndarray
    column_correlation: np.ndarray
    row_strength: float
    column_strength: float
    threshold: float
    residual: str = "noisy - clean"
    n_pixels: int = 0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        k = len(self.row_correlation)
        fmt = " ".join
        diff = self.row_strength - self.column_strength
        lines = [
            f"axis: {self.axis or 'none'}",
            f"row (horizontal) correlation, lags 1..{k}:   "
            + fmt(f"{v:+.3f}" for v in self.row_correlation),
            f"column (vertical) correlation, lags 1..{k}:  "
            + fmt(f"{v:+.3f}" for v in self.column_correlation),
            f"strength sqrt(sum corr^2): rows {self.row_strength:.3f}, "
            f"columns {self.column_strength:.3f}, difference {diff:+.3f} "
            f"(threshold {self.threshold:.3f})",
            f"noise estimate: {self.residual}, {self.n_pixels} pixels",
        ]
        return "\n".join(lines + self.notes)


def _axis_correlations(noisy, clean, max_lag: int) -> tuple[np.ndarray, np.ndarray, str, int]:
    """Row and column correlations at lags 1..max_lag, and how they were estimated."""
    if clean is not None:
        residual = noise_residual(noisy, clean)
        ac = autocorrelation(residual, max_lag=max_lag)
        rows = ac[max_lag, max_lag + 1 :]
        cols = ac[max_lag + 1 :, max_lag]
        return rows.copy(), cols.copy(), "noisy - clean", int(residual.size)
    as_stack(noisy, name="noisy", min_size=max_lag + 2)
    x = noise_residual(noisy).astype(np.float64)  # high-pass: removes smooth signal
    down = np.diff(x, axis=1)  # differences between rows: keep the correlation along rows
    across = np.diff(x, axis=2)  # differences between columns: keep it along columns
    rows = autocorrelation(down, max_lag=max_lag)[max_lag, max_lag + 1 :]
    cols = autocorrelation(across, max_lag=max_lag)[max_lag + 1 :, max_lag]
    how = "high-pass residual, differences of neighbouring pixels"
    return rows.copy(), cols.copy(), how, int(x.size)


def propose_axis(
    noisy,
    clean=None,
    *,
    max_lag: int = AXIS_MAX_LAG,
    min_difference: float = AXIS_MIN_DIFFERENCE,
) -> AxisProposal:
    """Say whether the structured noise runs along rows or columns.

    Correlations: with ``clean``, ``r_k`` and ``c_k`` are the correlations of
    ``noisy - clean`` at lag ``k`` along rows and along columns (:func:`autocorrelation`).
    Without it (blind), the high-pass residual of :func:`noise_residual` is taken and
    ``r_k`` is measured on its differences between vertically neighbouring pixels
    (``d[y] = e[y + 1] - e[y]``), ``c_k`` on those between horizontally neighbouring
    ones. The high-pass removes smooth signal; differencing removes what is left of it
    along one axis and, for noise independent across rows, leaves the correlation along
    the rows unchanged (and vice versa), while white noise gets the same correlations
    in both directions. Edges and texture of the signal still leak in, so on busy
    images (natural photographs) the blind answer is unreliable: pass ``clean`` or crop
    to signal-free regions.

    Decision rule: with ``R = sqrt(sum_k r_k^2)`` and ``C = sqrt(sum_k c_k^2)`` over
    ``k = 1..max_lag`` (root-sum-square, so lags without structure add little), the
    axis is ``"horizontal"`` when ``R - C >= t``, ``"vertical"`` when ``C - R >= t``,
    else None, with ``t = max(min_difference, 5 / sqrt(pixels))`` (``1/sqrt(pixels)``
    is the sampling error of one correlation on white noise, where ``R - C`` scatters
    with a standard deviation of about 1.2 of it, so small images do not produce
    spurious axes). Noise correlated alike in both directions therefore gets None (it
    is not axis-aligned). For the paper's stripe noise ``R - C`` is about 0.1 (both
    with ``clean`` and blind); on white noise it is about 0.

    Parameters
    ----------
    noisy : array_like
        ``(Y, X)`` or ``(N, Y, X)`` noisy images.
    clean : array_like, optional
        Ground truth of the same shape.
    max_lag : int
        Number of lags ``K`` weighed (default 5).
    min_difference : float
        Lower bound of the threshold ``t`` (default 0.05).

    Returns
    -------
    AxisProposal
        The axis and the evidence; ``str()`` of it starts with ``axis: <axis or none>``.
    """
    if int(max_lag) != max_lag or max_lag < 1:
        raise ValueError(f"max_lag must be a positive integer, got {max_lag}")
    rows, cols, how, n_pixels = _axis_correlations(noisy, clean, int(max_lag))
    r_strength = float(np.sqrt(np.sum(rows**2)))
    c_strength = float(np.sqrt(np.sum(cols**2)))
    threshold = max(float(min_difference), AXIS_NOISE_FACTOR / np.sqrt(n_pixels))
    diff = r_strength - c_strength
    axis = None
    if diff >= threshold:
        axis = "horizontal"
    elif -diff >= threshold:
        axis = "vertical"
    notes = []
    if axis is None and min(r_strength, c_strength) >= threshold:
        notes.append(
            "note: the noise is correlated along rows and columns alike (not axis-aligned)"
        )
    if clean is None:
        notes.append(
            "note: estimated without a clean image; signal edges and texture leak into "
            "the estimate, so prefer signal-free regions or pass a clean image"
        )
    return AxisProposal(
        axis=axis,
        row_correlation=rows,
        column_correlation=cols,
        row_strength=r_strength,
        column_strength=c_strength,
        threshold=threshold,
        residual=how,
        n_pixels=n_pixels,
        notes=notes,
    )


def figure_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """PNG and SVG paths for a figure saved under ``path`` (its suffix is replaced).

    Parameters
    ----------
    path : path-like
        E.g. ``"analysis.png"``, ``"analysis.svg"`` or ``"analysis"``.

    Returns
    -------
    tuple of pathlib.Path
        ``(stem.png, stem.svg)``.
    """
    path = Path(path)
    base = path.with_suffix("") if path.suffix.lower() in (".png", ".svg", ".pdf") else path
    return base.with_name(base.name + ".png"), base.with_name(base.name + ".svg")


def plot_noise_analysis(noisy, clean=None, path=None, *, max_lag: int = 20):
    """Plot the noise autocorrelation (and the variance-signal curve when clean exists).

    Left: the autocorrelation heat map, red positive and blue negative as in the paper's
    Fig. 3; the colour scale is symmetric and clipped at the largest off-centre
    ``|value|`` so weak structure is visible (the centre, 1, saturates). Right (only with
    ``clean``): noise variance against clean signal as a percentage of its maximum.

    Parameters
    ----------
    noisy : array_like
        ``(Y, X)`` or ``(N, Y, X)`` noisy images.
    clean : array_like, optional
        Ground truth of the same shape.
    path : path-like, optional
        Where to save; written as PNG and SVG (``figure_paths``), atomically.
    max_lag : int
        Largest lag shown.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not shown; no GUI backend needed).
    """
    import seaborn as sns
    from matplotlib.figure import Figure

    from structnoise.utils import atomic_path

    residual = noise_residual(noisy, clean)
    ac = autocorrelation(residual, max_lag=max_lag)
    proposal = propose_axis(noisy, clean)
    ncols = 2 if clean is not None else 1
    fig = Figure(figsize=(5.2 * ncols, 4.4), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    off = ac.copy()
    off[max_lag, max_lag] = 0.0
    lim = max(float(np.abs(off).max()), 1e-3)
    ext = (-max_lag - 0.5, max_lag + 0.5, max_lag + 0.5, -max_lag - 0.5)
    im = axes[0].imshow(ac, cmap="bwr", vmin=-lim, vmax=lim, extent=ext, interpolation="nearest")
    fig.colorbar(im, ax=axes[0], label="correlation (centre = 1, clipped)")
    axes[0].set_xlabel("horizontal lag dx (pixels)")
    axes[0].set_ylabel("vertical lag dy (pixels)")
    how = "noisy - clean" if clean is not None else "high-pass residual"
    axes[0].set_title(f"noise autocorrelation ({how})\nproposed axis: {proposal.axis or 'none'}")
    if clean is not None:
        df = variance_vs_signal(noisy, clean)
        sns.lineplot(data=df, x="signal_pct", y="variance", marker="o", ax=axes[1])
        axes[1].set_xlabel("clean signal (% of maximum)")
        axes[1].set_ylabel("noise variance")
        axes[1].set_title("signal dependence")
    if path is not None:
        for p in figure_paths(path):
            with atomic_path(p) as tmp:
                fig.savefig(tmp, format=p.suffix[1:], dpi=150)
    return fig
