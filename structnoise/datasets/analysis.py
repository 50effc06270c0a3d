"""Noise analysis: spatial autocorrelation, variance versus signal, and the noise axis.

These are the side panels of the paper's Fig. 3 and the evidence for choosing the
orientation of DVLAE's autoregressive receptive field (and SN2V's mask):

* :func:`noise_residual` - the noise estimate (``noisy - clean``, or a high-pass
  residual when no clean image exists);
* :func:`autocorrelation` - its normalised 2-D spatial autocorrelation;
* :func:`variance_vs_signal` - noise variance per clean-signal bin;
* :func:`propose_axis` - "horizontal", "vertical" or None, with the correlation figures;
* :func:`plot_noise_analysis` - the figure (PNG and SVG).

The statistics live in :mod:`structnoise.datasets.noise_stats`, the axis decision in
:mod:`structnoise.datasets.axis_proposal` (all public from :mod:`structnoise.datasets`);
this module draws the figure.

Examples
--------
>>> import numpy as np
>>> from structnoise.datasets.synthetic import stripe
>>> from structnoise.datasets import propose_axis
>>> clean = np.full((4, 96, 96), 0.5)
>>> print(propose_axis(stripe(clean, rng=0), clean).axis)
horizontal
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from structnoise.datasets.axis_proposal import (
    propose_axis,
)
from structnoise.datasets.noise_stats import (
    autocorrelation,
    noise_residual,
    variance_vs_signal,
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
