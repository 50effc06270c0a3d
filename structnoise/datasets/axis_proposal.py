"""Which way structured noise runs: :func:`propose_axis` and its evidence, :class:`AxisProposal`.

See :mod:`structnoise.datasets.analysis` (where these are importable too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from structnoise._validate import NoiseAxis, as_stack
from structnoise.datasets.noise_stats import autocorrelation, check_max_lag, noise_residual

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
