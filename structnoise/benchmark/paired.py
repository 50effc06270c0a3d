"""A paired comparison of each method against DVLAE: the PSNR difference per test image.

Beside Table 1's seed spread, a reviewer wants to know whether a method is better than
DVLAE on the same images. For a method M and a reference R (``dvlae-small`` and, when
the run has it, its direct mode ``dvlae-small[mode=direct]``) on one dataset, every test
image i of every seed s that both ran gives a pair, and the difference
``psnr_M[s, i] - psnr_R[s, i]``. The report gives the mean difference and a
**bootstrap 95 % interval**: the pairs are resampled with replacement
(:data:`N_BOOTSTRAP` times, a seeded :func:`numpy.random.default_rng`), the mean taken
each time, and the 2.5 and 97.5 percentiles of those means are the interval. Where the
interval lies above 0 the method is better than the reference on these images, below 0
worse, else not distinguishable.

The per-image values come from the cell records (``per_image``, the same numbers whose
mean is the results table's ``value``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from structnoise.benchmark.protocols import protocol_of

#: Bootstrap resamples of the pairs.
N_BOOTSTRAP = 2000
#: The seed of the bootstrap (results are reproducible).
BOOTSTRAP_SEED = 0
#: The method the comparison is against.
REFERENCE_METHOD = "dvlae-small"


@dataclass(frozen=True)
class PairedDiff:
    """One method against one reference on one dataset.

    Attributes
    ----------
    dataset, label, reference : str
        The dataset, the method's label and the reference's label.
    mean, low, high : float
        Mean PSNR difference (method minus reference) over the pairs and its bootstrap
        95 % interval (dB).
    n_pairs, n_seeds : int
        Pairs (test images x seeds both ran) and seeds.
    """

    dataset: str
    label: str
    reference: str
    mean: float
    low: float
    high: float
    n_pairs: int
    n_seeds: int

    @property
    def verdict(self) -> str:
        """``better`` / ``worse`` than the reference, or ``not distinguishable``."""
        if self.low > 0:
            return "better"
        if self.high < 0:
            return "worse"
        return "not distinguishable"


def bootstrap_interval(
    diffs: np.ndarray,
    n_boot: int = N_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Mean of paired differences and its percentile bootstrap interval.

    Parameters
    ----------
    diffs : numpy.ndarray
        The paired differences (any shape; flattened).
    n_boot : int
        Resamples.
    seed : int
        Seed of the resampling.
    level : float
        Coverage of the interval.

    Returns
    -------
    mean, low, high : float
        NaN for an empty input.
    """
    d = np.asarray(diffs, dtype=np.float64).ravel()
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(d.mean()), float(low), float(high)


def _is_reference(rec: dict) -> bool:
    params = rec.get("params") or {}
    if isinstance(params, str):
        params = json.loads(params or "{}")
    return rec.get("method") == REFERENCE_METHOD and set(params) <= {"mode"}


def _per_image(records: list[dict], metric: str) -> dict[tuple[str, str], dict[int, np.ndarray]]:
    """``{(dataset, label): {seed: per-image values}}`` of the cells that succeeded."""
    out: dict[tuple[str, str], dict[int, np.ndarray]] = {}
    for rec in records:
        values = (rec.get("per_image") or {}).get(metric)
        if rec.get("status") != "ok" or not values:
            continue
        key = (str(rec["dataset"]), str(rec["label"]))
        out.setdefault(key, {})[int(rec["seed"])] = np.asarray(values, dtype=np.float64)
    return out


def paired_comparisons(records: list[dict], metric: str = "psnr") -> list[PairedDiff]:
    """Every method against every DVLAE reference of the same dataset.

    Parameters
    ----------
    records : list of dict
        Cell records (``per_image`` holds each test image's score).
    metric : str
        The metric compared.

    Returns
    -------
    list of PairedDiff
        In record order; empty when the run has no reference cell. Pairs need the same
        seed, the same number of test images and the same protocol in both cells (a
        held-out method is compared with the held-out reference).
    """
    scores = _per_image(records, metric)
    protocol = {(str(r["dataset"]), str(r["label"])): protocol_of(r) for r in records}
    refs = [
        key
        for key in dict.fromkeys((str(r["dataset"]), str(r["label"])) for r in records)
        if key in scores and any(_is_reference(r) for r in records if r["label"] == key[1])
    ]
    out = []
    for dataset, ref in refs:
        ref_scores = scores[(dataset, ref)]
        for (d, label), by_seed in scores.items():
            if d != dataset or label == ref or protocol[(d, label)] != protocol[(dataset, ref)]:
                continue
            seeds = sorted(
                s for s in by_seed if s in ref_scores and by_seed[s].shape == ref_scores[s].shape
            )
            if not seeds:
                continue
            diffs = np.concatenate([by_seed[s] - ref_scores[s] for s in seeds])
            mean, low, high = bootstrap_interval(diffs)
            out.append(PairedDiff(dataset, label, ref, mean, low, high, diffs.size, len(seeds)))
    return out


def paired_markdown(diffs: list[PairedDiff]) -> str:
    """The comparisons as Markdown tables, one per reference and dataset (empty: none)."""
    if not diffs:
        return ""
    lines = []
    for dataset, ref in dict.fromkeys((d.dataset, d.reference) for d in diffs):
        rows = sorted(
            (d for d in diffs if d.dataset == dataset and d.reference == ref),
            key=lambda d: -d.mean,
        )
        lines += [
            f"**{dataset}, against {ref}**",
            "",
            "| method | mean difference (dB) | 95 % interval (dB) | pairs | seeds | verdict |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {d.label} | {d.mean:+.2f} | [{d.low:+.2f}, {d.high:+.2f}] | {d.n_pairs} | "
            f"{d.n_seeds} | {d.verdict} |"
            for d in rows
        ]
        lines.append("")
    note = (
        "PSNR of the method minus PSNR of the reference on the same test image of the same "
        "seed; the interval is a percentile bootstrap of the mean over those pairs "
        f"({N_BOOTSTRAP} resamples, seed {BOOTSTRAP_SEED}). *better* / *worse*: the "
        "interval excludes 0."
    )
    return "\n".join(lines) + "\n" + note + "\n"
