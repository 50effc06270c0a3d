"""Run-level progress on stderr: cells done / total, the cell in flight and an ETA."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from structnoise.benchmark.cells import CellPlan


class RunProgress:
    """Run-level progress: cells done / total, the cell in flight and an ETA.

    The ETA is each remaining cell's estimate from its method's calibrated steps per
    minute, scaled by how long the finished cells took against their estimates
    (:mod:`.eta`).
    """

    def __init__(self, plans: list[CellPlan], done: set[str], enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.enabled = enabled
        # a bar only on a terminal; in a log file, plain lines
        self.use_bar = enabled and sys.stderr.isatty()
        from structnoise.benchmark.eta import CellTimeEstimator

        self.total = len(plans)
        self.estimator = CellTimeEstimator()
        self.estimates = {p.cell_id: self.estimator.planned_seconds(p) for p in plans}
        self.remaining = {p.cell_id for p in plans if p.cell_id not in done}
        self.bar = tqdm(
            total=len(plans),
            initial=len(plans) - len(self.remaining),
            desc="cells",
            unit="cell",
            disable=not self.use_bar,
            dynamic_ncols=True,
            bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| [{elapsed}{postfix}]",
        )

    def eta_seconds(self) -> float:
        """Estimated seconds left."""
        return self.estimator.eta_seconds(sum(self.estimates[c] for c in self.remaining))

    def start(self, index: int, plan: CellPlan) -> None:
        """Announce the cell in flight."""
        budget = f", training budget {plan.max_minutes:g} min" if plan.max_minutes else ""
        if getattr(plan, "max_steps", None) is not None:
            budget = f", training budget {plan.max_steps} steps"
        self.write(
            f"[{index}/{self.total}] {plan.label} on {plan.cell.dataset}, "
            f"seed {plan.cell.seed}{budget} (run eta {self._eta()})"
        )
        self.bar.set_postfix_str(f"now {plan.label}/{plan.cell.dataset}, eta {self._eta()}")

    def finish(self, plan: CellPlan, rec: dict, seconds: float) -> None:
        """Count a finished cell."""
        self.remaining.discard(plan.cell_id)
        self.estimator.finished(self.estimates[plan.cell_id], seconds)
        value = rec.get("metrics", {}).get("psnr")
        what = f"PSNR {value:.2f} dB" if value is not None else (rec.get("reason") or "")
        done = self.total - len(self.remaining)
        self.write(f"    {rec['status']}: {what} ({seconds:.1f} s; {done}/{self.total} cells done)")
        self.bar.update(1)
        self.bar.set_postfix_str(f"eta {self._eta()}")

    def _eta(self) -> str:
        seconds = int(self.eta_seconds())
        return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def write(self, text: str) -> None:
        """Print a line above the bar (nothing when progress is off)."""
        if not self.enabled:
            return
        if self.use_bar:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()
