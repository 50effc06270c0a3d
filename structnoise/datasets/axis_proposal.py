"""Which way structured noise runs: :func:`propose_axis` and its evidence, :class:`AxisProposal`.

See :mod:`structnoise.datasets.analysis` (where these are importable too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from structnoise._validate import NoiseAxis, as_stack
from structnoise.datasets.noise_stats import (
    DARK_FRACTION,
    VOLUME_HIGHPASS_SIGMA,
    autocorrelation,
    check_max_lag,
    dark_mask,
    noise_residual,
    volume_axis_correlations,
    volume_noise_residual,
)

#: Lags (1..K) whose correlations :func:`propose_axis` weighs.
AXIS_MAX_LAG = 5
#: Smallest difference of correlation strengths (root-sum-square over lags, rows minus
#: columns) that :func:`propose_axis` accepts as evidence for an axis.
AXIS_MIN_DIFFERENCE = 0.05
#: Multiple of the sampling error ``1/sqrt(pixels)`` the difference must also exceed.
AXIS_NOISE_FACTOR = 5.0


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

    axis: NoiseAxis | None
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
    rows, cols, how, n_pixels = _axis_correlations(noisy, clean, check_max_lag(max_lag))
    r_strength = float(np.sqrt(np.sum(rows**2)))
    c_strength = float(np.sqrt(np.sum(cols**2)))
    threshold = max(float(min_difference), AXIS_NOISE_FACTOR / np.sqrt(n_pixels))
    diff = r_strength - c_strength
    axis = None
    if diff >= threshold:
        axis = NoiseAxis.HORIZONTAL
    elif -diff >= threshold:
        axis = NoiseAxis.VERTICAL
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


#: What :func:`propose_volume_axis` calls each array axis of a volume.
VOLUME_AXIS_NAMES = {"z": "z", "y": NoiseAxis.VERTICAL, "x": NoiseAxis.HORIZONTAL}


@dataclass
class VolumeAxisProposal:
    """Which way the structured noise of a volume runs, with the evidence.

    Attributes
    ----------
    axis : {"z", "vertical", "horizontal"} or None
        ``"z"``: correlated between planes; ``"vertical"``: along columns (``y``);
        ``"horizontal"``: along rows (``x``); None: no axis stands out.
    correlations : dict of str to numpy.ndarray
        ``{"z": ..., "y": ..., "x": ...}``: correlations at lags ``1..K``.
    strengths : dict of str to float
        Root-sum-squares of those correlations.
    threshold : float
        The smallest lead of the strongest axis over the next accepted as evidence.
    residual : str
        How the noise was estimated.
    n_voxels : int
        Voxels that went into the estimate.
    notes : list of str
        Extra remarks printed after the figures.
    """

    axis: str | None
    correlations: dict[str, np.ndarray]
    strengths: dict[str, float]
    threshold: float
    residual: str = "noisy - clean"
    n_voxels: int = 0
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        k = len(self.correlations["z"])
        label = {
            "z": "z (between planes)",
            "y": "y (columns, vertical)",
            "x": "x (rows, horizontal)",
        }
        lines = [f"axis: {self.axis or 'none'}"]
        for a in ("z", "y", "x"):
            values = " ".join(f"{v:+.3f}" for v in self.correlations[a])
            lines.append(f"{label[a]:<22} correlation, lags 1..{k}: {values}")
        s = self.strengths
        lines += [
            f"strength sqrt(sum corr^2): z {s['z']:.3f}, y {s['y']:.3f}, x {s['x']:.3f} "
            f"(threshold {self.threshold:.3f} on the lead of the strongest)",
            f"noise estimate: {self.residual}, {self.n_voxels} voxels",
        ]
        return "\n".join(lines + self.notes)


def _volume_correlations(noisy, clean, max_lag: int) -> tuple[dict, str, int]:
    """Correlations along z, y and x at lags 1..max_lag, and how they were estimated."""
    if clean is not None:
        residual = volume_noise_residual(noisy, clean)
        return volume_axis_correlations(residual, max_lag), "noisy - clean", int(residual.size)
    mask = dark_mask(noisy)
    corr = volume_axis_correlations(volume_noise_residual(noisy), max_lag, mask=mask)
    how = (
        f"3-D high-pass residual (sigma {VOLUME_HIGHPASS_SIGMA:g}) in the darkest "
        f"{DARK_FRACTION:.0%} of every volume"
    )
    return corr, how, int(mask.sum())


def propose_volume_axis(
    noisy,
    clean=None,
    *,
    max_lag: int = AXIS_MAX_LAG,
    min_difference: float = AXIS_MIN_DIFFERENCE,
) -> VolumeAxisProposal:
    """Say whether the structured noise of volumes runs along z, columns or rows.

    The 3-D version of :func:`propose_axis`. Correlations ``c_a(k)`` of the noise at lag
    ``k`` along each axis ``a`` of ``z, y, x``: with ``clean``, of ``noisy - clean``
    (:func:`~structnoise.datasets.noise_stats.volume_axis_correlations`); blind, of the
    3-D high-pass residual (:func:`~structnoise.datasets.noise_stats.volume_noise_residual`,
    a Gaussian of sigma 2 along the three axes removed) over the pairs of voxels that
    both lie in the darkest 30 % of their volume
    (:func:`~structnoise.datasets.noise_stats.dark_mask`), where the least signal leaks
    in. The 2-D blind rule (differences of neighbouring pixels) lets too much of a
    volume's blobs and filaments through: on ``embedded-volume``'s clean volumes with
    white noise it gives ``y`` and ``x`` strengths of about 0.6, against 0.08 with the
    dark mask. The high-pass also lowers the correlations of a pattern that drifts
    slowly along ``z``, and a signal-free background is assumed: on volumes without
    dark regions, pass ``clean``.

    Decision rule: strengths ``S_a = sqrt(sum_k c_a(k)^2)`` over ``k = 1..max_lag``;
    the strongest axis is proposed when it leads the second strongest by at least
    ``t = max(min_difference, 5 / sqrt(voxels))``, else None (noise correlated alike
    along two axes, e.g. stripes that also continue along ``z``, or white noise). ``z``
    is reported as ``"z"``, ``y`` as ``"vertical"`` and ``x`` as ``"horizontal"``, the
    names of the 2-D proposal.

    Parameters
    ----------
    noisy : array_like
        ``(Z, Y, X)`` or ``(N, Z, Y, X)`` noisy volumes (every axis longer than
        ``max_lag + 1``).
    clean : array_like, optional
        Ground truth of the same shape.
    max_lag : int
        Number of lags ``K`` weighed (default 5).
    min_difference : float
        Lower bound of the threshold ``t`` (default 0.05).

    Returns
    -------
    VolumeAxisProposal
        The axis and the evidence; ``str()`` of it starts with ``axis: <axis or none>``.
    """
    corr, how, n_voxels = _volume_correlations(noisy, clean, check_max_lag(max_lag))
    strengths = {a: float(np.sqrt(np.sum(c**2))) for a, c in corr.items()}
    threshold = max(float(min_difference), AXIS_NOISE_FACTOR / np.sqrt(n_voxels))
    ranked = sorted(strengths, key=strengths.get, reverse=True)
    lead = strengths[ranked[0]] - strengths[ranked[1]]
    axis = VOLUME_AXIS_NAMES[ranked[0]] if lead >= threshold else None
    notes = []
    if axis is None and strengths[ranked[1]] >= threshold:
        notes.append(
            f"note: the noise is correlated along {ranked[0]} and {ranked[1]} alike "
            "(not along one axis)"
        )
    if clean is None:
        notes.append(
            "note: estimated without a clean volume; signal edges and texture leak into "
            "the estimate, so prefer signal-free regions or pass a clean volume"
        )
    return VolumeAxisProposal(
        axis=axis,
        correlations=corr,
        strengths=strengths,
        threshold=threshold,
        residual=how,
        n_voxels=n_voxels,
        notes=notes,
    )
