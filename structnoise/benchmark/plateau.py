"""Whether a learnt method was trained to its plateau, decided from its curve marks.

Rule (issue 18): for a learnt method (a label of the results table whose cells report
training ``steps``) on one dataset, take each seed's final PSNR and the PSNR at its
largest earlier curve mark (the last mark before the end of training). The method is
**trained to plateau** there when the gain over that last stretch, averaged over the
seeds, is below ``max(0.2 dB, sd)`` where ``sd`` is the sample standard deviation of
the seeds' final PSNR (with one seed: 0.2 dB); otherwise it is **budget-limited**: more
steps would still have changed the number. A learnt method without curve marks gets
``no curve``: nothing shows whether it had flattened.

Methods that do not train (no ``steps``) get no verdict and are always "trained".
:func:`trained_labels` is what the rankings (:mod:`.claims`, Kendall's tau in
:mod:`.tables`) use to leave the other cells out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: The smallest gain over the last stretch of training that counts as still learning (dB).
MIN_GAIN_DB = 0.2

PLATEAU = "trained to plateau"
BUDGET_LIMITED = "budget-limited"
NO_CURVE = "no curve"


@dataclass(frozen=True)
class Verdict:
    """The plateau verdict of one learnt method on one dataset.

    Attributes
    ----------
    dataset, label : str
        The cell group (every seed of one method label on one dataset).
    verdict : str
        :data:`PLATEAU`, :data:`BUDGET_LIMITED` or :data:`NO_CURVE`.
    gain : float
        Final PSNR minus the PSNR at the largest earlier mark, mean over seeds (dB).
    threshold : float
        ``max(MIN_GAIN_DB, sd)`` (dB).
    sd : float
        Sample standard deviation of the seeds' final PSNR (NaN with one seed).
    n : int
        Seeds with a final value and an earlier mark.
    last_mark, final_step : int
        The largest earlier mark and the final step (of the first seed; the same for
        every seed of a step-budgeted cell).
    """

    dataset: str
    label: str
    verdict: str
    gain: float
    threshold: float
    sd: float
    n: int
    last_mark: int | None
    final_step: int | None

    @property
    def trained(self) -> bool:
        """True when the curve shows a plateau."""
        return self.verdict == PLATEAU

    def describe(self) -> str:
        """The verdict with the criterion's numbers, e.g. for the report."""
        if self.verdict == NO_CURVE:
            return f"{NO_CURVE} (no evaluation before the end of training: undecided)"
        sd = "n/a, one seed" if math.isnan(self.sd) else f"{self.sd:.2f}"
        sign = "<" if self.trained else ">="
        return (
            f"{self.verdict}: gain {self.gain:+.2f} dB from step {self.last_mark} to "
            f"{self.final_step} (mean of {self.n} seeds) {sign} max({MIN_GAIN_DB:g}, "
            f"sd {sd}) = {self.threshold:.2f} dB"
        )


def _learnt(group: pd.DataFrame) -> bool:
    return "steps" in group and bool(group["steps"].notna().any())


def plateau_verdicts(table: pd.DataFrame, metric: str = "psnr") -> list[Verdict]:
    """The plateau verdict of every learnt method label on every dataset of a table.

    Parameters
    ----------
    table : pandas.DataFrame
        A tidy results table (:mod:`.results`; curve marks are its rows with ``final``
        False).
    metric : str
        The metric the curves are read in (PSNR: the criterion is in dB).

    Returns
    -------
    list of Verdict
        In table order; methods that do not train are left out.
    """
    if table.empty or "final" not in table.columns or "mark_step" not in table.columns:
        return []
    t = table[(table["metric"] == metric) & (table["status"] == "ok") & table["value"].notna()]
    out = []
    for (dataset, label), group in t.groupby(["dataset", "label"], sort=False):
        if not _learnt(group):
            continue
        gains, finals, last_mark, final_step = [], [], None, None
        for _, seed_rows in group.groupby("seed", sort=True):
            final = seed_rows[seed_rows["final"].astype(bool)]
            if final.empty:
                continue
            end = final.iloc[-1]
            finals.append(float(end["value"]))
            step = end["mark_step"]
            marks = seed_rows[~seed_rows["final"].astype(bool) & seed_rows["mark_step"].notna()]
            if not pd.isna(step):
                marks = marks[marks["mark_step"].astype(float) < float(step)]
            if marks.empty:
                continue
            last = marks.loc[marks["mark_step"].astype(float).idxmax()]
            gains.append(float(end["value"]) - float(last["value"]))
            if last_mark is None:
                last_mark, final_step = int(last["mark_step"]), _int(step)
        sd = float(np.std(finals, ddof=1)) if len(finals) > 1 else math.nan
        threshold = max(MIN_GAIN_DB, 0.0 if math.isnan(sd) else sd)
        if not gains:
            verdict, gain = NO_CURVE, math.nan
        else:
            gain = float(np.mean(gains))
            verdict = PLATEAU if gain < threshold else BUDGET_LIMITED
        out.append(
            Verdict(
                dataset=str(dataset),
                label=str(label),
                verdict=verdict,
                gain=gain,
                threshold=threshold,
                sd=sd,
                n=len(gains),
                last_mark=last_mark,
                final_step=final_step,
            )
        )
    return out


def _int(x) -> int | None:
    return None if x is None or pd.isna(x) else int(x)


def verdict_map(verdicts: list[Verdict]) -> dict[tuple[str, str], Verdict]:
    """``{(dataset, label): verdict}``."""
    return {(v.dataset, v.label): v for v in verdicts}


def untrained(verdicts: list[Verdict]) -> set[tuple[str, str]]:
    """The ``(dataset, label)`` pairs whose curve does not show a plateau.

    Budget-limited cells and learnt cells without curve marks: the rankings leave them
    out.
    """
    return {(v.dataset, v.label) for v in verdicts if not v.trained}


def plateau_markdown(verdicts: list[Verdict]) -> str:
    """The verdicts as a Markdown table with the criterion (empty without learnt cells)."""
    if not verdicts:
        return ""
    lines = [
        "| method | dataset | verdict | gain over the last stretch (dB) | from step | to step "
        "| seeds | sd of final (dB) | threshold (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for v in verdicts:
        lines.append(
            f"| {v.label} | {v.dataset} | {v.verdict} | {_f(v.gain, '+.2f')} | "
            f"{'' if v.last_mark is None else v.last_mark} | "
            f"{'' if v.final_step is None else v.final_step} | {v.n} | {_f(v.sd, '.2f')} | "
            f"{v.threshold:.2f} |"
        )
    note = (
        "A learnt method is *trained to plateau* on a dataset when its final PSNR minus its "
        "PSNR at the largest earlier curve mark, averaged over seeds, is below "
        f"max({MIN_GAIN_DB:g} dB, the standard deviation of the seeds' final PSNR); else "
        "*budget-limited* (still improving when training stopped). Budget-limited cells "
        "and cells without curve marks are marked † in Table 1 and left out of the "
        "rankings and of Kendall's tau."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"


def _f(x: float, spec: str) -> str:
    return "" if x is None or math.isnan(x) else format(x, spec)
