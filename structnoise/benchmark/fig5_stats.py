"""Fig. 5 as numbers: noise sampled from a fitted model against the real noise.

A cell run with ``sample_noise`` draws a new noisy version of the first test image from
the model's noise decoder (``noise_samples/<cell>.npz``: ``noisy``, ``sampled``,
``clean``, ``axis``). With the clean image, the real noise is ``noisy - clean`` and the
sampled noise ``sampled - clean``; :func:`noise_statistics` measures each:

* the noise variance in each third of the clean signal range (quantile bins) and the
  ratio of the highest third's to the lowest's (the signal dependence);
* lag-1 and lag-2 correlation **along** the noise axis (along the rows for
  ``horizontal``, down the columns for ``vertical``) and **across** it.

:func:`sample_failures` applies the tolerances that ``tests/test_quality.py`` applies to
a trained DVLAE (its ``test_sample_noisy_reproduces_the_noise_statistics``, where they
are explained), so the report can say whether the run's trained models pass them:

* variance in each third within a factor :data:`VARIANCE_FACTOR` of the real;
* high/low variance ratio within :data:`SLOPE_TOLERANCE` (relative) of the real's;
* lag-1 correlation along the axis within :data:`ALONG_TOLERANCE` of the real's;
* lag-1 correlation across the axis within :data:`ACROSS_TOLERANCE` of the real's (the
  test's "below 0.3" on noise whose across-axis correlation is 0);
* the sampled noise correlates with the input's own noise by less than
  :data:`SAME_NOISE_LIMIT` (a new draw, not a copy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VARIANCE_FACTOR = 1.75
SLOPE_TOLERANCE = 0.25
ALONG_TOLERANCE = 0.1
ACROSS_TOLERANCE = 0.3
SAME_NOISE_LIMIT = 0.5


@dataclass
class NoiseStats:
    """Statistics of one noise image (see the module doc).

    Attributes
    ----------
    variance : list of float
        Noise variance in the low, middle and high third of the clean signal.
    slope : float
        ``variance[2] / variance[0]``.
    along1, along2, across1, across2 : float
        Lag-1 and lag-2 correlation along and across the noise axis.
    same : float
        Correlation with the real noise of the same image (1 for the real noise itself).
    """

    variance: list[float]
    slope: float
    along1: float
    along2: float
    across1: float
    across2: float
    same: float = 1.0


def _lag(c: np.ndarray, lag: int, axis: int) -> float:
    n = c.shape[axis]
    if n <= lag:
        return math.nan
    a = np.take(c, range(lag, n), axis=axis)
    b = np.take(c, range(0, n - lag), axis=axis)
    return float((a * b).mean() / c.var())


def noise_statistics(
    noise: np.ndarray, clean: np.ndarray, axis: str | None, real: np.ndarray | None = None
) -> NoiseStats:
    """Variance per signal third and lag-1/2 correlations along and across the axis.

    Parameters
    ----------
    noise : numpy.ndarray
        ``image - clean`` (2-D or a stack whose last two axes are y, x).
    clean : numpy.ndarray
        The clean image (the signal level), same shape.
    axis : {"horizontal", "vertical"} or None
        The noise axis; None or another value is read as horizontal.
    real : numpy.ndarray, optional
        The real noise of the same image, for :attr:`NoiseStats.same`.

    Returns
    -------
    NoiseStats
    """
    r = np.asarray(noise, dtype=np.float64)
    clean = np.asarray(clean, dtype=np.float64)
    edges = np.quantile(clean, [0, 1 / 3, 2 / 3, 1])
    variance = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        inside = (clean >= lo) & ((clean < hi) if i < 2 else (clean <= hi))
        variance.append(float(r[inside].var()) if inside.any() else math.nan)
    c = r - r.mean()
    along, across = (-2, -1) if axis == "vertical" else (-1, -2)
    same = 1.0
    if real is not None:
        same = float(np.corrcoef(r.ravel(), np.asarray(real, np.float64).ravel())[0, 1])
    return NoiseStats(
        variance=variance,
        slope=variance[2] / variance[0] if variance[0] else math.nan,
        along1=_lag(c, 1, along),
        along2=_lag(c, 2, along),
        across1=_lag(c, 1, across),
        across2=_lag(c, 2, across),
        same=same,
    )


def sample_failures(real: NoiseStats, sampled: NoiseStats) -> list[str]:
    """Which of ``tests/test_quality.py``'s tolerances a noise sample misses.

    Parameters
    ----------
    real, sampled : NoiseStats
        The real noise's and the sample's statistics.

    Returns
    -------
    list of str
        One sentence per missed tolerance (empty: the sample passes).
    """
    out = []
    ratio = np.asarray(sampled.variance) / np.asarray(real.variance)
    if not np.all((ratio > 1 / VARIANCE_FACTOR) & (ratio < VARIANCE_FACTOR)):
        out.append(
            "variance per signal third "
            + " / ".join(f"{x:.2f}" for x in ratio)
            + f" x the real, not within a factor {VARIANCE_FACTOR:g}"
        )
    if not abs(sampled.slope / real.slope - 1) < SLOPE_TOLERANCE:
        out.append(
            f"high/low variance ratio {sampled.slope / real.slope:.2f} x the real's, "
            f"not within {SLOPE_TOLERANCE:.0%}"
        )
    if not abs(sampled.along1 - real.along1) < ALONG_TOLERANCE:
        out.append(
            f"lag-1 correlation along the axis {sampled.along1:.2f} against {real.along1:.2f}, "
            f"not within {ALONG_TOLERANCE:g}"
        )
    if not abs(sampled.across1 - real.across1) < ACROSS_TOLERANCE:
        out.append(
            f"lag-1 correlation across the axis {sampled.across1:.2f} against "
            f"{real.across1:.2f}, not within {ACROSS_TOLERANCE:g}"
        )
    if not sampled.same < SAME_NOISE_LIMIT:
        out.append(
            f"correlates with the input's noise by {sampled.same:.2f} (not below "
            f"{SAME_NOISE_LIMIT:g}): a copy, not a new draw"
        )
    return out


@dataclass
class SampleRow:
    """One noise sample of a cell and the real noise it is compared with."""

    dataset: str
    label: str
    seed: int
    axis: str
    real: NoiseStats
    sampled: NoiseStats
    failures: list[str] = field(default_factory=list)


def sample_row(path: Path, dataset: str, label: str, seed: int) -> SampleRow | None:
    """The statistics of one ``noise_samples/*.npz`` (None: no clean image or not finite)."""
    data = np.load(path)
    if "clean" not in data.files:
        return None
    clean = data["clean"].astype(np.float64)
    noisy, sampled = data["noisy"].astype(np.float64), data["sampled"].astype(np.float64)
    if not np.all(np.isfinite(sampled)):
        return None
    axis = str(data["axis"]) if "axis" in data.files else "none"
    real_noise = noisy - clean
    real = noise_statistics(real_noise, clean, axis)
    fake = noise_statistics(sampled - clean, clean, axis, real=real_noise)
    return SampleRow(dataset, label, int(seed), axis, real, fake, sample_failures(real, fake))


def _cells(s: NoiseStats) -> list[str]:
    return [
        *(f"{v:.4g}" for v in s.variance),
        f"{s.slope:.2f}",
        f"{s.along1:.2f}",
        f"{s.along2:.2f}",
        f"{s.across1:.2f}",
        f"{s.across2:.2f}",
    ]


def fig5_markdown(rows: list[SampleRow]) -> str:
    """One table per dataset: the real noise, then each sample, and the tolerance checks."""
    if not rows:
        return ""
    lines = []
    head = (
        "| noise | var low | var mid | var high | high/low | lag-1 along | lag-2 along "
        "| lag-1 across | lag-2 across | corr. with input noise | tolerances |"
    )
    for dataset in dict.fromkeys(r.dataset for r in rows):
        mine = [r for r in rows if r.dataset == dataset]
        first = mine[0]
        lines += [
            f"**{dataset}** (noise axis: {first.axis}; first test image)",
            "",
            head,
            "| --- | " + " | ".join("---" for _ in range(10)) + " |",
            "| real | " + " | ".join(_cells(first.real)) + " | 1 |  |",
        ]
        for r in mine:
            verdict = "pass" if not r.failures else "fail: " + "; ".join(r.failures)
            lines.append(
                f"| {r.label}, seed {r.seed} | "
                + " | ".join(_cells(r.sampled))
                + f" | {r.sampled.same:.2f} | {verdict} |"
            )
        passed = sum(not r.failures for r in mine)
        lines += ["", f"{passed} of {len(mine)} samples within the tolerances.", ""]
    note = (
        "Noise = image minus the clean image; variance per third of the clean signal range; "
        "correlations at lag 1 and 2 along the noise axis and across it. Tolerances, those "
        "`tests/test_quality.py` applies to a trained DVLAE: variance per third within a "
        f"factor {VARIANCE_FACTOR:g} of the real, high/low ratio within "
        f"{SLOPE_TOLERANCE:.0%}, lag-1 along within {ALONG_TOLERANCE:g} and across within "
        f"{ACROSS_TOLERANCE:g} of the real, correlation with the input's noise below "
        f"{SAME_NOISE_LIMIT:g}."
    )
    return "\n".join(lines) + note + "\n"
